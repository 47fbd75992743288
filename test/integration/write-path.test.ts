/**
 * Writes through the real appliance from initiators we did not write (QEMU over libiscsi), read
 * back and compared byte for byte: the Data-Out path copies a payload that straddles socket chunks
 * straight into its command's gather buffer (iscsi/stream.ts, handlers/scsi-command.ts placeData),
 * so what lands must be exactly what was sent, with LIO's login parameters (8 KiB Data-Out PDUs) and
 * with ceph-iscsi's (256 KiB PDUs, 256 KiB of immediate data, bursts of 512 KiB), with a header
 * digest too, and for sizes that leave partial PDUs and bursts.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CEPH_ISCSI_TPG_PARAMETERS } from "../../bench/rbd";
import { startDemo } from "../support/demo";
import { freePort } from "../support/ports";
import { makeDataDir, sh, stopAndRemove, type PorticoProcess } from "../support/portico";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.writepath01";
const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

for (const [label, tpgParameters] of [["LIO's login parameters", undefined], ["ceph-iscsi's login parameters", CEPH_ISCSI_TPG_PARAMETERS]] as const) {
  describe(`writes from QEMU, ${label}`, () => {
    let dataDir: string;
    let port: number;
    let server: PorticoProcess | undefined;
    const url = () => `iscsi://127.0.0.1:${port}/${IQN}/0`;
    /** What the LUN should hold: the random image qemu-img convert wrote, then qemu-io's patterns. */
    let image: Buffer;
    const opts = (extra = "") => `driver=iscsi,transport=tcp,portal=127.0.0.1:${port},target=${IQN},lun=0${extra}`;

    beforeAll(async () => {
      dataDir = makeDataDir("portico-write-path-");
      port = await freePort();
      server = await startDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "wp", plugin: "ramdisk", size: SIZE }], ports: [port], tpgParameters });
    });

    afterAll(() => stopAndRemove(server, dataDir));

    it("qemu-img convert writes a random image, qemu-img compare finds it identical", () => {
      const file = path.join(dataDir, "random.img");
      image = randomBytes(SIZE);
      writeFileSync(file, image);
      const w = sh("qemu-img", ["convert", "-n", "-f", "raw", "-O", "raw", "-W", "-m", "8", file, url()]);
      expect(w.status, w.stderr).toBe(0);
      const c = sh("qemu-img", ["compare", "-f", "raw", "-F", "raw", file, url()]);
      expect(c.status, c.stdout + c.stderr).toBe(0);
      expect(c.stdout).toContain("Images are identical");
    });

    it("qemu-io writes patterns of awkward sizes at once (aio); each reads back as written, and the whole LUN is what was sent", () => {
      // Sizes that end inside an 8 KiB or 256 KiB PDU and inside a burst; unaligned ones go through QEMU's read-modify-write.
      const writes: [number, number, number][] = [
        [0x11, 0, MiB], [0x22, MiB, 300 * 1024 + 512], [0x33, 2 * MiB + 4096, 777 * 512], [0x44, 3 * MiB, 4 * MiB - 512],
        [0x55, 8 * MiB + 100, 70_000], [0x66, 9 * MiB, 512], [0x77, 10 * MiB, 8 * MiB],
      ];
      const cmds = writes.flatMap(([p, off, len]) => ["-c", `aio_write -P ${p} ${off} ${len}`]);
      const w = sh("qemu-io", ["--image-opts", opts(), ...cmds, "-c", "aio_flush"]);
      expect(w.status, w.stderr).toBe(0);
      expect(w.stdout + w.stderr).not.toMatch(/error|failed/i);
      const reads = writes.flatMap(([p, off, len]) => ["-c", `read -P ${p} ${off} ${len}`]);
      const r = sh("qemu-io", ["--image-opts", opts(), ...reads]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).not.toContain("Pattern verification failed");
      expect(r.stdout.match(/^read \d+\/\d+ bytes/gm)?.length, r.stdout).toBe(writes.length);
      // Everything else still holds convert's random bytes: nothing spilled past a write's end or was lost.
      for (const [p, off, len] of writes) image.fill(p, off, off + len);
      const expected = path.join(dataDir, "expected.img");
      writeFileSync(expected, image);
      const c = sh("qemu-img", ["compare", "-f", "raw", "-F", "raw", expected, url()]);
      expect(c.status, c.stdout + c.stderr).toBe(0);
    });

    it("qemu-img bench writes 1 MiB at QD8 with a header digest, qemu-io verifies the pattern", () => {
      const b = sh("qemu-img", ["bench", "-w", "-s", "1M", "-d", "8", "-c", "96", "--pattern=0xc3", "--image-opts", opts(",header-digest=crc32c")]);
      expect(b.status, b.stderr + b.stdout).toBe(0);
      const r = sh("qemu-io", ["--image-opts", opts(), "-c", `read -P 0xc3 0 ${32 * MiB}`, "-c", `read -P 0xc3 ${32 * MiB} ${32 * MiB}`]);
      expect(r.stdout + r.stderr).not.toContain("Pattern verification failed");
      expect(r.stdout.match(/^read \d+\/\d+ bytes/gm)?.length, r.stdout).toBe(2);
    });
  });
}

/**
 * The appliance foundation end to end: `portico restoreconfig` of a saveconfig.json
 * with ramdisk, fileio and block LUNs, then the real server process driven by
 * libiscsi (iscsi-ls, iscsi-inq, iscsi-readcapacity16) and QEMU (qemu-img).
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemo, type DemoStorageObject } from "../support/demo";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, storageDirOf, type PorticoProcess } from "../support/portico";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.foundation01";
const MiB = 1024 * 1024;

let dataDir: string;
let iscsiPort: number;
let server: PorticoProcess | undefined;
let loopDev: string | undefined;
let backingFile: string;

function lunUrl(lun: number, query = ""): string {
  return `iscsi://127.0.0.1:${iscsiPort}/${IQN}/${lun}${query}`;
}

function storageObjects(): DemoStorageObject[] {
  return [
    { name: "disk1", plugin: "fileio", dev: backingFile, size: 96 * MiB, write_back: false, wwn: "3f6c2a1e-7b4d-4c8a-9e51-0d2b7a6c9f10", attributes: { block_size: 512 } },
    { name: "scratch", plugin: "ramdisk", size: 32 * MiB, wwn: "c0e4d7b9-2a61-4f3e-8d05-7b19e6a2c4d8" },
    ...(loopDev
      ? [{ name: "blk1", plugin: "block" as const, dev: loopDev, readonly: false, write_back: false, wwn: "a81c5e02-44f9-4d0b-b2c7-5e9d13f07a6b" }]
      : []),
  ];
}

beforeAll(async () => {
  dataDir = makeDataDir();
  iscsiPort = await freePort();
  backingFile = path.join(storageDirOf(dataDir), "disk1.img"); // never in the data directory: the appliance refuses its own files
  // A real block device for the block backstore: a loop device over a file.
  const loopFile = path.join(dataDir, "loop.img");
  writeFileSync(loopFile, Buffer.alloc(0));
  sh("truncate", ["-s", `${16 * MiB}`, loopFile]);
  const lo = sh("losetup", ["-f", "--show", loopFile]);
  loopDev = lo.status === 0 ? lo.stdout.trim() : undefined;
  server = await startDemo(dataDir, { iqn: IQN, storageObjects: storageObjects(), ports: [iscsiPort] });
});

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  if (loopDev) sh("losetup", ["-d", loopDev]);
  removeDir(dataDir);
});

describe("appliance foundation", () => {
  it("has a loop device for the block backstore", () => {
    // The block LUN is part of the acceptance; without losetup (root) this must fail, not skip.
    expect(loopDev, "losetup -f --show failed: run the tests as root").toMatch(/^\/dev\/loop\d+$/);
  });

  it("lists the target and its LUNs in discovery (iscsi-ls)", () => {
    const r = sh("iscsi-ls", ["-s", `iscsi://127.0.0.1:${iscsiPort}`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(IQN);
    expect(r.stdout).toMatch(/Lun:0/);
    expect(r.stdout).toMatch(/Lun:1/);
    if (loopDev) expect(r.stdout).toMatch(/Lun:2/);
  });

  it("answers INQUIRY with LIO's identity and the unit serial (iscsi-inq)", () => {
    const std = sh("iscsi-inq", [lunUrl(0)]);
    expect(std.status, std.stderr).toBe(0);
    expect(std.stdout).toMatch(/LIO-ORG/);
    // popt reads -c as decimal: 128 is VPD page 0x80 (Unit Serial Number).
    const serial = sh("iscsi-inq", ["-e", "1", "-c", "128", lunUrl(0)]);
    expect(serial.status, serial.stderr).toBe(0);
    expect(serial.stdout).toContain("3f6c2a1e-7b4d-4c8a-9e51-0d2b7a6c9f10");
  });

  it("reports each LUN's capacity (iscsi-readcapacity16)", () => {
    const expected: [number, number][] = [
      [0, 96 * MiB],
      [1, 32 * MiB],
      ...(loopDev ? ([[2, 16 * MiB]] as [number, number][]) : []),
    ];
    for (const [lun, bytes] of expected) {
      const r = sh("iscsi-readcapacity16", [lunUrl(lun)]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/LOGICAL BLOCK LENGTH IN BYTES:512/);
      expect(r.stdout).toContain(`RETURNED LOGICAL BLOCK ADDRESS:${bytes / 512 - 1}`);
      expect(r.stdout).toContain(`Total size:${bytes}`);
    }
  });

  const image = () => path.join(dataDir, "random.img");
  /** QEMU's own options for LUN 0; QEMU 7.2 crashes on a libiscsi URL with a query string, so digests go through --image-opts. */
  const qemuOpts = (digest: string) =>
    `driver=iscsi,transport=tcp,portal=127.0.0.1:${iscsiPort},target=${IQN},lun=0,header-digest=${digest},initiator-name=iqn.2024-01.org.portico.test:qemu`;
  let lastWritten: Buffer | undefined;

  for (const [label, digest] of [
    ["without digests", "none"],
    ["with a CRC32C header digest", "crc32c"],
  ] as const) {
    it(`writes a 64 MiB random image with qemu-img and reads it back byte-identical, ${label}`, () => {
      const data = randomBytes(64 * MiB);
      writeFileSync(image(), data);
      const w = sh("qemu-img", ["convert", "-n", "-f", "raw", "--target-image-opts", image(), qemuOpts(digest)]);
      expect(w.status, w.stderr).toBe(0);
      const back = path.join(dataDir, "readback.img");
      const r = sh("qemu-img", ["convert", "--image-opts", qemuOpts(digest), "-O", "raw", back]);
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(back).subarray(0, 64 * MiB).equals(data)).toBe(true);
      lastWritten = data;
    });
  }

  it("serves libiscsi with a CRC32C header digest (URL argument header_digest=crc32c)", () => {
    const r = sh("iscsi-readcapacity16", [lunUrl(0, "?header_digest=crc32c")]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Total size:${96 * MiB}`);
  });

  it("keeps the configuration and the fileio data across SIGTERM and a new start", async () => {
    expect(lastWritten, "the qemu-img write test must run first").toBeDefined();
    const before = lastWritten!;
    const code = await server!.stop();
    expect(code).toBe(0);
    server = await startPortico({ dataDir, httpPort: server!.httpPort });
    await waitForPort(iscsiPort);
    const ls = sh("iscsi-ls", ["-s", `iscsi://127.0.0.1:${iscsiPort}`]);
    expect(ls.stdout).toContain(IQN);
    const back = path.join(dataDir, "after-restart.img");
    const r = sh("qemu-img", ["convert", "--image-opts", qemuOpts("none"), "-O", "raw", back]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(back).subarray(0, 64 * MiB).equals(before)).toBe(true);
  });

  it("writes through the block backstore to the loop device", () => {
    expect(loopDev).toBeDefined();
    const data = randomBytes(4 * MiB);
    writeFileSync(image(), data);
    const w = sh("qemu-img", ["convert", "-n", "-f", "raw", "-O", "raw", image(), lunUrl(2)]);
    expect(w.status, w.stderr).toBe(0);
    // Read the device itself, not through Portico: the data must be on it.
    const dd = sh("dd", [`if=${loopDev}`, `of=${path.join(dataDir, "dev.img")}`, "bs=1M", "count=4", "iflag=direct"]);
    expect(dd.status, dd.stderr).toBe(0);
    expect(readFileSync(path.join(dataDir, "dev.img")).equals(data)).toBe(true);
  });

  it("shows the configuration through `portico status` and `portico saveconfig` while running", () => {
    const st = portico(dataDir, ["status"]);
    expect(st.status, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/running/i);
    const sc = portico(dataDir, ["saveconfig"]);
    expect(sc.status, sc.stderr).toBe(0);
    const cfg = JSON.parse(sc.stdout);
    expect(cfg.targets[0].wwn).toBe(IQN);
    expect(cfg.storage_objects.map((s: { name: string }) => s.name).sort()).toEqual(
      ["disk1", "scratch", ...(loopDev ? ["blk1"] : [])].sort(),
    );
  });
});

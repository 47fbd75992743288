/**
 * Every LUN the API accepts is reached at its own number, as on Linux LIO (issue 9,
 * item 1): mapped LUNs 0, 255, 256, 16383, 16384 and 65535, each backed by a ramdisk
 * of a different size, through the real appliance, libiscsi's URLs and REPORT LUNS
 * (iscsi-readcapacity16, iscsi-ls -s) and QEMU (qemu-io). An address the initiator
 * is not given gets LOGICAL UNIT NOT SUPPORTED, never another LUN's storage.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, type PorticoProcess } from "../support/portico";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.lunaddr0001";
const INITIATOR = "iqn.1994-05.com.redhat:lun-addressing";
const MiB = 1024 * 1024;
/** Mapped LUN -> its ramdisk's size in MiB (all different, so a wrong LUN shows). */
const MAPPED: [number, number][] = [[0, 1], [255, 2], [256, 3], [16383, 4], [16384, 5], [65535, 6]];

let dataDir: string;
let iscsiPort: number;
let server: PorticoProcess | undefined;

function saveconfig(): object {
  return {
    storage_objects: MAPPED.map(([, mib], i) => ({ name: `ram${i}`, plugin: "ramdisk", size: mib * MiB, attributes: { block_size: 512 } })),
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: [
          {
            tag: 1,
            enable: true,
            attributes: { authentication: 0, generate_node_acls: 0 },
            // TPG LUNs 0..5; the initiator sees them under other numbers through its mapped LUNs.
            luns: MAPPED.map((_, i) => ({ index: i, storage_object: `/backstores/ramdisk/ram${i}` })),
            portals: [{ ip_address: "127.0.0.1", port: iscsiPort }],
            node_acls: [{ node_wwn: INITIATOR, mapped_luns: MAPPED.map(([lun], i) => ({ index: lun, tpg_lun: i, write_protect: false })) }],
          },
        ],
      },
    ],
  };
}

const lunUrl = (lun: number) => `iscsi://127.0.0.1:${iscsiPort}/${IQN}/${lun}`;
const qemuOpts = (lun: number) =>
  `driver=iscsi,transport=tcp,portal=127.0.0.1:${iscsiPort},target=${IQN},lun=${lun},initiator-name=${INITIATOR}`;

beforeAll(async () => {
  dataDir = makeDataDir("portico-lun-it-");
  iscsiPort = await freePort();
  const file = path.join(dataDir, "saveconfig.json");
  writeFileSync(file, JSON.stringify(saveconfig(), null, 2));
  const r = portico(dataDir, ["restoreconfig", file]);
  expect(r.status, r.stderr + r.stdout).toBe(0);
  server = await startPortico({ dataDir });
  await waitForPort(iscsiPort);
});

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

describe("LUN addressing as LIO", () => {
  it("REPORT LUNS lists each mapped LUN under its own number with its own size (iscsi-ls -s)", () => {
    const r = sh("iscsi-ls", ["-s", "-i", INITIATOR, `iscsi://127.0.0.1:${iscsiPort}`]);
    expect(r.status, r.stderr).toBe(0);
    const listed = [...r.stdout.matchAll(/Lun:(\d+)\s+Type:DIRECT_ACCESS \(Size:(\w+)\)/g)].map((m) => [Number(m[1]), m[2]]);
    // iscsi-ls prints the last LBA's offset (size - 512 bytes), rounded down to k below 1 MiB, to M above.
    const label = (mib: number) => {
      const bytes = mib * MiB - 512;
      return bytes < MiB ? `${Math.floor(bytes / 1024)}k` : `${Math.floor(bytes / MiB)}M`;
    };
    expect(listed, r.stdout).toEqual(MAPPED.map(([lun, mib]) => [lun, label(mib)]));
  });

  it("iscsi://…/N reaches LUN N's own storage object (iscsi-readcapacity16)", () => {
    for (const [lun, mib] of MAPPED) {
      const r = sh("iscsi-readcapacity16", ["-i", INITIATOR, lunUrl(lun)]);
      expect(r.status, `LUN ${lun}: ${r.stderr}${r.stdout}`).toBe(0);
      expect(r.stdout, `LUN ${lun}`).toContain(`Total size:${mib * MiB}`);
    }
  });

  it("a write to LUN 16384 lands on LUN 16384, not on LUN 0 (qemu-io)", () => {
    const w = sh("qemu-io", ["--image-opts", qemuOpts(16384), "-c", "write -P 0xab 0 64k"]);
    expect(w.status, w.stderr + w.stdout).toBe(0);
    const back = sh("qemu-io", ["--image-opts", qemuOpts(16384), "-c", "read -P 0xab 0 64k"]);
    expect(back.status, back.stderr + back.stdout).toBe(0);
    expect(back.stdout).not.toMatch(/Pattern verification failed/);
    const lun0 = sh("qemu-io", ["--image-opts", qemuOpts(0), "-c", "read -P 0 0 64k"]);
    expect(lun0.status, lun0.stderr + lun0.stdout).toBe(0);
    expect(lun0.stdout).not.toMatch(/Pattern verification failed/);
  });

  it("a LUN the initiator is not given gets LOGICAL UNIT NOT SUPPORTED", () => {
    for (const lun of [1, 16640, 65534]) {
      const r = sh("iscsi-readcapacity16", ["-i", INITIATOR, lunUrl(lun)]);
      expect(r.status, `LUN ${lun}: ${r.stdout}`).not.toBe(0);
      expect(r.stderr + r.stdout, `LUN ${lun}`).toMatch(/LOGICAL_UNIT_NOT_SUPPORTED|LOGICAL UNIT NOT SUPPORTED/);
    }
  });
});

/**
 * Growing a block LUN after its device grew: a real loop device (root and losetup needed),
 * `truncate -s +8M file && losetup -c /dev/loopN`, then Engine.resizeStorageObject re-reads the
 * size from sysfs, the LU reports the new capacity and every nexus gets 2Ah/09h.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBackstore } from "../../../server/engine/backstores";
import { Engine } from "../../../server/engine/core/engine";
import { ScsiDisk } from "../../../server/engine/scsi/disk";
import { parseSense } from "../../../server/engine/scsi/sense";
import { itNexus, type ResolvedLun, type ScsiNexusView, type ScsiTask } from "../../../server/engine/scsi/types";

const MiB = 1024 * 1024;

function canLoop(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync("losetup", ["--version"], { stdio: "ignore" });
    return fs.existsSync("/dev/loop-control");
  } catch {
    return false;
  }
}

const enabled = canLoop();
let dir = "";
let file = "";
let loop = "";

beforeAll(() => {
  if (!enabled) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-block-resize-"));
  file = path.join(dir, "disk.img");
  fs.writeFileSync(file, "");
  fs.truncateSync(file, 8 * MiB);
  loop = execFileSync("losetup", ["-f", "--show", file], { encoding: "utf8" }).trim();
});

afterAll(() => {
  if (loop) execFileSync("losetup", ["-d", loop]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function readCapacity16(): ScsiTask {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x9e;
  cdb[1] = 0x10;
  cdb.writeUInt32BE(32, 10);
  return { cdb, lun: 0, expectedDataTransferLength: 32, read: true, write: false, taskAttribute: 1, taskTag: 1 };
}

describe.skipIf(!enabled)("block storage object growth (loop device)", () => {
  it("refuses when the device did not grow, grows with it after losetup -c, and raises CAPACITY DATA HAS CHANGED", async () => {
    const engine = new Engine({ openBackstore, createDevice: (info) => new ScsiDisk(info) });
    const so = await engine.createStorageObject({ plugin: "block", name: "blk0", dev: loop });
    try {
      expect(so.sizeBytes).toBe(8 * MiB);
      const disk = so.device as ScsiDisk;
      const identity = itNexus("iqn.2024-01.org.portico.test:i", "400001370000", "iqn.2024-01.org.portico.test:t", 1);
      const lun: ResolvedLun = { binding: { lun: 0, tpgLunIndex: 0, writeProtect: false }, device: disk, relativeTargetPortId: 1 };
      const view: ScsiNexusView = { identity, resolve: () => lun, luns: () => [0] };
      disk.nexusCreated(identity);
      await disk.execute(readCapacity16(), view, lun); // consumes the power-on UA

      await expect(engine.resizeStorageObject("block", "blk0")).rejects.toThrow(/did not grow: it has 8388608 bytes/);
      await expect(engine.resizeStorageObject("block", "blk0", 16 * MiB)).rejects.toThrow(/did not grow/);

      fs.truncateSync(file, 16 * MiB);
      execFileSync("losetup", ["-c", loop]);
      await expect(engine.resizeStorageObject("block", "blk0", 32 * MiB)).rejects.toThrow(/has only 16777216 bytes/);
      expect(await engine.resizeStorageObject("block", "blk0")).toBe(16 * MiB);
      expect(so.sizeBytes).toBe(16 * MiB);

      const ua = await disk.execute(readCapacity16(), view, lun);
      expect(ua.status).toBe(0x02);
      expect(parseSense(ua.sense!)).toMatchObject({ key: 0x06, asc: 0x2a, ascq: 0x09 });
      const cap = await disk.execute(readCapacity16(), view, lun);
      expect(cap.status).toBe(0);
      expect(Number(cap.dataIn!.readBigUInt64BE(0)) + 1).toBe((16 * MiB) / 512);

      // The new blocks are usable: write and read the last one.
      await so.backstore.write(16 * MiB - 512, Buffer.alloc(512, 0xab), true);
      expect((await so.backstore.read(16 * MiB - 512, 512))[0]).toBe(0xab);

      // Growing a fileio-style explicit size within the device works too; shrinking does not.
      fs.truncateSync(file, 24 * MiB);
      execFileSync("losetup", ["-c", loop]);
      await expect(engine.resizeStorageObject("block", "blk0", 8 * MiB)).rejects.toThrow(/cannot shrink/);
      expect(await engine.resizeStorageObject("block", "blk0", 20 * MiB)).toBe(20 * MiB);
    } finally {
      await engine.deleteStorageObject("block", "blk0");
    }
  });
});

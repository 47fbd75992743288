/**
 * Review regressions: a FUA write in write-back mode is made stable whatever
 * emulate_fua_write says (the attribute only decides whether MODE SENSE advertises
 * DPOFUA); VERIFY with BYTCHK reads no more than MAXIMUM TRANSFER LENGTH at once.
 */
import { describe, expect, it } from "vitest";
import { RamdiskBackstore } from "../../../server/engine/backstores/ramdisk";
import { ScsiDisk } from "../../../server/engine/scsi/disk";
import { ScsiStatus } from "../../../server/engine/scsi/types";
import { makeInfo, run, rw16, senseOf, task } from "./helpers";

/** A write-back ramdisk that records each write's FUA flag and the largest read. */
class SpyBackstore extends RamdiskBackstore {
  override readonly writeBack = true as unknown as false;
  fuaWrites: boolean[] = [];
  largestRead = 0;
  override async write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    this.fuaWrites.push(fua);
    return super.write(offset, data, fua);
  }
  override async read(offset: number, length: number): Promise<Buffer> {
    this.largestRead = Math.max(this.largestRead, length);
    if (length > 256 * 1024 * 1024) throw new Error(`read of ${length} bytes: the test refuses to allocate it`);
    return super.read(offset, length);
  }
}

describe("FUA in write-back mode", () => {
  it("a WRITE(16) with FUA reaches the backstore with fua even when emulate_fua_write=0", async () => {
    const bs = new SpyBackstore(512, 2048 * 512);
    const disk = new ScsiDisk(makeInfo(bs, { emulate_fua_write: 0 }));
    const data = Buffer.alloc(512, 0xab);
    const r = await run(disk, task(rw16(0x8a, 0n, 1, 0x08), { dataOut: data }));
    expect(r.status).toBe(ScsiStatus.GOOD);
    expect(bs.fuaWrites).toEqual([true]);
  });
});

describe("VERIFY with BYTCHK=3 and a huge VERIFICATION LENGTH", () => {
  it("is refused as INVALID FIELD IN CDB before anything is read", async () => {
    const blockSize = 4096;
    const bs = new SpyBackstore(blockSize, 2 ** 40); // 1 TiB, allocated lazily
    const disk = new ScsiDisk(makeInfo(bs));
    const blocks = 0x4_0000; // 1 GiB to compare against one block (a 4 GiB Buffer would be allocated for 0x10_0000)
    const t = task(rw16(0x8f, 0n, blocks, 0x06), { dataOut: Buffer.alloc(blockSize) });
    const r = await run(disk, t);
    expect(r.status).toBe(ScsiStatus.CHECK_CONDITION);
    const s = senseOf(r);
    expect(s.key).toBe(0x05);
    expect(s.asc).toBe(0x24);
    expect(bs.largestRead).toBe(0);
  });
});

describe("TRANSFER LENGTH beyond MAXIMUM TRANSFER LENGTH", () => {
  it("READ(10)'s sense points at byte 7 even though the CDB buffer is 16 bytes", async () => {
    const bs = new SpyBackstore(512, 2 ** 30);
    const disk = new ScsiDisk(makeInfo(bs, { hw_max_sectors: 128 }));
    const cdb = [0x28, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0]; // 256 blocks > 128
    const r = await run(disk, task(cdb));
    const s = senseOf(r);
    expect(s.key).toBe(0x05);
    expect(s.asc).toBe(0x24);
    expect(r.sense!.readUInt16BE(16)).toBe(7); // fixed format: SENSE KEY SPECIFIC field pointer
  });
});

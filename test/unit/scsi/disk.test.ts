import { describe, expect, it } from "vitest";
import { ScsiStatus } from "../../../server/engine/scsi/types";
import { naaDesignator } from "../../../server/engine/scsi/inquiry";
import { identity, makeDisk, makeView, run, rw10, rw16, senseOf, task, WWN } from "./helpers";

describe("ScsiDisk INQUIRY", () => {
  it("returns standard data with identity strings, SPC-4, CmdQue, 3PC and implicit TPGS", async () => {
    const { disk } = makeDisk();
    const r = await run(disk, task([0x12, 0, 0, 0, 255, 0]));
    const d = r.dataIn!;
    expect(r.status).toBe(ScsiStatus.GOOD);
    expect(d.length).toBe(96);
    expect(d[0]).toBe(0);
    expect(d[2]).toBe(6);
    expect(d[4]).toBe(91);
    expect(d[5] & 0x30).toBe(0x10);
    expect(d[5] & 0x08).toBe(0x08);
    expect(d[7] & 0x02).toBe(0x02);
    expect(d.toString("ascii", 8, 16)).toBe("LIO-ORG ");
    expect(d.toString("ascii", 16, 32)).toBe("disk1           ");
    expect(d.toString("ascii", 32, 36)).toBe("4.0 ");
  });

  it("truncates to the allocation length", async () => {
    const { disk } = makeDisk();
    const r = await run(disk, task([0x12, 0, 0, 0, 36, 0]));
    expect(r.dataIn!.length).toBe(36);
  });

  it("lists VPD pages and returns the unit serial", async () => {
    const { disk } = makeDisk();
    const p0 = (await run(disk, task([0x12, 1, 0x00, 0, 255, 0]))).dataIn!;
    expect([...p0.subarray(4)]).toEqual([0x00, 0x80, 0x83, 0x86, 0xb0, 0xb1, 0xb2]);
    const p80 = (await run(disk, task([0x12, 1, 0x80, 0, 255, 0]))).dataIn!;
    expect(p80.toString("ascii", 4, 4 + p80.readUInt16BE(2))).toBe(WWN);
  });

  it("derives the NAA designator from the wwn with company id 0x001405", () => {
    const naa = naaDesignator(WWN);
    expect(naa.toString("hex")).toBe("6001405" + "0d3f6b2a1c2e4e5f9a8b7c6d5".padEnd(25, "0"));
  });

  it("builds VPD 0x83 with NAA, T10 vendor, RTPI, TPG and SCSI name strings", async () => {
    const { disk } = makeDisk();
    const p = (await run(disk, task([0x12, 1, 0x83, 0x01, 0, 0]))).dataIn!;
    const found: Record<number, Buffer> = {};
    const assoc: Record<number, number> = {};
    for (let off = 4; off < 4 + p.readUInt16BE(2); off += 4 + p[off + 3]) {
      const type = p[off + 1] & 0x0f;
      if (found[type] && type === 8) {
        assoc[0x80 | ((p[off + 1] >> 4) & 3)] = 1;
        found[0x88] = p.subarray(off + 4, off + 4 + p[off + 3]);
      } else found[type] = p.subarray(off + 4, off + 4 + p[off + 3]);
    }
    expect(found[3].toString("hex")).toBe(naaDesignator(WWN).toString("hex"));
    expect(found[1].toString("ascii")).toBe(`LIO-ORG disk1:${WWN}\0`);
    expect(found[4].readUInt16BE(2)).toBe(3);
    expect(found[5].readUInt16BE(2)).toBe(0);
    expect(found[8].toString("utf8").replace(/\0+$/, "")).toBe("iqn.2003-01.org.example:target,t,0x0001");
    expect(found[8].length % 4).toBe(0);
    expect(found[0x88].toString("utf8").replace(/\0+$/, "")).toBe("iqn.2003-01.org.example:target");
  });

  it("reports Block Limits, rotation rate and provisioning per attributes", async () => {
    const { disk } = makeDisk({ attrs: { emulate_tpu: 1, emulate_tpws: 1, unmap_zeroes_data: 1 } });
    const b0 = (await run(disk, task([0x12, 1, 0xb0, 0, 255, 0]))).dataIn!;
    expect(b0.readUInt16BE(2)).toBe(0x3c);
    expect(b0[4] & 1).toBe(1);
    expect(b0[5]).toBe(1);
    expect(b0.readUInt32BE(20)).toBe(8192);
    expect(b0.readUInt32BE(24)).toBe(1);
    expect(b0.readBigUInt64BE(36)).toBe(0x1000n);
    const b1 = (await run(disk, task([0x12, 1, 0xb1, 0, 255, 0]))).dataIn!;
    expect(b1.readUInt16BE(4)).toBe(1);
    const b2 = (await run(disk, task([0x12, 1, 0xb2, 0, 255, 0]))).dataIn!;
    expect(b2[5]).toBe(0x80 | 0x60 | 0x04);
    const rc = (await run(disk, task([0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]))).dataIn!;
    expect(rc[14] & 0xc0).toBe(0xc0);
  });

  it("refuses an unknown VPD page and CmdDt", async () => {
    const { disk } = makeDisk();
    expect(senseOf(await run(disk, task([0x12, 1, 0x99, 0, 255, 0])))).toMatchObject({ key: 5, asc: 0x24 });
    expect(senseOf(await run(disk, task([0x12, 2, 0, 0, 255, 0])))).toMatchObject({ key: 5, asc: 0x24 });
  });
});

describe("ScsiDisk capacity, reads and writes", () => {
  it("reports capacity with READ CAPACITY(10) and (16)", async () => {
    const { disk } = makeDisk({ blocks: 1000, blockSize: 4096 });
    const r10 = (await run(disk, task([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).dataIn!;
    expect(r10.readUInt32BE(0)).toBe(999);
    expect(r10.readUInt32BE(4)).toBe(4096);
    const r16 = (await run(disk, task([0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]))).dataIn!;
    expect(r16.readBigUInt64BE(0)).toBe(999n);
    expect(r16[14]).toBe(0);
  });

  it("writes and reads back with every CDB size", async () => {
    const { disk } = makeDisk();
    const data = Buffer.alloc(1024, 0xab);
    expect((await run(disk, task(rw10(0x2a, 10, 2), { dataOut: data }))).status).toBe(0);
    const r = await run(disk, task(rw10(0x28, 10, 2), { expectedDataTransferLength: 1024 }));
    expect(r.dataIn!.equals(data)).toBe(true);
    const r6 = await run(disk, task([0x08, 0, 0, 10, 1, 0], { expectedDataTransferLength: 512 }));
    expect(r6.dataIn!.equals(data.subarray(0, 512))).toBe(true);
    const r12 = await run(disk, task([0xa8, 0, 0, 0, 0, 11, 0, 0, 0, 1, 0, 0], { expectedDataTransferLength: 512 }));
    expect(r12.dataIn![0]).toBe(0xab);
    const w16 = await run(disk, task(rw16(0x8a, 12n, 1, 0x08), { dataOut: Buffer.alloc(512, 1) }));
    expect(w16.status).toBe(0);
    const r16 = await run(disk, task(rw16(0x88, 12n, 1), { expectedDataTransferLength: 512 }));
    expect(r16.dataIn![0]).toBe(1);
  });

  it("rejects ranges beyond the end and LBA wrap with 21h/00h", async () => {
    const { disk } = makeDisk({ blocks: 100 });
    expect(senseOf(await run(disk, task(rw10(0x28, 100, 1))))).toMatchObject({ key: 5, asc: 0x21, ascq: 0 });
    expect(senseOf(await run(disk, task(rw10(0x28, 99, 2))))).toMatchObject({ asc: 0x21 });
    expect(senseOf(await run(disk, task(rw16(0x88, 0xffff_ffff_ffff_ffffn, 2))))).toMatchObject({ asc: 0x21 });
    expect((await run(disk, task(rw10(0x28, 99, 1)))).status).toBe(0);
    // Zero blocks at the capacity boundary is not an error (SBC-3 §5.11).
    expect((await run(disk, task(rw10(0x28, 100, 0)))).status).toBe(0);
  });

  it("refuses RDPROTECT/WRPROTECT without protection information", async () => {
    const { disk } = makeDisk();
    expect(senseOf(await run(disk, task(rw10(0x28, 0, 1, 0x20))))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it("reports a write residual and writes only whole blocks that arrived (EDTL < CDB)", async () => {
    const { disk, backstore } = makeDisk();
    await backstore.write(0, Buffer.alloc(1024, 0x61), false);
    const r = await run(disk, task(rw10(0x2a, 0, 2), { dataOut: Buffer.alloc(512, 0x62), expectedDataTransferLength: 512 }));
    expect(r.status).toBe(0);
    expect(r.cdbTransferLength).toBe(1024);
    const back = await backstore.read(0, 1024);
    expect(back[0]).toBe(0x62);
    expect(back[512]).toBe(0x61);
    const partial = await run(disk, task(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(200), expectedDataTransferLength: 200 }));
    expect(partial.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(senseOf(partial)).toMatchObject({ key: 5, asc: 0x0e, ascq: 0x03 });
    expect(partial.cdbTransferLength).toBe(512);
    const over = await run(disk, task(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(10000), expectedDataTransferLength: 10000 }));
    expect(over.status).toBe(0);
    expect(over.cdbTransferLength).toBe(512);
  });

  it("reads only what EDTL allows and reports the CDB length", async () => {
    const { disk } = makeDisk();
    const r = await run(disk, task(rw10(0x28, 0, 4), { expectedDataTransferLength: 512 }));
    expect(r.dataIn!.length).toBe(512);
    expect(r.cdbTransferLength).toBe(2048);
  });

  it("refuses writes to a write-protected LUN with DATA PROTECT", async () => {
    const { disk } = makeDisk();
    const view = makeView(disk, identity(), { writeProtect: true });
    const r = await run(disk, task(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }), view);
    expect(senseOf(r)).toMatchObject({ key: 7, asc: 0x27, ascq: 0 });
    const ms = await run(disk, task([0x1a, 0, 0x3f, 0, 255, 0]), view);
    expect(ms.dataIn![2] & 0x80).toBe(0x80);
  });

  it("VERIFY with BYTCHK=1 compares and reports the miscompare offset", async () => {
    const { disk, backstore } = makeDisk();
    await backstore.write(512, Buffer.alloc(512, 7), false);
    const same = await run(disk, task(rw10(0x2f, 1, 1, 0x02), { dataOut: Buffer.alloc(512, 7) }));
    expect(same.status).toBe(0);
    const other = Buffer.alloc(512, 7);
    other[100] = 8;
    const diff = await run(disk, task(rw10(0x2f, 1, 1, 0x02), { dataOut: other }));
    expect(senseOf(diff)).toMatchObject({ key: 0x0e, asc: 0x1d, information: 100n });
    expect(senseOf(await run(disk, task(rw10(0x2f, 5000, 1))))).toMatchObject({ asc: 0x21 });
  });

  it("SYNCHRONIZE CACHE flushes and range-checks", async () => {
    const { disk, backstore } = makeDisk({ blocks: 10 });
    let flushed = 0;
    backstore.flush = async () => {
      flushed++;
    };
    expect((await run(disk, task(rw10(0x35, 0, 0)))).status).toBe(0);
    expect(flushed).toBe(1);
    expect(senseOf(await run(disk, task(rw10(0x35, 9, 2))))).toMatchObject({ asc: 0x21 });
  });

  it("passes FUA through to the backstore", async () => {
    const { disk, backstore } = makeDisk();
    const seen: boolean[] = [];
    const orig = backstore.write.bind(backstore);
    backstore.write = async (o, d, fua) => {
      seen.push(fua);
      return orig(o, d, fua);
    };
    await run(disk, task(rw10(0x2a, 0, 1, 0x08), { dataOut: Buffer.alloc(512) }));
    await run(disk, task(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }));
    expect(seen).toEqual([true, false]);
  });
});

describe("ScsiDisk MODE SENSE / SELECT", () => {
  it("returns all pages with a block descriptor and DPOFUA", async () => {
    const { disk } = makeDisk({ blocks: 2048 });
    const d = (await run(disk, task([0x1a, 0, 0x3f, 0, 255, 0]))).dataIn!;
    expect(d[0]).toBe(d.length - 1);
    expect(d[2]).toBe(0x10);
    expect(d[3]).toBe(8);
    expect(d.readUInt32BE(4)).toBe(2048);
    expect(d.readUIntBE(9, 3)).toBe(512);
    const codes: number[] = [];
    for (let off = 12; off < d.length; off += d[off + 1] + 2) codes.push(d[off] & 0x3f);
    expect(codes).toEqual([0x01, 0x08, 0x0a, 0x1c]);
  });

  it("shows WCE for write-back backstores in the caching page (MODE SENSE(10), long LBA)", async () => {
    const { disk, backstore } = makeDisk();
    Object.defineProperty(backstore, "writeBack", { value: true });
    const d = (await run(disk, task([0x5a, 0x10, 0x08, 0, 0, 0, 0, 0, 255, 0]))).dataIn!;
    expect(d[4] & 1).toBe(1);
    expect(d.readUInt16BE(6)).toBe(16);
    expect(d[8 + 16]).toBe(0x08);
    expect(d[8 + 16 + 2] & 0x04).toBe(0x04);
  });

  it("refuses unknown pages and saved values", async () => {
    const { disk } = makeDisk();
    expect(senseOf(await run(disk, task([0x1a, 0, 0x03, 0, 255, 0])))).toMatchObject({ key: 5, asc: 0x24 });
    expect(senseOf(await run(disk, task([0x1a, 0, 0xc8, 0, 255, 0])))).toMatchObject({ key: 5, asc: 0x39 });
  });

  it("MODE SELECT sets D_SENSE (descriptor sense) and SWP (software write protect)", async () => {
    const { disk } = makeDisk();
    const ctl = (await run(disk, task([0x1a, 0x08, 0x0a, 0, 255, 0]))).dataIn!.subarray(4);
    const param = Buffer.concat([Buffer.alloc(4), Buffer.from(ctl)]);
    param[4 + 2] |= 0x04;
    param[4 + 4] |= 0x08;
    const r = await run(disk, task([0x15, 0x10, 0, 0, param.length, 0], { dataOut: param }));
    expect(r.status).toBe(0);
    const w = await run(disk, task(rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }));
    expect(w.sense![0]).toBe(0x72);
    expect(senseOf(w)).toMatchObject({ key: 7, asc: 0x27, ascq: 0x02 });
    // Changing a non-changeable field is refused.
    param[4 + 3] ^= 0x10;
    expect(senseOf(await run(disk, task([0x15, 0x10, 0, 0, param.length, 0], { dataOut: param })))).toMatchObject({ asc: 0x26 });
  });
});

describe("ScsiDisk unit attentions and misc", () => {
  it("queues 29h/00h on login; INQUIRY passes, TUR reports it once", async () => {
    const { disk } = makeDisk();
    const id = identity();
    disk.nexusCreated(id);
    expect((await run(disk, task([0x12, 0, 0, 0, 96, 0]))).status).toBe(0);
    const tur = await run(disk, task([0, 0, 0, 0, 0, 0]));
    expect(tur.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(senseOf(tur)).toMatchObject({ key: 6, asc: 0x29, ascq: 0 });
    expect((await run(disk, task([0, 0, 0, 0, 0, 0]))).status).toBe(0);
  });

  it("REQUEST SENSE returns a pending UA, then NO SENSE", async () => {
    const { disk } = makeDisk();
    disk.nexusCreated(identity());
    const r = await run(disk, task([0x03, 0, 0, 0, 252, 0]));
    expect(r.status).toBe(0);
    expect(senseOf({ status: 0, sense: r.dataIn })).toMatchObject({ key: 6, asc: 0x29 });
    const r2 = await run(disk, task([0x03, 0, 0, 0, 252, 0]));
    expect(senseOf({ status: 0, sense: r2.dataIn })).toMatchObject({ key: 0, asc: 0 });
  });

  it("LUN RESET queues 29h/03h for every nexus, the issuer included", async () => {
    const { disk } = makeDisk();
    const a = identity("iqn.1994-05.com.example:a");
    const b = identity("iqn.1994-05.com.example:b");
    disk.nexusCreated(a);
    disk.nexusCreated(b);
    disk.unitAttentions.clear(a.key);
    disk.unitAttentions.clear(b.key);
    disk.taskManagement("lun_reset", a);
    expect(disk.unitAttentions.peek(a.key)).toEqual([0x29, 0x03]);
    expect(disk.unitAttentions.peek(b.key)).toEqual([0x29, 0x03]);
    disk.nexusLost(b);
    expect(disk.unitAttentions.peek(b.key)).toBeUndefined();
  });

  it("rejects an unknown opcode with 20h/00h", async () => {
    const { disk } = makeDisk();
    expect(senseOf(await run(disk, task([0xd9, 0, 0, 0, 0, 0])))).toMatchObject({ key: 5, asc: 0x20, ascq: 0 });
  });

  it("turns an unexpected exception into HARDWARE ERROR 44h/00h", async () => {
    const { disk, backstore } = makeDisk();
    backstore.read = async () => {
      throw new Error("boom");
    };
    const orig = console.error;
    console.error = () => undefined;
    try {
      expect(senseOf(await run(disk, task(rw10(0x28, 0, 1))))).toMatchObject({ key: 4, asc: 0x44 });
    } finally {
      console.error = orig;
    }
  });

  it("reports capacity changes with 2Ah/09h", async () => {
    const { disk, backstore } = makeDisk();
    disk.nexusCreated(identity());
    disk.unitAttentions.clear(identity().key);
    await backstore.resize(backstore.sizeBytes * 2);
    expect(senseOf(await run(disk, task([0, 0, 0, 0, 0, 0])))).toMatchObject({ key: 6, asc: 0x2a, ascq: 0x09 });
  });
});

describe("ScsiDisk phase-2 SBC commands", () => {
  const caw = (lba: number, n: number) => {
    const c = rw16(0x89, BigInt(lba), 0);
    c[10] = c[11] = c[12] = 0;
    c[13] = n;
    return c;
  };
  it("COMPARE AND WRITE writes on match and reports the miscompare offset", async () => {
    const { disk, backstore } = makeDisk();
    await backstore.write(0, Buffer.alloc(512, 0x41), false);
    const ok = Buffer.concat([Buffer.alloc(512, 0x41), Buffer.alloc(512, 0x42)]);
    expect((await run(disk, task(caw(0, 1), { dataOut: ok }))).status).toBe(0);
    expect((await backstore.read(0, 512))[0]).toBe(0x42);
    const bad = Buffer.concat([Buffer.alloc(512, 0x42), Buffer.alloc(512, 0x43)]);
    bad[37] = 0;
    expect(senseOf(await run(disk, task(caw(0, 1), { dataOut: bad })))).toMatchObject({ key: 0x0e, asc: 0x1d, information: 37n });
    expect(senseOf(await run(disk, task(caw(0, 2), { dataOut: Buffer.alloc(2048) })))).toMatchObject({ key: 5, asc: 0x24 });
    expect(senseOf(await run(disk, task(caw(0, 0), { dataOut: Buffer.alloc(2048) })))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it("WRITE SAME fills the range; with UNMAP and zeros it deallocates", async () => {
    const { disk, backstore } = makeDisk({ attrs: { emulate_tpws: 1 } });
    const ws = rw10(0x41, 4, 3);
    expect((await run(disk, task(ws, { dataOut: Buffer.alloc(512, 9) }))).status).toBe(0);
    expect((await backstore.read(4 * 512, 3 * 512)).equals(Buffer.alloc(1536, 9))).toBe(true);
    expect(senseOf(await run(disk, task(rw10(0x41, 4, 0), { dataOut: Buffer.alloc(512) })))).toMatchObject({ asc: 0x24 });
    const unmap = rw10(0x41, 0, 2048, 0x08);
    expect((await run(disk, task(unmap, { dataOut: Buffer.alloc(512) }))).status).toBe(0);
    expect(backstore.allocatedBytes).toBe(0);
    // UNMAP bit without emulate_tpws is refused.
    const { disk: plain } = makeDisk();
    expect(senseOf(await run(plain, task(unmap, { dataOut: Buffer.alloc(512) })))).toMatchObject({ key: 5, asc: 0x24 });
  });

  it("UNMAP deallocates within the Block Limits and GET LBA STATUS reports it", async () => {
    const { disk, backstore } = makeDisk({ attrs: { emulate_tpu: 1 } });
    await backstore.write(0, Buffer.alloc(2048 * 512, 1), false);
    const param = Buffer.alloc(24);
    param.writeUInt16BE(22, 0);
    param.writeUInt16BE(16, 2);
    param.writeBigUInt64BE(0n, 8);
    param.writeUInt32BE(2048, 16);
    expect((await run(disk, task([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], { dataOut: param }))).status).toBe(0);
    expect((await backstore.read(0, 512)).equals(Buffer.alloc(512))).toBe(true);
    const g = Buffer.alloc(16);
    g[0] = 0x9e;
    g[1] = 0x12;
    g.writeUInt32BE(64, 10);
    const st = (await run(disk, task([...g]))).dataIn!;
    expect(st[8 + 12]).toBe(1);
    param.writeUInt32BE(9000, 16);
    expect(senseOf(await run(disk, task([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], { dataOut: param })))).toMatchObject({ asc: 0x26 });
  });

  it("REPORT SUPPORTED OPERATION CODES lists commands and usage data with DPO/FUA", async () => {
    const { disk } = makeDisk();
    const all = (await run(disk, task([0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]))).dataIn!;
    const ops = new Set<number>();
    for (let off = 4; off < 4 + all.readUInt32BE(0); off += 8) ops.add(all[off]);
    expect([0x28, 0x2a, 0x12, 0x5e, 0x89].every((o) => ops.has(o))).toBe(true);
    const one = (await run(disk, task([0xa3, 0x0c, 0x01, 0x28, 0, 0, 0, 0, 1, 0, 0, 0]))).dataIn!;
    expect(one[1] & 7).toBe(3);
    expect(one.readUInt16BE(2)).toBe(10);
    expect(one[4 + 1] & 0x18).toBe(0x18);
  });
});

import { describe, expect, it } from "vitest";
import { RamdiskBackstore } from "../../../server/engine/backstores/ramdisk";
import { ScsiDisk } from "../../../server/engine/scsi/disk";
import { naaDesignator } from "../../../server/engine/scsi/inquiry";
import { devicesByNaa } from "../../../server/engine/scsi/registry";
import { SenseKey } from "../../../server/engine/scsi/sense";
import { ScsiStatus, type ResolvedLun, type ScsiNexusView, type ScsiTask } from "../../../server/engine/scsi/types";
import { XCOPY_LIMITS, parseXcopyParameterList } from "../../../server/engine/scsi/xcopy";
import { identity, makeDisk, makeInfo, run, senseOf, task } from "./helpers";

const BS = 512;

/** An identification target descriptor (E4h) naming `wwn`'s NAA designator. */
function targetDescriptor(wwn: string, opts: { type?: number; luIdType?: number; nul?: boolean; designatorType?: number } = {}): Buffer {
  const d = Buffer.alloc(32);
  d[0] = opts.type ?? 0xe4;
  d[1] = ((opts.luIdType ?? 0) << 6) | (opts.nul ? 0x20 : 0);
  d[4] = 0x01; // binary
  d[5] = opts.designatorType ?? 0x03; // LU association, NAA
  d[7] = 16;
  naaDesignator(wwn).copy(d, 8);
  d.writeUIntBE(BS, 29, 3);
  return d;
}

function segment(src: number, dst: number, blocks: number, srcLba: number, dstLba: number, type = 0x02): Buffer {
  const s = Buffer.alloc(28);
  s[0] = type;
  s.writeUInt16BE(24, 2);
  s.writeUInt16BE(src, 4);
  s.writeUInt16BE(dst, 6);
  s.writeUInt16BE(blocks, 10);
  s.writeBigUInt64BE(BigInt(srcLba), 12);
  s.writeBigUInt64BE(BigInt(dstLba), 20);
  return s;
}

function parameterList(targets: Buffer[], segments: Buffer[], opts: { listId?: number; listIdUsage?: number; inline?: number } = {}): Buffer {
  const h = Buffer.alloc(16);
  h[0] = opts.listId ?? 1;
  h[1] = ((opts.listIdUsage ?? 2) & 3) << 3;
  const t = Buffer.concat(targets);
  const s = Buffer.concat(segments);
  h.writeUInt16BE(t.length, 2);
  h.writeUInt32BE(s.length, 8);
  h.writeUInt32BE(opts.inline ?? 0, 12);
  return Buffer.concat([h, t, s]);
}

function xcopyTask(list: Buffer, length = list.length): ScsiTask {
  const cdb = [0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, (length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff, 0, 0];
  return task(cdb, { dataOut: list, expectedDataTransferLength: list.length });
}

function rcr(sa: number, listId = 0): ScsiTask {
  return task([0x84, sa, listId, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]);
}

/** Two ramdisk LUs (LUN 0 and LUN 1) seen by one nexus. */
function twoLuns(opts: { attrs1?: Record<string, number>; wwn1?: string; blocks1?: number } = {}) {
  const a = makeDisk({ blocks: 4096 });
  const backstore = new RamdiskBackstore(BS, (opts.blocks1 ?? 4096) * BS);
  const wwn1 = opts.wwn1 ?? "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
  const b = new ScsiDisk({ ...makeInfo(backstore, opts.attrs1), name: "disk2", wwn: wwn1 });
  const lun = (n: number, disk: ScsiDisk): ResolvedLun => ({ binding: { lun: n, tpgLunIndex: n, writeProtect: false }, device: disk, relativeTargetPortId: 3 });
  const resolved = [lun(0, a.disk), lun(1, b)];
  const view: ScsiNexusView = { identity: identity(), resolve: (n) => resolved[n], luns: () => [0, 1] };
  return { a: a.disk, b, wwn0: a.disk.info.wwn, wwn1, view, resolved };
}

describe("EXTENDED COPY parameter list parsing", () => {
  const w = "0d3f6b2a-1c2e-4e5f-9a8b-7c6d5e4f3a2b";

  it("parses one identification descriptor and one block → block segment", () => {
    const p = parseXcopyParameterList(parameterList([targetDescriptor(w)], [segment(0, 0, 2048, 7, 1 << 20)], { listId: 9, listIdUsage: 0 }));
    expect(p.listId).toBe(9);
    expect(p.listIdUsage).toBe(0);
    expect(p.targets).toHaveLength(1);
    expect(p.targets[0].naa.equals(naaDesignator(w))).toBe(true);
    expect(p.targets[0].blockSize).toBe(BS);
    expect(p.segments).toEqual([{ sourceIndex: 0, destinationIndex: 0, destinationCount: false, blocks: 2048, sourceLba: 7, destinationLba: 1 << 20 }]);
  });

  const senseOfThrown = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      const err = e as { key: number; code: readonly [number, number] };
      return [err.key, err.code[0], err.code[1]];
    }
    throw new Error("did not throw");
  };

  it("refuses lists shorter than their header says (PARAMETER LIST LENGTH ERROR)", () => {
    const full = parameterList([targetDescriptor(w)], [segment(0, 0, 1, 0, 1)]);
    expect(senseOfThrown(() => parseXcopyParameterList(full.subarray(0, 47)))).toEqual([SenseKey.ILLEGAL_REQUEST, 0x1a, 0]);
    expect(senseOfThrown(() => parseXcopyParameterList(full.subarray(0, full.length - 1)))).toEqual([SenseKey.ILLEGAL_REQUEST, 0x1a, 0]);
    expect(senseOfThrown(() => parseXcopyParameterList(full.subarray(0, 10)))).toEqual([SenseKey.ILLEGAL_REQUEST, 0x1a, 0]);
  });

  it("enforces LIO's limits: 2 target descriptors, 1 segment descriptor, 1024 bytes of lists, no inline data", () => {
    const t = targetDescriptor(w);
    const s = segment(0, 0, 1, 0, 1);
    expect(senseOfThrown(() => parseXcopyParameterList(parameterList([t, t, t], [s])))).toEqual([SenseKey.ILLEGAL_REQUEST, 0x26, 0x06]);
    expect(senseOfThrown(() => parseXcopyParameterList(parameterList([t], [s, s])))).toEqual([SenseKey.ILLEGAL_REQUEST, 0x26, 0x08]);
    const many = parameterList(Array(40).fill(t), [s]);
    expect(senseOfThrown(() => parseXcopyParameterList(many))).toEqual([SenseKey.ILLEGAL_REQUEST, 0x1a, 0]);
    const inline = Buffer.concat([parameterList([t], [s], { inline: 4 }), Buffer.alloc(4)]);
    expect(senseOfThrown(() => parseXcopyParameterList(inline))).toEqual([SenseKey.ILLEGAL_REQUEST, 0x26, 0]);
    expect(XCOPY_LIMITS.maxTargetDescriptors).toBe(2);
  });

  it("refuses unsupported descriptor types and identification fields", () => {
    const s = segment(0, 0, 1, 0, 1);
    expect(senseOfThrown(() => parseXcopyParameterList(parameterList([targetDescriptor(w, { type: 0xe0 })], [s])))).toEqual([SenseKey.ILLEGAL_REQUEST, 0x26, 0x07]);
    const stream = Buffer.alloc(20);
    stream[0] = 0x03;
    stream.writeUInt16BE(16, 2);
    expect(senseOfThrown(() => parseXcopyParameterList(parameterList([targetDescriptor(w)], [stream])))).toEqual([SenseKey.ILLEGAL_REQUEST, 0x26, 0x09]);
    // SPC-4: LU ID TYPE and NUL are obsolete and ignored.
    expect(parseXcopyParameterList(parameterList([targetDescriptor(w, { luIdType: 2, nul: true })], [s])).targets).toHaveLength(1);
    expect(senseOfThrown(() => parseXcopyParameterList(parameterList([targetDescriptor(w, { designatorType: 0x01 })], [s])))).toEqual([SenseKey.ILLEGAL_REQUEST, 0x26, 0]);
  });
});

describe("EXTENDED COPY between LUs", () => {
  it("copies within one LU (2048 blocks, start to end) and holds COPY STATUS for LIST ID USAGE 00b", async () => {
    const { disk, backstore } = makeDisk({ blocks: 8192 });
    await backstore.write(0, Buffer.alloc(2048 * BS, 0x41), false);
    const list = parameterList([targetDescriptor(disk.info.wwn)], [segment(0, 0, 2048, 0, 8192 - 2048)], { listId: 5, listIdUsage: 0 });
    expect((await run(disk, rcr(0x00, 5))).status).toBe(ScsiStatus.CHECK_CONDITION); // nothing held yet
    const r = await run(disk, xcopyTask(list));
    expect(r.status).toBe(ScsiStatus.GOOD);
    expect((await backstore.read((8192 - 2048) * BS, 2048 * BS)).equals(Buffer.alloc(2048 * BS, 0x41))).toBe(true);
    const st = await run(disk, rcr(0x00, 5));
    expect(st.status).toBe(ScsiStatus.GOOD);
    expect(st.dataIn![4]).toBe(0x01);
    expect(st.dataIn!.readUInt16BE(5)).toBe(1);
    expect(st.dataIn!.readUInt32BE(8)).toBe(2048 * BS);
  });

  it("copies overlapping ranges of one LU like memmove, in chunks larger than 16 MiB", async () => {
    const blocks = 40000;
    const { disk, backstore } = makeDisk({ blocks: blocks + 100 });
    const src = Buffer.alloc(blocks * BS);
    for (let i = 0; i < blocks; i++) src.writeUInt32BE(i, i * BS);
    await backstore.write(0, src, false);
    const r = await run(disk, xcopyTask(parameterList([targetDescriptor(disk.info.wwn)], [segment(0, 0, blocks, 0, 50)])));
    expect(r.status).toBe(ScsiStatus.GOOD);
    const out = await backstore.read(50 * BS, blocks * BS);
    expect(out.equals(src)).toBe(true);
  });

  it("copies from one LU to another named by its NAA designator, received by either", async () => {
    const { a, b, wwn0, wwn1, view, resolved } = twoLuns();
    await a.info.backstore.write(10 * BS, Buffer.alloc(4 * BS, 0x5a), false);
    const list = parameterList([targetDescriptor(wwn0), targetDescriptor(wwn1)], [segment(0, 1, 4, 10, 100)]);
    expect((await a.execute(xcopyTask(list), view, resolved[0])).status).toBe(ScsiStatus.GOOD);
    expect((await b.info.backstore.read(100 * BS, 4 * BS)).equals(Buffer.alloc(4 * BS, 0x5a))).toBe(true);
    // Sent to the destination LU as well.
    await a.info.backstore.write(10 * BS, Buffer.alloc(4 * BS, 0x6b), false);
    expect((await b.execute(xcopyTask(list), view, resolved[1])).status).toBe(ScsiStatus.GOOD);
    expect((await b.info.backstore.read(100 * BS, 4 * BS)).equals(Buffer.alloc(4 * BS, 0x6b))).toBe(true);
  });

  it("cannot reach a LU the nexus cannot address, one with emulate_3pc=0 or a closed one (COPY ABORTED 0Dh/02h)", async () => {
    const { a, b, wwn0, wwn1, resolved } = twoLuns();
    const only0: ScsiNexusView = { identity: identity(), resolve: (n) => (n === 0 ? resolved[0] : undefined), luns: () => [0] };
    const list = parameterList([targetDescriptor(wwn0), targetDescriptor(wwn1)], [segment(0, 1, 4, 10, 100)]);
    const r = await a.execute(xcopyTask(list), only0, resolved[0]);
    expect(senseOf(r)).toMatchObject({ key: SenseKey.COPY_ABORTED, asc: 0x0d, ascq: 0x02 });

    const off = twoLuns({ attrs1: { emulate_3pc: 0 }, wwn1: "7f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" });
    const list2 = parameterList([targetDescriptor(off.wwn0), targetDescriptor(off.wwn1)], [segment(0, 1, 4, 10, 100)]);
    expect(senseOf(await off.a.execute(xcopyTask(list2), off.view, off.resolved[0])).key).toBe(SenseKey.COPY_ABORTED);

    expect(devicesByNaa(naaDesignator(wwn1))).toContain(b);
    b.close();
    expect(devicesByNaa(naaDesignator(wwn1))).not.toContain(b);
  });

  it("aborts the copy for an index past the target descriptors or a range past the end of the LU", async () => {
    const { disk } = makeDisk({ blocks: 4096 });
    const t = targetDescriptor(disk.info.wwn);
    const badIndex = await run(disk, xcopyTask(parameterList([t], [segment(0, 1, 16, 0, 100)])));
    expect(senseOf(badIndex)).toMatchObject({ key: SenseKey.COPY_ABORTED, asc: 0x0d, ascq: 0x02 });
    const beyond = await run(disk, xcopyTask(parameterList([t], [segment(0, 0, 2048, 0, 4095)])));
    expect(senseOf(beyond)).toMatchObject({ key: SenseKey.COPY_ABORTED, asc: 0x0d, ascq: 0x02 });
  });

  it("PARAMETER LIST LENGTH 0 is GOOD; a short Data-Out is a PARAMETER LIST LENGTH ERROR", async () => {
    const { disk } = makeDisk();
    expect((await run(disk, xcopyTask(Buffer.alloc(0)))).status).toBe(ScsiStatus.GOOD);
    const list = parameterList([targetDescriptor(disk.info.wwn)], [segment(0, 0, 1, 0, 1)]);
    expect(senseOf(await run(disk, xcopyTask(list, list.length + 8)))).toMatchObject({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x1a });
  });

  it("refuses a write-protected destination (DATA PROTECT)", async () => {
    const { a, wwn0, wwn1, resolved } = twoLuns();
    const wp: ResolvedLun = { ...resolved[1], binding: { ...resolved[1].binding, writeProtect: true } };
    const view: ScsiNexusView = { identity: identity(), resolve: (n) => (n === 0 ? resolved[0] : wp), luns: () => [0, 1] };
    const list = parameterList([targetDescriptor(wwn0), targetDescriptor(wwn1)], [segment(0, 1, 4, 10, 100)]);
    expect(senseOf(await a.execute(xcopyTask(list), view, resolved[0])).key).toBe(SenseKey.DATA_PROTECT);
  });

  it("is an unsupported opcode with emulate_3pc=0, as in LIO", async () => {
    const { disk } = makeDisk({ attrs: { emulate_3pc: 0 } });
    expect(senseOf(await run(disk, rcr(0x03)))).toMatchObject({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x20 });
  });
});

describe("RECEIVE COPY RESULTS", () => {
  it("reports LIO's operating parameters", async () => {
    const { disk } = makeDisk();
    const r = await run(disk, rcr(0x03));
    const d = r.dataIn!;
    expect(r.status).toBe(ScsiStatus.GOOD);
    expect(d.readUInt32BE(0)).toBe(d.length - 4);
    expect(d[4] & 1).toBe(1);
    expect(d.readUInt16BE(8)).toBe(2);
    expect(d.readUInt16BE(10)).toBe(1);
    expect(d.readUInt32BE(12)).toBe(1024);
    expect(d.readUInt32BE(16)).toBe(256 * 1024 * 1024);
    expect(d[37]).toBe(9);
    expect([...d.subarray(44, 44 + d[43])]).toEqual([0x02, 0xe4]);
  });

  it("refuses other service actions (LID4)", async () => {
    const { disk } = makeDisk();
    expect(senseOf(await run(disk, rcr(0x07)))).toMatchObject({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x24 });
  });
});

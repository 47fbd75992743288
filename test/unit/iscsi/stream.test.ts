/**
 * PduStream (iscsi/stream.ts): a data segment that straddles socket chunks is copied once, into the
 * place the placer names (or a buffer of the stream's own), with both digests checked over the
 * pieces, whatever the chunk boundaries: inside the BHS, the AHS, the header digest, the data,
 * the pad bytes or the data digest.
 */
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { DataOut, NopOut, Opcode, ScsiCommand, type Pdu } from "../../../server/engine/iscsi/pdu";
import { PduStream, type DataPlacer, type FrameError } from "../../../server/engine/iscsi/stream";
import { buildAhs, encodePdu } from "../../support/pdu-wire";

interface Sent { opcode: number; ahs: Buffer; data: Buffer }

/** A write as an initiator sends it: a command with an AHS and immediate data, Data-Out with and without pad, a NOP-Out. */
function wireOf(digests: boolean): { wire: Buffer; sent: Sent[] } {
  const opts = { headerDigest: digests, dataDigest: digests };
  const sent: Sent[] = [];
  const parts: Buffer[] = [];
  const add = (opcode: number, pieces: Buffer[], ahs: Buffer, data: Buffer) => {
    parts.push(...pieces.map((p) => Buffer.from(p)));
    sent.push({ opcode, ahs, data });
  };
  const ahs = buildAhs([{ type: 1, value: randomBytes(15) }]);
  const imm = randomBytes(1001); // 3 pad bytes
  add(Opcode.SCSI_COMMAND, encodePdu(ScsiCommand, {
    immediate: false, final: false, read: false, write: true, attr: 1, lun: 0, itt: 7, edtl: 4096, cmdSN: 1, expStatSN: 1, cdb: Buffer.alloc(16, 0x2a),
  }, imm, { ...opts, ahs }), ahs, imm);
  for (const [n, off, sn] of [[1502, 1001, 0], [4, 2503, 1], [1589, 2507, 2]] as const) {
    const d = randomBytes(n);
    add(Opcode.SCSI_DATA_OUT, encodePdu(DataOut, { final: sn === 2, lun: 0, itt: 7, ttt: 0xffffffff, expStatSN: 1, dataSN: sn, bufferOffset: off }, d, opts), Buffer.alloc(0), d);
  }
  add(Opcode.NOP_OUT, encodePdu(NopOut, { immediate: true, final: true, lun: 0, itt: 8, ttt: 0xffffffff, cmdSN: 2, expStatSN: 1 }, undefined, opts), Buffer.alloc(0), Buffer.alloc(0));
  return { wire: Buffer.concat(parts), sent };
}

/** Places every Data-Out's data at its BufferOffset in `gather`, and the command's immediate data at 0. */
function gatherPlacer(gather: Buffer, placed: Buffer[]): DataPlacer {
  return (bhs) => {
    const len = bhs.readUIntBE(5, 3);
    const off = bhs[0] === Opcode.SCSI_DATA_OUT ? bhs.readUInt32BE(40) : 0;
    const view = gather.subarray(off, off + len);
    placed.push(view);
    return view;
  };
}

function run(wire: Buffer, cuts: number[], digests: boolean, placer?: DataPlacer): { pdus: Pdu[]; errors: FrameError[]; chunks: Buffer[] } {
  const pdus: Pdu[] = [];
  const errors: FrameError[] = [];
  const s = new PduStream({ maxRecvDataSegmentLength: 8192, headerDigest: digests, dataDigest: digests }, (p) => pdus.push(p), (e) => errors.push(e));
  s.placer = placer;
  const chunks: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, wire.length]) {
    // Each chunk its own memory, as a socket delivers it.
    chunks.push(Buffer.from(wire.subarray(at, cut)));
    s.push(chunks.at(-1)!);
    at = cut;
  }
  return { pdus, errors, chunks };
}

/** What differs between the PDUs framed and those sent (empty when nothing does). */
function differences(pdus: Pdu[], sent: Sent[]): string[] {
  if (pdus.length !== sent.length) return [`${pdus.length} PDUs framed, ${sent.length} sent`];
  const out: string[] = [];
  pdus.forEach((p, i) => {
    if (p.opcode !== sent[i].opcode || !p.ahs.equals(sent[i].ahs) || !p.data.equals(sent[i].data)) out.push(`PDU ${i} differs`);
  });
  return out;
}

function expectSame(pdus: Pdu[], sent: Sent[]): void {
  expect(differences(pdus, sent)).toEqual([]);
}

/**
 * Feeds `wire` through ONE buffer, as a connection reading into a reused buffer does
 * (receive-buffer.ts): each chunk is copied into it, pushed, then the buffer is overwritten with junk.
 */
function runReused(wire: Buffer, step: number, digests: boolean, placer?: DataPlacer): { pdus: Pdu[]; errors: FrameError[]; bhs: Buffer[]; reused: Buffer } {
  const pdus: Pdu[] = [];
  const errors: FrameError[] = [];
  const bhs: Buffer[] = [];
  const s = new PduStream({ maxRecvDataSegmentLength: 8192, headerDigest: digests, dataDigest: digests }, (p) => {
    pdus.push(p);
    bhs.push(Buffer.from(p.bhs));
  }, (e) => errors.push(e));
  s.placer = placer;
  s.reusesChunks = true;
  const reused = Buffer.alloc(step);
  for (let at = 0; at < wire.length; at += step) {
    const n = wire.copy(reused, 0, at, Math.min(at + step, wire.length));
    s.push(reused.subarray(0, n));
    reused.fill(0xa5);
  }
  return { pdus, errors, bhs, reused };
}

describe("PduStream: chunks from one reused read buffer (reusesChunks)", () => {
  for (const digests of [false, true]) {
    it(`emits nothing that refers to the read buffer: whole PDUs and split ones stay byte-exact after it is overwritten (digests ${digests})`, () => {
      const { wire, sent } = wireOf(digests);
      for (const step of [1, 7, 48, 53, 500, 1200, wire.length]) {
        const gather = Buffer.alloc(4096);
        const placed: Buffer[] = [];
        const r = runReused(wire, step, digests, gatherPlacer(gather, placed));
        expect(r.errors).toEqual([]);
        expectSame(r.pdus, sent);
        // Headers as they were when emitted (the read buffer has been overwritten since).
        r.pdus.forEach((p, i) => expect(p.bhs.equals(r.bhs[i]), `step ${step} PDU ${i} header`).toBe(true));
        for (const p of r.pdus) expect(p.bhs.buffer === r.reused.buffer || p.data.buffer === r.reused.buffer).toBe(false);
        // Every data segment (whole in a chunk or not) went straight to its place, at its offset.
        expect(placed.length).toBe(4);
        const expected = Buffer.concat(sent.slice(0, 4).map((x) => x.data));
        expect(gather.subarray(0, expected.length).equals(expected)).toBe(true);
        // Without a placer, each data segment is a buffer of the stream's own.
        const plain = runReused(wire, step, digests);
        expect(plain.errors).toEqual([]);
        expectSame(plain.pdus, sent);
      }
    });
  }

  it("carves small data segments it keeps from one slab, not an ArrayBuffer each (as views of a shared chunk were)", () => {
    const parts: Buffer[] = [];
    const sent: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      const d = randomBytes(5000); // above Buffer's own pool (< 4 KiB)
      sent.push(d);
      parts.push(...encodePdu(NopOut, { immediate: true, final: true, lun: 0, itt: i, ttt: 0xffffffff, cmdSN: 1, expStatSN: 1 }, d, {}).map((b) => Buffer.from(b)));
    }
    const r = runReused(Buffer.concat(parts), 4096, false);
    expect(r.errors).toEqual([]);
    expect(r.pdus.map((p) => p.data.equals(sent[r.pdus.indexOf(p)]))).toEqual([true, true, true]);
    // One slab (two when this test's carves happen to cross the end of the shared one).
    expect(new Set(r.pdus.map((p) => p.data.buffer)).size).toBeLessThanOrEqual(2);
  });

  it("two streams (two connections) carve from the same slab, not 256 KiB each", () => {
    const streams = [0, 1].map(() => {
      const pdus: Pdu[] = [];
      const s = new PduStream({ maxRecvDataSegmentLength: 8192, headerDigest: false, dataDigest: false }, (p) => pdus.push(p), () => {});
      s.reusesChunks = true;
      return { s, pdus };
    });
    const sent: Buffer[][] = [[], []];
    for (let i = 0; i < 6; i++) {
      for (const [k, { s }] of streams.entries()) {
        const d = randomBytes(5000);
        sent[k].push(d);
        s.push(Buffer.concat(encodePdu(NopOut, { immediate: true, final: true, lun: 0, itt: i, ttt: 0xffffffff, cmdSN: 1, expStatSN: 1 }, d, {})));
      }
    }
    streams.forEach(({ pdus }, k) => expect(pdus.map((p, i) => p.data.equals(sent[k][i]))).toEqual(Array(6).fill(true)));
    // Carved alternately: stream 1's segment i lies in the same slab as stream 0's (all but at most one crossing).
    const shared = streams[0].pdus.filter((p, i) => p.data.buffer === streams[1].pdus[i].data.buffer).length;
    expect(shared).toBeGreaterThanOrEqual(5);
  });

  it("still detects a corrupt data digest in a PDU that lies whole in one chunk", () => {
    const { wire } = wireOf(true);
    const bad = Buffer.from(wire);
    const dataAt = 48 + 20 + 4 + 1001 + 3 + 4 + 52;
    bad[dataAt + 10] ^= 0x10;
    const r = runReused(bad, bad.length, true, gatherPlacer(Buffer.alloc(4096), []));
    expect(r.errors.map((e) => e.kind)).toEqual(["data_digest"]);
    expect(r.pdus.map((p) => p.opcode)).toEqual([Opcode.SCSI_COMMAND, Opcode.SCSI_DATA_OUT, Opcode.SCSI_DATA_OUT, Opcode.NOP_OUT]);
  });
});

describe("PduStream: data segments that straddle chunks", () => {
  for (const digests of [false, true]) {
    it(`frames a write split in two at every byte, placed or not (digests ${digests})`, () => {
      const { wire, sent } = wireOf(digests);
      const problems: string[] = [];
      for (let cut = 1; cut < wire.length; cut++) {
        const plain = run(wire, [cut], digests);
        if (plain.errors.length) problems.push(`cut ${cut}: ${plain.errors[0].kind}`);
        problems.push(...differences(plain.pdus, sent).map((d) => `cut ${cut}: ${d}`));

        const gather = Buffer.alloc(4096);
        const placed: Buffer[] = [];
        const r = run(wire, [cut], digests, gatherPlacer(gather, placed));
        if (r.errors.length) problems.push(`cut ${cut} placed: ${r.errors[0].kind}`);
        problems.push(...differences(r.pdus, sent).map((d) => `cut ${cut} placed: ${d}`));
        // A PDU whose data lies in one chunk is a view of it; the one the cut splits (if any) is the placed view.
        for (const p of r.pdus) {
          if (p.data.length === 0 || r.chunks.some((c) => c.buffer === p.data.buffer)) continue;
          if (!placed.includes(p.data) || p.data.buffer !== gather.buffer) problems.push(`cut ${cut}: data neither in a chunk nor placed`);
        }
        if (placed.length > 1) problems.push(`cut ${cut}: ${placed.length} placements`);
      }
      expect(problems).toEqual([]);
    });

    it(`frames a write fed one byte at a time and in odd sizes, data placed byte-exact (digests ${digests})`, () => {
      const { wire, sent } = wireOf(digests);
      for (const step of [1, 2, 3, 5, 47, 49, 53, 61, 500]) {
        const cuts: number[] = [];
        for (let at = step; at < wire.length; at += step) cuts.push(at);
        const gather = Buffer.alloc(4096);
        const placed: Buffer[] = [];
        const r = run(wire, cuts, digests, gatherPlacer(gather, placed));
        expect(r.errors).toEqual([]);
        expectSame(r.pdus, sent);
        if (step < 4) expect(placed.length).toBe(4);
        // Every placed segment is at its offset in the gather buffer.
        const expected = Buffer.concat(sent.slice(0, 4).map((x) => x.data));
        for (const v of placed) expect(v.equals(expected.subarray(v.byteOffset, v.byteOffset + v.length))).toBe(true);
      }
    });
  }

  it("ignores a placement of the wrong length (a buffer of its own instead)", () => {
    const { wire, sent } = wireOf(false);
    const r = run(wire, [60, 1200], false, () => Buffer.alloc(3));
    expect(r.errors).toEqual([]);
    expectSame(r.pdus, sent);
  });

  it("keeps a split header's views valid after the next PDU (its own buffer, not a reused one)", () => {
    const { wire, sent } = wireOf(false);
    const r = run(wire, [20, 70, 1200, 1300], false);
    const first = Buffer.from(r.pdus[0].bhs);
    expect(r.pdus.length).toBe(sent.length);
    expect(r.pdus[0].bhs.equals(first)).toBe(true);
    expect(r.pdus[0].bhs.readUInt32BE(16)).toBe(7);
  });

  it("detects a corrupt data byte, pad byte or data digest wherever the chunks end, and emits nothing for it", () => {
    const { wire } = wireOf(true);
    // The first Data-Out: BHS + header digest, then 1502 data bytes, 2 pad bytes, the data digest.
    const cmdLen = 48 + 20 + 4 + 1001 + 3 + 4;
    const dataAt = cmdLen + 52;
    for (const at of [dataAt, dataAt + 700, dataAt + 1501, dataAt + 1502, dataAt + 1503, dataAt + 1504, dataAt + 1507]) {
      const bad = Buffer.from(wire);
      bad[at] ^= 0x10;
      for (const cuts of [[], [at], [at + 1], [dataAt + 1], [dataAt - 1, at + 2], Array.from({ length: 200 }, (_, i) => cmdLen + i * 9)]) {
        const gather = Buffer.alloc(4096);
        const r = run(bad, cuts.filter((c) => c > 0 && c < bad.length).sort((a, b) => a - b), true, gatherPlacer(gather, []));
        expect(r.errors.map((e) => e.kind)).toEqual(["data_digest"]);
        expect(r.pdus.map((p) => p.opcode)).toEqual([Opcode.SCSI_COMMAND, Opcode.SCSI_DATA_OUT, Opcode.SCSI_DATA_OUT, Opcode.NOP_OUT]);
      }
    }
  });

  it("detects a corrupt header (BHS or AHS) wherever the chunks end, and stops there", () => {
    const { wire } = wireOf(true);
    for (const at of [3, 47, 50, 66, 70]) {
      const bad = Buffer.from(wire);
      bad[at] ^= 0x01;
      for (const cuts of [[], [1], [at], [at + 1], [49], [68], [71], [72], [73]]) {
        const placed: Buffer[] = [];
        const r = run(bad, cuts, true, gatherPlacer(Buffer.alloc(4096), placed));
        expect(r.errors.map((e) => e.kind)).toEqual(["header_digest"]);
        expect(r.pdus).toEqual([]);
        // Nothing was placed for a header that failed its digest.
        expect(placed).toEqual([]);
      }
    }
  });
});

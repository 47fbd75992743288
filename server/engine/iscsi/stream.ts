/**
 * Incremental PDU framer: socket chunks in, whole PDUs out.
 *
 * A PDU that lies inside one chunk is emitted as views into that chunk (no copy), unless the
 * chunks are a read buffer the connection reuses (`reusesChunks`, receive-buffer.ts): then every
 * PDU's header segment is copied into a small buffer of its own and its data segment goes the way
 * of a straddling one (below), so nothing emitted refers to the read buffer. A PDU that
 * straddles chunks is not assembled: its header segment (BHS, AHS, header digest) is copied into
 * a small buffer of its own when the header itself straddles, and its data segment is copied once,
 * piece by piece from the chunks, into the place the `placer` names (a command's Data-Out gather
 * buffer: handlers/scsi-command.ts placeData) or else into a buffer of the segment's size. The
 * digests are computed over the pieces as they pass (CRC32C is incremental), so nothing is
 * copied to check them. Lengths are checked before anything is allocated: DataSegmentLength above
 * our MaxRecvDataSegmentLength (8192 during login, RFC 7143 §13.12) is a framing error, since
 * nothing that follows can be trusted.
 */
import { crc32c } from "@node-rs/crc32";
import { BHS_LENGTH, type Pdu, dataSegmentLengthOf, headerDigest, opcodeOf, pad4 } from "./pdu";

/** The AHS or data of a PDU that has none (never written: it has no bytes). */
const EMPTY = Buffer.alloc(0);

/**
 * ownData's slabs: small data segments of every connection share one, up to SLAB_CARVE_MAX bytes
 * each. Shared, not one per stream: a slab per stream was 256 KiB of external memory per login
 * (a Login Request's keys are the first data a stream keeps), and V8's GC threads made 500 logins
 * in a row cost twice the CPU (bench/login-cost.ts).
 */
const SLAB_SIZE = 256 * 1024;
const SLAB_CARVE_MAX = 32 * 1024;
let slab: Buffer = Buffer.alloc(0);
let slabUsed = 0;

/** `dsl` bytes carved from the shared slab (a fresh slab when this one is full; an old one goes when no view is left). */
function carve(dsl: number): Buffer {
  if (slabUsed + dsl > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  const data = slab.subarray(slabUsed, slabUsed + dsl);
  slabUsed += (dsl + 7) & ~7;
  return data;
}

/** `len` bytes of `buf` at `off` in a buffer of their own (a header segment: Buffer's shared pool for small ones). */
function copyOf(buf: Buffer, off: number, len: number): Buffer {
  const out = Buffer.allocUnsafe(len);
  buf.copy(out, 0, off, off + len);
  return out;
}

export type FrameError =
  | { kind: "oversize"; bhs: Buffer; dataSegmentLength: number }
  | { kind: "header_digest"; bhs: Buffer }
  | { kind: "data_digest"; pdu: Pdu };

export interface PduStreamOptions {
  /** Our MaxRecvDataSegmentLength: the largest data segment accepted. */
  maxRecvDataSegmentLength: number;
  headerDigest?: boolean;
  dataDigest?: boolean;
}

/**
 * Where the data segment of a PDU that straddles chunks should be written, asked once its header
 * segment is in (and its header digest checked): a buffer of exactly DataSegmentLength bytes, which
 * becomes the emitted PDU's `data`, or undefined for a buffer of the stream's own. Whatever it
 * names is written before the PDU is emitted, and even if the PDU then fails its data digest.
 */
export type DataPlacer = (bhs: Buffer, ahs: Buffer) => Buffer | undefined;

const enum State {
  /** At a PDU boundary. */
  START,
  /** Fewer than 48 bytes of a BHS seen (in `bhs48`). */
  BHS,
  /** BHS seen, the rest of the header segment pending (in `head`). */
  HEADER,
  /** Header segment done, data segment bytes pending (into `data`). */
  DATA,
  /** Data segment done, pad bytes and data digest pending (in `trailer`). */
  TRAILER,
}

export class PduStream {
  maxRecvDataSegmentLength: number;
  headerDigest: boolean;
  dataDigest: boolean;
  /** Set after a framing error: everything after it is ignored. */
  failed = false;
  /** Names the final place of a straddling data segment (the connection sets it in full feature phase). */
  placer: DataPlacer | undefined;
  /**
   * The chunks pushed are one read buffer, overwritten by the next read: nothing emitted may be a
   * view of it. The copy this costs is the one a straddling PDU always had (its data straight to
   * the placer's buffer), and it saves a fresh ArrayBuffer per socket read, which V8 counts as
   * external memory: ~1 GB/s of it at 1 MiB writes started a mark-compact every 40-80 ms.
   */
  reusesChunks = false;

  private state = State.START;
  // A BHS that straddles chunks (its lengths are not known before its 48 bytes are in).
  private readonly bhs48 = Buffer.alloc(BHS_LENGTH);
  /** The header segment being assembled (a fresh buffer per PDU: handlers may keep views of it). */
  private head: Buffer = this.bhs48;
  private fill = 0;
  // The PDU whose data segment is being received.
  private bhs: Buffer = this.bhs48;
  private ahs: Buffer = this.bhs48;
  private data: Buffer = this.bhs48;
  /** Pad bytes + data digest: at most 3 + 4. */
  private readonly trailer = Buffer.alloc(8);
  private trailerLength = 0;
  /** CRC32C so far over the data segment and its pad bytes (when DataDigest is on). */
  private crc = 0;

  constructor(
    opts: PduStreamOptions,
    private readonly onPdu: (pdu: Pdu) => void,
    private readonly onError: (err: FrameError) => void,
  ) {
    this.maxRecvDataSegmentLength = opts.maxRecvDataSegmentLength;
    this.headerDigest = opts.headerDigest ?? false;
    this.dataDigest = opts.dataDigest ?? false;
  }

  /** Length of the header segment (BHS, AHS, header digest) from a BHS at `off`; undefined (and an error) when oversize. */
  private headerLength(bhs: Buffer, off: number): number | undefined {
    const dsl = dataSegmentLengthOf(bhs, off);
    if (dsl > this.maxRecvDataSegmentLength) {
      this.failed = true;
      this.onError({ kind: "oversize", bhs: Buffer.from(bhs.subarray(off, off + BHS_LENGTH)), dataSegmentLength: dsl });
      return undefined;
    }
    return BHS_LENGTH + bhs[off + 4] * 4 + (this.headerDigest ? 4 : 0);
  }

  /** Bytes after the header segment: data segment, pad, data digest. */
  private dataWireLength(dsl: number): number {
    return dsl + pad4(dsl) + (this.dataDigest && dsl > 0 ? 4 : 0);
  }

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.failed) {
      const avail = chunk.length - off;
      switch (this.state) {
        case State.START: {
          if (avail < BHS_LENGTH) {
            chunk.copy(this.bhs48, 0, off);
            this.fill = avail;
            this.state = State.BHS;
            return;
          }
          const hlen = this.headerLength(chunk, off);
          if (hlen === undefined) return;
          const wire = hlen + this.dataWireLength(dataSegmentLengthOf(chunk, off));
          if (avail >= wire && !this.reusesChunks) {
            // The whole PDU is in this chunk: views, no copy.
            this.emitWhole(chunk, off, hlen);
            off += wire;
          } else if (avail >= hlen) {
            // Its header is in this chunk (views of it when the chunk is never reused, else a copy); its
            // data straddles, or is copied from the reused chunk like straddling data.
            const head = this.reusesChunks ? copyOf(chunk, off, hlen) : chunk.subarray(off, off + hlen);
            off += hlen;
            if (this.reusesChunks && dataSegmentLengthOf(head) === 0) this.emitWhole(head, 0, hlen);
            else this.beginData(head);
          } else {
            this.head = Buffer.allocUnsafe(hlen);
            chunk.copy(this.head, 0, off);
            this.fill = avail;
            this.state = State.HEADER;
            return;
          }
          break;
        }
        case State.BHS: {
          const n = Math.min(BHS_LENGTH - this.fill, avail);
          chunk.copy(this.bhs48, this.fill, off, off + n);
          this.fill += n;
          off += n;
          if (this.fill < BHS_LENGTH) return;
          const hlen = this.headerLength(this.bhs48, 0);
          if (hlen === undefined) return;
          this.head = Buffer.allocUnsafe(hlen);
          this.bhs48.copy(this.head, 0);
          this.state = State.HEADER;
          if (hlen === BHS_LENGTH) this.endHeader();
          break;
        }
        case State.HEADER: {
          const n = Math.min(this.head.length - this.fill, avail);
          chunk.copy(this.head, this.fill, off, off + n);
          this.fill += n;
          off += n;
          if (this.fill === this.head.length) this.endHeader();
          break;
        }
        case State.DATA: {
          const n = Math.min(this.data.length - this.fill, avail);
          chunk.copy(this.data, this.fill, off, off + n);
          if (this.dataDigest) this.crc = crc32c(chunk.subarray(off, off + n), this.crc);
          this.fill += n;
          off += n;
          if (this.fill < this.data.length) break;
          this.fill = 0;
          this.state = State.TRAILER;
          if (this.trailerLength === 0) this.endData();
          break;
        }
        case State.TRAILER: {
          const n = Math.min(this.trailerLength - this.fill, avail);
          chunk.copy(this.trailer, this.fill, off, off + n);
          this.fill += n;
          off += n;
          if (this.fill === this.trailerLength) this.endData();
          break;
        }
      }
    }
  }

  /** The header segment assembled in `head` is complete. */
  private endHeader(): void {
    const head = this.head;
    this.head = this.bhs48;
    const dsl = dataSegmentLengthOf(head);
    if (dsl === 0) {
      this.state = State.START;
      this.emitWhole(head, 0, head.length);
    } else {
      this.beginData(head);
    }
  }

  /** Checks a complete header segment whose data segment (DataSegmentLength > 0) is still to come. */
  private beginData(head: Buffer): void {
    // No view where the header segment is just a BHS (a Data-Out without digest: 127 per 1 MiB write at 8 KiB PDUs).
    const bhs = head.length === BHS_LENGTH ? head : head.subarray(0, BHS_LENGTH);
    const ahs = head[4] === 0 ? EMPTY : head.subarray(BHS_LENGTH, BHS_LENGTH + head[4] * 4);
    if (!this.headerOk(head, BHS_LENGTH + ahs.length, bhs, ahs)) return;
    const dsl = dataSegmentLengthOf(bhs);
    const placed = this.placer?.(bhs, ahs);
    this.bhs = bhs;
    this.ahs = ahs;
    this.data = placed && placed.length === dsl ? placed : this.ownData(dsl);
    this.fill = 0;
    this.crc = 0;
    this.trailerLength = pad4(dsl) + (this.dataDigest ? 4 : 0);
    this.state = State.DATA;
  }

  /**
   * A buffer of the stream's own for a data segment the placer did not take. With reused chunks, a
   * small one (a 4 KiB WRITE's immediate data, a Text request) is carved from a slab shared with the
   * next ones (of every connection), as it used to be a view of a shared socket chunk: a fresh ArrayBuffer per command is
   * external memory to V8 again, and dearer. A slab is never reused: it goes when no view is left.
   */
  private ownData(dsl: number): Buffer {
    if (!this.reusesChunks || dsl > SLAB_CARVE_MAX) return Buffer.allocUnsafe(dsl);
    return carve(dsl);
  }

  /** Data segment and trailer are in: check the data digest (over data and pad as received), emit. */
  private endData(): void {
    this.state = State.START;
    this.fill = 0;
    const bhs = this.bhs;
    const pdu: Pdu = { opcode: opcodeOf(bhs), immediate: (bhs[0] & 0x40) !== 0, bhs, ahs: this.ahs, data: this.data };
    this.bhs = this.ahs = this.data = this.bhs48;
    if (this.dataDigest) {
      const pad = this.trailerLength - 4;
      const crc = (pad ? crc32c(this.trailer.subarray(0, pad), this.crc) : this.crc) >>> 0;
      if (this.trailer.readUInt32LE(pad) !== crc) return this.onError({ kind: "data_digest", pdu });
    }
    this.onPdu(pdu);
  }

  /** False (and a framing error) when the header digest (at `digestAt` of `buf`) does not match. */
  private headerOk(buf: Buffer, digestAt: number, bhs: Buffer, ahs: Buffer): boolean {
    if (!this.headerDigest || buf.readUInt32LE(digestAt) === headerDigest(bhs, ahs)) return true;
    // RFC 7143 §7.8: a header digest error means the PDU's length cannot be trusted either.
    this.failed = true;
    this.onError({ kind: "header_digest", bhs });
    return false;
  }

  /** One complete PDU at `off` of `buf` (header segment of `hlen` bytes): views, digests checked, handed on. */
  private emitWhole(buf: Buffer, off: number, hlen: number): void {
    const bhs = buf.subarray(off, off + BHS_LENGTH);
    // No view for an empty AHS or data segment (a READ's command PDU has neither): one shared empty buffer.
    const ahsLen = bhs[4] * 4;
    const ahs = ahsLen === 0 ? EMPTY : buf.subarray(off + BHS_LENGTH, off + BHS_LENGTH + ahsLen);
    if (!this.headerOk(buf, off + BHS_LENGTH + ahsLen, bhs, ahs)) return;
    const dsl = dataSegmentLengthOf(bhs);
    const p = off + hlen;
    const data = dsl === 0 ? EMPTY : buf.subarray(p, p + dsl);
    const pdu: Pdu = { opcode: opcodeOf(bhs), immediate: (bhs[0] & 0x40) !== 0, bhs, ahs, data };
    if (this.dataDigest && dsl > 0) {
      const padded = p + dsl + pad4(dsl);
      if (buf.readUInt32LE(padded) !== (crc32c(buf.subarray(p, padded)) >>> 0)) return this.onError({ kind: "data_digest", pdu });
    }
    this.onPdu(pdu);
  }
}

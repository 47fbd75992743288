/**
 * Incremental PDU framer: socket chunks in, whole PDUs out.
 *
 * A PDU that lies inside one chunk is emitted as views into that chunk (no copy).
 * A PDU that straddles chunks is copied once into a buffer of its exact size.
 * Lengths are checked before anything is allocated: DataSegmentLength above our
 * MaxRecvDataSegmentLength (8192 during login, RFC 7143 §13.12) is a framing error,
 * since nothing that follows can be trusted.
 */
import { BHS_LENGTH, type Pdu, dataDigest, dataSegmentLengthOf, headerDigest, opcodeOf, pad4 } from "./pdu";

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

export class PduStream {
  maxRecvDataSegmentLength: number;
  headerDigest: boolean;
  dataDigest: boolean;
  /** Set after a framing error: everything after it is ignored. */
  failed = false;

  // Partial header (fewer than 48 bytes seen).
  private readonly hdr = Buffer.alloc(BHS_LENGTH);
  private hdrFill = 0;
  // Partial PDU (header seen, rest pending): one buffer of the PDU's full size.
  private part: Buffer | undefined;
  private partFill = 0;

  constructor(
    opts: PduStreamOptions,
    private readonly onPdu: (pdu: Pdu) => void,
    private readonly onError: (err: FrameError) => void,
  ) {
    this.maxRecvDataSegmentLength = opts.maxRecvDataSegmentLength;
    this.headerDigest = opts.headerDigest ?? false;
    this.dataDigest = opts.dataDigest ?? false;
  }

  /** Bytes a PDU occupies on the wire, from its BHS; undefined (and an error) when oversize. */
  private wireLength(bhs: Buffer, off: number): number | undefined {
    const dsl = dataSegmentLengthOf(bhs, off);
    if (dsl > this.maxRecvDataSegmentLength) {
      this.failed = true;
      this.onError({ kind: "oversize", bhs: Buffer.from(bhs.subarray(off, off + BHS_LENGTH)), dataSegmentLength: dsl });
      return undefined;
    }
    const ahs = bhs[off + 4] * 4;
    return BHS_LENGTH + ahs + (this.headerDigest ? 4 : 0) + dsl + pad4(dsl) + (this.dataDigest && dsl > 0 ? 4 : 0);
  }

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.failed) {
      if (this.part) {
        const n = Math.min(this.part.length - this.partFill, chunk.length - off);
        chunk.copy(this.part, this.partFill, off, off + n);
        this.partFill += n;
        off += n;
        if (this.partFill === this.part.length) {
          const whole = this.part;
          this.part = undefined;
          this.emit(whole, 0);
        }
        continue;
      }
      if (this.hdrFill > 0) {
        const n = Math.min(BHS_LENGTH - this.hdrFill, chunk.length - off);
        chunk.copy(this.hdr, this.hdrFill, off, off + n);
        this.hdrFill += n;
        off += n;
        if (this.hdrFill < BHS_LENGTH) continue;
        this.hdrFill = 0;
        const len = this.wireLength(this.hdr, 0);
        if (len === undefined) return;
        const buf = Buffer.allocUnsafe(len);
        this.hdr.copy(buf, 0);
        if (len === BHS_LENGTH) {
          this.emit(buf, 0);
        } else {
          this.part = buf;
          this.partFill = BHS_LENGTH;
        }
        continue;
      }
      const avail = chunk.length - off;
      if (avail < BHS_LENGTH) {
        chunk.copy(this.hdr, 0, off);
        this.hdrFill = avail;
        return;
      }
      const len = this.wireLength(chunk, off);
      if (len === undefined) return;
      if (avail >= len) {
        this.emit(chunk, off);
        off += len;
      } else {
        this.part = Buffer.allocUnsafe(len);
        chunk.copy(this.part, 0, off);
        this.partFill = avail;
        return;
      }
    }
  }

  /** Slices one complete PDU starting at `off`, checks digests, hands it on. */
  private emit(buf: Buffer, off: number): void {
    const bhs = buf.subarray(off, off + BHS_LENGTH);
    const ahsLen = bhs[4] * 4;
    const dsl = dataSegmentLengthOf(bhs);
    let p = off + BHS_LENGTH;
    const ahs = buf.subarray(p, p + ahsLen);
    p += ahsLen;
    if (this.headerDigest) {
      if (buf.readUInt32LE(p) !== headerDigest(bhs, ahs)) {
        // RFC 7143 §7.8: a header digest error means the PDU's length cannot be trusted either.
        this.failed = true;
        this.onError({ kind: "header_digest", bhs });
        return;
      }
      p += 4;
    }
    const data = buf.subarray(p, p + dsl);
    const pdu: Pdu = { opcode: opcodeOf(bhs), immediate: (bhs[0] & 0x40) !== 0, bhs, ahs, data };
    if (this.dataDigest && dsl > 0) {
      const d = buf.readUInt32LE(p + dsl + pad4(dsl));
      if (d !== dataDigest(data)) {
        this.onError({ kind: "data_digest", pdu });
        return;
      }
    }
    this.onPdu(pdu);
  }
}

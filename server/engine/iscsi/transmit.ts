/**
 * What a connection sends, batched into as few socket writes as possible (the guide's "pooled
 * headers, batched socket writes"), with no JS heap object per PDU.
 *
 * Every PDU's header is encoded straight into a transmit slab shared by all connections, and a
 * data segment of at most COPY_MAX bytes is copied next to it (with its pad and digests), so
 * everything one socket chunk answers is, in the usual case, one contiguous range of the slab
 * and leaves in one `socket.write` of one view: a 4 KiB READ's Data-In costs one write request
 * instead of two buffered chunks, their writev array and two header views. Larger data
 * segments go as views of the caller's buffer (no copy), between slab ranges, written corked
 * so they still leave in one writev.
 *
 * Reuse of the slab: a range handed to the socket is never rewritten while the socket may still
 * read it. Right after a write, `socket.writableLength === 0` means Node has no byte of this
 * socket queued or in flight: libuv wrote the whole request synchronously, the kernel has it.
 * Only then, and only when that range is the top of the slab (nothing taken after it), the slab's
 * top moves back to the range's start. Otherwise the range stays taken until the slab is full
 * and replaced; the old slab lives as long as some socket still holds a view of it.
 */
import type net from "node:net";
import { BHS_LENGTH, dataDigest, headerDigest, pad4, writeLengths, type PduCodec } from "./pdu";

/**
 * Data segments up to this many bytes are copied next to their header: one contiguous write
 * instead of a header part and a data part (a 4 KiB copy costs less than the write request,
 * buffered chunk and array entries Node allocates per extra part). Larger ones go as views.
 */
export const COPY_MAX = 8 * 1024;

/** Size of a transmit slab (shared by all connections; replaced when full). */
export const SLAB_SIZE = 1024 * 1024;

const ZERO4 = Buffer.alloc(4);

class Slab {
  readonly buf = Buffer.allocUnsafe(SLAB_SIZE);
  used = 0;
}

let shared = new Slab();

/** Where the next n bytes of the shared slab start (a fresh slab when this one is full). */
function room(n: number): Slab {
  if (shared.used + n > SLAB_SIZE) shared = new Slab();
  return shared;
}

/** The shared slab's top (tests: a range written synchronously is given back). */
export function slabTop(): { slab: Buffer; used: number } {
  return { slab: shared.buf, used: shared.used };
}

type OnWritten = (err?: Error | null) => void;

/** The PDUs a connection has queued but not yet handed to its socket. */
export class Transmitter {
  /** Ranges closed before the current one and large data views, in order, with their write callbacks. */
  private readonly parts: Buffer[] = [];
  private readonly partCbs: (OnWritten | undefined)[] = [];
  /** The open range of the slab: [begin, end) of `seg`. */
  private seg: Slab | undefined;
  private begin = 0;
  private end = 0;

  constructor(private readonly socket: net.Socket) {}

  /** Something is queued. */
  get pending(): boolean {
    return this.seg !== undefined || this.parts.length > 0;
  }

  /**
   * Queues one PDU: its BHS encoded from `h` (sequence numbers already stamped), `data` (the
   * data segment, or undefined), pad and digests. `onWritten` is called once the socket no longer
   * needs `data`: at once when it was copied into the slab, else when its write completed.
   */
  add<H>(codec: PduCodec<H>, h: H, data: Buffer | undefined, hdrDigest: boolean, dataDig: boolean, onWritten?: OnWritten): void {
    const dlen = data === undefined ? 0 : data.length;
    const hlen = BHS_LENGTH + (hdrDigest ? 4 : 0);
    const tail = dlen === 0 ? 0 : pad4(dlen) + (dataDig ? 4 : 0);
    const copy = dlen <= COPY_MAX;
    let off = this.take(copy ? hlen + dlen + tail : hlen);
    const buf = this.seg!.buf;
    codec.encode(h, buf, off);
    writeLengths(buf, 0, dlen, off);
    if (hdrDigest) buf.writeUInt32LE(headerDigest(buf.subarray(off, off + BHS_LENGTH)), off + BHS_LENGTH);
    off += hlen;
    if (dlen === 0) {
      onWritten?.();
      return;
    }
    if (copy) {
      data!.copy(buf, off);
      off += dlen;
      onWritten?.();
    } else {
      this.close();
      this.parts.push(data!);
      this.partCbs.push(onWritten);
      if (tail === 0) return;
      off = this.take(tail);
    }
    this.writeTail(this.seg!.buf, off, data!, dataDig);
  }

  private writeTail(buf: Buffer, off: number, data: Buffer, dataDig: boolean): void {
    const p = pad4(data.length);
    if (p) ZERO4.copy(buf, off, 0, p);
    if (dataDig) buf.writeUInt32LE(dataDigest(data), off + p);
  }

  /** n bytes at the top of the shared slab, appended to the open range when it ends there, else in a new range. */
  private take(n: number): number {
    const slab = room(n);
    if (this.seg !== slab || this.end !== slab.used) {
      this.close();
      this.seg = slab;
      this.begin = this.end = slab.used;
    }
    const off = slab.used;
    slab.used += n;
    this.end = slab.used;
    return off;
  }

  /** Closes the open range into a part. */
  private close(): void {
    if (this.seg === undefined) return;
    if (this.end > this.begin) {
      this.parts.push(this.seg.buf.subarray(this.begin, this.end));
      this.partCbs.push(undefined);
    }
    this.seg = undefined;
  }

  /**
   * Hands everything queued to the socket: one write when it is one range, else one corked
   * series of writes (one writev). Returns false when the socket wants us to stop (backpressure).
   */
  flush(): boolean {
    const s = this.socket;
    const seg = this.seg;
    const begin = this.begin;
    const end = this.end;
    let ok = true;
    if (this.parts.length === 0) {
      if (seg === undefined) return true;
      this.seg = undefined;
      ok = s.write(seg.buf.subarray(begin, end));
    } else {
      this.close();
      const parts = this.parts;
      const cbs = this.partCbs;
      s.cork();
      for (let i = 0; i < parts.length; i++) ok = s.write(parts[i], cbs[i]) && ok;
      s.uncork();
      parts.length = 0;
      cbs.length = 0;
    }
    // Written synchronously (nothing of this socket queued or in flight): the last range is free again.
    if (seg !== undefined && seg.used === end && s.writableLength === 0 && !s.destroyed) seg.used = begin;
    return ok;
  }

  /** The connection is gone: forget what was queued (its data callbacks are not called). */
  drop(): void {
    // Nothing of the open range was handed to a socket: give it back when it is the slab's top.
    if (this.seg !== undefined && this.seg.used === this.end) this.seg.used = this.begin;
    this.seg = undefined;
    this.parts.length = 0;
    this.partCbs.length = 0;
  }
}

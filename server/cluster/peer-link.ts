/**
 * The peer link (docs/cluster.md, "Forwarding"): a gateway that does not own an rbd LU forwards
 * that LU's data commands (READ, WRITE with FUA, SYNCHRONIZE CACHE, UNMAP, WRITE SAME, COMPARE
 * AND WRITE, GET LBA STATUS) to the owner over one TCP connection per owner, and the owner runs
 * them on its own Ceph client. So only the owner's client ever touches the image (fencing stays
 * exactly as it is: blocklist + the managed exclusive lock) and there is no lock ping-pong, while
 * every gateway's port can report Active/Non-optimized (SPC-4 §5.16.2.4.3: IO works, slower).
 * TrueNAS HA does the same over its private link (../shared/reference/scale-out.md).
 *
 * Frames are length-prefixed binary, little-endian (pure encode/decode below, I/O in PeerServer
 * and PeerClient):
 *   request:  u32 length | u32 id | u8 op | u8 flags | u16 luLength | f64 offset | u32 byteCount | u32 buf1Length | lu | buf1 | buf2
 *   response: u32 length | u32 id | u8 status | u8 senseKey | u8 asc | u8 ascq | f64 value | u16 messageLength | message | data
 * The first request on a connection is HELLO carrying the owner's token (from its etcd owner
 * key): the link is as trusted as etcd, as the configuration (CHAP secrets) already is.
 *
 * A forwarded request that cannot be answered by a live owner (no connection, the connection
 * lost, the owner no longer serving, no answer in time) fails with NOT READY, ASYMMETRIC ACCESS
 * STATE TRANSITION (04h/0Ah), which initiators retry: never a success that did not happen. A
 * write whose answer was lost may have landed, exactly like a response lost on the wire; the
 * retry writes the same data again.
 */
import net from "node:net";
import { timingSafeEqual } from "node:crypto";
import type { Backstore, ForwardedIo } from "../engine/backstores/backstore";
import { Asc, SenseError, SenseKey } from "../engine/scsi/sense";

export const PeerOp = { HELLO: 0, READ: 1, WRITE: 2, FLUSH: 3, UNMAP: 4, WRITESAME: 5, CAW: 6, STATUS: 7 } as const;
export const PeerStatus = { OK: 0, SENSE: 1, NOT_OWNER: 2, ERROR: 3 } as const;
const FLAG_FUA = 1;

export interface PeerRequest {
  id: number;
  op: number;
  fua: boolean;
  lu: string;
  offset: number;
  /** READ/UNMAP/WRITESAME/STATUS: the byte count. */
  length: number;
  buf1?: Buffer;
  buf2?: Buffer;
}

export interface PeerResponse {
  id: number;
  status: number;
  senseKey: number;
  asc: number;
  ascq: number;
  /** CAW: the miscompare offset or -1; STATUS: ±length. */
  value: number;
  message: string;
  data?: Buffer;
}

const REQ_HEADER = 4 + 4 + 1 + 1 + 2 + 8 + 4 + 4;
const RES_HEADER = 4 + 4 + 1 + 3 + 8 + 2;
/** Largest frame accepted: a 16 MiB WRITE (far above MaxBurstLength) plus its header. */
export const MAX_FRAME = 34 * 1024 * 1024;

/** The request's frame as a list of buffers (header, then the payloads as they are: no copy). */
export function encodeRequest(r: PeerRequest): Buffer[] {
  const lu = Buffer.from(r.lu, "utf8");
  const b1 = r.buf1?.length ?? 0;
  const b2 = r.buf2?.length ?? 0;
  const h = Buffer.allocUnsafe(REQ_HEADER + lu.length);
  h.writeUInt32LE(REQ_HEADER + lu.length + b1 + b2, 0);
  h.writeUInt32LE(r.id, 4);
  h.writeUInt8(r.op, 8);
  h.writeUInt8(r.fua ? FLAG_FUA : 0, 9);
  h.writeUInt16LE(lu.length, 10);
  h.writeDoubleLE(r.offset, 12);
  h.writeUInt32LE(r.length, 20);
  h.writeUInt32LE(b1, 24);
  lu.copy(h, REQ_HEADER);
  const out: Buffer[] = [h];
  if (r.buf1?.length) out.push(r.buf1);
  if (r.buf2?.length) out.push(r.buf2);
  return out;
}

/** Decodes one whole request frame (as FrameReader hands it over). Throws on a malformed frame. */
export function decodeRequest(f: Buffer): PeerRequest {
  if (f.length < REQ_HEADER) throw new Error(`peer request of ${f.length} bytes is shorter than its header`);
  const luLen = f.readUInt16LE(10);
  const b1 = f.readUInt32LE(24);
  if (REQ_HEADER + luLen + b1 > f.length) throw new Error("peer request: lengths exceed the frame");
  const start = REQ_HEADER + luLen;
  return {
    id: f.readUInt32LE(4),
    op: f.readUInt8(8),
    fua: (f.readUInt8(9) & FLAG_FUA) !== 0,
    lu: f.toString("utf8", REQ_HEADER, start),
    offset: f.readDoubleLE(12),
    length: f.readUInt32LE(20),
    buf1: f.subarray(start, start + b1),
    buf2: f.subarray(start + b1),
  };
}

export function encodeResponse(r: PeerResponse): Buffer[] {
  const msg = Buffer.from(r.message, "utf8").subarray(0, 0xffff);
  const data = r.data?.length ?? 0;
  const h = Buffer.allocUnsafe(RES_HEADER + msg.length);
  h.writeUInt32LE(RES_HEADER + msg.length + data, 0);
  h.writeUInt32LE(r.id, 4);
  h.writeUInt8(r.status, 8);
  h.writeUInt8(r.senseKey, 9);
  h.writeUInt8(r.asc, 10);
  h.writeUInt8(r.ascq, 11);
  h.writeDoubleLE(r.value, 12);
  h.writeUInt16LE(msg.length, 20);
  msg.copy(h, RES_HEADER);
  const out: Buffer[] = [h];
  if (r.data?.length) out.push(r.data);
  return out;
}

export function decodeResponse(f: Buffer): PeerResponse {
  if (f.length < RES_HEADER) throw new Error(`peer response of ${f.length} bytes is shorter than its header`);
  const msgLen = f.readUInt16LE(20);
  if (RES_HEADER + msgLen > f.length) throw new Error("peer response: message exceeds the frame");
  return {
    id: f.readUInt32LE(4),
    status: f.readUInt8(8),
    senseKey: f.readUInt8(9),
    asc: f.readUInt8(10),
    ascq: f.readUInt8(11),
    value: f.readDoubleLE(12),
    message: f.toString("utf8", RES_HEADER, RES_HEADER + msgLen),
    data: f.subarray(RES_HEADER + msgLen),
  };
}

/**
 * Splits a byte stream into whole frames (u32 length prefix, little-endian). A frame inside one
 * chunk is handed over as a view of it; one spread over chunks is joined once.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;

  constructor(private readonly onFrame: (frame: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.have += chunk.length;
    for (;;) {
      if (this.have < 4) return;
      const head = this.chunks[0]!.length >= 4 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const len = head.readUInt32LE(0);
      if (len < 4 || len > MAX_FRAME) throw new Error(`peer frame length ${len} out of range`);
      if (this.have < len) return;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.have);
      this.onFrame(all.subarray(0, len));
      const rest = all.subarray(len);
      this.chunks = rest.length ? [rest] : [];
      this.have = rest.length;
    }
  }
}

/** NOT READY, ASYMMETRIC ACCESS STATE TRANSITION: what a forwarded command gets when no live owner answered it. */
export function retryable(why: string): SenseError {
  const e = new SenseError(SenseKey.NOT_READY, Asc.ALUA_STATE_TRANSITION);
  e.message = `forwarded command not answered by the owner: ${why}`;
  return e;
}

// ---- the owner's side -------------------------------------------------------------------------

/** Runs one decoded request on the owner's backstore; the response to send. Pure of sockets. */
export async function runRequest(bs: Backstore, r: PeerRequest): Promise<PeerResponse> {
  const ok = (value = 0, data?: Buffer): PeerResponse => ({ id: r.id, status: PeerStatus.OK, senseKey: 0, asc: 0, ascq: 0, value, message: "", data });
  try {
    switch (r.op) {
      case PeerOp.READ: {
        const data = await bs.read(r.offset, r.length);
        return ok(0, data);
      }
      case PeerOp.WRITE:
        await bs.write(r.offset, r.buf1!, r.fua);
        return ok();
      case PeerOp.FLUSH:
        await bs.flush();
        return ok();
      case PeerOp.UNMAP:
        if (!bs.unmap) throw new Error("the owner's backstore cannot unmap");
        await bs.unmap(r.offset, r.length);
        return ok();
      case PeerOp.WRITESAME:
        if (!bs.writeSame) throw new Error("the owner's backstore cannot write same");
        await bs.writeSame(r.offset, r.length, r.buf1!);
        return ok();
      case PeerOp.CAW: {
        if (!bs.compareAndWrite) throw new Error("the owner's backstore cannot compare and write");
        return ok(await bs.compareAndWrite(r.offset, r.buf1!, r.buf2!, r.fua));
      }
      case PeerOp.STATUS: {
        const st = bs.status ? await bs.status(r.offset, r.length) : { mapped: true, length: r.length };
        return ok(st.mapped ? st.length : -st.length);
      }
      default:
        throw new Error(`unknown peer op ${r.op}`);
    }
  } catch (err) {
    if (err instanceof SenseError) {
      return { id: r.id, status: PeerStatus.SENSE, senseKey: err.key, asc: err.code[0], ascq: err.code[1], value: 0, message: err.message, data: undefined };
    }
    return { id: r.id, status: PeerStatus.ERROR, senseKey: 0, asc: 0, ascq: 0, value: 0, message: (err as Error)?.message ?? String(err) };
  }
}

/**
 * The owner's end: accepts connections from the other gateways and runs their requests on the
 * LUs this node serves. `serving(lu)` says which (null: not this node's to serve now, answered
 * NOT_OWNER so the sender retries): it is asked per request, so a hand-over or a lost lease stops
 * forwarded IO at once.
 */
export class PeerServer {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  address: string | null = null;

  constructor(
    private readonly token: string,
    private readonly serving: (lu: string) => Backstore | null,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Listens on `host:port` (port 0: any free one); resolves with the address the others dial. */
  async listen(host: string, port: number): Promise<string> {
    const server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    server.on("error", (err) => this.log(`portico: cluster: peer link: ${err.message}`));
    this.server = server;
    const a = server.address() as net.AddressInfo;
    this.address = `${host.includes(":") ? `[${host}]` : host}:${a.port}`;
    return this.address;
  }

  private accept(s: net.Socket): void {
    this.sockets.add(s);
    s.setNoDelay(true);
    let greeted = false;
    const reader = new FrameReader((frame) => {
      const r = decodeRequest(frame);
      if (!greeted) {
        const t = r.buf1 ?? Buffer.alloc(0);
        const want = Buffer.from(this.token);
        if (r.op !== PeerOp.HELLO || t.length !== want.length || !timingSafeEqual(t, want)) throw new Error("peer link: wrong or missing token");
        greeted = true;
        this.send(s, { id: r.id, status: PeerStatus.OK, senseKey: 0, asc: 0, ascq: 0, value: 0, message: "" });
        return;
      }
      void this.handle(s, r);
    });
    s.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        this.log(`portico: cluster: peer link from ${s.remoteAddress}: ${(err as Error).message}: closed`);
        s.destroy();
      }
    });
    s.on("error", () => undefined);
    s.on("close", () => this.sockets.delete(s));
  }

  private async handle(s: net.Socket, r: PeerRequest): Promise<void> {
    const bs = this.serving(r.lu);
    if (!bs) {
      this.send(s, { id: r.id, status: PeerStatus.NOT_OWNER, senseKey: 0, asc: 0, ascq: 0, value: 0, message: `not serving ${r.lu}` });
      return;
    }
    const res = await runRequest(bs, r);
    this.send(s, res);
    // The read buffer went out with the socket write: give it back once written.
    if (res.data && bs.releaseRead) {
      const data = res.data;
      s.write(Buffer.alloc(0), () => bs.releaseRead!(data));
    }
  }

  private send(s: net.Socket, r: PeerResponse): void {
    if (s.destroyed) return;
    s.cork();
    for (const b of encodeResponse(r)) s.write(b);
    process.nextTick(() => s.uncork());
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

// ---- the forwarding side ----------------------------------------------------------------------

interface Pending {
  resolve: (r: PeerResponse) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/** One connection to one owner (address + token); requests are matched to responses by id. */
class PeerConnection {
  private socket: net.Socket | undefined;
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  closed = false;

  constructor(
    readonly address: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  private connect(): Promise<void> {
    if (this.ready) return this.ready;
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(this.address);
    if (!m) return Promise.reject(retryable(`bad peer address ${this.address}`));
    const s = net.connect({ host: m[1], port: Number(m[2]) });
    s.setNoDelay(true);
    this.socket = s;
    const reader = new FrameReader((f) => this.onResponse(decodeResponse(f)));
    s.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        this.fail(`bad frame from ${this.address}: ${(err as Error).message}`);
      }
    });
    s.on("error", (err) => this.fail(`${this.address}: ${err.message}`));
    s.on("close", () => this.fail(`connection to ${this.address} closed`));
    this.ready = this.call({ id: 0, op: PeerOp.HELLO, fua: false, lu: "", offset: 0, length: 0, buf1: Buffer.from(this.token) }).then(() => undefined);
    return this.ready;
  }

  /** Sends one request; resolves with its response, rejects (retryably) if the link fails first. */
  call(r: PeerRequest): Promise<PeerResponse> {
    if (this.closed) return Promise.reject(retryable(`link to ${this.address} closed`));
    if (r.op !== PeerOp.HELLO) {
      const ready = this.connect();
      return ready.then(() => this.send(r));
    }
    return this.send(r);
  }

  private send(r: PeerRequest): Promise<PeerResponse> {
    const s = this.socket;
    if (this.closed || !s || s.destroyed) return Promise.reject(retryable(`link to ${this.address} closed`));
    const id = this.nextId++ >>> 0;
    return new Promise<PeerResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        // No answer in time: a stopped owner. Drop the link so every request on it fails alike.
        this.fail(`no answer from ${this.address} within ${this.timeoutMs} ms`);
      }, this.timeoutMs);
      timer.unref?.();
      this.pending.set(id, { resolve, reject, timer });
      s.cork();
      for (const b of encodeRequest({ ...r, id })) s.write(b);
      process.nextTick(() => s.uncork());
    });
  }

  private onResponse(r: PeerResponse): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    clearTimeout(p.timer);
    p.resolve(r);
  }

  /** The link is gone: every request still waiting fails retryably; the next call reconnects elsewhere. */
  fail(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.destroy();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(retryable(why));
    }
    this.pending.clear();
  }

  get inflight(): number {
    return this.pending.size;
  }
}

/** The owner a forwarder sends to: its peer address and its token (both from its etcd owner key). */
export interface PeerTarget {
  address: string;
  token: string;
}

/** The forwarding side: one connection per owner, and a ForwardedIo per LU for the engine. */
export class PeerClient {
  private readonly links = new Map<string, PeerConnection>();

  constructor(private readonly timeoutMs = 15_000) {}

  private link(t: PeerTarget): PeerConnection {
    const key = `${t.address}\0${t.token}`;
    let l = this.links.get(key);
    if (!l || l.closed) {
      l = new PeerConnection(t.address, t.token, this.timeoutMs);
      this.links.set(key, l);
    }
    return l;
  }

  /** Fails every request waiting on `address` at once (its owner lost the LU) and closes the link. */
  drop(address: string, why: string): void {
    for (const [key, l] of this.links) {
      if (l.address !== address) continue;
      l.fail(why);
      this.links.delete(key);
    }
  }

  close(): void {
    for (const l of this.links.values()) l.fail("this node stops");
    this.links.clear();
  }

  /** Requests waiting for an answer, over every link (status, tests). */
  get inflight(): number {
    let n = 0;
    for (const l of this.links.values()) n += l.inflight;
    return n;
  }

  /** What the engine calls for `lu` while `target` owns it. */
  forwarder(lu: string, target: PeerTarget): ForwardedIo {
    const call = async (op: number, offset: number, length: number, fua: boolean, buf1?: Buffer, buf2?: Buffer): Promise<PeerResponse> => {
      const r = await this.link(target).call({ id: 0, op, fua, lu, offset, length, buf1, buf2 });
      if (r.status === PeerStatus.OK) return r;
      if (r.status === PeerStatus.SENSE) {
        const e = new SenseError(r.senseKey, [r.asc, r.ascq]);
        e.message = r.message || e.message;
        throw e;
      }
      if (r.status === PeerStatus.NOT_OWNER) throw retryable(`${target.address}: ${r.message}`);
      throw new Error(`owner ${target.address}: ${r.message}`);
    };
    return {
      read: async (offset, length, into) => {
        const r = await call(PeerOp.READ, offset, length, false);
        if (!r.data || r.data.length !== length) throw retryable(`read of ${length} bytes answered with ${r.data?.length ?? 0}`);
        r.data.copy(into);
        return into;
      },
      write: async (offset, data, fua) => void (await call(PeerOp.WRITE, offset, data.length, fua, data)),
      flush: async () => void (await call(PeerOp.FLUSH, 0, 0, false)),
      unmap: async (offset, length) => void (await call(PeerOp.UNMAP, offset, length, false)),
      writeSame: async (offset, length, block) => void (await call(PeerOp.WRITESAME, offset, length, false, block)),
      compareAndWrite: async (offset, compare, data, fua) => (await call(PeerOp.CAW, offset, compare.length, fua, compare, data)).value,
      status: async (offset, length) => {
        const v = (await call(PeerOp.STATUS, offset, length, false)).value;
        return { mapped: v >= 0, length: Math.abs(v) };
      },
    };
  }
}

/**
 * A minimal iSCSI initiator for the benchmarks (bench/run.ts): logins and one command at a
 * time with a per-command latency. Independent of the engine's codec on purpose (it talks
 * to tgt the same way), and lean, so its own cost is small and the same for both targets.
 *
 * RFC 7143 §11.3 (SCSI Command), §11.4 (Response), §11.7 (Data-In/Out), §11.8 (R2T),
 * §11.12–11.15 (Login, Logout), §11.18–11.19 (NOP).
 */
import net from "node:net";

const BHS = 48;
const pad4 = (n: number) => (n + 3) & ~3;

export interface LoginOptions {
  host: string;
  port: number;
  targetName: string;
  initiatorName: string;
  /** ISID low bits (distinct per session so parallel logins are not reinstatements). */
  isid: number;
}

interface Pending {
  resolve: (status: number) => void;
  reject: (err: Error) => void;
  data?: Buffer;
}

function textKeys(keys: Record<string, string>): Buffer {
  return Buffer.from(Object.entries(keys).map(([k, v]) => `${k}=${v}\0`).join(""), "utf8");
}

function parseKeys(data: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of data.toString("utf8").split("\0")) {
    const i = kv.indexOf("=");
    if (i > 0) m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return m;
}

export class BenchSession {
  private buf: Buffer = Buffer.alloc(0);
  private cmdSN = 1;
  private expStatSN = 0;
  private itt = 1;
  private readonly pending = new Map<number, Pending>();
  private loginWaiter: ((pdu: { bhs: Buffer; data: Buffer }) => void) | undefined;
  private closed = false;
  private closeErr: Error | undefined;
  immediateData = false;
  firstBurstLength = 65536;
  maxXmit = 8192;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => this.onData(d));
    socket.on("error", (e) => this.fail(e));
    socket.on("close", () => this.fail(new Error("connection closed")));
  }

  static connect(host: string, port: number): Promise<BenchSession> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port }, () => {
        s.off("error", reject);
        resolve(new BenchSession(s));
      });
      s.once("error", reject);
    });
  }

  /** Connects and logs in to a Normal session in one step (CSG 1 → NSG 3, no authentication). */
  static async login(o: LoginOptions): Promise<BenchSession> {
    const s = await BenchSession.connect(o.host, o.port);
    try {
      await s.doLogin(o);
    } catch (err) {
      s.socket.destroy();
      throw err;
    }
    return s;
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeErr = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let off = 0;
    while (this.buf.length - off >= BHS) {
      const b = this.buf;
      const dsl = (b[off + 5] << 16) | (b[off + 6] << 8) | b[off + 7];
      const total = BHS + b[off + 4] * 4 + pad4(dsl);
      if (b.length - off < total) break;
      const bhs = b.subarray(off, off + BHS);
      const data = b.subarray(off + BHS + b[off + 4] * 4, off + BHS + b[off + 4] * 4 + dsl);
      off += total;
      this.onPdu(bhs, data);
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
  }

  private onPdu(bhs: Buffer, data: Buffer): void {
    const op = bhs[0] & 0x3f;
    const itt = bhs.readUInt32BE(16);
    switch (op) {
      case 0x23: // Login Response
      case 0x26: { // Logout Response
        this.expStatSN = (bhs.readUInt32BE(24) + 1) >>> 0;
        const w = this.loginWaiter;
        this.loginWaiter = undefined;
        w?.({ bhs: Buffer.from(bhs), data: Buffer.from(data) });
        return;
      }
      case 0x21: { // SCSI Response
        this.expStatSN = (bhs.readUInt32BE(24) + 1) >>> 0;
        const p = this.pending.get(itt);
        if (!p) return;
        this.pending.delete(itt);
        p.resolve(bhs[2] !== 0 ? 0x100 | bhs[2] : bhs[3]);
        return;
      }
      case 0x25: { // Data-In
        if (bhs[1] & 0x01) {
          this.expStatSN = (bhs.readUInt32BE(24) + 1) >>> 0;
          const p = this.pending.get(itt);
          if (!p) return;
          this.pending.delete(itt);
          p.resolve(bhs[3]);
        }
        return;
      }
      case 0x31: { // R2T: send the requested range from the pending write's buffer
        const p = this.pending.get(itt);
        if (!p?.data) return;
        const ttt = bhs.readUInt32BE(20);
        const lun = bhs.subarray(8, 16);
        let offset = bhs.readUInt32BE(40);
        const end = offset + bhs.readUInt32BE(44);
        let dataSN = 0;
        while (offset < end) {
          const n = Math.min(this.maxXmit, end - offset);
          const h = Buffer.alloc(BHS);
          h[0] = 0x05;
          h[1] = offset + n === end ? 0x80 : 0;
          h.writeUIntBE(n, 5, 3);
          lun.copy(h, 8);
          h.writeUInt32BE(itt, 16);
          h.writeUInt32BE(ttt, 20);
          h.writeUInt32BE(this.expStatSN, 28);
          h.writeUInt32BE(dataSN++, 36);
          h.writeUInt32BE(offset, 40);
          this.socket.write(Buffer.concat([h, p.data.subarray(offset, offset + n)]));
          offset += n;
        }
        return;
      }
      case 0x20: { // NOP-In: answer a ping (TTT set)
        const ttt = bhs.readUInt32BE(20);
        if (ttt === 0xffffffff) return;
        const h = Buffer.alloc(BHS);
        h[0] = 0x40;
        h[1] = 0x80;
        bhs.copy(h, 8, 8, 16);
        h.writeUInt32BE(0xffffffff, 16);
        h.writeUInt32BE(ttt, 20);
        h.writeUInt32BE(this.cmdSN, 24);
        h.writeUInt32BE(this.expStatSN, 28);
        this.socket.write(h);
        return;
      }
      default:
        return;
    }
  }

  private nextLoginPdu(): Promise<{ bhs: Buffer; data: Buffer }> {
    if (this.closed) return Promise.reject(this.closeErr);
    return new Promise((resolve, reject) => {
      this.loginWaiter = resolve;
      this.socket.once("close", () => reject(new Error("connection closed during login")));
    });
  }

  private sendLogin(o: LoginOptions, keys: Record<string, string>): void {
    const data = textKeys(keys);
    const h = Buffer.alloc(BHS + pad4(data.length));
    h[0] = 0x43;
    h[1] = 0x80 | (1 << 2) | 3; // T, CSG operational, NSG full feature
    h.writeUIntBE(data.length, 5, 3);
    h[8] = 0x80;
    h.writeUInt32BE(o.isid >>> 0, 10);
    h.writeUInt32BE(0, 16); // ITT 0
    h.writeUInt32BE(this.cmdSN, 24);
    h.writeUInt32BE(this.expStatSN, 28);
    data.copy(h, BHS);
    this.socket.write(h);
  }

  private async doLogin(o: LoginOptions): Promise<void> {
    this.sendLogin(o, {
      InitiatorName: o.initiatorName, TargetName: o.targetName, SessionType: "Normal",
      HeaderDigest: "None", DataDigest: "None", MaxConnections: "1", InitialR2T: "Yes", ImmediateData: "Yes",
      MaxRecvDataSegmentLength: "262144", MaxBurstLength: "262144", FirstBurstLength: "65536",
      DefaultTime2Wait: "2", DefaultTime2Retain: "0", MaxOutstandingR2T: "1", DataPDUInOrder: "Yes",
      DataSequenceInOrder: "Yes", ErrorRecoveryLevel: "0",
    });
    const keys = new Map<string, string>();
    for (let round = 0; round < 6; round++) {
      const r = await this.nextLoginPdu();
      if (r.bhs[36] !== 0) throw new Error(`login refused: status 0x${r.bhs[36].toString(16)}${r.bhs[37].toString(16).padStart(2, "0")}`);
      for (const [k, v] of parseKeys(r.data)) keys.set(k, v);
      if (r.bhs[1] & 0x80 && (r.bhs[1] & 0x03) === 3) {
        this.immediateData = keys.get("ImmediateData") === "Yes";
        this.firstBurstLength = Number(keys.get("FirstBurstLength") ?? 65536);
        this.maxXmit = Number(keys.get("MaxRecvDataSegmentLength") ?? 8192);
        return;
      }
      this.sendLogin(o, {});
    }
    throw new Error("login did not finish in 6 rounds");
  }

  /** Logout (close the session) and wait for the response and the close. */
  async logout(): Promise<void> {
    const h = Buffer.alloc(BHS);
    h[0] = 0x46;
    h[1] = 0x80;
    h.writeUInt32BE(this.itt++, 16);
    h.writeUInt32BE(this.cmdSN, 24);
    h.writeUInt32BE(this.expStatSN, 28);
    const closed = new Promise<void>((r) => (this.socket.destroyed ? r() : this.socket.once("close", () => r())));
    this.socket.write(h);
    await this.nextLoginPdu();
    this.socket.end();
    await closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * One READ(10) or WRITE(10) of `bytes` at `lba` (in blocks of `blockSize`), write data
   * immediate when negotiated, else sent on R2T; resolves with the SCSI status (0x100 | response for an iSCSI failure).
   */
  command(lun: number, write: boolean, lba: number, bytes: number, blockSize: number, data?: Buffer): Promise<number> {
    if (this.closed) return Promise.reject(this.closeErr);
    const itt = this.itt;
    this.itt = (this.itt + 1) & 0x7fffffff || 1;
    const imm = write && this.immediateData ? Math.min(bytes, this.firstBurstLength, this.maxXmit) : 0;
    const h = Buffer.allocUnsafe(BHS + pad4(imm));
    h.fill(0, 0, BHS);
    h[0] = 0x01;
    h[1] = 0x80 | (write ? 0x20 : 0x40) | 0x01; // F, W or R, SIMPLE
    h.writeUIntBE(imm, 5, 3);
    h[9] = lun;
    h.writeUInt32BE(itt, 16);
    h.writeUInt32BE(bytes, 20);
    h.writeUInt32BE(this.cmdSN, 24);
    this.cmdSN = (this.cmdSN + 1) >>> 0;
    h.writeUInt32BE(this.expStatSN, 28);
    h[32] = write ? 0x2a : 0x28;
    h.writeUInt32BE(lba, 34);
    h.writeUInt16BE(bytes / blockSize, 39);
    if (imm) data!.copy(h, BHS, 0, imm);
    return new Promise((resolve, reject) => {
      this.pending.set(itt, { resolve, reject, data: write ? data : undefined });
      this.socket.write(h);
    });
  }
}

export interface LatencyFigure {
  iops: number;
  p50us: number;
  p99us: number;
  ios: number;
  /** Commands sent before the timed ones (not in iops/ios; a caller dividing the target's CPU over the whole call adds them). */
  warmupIos: number;
}

const QD1_WARMUP = 300;

/** Runs 4 KiB (or `bytes`) random reads or writes at queue depth 1 for `seconds`. */
export async function qd1(o: LoginOptions & { lun: number; write: boolean; seconds: number; bytes?: number; spanBytes: number }): Promise<LatencyFigure> {
  const bytes = o.bytes ?? 4096;
  const bs = 512;
  const s = await BenchSession.login(o);
  const data = Buffer.alloc(bytes, 0xa5);
  const lbas = Math.floor((o.spanBytes - bytes) / bs / 8);
  const lat: number[] = [];
  try {
    // Warm-up: a few hundred commands (JIT, first page allocation) not counted.
    for (let i = 0; i < QD1_WARMUP; i++) await s.command(o.lun, o.write, Math.floor(Math.random() * lbas) * 8, bytes, bs, data);
    const end = performance.now() + o.seconds * 1000;
    const t0 = performance.now();
    let now = t0;
    while (now < end) {
      const lba = Math.floor(Math.random() * lbas) * 8;
      const a = performance.now();
      const st = await s.command(o.lun, o.write, lba, bytes, bs, data);
      now = performance.now();
      if (st !== 0) throw new Error(`${o.write ? "WRITE" : "READ"} status 0x${st.toString(16)}`);
      lat.push(now - a);
    }
    const sorted = Float64Array.from(lat).sort();
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] * 1000;
    return { iops: Math.round(lat.length / ((now - t0) / 1000)), p50us: Math.round(pct(0.5)), p99us: Math.round(pct(0.99)), ios: lat.length, warmupIos: QD1_WARMUP };
  } finally {
    await s.logout().catch(() => s.destroy());
  }
}

/** `count` sessions log in and out one after another; returns seconds. */
export async function sequentialLogins(o: Omit<LoginOptions, "isid">, count: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const s = await BenchSession.login({ ...o, isid: 0x10000 + i });
    await s.logout();
  }
  return (performance.now() - t0) / 1000;
}

/** `count` sessions log in at once, then all log out; returns seconds for the logins (until the last is in). */
export async function parallelLogins(o: Omit<LoginOptions, "isid">, count: number): Promise<number> {
  const t0 = performance.now();
  const settled = await Promise.allSettled(Array.from({ length: count }, (_, i) => BenchSession.login({ ...o, isid: 0x20000 + i })));
  const secs = (performance.now() - t0) / 1000;
  const ok = settled.filter((r): r is PromiseFulfilledResult<BenchSession> => r.status === "fulfilled").map((r) => r.value);
  await Promise.all(ok.map((s) => s.logout().catch(() => s.destroy())));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw new Error(`${count - ok.length} of ${count} parallel logins failed: ${String(failed.reason)}`);
  return secs;
}

/**
 * A small promise-based iSCSI initiator for tests (RFC 7143): login (with digests,
 * CHAP and mutual CHAP), SendTargets discovery with continuation, SCSI commands with
 * immediate data / unsolicited Data-Out / R2T, Data-In reassembly, NOP, task
 * management, logout, and raw bytes for bad-input tests.
 *
 * It reuses the engine's PDU codec (server/engine/iscsi/pdu.ts) for framing; the
 * codec has its own round-trip tests, and libiscsi/QEMU test the wire format independently.
 */
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import {
  DataOut, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse, NopIn, NopOut, Opcode, RESERVED_TAG, R2T,
  ScsiCommand, ScsiResponse, TaskMgmtRequest, TaskMgmtResponse, TextRequest, TextResponse, DataIn, Reject,
  type Pdu, type PduCodec,
} from "../../server/engine/iscsi/pdu";
import { PduStream } from "../../server/engine/iscsi/stream";
import { read10, write10 } from "./cdb";
import { Inbox } from "./inbox";
import { encodePdu } from "./pdu-wire";

export interface ChapOptions {
  user: string;
  secret: string;
  /** CHAP_A list offered, default "7,6,5". */
  algorithms?: string;
  /** Mutual CHAP: the target must answer with these. */
  mutual?: { user: string; secret: string };
  /** Send this as our CHAP_C (reflection tests). */
  forceChallenge?: Buffer;
  /** Send the target's own challenge back as ours (reflection-attack tests). */
  reflect?: boolean;
  /** Encode CHAP_R as base64 (0b) instead of hex. */
  base64?: boolean;
}

export interface LoginOptions {
  initiatorName?: string;
  targetName?: string;
  discovery?: boolean;
  isid?: string;
  tsih?: number;
  headerDigest?: boolean;
  dataDigest?: boolean;
  /** Our MaxRecvDataSegmentLength, default 262144. */
  maxRecvDataSegmentLength?: number;
  /** Extra or overriding operational keys. */
  keys?: Record<string, string>;
  chap?: ChapOptions;
  /** Go through the security stage with AuthMethod=None (default: start at CSG=1). */
  securityStage?: boolean;
}

export interface LoginResult {
  statusClass: number;
  statusDetail: number;
  /** Every key the target sent during login. */
  keys: Record<string, string>;
  tsih: number;
}

export interface CommandResult {
  status: number;
  response: number;
  sense?: Buffer;
  data: Buffer;
  overflow: boolean;
  underflow: boolean;
  residual: number;
  /** Data-In PDUs received. */
  dataInPdus: number;
}

export interface CommandOptions {
  lun?: number;
  /** Expected Data-In length (EDTL for reads). */
  readLength?: number;
  /** Data-Out payload. */
  write?: Buffer;
  /** EDTL override (defaults to write length or readLength). */
  edtl?: number;
  /** Send the command as immediate (I bit). */
  immediate?: boolean;
  /** Skip immediate data even if negotiated. */
  noImmediateData?: boolean;
  attr?: number;
}

interface Pending {
  kind: "scsi" | "text" | "nop" | "tmf" | "logout";
  resolve: (p: Pdu | CommandResult) => void;
  reject: (e: Error) => void;
  data?: Buffer[];
  dataInPdus?: number;
  write?: Buffer;
  lun?: number;
}

const ISID_DEFAULT = "400001370000";

export class IscsiClient {
  cmdSN = 1;
  expStatSN = 0;
  itt = 1;
  tsih = 0;
  isid = ISID_DEFAULT;
  /** Negotiated values. */
  params = {
    headerDigest: false, dataDigest: false, targetMaxRecv: 8192, maxBurstLength: 262144, firstBurstLength: 65536,
    immediateData: true, initialR2T: true, ourMaxRecv: 262144,
  };
  readonly closed: Promise<void>;
  isClosed = false;
  /** PDUs no command waits for (Reject, async NOP-In...). */
  private readonly unsolicited = new Inbox<Pdu>();
  private readonly stream: PduStream;
  private readonly pending = new Map<number, Pending>();
  private loginWaiter: ((p: Pdu | undefined) => void) | undefined;
  /** Answer the target's NOP-In pings automatically. */
  autoNopReply = true;

  private constructor(readonly socket: net.Socket) {
    this.stream = new PduStream(
      { maxRecvDataSegmentLength: 16 * 1024 * 1024 },
      (pdu) => this.onPdu(copyPdu(pdu)),
      () => socket.destroy(),
    );
    socket.on("data", (d: Buffer) => this.stream.push(d));
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.isClosed = true;
        this.loginWaiter?.(undefined);
        this.unsolicited.close();
        for (const p of this.pending.values()) p.reject(new Error("connection closed"));
        this.pending.clear();
        resolve();
      }),
    );
  }

  /** `localAddress`: the source address (another loopback address, 127.0.0.2, is another initiator host). */
  static connect(port: number, host = "127.0.0.1", localAddress?: string): Promise<IscsiClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) }, () => {
        s.setNoDelay(true);
        resolve(new IscsiClient(s));
      });
      s.once("error", reject);
    });
  }

  // ---- raw I/O --------------------------------------------------------------------------------

  sendBytes(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  sendPdu<H>(codec: PduCodec<H>, h: H, data?: Buffer, ahs?: Buffer): void {
    for (const part of encodePdu(codec, h, data, { headerDigest: this.params.headerDigest, dataDigest: this.params.dataDigest, ahs })) {
      this.socket.write(Buffer.from(part));
    }
  }

  /** Next PDU not claimed by a pending command (Reject, NOP-In ping, ...), or undefined on close/timeout. */
  nextUnsolicited(timeoutMs = 5000): Promise<Pdu | undefined> {
    return this.unsolicited.next(timeoutMs);
  }

  closesWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  }

  close(): void {
    this.socket.destroy();
  }

  private onPdu(pdu: Pdu): void {
    if (pdu.opcode === Opcode.LOGIN_RESPONSE && this.loginWaiter) {
      const w = this.loginWaiter;
      this.loginWaiter = undefined;
      return w(pdu);
    }
    const itt = pdu.bhs.readUInt32BE(16);
    if (pdu.opcode === Opcode.NOP_IN && itt === RESERVED_TAG) {
      const h = NopIn.decode(pdu.bhs);
      if (this.autoNopReply && h.ttt !== RESERVED_TAG) {
        this.sendPdu(NopOut, { immediate: true, final: true, lun: 0, itt: RESERVED_TAG, ttt: h.ttt, cmdSN: this.cmdSN, expStatSN: this.expStatSN });
        return;
      }
    }
    const p = this.pending.get(itt);
    if (!p) {
      this.unsolicited.put(pdu);
      return;
    }
    switch (pdu.opcode) {
      case Opcode.SCSI_DATA_IN: {
        const h = DataIn.decode(pdu.bhs);
        p.data!.push(pdu.data);
        p.dataInPdus!++;
        if (h.hasStatus) {
          this.expStatSN = (h.statSN + 1) >>> 0;
          this.pending.delete(itt);
          p.resolve({ status: h.status, response: 0, data: Buffer.concat(p.data!), overflow: h.overflow, underflow: h.underflow, residual: h.residualCount, dataInPdus: p.dataInPdus! });
        }
        return;
      }
      case Opcode.R2T: {
        const h = R2T.decode(pdu.bhs);
        this.sendDataOut(itt, h.ttt, p.write!, h.bufferOffset, h.desiredLength, p.lun ?? 0);
        return;
      }
      case Opcode.SCSI_RESPONSE: {
        const h = ScsiResponse.decode(pdu.bhs);
        this.expStatSN = (h.statSN + 1) >>> 0;
        this.pending.delete(itt);
        const sense = pdu.data.length >= 2 ? pdu.data.subarray(2, 2 + pdu.data.readUInt16BE(0)) : undefined;
        p.resolve({ status: h.status, response: h.response, sense, data: Buffer.concat(p.data ?? []), overflow: h.overflow, underflow: h.underflow, residual: h.residualCount, dataInPdus: p.dataInPdus ?? 0 });
        return;
      }
      default: {
        const statSN = pdu.bhs.readUInt32BE(24);
        this.expStatSN = (statSN + 1) >>> 0;
        this.pending.delete(itt);
        p.resolve(pdu);
      }
    }
  }

  private nextItt(): number {
    const i = this.itt;
    this.itt = (this.itt + 1) >>> 0;
    if (this.itt === RESERVED_TAG) this.itt = 1;
    return i;
  }

  private await(itt: number, p: Omit<Pending, "resolve" | "reject">, timeoutMs = 10_000): Promise<Pdu | CommandResult> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(itt);
        reject(new Error(`no answer to ITT ${itt}`));
      }, timeoutMs);
      this.pending.set(itt, {
        ...p,
        resolve: (v) => { clearTimeout(t); resolve(v); },
        reject: (e) => { clearTimeout(t); reject(e); },
      });
    });
  }

  // ---- login ------------------------------------------------------------------------------------

  private loginPdu(opts: { csg: number; nsg: number; transit: boolean; keys: [string, string][]; itt: number }): Promise<Pdu | undefined> {
    const data = Buffer.from(opts.keys.map(([k, v]) => `${k}=${v}\0`).join(""));
    const p = new Promise<Pdu | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), 10_000);
      this.loginWaiter = (pdu) => { clearTimeout(t); resolve(pdu); };
    });
    this.sendPdu(LoginRequest, {
      immediate: true, transit: opts.transit, cont: false, csg: opts.csg, nsg: opts.nsg, versionMax: 0, versionMin: 0,
      isid: this.isid, tsih: this.tsih, itt: opts.itt, cid: 0, cmdSN: this.cmdSN, expStatSN: this.expStatSN,
    }, data);
    return p;
  }

  async login(opts: LoginOptions = {}): Promise<LoginResult> {
    if (opts.isid) this.isid = opts.isid;
    if (opts.tsih) this.tsih = opts.tsih;
    const itt = this.nextItt();
    const all: Record<string, string> = {};
    const identity: [string, string][] = [["InitiatorName", opts.initiatorName ?? "iqn.2024-01.org.portico.test:client"]];
    if (opts.discovery) identity.push(["SessionType", "Discovery"]);
    else identity.push(["SessionType", "Normal"], ["TargetName", opts.targetName ?? ""]);
    this.params.ourMaxRecv = opts.maxRecvDataSegmentLength ?? 262144;
    const operational: [string, string][] = Object.entries({
      HeaderDigest: opts.headerDigest ? "CRC32C" : "None",
      DataDigest: opts.dataDigest ? "CRC32C" : "None",
      MaxRecvDataSegmentLength: String(this.params.ourMaxRecv),
      ...(opts.discovery ? {} : { InitialR2T: "Yes", ImmediateData: "Yes", MaxBurstLength: "262144", FirstBurstLength: "65536", ErrorRecoveryLevel: "0", MaxOutstandingR2T: "1" }),
      ...opts.keys,
    });
    const fail = (r: Pdu | undefined): LoginResult => {
      const h = r ? LoginResponse.decode(r.bhs) : undefined;
      return { statusClass: h?.statusClass ?? 0xff, statusDetail: h?.statusDetail ?? 0xff, keys: all, tsih: 0 };
    };
    const record = (r: Pdu) => {
      for (const kv of r.data.toString("utf8").split("\0")) {
        const i = kv.indexOf("=");
        if (i > 0) all[kv.slice(0, i)] = kv.slice(i + 1);
      }
      const h = LoginResponse.decode(r.bhs);
      this.expStatSN = (h.statSN + 1) >>> 0;
      return h;
    };

    let r: Pdu | undefined;
    let h;
    if (opts.chap || opts.securityStage) {
      r = await this.loginPdu({ csg: 0, nsg: 1, transit: !opts.chap, keys: [...identity, ["AuthMethod", opts.chap ? "CHAP" : "None"]], itt });
      if (!r) return fail(r);
      h = record(r);
      if (h.statusClass) return fail(r);
      if (opts.chap) {
        const c = opts.chap;
        r = await this.loginPdu({ csg: 0, nsg: 1, transit: false, keys: [["CHAP_A", c.algorithms ?? "7,6,5"]], itt });
        if (!r) return fail(r);
        h = record(r);
        if (h.statusClass) return fail(r);
        const alg = all.CHAP_A;
        const hash = ({ "5": "md5", "6": "sha1", "7": "sha256", "8": "sha3-256" } as Record<string, string>)[alg];
        const id = Number(all.CHAP_I);
        const challenge = Buffer.from(all.CHAP_C.slice(2), "hex");
        const digest = createHash(hash).update(Buffer.from([id])).update(c.secret).update(challenge).digest();
        const keys: [string, string][] = [["CHAP_N", c.user], ["CHAP_R", c.base64 ? `0b${digest.toString("base64")}` : `0x${digest.toString("hex")}`]];
        const myId = 77;
        const myChallenge = c.reflect ? challenge : c.forceChallenge ?? randomBytes(16);
        if (c.mutual || c.forceChallenge || c.reflect) keys.push(["CHAP_I", String(myId)], ["CHAP_C", `0x${myChallenge.toString("hex")}`]);
        r = await this.loginPdu({ csg: 0, nsg: 1, transit: true, keys, itt });
        if (!r) return fail(r);
        h = record(r);
        if (h.statusClass) return fail(r);
        if (c.mutual) {
          const expected = createHash(hash).update(Buffer.from([myId])).update(c.mutual.secret).update(myChallenge).digest();
          if (all.CHAP_N !== c.mutual.user || all.CHAP_R !== `0x${expected.toString("hex")}`) throw new Error("target failed mutual CHAP");
        }
      }
      while (!h.transit) {
        r = await this.loginPdu({ csg: 0, nsg: 1, transit: true, keys: [], itt });
        if (!r) return fail(r);
        h = record(r);
        if (h.statusClass) return fail(r);
      }
      r = await this.loginPdu({ csg: 1, nsg: 3, transit: true, keys: operational, itt });
    } else {
      r = await this.loginPdu({ csg: 1, nsg: 3, transit: true, keys: [...identity, ...operational], itt });
    }
    for (let i = 0; ; i++) {
      if (!r) return fail(r);
      h = record(r);
      if (h.statusClass) return fail(r);
      if (h.transit && h.nsg === 3) break;
      if (i > 5) throw new Error("login did not complete");
      r = await this.loginPdu({ csg: 1, nsg: 3, transit: true, keys: [], itt });
    }
    this.tsih = h.tsih;
    const num = (k: string, d: number) => (all[k] !== undefined && /^\d+$/.test(all[k]) ? Number(all[k]) : d);
    this.params.targetMaxRecv = num("MaxRecvDataSegmentLength", 8192);
    this.params.maxBurstLength = num("MaxBurstLength", 262144);
    this.params.firstBurstLength = num("FirstBurstLength", 65536);
    this.params.immediateData = (all.ImmediateData ?? "Yes") === "Yes";
    this.params.initialR2T = (all.InitialR2T ?? "Yes") === "Yes";
    // Digests apply from the first PDU after the final Login Response.
    this.params.headerDigest = all.HeaderDigest === "CRC32C";
    this.params.dataDigest = all.DataDigest === "CRC32C";
    this.stream.headerDigest = this.params.headerDigest;
    this.stream.dataDigest = this.params.dataDigest;
    return { statusClass: 0, statusDetail: 0, keys: all, tsih: h.tsih };
  }

  // ---- full feature phase --------------------------------------------------------------------------

  /** SendTargets=All: target names and their addresses. */
  async sendTargets(which = "All"): Promise<{ name: string; addresses: string[] }[]> {
    const pairs = await this.text([["SendTargets", which]]);
    const out: { name: string; addresses: string[] }[] = [];
    for (const [k, v] of pairs) {
      if (k === "TargetName") out.push({ name: v, addresses: [] });
      else if (k === "TargetAddress" && out.length) out[out.length - 1].addresses.push(v);
    }
    return out;
  }

  /** Text request carrying data; continuation requests are empty (RFC 7143 §11.10). */
  async text(pairs: [string, string][]): Promise<[string, string][]> {
    const itt = this.nextItt();
    let ttt = RESERVED_TAG;
    let data: Buffer | undefined = Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(""));
    const chunks: Buffer[] = [];
    const cmdSN = this.cmdSN++;
    for (;;) {
      const wait = this.await(itt, { kind: "text" });
      this.sendPdu(TextRequest, { immediate: true, final: true, cont: false, lun: 0, itt, ttt, cmdSN, expStatSN: this.expStatSN }, data);
      const r = (await wait) as Pdu;
      chunks.push(r.data);
      const h = TextResponse.decode(r.bhs);
      if (h.final) break;
      ttt = h.ttt;
      data = undefined;
    }
    const out: [string, string][] = [];
    for (const kv of Buffer.concat(chunks).toString("utf8").split("\0")) {
      const i = kv.indexOf("=");
      if (i > 0) out.push([kv.slice(0, i), kv.slice(i + 1)]);
    }
    return out;
  }

  async nop(data?: Buffer): Promise<Buffer> {
    const itt = this.nextItt();
    const wait = this.await(itt, { kind: "nop" });
    this.sendPdu(NopOut, { immediate: true, final: true, lun: 0, itt, ttt: RESERVED_TAG, cmdSN: this.cmdSN, expStatSN: this.expStatSN }, data);
    const r = (await wait) as Pdu;
    return r.data;
  }

  async command(cdb: Buffer, opts: CommandOptions = {}): Promise<CommandResult> {
    const itt = this.nextItt();
    const write = opts.write;
    const edtl = opts.edtl ?? (write ? write.length : opts.readLength ?? 0);
    const lun = opts.lun ?? 0;
    let imm: Buffer | undefined;
    if (write && this.params.immediateData && !opts.noImmediateData) {
      imm = write.subarray(0, Math.min(write.length, this.params.firstBurstLength, this.params.targetMaxRecv));
    }
    // Unsolicited Data-Out only with InitialR2T=No (F=0 on the command then).
    const unsolicitedEnd = write && !this.params.initialR2T ? Math.min(this.params.firstBurstLength, write.length) : imm?.length ?? 0;
    const final = !(write && unsolicitedEnd > (imm?.length ?? 0));
    const cdb16 = Buffer.alloc(16);
    cdb.copy(cdb16, 0, 0, Math.min(16, cdb.length));
    const wait = this.await(itt, { kind: "scsi", data: [], dataInPdus: 0, write, lun });
    const immediate = opts.immediate ?? false;
    this.sendPdu(ScsiCommand, {
      immediate, final, read: (opts.readLength ?? 0) > 0, write: !!write, attr: opts.attr ?? 1, lun, itt, edtl,
      cmdSN: this.cmdSN, expStatSN: this.expStatSN, cdb: cdb16,
    }, imm && imm.length ? imm : undefined);
    if (!immediate) this.cmdSN++;
    if (write && !final) this.sendDataOut(itt, RESERVED_TAG, write, imm?.length ?? 0, unsolicitedEnd - (imm?.length ?? 0), lun);
    return (await wait) as CommandResult;
  }

  private sendDataOut(itt: number, ttt: number, buf: Buffer, offset: number, length: number, lun: number): void {
    const max = this.params.targetMaxRecv;
    let dataSN = 0;
    for (let off = offset; off < offset + length; off += max) {
      const n = Math.min(max, offset + length - off);
      this.sendPdu(DataOut, { final: off + n === offset + length, lun, itt, ttt, expStatSN: this.expStatSN, dataSN: dataSN++, bufferOffset: off }, buf.subarray(off, off + n));
    }
  }

  read10(lba: number, blocks: number, blockSize = 512, lun = 0): Promise<CommandResult> {
    return this.command(read10(lba, blocks), { lun, readLength: blocks * blockSize });
  }

  write10(lba: number, data: Buffer, blockSize = 512, lun = 0, opts: Partial<CommandOptions> = {}): Promise<CommandResult> {
    return this.command(write10(lba, data.length / blockSize), { lun, write: data, ...opts });
  }

  async taskManagement(fn: number, lun = 0, refTaskTag = RESERVED_TAG, refCmdSN = 0): Promise<number> {
    const itt = this.nextItt();
    const wait = this.await(itt, { kind: "tmf" });
    this.sendPdu(TaskMgmtRequest, { immediate: true, final: true, function: fn, lun, itt, refTaskTag, cmdSN: this.cmdSN, expStatSN: this.expStatSN, refCmdSN, expDataSN: 0 });
    const r = (await wait) as Pdu;
    return TaskMgmtResponse.decode(r.bhs).response;
  }

  async logout(reason = 0): Promise<number> {
    const itt = this.nextItt();
    const wait = this.await(itt, { kind: "logout" });
    this.sendPdu(LogoutRequest, { immediate: true, final: true, reason, cid: 0, itt, cmdSN: this.cmdSN, expStatSN: this.expStatSN });
    const r = (await wait) as Pdu;
    return LogoutResponse.decode(r.bhs).response;
  }

  /** Decodes a Reject's reason and the rejected header's opcode. */
  static rejectInfo(p: Pdu): { reason: number; opcode: number } {
    return { reason: Reject.decode(p.bhs).reason, opcode: p.data[0] & 0x3f };
  }
}

/** The client keeps PDUs past the next chunk: own copies. */
function copyPdu(p: Pdu): Pdu {
  return { ...p, bhs: Buffer.from(p.bhs), ahs: Buffer.from(p.ahs), data: Buffer.from(p.data) };
}

/** One login on a fresh connection, then close: the Login Response's [status class, status detail]. */
export async function loginStatus(port: number, opts: LoginOptions): Promise<[number, number]> {
  const c = await IscsiClient.connect(port);
  try {
    const r = await c.login(opts);
    return [r.statusClass, r.statusDetail];
  } finally {
    c.close();
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

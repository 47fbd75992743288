/**
 * One iSCSI connection: framing, login, then full feature phase with one handler
 * per opcode (RFC 7143 §11). Every handler runs inside a guard: an exception is
 * logged and drops this connection only.
 *
 * Hot path: PDUs arrive as views (stream.ts); Data-In goes out as views of the
 * device's buffer behind slab-allocated headers; writes in one tick are corked
 * and leave in one writev.
 */
import type net from "node:net";
import type { Engine } from "../core/engine";
import { nodeAclAttributeDefaults } from "../core/defaults";
import type { ScsiDevice, ScsiNexusView, ScsiResult } from "../scsi/types";
import { ScsiStatus } from "../scsi/types";
import { ioKindOfCdb, senseKeyOf, type ConnectionCounters, type IoHandle, type IoStats, type LunCounters } from "../core/stats";
import { LoginMachine, LoginStatus, type LoginFailure, type LoginEnv, type LoginReply } from "./login";
import type { SessionParams } from "./negotiation";
import {
  AhsType, DataIn, DataOut, HeaderSlab, LoginRequest, LoginResponse,
  Opcode, R2T, RESERVED_TAG, Reject, RejectReason, ScsiCommand, ScsiResponse,
  encodePdu, parseAhs, type DataInHeader, type LoginRequestHeader, type Pdu, type PduCodec,
} from "./pdu";
import { Session, Task } from "./session";
import { PduStream, type FrameError } from "./stream";
import { encodeText } from "./text";
import { FFP_HANDLERS } from "./handlers/dispatch";
import { requestLogout } from "./handlers/logout";
import { sendPing } from "./handlers/nop";
import { abortNexusTasks } from "./handlers/task-management";

export type LogFn = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

/** What a connection needs from the fabric. */
export interface ConnectionHost {
  readonly engine: Engine;
  readonly log: LogFn;
  readonly nopInIntervalMs?: number;
  readonly nopInTimeoutMs?: number;
  readonly loginTimeoutMs?: number;
  /** Milliseconds per second of a node ACL timeout attribute (1000; tests shorten it). */
  readonly attributeSecondMs?: number;
  loginEnv(conn: Connection): LoginEnv;
  /** Turns a completed login into a session (TSIH, reinstatement), or refuses it. */
  completeLogin(conn: Connection, login: LoginMachine, h: LoginRequestHeader): Session | LoginFailure;
  loginFailed(conn: Connection, login: LoginMachine, failure: LoginFailure): void;
  connectionClosed(conn: Connection): void;
  dispatch(task: Task, view: ScsiNexusView): Promise<ScsiResult>;
  /** Every live session (LUN and target resets reach beyond this nexus). */
  allSessions(): Iterable<Session>;
  closeSession(session: Session): Promise<void>;
  /** IO statistics (core/stats.ts); the hooks follow the notes at the end of stats.ts. */
  readonly stats: IoStats;
  /** The socket closed during login after the first Login Request (counted as "connection_lost"). */
  loginLost(conn: Connection, login: LoginMachine): void;
  /** A noteworthy event on this connection (a unit attention reported, a reset requested), for the event log. */
  notice(conn: Connection, type: "unit_attention" | "reset", fields: Record<string, unknown>): void;
}

/** Login-phase values (RFC 7143 §13.12: 8192 until negotiated). */
const LOGIN_PARAMS: SessionParams = {
  headerDigest: false, dataDigest: false, maxConnections: 1, initialR2T: true, immediateData: true,
  maxRecvDataSegmentLength: 8192, maxXmitDataSegmentLength: 8192, maxBurstLength: 262144, firstBurstLength: 65536,
  defaultTime2Wait: 2, defaultTime2Retain: 20, maxOutstandingR2T: 1, dataPduInOrder: true, dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
};

/** Largest write we buffer for one command (a bigger EDTL is refused with CHECK CONDITION). */
const MAX_WRITE_LENGTH = 64 * 1024 * 1024;

export class Connection {
  state: "login" | "ffp" | "logout" | "closed" = "login";
  readonly stream: PduStream;
  readonly login: LoginMachine;
  session: Session | undefined;
  params: SessionParams = LOGIN_PARAMS;
  statSN = 0;
  cid = 0;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly closed: Promise<void>;
  /** IO statistics of this connection (set at login); handles cached per initiator LUN, rebuilt when the TPG changes. */
  stats: ConnectionCounters | undefined;
  /** Why the connection ended (the first reason given: "logout", "peer closed", ...). */
  closeReason: string | undefined;
  private readonly handles = new Map<number, IoHandle>();
  private handlesGeneration = -1;
  private resolveClosed!: () => void;
  private readonly slab = new HeaderSlab();
  private corked = false;
  private loginTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private pingDeadline: NodeJS.Timeout | undefined;
  private pingTtt = 0;
  /** The interval pingTimer was armed with (a changed nopin_timeout re-arms it). */
  private pingInterval = -1;
  /** The session's node ACL attributes, re-resolved when the TPG's generation moves (ACL created or deleted). */
  private aclAttrs: Readonly<Record<string, number>> = nodeAclAttributeDefaults;
  private aclAttrsGeneration = -1;
  /** One timer for every command of this connection waiting for solicited Data-Out (dataout_timeout). */
  private dataOutTimer: NodeJS.Timeout | undefined;
  /** Text response continuation (RFC 7143 §11.10.2): the rest of an answer too big for one PDU. */
  textPending: { ttt: number; rest: Buffer } | undefined;
  textGather: { ttt: number; parts: Buffer[]; size: number } | undefined;
  private readonly dataInHdr: DataInHeader = {
    final: false, ack: false, overflow: false, underflow: false, hasStatus: false, status: 0, lun: 0, itt: 0, ttt: RESERVED_TAG,
    statSN: 0, expCmdSN: 0, maxCmdSN: 0, dataSN: 0, bufferOffset: 0, residualCount: 0,
  };

  constructor(
    readonly host: ConnectionHost,
    readonly socket: net.Socket,
    readonly listenerKey: string,
  ) {
    this.remoteAddress = socket.remoteAddress ?? "";
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = socket.localAddress ?? "";
    this.localPort = socket.localPort ?? 0;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.login = new LoginMachine(host.loginEnv(this));
    this.stream = new PduStream(
      { maxRecvDataSegmentLength: 8192 },
      (pdu) => this.guard(() => this.onPdu(pdu)),
      (err) => this.guard(() => this.onFrameError(err)),
    );
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.guard(() => this.stream.push(chunk)));
    // A PDU cut short by EOF can never complete: the connection is over (RFC 7143 §7.1 at ERL 0).
    socket.on("end", () => this.destroy("peer closed"));
    socket.on("error", (err) => this.destroy(`socket error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    socket.on("close", () => this.destroy("closed"));
    socket.on("drain", () => socket.resume());
    this.startLoginTimer(host.loginTimeoutMs ?? 15_000);
  }

  private startLoginTimer(ms: number): void {
    clearTimeout(this.loginTimer);
    this.loginTimer = setTimeout(() => {
      if (this.state !== "login") return;
      this.host.loginFailed(this, this.login, { status: LoginStatus.INITIATOR_ERROR, reason: "login timeout", message: "login did not complete in time" });
      this.destroy("login timeout");
    }, ms);
    this.loginTimer.unref();
  }

  get describe(): string {
    return `${this.remoteAddress}:${this.remotePort}`;
  }

  // ---- guards and teardown -------------------------------------------------------------------

  guard(fn: () => void): void {
    if (this.state === "closed") return;
    try {
      fn();
    } catch (err) {
      this.host.log("error", "iSCSI connection handler failed; dropping the connection", { remote: this.describe, error: String((err as Error)?.stack ?? err) });
      this.destroy("internal error");
    }
  }

  /** Drops the connection now. Idempotent. */
  destroy(reason: string): void {
    if (this.state === "closed") return;
    const wasLogin = this.state === "login";
    this.state = "closed";
    this.closeReason ??= reason;
    clearTimeout(this.loginTimer);
    clearTimeout(this.pingTimer);
    clearTimeout(this.pingDeadline);
    clearTimeout(this.dataOutTimer);
    if (wasLogin && this.login.first && reason !== "login timeout" && reason !== "login failed") {
      this.host.log("info", "iSCSI connection closed during login", { remote: this.describe, reason });
      this.host.loginLost(this, this.login);
    }
    this.socket.destroy();
    this.host.connectionClosed(this);
    this.resolveClosed();
  }

  /** Lets queued writes flush, then closes (after a Logout Response or a failed login). */
  closeAfterFlush(reason: string): void {
    if (this.state === "closed") return;
    this.state = "logout";
    this.closeReason ??= reason;
    clearTimeout(this.pingTimer);
    clearTimeout(this.pingDeadline);
    clearTimeout(this.dataOutTimer);
    process.nextTick(() => {
      this.socket.end();
      setTimeout(() => this.destroy(reason), 2000).unref();
    });
  }

  // ---- sending -------------------------------------------------------------------------------

  /** Queues a PDU; all PDUs of one tick leave in one writev (cork now, uncork next tick). */
  send<H>(codec: PduCodec<H>, header: H, data?: Buffer): void {
    if (this.state === "closed" || this.socket.destroyed) return;
    const parts = encodePdu(codec, header, data, {
      headerDigest: this.params.headerDigest,
      dataDigest: this.params.dataDigest,
      slab: this.slab,
    });
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    let ok = true;
    for (const p of parts) ok = this.socket.write(p) && ok;
    // Backpressure: stop reading new commands until the socket drains.
    if (!ok) this.socket.pause();
  }

  nextStatSN(): number {
    const s = this.statSN;
    this.statSN = (this.statSN + 1) >>> 0;
    return s;
  }

  reject(reason: number, bhs: Buffer): void {
    const s = this.session;
    this.send(Reject, {
      final: true, reason, itt: RESERVED_TAG, statSN: this.nextStatSN(),
      expCmdSN: s?.expCmdSN ?? 0, maxCmdSN: s?.maxCmdSN ?? 0, dataSN: 0,
    }, Buffer.from(bhs.subarray(0, 48)));
  }

  /** Reject, then drop: the RFC's answer when ERL 0 cannot recover (RFC 7143 §7.1.1). */
  protocolFailure(reason: number, bhs: Buffer, why: string): void {
    this.host.log("warn", `iSCSI protocol error: ${why}; dropping the connection`, { remote: this.describe });
    this.reject(reason, bhs);
    this.closeAfterFlush(why);
  }

  // ---- receiving -----------------------------------------------------------------------------

  private onFrameError(err: FrameError): void {
    if (err.kind === "oversize") {
      const why = `DataSegmentLength ${err.dataSegmentLength} exceeds MaxRecvDataSegmentLength ${this.stream.maxRecvDataSegmentLength}`;
      if (this.state === "login") {
        this.host.log("warn", `iSCSI login refused: ${why}`, { remote: this.describe });
        this.failLogin(undefined, { status: LoginStatus.INITIATOR_ERROR, reason: "protocol error", message: why }, err.bhs);
      } else {
        this.protocolFailure(RejectReason.PROTOCOL_ERROR, err.bhs, why);
      }
      return;
    }
    if (err.kind === "header_digest") {
      // The header cannot be trusted, so neither can its lengths: resynchronising is impossible.
      this.host.log("warn", "iSCSI header digest error; dropping the connection", { remote: this.describe });
      this.destroy("header digest error");
      return;
    }
    this.protocolFailure(RejectReason.DATA_DIGEST_ERROR, err.pdu.bhs, "data digest error");
  }

  private onPdu(pdu: Pdu): void {
    if (this.state === "login") return this.onLoginPdu(pdu);
    if (this.state !== "ffp") return; // after Logout: ignore (RFC 7143 §11.14)
    this.armPing();
    const handler = FFP_HANDLERS[pdu.opcode];
    if (handler) handler(this, pdu);
    else this.reject(RejectReason.COMMAND_NOT_SUPPORTED, pdu.bhs);
  }

  // ---- login -----------------------------------------------------------------------------------

  private onLoginPdu(pdu: Pdu): void {
    if (pdu.opcode !== Opcode.LOGIN_REQUEST) {
      // RFC 7143 §6.3: only Login Requests before the login completes.
      this.host.log("warn", `iSCSI opcode 0x${pdu.opcode.toString(16)} during login; dropping the connection`, { remote: this.describe });
      this.destroy("non-login PDU during login");
      return;
    }
    const h = LoginRequest.decode(pdu.bhs);
    if (!this.login.first) {
      // RFC 7143 §11.13.4: the first Login Response's StatSN starts the connection's StatSN.
      this.statSN = h.expStatSN;
      this.cid = h.cid;
    }
    const first = !this.login.first;
    const reply = this.login.handle(h, pdu.data);
    if (reply.outcome === "fail") return this.failLogin(h, reply.failure!);
    // Once the TPG is known its login_timeout attribute applies (unless the fabric overrides it).
    if (first && this.login.tpg && this.host.loginTimeoutMs === undefined) {
      this.startLoginTimer((this.login.tpg.attributes.login_timeout ?? 15) * 1000);
    }
    let data = encodeText(reply.keys);
    // Bound our answer (NotUnderstood amplification, CVE-2026-63887): it must fit the initiator's 8192.
    if (data.length > 8192) return this.failLogin(h, { status: LoginStatus.INITIATOR_ERROR, reason: "protocol error", message: "login answer exceeds 8192 bytes" });
    if (reply.outcome === "continue") return this.sendLoginResponse(h, reply, 0, h.cmdSN, data);

    const result = this.host.completeLogin(this, this.login, h);
    if (!(result instanceof Session)) return this.failLogin(h, result);
    this.session = result;
    this.sendLoginResponse(h, reply, result.tsih, result.maxCmdSN, data);
    data = Buffer.alloc(0);
    // Full feature phase: digests and our MaxRecvDataSegmentLength apply from the next PDU on (RFC 7143 §11.13).
    this.params = result.params;
    this.stream.headerDigest = this.params.headerDigest;
    this.stream.dataDigest = this.params.dataDigest;
    this.stream.maxRecvDataSegmentLength = this.params.maxRecvDataSegmentLength;
    this.state = "ffp";
    clearTimeout(this.loginTimer);
    this.armPing();
  }

  private sendLoginResponse(h: LoginRequestHeader, reply: LoginReply, tsih: number, maxCmdSN: number, data: Buffer, status = 0): void {
    this.send(LoginResponse, {
      transit: reply.transit, cont: false, csg: reply.csg, nsg: reply.nsg, versionMax: 0, versionActive: 0,
      isid: h.isid, tsih, itt: h.itt, statSN: this.nextStatSN(), expCmdSN: h.cmdSN, maxCmdSN,
      statusClass: status >> 8, statusDetail: status & 0xff,
    }, data);
  }

  /** A failed login: answer with the status class and detail, then close (RFC 7143 §11.13.5). */
  private failLogin(h: LoginRequestHeader | undefined, failure: LoginFailure, rawBhs?: Buffer): void {
    const req = h ?? (rawBhs && (rawBhs[0] & 0x3f) === Opcode.LOGIN_REQUEST ? LoginRequest.decode(rawBhs) : undefined);
    this.host.loginFailed(this, this.login, failure);
    if (req) {
      this.sendLoginResponse(req, { transit: false, csg: req.csg, nsg: 0, keys: [], outcome: "fail" }, 0, req.cmdSN, Buffer.alloc(0), failure.status);
    }
    this.closeAfterFlush("login failed");
  }

  // ---- keepalive (NOP-In ping, RFC 7143 §11.19) --------------------------------------------------

  /**
   * The node ACL attributes that govern this session (nopin_timeout, nopin_response_timeout,
   * dataout_timeout...): its ACL's, or LIO's defaults in demo mode and discovery. Read live:
   * setNodeAclAttributes changes the object in place, and an ACL created or deleted bumps the
   * TPG's generation, so a change applies to the next ping or R2T. One comparison per call.
   */
  aclAttributes(): Readonly<Record<string, number>> {
    const s = this.session;
    const tpg = s?.tpg;
    if (!tpg) return nodeAclAttributeDefaults;
    if (tpg.generation !== this.aclAttrsGeneration) {
      this.aclAttrsGeneration = tpg.generation;
      this.aclAttrs = tpg.aclFor(s.initiatorName)?.attributes ?? nodeAclAttributeDefaults;
    }
    return this.aclAttrs;
  }

  private get secondMs(): number {
    return this.host.attributeSecondMs ?? 1000;
  }

  /** (Re)starts the idle timer: a NOP-In ping after nopin_timeout seconds without a PDU from the initiator. */
  private armPing(): void {
    clearTimeout(this.pingDeadline);
    this.pingDeadline = undefined;
    const interval = this.host.nopInIntervalMs ?? this.aclAttributes().nopin_timeout * this.secondMs;
    if (this.pingTimer && interval === this.pingInterval) {
      this.pingTimer.refresh();
      return;
    }
    clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
    this.pingInterval = interval;
    if (!(interval > 0)) return;
    this.pingTimer = setTimeout(() => this.guard(() => this.ping()), interval);
    this.pingTimer.unref();
  }

  private ping(): void {
    if (this.state !== "ffp") return;
    this.pingTtt = this.session!.ttt();
    sendPing(this, this.pingTtt);
    const timeout = this.host.nopInTimeoutMs ?? this.aclAttributes().nopin_response_timeout * this.secondMs;
    this.pingDeadline = setTimeout(() => {
      this.host.log("warn", "iSCSI initiator did not answer NOP-In; dropping the connection", { remote: this.describe });
      this.destroy("NOP-In timeout");
    }, timeout);
    this.pingDeadline.unref();
    // The idle timer is re-armed (with a freshly read nopin_timeout) by the initiator's next PDU, its answer included.
  }

  // ---- SCSI Command ---------------------------------------------------------------------------------

  handleScsiCommand(pdu: Pdu): void {
    const s = this.session!;
    if (s.type === "Discovery") return this.reject(RejectReason.PROTOCOL_ERROR, pdu.bhs);
    const h = ScsiCommand.decode(pdu.bhs);
    let cdb = h.cdb;
    let readLength = h.edtl;
    if (pdu.ahs.length) {
      const ahs = parseAhs(pdu.ahs);
      if (!ahs) return this.reject(RejectReason.INVALID_PDU_FIELD, pdu.bhs);
      for (const a of ahs) {
        if (a.type === AhsType.EXTENDED_CDB) cdb = Buffer.concat([h.cdb, a.value]);
        else if (a.type === AhsType.BIDI_READ_LENGTH && a.value.length >= 5) readLength = a.value.readUInt32BE(1);
      }
    }
    const imm = pdu.data;
    const p = this.params;
    // RFC 7143 §13.10/§13.14: immediate data needs W, ImmediateData=Yes, and stays within EDTL and FirstBurstLength.
    if (imm.length && (!h.write || !p.immediateData || imm.length > h.edtl || imm.length > p.firstBurstLength)) {
      return this.reject(RejectReason.PROTOCOL_ERROR, pdu.bhs);
    }
    if (s.tasks.has(h.itt)) return this.reject(RejectReason.TASK_IN_PROGRESS, pdu.bhs);
    const task = new Task(s, this, {
      cdb, lun: h.lun, edtl: h.edtl, readLength: h.read && !h.write ? h.edtl : readLength, read: h.read, write: h.write,
      attr: h.attr, itt: h.itt, cmdSN: h.cmdSN, immediate: pdu.immediate,
    });
    let registered = false;
    const outcome = s.sequence(h.cmdSN, pdu.immediate, () => {
      task.released = true;
      if (registered) this.maybeExecute(task);
    });
    if (outcome === "dropped") {
      this.host.log("info", "iSCSI command outside the CmdSN window dropped", { remote: this.describe, cmdSN: h.cmdSN, expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN });
      return;
    }
    s.tasks.set(h.itt, task);
    registered = true;
    if (!h.write || h.edtl === 0) {
      // Nothing to collect.
    } else if (h.edtl > MAX_WRITE_LENGTH) {
      task.expectedDataTransferLength = 0;
      task.write = false;
      task.state = "running";
      this.respond(task, { status: ScsiStatus.CHECK_CONDITION, sense: fixedSense(0x05, 0x24, 0x00) });
      return;
    } else if (imm.length === h.edtl) {
      task.dataOut = imm; // all data was immediate: no copy
      task.received = imm.length;
    } else {
      task.dataOut = Buffer.allocUnsafe(h.edtl);
      imm.copy(task.dataOut, 0);
      task.received = imm.length;
      task.unsolicitedNext = imm.length;
      // Unsolicited Data-Out follows only with InitialR2T=No and F=0 (RFC 7143 §13.10, §11.3.4).
      task.unsolicitedEnd = !p.initialR2T && !h.final ? Math.min(p.firstBurstLength, h.edtl) : imm.length;
      task.nextR2TOffset = task.unsolicitedEnd;
      task.r2ts = new Map();
      this.issueR2Ts(task);
      task.dataOutAt = Date.now();
      if (!this.dataOutTimer) this.armDataOutTimer(this.aclAttributes().dataout_timeout * this.secondMs);
    }
    // Ordering of maybeExecute: released may already be true (in-window, in order).
    this.maybeExecute(task);
  }

  /** Solicits data with R2Ts: each ≤ MaxBurstLength, at most MaxOutstandingR2T at once (RFC 7143 §11.8). */
  private issueR2Ts(task: Task): void {
    const s = task.session;
    const p = this.params;
    while (task.r2ts!.size < p.maxOutstandingR2T && task.nextR2TOffset < task.expectedDataTransferLength) {
      const offset = task.nextR2TOffset;
      const length = Math.min(p.maxBurstLength, task.expectedDataTransferLength - offset);
      const ttt = s.ttt();
      task.r2ts!.set(ttt, { offset, length, next: offset, dataSN: 0 });
      task.nextR2TOffset += length;
      // R2T carries the current StatSN without advancing it (RFC 7143 §11.8.3).
      this.send(R2T, {
        final: true, lun: task.lun, itt: task.taskTag, ttt, statSN: this.statSN, expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN,
        r2tSN: task.r2tSN++, bufferOffset: offset, desiredLength: length,
      });
    }
  }

  handleDataOut(pdu: Pdu): void {
    const s = this.session!;
    const h = DataOut.decode(pdu.bhs);
    const task = s.tasks.get(h.itt);
    if (!task || task.state !== "data" || !task.dataOut || task.received >= task.expectedDataTransferLength) {
      // Data for a task we dropped (outside the window) or aborted: discard it (RFC 7143 §11.5.1 allows it).
      return;
    }
    const len = pdu.data.length;
    const off = h.bufferOffset;
    if (h.ttt === RESERVED_TAG) {
      if (off !== task.unsolicitedNext || off + len > task.unsolicitedEnd || h.dataSN !== task.unsolicitedDataSN) {
        return this.failDataOut(task, `unsolicited Data-Out out of sequence (offset ${off}, DataSN ${h.dataSN})`);
      }
      task.unsolicitedNext += len;
      task.unsolicitedDataSN++;
    } else {
      const r2t = task.r2ts?.get(h.ttt);
      if (!r2t) return this.failDataOut(task, "Data-Out for an unknown Target Transfer Tag");
      // DataPDUInOrder=Yes: offsets ascend without gaps; DataSN restarts at 0 per R2T (RFC 7143 §11.7.5).
      if (off !== r2t.next || off + len > r2t.offset + r2t.length || h.dataSN !== r2t.dataSN) {
        return this.failDataOut(task, `Data-Out out of sequence (offset ${off}, DataSN ${h.dataSN})`);
      }
      r2t.next += len;
      r2t.dataSN++;
      if (r2t.next === r2t.offset + r2t.length) {
        task.r2ts!.delete(h.ttt);
      }
    }
    pdu.data.copy(task.dataOut, off);
    task.received += len;
    task.dataOutAt = Date.now();
    if (task.r2ts && task.r2ts.size < this.params.maxOutstandingR2T) this.issueR2Ts(task);
    this.maybeExecute(task);
  }

  private armDataOutTimer(ms: number): void {
    this.dataOutTimer = setTimeout(() => this.guard(() => this.checkDataOut()), Math.max(1, ms));
    this.dataOutTimer.unref();
  }

  /**
   * dataout_timeout (node ACL, seconds, read live): a command still waiting for Data-Out that
   * has seen none for that long. What LIO does (iscsit_handle_dataout_timeout): at
   * ErrorRecoveryLevel 0 it cannot recover, so it fails the connection at once
   * ("Unable to recover from DataOut timeout while in ERL=0, closing iSCSI connection") without
   * consulting dataout_timeout_retries, which only counts R2T re-sends at ERL ≥ 1. Portico runs
   * ERL 0 only, so it does the same: the connection is dropped and, MaxConnections being 1,
   * the session ends with it (its tasks are aborted; the initiator logs in again and retries).
   * One timer per connection, armed while some command waits for data.
   */
  private checkDataOut(): void {
    this.dataOutTimer = undefined;
    const s = this.session;
    if (!s || this.state !== "ffp") return;
    const timeoutMs = this.aclAttributes().dataout_timeout * this.secondMs;
    const now = Date.now();
    let oldest = Infinity;
    for (const t of s.tasks.values()) {
      if (t.conn !== this || t.state !== "data" || t.aborted || !t.dataOut || t.received >= t.expectedDataTransferLength) continue;
      if (now - t.dataOutAt >= timeoutMs) {
        this.host.log("warn", "iSCSI Data-Out timeout at ErrorRecoveryLevel 0; dropping the connection", {
          remote: this.describe, itt: t.taskTag, received: t.received, expected: t.expectedDataTransferLength, dataoutTimeoutMs: timeoutMs,
        });
        this.destroy("Data-Out timeout");
        return;
      }
      if (t.dataOutAt < oldest) oldest = t.dataOutAt;
    }
    if (oldest !== Infinity) this.armDataOutTimer(oldest + timeoutMs - now);
  }

  /**
   * A Data-Out sequence error (wrong DataSN, offset or TTT). ERL 0 cannot recover the
   * data, but the connection can: the command ends with CHECK CONDITION (ABORTED COMMAND,
   * DATA PHASE ERROR) and its remaining Data-Out is discarded (RFC 7143 §7.12 lets the
   * target terminate a command early).
   */
  private failDataOut(task: Task, why: string): void {
    this.host.log("warn", `iSCSI ${why}; failing the command`, { remote: this.describe, itt: task.taskTag });
    task.r2ts?.clear();
    task.state = "running";
    this.respond(task, { status: ScsiStatus.CHECK_CONDITION, sense: fixedSense(0x0b, 0x4b, 0x00) });
  }

  private maybeExecute(task: Task): void {
    if (task.state !== "data" || !task.released || task.aborted) return;
    if (task.write && task.received < task.expectedDataTransferLength) return;
    task.state = "running";
    const view = task.session.view!;
    const io = this.handleFor(task.lun);
    task.io = io;
    task.t0 = io.start();
    this.host.dispatch(task, view).then(
      (result) => (this.state === "closed" ? this.abandon(task) : this.guard(() => this.respond(task, result))),
      (err) => (this.state === "closed" ? this.abandon(task) : this.guard(() => {
        this.host.log("error", "SCSI dispatch failed", { remote: this.describe, error: String(err) });
        this.respond(task, { status: ScsiStatus.CHECK_CONDITION, sense: fixedSense(0x04, 0x44, 0x00) });
      })),
    );
  }

  /**
   * The IO statistics handle for an initiator LUN number (stats.ts "How the transport hooks in"):
   * cached per connection, rebuilt when the TPG's generation moves (a LUN or ACL changed).
   */
  handleFor(lun: number): IoHandle {
    const s = this.session!;
    const gen = s.tpg ? s.tpg.generation : 0;
    if (gen !== this.handlesGeneration) {
      this.handles.clear();
      this.handlesGeneration = gen;
    }
    let h = this.handles.get(lun);
    if (!h) {
      h = this.host.stats.handle(s.stats!, this.stats!, this.lunStats(lun));
      this.handles.set(lun, h);
    }
    return h;
  }

  /** The TPG LUN's counters behind an initiator LUN number, or undefined if this nexus does not map it. */
  lunStats(lun: number): LunCounters | undefined {
    const s = this.session!;
    const tpg = s.tpg;
    const resolved = s.view?.resolve(lun);
    const tpgLun = resolved && tpg?.luns.get(resolved.binding.tpgLunIndex);
    if (!tpg || !tpgLun) return undefined;
    return this.host.stats.lun(tpg.target.iqn, tpg.tag, tpgLun.index, tpgLun.storageObject.name, tpgLun.storageObject.plugin);
  }

  /** A command that finished after its connection closed: no response, but its counters and waiters still end. */
  private abandon(task: Task): void {
    if (task.state === "done") return;
    task.session.tasks.delete(task.taskTag);
    this.countDone(task, 0, ScsiStatus.TASK_ABORTED, undefined);
    task.finish();
  }

  /** Exactly one IoHandle.done per start (stats.ts): a task not dispatched has t0 = -1 and is not counted. */
  private countDone(task: Task, bytes: number, status: number, sense: Buffer | undefined): void {
    const io = task.io;
    if (!io) return;
    task.io = undefined;
    io.done(task.t0, ioKindOfCdb(task.cdb), bytes, status, status === ScsiStatus.CHECK_CONDITION ? senseKeyOf(sense) : 0);
  }

  /** Turns a ScsiResult into Data-In and/or a SCSI Response (RFC 7143 §11.4, §11.7). */
  respond(task: Task, result: ScsiResult): void {
    const s = task.session;
    if (task.state === "done") return;
    s.tasks.delete(task.taskTag);
    if (!task.immediate) s.credit();
    if (task.aborted === "self" || this.state !== "ffp") {
      // Aborted by its own nexus: no response (RFC 7143 §11.5.1; SAM-5 §7.3).
      this.countDone(task, 0, ScsiStatus.TASK_ABORTED, undefined);
      task.finish();
      return;
    }
    if (task.aborted === "other") result = { status: ScsiStatus.TASK_ABORTED };

    const edtl = task.expectedDataTransferLength;
    const readLen = task.readLength;
    const dataIn = task.read ? result.dataIn : undefined;
    const sent = dataIn ? Math.min(dataIn.length, readLen) : 0;
    // Residuals (RFC 7143 §11.4.5): what the CDB wanted vs. what the initiator expected.
    let readOver = false, readUnder = false, readResidual = 0;
    if (task.read) {
      const wanted = result.cdbTransferLength !== undefined && !task.write ? result.cdbTransferLength : (dataIn?.length ?? 0);
      if (wanted > readLen) { readOver = true; readResidual = wanted - readLen; }
      else if (sent < readLen) { readUnder = true; readResidual = readLen - sent; }
    }
    let writeOver = false, writeUnder = false, writeResidual = 0;
    if (task.write) {
      const wanted = result.cdbTransferLength ?? edtl;
      if (wanted > edtl) { writeOver = true; writeResidual = wanted - edtl; }
      else if (wanted < edtl) { writeUnder = true; writeResidual = edtl - wanted; }
    }
    const bidi = task.read && task.write;
    const over = bidi ? writeOver : task.read ? readOver : writeOver;
    const under = bidi ? writeUnder : task.read ? readUnder : writeUnder;
    const residual = bidi ? writeResidual : task.read ? readResidual : writeResidual;
    const collapse = result.status === ScsiStatus.GOOD && !result.sense && !bidi;

    let dataSN = 0;
    if (sent > 0) dataSN = this.sendDataIn(task, dataIn!.subarray(0, sent), collapse ? { over, under, residual } : undefined);
    if (!(collapse && sent > 0)) {
      const sense = result.sense;
      let data: Buffer | undefined;
      if (sense && sense.length) {
        data = Buffer.allocUnsafe(2 + sense.length);
        data.writeUInt16BE(sense.length, 0);
        sense.copy(data, 2);
      }
      this.send(ScsiResponse, {
        final: true, bidiOverflow: bidi && readOver, bidiUnderflow: bidi && readUnder, overflow: over, underflow: under,
        response: 0, status: result.status, itt: task.taskTag, snackTag: 0, statSN: this.nextStatSN(),
        expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN, expDataSN: task.read ? dataSN : task.r2tSN,
        bidiResidualCount: bidi ? readResidual : 0, residualCount: residual,
      }, data);
    }
    if (task.io) this.countDone(task, task.read ? sent : task.write ? task.received : 0, result.status, result.sense);
    if (result.status === ScsiStatus.CHECK_CONDITION && senseKeyOf(result.sense) === 6) this.noticeUnitAttention(task, result.sense!);
    task.finish();
  }

  /** A unit attention reported to this nexus (SPC-4 §5.14): rare, so it goes to the event log. */
  private noticeUnitAttention(task: Task, sense: Buffer): void {
    const fixed = (sense[0] & 0x7f) <= 0x71;
    const asc = fixed ? sense[12] : sense[2];
    const ascq = fixed ? sense[13] : sense[3];
    this.host.notice(this, "unit_attention", { lun: task.lun, asc, ascq });
  }

  /** Asks the initiator to log out (handlers/logout.ts); the fabric drops the session if it does not. */
  requestLogout(seconds: number): void {
    requestLogout(this, seconds);
  }

  /** PREEMPT AND ABORT through ScsiTask.abortTasks (handlers/task-management.ts). */
  abortNexusTasks(issuer: Task, nexusKeys: ReadonlySet<string>, device: ScsiDevice, tas: boolean): Promise<void> {
    return abortNexusTasks(this, issuer, nexusKeys, device, tas);
  }

  /**
   * Data-In: PDUs of at most the initiator's MaxRecvDataSegmentLength, sequences (F bit)
   * of at most MaxBurstLength, DataSN from 0 across sequences; status in the last one
   * when `status` is given (RFC 7143 §11.7.1). Returns the number of PDUs sent.
   */
  private sendDataIn(task: Task, data: Buffer, status?: { over: boolean; under: boolean; residual: number }): number {
    const s = task.session;
    const mx = this.params.maxXmitDataSegmentLength;
    const burst = this.params.maxBurstLength;
    const h = this.dataInHdr;
    const len = data.length;
    let dataSN = 0;
    let off = 0;
    while (off < len) {
      const seqEnd = Math.min(len, off + burst);
      while (off < seqEnd) {
        const n = Math.min(mx, seqEnd - off);
        const last = off + n === len;
        const withStatus = last && status !== undefined;
        h.final = off + n === seqEnd;
        h.hasStatus = withStatus;
        h.status = withStatus ? ScsiStatus.GOOD : 0;
        h.overflow = withStatus && status!.over;
        h.underflow = withStatus && status!.under;
        h.residualCount = withStatus ? status!.residual : 0;
        h.statSN = withStatus ? this.nextStatSN() : 0;
        h.lun = task.lun < 0 ? 0 : task.lun;
        h.itt = task.taskTag;
        h.expCmdSN = s.expCmdSN;
        h.maxCmdSN = s.maxCmdSN;
        h.dataSN = dataSN++;
        h.bufferOffset = off;
        this.send(DataIn, h, data.subarray(off, off + n));
        off += n;
      }
    }
    return dataSN;
  }
}

/** Fixed-format sense data (SPC-4 §4.5.3). */
export function fixedSense(key: number, asc: number, ascq: number): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = key;
  b[7] = 10;
  b[12] = asc;
  b[13] = ascq;
  return b;
}

/**
 * One iSCSI connection: the socket lifecycle, framing, batched writes, timers (login,
 * NOP-In ping, dataout_timeout) and the IO statistics handle cache. What each PDU means
 * lives in handlers/: login-pdu.ts during login, then one handler per opcode through the
 * table in handlers/dispatch.ts (RFC 7143 §11). Every handler runs inside a guard: an
 * exception is logged and drops this connection only.
 *
 * Hot path: PDUs arrive as views (stream.ts); what a socket chunk answers is encoded into
 * the shared transmit slab and leaves in one write when the chunk is done (transmit.ts:
 * small data segments copied next to their header, large ones as views of the device's
 * buffer); answers that come later leave together on the next tick.
 */
import type net from "node:net";
import type { Engine } from "../core/engine";
import { nodeAclAttributeDefaults } from "../core/defaults";
import type { ScsiDevice, ScsiNexusView, ScsiResult } from "../scsi/types";
import type { ConnectionCounters, IoHandle, IoStats, LunCounters } from "../core/stats";
import { LoginMachine, LoginStatus, type LoginFailure, type LoginEnv } from "./login";
import type { SessionParams } from "./negotiation";
import {
  RESERVED_TAG, Reject, RejectReason,
  type DataInHeader, type LoginRequestHeader, type Pdu, type PduCodec,
} from "./pdu";
import { Transmitter } from "./transmit";
import { PollWindow } from "./poll-window";
import { StatSNUse, stampSequence, type CmdSNWindow, type SequenceFields, type Session, type Task, type Unstamped } from "./session";
import { PduStream, type FrameError } from "./stream";
import { RECEIVE_BUFFER_SIZE, readIntoReusedBuffer } from "./receive-buffer";
import { dispatchPdu } from "./handlers/dispatch";
import { placeData } from "./handlers/scsi-command";
import type { ConnectionPort, ConnectionState } from "./handlers/port";
import { failLogin, handleLoginPdu } from "./handlers/login-pdu";
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
  /** Turns a completed login into a session (TSIH, reinstatement), or refuses it: what the final Login Response needs. */
  completeLogin(conn: Connection, login: LoginMachine, h: LoginRequestHeader): Session | LoginFailure;
  /** The rest of a completed login (unit attentions, statistics, event, log), once its final Login Response has left. */
  sessionStarted(conn: Connection, session: Session): void;
  loginFailed(conn: Connection, login: LoginMachine, failure: LoginFailure): void;
  /** A reason to refuse this connection's login before evaluating it (the address is throttled). */
  loginRefusal?(conn: Connection): LoginFailure | undefined;
  connectionClosed(conn: Connection): void;
  /** A result rather than a promise when the command completed without waiting (memory-backed IO): answered in the same turn. */
  dispatch(task: Task, view: ScsiNexusView): Promise<ScsiResult> | ScsiResult;
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

const DONE = Promise.resolve();

export class Connection implements ConnectionPort {
  state: ConnectionState = "login";
  readonly stream: PduStream;
  readonly login: LoginMachine;
  session: Session | undefined;
  params: SessionParams = LOGIN_PARAMS;
  private nextStatSN = 0;
  private loginCid = 0;
  /** The window Login Responses carry before there is a session: the login's CmdSN (RFC 7143 §11.13). */
  private readonly loginWindow = { expCmdSN: 0, maxCmdSN: 0 };
  /** The initiator's address, read (getpeername) when first asked: after the Login Response unless the login needs it (throttling, allowed networks). */
  private peername: { address: string; port: number } | undefined;
  /** Our end's address, read (getsockname) when first asked: SendTargets and the session list need it, a login does not. */
  private sockname: { address: string; port: number } | undefined;
  /** IO statistics of this connection (set at login); handles cached per initiator LUN, rebuilt when the TPG changes. */
  stats: ConnectionCounters | undefined;
  /** Why the connection ended (the first reason given: "logout", "peer closed", ...). */
  closeReason: string | undefined;
  private readonly handles = new Map<number, IoHandle>();
  private handlesGeneration = -1;
  /** `closed`'s promise and its resolver, made when first asked (most connections are never waited on). */
  private closedPromise: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  /** PDUs queued for the socket (transmit.ts), flushed at the end of a chunk or on the next tick. */
  private readonly tx: Transmitter;
  /**
   * Keeps the event loop awake for a short while after this connection answered everything
   * (poll-window.ts). Made at the first idle period of full feature phase: a login + logout has none.
   */
  private poll: PollWindow | undefined;
  /** Inside onData: what is sent leaves when the chunk is done. */
  private inChunk = false;
  /** A next-tick flush is scheduled (for sends outside a chunk: completions that waited). */
  private flushScheduled = false;
  /** The next-tick flush, bound when first needed. */
  private flushTick: (() => void) | undefined;
  private loginTimer: NodeJS.Timeout | undefined;
  /** The duration loginTimer was armed with: the TPG's login_timeout re-arms it only when it differs. */
  private loginTimerMs = -1;
  /** After a Logout Response or a failed login: drops the connection if the peer does not close it. */
  private closeTimer: NodeJS.Timeout | undefined;
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
  /** The one Data-In header this connection reuses (encoded into the slab at send time). */
  readonly dataInHdr: DataInHeader = {
    final: false, ack: false, overflow: false, underflow: false, hasStatus: false, status: 0, lun: 0, itt: 0, ttt: RESERVED_TAG,
    statSN: 0, expCmdSN: 0, maxCmdSN: 0, dataSN: 0, bufferOffset: 0, residualCount: 0,
  };

  /** The drain listener after backpressure, bound when first needed (not per connection). */
  private resumeListener: (() => void) | undefined;

  constructor(
    readonly host: ConnectionHost,
    readonly socket: net.Socket,
    readonly listenerKey: string,
  ) {
    this.tx = new Transmitter(socket);
    this.login = new LoginMachine(host.loginEnv(this));
    this.stream = new PduStream(
      { maxRecvDataSegmentLength: 8192 },
      (pdu) => this.receive(pdu),
      (err) => this.guard(() => this.onFrameError(err)),
    );
    // A write's payload that straddles socket chunks is copied once, straight into its gather buffer.
    this.stream.placer = (bhs, ahs) => (this.state === "ffp" ? placeData(this, this.session!, bhs, ahs) : undefined);
    // One reused read buffer (receive-buffer.ts), else a fresh Buffer per read ('data').
    this.stream.reusesChunks = readIntoReusedBuffer(socket, RECEIVE_BUFFER_SIZE, (chunk) => this.onData(chunk));
    if (!this.stream.reusesChunks) socket.on("data", (chunk: Buffer) => this.onData(chunk));
    // A PDU cut short by EOF can never complete: the connection is over (RFC 7143 §7.1 at ERL 0).
    socket.on("end", () => this.destroy("peer closed"));
    socket.on("error", (err) => this.destroy(`socket error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    socket.on("close", () => this.destroy("closed"));
    this.startLoginTimer(host.loginTimeoutMs ?? 15_000);
  }

  startLoginTimer(ms: number): void {
    if (this.loginTimer && ms === this.loginTimerMs) return;
    this.loginTimerMs = ms;
    clearTimeout(this.loginTimer);
    this.loginTimer = setTimeout(() => {
      if (this.state !== "login") return;
      this.host.loginFailed(this, this.login, { status: LoginStatus.INITIATOR_ERROR, reason: "login timeout", message: "login did not complete in time" });
      this.destroy("login timeout");
    }, ms);
    this.loginTimer.unref();
  }

  /** Resolves when the connection has closed (made on first use: a login + logout never asks). */
  get closed(): Promise<void> {
    if (!this.closedPromise) {
      this.closedPromise = this.state === "closed" ? DONE : new Promise((r) => (this.resolveClosed = r));
    }
    return this.closedPromise;
  }

  get statSN(): number {
    return this.nextStatSN;
  }

  get cid(): number {
    return this.loginCid;
  }

  get localAddress(): string {
    return this.localName().address;
  }

  get localPort(): number {
    return this.localName().port;
  }

  private localName(): { address: string; port: number } {
    return (this.sockname ??= { address: this.socket.localAddress ?? "", port: this.socket.localPort ?? 0 });
  }

  get remoteAddress(): string {
    return this.peer().address;
  }

  get remotePort(): number {
    return this.peer().port;
  }

  private peer(): { address: string; port: number } {
    return (this.peername ??= { address: this.socket.remoteAddress ?? "", port: this.socket.remotePort ?? 0 });
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
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    this.host.log("error", "iSCSI connection handler failed; dropping the connection", { remote: this.describe, error: String((err as Error)?.stack ?? err) });
    this.destroy("internal error");
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
    clearTimeout(this.closeTimer);
    this.tx.drop();
    if (wasLogin && this.login.first && reason !== "login timeout" && reason !== "login failed") {
      this.host.log("info", "iSCSI connection closed during login", { remote: this.describe, reason });
      this.host.loginLost(this, this.login);
    }
    this.socket.destroy();
    this.host.connectionClosed(this);
    this.resolveClosed?.();
  }

  /**
   * Lets queued writes flush, then closes (after a Logout Response, a failed login, a protocol error).
   *
   * When the answer has already left (the usual case: it went out in the chunk's writev, so the
   * socket holds nothing), the socket is closed at once, as LIO and tgt do after a Logout Response
   * or a Login reject: the kernel sends what it has, then FIN. `waitForPeer` (a protocol error, where
   * the initiator may still be sending) half-closes instead and waits for the peer's FIN (2 s at most):
   * closing with unread data would answer with RST. Closing at once spares a login + logout the
   * shutdown(2) round (one more event-loop turn) and the handling of the peer's FIN afterwards.
   */
  closeAfterFlush(reason: string, waitForPeer = false): void {
    if (this.state === "closed") return;
    this.state = "logout";
    this.closeReason ??= reason;
    clearTimeout(this.pingTimer);
    clearTimeout(this.pingDeadline);
    clearTimeout(this.dataOutTimer);
    process.nextTick(() => {
      if (this.state === "closed") return;
      if (!waitForPeer && this.socket.writableLength === 0) return this.destroy(reason);
      this.socket.end();
      this.closeTimer = setTimeout(() => this.destroy(reason), 2000);
      this.closeTimer.unref();
    });
  }

  // ---- sending -------------------------------------------------------------------------------

  /**
   * Queues a PDU (transmit.ts). Inside onData it leaves with the chunk's other answers when the
   * chunk is done; otherwise (a completion that waited) every PDU of this tick leaves together
   * on the next tick.
   *
   * `onWritten` (optional): called once the socket no longer needs `data` (at once when it was
   * copied into the transmit slab, else when its write completed), with an error if it never
   * will be written; not called when the connection is already closed. A pooled data buffer goes
   * back to its pool then (scsi-response.ts, releaseDataIn).
   */
  send<H extends SequenceFields>(codec: PduCodec<H>, header: Unstamped<H>, data: Buffer | undefined, statSN: StatSNUse, onWritten?: (err?: Error | null) => void): void {
    if (this.state === "closed" || this.socket.destroyed) return;
    const window: CmdSNWindow = this.session ?? this.loginWindow;
    this.nextStatSN = stampSequence(header, statSN, this.nextStatSN, window);
    this.tx.add(codec, header as H, data, this.params.headerDigest, this.params.dataDigest, onWritten);
    if (!this.inChunk && !this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick((this.flushTick ??= () => {
        this.flushScheduled = false;
        if (!this.inChunk) this.flush();
      }));
    }
  }

  /**
   * Hands what is queued to the socket; on backpressure, stops reading new commands until it drains.
   * `login`: the chunk was read during login (the one that completed it included): no poll window.
   */
  private flush(login = false): void {
    if (this.socket.destroyed) return this.tx.drop();
    if (!this.tx.flush()) {
      if (!this.socket.isPaused()) {
        this.socket.pause();
        this.socket.once("drain", (this.resumeListener ??= () => this.socket.resume()));
      }
    } else if (!login && this.state === "ffp" && this.session!.tasks.size === 0) {
      // Everything asked is answered: the initiator's next command may follow at once. Not during
      // login, nor after the final Login Response: its PDUs come further apart than that
      // (bench/login-cost.ts: a window there cost ~5 % more CPU per login and saved nothing).
      (this.poll ??= new PollWindow()).idle();
    }
  }

  reject(reason: number, bhs: Buffer): void {
    this.send(Reject, { final: true, reason, itt: RESERVED_TAG, dataSN: 0 }, Buffer.from(bhs.subarray(0, 48)), StatSNUse.ADVANCE);
  }

  /** Reject, then drop: the RFC's answer when ERL 0 cannot recover (RFC 7143 §7.1.1). */
  protocolFailure(reason: number, bhs: Buffer, why: string): void {
    this.host.log("warn", `iSCSI protocol error: ${why}; dropping the connection`, { remote: this.describe });
    this.reject(reason, bhs);
    this.closeAfterFlush(why, true);
  }

  // ---- receiving -----------------------------------------------------------------------------

  /**
   * One socket chunk: every PDU in it is handled, and what they answer at once (memory-backed
   * commands complete synchronously) leaves in one writev when the chunk is done: no next-tick
   * wait, no timer. Answers that come later (disk IO) use send()'s cork-until-next-tick.
   */
  private onData(chunk: Buffer): void {
    if (this.state === "closed") return;
    this.poll?.arrived();
    const login = this.state === "login";
    this.inChunk = true;
    // guard() inlined: a closure per chunk is a heap object per command at queue depth 1.
    try {
      this.stream.push(chunk);
    } catch (err) {
      this.failed(err);
    } finally {
      this.inChunk = false;
    }
    // state is changed by the handlers above (TypeScript narrowed it at the top).
    if ((this.state as ConnectionState) !== "closed") this.flush(login);
  }

  private onFrameError(err: FrameError): void {
    if (err.kind === "oversize") {
      const why = `DataSegmentLength ${err.dataSegmentLength} exceeds MaxRecvDataSegmentLength ${this.stream.maxRecvDataSegmentLength}`;
      if (this.state === "login") {
        this.host.log("warn", `iSCSI login refused: ${why}`, { remote: this.describe });
        failLogin(this, undefined, { status: LoginStatus.INITIATOR_ERROR, reason: "protocol error", message: why }, err.bhs);
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

  /** guard(() => this.onPdu(pdu)) without the closure per PDU. */
  private receive(pdu: Pdu): void {
    if (this.state === "closed") return;
    try {
      this.onPdu(pdu);
    } catch (err) {
      this.failed(err);
    }
  }

  private onPdu(pdu: Pdu): void {
    if (this.state === "login") return handleLoginPdu(this, pdu);
    if (this.state !== "ffp") return; // after Logout: ignore (RFC 7143 §11.14)
    this.armPing();
    dispatchPdu(this, this.session!, pdu);
  }

  // ---- login (the PDU flow is handlers/login-pdu.ts) ------------------------------------------

  beginLogin(h: LoginRequestHeader): void {
    this.nextStatSN = h.expStatSN >>> 0;
    this.loginCid = h.cid;
    this.loginWindow.expCmdSN = this.loginWindow.maxCmdSN = h.cmdSN >>> 0;
  }

  loginRefusal(): LoginFailure | undefined {
    return this.host.loginRefusal?.(this);
  }

  completeLogin(h: LoginRequestHeader): Session | LoginFailure {
    return this.host.completeLogin(this, this.login, h);
  }

  loginFailed(failure: LoginFailure): void {
    this.host.loginFailed(this, this.login, failure);
  }

  notice(type: "unit_attention" | "reset", fields: Record<string, unknown>): void {
    this.host.notice(this, type, fields);
  }

  bindSession(session: Session): void {
    this.session = session;
  }

  /**
   * The login completed: digests and our MaxRecvDataSegmentLength apply from the next PDU on
   * (RFC 7143 §11.13), the login timer stops and the idle ping starts.
   *
   * The final Login Response leaves first, here, rather than when the socket chunk is done: what
   * follows (the session's statistics, unit attentions, login event, TCP_NODELAY, the idle timer)
   * is needed only from the initiator's first command on, and the initiator cannot send that before
   * it has read the response. So that work overlaps the initiator's own instead of delaying it
   * (sequential logins are a ping-pong between the two). TCP_NODELAY is set here, not at accept:
   * during login requests and responses strictly alternate, each request acknowledging the previous
   * response, so Nagle never holds a Login Response back.
   */
  enterFullFeaturePhase(): void {
    this.flush();
    const session = this.session!;
    const params = session.params;
    this.params = params;
    this.stream.headerDigest = params.headerDigest;
    this.stream.dataDigest = params.dataDigest;
    this.stream.maxRecvDataSegmentLength = params.maxRecvDataSegmentLength;
    this.state = "ffp";
    clearTimeout(this.loginTimer);
    this.host.sessionStarted(this, session);
    if (!this.socket.destroyed) this.socket.setNoDelay(true);
    this.armPing();
  }

  stopAccepting(): void {
    if (this.state === "ffp") this.state = "logout";
  }

  setMaxXmitDataSegmentLength(n: number): void {
    this.params = { ...this.params, maxXmitDataSegmentLength: n };
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

  // ---- dataout_timeout ------------------------------------------------------------------------

  /** A command now waits for Data-Out: make sure the connection's one Data-Out timer runs. */
  watchDataOut(): void {
    if (!this.dataOutTimer) this.armDataOutTimer(this.aclAttributes().dataout_timeout * this.secondMs);
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
      if (t.conn !== this || t.state !== "data" || t.aborted || !t.r2ts || t.received >= t.expectedDataTransferLength) continue;
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

  // ---- IO statistics handles ------------------------------------------------------------------

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
    return this.host.stats.lun(tpg.target.wwn, tpg.tag, tpgLun.index, tpgLun.storageObject.name, tpgLun.storageObject.plugin);
  }

  // ---- entry points for the fabric and the SCSI layer -------------------------------------------

  /** Asks the initiator to log out (handlers/logout.ts); the fabric drops the session if it does not. */
  requestLogout(seconds: number): void {
    requestLogout(this, seconds);
  }

  /** PREEMPT AND ABORT through ScsiTask.abortTasks (handlers/task-management.ts). */
  abortNexusTasks(issuer: Task, nexusKeys: ReadonlySet<string>, device: ScsiDevice, tas: boolean): Promise<void> {
    return abortNexusTasks(this, issuer, nexusKeys, device, tas);
  }

}
/**
 * The iSCSI fabric (LIO's iscsi_target_mod): portals, connections and sessions.
 * Implements the engine's FabricDriver. Login routing: a connection accepted on
 * listener `portalKey(ip, port)` reaches the TPG that has that portal
 * (`engine.tpgForLogin`).
 */
import { EventEmitter } from "node:events";
import net from "node:net";
import type { Engine, FabricDriver, SessionInfo } from "../core/engine";
import type { ChapCredentials } from "../core/model";
import { EngineError } from "../core/errors";
import { listenAddress, portalKey } from "../core/names";
import { IoStats, loginFailureReason, type LoginFailureReason as StatsLoginFailureReason, type LoginFailureRecord } from "../core/stats";
import { dispatchScsiNow } from "../scsi/dispatch";
import { itNexus, type NexusIdentity, type ScsiNexusView, type ScsiResult, type ScsiTask } from "../scsi/types";
import { startChap } from "./chap";
import { Connection, type ConnectionHost, type LogFn } from "./connection";
import { LoginStatus, type LoginEnv, type LoginFailure, type LoginMachine } from "./login";
import type { LoginRequestHeader } from "./pdu";
import { Session, type Task } from "./session";
import { LoginThrottle, type LoginThrottleOptions } from "./throttle";

export interface IscsiFabricOptions {
  /**
   * Idle time before the target pings with a NOP-In. Default: the session's node ACL
   * attribute nopin_timeout (demo mode: LIO's default, 15 s), read live. Tests override it.
   */
  nopInIntervalMs?: number;
  /** Time the initiator has to answer a NOP-In ping. Default: node ACL nopin_response_timeout (30 s), read live. */
  nopInTimeoutMs?: number;
  /**
   * Milliseconds in one "second" of the node ACL timeouts (nopin_timeout, nopin_response_timeout,
   * dataout_timeout). 1000 in production; tests shorten it so an attribute-driven timeout fires fast.
   */
  attributeSecondMs?: number;
  /** Time a login may take (default: TPG login_timeout, 15 s). */
  loginTimeoutMs?: number;
  log?: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  /** SCSI dispatch (default scsi/dispatch.ts dispatchScsiNow); tests may substitute a stub. */
  dispatch?: (task: ScsiTask, view: ScsiNexusView) => Promise<ScsiResult> | ScsiResult;
  /** IO statistics (default: a new IoStats, counting on). */
  stats?: IoStats;
  /**
   * Refuse logins from an address after repeated authentication/authorization failures
   * (throttle.ts; default DEFAULT_LOGIN_THROTTLE), `false` to turn it off.
   */
  loginThrottle?: Partial<LoginThrottleOptions> | false;
}

/**
 * What the fabric tells the event log (fabric.events 'event'): logins, logouts and
 * session ends, refused logins with their reason, resets and unit attentions.
 */
export interface FabricEvent {
  /**
   * unit_attention: a UA reported to (delivered to) one nexus's command. unit_attention_raised: the
   * SCSI layer queued a UA for a nexus (one event per nexus; detail has asc, ascq, storageObject).
   */
  type: "login" | "logout" | "login_failed" | "reset" | "unit_attention" | "unit_attention_raised";
  at: number;
  initiatorName?: string;
  targetName?: string;
  tpgTag?: number;
  sessionId?: string;
  remote?: string;
  /** login_failed: the LOGIN_FAILURE_REASONS value; logout: why the session ended. */
  reason?: string;
  message?: string;
  lun?: number;
  detail?: Record<string, unknown>;
}

/** LoginFailure.reason (login.ts, for the log) → the closed label set of core/stats. */
const STATS_REASON: Record<string, StatsLoginFailureReason | undefined> = {
  "login timeout": "timeout",
  "protocol error": "protocol_error",
  "missing parameter": "missing_parameter",
  "invalid initiator name": "initiator_error",
  "too many failures": "throttled",
};

/**
 * Failures that count towards throttling an address: refusals of who the initiator says it is
 * or what it may reach (RFC 7143 §11.13.5 0201 authentication, 0202 authorization, 0203 not
 * found), which is what guessing a CHAP secret, an ACL name or a target name produces.
 * Protocol errors and timeouts are not guesses.
 */
const THROTTLED_STATUSES = new Set([LoginStatus.AUTH_FAILURE, LoginStatus.AUTHORIZATION_FAILURE, LoginStatus.NOT_FOUND]);

export type { LoginFailureRecord };

export class IscsiFabric implements FabricDriver, ConnectionHost {
  readonly log: LogFn;
  readonly nopInIntervalMs?: number;
  readonly nopInTimeoutMs?: number;
  readonly loginTimeoutMs?: number;
  readonly attributeSecondMs: number;
  private readonly servers = new Map<string, net.Server>();
  private readonly connections = new Set<Connection>();
  private readonly liveSessions = new Map<number, Session>();
  /**
   * The live Normal session of each I_T nexus (NexusIdentity.key: initiator, ISID, target, TPG):
   * session reinstatement and unit-attention events find theirs without a scan of every session.
   */
  private readonly nexusSessions = new Map<string, Session>();
  /** While a login's session is built: the nexus being created and the unit attentions raised for it (its login event carries them). */
  private loginUnitAttentions: { key: string; list: Record<string, unknown>[] } | undefined;
  private nextTsih = 1;
  private shuttingDown = false;
  private successes = 0;
  private readonly dispatchFn: (task: ScsiTask, view: ScsiNexusView) => Promise<ScsiResult> | ScsiResult;
  /** IO statistics: counters per LUN, session and connection (core/stats.ts). */
  readonly stats: IoStats;
  /** 'event' (FabricEvent): a bounded stream for the event log; listeners must not throw. */
  readonly events = new EventEmitter();
  /** Per-address login throttling (undefined: off). */
  readonly loginThrottle: LoginThrottle | undefined;

  constructor(
    readonly engine: Engine,
    private readonly options: IscsiFabricOptions = {},
  ) {
    this.log = options.log ?? defaultLog;
    this.nopInIntervalMs = options.nopInIntervalMs;
    this.nopInTimeoutMs = options.nopInTimeoutMs;
    this.loginTimeoutMs = options.loginTimeoutMs;
    this.attributeSecondMs = options.attributeSecondMs ?? 1000;
    this.dispatchFn = options.dispatch ?? dispatchScsiNow;
    this.stats = options.stats ?? new IoStats();
    this.loginThrottle = options.loginThrottle === false ? undefined : new LoginThrottle(options.loginThrottle ?? {});
  }

  // ---- FabricDriver ------------------------------------------------------------------------------

  async openPortal(ip: string, port: number): Promise<void> {
    const key = portalKey(ip, port);
    if (this.servers.has(key)) return;
    const server = net.createServer((socket) => this.accept(socket, key));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.close();
        reject(portalError(key, err));
      };
      server.once("error", onError);
      server.listen({ host: listenAddress(ip), port, exclusive: true }, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("error", (err) => this.log("error", `portal ${key}: ${err.message}`));
    this.servers.set(key, server);
    this.log("info", `iSCSI portal ${key} listening`);
  }

  async closePortal(ip: string, port: number): Promise<void> {
    const key = portalKey(ip, port);
    const server = this.servers.get(key);
    if (!server) return;
    this.servers.delete(key);
    // Existing sessions stay: close() only stops accepting.
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  sessions(): SessionInfo[] {
    return [...this.liveSessions.values()].filter((s) => !s.ended).map((s) => this.info(s));
  }

  async closeSessions(match: (s: SessionInfo) => boolean): Promise<void> {
    const doomed = [...this.liveSessions.values()].filter((s) => !s.ended && match(this.info(s)));
    await Promise.all(doomed.map((s) => this.closeSession(s)));
  }

  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    await Promise.all([...this.servers.keys()].map((key) => {
      const sep = key.lastIndexOf(":");
      return this.closePortal(key.slice(0, sep), Number(key.slice(sep + 1)));
    }));
    // Let in-flight commands finish (bounded), then end everything.
    const inflight = [...this.liveSessions.values()].flatMap((s) => s.liveTasks().filter((t) => t.state === "running").map((t) => t.done));
    await boundedWait(inflight, 5000);
    await Promise.all([...this.liveSessions.values()].map((s) => this.closeSession(s)));
    for (const c of [...this.connections]) c.destroy("shutdown");
  }

  /** Successful logins and the most recent refusals (core/stats RECENT_LOGIN_FAILURES), for the console. */
  loginStats(): { successes: number; failures: LoginFailureRecord[] } {
    return { successes: this.successes, failures: this.stats.recentLoginFailures() };
  }

  // ---- ConnectionHost ------------------------------------------------------------------------------

  dispatch(task: Task, view: ScsiNexusView): Promise<ScsiResult> | ScsiResult {
    return this.dispatchFn(task, view);
  }

  allSessions(): Iterable<Session> {
    return this.liveSessions.values();
  }

  loginEnv(conn: Connection): LoginEnv {
    return new FabricLoginEnv(this.engine, conn);
  }

  /**
   * A completed login's session, as far as the final Login Response needs it (its TSIH and CmdSN
   * window): the TSIH, a reinstatement (rare, apart), the session registered. What the session needs
   * only from its first command on (its LUNs' power-on unit attentions, statistics, the login event
   * and log line) is sessionStarted's, which the connection calls once that response has left: the
   * initiator reads it meanwhile, on the other core (sequential logins are a ping-pong).
   */
  completeLogin(conn: Connection, login: LoginMachine, h: LoginRequestHeader): Session | LoginFailure {
    if (h.tsih !== 0) return addConnectionRefusal(this.liveSessions.has(h.tsih), h.tsih);
    const tsih = this.allocateTsih();
    if (tsih === 0) return { status: LoginStatus.OUT_OF_RESOURCES, reason: "protocol error", message: "no free TSIH" };
    const tpg = login.tpg;
    let identity: NexusIdentity | undefined;
    let view: ScsiNexusView | undefined;
    let depth = 1;
    if (login.sessionType === "Normal" && tpg) {
      identity = itNexus(login.initiatorName, h.isid, tpg.target.wwn, tpg.tag);
      const old = this.nexusSessions.get(identity.key);
      if (old && !old.ended) this.reinstate(old, login.initiatorName, h.isid);
      view = tpg.nexusView(identity);
      depth = tpg.aclFor(login.initiatorName)?.cmdsnDepth ?? tpg.attributes.default_cmdsn_depth;
    }
    const session = new Session(
      tsih, login.sessionType, login.initiatorName, login.initiatorAlias, h.isid, tpg, identity, view,
      login.negotiation, login.params(), login.authMethod === "CHAP", h.cmdSN, Math.max(1, depth),
    );
    session.connections.add(conn);
    this.liveSessions.set(tsih, session);
    if (identity) this.nexusSessions.set(identity.key, session);
    return session;
  }

  /** Session reinstatement (RFC 7143 §6.3.5): same initiator, ISID and target portal group, TSIH 0: the old session ends first. */
  private reinstate(old: Session, initiator: string, isid: string): void {
    this.log("info", "iSCSI session reinstatement", { initiator, isid, tsih: old.tsih });
    void this.closeSession(old, true);
  }

  /**
   * The rest of a login, after its final Login Response has left and before the connection reads
   * its next PDU (same turn of the event loop): each LUN's power-on unit attention for the new
   * nexus (SPC-4 §6.x, 29h/00h, carried by the login event rather than one row per LUN), the
   * statistics, the login event and the log line.
   */
  sessionStarted(conn: Connection, session: Session): void {
    const tpg = session.tpg;
    const identity = session.identity;
    const view = session.view;
    let unitAttentions: Record<string, unknown>[] | undefined;
    if (view && identity) unitAttentions = this.nexusCreated(session, view, identity);
    this.successes++;
    const targetName = tpg?.target.wwn;
    const tpgTag = tpg?.tag;
    session.stats = this.stats.openSession(session.id, {
      initiatorName: session.initiatorName, targetName, tpgTag, isid: session.isid, sessionType: session.type,
    });
    conn.stats = this.stats.openConnection(session.stats, conn.cid, conn.describe);
    if (identity) this.stats.loginSucceeded(targetName, tpgTag);
    else this.stats.loginSucceeded(undefined, undefined);
    const detail: Record<string, unknown> = { sessionType: session.type, tsih: session.tsih, isid: session.isid, chap: session.authenticated };
    if (unitAttentions?.length) detail.unitAttentions = unitAttentions;
    this.emitEvent({
      type: "login", at: Date.now(), initiatorName: session.initiatorName, targetName, tpgTag, sessionId: session.id,
      remote: conn.describe, detail,
    });
    this.log("info", "iSCSI login", {
      initiator: session.initiatorName, target: targetName, tpg: tpgTag, type: session.type, tsih: session.tsih, remote: conn.describe,
    });
  }

  /** Tells each device of a new nexus (nexusCreated: its power-on unit attention); returns the unit attentions raised for it. */
  private nexusCreated(session: Session, view: ScsiNexusView, identity: NexusIdentity): Record<string, unknown>[] {
    const unitAttentions: Record<string, unknown>[] = [];
    this.loginUnitAttentions = { key: identity.key, list: unitAttentions };
    for (const lun of view.luns()) {
      const device = view.resolve(lun)?.device;
      if (!device || session.devices.has(device)) continue;
      session.devices.add(device);
      try {
        device.nexusCreated?.(identity);
      } catch (err) {
        this.log("error", "nexusCreated hook failed", { error: String(err) });
      }
    }
    this.loginUnitAttentions = undefined;
    return unitAttentions;
  }

  /**
   * Checked on a new connection's first Login Request, before anything in it is evaluated: an
   * address that failed too often is refused with Service Unavailable (0301, "retry later",
   * RFC 7143 §11.13.5) until its refusal period ends.
   */
  loginRefusal(conn: Connection): LoginFailure | undefined {
    // No address has failed: nothing to look up (nor the peer's address to read before the answer).
    if (!this.loginThrottle || this.loginThrottle.empty) return undefined;
    const r = this.loginThrottle.refusal(conn.remoteAddress, Date.now());
    if (!r) return undefined;
    const seconds = Math.ceil(r.retryAfterMs / 1000);
    return {
      status: LoginStatus.SERVICE_UNAVAILABLE,
      reason: "too many failures",
      message: `${r.failures} failed logins from ${r.address}: refused for ${seconds} more second${seconds === 1 ? "" : "s"}`,
    };
  }

  loginFailed(conn: Connection, login: LoginMachine, failure: LoginFailure): void {
    if (this.loginThrottle && THROTTLED_STATUSES.has(failure.status as never)) {
      const delay = this.loginThrottle.failed(conn.remoteAddress, Date.now());
      if (delay > 0) this.log("warn", `iSCSI logins from ${conn.remoteAddress} refused for ${Math.ceil(delay / 1000)} s after repeated failures`, { remote: conn.describe });
    }
    this.log("info", `iSCSI login refused: ${failure.message}`, {
      status: `0x${failure.status.toString(16).padStart(4, "0")}`, reason: failure.reason, initiator: login.initiatorName || undefined, remote: conn.describe,
    });
    const reason = STATS_REASON[failure.reason] ?? loginFailureReason(failure.status >> 8, failure.status & 0xff);
    this.recordLoginFailure(login, reason, failure.message, conn, failure.reason);
  }

  loginLost(conn: Connection, login: LoginMachine): void {
    this.recordLoginFailure(login, "connection_lost", "connection closed during login", conn);
  }

  /**
   * The one record of a refused login: counted and kept by IoStats, and the same record is the
   * event log's row (the target a label only when the engine has it: bounded label space).
   */
  private recordLoginFailure(login: LoginMachine, reason: StatsLoginFailureReason, message: string, conn: Connection, cause?: string): void {
    const known = login.targetName !== undefined && login.targetName !== "" && this.engine.targets.has(login.targetName);
    const record: LoginFailureRecord = {
      reason, cause, message, at: Date.now(), remote: conn.describe,
      initiatorName: login.initiatorName || undefined, targetName: login.targetName || undefined, tpgTag: login.tpg?.tag ?? login.requestedTpg?.tag,
    };
    this.stats.loginFailed(record, known ? { targetName: login.targetName!, tpgTag: login.tpg?.tag } : undefined);
    this.emitEvent({
      type: "login_failed", at: record.at, initiatorName: record.initiatorName, targetName: record.targetName,
      tpgTag: record.tpgTag, remote: record.remote, reason, message,
      // cause: login.ts LoginRefusalReason (why the login machine refused; `reason` is the metrics label): tells "ACL denied" (the console offers to allow the initiator) from "network not allowed".
      detail: cause ? { cause } : undefined,
    });
  }

  notice(conn: Connection, type: "unit_attention" | "reset", fields: Record<string, unknown>): void {
    const s = conn.session;
    const { lun, ...detail } = fields;
    this.emitEvent({
      type, at: Date.now(), initiatorName: s?.initiatorName, targetName: s?.tpg?.target.wwn, tpgTag: s?.tpg?.tag, sessionId: s?.id,
      remote: conn.describe, lun: typeof lun === "number" ? lun : undefined, detail,
    });
  }

  /**
   * A storage object's SCSI layer queued unit attention (asc, ascq) for these I_T nexuses
   * (ScsiDisk.onUnitAttention, wired by createEngine): one 'unit_attention_raised' event per nexus,
   * with its session and the LUN number it sees the storage object as, when it is logged in.
   * The ones raised for a nexus while its login builds the session (the power-on unit attention of
   * each LUN) go into that login's event instead (detail.unitAttentions: lun, asc, ascq, storageObject).
   */
  unitAttentionRaised(storageObject: { plugin: string; name: string; device?: unknown }, nexuses: readonly NexusIdentity[], asc: number, ascq: number): void {
    if (this.events.listenerCount("event") === 0) return;
    const at = Date.now();
    for (const nexus of nexuses) {
      const live = this.nexusSessions.get(nexus.key);
      const session = live && !live.ended ? live : undefined;
      let lun: number | undefined;
      if (session?.view) for (const l of session.view.luns()) if (session.view.resolve(l)?.device === storageObject.device) lun = l;
      const building = this.loginUnitAttentions;
      if (building && building.key === nexus.key) {
        building.list.push({ lun, asc, ascq, storageObject: `${storageObject.plugin}/${storageObject.name}` });
        continue;
      }
      this.emitEvent({
        type: "unit_attention_raised", at,
        initiatorName: nexus.initiatorName, targetName: nexus.targetName, tpgTag: nexus.tpgTag, sessionId: session?.id,
        remote: session ? [...session.connections][0]?.describe : undefined, lun,
        detail: { asc, ascq, storageObject: `${storageObject.plugin}/${storageObject.name}`, nexus: nexus.key, isid: nexus.isid },
      });
    }
  }

  /**
   * The console's "disconnect": asks the initiator to log out (Async Message, AsyncEvent 1,
   * RFC 7143 §11.9.1) and drops the session if it is still there after `timeoutMs`.
   * Resolves with how it ended; rejects with an EngineError for an unknown session.
   */
  async disconnectSession(id: string, opts: { timeoutMs?: number } = {}): Promise<"logout" | "dropped"> {
    const s = [...this.liveSessions.values()].find((x) => x.id === id && !x.ended);
    if (!s) throw new EngineError(`no session ${id}`, "not_found", "id");
    const timeoutMs = Math.max(0, opts.timeoutMs ?? 5000);
    s.endReason = "disconnected by the administrator";
    for (const c of s.connections) c.requestLogout(Math.ceil(timeoutMs / 1000));
    const closed = Promise.all([...s.connections].map((c) => c.closed));
    const timedOut = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(true), timeoutMs);
      void closed.then(() => {
        clearTimeout(t);
        resolve(false);
      });
    });
    if (!timedOut && s.ended) return "logout";
    await this.closeSession(s);
    return "dropped";
  }

  private emitEvent(e: FabricEvent): void {
    if (this.events.listenerCount("event") === 0) return;
    try {
      this.events.emit("event", e);
    } catch (err) {
      this.log("error", "event listener failed", { error: String(err) });
    }
  }

  connectionClosed(conn: Connection): void {
    this.connections.delete(conn);
    const s = conn.session;
    if (s && !s.ended) void this.closeSession(s);
  }

  /**
   * Ends a session: aborts its tasks (no responses: the nexus is gone), closes its
   * connections, waits for running commands (bounded), then tells every device
   * nexusLost. `now` runs the hooks at once (reinstatement: the new nexus has the same key).
   */
  closeSession(s: Session, now = false): Promise<void> {
    if (s.ended) return DONE;
    s.ended = true;
    this.liveSessions.delete(s.tsih);
    if (s.identity && this.nexusSessions.get(s.identity.key) === s) this.nexusSessions.delete(s.identity.key);
    const first: Connection | undefined = s.connections.values().next().value;
    const reason = s.endReason ?? (now ? "reinstated" : this.shuttingDown ? "shutdown" : first?.closeReason ?? "closed");
    for (const c of s.connections) if (c.stats) this.stats.closeConnection(c.stats);
    if (s.stats) this.stats.closeSession(s.stats);
    const at = Date.now();
    this.emitEvent({
      type: "logout", at, initiatorName: s.initiatorName, targetName: s.tpg?.target.wwn, tpgTag: s.tpg?.tag, sessionId: s.id,
      remote: first?.describe, reason, detail: { sessionType: s.type, durationMs: at - s.loginTime },
    });
    const running = s.liveTasks();
    for (const t of running) t.abort("self");
    for (const c of s.connections) c.destroy("session closed"); // destroy leaves s.connections as it is
    // Nothing running (a logout waits for its commands): the nexus ends now, without a promise or a timer.
    if (now || running.length === 0) {
      this.nexusLost(s);
      return DONE;
    }
    return boundedWait(running.map((t) => t.done), 5000).then(() => this.nexusLost(s));
  }

  /** Tells every device of an ended session's nexus that it is gone (nexusLost: its unit attentions, reservations). */
  private nexusLost(s: Session): void {
    const identity = s.identity;
    if (!identity) return;
    const devices = s.devices;
    for (const lun of s.view?.luns() ?? []) {
      const d = s.view?.resolve(lun)?.device;
      if (d) devices.add(d);
    }
    for (const d of devices) {
      try {
        d.nexusLost?.(identity);
      } catch (err) {
        this.log("error", "nexusLost hook failed", { error: String(err) });
      }
    }
  }

  // ---- internals -----------------------------------------------------------------------------------

  private accept(socket: net.Socket, key: string): void {
    if (this.shuttingDown) {
      socket.destroy();
      return;
    }
    const conn = new Connection(this, socket, key);
    this.connections.add(conn);
  }

  private allocateTsih(): number {
    for (let i = 0; i < 0xffff; i++) {
      const t = this.nextTsih;
      this.nextTsih = this.nextTsih >= 0xffff ? 1 : this.nextTsih + 1;
      if (!this.liveSessions.has(t)) return t;
    }
    return 0;
  }

  private info(s: Session): SessionInfo {
    return {
      id: s.id,
      sessionType: s.type,
      initiatorName: s.initiatorName,
      initiatorAlias: s.initiatorAlias,
      targetName: s.tpg?.target.wwn,
      tpgTag: s.tpg?.tag,
      isid: s.isid,
      tsih: s.tsih,
      loginTime: s.loginTime,
      authenticated: s.authenticated,
      connections: [...s.connections].map((c) => ({
        cid: c.cid, remoteAddress: c.remoteAddress, remotePort: c.remotePort, localAddress: c.localAddress, localPort: c.localPort,
      })),
      parameters: s.negotiation.report(),
    };
  }
}

function portalError(key: string, err: NodeJS.ErrnoException): EngineError {
  switch (err.code) {
    case "EADDRINUSE":
      return new EngineError(`portal ${key}: address already in use`, "in_use", "port");
    case "EADDRNOTAVAIL":
      return new EngineError(`portal ${key}: address not available on this host`, "invalid", "ip");
    case "EACCES":
      return new EngineError(`portal ${key}: permission denied (ports below 1024 need privileges)`, "invalid", "port");
    default:
      return new EngineError(`portal ${key}: ${err.message}`, "io", "port");
  }
}

const DONE = Promise.resolve();

/** A Login Request with a TSIH adds a connection to a session: MaxConnections is 1 (RFC 7143 §13.2). */
function addConnectionRefusal(exists: boolean, tsih: number): LoginFailure {
  return exists
    ? { status: LoginStatus.TOO_MANY_CONNECTIONS, reason: "too many connections", message: `session ${tsih} already has its connection` }
    : { status: LoginStatus.SESSION_DOES_NOT_EXIST, reason: "session does not exist", message: `no session with TSIH ${tsih}` };
}

/**
 * What a connection's login machine asks the fabric (LoginEnv): one small object per connection with
 * its methods on the prototype, not three closures (each a function object, and under tsx's
 * keepNames an Object.defineProperty call, per login).
 */
class FabricLoginEnv implements LoginEnv {
  readonly listenerKey: string;

  constructor(
    private readonly engine: Engine,
    private readonly conn: Connection,
  ) {
    this.listenerKey = conn.listenerKey;
  }

  /** Read from the socket only when a TPG restricts its networks (Connection.remoteAddress). */
  get remoteAddress(): string {
    return this.conn.remoteAddress;
  }

  findTpg(targetName: string) {
    return this.engine.tpgForLogin(targetName, this.listenerKey);
  }

  discoveryAuth() {
    const a = this.engine.discoveryAuth;
    return { required: a.enabled, credentials: a.userid && a.password ? a : undefined };
  }

  startChap(credentials: ChapCredentials) {
    return startChap(credentials);
  }
}

function boundedWait(waits: Promise<unknown>[], ms: number): Promise<void> {
  if (!waits.length) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    void Promise.all(waits).then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

const defaultLog: LogFn = (level, msg, fields) => {
  if (level === "info") return;
  console.error(`[iscsi] ${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ""}`);
};

/**
 * IO statistics: the counters behind the live dashboards, the 1 Hz sampler
 * (core/sampler.ts) and GET /metrics (core/metrics.ts).
 *
 * LIO only has per-LUN `in_cmds` and whole-megabyte `read_mbytes`/`write_mbytes`
 * (target_core_stat.c), no latency and no queue depth. Here every counter set
 * (LUN, session, connection and the appliance total) carries command and byte
 * counts, errors by sense key, commands in flight and log2-microsecond latency
 * histograms.
 *
 * Hot path: one counter set is one Float64Array with fixed offsets, so a
 * completed command is a handful of indexed increments on four arrays and a
 * `performance.now()` pair. Nothing is allocated per command. Float64 keeps
 * integers exact up to 2^53, so byte totals stay exact for years and never wrap.
 */
import { ScsiStatus } from "../scsi/types";

// ---- command kinds ------------------------------------------------------------

export const IoKind = { READ: 0, WRITE: 1, OTHER: 2 } as const;
export type IoKind = (typeof IoKind)[keyof typeof IoKind];

/**
 * Kind by operation code. READ/WRITE (6/10/12/16), WRITE AND VERIFY and
 * COMPARE AND WRITE move user data; everything else (INQUIRY, WRITE SAME,
 * UNMAP, SYNCHRONIZE CACHE, ...) is "other": WRITE SAME's one-block payload
 * says nothing about the volume it writes.
 */
const KIND_BY_OPCODE = new Uint8Array(256).fill(IoKind.OTHER);
for (const op of [0x08, 0x28, 0xa8, 0x88]) KIND_BY_OPCODE[op] = IoKind.READ;
for (const op of [0x0a, 0x2a, 0xaa, 0x8a, 0x2e, 0xae, 0x8e, 0x89]) KIND_BY_OPCODE[op] = IoKind.WRITE;

/** READ, WRITE or OTHER for a CDB (by its operation code). */
export function ioKindOfCdb(cdb: Buffer): IoKind {
  return (cdb.length === 0 ? IoKind.OTHER : KIND_BY_OPCODE[cdb[0]]) as IoKind;
}

/** Sense key of fixed (70h/71h) or descriptor (72h/73h) sense data (SPC-4 §4.5), or -1. */
export function senseKeyOf(sense: Buffer | undefined): number {
  if (!sense || sense.length < 3) return -1;
  const code = sense[0] & 0x7f;
  if (code === 0x70 || code === 0x71) return sense[2] & 0x0f;
  if (code === 0x72 || code === 0x73) return sense[1] & 0x0f;
  return -1;
}

/** SPC-4 Table 54 sense key names, as Prometheus label values. */
export const SENSE_KEY_NAMES = [
  "NO_SENSE",
  "RECOVERED_ERROR",
  "NOT_READY",
  "MEDIUM_ERROR",
  "HARDWARE_ERROR",
  "ILLEGAL_REQUEST",
  "UNIT_ATTENTION",
  "DATA_PROTECT",
  "BLANK_CHECK",
  "VENDOR_SPECIFIC",
  "COPY_ABORTED",
  "ABORTED_COMMAND",
  "RESERVED_0C",
  "VOLUME_OVERFLOW",
  "MISCOMPARE",
  "COMPLETED",
] as const;

/**
 * Failed commands whose status is not CHECK CONDITION carry no sense key; they are
 * counted by status. Index into `Counter.STATUS_ERRORS`.
 */
export const STATUS_ERROR_NAMES = ["BUSY", "RESERVATION_CONFLICT", "TASK_SET_FULL", "ACA_ACTIVE", "TASK_ABORTED", "OTHER"] as const;
const STATUS_ERROR_INDEX = new Int8Array(256).fill(5);
STATUS_ERROR_INDEX[ScsiStatus.GOOD] = -1;
STATUS_ERROR_INDEX[ScsiStatus.CONDITION_MET] = -1;
STATUS_ERROR_INDEX[ScsiStatus.CHECK_CONDITION] = -2; // counted by sense key
STATUS_ERROR_INDEX[ScsiStatus.BUSY] = 0;
STATUS_ERROR_INDEX[ScsiStatus.RESERVATION_CONFLICT] = 1;
STATUS_ERROR_INDEX[ScsiStatus.TASK_SET_FULL] = 2;
STATUS_ERROR_INDEX[ScsiStatus.ACA_ACTIVE] = 3;
STATUS_ERROR_INDEX[ScsiStatus.TASK_ABORTED] = 4;

// ---- counter layout ------------------------------------------------------------

/** Latency histogram: bucket i counts latencies in [2^i, 2^(i+1)) µs; bucket 0 also takes < 1 µs, bucket 31 everything ≥ 2^31 µs. */
export const HISTOGRAM_BUCKETS = 32;

/** Offsets into a counter set's Float64Array. */
export const Counter = {
  READ_COMMANDS: 0,
  WRITE_COMMANDS: 1,
  OTHER_COMMANDS: 2,
  READ_BYTES: 3,
  WRITE_BYTES: 4,
  /** Commands started and not yet done: the queue depth. A gauge. */
  IN_FLIGHT: 5,
  /** Sum of latencies in µs (the histogram's _sum). */
  READ_LATENCY_SUM_US: 6,
  WRITE_LATENCY_SUM_US: 7,
  OTHER_LATENCY_SUM_US: 8,
  /**
   * Largest latency of the current interval. Intervals belong to one reader, the owner of
   * IoStats.latencyIntervals() (the sampler), whose take() starts the next one; anyone else
   * reads these through IoStats.snapshot() and never resets them.
   */
  READ_LATENCY_MAX_US: 9,
  WRITE_LATENCY_MAX_US: 10,
  /** LUN RESET / ABORT TASK SET / CLEAR TASK SET etc. addressed to this LUN or session. */
  TASK_MANAGEMENT: 11,
  /** 16 slots: CHECK CONDITION by sense key. */
  ERRORS_BY_SENSE_KEY: 12,
  /** 6 slots: other non-GOOD statuses (STATUS_ERROR_NAMES). */
  STATUS_ERRORS: 28,
  /** 32 slots each. */
  READ_HISTOGRAM: 34,
  WRITE_HISTOGRAM: 66,
  SIZE: 98,
} as const;

const RC = Counter.READ_COMMANDS;
const WC = Counter.WRITE_COMMANDS;
const OC = Counter.OTHER_COMMANDS;
const RB = Counter.READ_BYTES;
const WB = Counter.WRITE_BYTES;
const IF = Counter.IN_FLIGHT;
const RS = Counter.READ_LATENCY_SUM_US;
const WS = Counter.WRITE_LATENCY_SUM_US;
const OS = Counter.OTHER_LATENCY_SUM_US;
const RM = Counter.READ_LATENCY_MAX_US;
const WM = Counter.WRITE_LATENCY_MAX_US;
const RH = Counter.READ_HISTOGRAM;
const WH = Counter.WRITE_HISTOGRAM;

/** Histogram bucket of a latency in µs. */
export function latencyBucket(us: number): number {
  if (!(us >= 2)) return 0; // also NaN and negatives (a clock step)
  if (us >= 2147483648) return HISTOGRAM_BUCKETS - 1;
  return 31 - Math.clz32(us); // clz32 truncates to uint32: floor(log2(us))
}

/** Sense key UNIT ATTENTION (SPC-4 Table 54): a notice (29h/00h after every login), not a failure. */
export const UNIT_ATTENTION_SENSE_KEY = 6;
const UA_SLOT = Counter.ERRORS_BY_SENSE_KEY + UNIT_ATTENTION_SENSE_KEY;

/**
 * Errors in a counter set: CHECK CONDITION by sense key, except UNIT ATTENTION (counted
 * apart: unitAttentionCount), plus other non-GOOD statuses.
 */
export function errorCount(c: Float64Array): number {
  let n = 0;
  for (let i = Counter.ERRORS_BY_SENSE_KEY; i < Counter.READ_HISTOGRAM; i++) if (i !== UA_SLOT) n += c[i];
  return n;
}

/** Commands answered CHECK CONDITION / UNIT ATTENTION: the initiator is told of a reset, a login, a change. */
export function unitAttentionCount(c: Float64Array): number {
  return c[UA_SLOT];
}

/**
 * Latency at quantile q (0..1) in µs, from a histogram (`hist[offset..offset+32)`),
 * interpolating linearly inside the bucket, as Prometheus' histogram_quantile does.
 * `maxUs` (if > 0) caps the answer: no quantile exceeds the largest latency seen.
 * Returns 0 for an empty histogram.
 */
export function histogramQuantile(hist: ArrayLike<number>, offset: number, q: number, maxUs = 0): number {
  let total = 0;
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) total += hist[offset + i];
  if (total <= 0) return 0;
  const rank = q * total;
  let cum = 0;
  for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
    const n = hist[offset + i];
    if (n > 0 && cum + n >= rank) {
      const lower = i === 0 ? 0 : 2 ** i;
      let v: number;
      if (i === HISTOGRAM_BUCKETS - 1) v = maxUs > 0 ? maxUs : lower; // open-ended bucket
      else v = lower + ((rank - cum) / n) * (2 ** (i + 1) - lower);
      return maxUs > 0 && v > maxUs ? maxUs : v;
    }
    cum += n;
  }
  return maxUs; // unreachable unless q > 1
}

// ---- counter sets ------------------------------------------------------------------

export class CounterSet {
  readonly c = new Float64Array(Counter.SIZE);
}

/** A TPG LUN's counters: they outlive sessions and are what Prometheus exports. */
export class LunCounters extends CounterSet {
  constructor(
    readonly key: string,
    readonly targetName: string,
    readonly tpgTag: number,
    readonly lun: number,
    /** Storage object name (label `storage_object`) and its backstore plugin (label `backstore`). */
    readonly storageObject: string,
    readonly backstore: string,
  ) {
    super();
  }
}

export interface SessionIdentity {
  initiatorName: string;
  targetName?: string;
  tpgTag?: number;
  isid?: string;
  sessionType?: "Normal" | "Discovery";
}

export class SessionCounters extends CounterSet {
  readonly connections = new Map<number, ConnectionCounters>();
  /** Cleared by closeSession; handles kept by a late command still count into the LUN and appliance totals. */
  open = true;
  constructor(
    readonly id: string,
    readonly identity: SessionIdentity,
    readonly openedAt: number,
  ) {
    super();
  }
}

export class ConnectionCounters extends CounterSet {
  constructor(
    readonly session: SessionCounters,
    readonly cid: number,
    readonly remoteAddress: string,
  ) {
    super();
  }
  get key(): string {
    return `${this.session.id}/${this.cid}`;
  }
}

// ---- logins and task management --------------------------------------------------

/**
 * Login failure reasons, a closed set so a hostile initiator cannot grow the label
 * space. The first ones follow the Login Response status (RFC 7143 §11.13.5).
 */
export const LOGIN_FAILURE_REASONS = [
  "initiator_error", // 0200
  "authentication_failed", // 0201
  "authorization_failed", // 0202: not in the ACL, no demo mode
  "target_not_found", // 0203
  "target_removed", // 0204
  "unsupported_version", // 0205
  "too_many_connections", // 0206
  "missing_parameter", // 0207
  "cannot_include_in_session", // 0208
  "session_type_not_supported", // 0209
  "session_does_not_exist", // 020a
  "invalid_during_login", // 020b
  "target_error", // 0300
  "service_unavailable", // 0301: e.g. TPG disabled
  "out_of_resources", // 0302
  "negotiation_failed", // a key the target cannot accept
  "protocol_error", // malformed PDU, bad sequence
  "timeout", // login did not finish in time
  "connection_lost", // socket closed during login
  "throttled", // refused unheard: too many failed logins from the address (iscsi/throttle.ts)
] as const;
export type LoginFailureReason = (typeof LOGIN_FAILURE_REASONS)[number];

/**
 * One refused login, built once by the fabric (IscsiFabric.loginFailed / loginLost) and handed
 * to IoStats.loginFailed: the counter, the recent-failures list and the event log all take
 * this one record, so a refusal is written in one place and cannot be counted twice or missed.
 */
export interface LoginFailureRecord {
  /** The metrics label (closed set). */
  reason: LoginFailureReason;
  /** Why the login machine refused it, in words (iscsi/login.ts LoginRefusalReason), when it did. */
  cause?: string;
  message: string;
  initiatorName?: string;
  /** As the initiator asked for it (maybe unknown to the engine). */
  targetName?: string;
  tpgTag?: number;
  remote?: string;
  /** Wall-clock ms. */
  at: number;
}

/** Recent refused logins kept in memory (the console's list; history.db keeps them all). */
export const RECENT_LOGIN_FAILURES = 200;

/** The reason for a Login Response status class/detail (RFC 7143 §11.13.5). */
export function loginFailureReason(statusClass: number, statusDetail: number): LoginFailureReason {
  if (statusClass === 2) return statusDetail <= 0x0b ? LOGIN_FAILURE_REASONS[statusDetail] : "initiator_error";
  if (statusClass === 3) return statusDetail === 1 ? "service_unavailable" : statusDetail === 2 ? "out_of_resources" : "target_error";
  return "protocol_error";
}

/** Task management function codes (RFC 7143 §11.5.1) → label values; index = function code. */
export const TMF_FUNCTION_NAMES = [
  "unknown",
  "abort_task",
  "abort_task_set",
  "clear_aca",
  "clear_task_set",
  "lun_reset",
  "target_warm_reset",
  "target_cold_reset",
  "task_reassign",
] as const;

/** Login counters keyed by `${targetName}|${tpgTag}`; "" when the target is unknown. */
export interface LoginCounts {
  targetName: string;
  tpgTag: number | undefined;
  successes: number;
  /** By LOGIN_FAILURE_REASONS index. */
  failures: Float64Array;
}

// ---- the per-command handle ----------------------------------------------------------

export type Clock = () => number;
const defaultClock: Clock = () => performance.now();

/**
 * What the transport keeps per (connection, LUN): every command does
 * `const t = h.start()` when it is dispatched and `h.done(t, kind, bytes, status, senseKey)`
 * when its response is sent. Exactly one done per start, whatever happens
 * (an aborted task is done with TASK_ABORTED), or in-flight counts drift.
 */
export class IoHandle {
  constructor(
    private readonly stats: IoStats,
    readonly session: Float64Array,
    readonly connection: Float64Array,
    readonly lun: Float64Array,
    private readonly appliance: Float64Array,
    private readonly now: Clock,
  ) {}

  /**
   * A command was dispatched. Returns its start time, or -1 when counting is off.
   * The clock read is most of the cost (~40-80 ns); a transport that dispatches a
   * batch of PDUs from one socket read may pass one `stats.now()` for all of them.
   */
  start(now?: number): number {
    if (!this.stats.enabled) return -1;
    this.session[IF]++;
    this.connection[IF]++;
    this.lun[IF]++;
    this.appliance[IF]++;
    return now === undefined ? this.now() : now;
  }

  /**
   * The command's response was sent. `bytes`: Data-In sent (reads) or Data-Out
   * received (writes). `status`: SAM status; `senseKey` for CHECK CONDITION (senseKeyOf()).
   * `now`: optional shared clock read (`stats.now()`), as for start().
   */
  done(t0: number, kind: IoKind, bytes: number, status: number, senseKey: number, now?: number): void {
    // Checks t0, not `enabled`: a command started while on is finished even if switched off since.
    if (t0 < 0) return;
    let us = ((now === undefined ? this.now() : now) - t0) * 1000;
    if (!(us >= 0)) us = 0;
    let err = STATUS_ERROR_INDEX[status & 0xff];
    if (err === -2) err = Counter.ERRORS_BY_SENSE_KEY + (senseKey & 0x0f);
    else if (err >= 0) err += Counter.STATUS_ERRORS;
    const bucket = latencyBucket(us);
    record(this.session, kind, bytes, us, bucket, err);
    record(this.connection, kind, bytes, us, bucket, err);
    record(this.lun, kind, bytes, us, bucket, err);
    record(this.appliance, kind, bytes, us, bucket, err);
  }
}

function record(a: Float64Array, kind: number, bytes: number, us: number, bucket: number, err: number): void {
  a[IF]--;
  if (kind === IoKind.READ) {
    a[RC]++;
    a[RB] += bytes;
    a[RS] += us;
    a[RH + bucket]++;
    if (us > a[RM]) a[RM] = us;
  } else if (kind === IoKind.WRITE) {
    a[WC]++;
    a[WB] += bytes;
    a[WS] += us;
    a[WH + bucket]++;
    if (us > a[WM]) a[WM] = us;
  } else {
    a[OC]++;
    a[OS] += us;
  }
  if (err >= 0) a[err]++;
}

// ---- the registry ------------------------------------------------------------------------

/** The latency-maxima intervals, held by their one owner (IoStats.latencyIntervals). */
export interface LatencyIntervals {
  readonly owner: string;
  /** Copies the set into `into` (as snapshot() does) and starts the set's next interval: its maxima go to 0. */
  take(set: CounterSet, into: Float64Array): void;
  /** Gives the intervals up (a stopped sampler); another reader may claim them. */
  release(): void;
}

export interface IoStatsOptions {
  /** Monotonic milliseconds for latencies (default performance.now). */
  clock?: Clock;
  /** Wall-clock milliseconds for session open times (default Date.now). */
  wallClock?: Clock;
}

export function lunKey(targetName: string, tpgTag: number, lun: number): string {
  return `${targetName}|${tpgTag}|${lun}`;
}

export class IoStats {
  /** Counters off: start() returns -1 and done() returns at once (the overhead benchmark's baseline). */
  enabled = true;
  /** Every command the appliance completed. */
  readonly appliance = new CounterSet();
  /** Commands to a LUN number the nexus does not map (REPORT LUNS, probes): in the appliance total only. */
  readonly unmappedLun = new CounterSet();
  readonly luns = new Map<string, LunCounters>();
  readonly sessions = new Map<string, SessionCounters>();
  readonly logins = new Map<string, LoginCounts>();
  /** Task management requests by function code (TMF_FUNCTION_NAMES), all targets. */
  readonly taskManagement = new Float64Array(TMF_FUNCTION_NAMES.length);
  /** The last RECENT_LOGIN_FAILURES refused logins, oldest first. */
  private readonly recentFailures: LoginFailureRecord[] = [];
  /** Sessions closed since start (Prometheus counter). */
  sessionsClosed = 0;
  /** Who owns the latency-maxima intervals (latencyIntervals()), if anyone. */
  private intervalOwner: string | undefined;
  /** Bumped whenever a LUN or session is added or removed, so the sampler re-lists only then. */
  version = 0;
  private readonly clock: Clock;
  private readonly wallClock: Clock;

  constructor(opts: IoStatsOptions = {}) {
    this.clock = opts.clock ?? defaultClock;
    this.wallClock = opts.wallClock ?? Date.now;
  }

  /**
   * The LUN's counters, created on first use. If the LUN now exports a different
   * storage object (deleted and re-created), it gets fresh counters: a new series.
   */
  lun(targetName: string, tpgTag: number, lun: number, storageObject: string, backstore = ""): LunCounters {
    const key = lunKey(targetName, tpgTag, lun);
    const existing = this.luns.get(key);
    if (existing && existing.storageObject === storageObject && existing.backstore === backstore) return existing;
    const created = new LunCounters(key, targetName, tpgTag, lun, storageObject, backstore);
    this.luns.set(key, created);
    this.version++;
    return created;
  }

  /** Forget a deleted LUN's counters (its Prometheus series ends). */
  removeLun(targetName: string, tpgTag: number, lun: number): void {
    if (this.luns.delete(lunKey(targetName, tpgTag, lun))) this.version++;
  }

  openSession(id: string, identity: SessionIdentity): SessionCounters {
    const s = new SessionCounters(id, identity, this.wallClock());
    this.sessions.set(id, s);
    this.version++;
    return s;
  }

  /** The session ended: its counters go; the LUN and appliance totals keep what it did. */
  closeSession(session: SessionCounters): void {
    if (!session.open) return;
    session.open = false;
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
    this.sessionsClosed++;
    this.version++;
  }

  openConnection(session: SessionCounters, cid: number, remoteAddress: string): ConnectionCounters {
    const conn = new ConnectionCounters(session, cid, remoteAddress);
    session.connections.set(cid, conn);
    this.version++;
    return conn;
  }

  closeConnection(conn: ConnectionCounters): void {
    if (conn.session.connections.get(conn.cid) === conn) {
      conn.session.connections.delete(conn.cid);
      this.version++;
    }
  }

  /** The latency clock (ms, monotonic), for a transport that shares one read across a batch of commands. */
  now(): number {
    return this.clock();
  }

  /** The per-(connection, LUN) handle; `lun` undefined for an unmapped LUN number. */
  handle(session: SessionCounters, connection: ConnectionCounters, lun: LunCounters | undefined): IoHandle {
    return new IoHandle(this, session.c, connection.c, (lun ?? this.unmappedLun).c, this.appliance.c, this.clock);
  }

  loginSucceeded(targetName: string | undefined, tpgTag: number | undefined): void {
    this.loginCounts(targetName, tpgTag).successes++;
  }

  /**
   * A login was refused: counted by reason and target, and kept among the recent failures.
   * `label`: the target and TPG only when the engine has that target (a name the initiator
   * made up must not become a label); undefined otherwise.
   */
  loginFailed(record: LoginFailureRecord, label?: { targetName: string; tpgTag?: number }): void {
    const i = LOGIN_FAILURE_REASONS.indexOf(record.reason);
    this.loginCounts(label?.targetName, label?.tpgTag).failures[i < 0 ? 0 : i]++;
    this.recentFailures.push(record);
    if (this.recentFailures.length > RECENT_LOGIN_FAILURES) this.recentFailures.splice(0, this.recentFailures.length - RECENT_LOGIN_FAILURES);
  }

  /** The most recent refused logins (up to RECENT_LOGIN_FAILURES), oldest first; a copy. */
  recentLoginFailures(): LoginFailureRecord[] {
    return [...this.recentFailures];
  }

  /** Refused logins since start, all reasons and targets. */
  get loginFailuresTotal(): number {
    let n = 0;
    for (const lc of this.logins.values()) for (const f of lc.failures) n += f;
    return n;
  }

  /**
   * A copy of a counter set as it is now: counters, gauges, histograms and the current
   * interval's latency maxima. Reading never changes the counters; this is how every reader
   * but the interval owner sees them.
   */
  snapshot(set: CounterSet, into: Float64Array = new Float64Array(Counter.SIZE)): Float64Array {
    into.set(set.c);
    return into;
  }

  /**
   * Claims the latency-maxima intervals (READ/WRITE_LATENCY_MAX_US): only the claimant's
   * take() starts a new interval, so a maximum is never reset under another reader's feet.
   * One owner per IoStats (the sampler); a second claim throws until the first releases.
   */
  latencyIntervals(owner: string): LatencyIntervals {
    if (this.intervalOwner !== undefined) throw new Error(`latency intervals of these counters are already read by ${this.intervalOwner}`);
    this.intervalOwner = owner;
    let open = true;
    return {
      owner,
      take: (set, into) => {
        if (!open) throw new Error(`${owner} released its latency intervals`);
        into.set(set.c);
        set.c[RM] = 0;
        set.c[WM] = 0;
      },
      release: () => {
        if (open && this.intervalOwner === owner) this.intervalOwner = undefined;
        open = false;
      },
    };
  }

  /** A task management request (RFC 7143 §11.5.1 function code), with the LUN it addressed if any. */
  taskManagementRequest(fn: number, session?: SessionCounters, lun?: LunCounters): void {
    this.taskManagement[fn >= 1 && fn < TMF_FUNCTION_NAMES.length ? fn : 0]++;
    if (session) session.c[Counter.TASK_MANAGEMENT]++;
    if (lun) lun.c[Counter.TASK_MANAGEMENT]++;
  }

  /** LUN RESET, TARGET WARM RESET and TARGET COLD RESET requests. */
  get resets(): number {
    return this.taskManagement[5] + this.taskManagement[6] + this.taskManagement[7];
  }

  private loginCounts(targetName: string | undefined, tpgTag: number | undefined): LoginCounts {
    const key = `${targetName ?? ""}|${tpgTag ?? ""}`;
    let lc = this.logins.get(key);
    if (!lc) {
      lc = { targetName: targetName ?? "", tpgTag, successes: 0, failures: new Float64Array(LOGIN_FAILURE_REASONS.length) };
      this.logins.set(key, lc);
    }
    return lc;
  }
}

/*
 * How the transport hooks in
 * ==========================
 * One `IoStats` per engine (created next to the Engine and handed to the iSCSI
 * fabric and to the sampler). The fabric makes these calls:
 *
 * Login (iscsi login state machine, when the final Login Response is sent):
 *   - success, Normal session, new session (TSIH assigned):
 *       session.stats = stats.openSession(sessionId, { initiatorName, targetName, tpgTag, isid, sessionType })
 *     then for every connection, leading or added (MC/S):
 *       conn.stats = stats.openConnection(session.stats, cid, `${remoteAddress}:${remotePort}`)
 *       stats.loginSucceeded(targetName, tpgTag)      // Discovery: stats.loginSucceeded(undefined, undefined)
 *   - failure (any non-zero status class, a protocol error, a timeout, a socket closed mid-login):
 *       stats.loginFailed({ reason: loginFailureReason(statusClass, statusDetail), ... }, targetExists ? { targetName, tpgTag } : undefined)
 *     or a literal reason ("negotiation_failed", "protocol_error", "timeout", "connection_lost").
 *     The target is a label only when the engine has that target (bounded label space).
 *
 * Per command (SCSI Command PDU), after all Data-Out is in, where the task is dispatched
 * to `device.execute(task, view, resolved)` or `dispatchScsi(task, view)`:
 *       const h = conn.handleFor(task.lun)   // cached per (connection, initiator LUN), see below
 *       const t0 = h.start()                  // keep t0 (a number) on the task
 *   and where the SCSI Response (or the final Data-In with status) is queued for sending:
 *       h.done(t0, ioKindOfCdb(task.cdb), bytes, result.status, senseKeyOf(result.sense))
 *     bytes = Data-In bytes actually sent (after truncation to EDTL) for reads,
 *             Data-Out bytes received for writes, 0 for other commands.
 *   Optional: where one socket read dispatches several commands (or one writev sends several
 *   responses), read the clock once, `const now = stats.now()`, and pass it as h.start(now) /
 *   h.done(..., now): the clock read is ~2/3 of the per-command cost (bench-hotpath.ts).
 *   A task that ends without a response (aborted by ABORT TASK, connection dropped) still gets
 *       h.done(t0, kind, 0, ScsiStatus.TASK_ABORTED, 0)
 *   exactly once, so inFlight returns to 0.
 *   Handle cache: conn.handleFor(lun) = Map<number, IoHandle> on the connection, rebuilt when
 *   tpg.generation changes:
 *       const resolved = view.resolve(lun); const tpgLun = resolved && tpg.luns.get(resolved.binding.tpgLunIndex)
 *       stats.handle(session.stats, conn.stats,
 *         tpgLun && stats.lun(tpg.target.wwn, tpg.tag, tpgLun.index, tpgLun.storageObject.name, tpgLun.storageObject.plugin))
 *
 * Task management (TMF Request PDU, when it is received):
 *       stats.taskManagementRequest(fn, session.stats, lunCountersIfLunScoped)
 *
 * Session end (last connection gone, logout, reinstatement, closeSessions):
 *       for each connection: stats.closeConnection(conn.stats)
 *       stats.closeSession(session.stats)
 *   after (or regardless of) the in-flight tasks being done: their done() still counts
 *   into the LUN and appliance totals.
 *
 * LUNs follow the engine's 'lun' events (createEngine in engine/index.ts wires followLuns()):
 * a created LUN gets its counters at once (so /metrics and the charts show it before any IO),
 * a deleted one's counters go.
 */

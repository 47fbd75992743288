/**
 * Live monitoring in the appliance process: starts the 1 Hz sampler, stores its
 * minute aggregates (7 days), the activity log (30 days / 100 000 rows) and the audit
 * log (400 days / 1 000 000 rows, its own table) in history.db, serves GET /metrics,
 * and answers the sessions/monitor/events routers.
 *
 * server/main.ts calls startMonitor() once; the routers find the instance with
 * getMonitor() (a process-wide registry: see toolchain.md on module singletons).
 */
import { requestClient } from "../http/client";
import { createHash, timingSafeEqual } from "node:crypto";
import type http from "node:http";
import { and, asc, desc, eq, gte, like, lt, lte, sql, type SQL } from "drizzle-orm";
import type { Engine, SessionInfo } from "../engine/core/engine";
import { formatPrometheus, PROMETHEUS_CONTENT_TYPE } from "../engine/core/metrics";
import { healthMetrics } from "../health";
import type { IoHistory, IoSample, IoSampler, MinuteAggregate } from "../engine/core/sampler";
import { Counter, errorCount, SENSE_KEY_NAMES, STATUS_ERROR_NAMES, UNIT_ATTENTION_SENSE_KEY, unitAttentionCount, type IoStats } from "../engine/core/stats";
import { engineMonitor } from "../engine/index";
import type { FabricEvent, IscsiFabric } from "../engine/iscsi/fabric";
import { processSlot } from "../process-slot";
import { openHistory, type OpenedHistory } from "./db";
import { AGGREGATED_TYPES, ascMeaning, AUDIT_TYPES, setEventSink, type EventInput } from "./events";
import { auditEvents, events, minuteStats, monitorSettings } from "./schema";

export const MINUTE_RETENTION_MS = 7 * 24 * 3600_000;
export const EVENT_RETENTION_MS = 30 * 24 * 3600_000;
export const EVENT_MAX_ROWS = 100_000;
/** The audit log's own retention: a year and a month, and a cap only a runaway could reach. */
export const AUDIT_RETENTION_MS = 400 * 24 * 3600_000;
export const AUDIT_MAX_ROWS = 1_000_000;
/** Aggregated events (AGGREGATED_TYPES) share one row per key within this window. */
export const AGGREGATE_WINDOW_MS = 60_000;
const PRUNE_EVERY_MS = 3600_000;
/** Activity rows are written together this long after the first of them, or at this many. */
const EVENT_BATCH_MS = 50;
const EVENT_BATCH_ROWS = 256;

export type HistoryRange = "15m" | "1h" | "24h" | "7d";
/** Range → [span ms, bucket ms] of the stored history (15m comes from the sampler's rings). */
const RANGES: Record<Exclude<HistoryRange, "15m">, [number, number]> = {
  "1h": [3600_000, 60_000],
  "24h": [24 * 3600_000, 5 * 60_000],
  "7d": [7 * 24 * 3600_000, 30 * 60_000],
};

export interface SessionRow extends SessionInfo {
  iops: number;
  mbps: number;
  readIops: number;
  writeIops: number;
  readMBps: number;
  writeMBps: number;
  inFlight: number;
  /** Commands and bytes since login. */
  totals: { readCommands: number; writeCommands: number; otherCommands: number; readBytes: number; writeBytes: number; errors: number; unitAttentions: number };
}

export interface LunRow {
  key: string;
  targetName: string;
  tpgTag: number;
  lun: number;
  storageObject: string;
  backstore: string;
  sizeBytes: number;
  latest: IoSample | undefined;
  totals: { readCommands: number; writeCommands: number; otherCommands: number; readBytes: number; writeBytes: number; errors: number; unitAttentions: number; inFlight: number };
}

export interface EventRow {
  id: number;
  /** Which log the row is in: "audit" (audit_events) or "activity" (events). Ids are unique across both, in recording order. */
  log: EventLog;
  /** How many occurrences the row stands for (aggregated refused logins and sign-ins), the last at lastAt. */
  count: number;
  lastAt: number | null;
  at: number;
  type: string;
  targetName: string | null;
  tpgTag: number | null;
  initiatorName: string | null;
  sessionId: string | null;
  remote: string | null;
  lun: number | null;
  actor: string | null;
  reason: string | null;
  message: string | null;
  detail: Record<string, unknown> | null;
}

export type EventLog = "audit" | "activity";

export interface EventFilter {
  /** One log only (default both, merged newest first). */
  log?: EventLog;
  types?: string[];
  /**
   * Leave out reset notices: the unit attentions with ASC 29h (power on, reset, I_T nexus loss)
   * every new session gets once per LUN (SPC-4 §6.x), which otherwise bury the log.
   */
  hideResetNotices?: boolean;
  target?: string;
  initiator?: string;
  from?: number;
  to?: number;
  /** Rows with id < before (paging, newest first). */
  before?: number;
  limit?: number;
}

/** One point of a stored-history chart: a bucket of minutes. */
export interface HistoryPoint {
  t: number;
  readIops: number;
  writeIops: number;
  readMBps: number;
  writeMBps: number;
  readP99Us: number;
  writeP99Us: number;
  readMaxUs: number;
  writeMaxUs: number;
  avgInFlight: number;
  errors: number;
}

export type HistoryResult =
  | { range: "15m"; source: "live"; live: IoHistory | undefined }
  | { range: Exclude<HistoryRange, "15m">; source: "stored"; bucketMs: number; from: number; to: number; points: HistoryPoint[] };

function totalsOf(c: Float64Array) {
  return {
    readCommands: c[Counter.READ_COMMANDS],
    writeCommands: c[Counter.WRITE_COMMANDS],
    otherCommands: c[Counter.OTHER_COMMANDS],
    readBytes: c[Counter.READ_BYTES],
    writeBytes: c[Counter.WRITE_BYTES],
    errors: errorCount(c),
    unitAttentions: unitAttentionCount(c),
  };
}

/** SPC names as an admin reads them: MEDIUM_ERROR → medium error. */
const readable = (name: string) => name.toLowerCase().replace(/_/g, " ");

/**
 * The errors of counter sets by kind (sense key, or status for non-CHECK CONDITION), the
 * non-zero ones, largest first: they add up to errorCount() of the same sets.
 */
export function errorBreakdown(sets: Float64Array[]): { kind: string; count: number }[] {
  const out: { kind: string; count: number }[] = [];
  for (let k = 0; k < 16; k++) {
    if (k === UNIT_ATTENTION_SENSE_KEY) continue;
    const n = sets.reduce((s, c) => s + c[Counter.ERRORS_BY_SENSE_KEY + k], 0);
    if (n > 0) out.push({ kind: readable(SENSE_KEY_NAMES[k]), count: n });
  }
  for (let k = 0; k < STATUS_ERROR_NAMES.length; k++) {
    const n = sets.reduce((s, c) => s + c[Counter.STATUS_ERRORS + k], 0);
    if (n > 0) out.push({ kind: readable(STATUS_ERROR_NAMES[k]), count: n });
  }
  return out.sort((a, b) => b.count - a.count);
}

export class Monitor {
  readonly stats: IoStats;
  readonly sampler: IoSampler;
  readonly fabric: IscsiFabric;
  private readonly timers: NodeJS.Timeout[] = [];
  private insertsSincePrune = 0;
  private readonly insertMinute;
  private readonly insertEvent;
  private readonly insertAudit;
  private readonly bumpEvent;
  private readonly bumpAudit;
  /** Aggregated events of the current window: key → the row that counts them. */
  private aggregates = new Map<string, { id: number; table: EventLog }>();
  private aggregateWindow = -1;
  /** The next event id: one sequence for both logs, so that merged they keep the order events were recorded in. */
  private nextId: number;
  /**
   * Activity rows (logins, logouts, unit attentions...) not yet written: they are written together,
   * in one transaction, EVENT_BATCH_MS after the first of them (or at EVENT_BATCH_ROWS), so an iSCSI
   * login does not wait for SQLite. Every reader here flushes them first (events(), eventFacets(),
   * prune(), close()); audit and aggregated rows are written at once, after the pending ones.
   */
  private pendingRows: unknown[][] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly insertEvents: (rows: unknown[][]) => void;
  /**
   * The fabric's events: logins, logouts and unit attentions (several per login) are queued for
   * the batch straight from the event's fields, without the copy record() would make; refused
   * logins (aggregated) go through record().
   */
  private readonly onFabricEvent = (e: FabricEvent) => {
    if (this.closed) return;
    const message = e.message ?? (e.type.startsWith("unit_attention") ? ascMeaning(e.detail?.asc, e.detail?.ascq) : undefined);
    if (AGGREGATED_TYPES.has(e.type)) {
      this.record({ ...e, actor: undefined, message });
      return;
    }
    try {
      this.queueActivity(e.at, e.type, e.targetName, e.tpgTag, e.initiatorName, e.sessionId, e.remote, e.lun, undefined, e.reason, message, e.detail, 1);
    } catch (err) {
      process.stderr.write(`portico: event log: ${(err as Error).message}\n`);
    }
  };
  /** Retention statements, prepared once (prune runs every 5 000 rows and hourly). */
  private readonly pruneStatements;
  private readonly unsubscribeMinute: () => void;
  closed = false;

  constructor(
    readonly engine: Engine,
    readonly history: OpenedHistory,
  ) {
    const m = engineMonitor(engine);
    if (!m) throw new Error("the engine has no iSCSI fabric to monitor");
    this.stats = m.stats;
    this.sampler = m.sampler;
    this.fabric = m.fabric;
    const s = history.sqlite;
    this.insertMinute = s.prepare(
      `INSERT OR REPLACE INTO minute_stats (minute, scope, key, target_name, tpg_tag, lun, storage_object, initiator_name, samples,
        read_commands, write_commands, other_commands, read_bytes, write_bytes, errors, read_p50_us, read_p99_us, read_max_us,
        write_p50_us, write_p99_us, write_max_us, avg_in_flight, max_in_flight)
       VALUES (@minute, @scope, @key, @targetName, @tpgTag, @lun, @storageObject, @initiatorName, @samples, @readCommands, @writeCommands,
        @otherCommands, @readBytes, @writeBytes, @errors, @readP50Us, @readP99Us, @readMaxUs, @writeP50Us, @writeP99Us, @writeMaxUs,
        @avgInFlight, @maxInFlight)`,
    );
    const insert = (table: string) =>
      s.prepare(
        `INSERT INTO ${table} (id, at, type, target_name, tpg_tag, initiator_name, session_id, remote, lun, actor, reason, message, detail, count)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
    const maxId = s.prepare("SELECT max(coalesce((SELECT max(id) FROM events), 0), coalesce((SELECT max(id) FROM audit_events), 0)) AS n").get() as { n: number };
    this.nextId = maxId.n + 1;
    this.insertEvent = insert("events");
    this.insertAudit = insert("audit_events");
    this.insertEvents = s.transaction((rows: unknown[][]) => {
      for (const r of rows) this.insertEvent.run(...r);
    });
    const bump = (table: string) => s.prepare(`UPDATE ${table} SET count = count + ?, last_at = max(coalesce(last_at, at), ?) WHERE id = ?`);
    this.bumpEvent = bump("events");
    this.bumpAudit = bump("audit_events");
    this.pruneStatements = {
      minutes: s.prepare("DELETE FROM minute_stats WHERE minute < ?"),
      eventsOld: s.prepare("DELETE FROM events WHERE at < ?"),
      eventsOver: s.prepare("DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)"),
      auditOld: s.prepare("DELETE FROM audit_events WHERE at < ?"),
      auditOver: s.prepare("DELETE FROM audit_events WHERE id <= (SELECT id FROM audit_events ORDER BY id DESC LIMIT 1 OFFSET ?)"),
    };
    this.unsubscribeMinute = this.sampler.onMinute((rows) => this.storeMinutes(rows));
    this.fabric.events.on("event", this.onFabricEvent);
    setEventSink((e) => this.record(e));
    this.sampler.start();
    this.prune();
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(() => {
        try {
          fn();
        } catch (err) {
          process.stderr.write(`portico: monitor: ${(err as Error).message}\n`);
        }
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(PRUNE_EVERY_MS, () => this.prune());
    // LUN counters need no polling here: they follow the engine's LUN events (engine/index.ts).
  }

  /** Stops sampling, writes the minute in progress to history.db, closes it. Idempotent. */
  close(): void {
    if (this.closed) return;
    for (const t of this.timers) clearInterval(t);
    this.sampler.stop();
    this.flushMinute();
    this.flushEvents();
    this.closed = true;
    this.unsubscribeMinute();
    this.fabric.events.off("event", this.onFabricEvent);
    setEventSink(undefined);
    this.history.close();
  }

  // ---- writing ------------------------------------------------------------------------------------

  /**
   * Writes the minute in progress as a partial minute (its `samples` < 60), as if it had
   * ended now: at shutdown, the IO since the last full minute would otherwise be lost.
   * Only for shutdown: if sampling went on, the rest of that minute would later replace
   * this row (same minute, scope and key). Returns how many rows it wrote.
   *
   * The sampler's closeCurrentMinute() hands the aggregates to our onMinute hook
   * (test/unit/monitor/history.test.ts checks the rows arrive).
   */
  flushMinute(): number {
    if (this.closed) return 0;
    let written = 0;
    const count = this.sampler.onMinute((rows) => (written = rows.length));
    try {
      this.sampler.closeCurrentMinute();
    } catch (err) {
      process.stderr.write(`portico: monitor: partial minute: ${(err as Error).message}\n`);
    } finally {
      count();
    }
    return written;
  }

  private storeMinutes(rows: MinuteAggregate[]): void {
    if (this.closed || rows.length === 0) return;
    const tx = this.history.sqlite.transaction((list: MinuteAggregate[]) => {
      for (const r of list) {
        this.insertMinute.run({
          targetName: null, tpgTag: null, lun: null, storageObject: null, initiatorName: null,
          ...r,
        });
      }
    });
    tx(rows);
  }

  /**
   * Appends to the audit log (events.ts AUDIT_TYPES) or the activity log; never throws (a full
   * disk must not break a login). Refused logins and sign-ins (AGGREGATED_TYPES) are counted on
   * one row per initiator or user, reason and source address per minute.
   */
  record(e: EventInput): void {
    if (this.closed) return;
    try {
      const table: EventLog = AUDIT_TYPES.has(e.type) ? "audit" : "activity";
      const at = e.at ?? Date.now();
      const count = Math.max(1, Math.floor(e.count ?? 1));
      if (table === "activity" && !AGGREGATED_TYPES.has(e.type)) {
        this.queueActivity(at, e.type, e.targetName, e.tpgTag, e.initiatorName, e.sessionId, e.remote, e.lun, e.actor, e.reason, e.message, e.detail, count);
        return;
      }
      this.flushEvents();
      let key: string | undefined;
      if (AGGREGATED_TYPES.has(e.type)) {
        const window = Math.floor(at / AGGREGATE_WINDOW_MS);
        if (window !== this.aggregateWindow) {
          this.aggregates = new Map();
          this.aggregateWindow = window;
        }
        key = [e.type, e.initiatorName ?? "", e.actor ?? "", e.targetName ?? "", e.tpgTag ?? "", e.reason ?? "", String(e.detail?.cause ?? ""), addressOf(e.remote)].join("\u0000");
        const row = this.aggregates.get(key);
        if (row && (row.table === "audit" ? this.bumpAudit : this.bumpEvent).run(count, at, row.id).changes === 1) return;
      }
      const id = this.nextId;
      (table === "audit" ? this.insertAudit : this.insertEvent).run(
        id, at, e.type, e.targetName ?? null, e.tpgTag ?? null, e.initiatorName ?? null, e.sessionId ?? null,
        e.remote ?? null, e.lun ?? null, e.actor ?? null, e.reason ?? null, e.message ?? null,
        e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : null, count,
      );
      this.nextId = id + 1;
      if (key !== undefined) {
        // Bounded: a flood of distinct keys within one minute starts new rows rather than growing the map.
        if (this.aggregates.size >= 10_000) this.aggregates.clear();
        this.aggregates.set(key, { id, table });
      }
      // A flood must not outgrow the caps between hourly prunes.
      if (++this.insertsSincePrune >= 5_000) this.prune();
    } catch (err) {
      process.stderr.write(`portico: event log: ${(err as Error).message}\n`);
    }
  }

  /** An activity row for the next batch (EVENT_BATCH_MS / EVENT_BATCH_ROWS). Throws only if a caller's detail cannot be serialised. */
  private queueActivity(
    at: number, type: string, targetName: string | undefined, tpgTag: number | undefined, initiatorName: string | undefined,
    sessionId: string | undefined, remote: string | undefined, lun: number | undefined, actor: string | undefined,
    reason: string | undefined, message: string | undefined, detail: Record<string, unknown> | undefined, count: number,
  ): void {
    this.pendingRows.push([
      this.nextId++, at, type, targetName ?? null, tpgTag ?? null, initiatorName ?? null, sessionId ?? null,
      remote ?? null, lun ?? null, actor ?? null, reason ?? null, message ?? null,
      detail && Object.keys(detail).length ? JSON.stringify(detail) : null, count,
    ]);
    if (this.pendingRows.length >= EVENT_BATCH_ROWS) this.flushEvents();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(this.flushEventsNow, EVENT_BATCH_MS);
      this.flushTimer.unref();
    }
    if (++this.insertsSincePrune >= 5_000) this.prune();
  }

  private readonly flushEventsNow = () => this.flushEvents();

  /** Writes the pending activity rows (record) in one transaction. */
  flushEvents(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pendingRows.length === 0) return;
    const rows = this.pendingRows;
    this.pendingRows = [];
    try {
      this.insertEvents(rows);
    } catch (err) {
      process.stderr.write(`portico: event log: ${(err as Error).message}\n`);
    }
  }

  /** Retention: minutes 7 days; the activity log 30 days / 100 000 rows; the audit log, apart, 400 days / 1 000 000 rows. */
  prune(now = Date.now()): void {
    this.flushEvents();
    this.insertsSincePrune = 0;
    const p = this.pruneStatements;
    p.minutes.run(now - MINUTE_RETENTION_MS);
    p.eventsOld.run(now - EVENT_RETENTION_MS);
    p.eventsOver.run(EVENT_MAX_ROWS);
    p.auditOld.run(now - AUDIT_RETENTION_MS);
    p.auditOver.run(AUDIT_MAX_ROWS);
  }

  // ---- reading ------------------------------------------------------------------------------------

  sessions(): SessionRow[] {
    const rows: SessionRow[] = [];
    for (const info of this.fabric.sessions()) {
      const latest = this.sampler.latest("session", info.id);
      const set = this.stats.sessions.get(info.id);
      const counters = set && this.stats.snapshot(set);
      const readIops = latest?.readIops ?? 0;
      const writeIops = latest?.writeIops ?? 0;
      const readMBps = latest?.readMBps ?? 0;
      const writeMBps = latest?.writeMBps ?? 0;
      rows.push({
        ...info,
        readIops, writeIops, readMBps, writeMBps,
        iops: readIops + writeIops + (latest?.otherIops ?? 0),
        mbps: readMBps + writeMBps,
        // One source for the console: commands in flight at the last 1 Hz sample, as the live feed, Overview and LUN pages show it.
        inFlight: latest?.inFlight ?? 0,
        totals: counters ? totalsOf(counters) : { readCommands: 0, writeCommands: 0, otherCommands: 0, readBytes: 0, writeBytes: 0, errors: 0, unitAttentions: 0 },
      });
    }
    return rows;
  }

  luns(): LunRow[] {
    const out: LunRow[] = [];
    for (const c of this.stats.luns.values()) {
      let sizeBytes = 0;
      try {
        sizeBytes = this.engine.tpg(c.targetName, c.tpgTag).luns.get(c.lun)?.storageObject.sizeBytes ?? 0;
      } catch {
        // deleted meanwhile
      }
      const now = this.stats.snapshot(c);
      out.push({
        key: c.key, targetName: c.targetName, tpgTag: c.tpgTag, lun: c.lun, storageObject: c.storageObject, backstore: c.backstore, sizeBytes,
        latest: this.sampler.latest("lun", c.key),
        totals: { ...totalsOf(now), inFlight: now[Counter.IN_FLIGHT] },
      });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  overview() {
    let capacityBytes = 0;
    let storageObjects = 0;
    for (const so of this.engine.storageObjects.values()) {
      storageObjects++;
      capacityBytes += so.sizeBytes;
    }
    const sessions = this.fabric.sessions();
    const a = this.stats.snapshot(this.stats.appliance);
    const unmapped = this.stats.snapshot(this.stats.unmappedLun);
    return {
      statsEnabled: this.stats.enabled,
      sessions: sessions.filter((s) => s.sessionType === "Normal").length,
      discoverySessions: sessions.filter((s) => s.sessionType === "Discovery").length,
      luns: this.luns().length,
      storageObjects,
      capacityBytes,
      // Command errors (unit attentions apart), and the same errors by kind: the breakdown adds up to the total.
      errorsTotal: errorCount(a) + errorCount(unmapped),
      errorBreakdown: errorBreakdown([a, unmapped]),
      unitAttentionsTotal: unitAttentionCount(a) + unitAttentionCount(unmapped),
      loginFailuresTotal: this.stats.loginFailuresTotal,
      resetsTotal: this.stats.resets,
      latest: this.sampler.latest("appliance"),
    };
  }

  /** A series' history: the live rings for 15 minutes, history.db minute rows (bucketed) beyond. */
  seriesHistory(scope: "appliance" | "lun" | "session", key: string, range: HistoryRange, now = Date.now()): HistoryResult {
    if (range === "15m") return { range, source: "live", live: this.sampler.history(scope, key, 900) };
    const [span, bucketMs] = RANGES[range];
    const from = now - span;
    const b = sql.raw(String(bucketMs));
    const rows = this.history.db
      .select({
        t: sql<number>`(${minuteStats.minute} / ${b}) * ${b}`,
        readCommands: sql<number>`sum(${minuteStats.readCommands})`,
        writeCommands: sql<number>`sum(${minuteStats.writeCommands})`,
        readBytes: sql<number>`sum(${minuteStats.readBytes})`,
        writeBytes: sql<number>`sum(${minuteStats.writeBytes})`,
        seconds: sql<number>`sum(${minuteStats.samples})`,
        readP99Us: sql<number>`max(${minuteStats.readP99Us})`,
        writeP99Us: sql<number>`max(${minuteStats.writeP99Us})`,
        readMaxUs: sql<number>`max(${minuteStats.readMaxUs})`,
        writeMaxUs: sql<number>`max(${minuteStats.writeMaxUs})`,
        avgInFlight: sql<number>`avg(${minuteStats.avgInFlight})`,
        errors: sql<number>`sum(${minuteStats.errors})`,
      })
      .from(minuteStats)
      .where(and(eq(minuteStats.scope, scope), eq(minuteStats.key, key), gte(minuteStats.minute, from)))
      .groupBy(sql`1`)
      .orderBy(sql`1`)
      .all();
    // Rates over the sampled seconds of the bucket (the sampler's 1 s samples), so a partly idle appliance is not averaged down by gaps.
    const points = rows.map((r) => {
      const sec = r.seconds > 0 ? (r.seconds * this.sampler.intervalMs) / 1000 : bucketMs / 1000;
      return {
        t: r.t,
        readIops: r.readCommands / sec,
        writeIops: r.writeCommands / sec,
        readMBps: r.readBytes / sec / 1e6,
        writeMBps: r.writeBytes / sec / 1e6,
        readP99Us: r.readP99Us,
        writeP99Us: r.writeP99Us,
        readMaxUs: r.readMaxUs,
        writeMaxUs: r.writeMaxUs,
        avgInFlight: r.avgInFlight,
        errors: r.errors,
      };
    });
    return { range, source: "stored", bucketMs, from, to: now, points };
  }

  /** Stored minute rows of a series (tests and the CLI): oldest first. */
  minutes(scope: string, key: string, limit = 10_080) {
    return this.history.db
      .select()
      .from(minuteStats)
      .where(and(eq(minuteStats.scope, scope), eq(minuteStats.key, key)))
      .orderBy(asc(minuteStats.minute))
      .limit(limit)
      .all();
  }

  /** The audit and activity logs (or one of them), newest first, filtered. */
  events(f: EventFilter = {}): EventRow[] {
    this.flushEvents();
    const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
    const logs: EventLog[] = f.log ? [f.log] : ["audit", "activity"];
    const rows: EventRow[] = [];
    for (const log of logs) {
      const t = log === "audit" ? auditEvents : events;
      const where: SQL[] = [];
      if (f.types?.length) where.push(sql`${t.type} in ${f.types}`);
      if (f.hideResetNotices) {
        where.push(sql`not (${t.type} in ('unit_attention', 'unit_attention_raised') and coalesce(json_extract(${t.detail}, '$.asc'), -1) = 41)`);
      }
      if (f.target) where.push(like(t.targetName, `%${escapeLike(f.target)}%`));
      if (f.initiator) where.push(like(t.initiatorName, `%${escapeLike(f.initiator)}%`));
      if (f.from !== undefined) where.push(gte(sql`coalesce(${t.lastAt}, ${t.at})`, f.from));
      if (f.to !== undefined) where.push(lte(t.at, f.to));
      if (f.before !== undefined) where.push(lt(t.id, f.before));
      const got = this.history.db
        .select()
        .from(t)
        .where(where.length ? and(...where) : undefined)
        .orderBy(desc(t.id))
        .limit(limit)
        .all();
      for (const r of got) rows.push({ ...r, log, detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null });
    }
    if (logs.length === 1) return rows;
    return rows.sort((a, b) => b.id - a.id).slice(0, limit);
  }

  /** Distinct values for the Events page's filter menus (both logs). */
  eventFacets() {
    this.flushEvents();
    const s = this.history.sqlite;
    const col = (c: string) =>
      (
        s
          .prepare(`SELECT v FROM (SELECT DISTINCT ${c} AS v FROM events WHERE ${c} IS NOT NULL UNION SELECT DISTINCT ${c} AS v FROM audit_events WHERE ${c} IS NOT NULL) ORDER BY v LIMIT 200`)
          .all() as { v: string }[]
      ).map((r) => r.v);
    return { types: col("type"), targets: col("target_name"), initiators: col("initiator_name") };
  }

  // ---- settings and /metrics ----------------------------------------------------------------------------

  /** The stored /metrics token's SHA-256 (`sha256:<hex>`); only the hash is kept, the token is shown once. */
  metricsToken(): string | undefined {
    const stored = this.history.db.select().from(monitorSettings).where(eq(monitorSettings.key, "metrics_token")).get()?.value || undefined;
    if (stored && !stored.startsWith(TOKEN_HASH_PREFIX)) {
      // Stored in clear by an older version: keep only its hash from now on.
      this.setMetricsToken(stored);
      return hashMetricsToken(stored);
    }
    return stored;
  }

  setMetricsToken(token: string | undefined): void {
    if (token) {
      const value = hashMetricsToken(token);
      this.history.db
        .insert(monitorSettings)
        .values({ key: "metrics_token", value })
        .onConflictDoUpdate({ target: monitorSettings.key, set: { value } })
        .run();
    } else {
      this.history.db.delete(monitorSettings).where(eq(monitorSettings.key, "metrics_token")).run();
    }
  }

  /**
   * GET /metrics. Allowed from the loopback address always, and from elsewhere with the token
   * set in Settings (`Authorization: Bearer <token>`, Prometheus' `authorization` / `bearer_token`).
   * Returns false for any other URL (the caller serves it).
   */
  handleHttp(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = req.url ?? "/";
    if (url !== "/metrics" && !url.startsWith("/metrics?")) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("method not allowed\n");
      return true;
    }
    // This machine: loopback, not forwarded by a proxy nobody declared trusted (server/http/policy.ts).
    const local = requestClient(req).local;
    const token = this.metricsToken();
    const auth = req.headers.authorization ?? "";
    const given = auth.toLowerCase().startsWith("bearer ") ? auth.slice(7).trim() : "";
    const tokenOk = !!token && !!given && safeEqual(hashMetricsToken(given), token);
    if (!local && !tokenOk) {
      res
        .writeHead(token ? 401 : 403, { "content-type": "text/plain; charset=utf-8", ...(token ? { "www-authenticate": 'Bearer realm="portico metrics"' } : {}) })
        .end(token ? "a valid bearer token is required\n" : "/metrics is served to localhost only until a token is set in Settings\n");
      return true;
    }
    const body = formatPrometheus(this.stats) + healthMetrics() + extraMetrics();
    res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
    return true;
  }
}

const TOKEN_HASH_PREFIX = "sha256:";

/** What history.db keeps of the /metrics token: a copy of history.db does not let anyone scrape. */
export function hashMetricsToken(token: string): string {
  return `${TOKEN_HASH_PREFIX}${createHash("sha256").update(token).digest("hex")}`;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The address part of a remote ("10.0.0.5:51234", "::1:51234", "[fe80::1]:51234"): aggregation ignores the source port. */
function addressOf(remote: string | undefined): string {
  if (!remote) return "";
  const m = /^\[?(.*?)\]?:\d+$/.exec(remote);
  return m ? m[1] : remote;
}

function escapeLike(s: string): string {
  return s.replace(/[%_]/g, "");
}

const extra = processSlot<() => string>("portico.metrics.extra");

/** Families another part of the appliance appends to GET /metrics (the alert service's storage and portal gauges). */
export function setExtraMetrics(fn: (() => string) | undefined): void {
  extra.set(fn);
}

function extraMetrics(): string {
  try {
    return extra.get()?.() ?? "";
  } catch {
    return "";
  }
}

const runningMonitor = processSlot<Monitor>("portico.monitor");

/** The running monitor (started by server/main.ts), or undefined (unit tests, an engine without iSCSI). */
export function getMonitor(): Monitor | undefined {
  return runningMonitor.get();
}

/**
 * Starts monitoring for the appliance: opens history.db, starts the sampler, hooks
 * the event log and returns the monitor. Never throws: without it the appliance
 * still serves storage (the failure is logged and undefined returned).
 */
export function startMonitor(opts: { engine: Engine; dataDir: string }): Monitor | undefined {
  try {
    const m = new Monitor(opts.engine, openHistory(opts.dataDir));
    runningMonitor.set(m);
    process.once("exit", () => m.close());
    return m;
  } catch (err) {
    process.stderr.write(`portico: monitoring is off: ${(err as Error).message}\n`);
    return undefined;
  }
}

/** For server/main.ts' shutdown: stop sampling and write the minute in progress (the monitor closes). */
export function stopMonitor(): void {
  getMonitor()?.close();
}

/** For server/main.ts: serve /metrics if the monitor runs (returns true when it answered). */
export function handleMonitorHttp(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const m = getMonitor();
  if (m) return m.handleHttp(req, res);
  return serveHealthOnly(req, res);
}

/**
 * Without a monitor (the iSCSI fabric did not load, or history.db could not be opened) /metrics
 * still answers loopback with the process's health, so that `portico_iscsi_fabric_up 0` is
 * scraped instead of a page that says nothing. No token can be checked then: loopback only.
 */
function serveHealthOnly(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const url = req.url ?? "/";
  if (url !== "/metrics" && !url.startsWith("/metrics?")) return false;
  const remote = req.socket.remoteAddress ?? "";
  if (remote !== "127.0.0.1" && remote !== "::1" && remote !== "::ffff:127.0.0.1") {
    res.writeHead(503, { "content-type": "text/plain; charset=utf-8" }).end("monitoring is off; /metrics is served to localhost only\n");
    return true;
  }
  res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" });
  res.end(req.method === "HEAD" ? undefined : healthMetrics());
  return true;
}

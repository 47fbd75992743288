/**
 * The monitoring history, in its own SQLite file (`<data dir>/history.db`, migrations in
 * drizzle-history/): minute aggregates (7 days), the activity log (30 days / 100 000 rows), the
 * audit log (its own table: 400 days / 1 000 000 rows)
 * and the monitoring settings (the /metrics token). Kept apart from the configuration
 * database so that history churn never touches the configuration's file or migrations.
 */
import { index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** One series' minute (core/sampler.ts MinuteAggregate). */
export const minuteStats = sqliteTable(
  "minute_stats",
  {
    /** Wall-clock ms at the start of the minute. */
    minute: integer("minute").notNull(),
    /** "appliance", "lun" or "session". */
    scope: text("scope").notNull(),
    /** "appliance", the LUN key (`iqn|tpg|lun`) or the session id. */
    key: text("key").notNull(),
    targetName: text("target_name"),
    tpgTag: integer("tpg_tag"),
    lun: integer("lun"),
    storageObject: text("storage_object"),
    initiatorName: text("initiator_name"),
    samples: integer("samples").notNull(),
    readCommands: real("read_commands").notNull(),
    writeCommands: real("write_commands").notNull(),
    otherCommands: real("other_commands").notNull(),
    readBytes: real("read_bytes").notNull(),
    writeBytes: real("write_bytes").notNull(),
    errors: real("errors").notNull(),
    readP50Us: real("read_p50_us").notNull(),
    readP99Us: real("read_p99_us").notNull(),
    readMaxUs: real("read_max_us").notNull(),
    writeP50Us: real("write_p50_us").notNull(),
    writeP99Us: real("write_p99_us").notNull(),
    writeMaxUs: real("write_max_us").notNull(),
    avgInFlight: real("avg_in_flight").notNull(),
    maxInFlight: real("max_in_flight").notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key, t.minute] }), index("minute_stats_minute").on(t.minute)],
);

/**
 * The columns both logs share. `count`/`lastAt`: an aggregated event (repeated refused logins or
 * sign-ins: one row per initiator or user, reason and source per minute) stands for `count` of them,
 * the first at `at`, the last at `lastAt`.
 */
const eventColumns = () => ({
  id: integer("id").primaryKey({ autoIncrement: true }),
  /** Wall-clock ms. */
  at: integer("at").notNull(),
  /** login | logout | login_failed | reset | unit_attention | config | signin | ... (events.ts AUDIT_TYPES go to audit_events) */
  type: text("type").notNull(),
  targetName: text("target_name"),
  tpgTag: integer("tpg_tag"),
  initiatorName: text("initiator_name"),
  sessionId: text("session_id"),
  remote: text("remote"),
  lun: integer("lun"),
  /** Who made a configuration change: the console user, "cli", or "console". */
  actor: text("actor"),
  /** login_failed: the reason label; logout: why the session ended; config: the procedure path. */
  reason: text("reason"),
  message: text("message"),
  /** JSON object with the rest. */
  detail: text("detail"),
  count: integer("count").notNull().default(1),
  lastAt: integer("last_at"),
});

/**
 * The activity log: logins, logouts, refused logins, resets, unit attentions, alerts (30 days /
 * 100 000 rows). What initiators can cause lands here, never in audit_events.
 */
export const events = sqliteTable("events", eventColumns(), (t) => [index("events_at").on(t.at), index("events_type_at").on(t.type, t.at)]);

/**
 * The audit log: configuration changes (what changed, before → after, secrets masked), console
 * sign-ins and refused sign-ins, onboarding, appliance starts and stops, with who and from where.
 * Its own table and retention (server/history/monitor.ts AUDIT_RETENTION_MS / AUDIT_MAX_ROWS), so
 * that no flood of initiator events can push it out (issue 15 item 6).
 */
export const auditEvents = sqliteTable("audit_events", eventColumns(), (t) => [index("audit_events_at").on(t.at), index("audit_events_type_at").on(t.type, t.at)]);

/** Monitoring settings (key/value), e.g. `metrics_token`. */
export const monitorSettings = sqliteTable("monitor_settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/**
 * The monitoring history, in its own SQLite file (`<data dir>/history.db`, migrations in
 * drizzle-history/): minute aggregates (7 days), the event log (30 days / 100 000 rows)
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
    avgQueueDepth: real("avg_queue_depth").notNull(),
    maxQueueDepth: real("max_queue_depth").notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key, t.minute] }), index("minute_stats_minute").on(t.minute)],
);

/** The event log: logins, logouts, refused logins, resets, unit attentions, configuration changes. */
export const events = sqliteTable(
  "events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** Wall-clock ms. */
    at: integer("at").notNull(),
    /** login | logout | login_failed | reset | unit_attention | config */
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
  },
  (t) => [index("events_at").on(t.at), index("events_type_at").on(t.type, t.at)],
);

/** Monitoring settings (key/value), e.g. `metrics_token`. */
export const monitorSettings = sqliteTable("monitor_settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

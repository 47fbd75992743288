/**
 * GET /metrics: IoStats in the Prometheus text exposition format (version 0.0.4).
 *
 * Naming follows Prometheus conventions (base units, `_total` on counters,
 * `_seconds` histograms) and the review of the unmerged node_exporter LIO
 * collector (prometheus/node_exporter#776, #1386), which asked for `_total`.
 * LUN series carry target, tpg, lun, storage_object and backstore labels.
 * Every value comes from monotonic counters, so rate() works across sessions.
 */
import {
  Counter,
  HISTOGRAM_BUCKETS,
  LOGIN_FAILURE_REASONS,
  SENSE_KEY_NAMES,
  STATUS_ERROR_NAMES,
  TMF_FUNCTION_NAMES,
  UNIT_ATTENTION_SENSE_KEY,
  type IoStats,
  type LunCounters,
} from "./stats";

/** Media type of the output (for the Content-Type header). */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsLabelsInfo {
  /** Labels added to every series (e.g. { appliance: "nas1" }). Names must be valid label names. */
  constLabels?: Record<string, string>;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label value escaping (exposition format): backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escaping: backslash and line feed. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value: Go's ParseFloat accepts JS's number syntax, plus NaN, +Inf, -Inf. */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

/**
 * Upper bounds (`le`) of the latency buckets in seconds: 2^(i+1) µs; the last bucket is +Inf.
 * IoStats buckets are [2^i, 2^(i+1)), so a latency of exactly 2^(i+1) µs is counted one
 * bucket up; with sub-microsecond float latencies that is immaterial.
 */
export const LATENCY_BUCKET_BOUNDS_SECONDS: readonly number[] = Array.from({ length: HISTOGRAM_BUCKETS - 1 }, (_, i) => 2 ** (i + 1) / 1e6);
const LE_STRINGS = [...LATENCY_BUCKET_BOUNDS_SECONDS.map(formatValue), "+Inf"];

class Writer {
  readonly lines: string[] = [];
  constructor(private readonly constLabels: string) {}

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  /** `labels` is already formatted (`a="x",b="y"`) or "". */
  sample(name: string, labels: string, value: number): void {
    const all = labels && this.constLabels ? `${this.constLabels},${labels}` : labels || this.constLabels;
    this.lines.push(all ? `${name}{${all}} ${formatValue(value)}` : `${name} ${formatValue(value)}`);
  }
}

function labels(pairs: Record<string, string | number | undefined>): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(pairs)) out.push(`${k}="${escapeLabelValue(v === undefined ? "" : String(v))}"`);
  return out.join(",");
}

function lunLabels(l: LunCounters): string {
  return labels({ target: l.targetName, tpg: l.tpgTag, lun: l.lun, storage_object: l.storageObject, backstore: l.backstore });
}

/** The whole exposition, ending in a line feed. */
export function formatPrometheus(stats: IoStats, info: MetricsLabelsInfo = {}): string {
  const constPairs: Record<string, string> = {};
  for (const [k, v] of Object.entries(info.constLabels ?? {})) {
    if (!LABEL_NAME.test(k) || k.startsWith("__")) throw new Error(`invalid Prometheus label name "${k}"`);
    constPairs[k] = v;
  }
  const w = new Writer(labels(constPairs));
  // Read through snapshots: one consistent copy per set for the whole exposition.
  const luns = [...stats.luns.values()]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((l) => ({ l, c: stats.snapshot(l) }));
  const appliance = stats.snapshot(stats.appliance);

  const lunCounter = (name: string, help: string, slot: number, type: "counter" | "gauge" = "counter") => {
    w.family(name, type, help);
    for (const { l, c } of luns) w.sample(name, lunLabels(l), c[slot]);
  };
  lunCounter("portico_lun_read_commands_total", "READ commands completed by the LUN.", Counter.READ_COMMANDS);
  lunCounter("portico_lun_write_commands_total", "WRITE commands (incl. WRITE AND VERIFY, COMPARE AND WRITE) completed by the LUN.", Counter.WRITE_COMMANDS);
  lunCounter("portico_lun_other_commands_total", "Other SCSI commands completed by the LUN.", Counter.OTHER_COMMANDS);
  lunCounter("portico_lun_read_bytes_total", "Bytes read from the LUN (Data-In sent).", Counter.READ_BYTES);
  lunCounter("portico_lun_write_bytes_total", "Bytes written to the LUN (Data-Out received).", Counter.WRITE_BYTES);
  lunCounter("portico_lun_inflight_commands", "Commands dispatched to the LUN and not yet answered (queue depth).", Counter.IN_FLIGHT, "gauge");
  lunCounter("portico_lun_task_management_total", "Task management requests addressed to the LUN.", Counter.TASK_MANAGEMENT);

  // Only non-zero error series: 22 per LUN would mostly be zeros.
  w.family("portico_lun_errors_total", "counter", "Commands that ended in an error, by SCSI status and (for CHECK CONDITION) sense key; unit attentions are counted apart.");
  for (const { l, c } of luns) {
    const base = lunLabels(l);
    for (let k = 0; k < 16; k++) {
      if (k === UNIT_ATTENTION_SENSE_KEY) continue; // portico_lun_unit_attentions_total
      const n = c[Counter.ERRORS_BY_SENSE_KEY + k];
      if (n > 0) w.sample("portico_lun_errors_total", `${base},${labels({ status: "CHECK_CONDITION", sense_key: SENSE_KEY_NAMES[k] })}`, n);
    }
    for (let k = 0; k < STATUS_ERROR_NAMES.length; k++) {
      const n = c[Counter.STATUS_ERRORS + k];
      if (n > 0) w.sample("portico_lun_errors_total", `${base},${labels({ status: STATUS_ERROR_NAMES[k], sense_key: "" })}`, n);
    }
  }

  lunCounter(
    "portico_lun_unit_attentions_total",
    "Commands answered with a UNIT ATTENTION (a reset, a login, a change the initiator is told of): not errors.",
    Counter.ERRORS_BY_SENSE_KEY + UNIT_ATTENTION_SENSE_KEY,
  );

  const h = "portico_lun_io_latency_seconds";
  w.family(h, "histogram", "Command latency from dispatch to response, by operation.");
  for (const { l, c } of luns) {
    const base = lunLabels(l);
    for (const [op, hist, sum, count] of [
      ["read", Counter.READ_HISTOGRAM, Counter.READ_LATENCY_SUM_US, Counter.READ_COMMANDS],
      ["write", Counter.WRITE_HISTOGRAM, Counter.WRITE_LATENCY_SUM_US, Counter.WRITE_COMMANDS],
    ] as const) {
      const opLabels = `${base},op="${op}"`;
      let cum = 0;
      for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
        cum += c[hist + i];
        w.sample(`${h}_bucket`, `${opLabels},le="${LE_STRINGS[i]}"`, cum);
      }
      w.sample(`${h}_sum`, opLabels, c[sum] / 1e6);
      // _count equals the +Inf bucket; taken from the histogram so the two always agree.
      w.sample(`${h}_count`, opLabels, cum);
    }
  }

  // Appliance-wide, including commands to unmapped LUN numbers.
  w.family("portico_commands_total", "counter", "SCSI commands completed by the appliance, by operation.");
  w.sample("portico_commands_total", 'op="read"', appliance[Counter.READ_COMMANDS]);
  w.sample("portico_commands_total", 'op="write"', appliance[Counter.WRITE_COMMANDS]);
  w.sample("portico_commands_total", 'op="other"', appliance[Counter.OTHER_COMMANDS]);
  w.family("portico_inflight_commands", "gauge", "Commands in flight on the whole appliance.");
  w.sample("portico_inflight_commands", "", appliance[Counter.IN_FLIGHT]);

  // Sessions and connections per target portal group.
  const bySessionGroup = new Map<string, { target: string; tpg: string; type: string; sessions: number; connections: number }>();
  for (const s of stats.sessions.values()) {
    const target = s.identity.targetName ?? "";
    const tpg = s.identity.tpgTag === undefined ? "" : String(s.identity.tpgTag);
    const type = s.identity.sessionType ?? "Normal";
    const key = `${target}|${tpg}|${type}`;
    let g = bySessionGroup.get(key);
    if (!g) bySessionGroup.set(key, (g = { target, tpg, type, sessions: 0, connections: 0 }));
    g.sessions++;
    g.connections += s.connections.size;
  }
  const groups = [...bySessionGroup.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
  w.family("portico_sessions", "gauge", "iSCSI sessions logged in.");
  for (const g of groups) w.sample("portico_sessions", labels({ target: g.target, tpg: g.tpg, session_type: g.type }), g.sessions);
  w.family("portico_connections", "gauge", "iSCSI connections in full feature phase.");
  for (const g of groups) w.sample("portico_connections", labels({ target: g.target, tpg: g.tpg, session_type: g.type }), g.connections);
  w.family("portico_sessions_closed_total", "counter", "iSCSI sessions that have ended.");
  w.sample("portico_sessions_closed_total", "", stats.sessionsClosed);

  const logins = [...stats.logins.values()].sort((a, b) => `${a.targetName}|${a.tpgTag}`.localeCompare(`${b.targetName}|${b.tpgTag}`));
  w.family("portico_login_successes_total", "counter", "Successful iSCSI logins (target empty for discovery).");
  for (const lc of logins) w.sample("portico_login_successes_total", labels({ target: lc.targetName, tpg: lc.tpgTag }), lc.successes);
  w.family("portico_login_failures_total", "counter", "Failed iSCSI logins by reason (target empty when unknown).");
  for (const lc of logins) {
    for (let r = 0; r < LOGIN_FAILURE_REASONS.length; r++) {
      if (lc.failures[r] > 0) {
        w.sample("portico_login_failures_total", labels({ target: lc.targetName, tpg: lc.tpgTag, reason: LOGIN_FAILURE_REASONS[r] }), lc.failures[r]);
      }
    }
  }

  w.family("portico_task_management_total", "counter", "Task management requests by function (RFC 7143 §11.5.1); resets are lun_reset, target_warm_reset, target_cold_reset.");
  for (let f = 1; f < TMF_FUNCTION_NAMES.length; f++) w.sample("portico_task_management_total", labels({ function: TMF_FUNCTION_NAMES[f] }), stats.taskManagement[f]);
  if (stats.taskManagement[0] > 0) w.sample("portico_task_management_total", labels({ function: "unknown" }), stats.taskManagement[0]);

  w.family("portico_stats_enabled", "gauge", "1 when IO counters are on, 0 when switched off.");
  w.sample("portico_stats_enabled", "", stats.enabled ? 1 : 0);

  return w.lines.join("\n") + "\n";
}

import { describe, expect, it } from "vitest";
import { LATENCY_BUCKET_BOUNDS_SECONDS, escapeLabelValue, formatPrometheus, formatValue } from "../../../server/engine/core/metrics";
import { IoKind, IoStats } from "../../../server/engine/core/stats";
import { ScsiStatus } from "../../../server/engine/scsi/types";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  type: string;
  help: string;
  samples: Sample[];
}

/**
 * A strict little parser for the text exposition format 0.0.4: throws on any line
 * it does not understand, on samples before their TYPE, on a family split in two,
 * on duplicate series and on bad label syntax.
 */
function parse(text: string): Map<string, Family> {
  expect(text.endsWith("\n")).toBe(true);
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current = "";
  const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  const familyOf = (name: string) => {
    const base = name.replace(/_(bucket|sum|count)$/, "");
    return families.get(base)?.type === "histogram" ? base : name;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    let m: RegExpMatchArray | null;
    if ((m = line.match(new RegExp(`^# HELP (${NAME}) (.*)$`)))) {
      if (families.has(m[1])) throw new Error(`family ${m[1]} declared twice`);
      families.set(m[1], { type: "untyped", help: m[2], samples: [] });
      current = m[1];
      continue;
    }
    if ((m = line.match(new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)))) {
      if (m[1] !== current) throw new Error(`TYPE ${m[1]} not after its HELP`);
      families.get(m[1])!.type = m[2];
      continue;
    }
    m = line.match(new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`));
    if (!m) throw new Error(`invalid line: ${line}`);
    const [, name, labelText = "", valueText] = m;
    const fam = familyOf(name);
    if (fam !== current) throw new Error(`${name} outside its family block (current ${current})`);
    const labels: Record<string, string> = {};
    let rest = labelText;
    while (rest.length > 0) {
      const lm = rest.match(/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/);
      if (!lm) throw new Error(`bad labels in: ${line}`);
      if (lm[1] in labels) throw new Error(`duplicate label ${lm[1]}`);
      labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      rest = rest.slice(lm[0].length);
    }
    if (!/^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|NaN|[+-]Inf)$/.test(valueText)) throw new Error(`bad value in: ${line}`);
    const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
    const id = `${name}{${JSON.stringify(Object.entries(labels).sort())}}`;
    if (seen.has(id)) throw new Error(`duplicate series ${id}`);
    seen.add(id);
    families.get(fam)!.samples.push({ name, labels, value });
  }
  return families;
}

function populated(): IoStats {
  let now = 0;
  const stats = new IoStats({ clock: () => now });
  const s = stats.openSession("s1", { initiatorName: "iqn.i", targetName: "iqn.2003-01.org.x:t", tpgTag: 1, sessionType: "Normal" });
  const c = stats.openConnection(s, 0, "127.0.0.1:5");
  stats.openSession("d1", { initiatorName: "iqn.i", sessionType: "Discovery" });
  const lun0 = stats.lun("iqn.2003-01.org.x:t", 1, 0, 'we"ird\\name\nx', "fileio");
  const lun1 = stats.lun("iqn.2003-01.org.x:t", 1, 1, "disk1", "block");
  const h0 = stats.handle(s, c, lun0);
  const h1 = stats.handle(s, c, lun1);
  for (const [h, kind, us, bytes] of [
    [h0, IoKind.READ, 1, 512],
    [h0, IoKind.READ, 150, 4096],
    [h0, IoKind.READ, 150, 4096],
    [h0, IoKind.WRITE, 3000, 8192],
    [h1, IoKind.READ, 5e9, 512], // beyond the last finite bucket
    [h1, IoKind.OTHER, 10, 0],
  ] as const) {
    const t = h.start();
    now += us / 1000;
    h.done(t, kind, bytes, ScsiStatus.GOOD, -1);
  }
  h0.done(h0.start(), IoKind.READ, 0, ScsiStatus.CHECK_CONDITION, 3);
  h1.done(h1.start(), IoKind.WRITE, 0, ScsiStatus.RESERVATION_CONFLICT, -1);
  h0.start(); // one left in flight
  stats.loginSucceeded("iqn.2003-01.org.x:t", 1);
  stats.loginFailed({ reason: "authentication_failed", message: "", at: 0 }, { targetName: "iqn.2003-01.org.x:t", tpgTag: 1 });
  stats.loginFailed({ reason: "target_not_found", message: "", targetName: "iqn.unknown", at: 0 });
  stats.taskManagementRequest(5, s, lun0);
  return stats;
}

describe("formatPrometheus", () => {
  it("produces valid exposition text with HELP/TYPE for every family", () => {
    const text = formatPrometheus(populated(), { constLabels: { appliance: "nas1" } });
    const fams = parse(text);
    for (const [name, f] of fams) {
      expect(f.type, name).not.toBe("untyped");
      if (f.type === "counter") expect(name).toMatch(/_total$/);
      for (const s of f.samples) expect(s.labels.appliance).toBe("nas1");
    }
    for (const name of [
      "portico_lun_read_bytes_total",
      "portico_lun_write_bytes_total",
      "portico_lun_read_commands_total",
      "portico_lun_write_commands_total",
      "portico_lun_other_commands_total",
      "portico_lun_errors_total",
      "portico_lun_inflight_commands",
      "portico_lun_io_latency_seconds",
      "portico_sessions",
      "portico_login_failures_total",
      "portico_login_successes_total",
      "portico_task_management_total",
    ]) {
      expect(fams.has(name), name).toBe(true);
    }
  });

  it("reports LUN counters with target, tpg, lun and storage_object labels", () => {
    const fams = parse(formatPrometheus(populated()));
    const reads = fams.get("portico_lun_read_bytes_total")!.samples;
    const lun0 = reads.find((s) => s.labels.lun === "0")!;
    expect(lun0.labels).toMatchObject({ target: "iqn.2003-01.org.x:t", tpg: "1", storage_object: 'we"ird\\name\nx', backstore: "fileio" });
    expect(lun0.value).toBe(512 + 4096 + 4096);
    expect(fams.get("portico_lun_read_commands_total")!.samples.find((s) => s.labels.lun === "0")!.value).toBe(4);
    expect(fams.get("portico_lun_inflight_commands")!.samples.find((s) => s.labels.lun === "0")!.value).toBe(1);
    const errors = fams.get("portico_lun_errors_total")!.samples;
    expect(errors.find((s) => s.labels.lun === "0")!.labels).toMatchObject({ status: "CHECK_CONDITION", sense_key: "MEDIUM_ERROR" });
    expect(errors.find((s) => s.labels.lun === "1")!.labels).toMatchObject({ status: "RESERVATION_CONFLICT", sense_key: "" });
    expect(errors.length).toBe(2);
  });

  it("writes a cumulative, monotonic latency histogram in seconds", () => {
    const fams = parse(formatPrometheus(populated()));
    const h = fams.get("portico_lun_io_latency_seconds")!;
    expect(h.type).toBe("histogram");
    const series = new Map<string, Sample[]>();
    for (const s of h.samples) {
      const { le: _le, ...rest } = s.labels;
      const k = JSON.stringify(rest);
      if (!series.has(k)) series.set(k, []);
      series.get(k)!.push(s);
    }
    expect(series.size).toBe(4); // 2 LUNs × read/write
    for (const samples of series.values()) {
      const buckets = samples.filter((s) => s.name.endsWith("_bucket"));
      expect(buckets.length).toBe(32);
      expect(buckets[buckets.length - 1].labels.le).toBe("+Inf");
      for (let i = 1; i < buckets.length; i++) {
        expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
        expect(Number(buckets[i].labels.le === "+Inf" ? Infinity : buckets[i].labels.le)).toBeGreaterThan(Number(buckets[i - 1].labels.le));
      }
      const count = samples.find((s) => s.name.endsWith("_count"))!;
      expect(count.value).toBe(buckets[buckets.length - 1].value);
      expect(samples.find((s) => s.name.endsWith("_sum"))).toBeDefined();
    }
    const read0 = h.samples.filter((s) => s.labels.lun === "0" && s.labels.op === "read");
    const bucket = (le: string) => read0.find((s) => s.labels.le === le)!.value;
    expect(bucket("0.000002")).toBe(2); // 1 µs, and the 0 µs CHECK CONDITION
    expect(bucket("0.000128")).toBe(2); // 150 µs is above 128 µs
    expect(bucket("0.000256")).toBe(4);
    expect(read0.find((s) => s.name.endsWith("_sum"))!.value).toBeCloseTo(301e-6, 12);
    const read1 = h.samples.filter((s) => s.labels.lun === "1" && s.labels.op === "read");
    expect(read1.find((s) => s.labels.le === String(LATENCY_BUCKET_BOUNDS_SECONDS[30]))!.value).toBe(0);
    expect(read1.find((s) => s.labels.le === "+Inf")!.value).toBe(1);
  });

  it("reports sessions, logins and task management", () => {
    const stats = populated();
    const fams = parse(formatPrometheus(stats));
    const sessions = fams.get("portico_sessions")!.samples;
    expect(sessions.find((s) => s.labels.session_type === "Normal")).toMatchObject({ value: 1, labels: { target: "iqn.2003-01.org.x:t", tpg: "1" } });
    expect(sessions.find((s) => s.labels.session_type === "Discovery")!.value).toBe(1);
    const failures = fams.get("portico_login_failures_total")!.samples;
    expect(failures.find((s) => s.labels.reason === "authentication_failed")!.labels.target).toBe("iqn.2003-01.org.x:t");
    expect(failures.find((s) => s.labels.reason === "target_not_found")!.labels.target).toBe("");
    expect(fams.get("portico_login_successes_total")!.samples.find((s) => s.labels.target !== "")!.value).toBe(1);
    expect(fams.get("portico_task_management_total")!.samples.find((s) => s.labels.function === "lun_reset")!.value).toBe(1);
    stats.closeSession(stats.sessions.get("s1")!);
    const after = parse(formatPrometheus(stats));
    expect(after.get("portico_sessions")!.samples.length).toBe(1);
    expect(after.get("portico_sessions_closed_total")!.samples[0].value).toBe(1);
    // LUN totals survive the session.
    expect(after.get("portico_lun_read_bytes_total")!.samples.find((s) => s.labels.lun === "0")!.value).toBe(8704);
  });

  it("is valid with no objects at all, and rejects a bad constant label name", () => {
    const fams = parse(formatPrometheus(new IoStats()));
    expect(fams.get("portico_lun_read_bytes_total")!.samples.length).toBe(0);
    expect(() => formatPrometheus(new IoStats(), { constLabels: { "bad-name": "x" } })).toThrow(/label name/);
  });
});

describe("escaping and values", () => {
  it("escapes backslash, quote and newline in label values", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
  });
  it("formats special values", () => {
    expect(formatValue(NaN)).toBe("NaN");
    expect(formatValue(Infinity)).toBe("+Inf");
    expect(formatValue(-Infinity)).toBe("-Inf");
    expect(formatValue(2 ** 53)).toBe("9007199254740992");
    expect(formatValue(1.5e-7)).toBe("1.5e-7");
  });
  it("le bounds are 2^(i+1) µs in seconds", () => {
    expect(LATENCY_BUCKET_BOUNDS_SECONDS.length).toBe(31);
    expect(LATENCY_BUCKET_BOUNDS_SECONDS[0]).toBe(2e-6);
    expect(LATENCY_BUCKET_BOUNDS_SECONDS[9]).toBeCloseTo(1.024e-3, 15);
  });
});

describe("the test's parser", () => {
  it("rejects what Prometheus would reject", () => {
    expect(() => parse("foo 1\n")).toThrow(/outside its family/);
    expect(() => parse('# HELP a x\n# TYPE a gauge\na{b="c} 1\n')).toThrow();
    expect(() => parse("# HELP a x\n# TYPE a gauge\na one\n")).toThrow(/bad value/);
    expect(() => parse("# HELP a x\n# TYPE a gauge\na 1\na 2\n")).toThrow(/duplicate series/);
    expect(() => parse('# HELP a x\n# TYPE a gauge\na{x="\\q"} 1\n')).toThrow(/bad labels/);
  });
});

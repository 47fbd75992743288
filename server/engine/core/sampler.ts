/**
 * The 1 Hz sampler: turns IoStats' monotonic counters into rates and latency
 * percentiles (from histogram deltas, as gwtop and Prometheus compute rates from
 * counter deltas), keeps the last 15 minutes at 1 s resolution in typed-array
 * ring buffers, and hands out minute aggregates for the database to persist.
 *
 * The sampler is the one owner of the counters' latency-maxima intervals
 * (IoStats.latencyIntervals): each tick takes every set's interval and starts the next;
 * every other reader (/metrics, the monitor's totals) copies with IoStats.snapshot().
 *
 * Cost: per tick and series, one pass over a 98-slot Float64Array and two
 * 32-bucket histogram scans, written into preallocated rings. Objects are built
 * only for 'sample' listeners (the SSE stream) and once a minute for onMinute.
 */
import { EventEmitter } from "node:events";
import {
  Counter,
  HISTOGRAM_BUCKETS,
  errorCount,
  histogramQuantile,
  type CounterSet,
  type IoStats,
  type LatencyIntervals,
  type LunCounters,
  type SessionCounters,
} from "./stats";

/**
 * Microseconds that the commands completed between counter snapshots `p` and `c` spent in
 * flight, all kinds summed: over the elapsed time it is the average queue depth (Little's law).
 */
function busyMicros(c: Float64Array, p: Float64Array): number {
  return (
    c[Counter.READ_LATENCY_SUM_US] -
    p[Counter.READ_LATENCY_SUM_US] +
    c[Counter.WRITE_LATENCY_SUM_US] -
    p[Counter.WRITE_LATENCY_SUM_US] +
    c[Counter.OTHER_LATENCY_SUM_US] -
    p[Counter.OTHER_LATENCY_SUM_US]
  );
}

/** Columns of a sample row. MB = 10^6 bytes; latencies in µs. */
export const SAMPLE_FIELDS = [
  "readIops",
  "writeIops",
  "otherIops",
  "readMBps",
  "writeMBps",
  "readP50Us",
  "readP99Us",
  "readMaxUs",
  "writeP50Us",
  "writeP99Us",
  "writeMaxUs",
  /** Commands in flight at the sample instant. */
  "inFlight",
  /** Mean commands in flight over the interval (Little's law: Σ latency of completed commands / interval). */
  "avgInFlight",
  "errorsPerSec",
] as const;
export type SampleField = (typeof SAMPLE_FIELDS)[number];
export type IoSample = Record<SampleField, number>;
const F = SAMPLE_FIELDS.length;
/** Column offsets in a row (the order of SAMPLE_FIELDS). */
const Col = {
  READ_IOPS: 0,
  WRITE_IOPS: 1,
  OTHER_IOPS: 2,
  READ_MBPS: 3,
  WRITE_MBPS: 4,
  READ_P50: 5,
  READ_P99: 6,
  READ_MAX: 7,
  WRITE_P50: 8,
  WRITE_P99: 9,
  WRITE_MAX: 10,
  IN_FLIGHT: 11,
  AVG_IN_FLIGHT: 12,
  ERRORS: 13,
} as const;

export type SeriesScope = "appliance" | "lun" | "session";

export interface LunSample extends IoSample {
  key: string;
  targetName: string;
  tpgTag: number;
  lun: number;
  storageObject: string;
}
export interface SessionSample extends IoSample {
  id: string;
  initiatorName: string;
  targetName?: string;
  tpgTag?: number;
}
/** What 'sample' listeners get each second. */
export interface SampleEvent {
  /** Wall-clock ms of the sample. */
  t: number;
  /** Seconds the rates cover. */
  interval: number;
  appliance: IoSample;
  luns: LunSample[];
  sessions: SessionSample[];
}

/** One series' minute, for the database (7 days of these). */
export interface MinuteAggregate {
  /** Wall-clock ms at the start of the minute. */
  minute: number;
  scope: SeriesScope;
  /** "appliance", the LUN key (`iqn|tpg|lun`) or the session id. */
  key: string;
  targetName?: string;
  tpgTag?: number;
  lun?: number;
  storageObject?: string;
  initiatorName?: string;
  /** 1 s samples that went into it (< 60 for a partial minute). */
  samples: number;
  readCommands: number;
  writeCommands: number;
  otherCommands: number;
  readBytes: number;
  writeBytes: number;
  errors: number;
  readP50Us: number;
  readP99Us: number;
  readMaxUs: number;
  writeP50Us: number;
  writeP99Us: number;
  writeMaxUs: number;
  avgInFlight: number;
  maxInFlight: number;
}

export interface IoHistory {
  /** Wall-clock ms per sample, oldest first. */
  t: number[];
  columns: Record<SampleField, number[]>;
}

export interface SamplerOptions {
  /** Wall-clock ms (default Date.now); inject a fake one in tests and call tick(). */
  clock?: () => number;
  intervalMs?: number;
  /** Ring buffer length in samples (default 900: 15 min at 1 Hz). */
  capacity?: number;
  /** Length of an aggregate "minute" in ms (default 60 000; tests shorten it). */
  minuteMs?: number;
}

class Series {
  /** capacity × F, row per sample slot (shared slot numbering with the sampler). */
  readonly ring: Float32Array;
  readonly prev = new Float64Array(Counter.SIZE);
  readonly minutePrev = new Float64Array(Counter.SIZE);
  /** Samples written since the series appeared (≤ capacity are readable). */
  count = 0;
  minuteSamples = 0;
  minuteReadMax = 0;
  minuteWriteMax = 0;
  minuteInFlightMax = 0;
  minuteSeconds = 0;
  seen = 0;

  constructor(
    readonly scope: SeriesScope,
    readonly key: string,
    readonly set: CounterSet,
    capacity: number,
    baseline: boolean,
  ) {
    this.ring = new Float32Array(capacity * F);
    // A set created after the previous tick started at zero; one that existed before the
    // sampler started has history we do not want to see as a one-second spike.
    if (baseline) {
      this.prev.set(set.c);
      this.minutePrev.set(set.c);
    }
  }
}

export class IoSampler extends EventEmitter {
  readonly capacity: number;
  readonly intervalMs: number;
  readonly minuteMs: number;
  /** Wall-clock ms per slot. */
  private readonly times: Float64Array;
  /** Next slot to write; total samples taken. */
  private head = 0;
  private taken = 0;
  private lastT = NaN;
  private currentMinute = NaN;
  private readonly clock: () => number;
  private readonly scratch = new Float64Array(HISTOGRAM_BUCKETS);
  /** The counter set being sampled, as taken this tick. */
  private readonly current = new Float64Array(Counter.SIZE);
  private readonly intervals: LatencyIntervals;
  private readonly appliance: Series;
  private readonly luns = new Map<string, Series>();
  private readonly sessions = new Map<string, Series>();
  private seenVersion = -1;
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly minuteCallbacks: ((aggregates: MinuteAggregate[]) => void)[] = [];
  /** The last error thrown by a listener or callback (a sampler never throws into the timer). */
  lastError: unknown;

  constructor(
    readonly stats: IoStats,
    opts: SamplerOptions = {},
  ) {
    super();
    this.clock = opts.clock ?? Date.now;
    this.intervalMs = opts.intervalMs ?? 1000;
    this.capacity = opts.capacity ?? 900;
    this.minuteMs = opts.minuteMs && opts.minuteMs > 0 ? opts.minuteMs : 60_000;
    this.times = new Float64Array(this.capacity);
    this.intervals = stats.latencyIntervals("the 1 Hz sampler");
    this.appliance = new Series("appliance", "appliance", stats.appliance, this.capacity, true);
  }

  start(): void {
    if (this.timer) return;
    this.baseline();
    this.timer = setInterval(() => {
      try {
        this.tick();
      } catch (err) {
        this.lastError = err;
      }
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops and gives the latency intervals back (another sampler may then read these counters). */
  dispose(): void {
    this.stop();
    this.intervals.release();
  }

  /** Register a minute-aggregate consumer (the DB layer). Returns an unsubscribe function. */
  onMinute(fn: (aggregates: MinuteAggregate[]) => void): () => void {
    this.minuteCallbacks.push(fn);
    return () => {
      const i = this.minuteCallbacks.indexOf(fn);
      if (i >= 0) this.minuteCallbacks.splice(i, 1);
    };
  }

  /** Take the counters as they are now as the starting point (start() does this). */
  baseline(now = this.clock()): void {
    this.sync(true);
    for (const s of this.allSeries()) {
      this.intervals.take(s.set, s.prev);
      s.minutePrev.set(s.prev);
    }
    this.lastT = now;
    this.currentMinute = Math.floor(now / this.minuteMs);
  }

  /** One sample. The timer calls it each second; tests call it with a fake clock. */
  tick(now = this.clock()): void {
    if (Number.isNaN(this.lastT)) {
      this.baseline(now);
      return;
    }
    const dt = (now - this.lastT) / 1000;
    if (!(dt > 0)) {
      // Wall clock stepped back: restart from here rather than report negative rates.
      this.baseline(now);
      return;
    }
    this.lastT = now;
    if (this.stats.version !== this.seenVersion) this.sync(false);

    const slot = this.head;
    this.times[slot] = now;
    this.head = (slot + 1) % this.capacity;
    this.taken++;
    this.sampleSeries(this.appliance, slot, dt);
    for (const s of this.luns.values()) this.sampleSeries(s, slot, dt);
    for (const s of this.sessions.values()) this.sampleSeries(s, slot, dt);

    if (this.listenerCount("sample") > 0) this.emitSample(now, dt, slot);

    const minute = Math.floor(now / this.minuteMs);
    if (minute !== this.currentMinute) {
      const start = this.currentMinute * this.minuteMs;
      this.currentMinute = minute;
      this.closeMinute(start);
    }
  }

  /** The newest sample of a series, or undefined before the first tick. */
  latest(scope: SeriesScope, key = "appliance"): IoSample | undefined {
    const s = this.series(scope, key);
    if (!s || s.count === 0) return undefined;
    return rowToSample(s.ring, ((this.head - 1 + this.capacity) % this.capacity) * F);
  }

  /** Up to `seconds` most recent samples of a series, oldest first, in columns (JSON-friendly). */
  history(scope: SeriesScope, key = "appliance", seconds = this.capacity): IoHistory | undefined {
    const s = this.series(scope, key);
    if (!s) return undefined;
    const n = Math.max(0, Math.min(seconds, s.count, this.capacity, this.taken));
    const columns = {} as Record<SampleField, number[]>;
    for (const f of SAMPLE_FIELDS) columns[f] = new Array<number>(n);
    const t = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const slot = (this.head - n + i + 2 * this.capacity) % this.capacity;
      t[i] = this.times[slot];
      for (let f = 0; f < F; f++) columns[SAMPLE_FIELDS[f]][i] = s.ring[slot * F + f];
    }
    return { t, columns };
  }

  private series(scope: SeriesScope, key: string): Series | undefined {
    if (scope === "appliance") return this.appliance;
    return scope === "lun" ? this.luns.get(key) : this.sessions.get(key);
  }

  private *allSeries(): Iterable<Series> {
    yield this.appliance;
    yield* this.luns.values();
    yield* this.sessions.values();
  }

  /** Follow the registry's LUNs and sessions (only when its version moved). */
  private sync(baseline: boolean): void {
    this.seenVersion = this.stats.version;
    const gen = ++this.generation;
    this.follow(this.luns, "lun", this.stats.luns.values(), (lun) => lun.key, baseline, gen);
    this.follow(this.sessions, "session", this.stats.sessions.values(), (session) => session.id, baseline, gen);
  }

  /** Keeps one Series per live counter set (a new one when the set was replaced) and drops the rest. */
  private follow<T extends CounterSet>(
    series: Map<string, Series>,
    scope: SeriesScope,
    sets: Iterable<T>,
    keyOf: (set: T) => string,
    baseline: boolean,
    gen: number,
  ): void {
    for (const set of sets) {
      const key = keyOf(set);
      let s = series.get(key);
      if (!s || s.set !== set) {
        s = new Series(scope, key, set, this.capacity, baseline);
        series.set(key, s);
      }
      s.seen = gen;
    }
    for (const [k, s] of series) if (s.seen !== gen) series.delete(k);
  }

  private sampleSeries(s: Series, slot: number, dt: number): void {
    const c = this.current;
    this.intervals.take(s.set, c); // the maxima are per interval: this starts the next one
    const p = s.prev;
    const row = s.ring;
    const o = slot * F;
    const readOps = c[Counter.READ_COMMANDS] - p[Counter.READ_COMMANDS];
    const writeOps = c[Counter.WRITE_COMMANDS] - p[Counter.WRITE_COMMANDS];
    row[o + Col.READ_IOPS] = readOps / dt;
    row[o + Col.WRITE_IOPS] = writeOps / dt;
    row[o + Col.OTHER_IOPS] = (c[Counter.OTHER_COMMANDS] - p[Counter.OTHER_COMMANDS]) / dt;
    row[o + Col.READ_MBPS] = (c[Counter.READ_BYTES] - p[Counter.READ_BYTES]) / dt / 1e6;
    row[o + Col.WRITE_MBPS] = (c[Counter.WRITE_BYTES] - p[Counter.WRITE_BYTES]) / dt / 1e6;
    const readMax = c[Counter.READ_LATENCY_MAX_US];
    const writeMax = c[Counter.WRITE_LATENCY_MAX_US];
    this.quantiles(c, p, Counter.READ_HISTOGRAM, readMax, row, o + Col.READ_P50);
    this.quantiles(c, p, Counter.WRITE_HISTOGRAM, writeMax, row, o + Col.WRITE_P50);
    row[o + Col.READ_MAX] = readMax;
    row[o + Col.WRITE_MAX] = writeMax;
    const qd = c[Counter.IN_FLIGHT];
    row[o + Col.IN_FLIGHT] = qd;
    row[o + Col.AVG_IN_FLIGHT] = busyMicros(c, p) / (dt * 1e6);
    row[o + Col.ERRORS] = (errorCount(c) - errorCount(p)) / dt;

    if (readMax > s.minuteReadMax) s.minuteReadMax = readMax;
    if (writeMax > s.minuteWriteMax) s.minuteWriteMax = writeMax;
    if (qd > s.minuteInFlightMax) s.minuteInFlightMax = qd;
    s.minuteSamples++;
    s.minuteSeconds += dt;
    s.count++;
    p.set(c);
  }

  /** p50 and p99 of the histogram delta c − p at `offset`, written to out[at], out[at+1]. */
  private quantiles(c: Float64Array, p: Float64Array, offset: number, maxUs: number, out: Float32Array, at: number): void {
    const d = this.scratch;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) d[i] = c[offset + i] - p[offset + i];
    out[at] = histogramQuantile(d, 0, 0.5, maxUs);
    out[at + 1] = histogramQuantile(d, 0, 0.99, maxUs);
  }

  private emitSample(now: number, dt: number, slot: number): void {
    const o = slot * F;
    const luns: LunSample[] = [];
    for (const s of this.luns.values()) {
      const l = s.set as LunCounters;
      luns.push({ key: l.key, targetName: l.targetName, tpgTag: l.tpgTag, lun: l.lun, storageObject: l.storageObject, ...rowToSample(s.ring, o) });
    }
    const sessions: SessionSample[] = [];
    for (const s of this.sessions.values()) {
      const ss = s.set as SessionCounters;
      sessions.push({
        id: ss.id,
        initiatorName: ss.identity.initiatorName,
        targetName: ss.identity.targetName,
        tpgTag: ss.identity.tpgTag,
        ...rowToSample(s.ring, o),
      });
    }
    const event: SampleEvent = { t: now, interval: dt, appliance: rowToSample(this.appliance.ring, o), luns, sessions };
    try {
      this.emit("sample", event);
    } catch (err) {
      this.lastError = err;
    }
  }

  /**
   * Closes the minute in progress now (its aggregates go to the minute hooks and listeners), for
   * a shutdown that would otherwise lose the IO since the last full minute. Returns false when no
   * minute has started. Sampling that goes on afterwards starts the same minute again.
   */
  closeCurrentMinute(): boolean {
    if (Number.isNaN(this.currentMinute)) return false;
    this.closeMinute(this.currentMinute * this.minuteMs);
    return true;
  }

  private closeMinute(minute: number): void {
    const want = this.minuteCallbacks.length > 0 || this.listenerCount("minute") > 0;
    const out: MinuteAggregate[] = [];
    for (const s of this.allSeries()) {
      this.stats.snapshot(s.set, this.current);
      if (want && s.minuteSamples > 0) out.push(this.aggregate(s, minute, this.current));
      s.minutePrev.set(this.current);
      s.minuteSamples = 0;
      s.minuteReadMax = 0;
      s.minuteWriteMax = 0;
      s.minuteInFlightMax = 0;
      s.minuteSeconds = 0;
    }
    if (!want) return;
    for (const fn of this.minuteCallbacks) {
      try {
        fn(out);
      } catch (err) {
        this.lastError = err;
      }
    }
    try {
      this.emit("minute", out);
    } catch (err) {
      this.lastError = err;
    }
  }

  private aggregate(s: Series, minute: number, c: Float64Array): MinuteAggregate {
    const p = s.minutePrev;
    const d = this.scratch;
    const q = (offset: number, quantile: number, max: number) => {
      for (let i = 0; i < HISTOGRAM_BUCKETS; i++) d[i] = c[offset + i] - p[offset + i];
      return histogramQuantile(d, 0, quantile, max);
    };
    const agg: MinuteAggregate = {
      minute,
      scope: s.scope,
      key: s.key,
      samples: s.minuteSamples,
      readCommands: c[Counter.READ_COMMANDS] - p[Counter.READ_COMMANDS],
      writeCommands: c[Counter.WRITE_COMMANDS] - p[Counter.WRITE_COMMANDS],
      otherCommands: c[Counter.OTHER_COMMANDS] - p[Counter.OTHER_COMMANDS],
      readBytes: c[Counter.READ_BYTES] - p[Counter.READ_BYTES],
      writeBytes: c[Counter.WRITE_BYTES] - p[Counter.WRITE_BYTES],
      errors: errorCount(c) - errorCount(p),
      readP50Us: q(Counter.READ_HISTOGRAM, 0.5, s.minuteReadMax),
      readP99Us: q(Counter.READ_HISTOGRAM, 0.99, s.minuteReadMax),
      readMaxUs: s.minuteReadMax,
      writeP50Us: q(Counter.WRITE_HISTOGRAM, 0.5, s.minuteWriteMax),
      writeP99Us: q(Counter.WRITE_HISTOGRAM, 0.99, s.minuteWriteMax),
      writeMaxUs: s.minuteWriteMax,
      // Little's law over the sampled seconds of the minute.
      avgInFlight: busyMicros(c, p) / (s.minuteSeconds * 1e6),
      maxInFlight: s.minuteInFlightMax,
    };
    if (s.scope === "lun") {
      const l = s.set as LunCounters;
      Object.assign(agg, { targetName: l.targetName, tpgTag: l.tpgTag, lun: l.lun, storageObject: l.storageObject });
    } else if (s.scope === "session") {
      const ss = s.set as SessionCounters;
      Object.assign(agg, { targetName: ss.identity.targetName, tpgTag: ss.identity.tpgTag, initiatorName: ss.identity.initiatorName });
    }
    return agg;
  }
}

function rowToSample(ring: Float32Array, o: number): IoSample {
  return {
    readIops: ring[o + Col.READ_IOPS],
    writeIops: ring[o + Col.WRITE_IOPS],
    otherIops: ring[o + Col.OTHER_IOPS],
    readMBps: ring[o + Col.READ_MBPS],
    writeMBps: ring[o + Col.WRITE_MBPS],
    readP50Us: ring[o + Col.READ_P50],
    readP99Us: ring[o + Col.READ_P99],
    readMaxUs: ring[o + Col.READ_MAX],
    writeP50Us: ring[o + Col.WRITE_P50],
    writeP99Us: ring[o + Col.WRITE_P99],
    writeMaxUs: ring[o + Col.WRITE_MAX],
    inFlight: ring[o + Col.IN_FLIGHT],
    avgInFlight: ring[o + Col.AVG_IN_FLIGHT],
    errorsPerSec: ring[o + Col.ERRORS],
  };
}

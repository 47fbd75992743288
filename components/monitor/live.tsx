"use client";
/**
 * The live stream: one tRPC subscription (SSE through httpSubscriptionLink) per page that
 * needs it. The server builds samples only while a browser listens; unmounting
 * unsubscribes, which closes the EventSource and ends the server's generator.
 *
 * Samples land in a `LiveFeed` outside React state: the chart series is appended to in
 * place (columnar arrays, 15 minutes), and only what subscribed is told: canvas charts
 * redraw themselves, small components re-render when the value they show changes
 * (useSyncExternalStore with a selector). Nothing re-renders a whole page each second.
 * While the tab is hidden the feed keeps collecting but tells no one; it catches up
 * once when the tab is shown again.
 */
import { createTRPCClient, httpSubscriptionLink } from "@trpc/client";
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import superjson from "superjson";
import type { AppRouter } from "@/server/api/root";
import type { IoHistory, IoSample, SampleEvent } from "@/server/engine/core/sampler";

export type { IoHistory, IoSample, SampleEvent };

let client: ReturnType<typeof createTRPCClient<AppRouter>> | undefined;
function liveClient() {
  client ??= createTRPCClient<AppRouter>({ links: [httpSubscriptionLink({ url: "/api/trpc", transformer: superjson })] });
  return client;
}

export type LiveStatus = "connecting" | "live" | "reconnecting" | "error";

export const WINDOW_SECONDS = 900;

/** The fields the charts draw (MB = 10^6 B; latencies in µs). */
export const CHART_FIELDS = ["readIops", "writeIops", "readMBps", "writeMBps", "readP99Us", "writeP99Us"] as const;
export type ChartField = (typeof CHART_FIELDS)[number];

/** A chart point: time (ms) plus the charted fields. */
export type ChartPoint = { t: number } & Record<ChartField, number>;

/** One series' last 15 minutes, columnar (what uPlot draws), appended to in place. */
export class SeriesBuffer {
  t: number[] = [];
  readonly cols: Record<ChartField, number[]> = { readIops: [], writeIops: [], readMBps: [], writeMBps: [], readP99Us: [], writeP99Us: [] };

  constructor(readonly capacity = WINDOW_SECONDS) {}

  get length(): number {
    return this.t.length;
  }

  append(t: number, s: Record<ChartField, number>): void {
    if (this.t.length && t <= this.t[this.t.length - 1]) return;
    this.t.push(t);
    for (const f of CHART_FIELDS) this.cols[f].push(s[f]);
    if (this.t.length > this.capacity) {
      const drop = this.t.length - this.capacity;
      this.t.splice(0, drop);
      for (const f of CHART_FIELDS) this.cols[f].splice(0, drop);
    }
  }

  /** Puts older points (a seed from the sampler's rings) in front of what the stream brought. */
  prepend(points: ChartPoint[]): void {
    const first = this.t.length ? this.t[0] : Infinity;
    const older = points.filter((p) => p.t < first).slice(-(this.capacity - this.t.length));
    if (!older.length) return;
    this.t.unshift(...older.map((p) => p.t));
    for (const f of CHART_FIELDS) this.cols[f].unshift(...older.map((p) => p[f]));
  }

  last(): ChartPoint | undefined {
    const i = this.t.length - 1;
    if (i < 0) return undefined;
    const p = { t: this.t[i] } as ChartPoint;
    for (const f of CHART_FIELDS) p[f] = this.cols[f][i];
    return p;
  }
}

export function historyToPoints(h: IoHistory | null | undefined): ChartPoint[] {
  if (!h) return [];
  const out: ChartPoint[] = [];
  for (let i = 0; i < h.t.length; i++) {
    const p = { t: h.t[i] } as ChartPoint;
    for (const f of CHART_FIELDS) p[f] = h.columns[f][i];
    out.push(p);
  }
  return out;
}

/** What a page knows about the stream; listeners are told after each sample (not while the tab is hidden). */
export class LiveFeed {
  status: LiveStatus = "connecting";
  error: string | null = null;
  latest: SampleEvent | null = null;
  readonly series = new SeriesBuffer();
  private readonly listeners = new Set<() => void>();
  private pending = false;

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  notify(): void {
    if (typeof document !== "undefined" && document.visibilityState === "hidden") {
      this.pending = true;
      return;
    }
    this.pending = false;
    for (const fn of this.listeners) fn();
  }

  /** The tab became visible: one catch-up notification if something arrived meanwhile. */
  resume(): void {
    if (this.pending) this.notify();
  }
}

/**
 * Subscribes to the 1 Hz samples. `pick` selects the series to chart (up to 15 minutes),
 * `seed` pre-fills it from a query (the sampler's rings) so a chart is full on first paint.
 * Returns a feed that stays the same object for the component's life.
 */
export function useLiveFeed(opts: { pick?: (e: SampleEvent) => IoSample | undefined; seed?: ChartPoint[]; enabled?: boolean } = {}): LiveFeed {
  const [feed] = useState(() => new LiveFeed());
  const pickRef = useRef(opts.pick);
  pickRef.current = opts.pick;
  const seeded = useRef(false);

  useEffect(() => {
    if (opts.seed && !seeded.current && opts.seed.length) {
      seeded.current = true;
      feed.series.prepend(opts.seed);
      feed.notify();
    }
  }, [opts.seed, feed]);

  useEffect(() => {
    if (opts.enabled === false) return;
    const setStatus = (status: LiveStatus, error: string | null) => {
      if (feed.status === status && feed.error === error) return false;
      feed.status = status;
      feed.error = error;
      return true;
    };
    const sub = liveClient().monitor.live.subscribe(undefined, {
      onStarted: () => setStatus("live", null) && feed.notify(),
      onData: (e) => {
        setStatus("live", null);
        feed.latest = e;
        const s = pickRef.current?.(e);
        if (s) feed.series.append(e.t, s);
        feed.notify();
      },
      onError: (err) => setStatus("error", err.message) && feed.notify(),
      onConnectionStateChange: (st) => {
        if (st.state === "connecting" && st.error) {
          if (setStatus("reconnecting", st.error.message)) feed.notify();
        } else if (st.state === "pending" && setStatus("live", null)) feed.notify();
      },
    });
    const onVisibility = () => document.visibilityState === "visible" && feed.resume();
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      document.removeEventListener("visibilitychange", onVisibility);
      sub.unsubscribe();
    };
  }, [opts.enabled, feed]);

  return feed;
}

/**
 * A value derived from the newest sample; the component re-renders only when it changes.
 * `select` must return a primitive (a number or a formatted string), not a new object.
 */
export function useLiveValue<T extends string | number | boolean | null | undefined>(feed: LiveFeed, select: (e: SampleEvent | null) => T): T {
  return useSyncExternalStore(feed.subscribe, () => select(feed.latest), () => select(null));
}

/** The newest sample (re-renders each second: for tables of rates, not for whole pages). */
export function useLiveLatest(feed: LiveFeed): SampleEvent | null {
  return useSyncExternalStore(feed.subscribe, () => feed.latest, () => null);
}

export function LiveBadge({ feed }: { feed: LiveFeed }) {
  const status = useLiveValue(feed, () => feed.status);
  const error = useLiveValue(feed, () => feed.error);
  const text = status === "live" ? "Live" : status === "connecting" ? "Connecting…" : status === "reconnecting" ? "Reconnecting…" : "Stream failed";
  const tone =
    status === "live"
      ? "bg-emerald-100 text-emerald-800 dark:bg-emerald-900/40 dark:text-emerald-300"
      : status === "error"
        ? "bg-red-100 text-red-800 dark:bg-red-900/40 dark:text-red-300"
        : "bg-amber-100 text-amber-900 dark:bg-amber-900/40 dark:text-amber-300";
  return (
    <span data-testid="live-status" data-status={status} title={error ?? undefined} className={`inline-flex items-center gap-1 rounded px-1.5 py-0.5 text-xs font-medium ${tone}`}>
      {/* No CSS animation: a pulsing dot repaints 60 times a second, forever, on every open dashboard. */}
      <span aria-hidden className={`h-1.5 w-1.5 rounded-full ${status === "live" ? "bg-emerald-600" : "bg-current"}`} />
      {text}
    </span>
  );
}

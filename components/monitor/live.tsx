"use client";
/**
 * The live stream: one tRPC subscription (SSE through httpSubscriptionLink) per page that
 * needs it. The server builds samples only while a browser listens; unmounting
 * unsubscribes, which closes the EventSource and ends the server's generator.
 */
import { createTRPCClient, httpSubscriptionLink } from "@trpc/client";
import { useEffect, useRef, useState } from "react";
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

/** A chart point: time plus the sample's fields. */
export type SeriesPoint = IoSample & { t: number };

export const WINDOW_SECONDS = 900;

export function historyToPoints(h: IoHistory | null | undefined): SeriesPoint[] {
  if (!h) return [];
  const out: SeriesPoint[] = [];
  for (let i = 0; i < h.t.length; i++) {
    const p = { t: h.t[i] } as SeriesPoint;
    for (const [k, col] of Object.entries(h.columns)) (p as unknown as Record<string, number>)[k] = col[i];
    out.push(p);
  }
  return out;
}

/**
 * Subscribes to the 1 Hz samples. `pick` selects the series to accumulate (up to 15 minutes),
 * `seed` pre-fills it from a query (the sampler's rings) so a chart is full on first paint.
 */
export function useLive(opts: { pick?: (e: SampleEvent) => IoSample | undefined; seed?: SeriesPoint[]; enabled?: boolean } = {}) {
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const [error, setError] = useState<string | null>(null);
  const [latest, setLatest] = useState<SampleEvent | null>(null);
  const [series, setSeries] = useState<SeriesPoint[]>([]);
  const pickRef = useRef(opts.pick);
  pickRef.current = opts.pick;
  const seeded = useRef(false);

  useEffect(() => {
    if (opts.seed && !seeded.current && opts.seed.length) {
      seeded.current = true;
      setSeries((cur) => {
        const after = cur.length ? cur[0].t : Infinity;
        return [...opts.seed!.filter((p) => p.t < after), ...cur].slice(-WINDOW_SECONDS);
      });
    }
  }, [opts.seed]);

  useEffect(() => {
    if (opts.enabled === false) return;
    const sub = liveClient().monitor.live.subscribe(undefined, {
      onStarted: () => setStatus("live"),
      onData: (e) => {
        setStatus("live");
        setError(null);
        setLatest(e);
        const s = pickRef.current?.(e);
        if (s) setSeries((cur) => (cur.length >= WINDOW_SECONDS ? [...cur.slice(cur.length - WINDOW_SECONDS + 1), { ...s, t: e.t }] : [...cur, { ...s, t: e.t }]));
      },
      onError: (err) => {
        setStatus("error");
        setError(err.message);
      },
      onConnectionStateChange: (st) => {
        if (st.state === "connecting" && st.error) {
          setStatus("reconnecting");
          setError(st.error.message);
        } else if (st.state === "pending") setStatus("live");
      },
    });
    return () => sub.unsubscribe();
  }, [opts.enabled]);

  return { status, error, latest, series };
}

export function LiveBadge({ status, error }: { status: LiveStatus; error?: string | null }) {
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

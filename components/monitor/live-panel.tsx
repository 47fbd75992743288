"use client";
/**
 * The overview's live panel: appliance-wide IOPS, throughput and latency (last 15
 * minutes, 1 s resolution, streamed), cards for sessions, LUNs, capacity and errors,
 * and the busiest LUNs. Test ids: live-panel, live-status, card-sessions, card-luns,
 * card-capacity, card-errors, card-iops, overview-iops/-throughput/-latency, busiest-luns.
 *
 * Cheap to keep open: the panel itself renders when its 10 s queries change; each second
 * only the charts (canvas), the figures that changed and the busiest-LUNs rows update.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { memo, useEffect, useMemo, useRef } from "react";
import { useTRPC } from "@/components/trpc";
import { Card, EmptyState, QueryStatus, TableHead, td } from "@/components/ui";
import { Stat } from "@/components/ui/stat";
import { IoCharts } from "./charts";
import { fmtBytes, fmtCount, fmtIops, fmtLatency, fmtMBps, lunHref } from "./format";
import { historyToPoints, LiveBadge, useLiveFeed, useLiveLatest, useLiveValue, type LiveFeed, type SampleEvent } from "./live";

const pickAppliance = (e: SampleEvent) => e.appliance;

/**
 * The sessions logged in now: the one source for every session count and list on a page
 * (react-query shares the cache entry). Polled every 10 s (discovery sessions, which carry
 * no IO series); a LiveFeed passed in makes it refetch as soon as the stream shows a
 * session appear or go.
 */
export function useSessionsNow(feed?: LiveFeed) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const q = useQuery({ ...trpc.sessions.list.queryOptions(), refetchInterval: 10_000 });
  // Refs, so that re-renders never re-subscribe (a fresh subscription would forget what it saw).
  const ctx = useRef({ trpc, qc, data: q.data });
  ctx.current = { trpc, qc, data: q.data };
  useEffect(() => {
    if (!feed) return;
    let seen: string | undefined;
    return feed.subscribe(() => {
      const now = feed.latest?.sessions.map((s) => s.id).sort().join(" ");
      if (now === undefined || now === seen) return;
      seen = now;
      const { trpc: t, qc: c, data } = ctx.current;
      const listed = data?.map((s) => s.id).filter((id) => now.split(" ").includes(id)).sort().join(" ");
      const streamed = now;
      // The stream has a session the list lacks, or the list has one the stream dropped: fetch the list now.
      if (!data || listed !== streamed || data.some((s) => s.sessionType === "Normal" && !now.split(" ").includes(s.id))) {
        void c.invalidateQueries({ queryKey: t.sessions.list.queryKey() });
      }
    });
  }, [feed]);
  return q;
}

export const LivePanel = memo(function LivePanel() {
  const trpc = useTRPC();
  // Counts, capacity and error totals; the rates come from the stream.
  const overview = useQuery({ ...trpc.monitor.overview.queryOptions(), refetchInterval: 10_000 });
  // The last 15 minutes once, to fill the charts; the stream appends from then on.
  const past = useQuery({ ...trpc.monitor.history.queryOptions({ scope: "appliance", key: "appliance", range: "15m" }), staleTime: Infinity, refetchOnWindowFocus: false });
  const seed = useMemo(() => (past.data?.source === "live" ? historyToPoints(past.data.live) : undefined), [past.data]);
  const feed = useLiveFeed({ pick: pickAppliance, seed });
  const sessions = useSessionsNow(feed);

  if (!overview.isSuccess) return <QueryStatus query={overview} label="Loading live statistics…" />;
  const o = overview.data;
  const normal = sessions.data ? sessions.data.filter((s) => s.sessionType === "Normal").length : o.sessions;
  const discovery = sessions.data ? sessions.data.length - normal : o.discoverySessions;

  return (
    <Card title="Live IO" id="live-panel" actions={<LiveBadge feed={feed} />} className="mb-6">
      {!o.statsEnabled && (
        <p className="mb-3 rounded border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900" data-testid="stats-off">
          IO counting is switched off (PORTICO_STATS=off): rates and charts stay at zero.
        </p>
      )}
      <div className="mb-4 grid grid-cols-2 gap-3 md:grid-cols-5">
        <IopsCard feed={feed} fallback={o.latest} />
        <Stat label="Sessions" value={<Link href="/sessions" className="hover:underline">{normal}</Link>} hint={discovery ? `logged in · + ${discovery} discovery` : "logged in"} testId="card-sessions" />
        <Stat label="LUNs" value={o.luns} hint={`${o.storageObjects} storage object${o.storageObjects === 1 ? "" : "s"}`} testId="card-luns" />
        <Stat label="Capacity" value={fmtBytes(o.capacityBytes)} hint="exported storage" testId="card-capacity" />
        <ErrorsCard feed={feed} o={o} />
      </div>
      <IoCharts feed={feed} spanMs={15 * 60_000} testIdPrefix="overview" />
      <h3 className="mt-5 mb-2 text-sm font-semibold">Busiest LUNs</h3>
      <BusiestLuns feed={feed} />
    </Card>
  );
});

type Overview = {
  errorsTotal: number;
  errorBreakdown: { kind: string; count: number }[];
  unitAttentionsTotal: number;
  loginFailuresTotal: number;
  resetsTotal: number;
  latest?: SampleEvent["appliance"];
};

/** "6 illegal request · 4 medium error": the kinds of the errors, which add up to their total. */
function breakdownText(o: Overview): string {
  if (o.errorsTotal === 0) return "none since start";
  const shown = o.errorBreakdown.slice(0, 3);
  const rest = o.errorBreakdown.slice(3).reduce((n, x) => n + x.count, 0);
  return [...shown.map((x) => `${fmtCount(x.count)} ${x.kind}`), ...(rest ? [`${fmtCount(rest)} other`] : [])].join(" · ");
}

function IopsCard({ feed, fallback }: { feed: LiveFeed; fallback: SampleEvent["appliance"] | undefined }) {
  const iops = useLiveValue(feed, (e) => {
    const a = e?.appliance ?? fallback;
    return a ? fmtIops(a.readIops + a.writeIops + a.otherIops) : fmtIops(0);
  });
  const hint = useLiveValue(feed, (e) => {
    const a = e?.appliance ?? fallback;
    return a ? fmtMBps(a.readMBps + a.writeMBps) : "no samples yet";
  });
  return <Stat label="IOPS" value={iops} hint={hint} testId="card-iops" />;
}

function ErrorsCard({ feed, o }: { feed: LiveFeed; o: Overview }) {
  const erring = useLiveValue(feed, (e) => (e?.appliance ?? o.latest)?.errorsPerSec !== undefined && (e?.appliance ?? o.latest)!.errorsPerSec > 0);
  return (
    <Stat
      label={o.errorsTotal === 1 ? "Command error" : "Command errors"}
      value={<Link href="/events" className="hover:underline">{fmtCount(o.errorsTotal)}</Link>}
      hint={
        <>
          <span data-testid="error-breakdown">{breakdownText(o)}</span>
          <br />
          <span data-testid="error-others">
            Apart: {fmtCount(o.loginFailuresTotal)} refused login{o.loginFailuresTotal === 1 ? "" : "s"} · {fmtCount(o.resetsTotal)} reset{o.resetsTotal === 1 ? "" : "s"} ·{" "}
            {fmtCount(o.unitAttentionsTotal)} unit attention{o.unitAttentionsTotal === 1 ? "" : "s"}
          </span>
        </>
      }
      tone={o.errorsTotal > 0 || erring ? "bad" : undefined}
      testId="card-errors"
    />
  );
}

function BusiestLuns({ feed }: { feed: LiveFeed }) {
  const latest = useLiveLatest(feed);
  const busiest = (latest?.luns ?? []).map((l) => ({ ...l, iops: l.readIops + l.writeIops + l.otherIops })).sort((x, y) => y.iops - x.iops).slice(0, 5);
  if (busiest.length === 0) {
    return (
      <div data-testid="busiest-luns-empty">
        <EmptyState title={latest ? "No LUNs are configured" : "Waiting for the first sample…"} />
      </div>
    );
  }
  return (
    <div className="relative overflow-x-auto">
      <table className="w-full min-w-[36rem] text-left text-sm" data-testid="busiest-luns" aria-label="Busiest LUNs">
        <TableHead
          columns={[
            "LUN",
            "Storage object",
            { label: "IOPS", numeric: true },
            { label: "Read", numeric: true },
            { label: "Write", numeric: true },
            { label: "p99 latency", numeric: true },
            { label: "In flight", numeric: true },
          ]}
        />
        <tbody>
          {busiest.map((l) => (
            <tr key={l.key} data-testid="busiest-lun" data-key={l.key}>
              <td className={td}>
                <Link href={lunHref(l.key)} className="text-sky-800 hover:underline dark:text-sky-300">
                  <span className="break-all">{l.targetName}</span> · tpg{l.tpgTag} · LUN {l.lun}
                </Link>
              </td>
              <td className={td}>{l.storageObject}</td>
              <td className={`${td} text-right tabular-nums`}>{fmtIops(l.iops)}</td>
              <td className={`${td} text-right tabular-nums`}>{fmtMBps(l.readMBps)}</td>
              <td className={`${td} text-right tabular-nums`}>{fmtMBps(l.writeMBps)}</td>
              <td className={`${td} text-right tabular-nums`}>{fmtLatency(Math.max(l.readP99Us, l.writeP99Us))}</td>
              <td className={`${td} text-right tabular-nums`}>{l.inFlight}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

"use client";
/**
 * The overview's live panel: appliance-wide IOPS, throughput and latency (last 15
 * minutes, 1 s resolution, streamed), cards for sessions, LUNs, capacity and errors,
 * and the busiest LUNs. Test ids: live-panel, live-status, card-sessions, card-luns,
 * card-capacity, card-errors, card-iops, overview-iops/-throughput/-latency, busiest-luns.
 */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useMemo } from "react";
import { useTRPC } from "@/components/trpc";
import { IoCharts } from "./charts";
import { fmtBytes, fmtCount, fmtIops, fmtLatency, fmtMBps, lunHref } from "./format";
import { historyToPoints, LiveBadge, useLive } from "./live";
import { Empty, Failure, Loading, Panel, Stat, td, th } from "./ui";

export function LivePanel() {
  const trpc = useTRPC();
  const overview = useQuery({ ...trpc.monitor.overview.queryOptions(), refetchInterval: 5_000 });
  // The last 15 minutes once, to fill the charts; the stream appends from then on.
  const past = useQuery({ ...trpc.monitor.history.queryOptions({ scope: "appliance", key: "appliance", range: "15m" }), staleTime: Infinity, refetchOnWindowFocus: false });
  const seed = useMemo(() => (past.data?.source === "live" ? historyToPoints(past.data.live) : undefined), [past.data]);
  const live = useLive({ pick: (e) => e.appliance, seed });

  if (overview.isPending) return <Loading label="Loading live statistics…" testId="live-panel-loading" />;
  if (overview.isError) return <Failure message={overview.error.message} retry={() => void overview.refetch()} testId="live-panel-error" />;
  const o = overview.data;
  const a = live.latest?.appliance ?? o.latest;
  const iops = a ? a.readIops + a.writeIops + a.otherIops : 0;
  const busiest = (live.latest?.luns ?? []).map((l) => ({ ...l, iops: l.readIops + l.writeIops + l.otherIops })).sort((x, y) => y.iops - x.iops).slice(0, 5);
  const sessions = live.latest ? live.latest.sessions.length : o.sessions;

  return (
    <Panel title="Live IO" testId="live-panel" actions={<LiveBadge status={live.status} error={live.error} />} className="mb-6">
      {!o.statsEnabled && (
        <p className="mb-3 rounded border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900" data-testid="stats-off">
          IO counting is switched off (PORTICO_STATS=off): rates and charts stay at zero.
        </p>
      )}
      <div className="mb-4 grid grid-cols-2 gap-3 md:grid-cols-5">
        <Stat label="IOPS" value={fmtIops(iops)} hint={a ? `${fmtMBps(a.readMBps + a.writeMBps)}` : "no samples yet"} testId="card-iops" />
        <Stat label="Sessions" value={<Link href="/sessions" className="hover:underline">{sessions}</Link>} hint={o.discoverySessions ? `+ ${o.discoverySessions} discovery` : "logged in"} testId="card-sessions" />
        <Stat label="LUNs" value={o.luns} hint={`${o.storageObjects} storage object${o.storageObjects === 1 ? "" : "s"}`} testId="card-luns" />
        <Stat label="Capacity" value={fmtBytes(o.capacityBytes)} hint="exported storage" testId="card-capacity" />
        <Stat
          label="Errors"
          value={<Link href="/events" className="hover:underline">{fmtCount(o.errorsTotal)}</Link>}
          hint={`${fmtCount(o.loginFailuresTotal)} login failures · ${fmtCount(o.resetsTotal)} resets`}
          tone={o.errorsTotal > 0 || (a?.errorsPerSec ?? 0) > 0 ? "bad" : undefined}
          testId="card-errors"
        />
      </div>
      <IoCharts data={live.series} spanMs={15 * 60_000} testIdPrefix="overview" />
      <h3 className="mt-5 mb-2 text-sm font-semibold">Busiest LUNs</h3>
      {busiest.length === 0 ? (
        <Empty title={live.latest ? "No LUNs are configured" : "Waiting for the first sample…"} testId="busiest-luns-empty" />
      ) : (
        <div className="overflow-x-auto">
          <table className="w-full min-w-[36rem] text-left text-sm" data-testid="busiest-luns" aria-label="Busiest LUNs">
            <thead>
              <tr>
                <th className={th}>LUN</th>
                <th className={th}>Storage object</th>
                <th className={`${th} text-right`}>IOPS</th>
                <th className={`${th} text-right`}>Read</th>
                <th className={`${th} text-right`}>Write</th>
                <th className={`${th} text-right`}>p99 latency</th>
                <th className={`${th} text-right`}>Queue</th>
              </tr>
            </thead>
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
                  <td className={`${td} text-right tabular-nums`}>{l.queueDepth}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}

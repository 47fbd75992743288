"use client";
/**
 * LUNs: every exported LUN with its live rates, and a LUN's detail page with charts
 * for the live 15 minutes (1 s, streamed) and the stored 1 h / 24 h / 7 d history.
 * Test ids: luns-table, lun-row (data-key), lun-detail, range-<id>, lun-iops/-throughput/-latency, lun-totals.
 */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useCallback, useMemo, useState } from "react";
import { useTRPC, type RouterOutputs } from "@/components/trpc";
import { Badge, Card, EmptyState, ErrorState, LoadingState, QueryStatus, TableHead, td } from "@/components/ui";
import { Stat } from "@/components/ui/stat";
import { IoCharts } from "./charts";
import { cx, fmtBytes, fmtCount, fmtIops, fmtLatency, fmtMBps, lunHref } from "./format";
import { plural } from "@/components/form";
import { historyToPoints, LiveBadge, useLiveFeed, useLiveLatest, type LiveFeed, type SampleEvent } from "./live";

export function LunsPage() {
  const trpc = useTRPC();
  const luns = useQuery({ ...trpc.monitor.luns.queryOptions(), refetchInterval: 5_000 });
  const feed = useLiveFeed();
  const latest = useLiveLatest(feed);
  const rates = useMemo(() => new Map((latest?.luns ?? []).map((l) => [l.key, l])), [latest]);
  return (
    <div>
      <div className="mb-6 flex flex-wrap items-start justify-between gap-3">
        <div>
          <h1 className="text-2xl font-semibold tracking-tight">LUNs</h1>
          <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">How busy each exported LUN is. Open one for its charts and history.</p>
        </div>
         <LiveBadge feed={feed} />
      </div>
      <Card>
        {!luns.isSuccess ? (
          <QueryStatus query={luns} label="Loading LUNs…" />
        ) : luns.data.length === 0 ? (
          <div data-testid="luns-empty">
            <EmptyState title="No LUN is exported">Export a storage object from a target&apos;s TPG to see its IO here.</EmptyState>
          </div>
        ) : (
          <div className="relative overflow-x-auto">
            <table className="w-full min-w-[48rem] text-left text-sm" data-testid="luns-table" aria-label="LUNs">
              <TableHead
                columns={[
                  "Target / TPG / LUN",
                  "Storage object",
                  { label: "Size", numeric: true },
                  { label: "IOPS", numeric: true },
                  { label: "Read", numeric: true },
                  { label: "Write", numeric: true },
                  { label: "p99", numeric: true },
                  { label: "Errors", numeric: true },
                ]}
              />
              <tbody>
                {luns.data.map((l) => {
                  const r = rates.get(l.key) ?? l.latest;
                  return (
                    <tr key={l.key} data-testid="lun-row" data-key={l.key}>
                      <td className={td}>
                        <Link href={lunHref(l.key)} className="text-sky-800 hover:underline dark:text-sky-300">
                          <span className="break-all">{l.targetName}</span> · tpg{l.tpgTag} · LUN {l.lun}
                        </Link>
                      </td>
                      <td className={td}>
                        {l.storageObject} <Badge>{l.backstore}</Badge>
                      </td>
                      <td className={`${td} text-right tabular-nums`}>{fmtBytes(l.sizeBytes)}</td>
                      <td className={`${td} text-right tabular-nums`}>{r ? fmtIops(r.readIops + r.writeIops + r.otherIops) : "–"}</td>
                      <td className={`${td} text-right tabular-nums`}>{fmtMBps(r?.readMBps)}</td>
                      <td className={`${td} text-right tabular-nums`}>{fmtMBps(r?.writeMBps)}</td>
                      <td className={`${td} text-right tabular-nums`}>{r ? fmtLatency(Math.max(r.readP99Us, r.writeP99Us)) : "–"}</td>
                      <td className={cx(td, "text-right tabular-nums", l.totals.errors > 0 && "text-red-700")}>{fmtCount(l.totals.errors)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  );
}

const RANGES = [
  { id: "15m", label: "Live 15 min", spanMs: 15 * 60_000 },
  { id: "1h", label: "1 hour", spanMs: 3600_000 },
  { id: "24h", label: "24 hours", spanMs: 24 * 3600_000 },
  { id: "7d", label: "7 days", spanMs: 7 * 24 * 3600_000 },
] as const;
type RangeId = (typeof RANGES)[number]["id"];

export function LunDetailPage({ lunKey }: { lunKey: string }) {
  const trpc = useTRPC();
  const [range, setRange] = useState<RangeId>("15m");
  const lun = useQuery({ ...trpc.monitor.lun.queryOptions({ key: lunKey }), refetchInterval: 5_000 });
  const seedQ = useQuery({ ...trpc.monitor.history.queryOptions({ scope: "lun", key: lunKey, range: "15m" }), staleTime: Infinity, refetchOnWindowFocus: false });
  const stored = useQuery({ ...trpc.monitor.history.queryOptions({ scope: "lun", key: lunKey, range: range === "15m" ? "1h" : range }), enabled: range !== "15m", refetchInterval: 60_000 });
  const seed = useMemo(() => (seedQ.data?.source === "live" ? historyToPoints(seedQ.data.live) : []), [seedQ.data]);
  const pick = useCallback((e: SampleEvent) => e.luns.find((l) => l.key === lunKey), [lunKey]);
  const feed = useLiveFeed({ pick, seed });
  const points = useMemo(() => (stored.data?.source === "stored" ? stored.data.points : []), [stored.data]);
  const [target, tpg, n] = lunKey.split("|");

  if (!lun.isSuccess) return <QueryStatus query={lun} label="Loading LUN…" />;
  if (!lun.data) {
    return (
      <div data-testid="lun-missing">
        <EmptyState title="This LUN does not exist (any more)">
          <span className="break-all">{target}</span> tpg{tpg} LUN {n}. <Link href="/luns" className="text-sky-800 underline">All LUNs</Link>
        </EmptyState>
      </div>
    );
  }
  const l = lun.data;
  const spec = RANGES.find((r) => r.id === range)!;

  return (
    <div data-testid="lun-detail" data-key={lunKey}>
      <nav className="mb-2 text-sm">
        <Link href="/luns" className="text-sky-800 hover:underline dark:text-sky-300">
          LUNs
        </Link>{" "}
        /
      </nav>
      <div className="mb-6 flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <h1 className="text-2xl font-semibold tracking-tight">
            LUN {l.lun} · {l.storageObject}
          </h1>
          <p className="mt-1 text-sm break-all text-slate-600 dark:text-slate-400">
            {l.targetName} · tpg{l.tpgTag} · {l.backstore} · {fmtBytes(l.sizeBytes)}
          </p>
        </div>
        <LiveBadge feed={feed} />
      </div>
      <LunNow feed={feed} lun={l} />
      <Card
        title="IO over time"
        actions={
          <div role="group" aria-label="Time range" className="inline-flex overflow-hidden rounded-md border border-slate-300 dark:border-slate-700">
            {RANGES.map((r) => (
              <button
                key={r.id}
                type="button"
                aria-pressed={range === r.id}
                data-testid={`range-${r.id}`}
                onClick={() => setRange(r.id)}
                className={cx("px-3 py-1 text-sm", range === r.id ? "bg-sky-700 text-white" : "bg-white text-slate-700 hover:bg-slate-50 dark:bg-slate-900 dark:text-slate-200")}
              >
                {r.label}
              </button>
            ))}
          </div>
        }
      >
        {range !== "15m" && stored.isPending ? (
          <LoadingState label="Loading history…" />
        ) : range !== "15m" && stored.isError ? (
          <ErrorState error={stored.error} retry={() => void stored.refetch()} />
        ) : (
          <>
            {range !== "15m" && points.length === 0 && (
              <p className="mb-2 text-sm text-slate-600" data-testid="history-empty">
                No stored minutes in this range yet: history is written once a minute and kept for 7 days.
              </p>
            )}
            {range === "15m" ? (
              <IoCharts feed={feed} spanMs={spec.spanMs} testIdPrefix="lun" height={220} />
            ) : (
              <IoCharts points={points} spanMs={spec.spanMs} testIdPrefix="lun" withDate={range === "7d" || range === "24h"} height={220} />
            )}
            <p className="mt-2 text-xs text-slate-500">
              {range === "15m"
                ? "1-second samples. Latency is the 99th percentile per second, from dispatch to response."
                : `Averages per ${stored.data?.source === "stored" ? Math.round(stored.data.bucketMs / 60_000) : "–"} minutes; latency is the worst minute's 99th percentile.`}
            </p>
          </>
        )}
      </Card>
    </div>
  );
}

type LunRow = NonNullable<RouterOutputs["monitor"]["lun"]>;

/** The cards with the LUN's rates now: the only part of the page that renders each second. */
function LunNow({ feed, lun: l }: { feed: LiveFeed; lun: LunRow }) {
  const latest = useLiveLatest(feed);
  const cur = latest?.luns.find((x) => x.key === l.key) ?? l.latest;
  return (
    <div className="mb-4 grid grid-cols-2 gap-3 md:grid-cols-5" data-testid="lun-totals">
      <Stat label="IOPS now" value={cur ? fmtIops(cur.readIops + cur.writeIops + cur.otherIops) : "–"} hint={cur ? `R ${fmtIops(cur.readIops)} · W ${fmtIops(cur.writeIops)}` : undefined} />
      <Stat label="Throughput" value={cur ? fmtMBps(cur.readMBps + cur.writeMBps) : "–"} hint={cur ? `R ${fmtMBps(cur.readMBps)} · W ${fmtMBps(cur.writeMBps)}` : undefined} />
      {/* In flight at the last sample, as Overview's Busiest LUNs shows it: one source for both. */}
      <Stat label="In flight" value={cur ? cur.inFlight : "–"} hint={cur ? `avg ${cur.avgInFlight.toFixed(1)}` : "no sample yet"} />
      <Stat label="Data since start" value={fmtBytes(l.totals.readBytes + l.totals.writeBytes)} hint={`${plural(l.totals.readCommands, "read")} · ${plural(l.totals.writeCommands, "write")}`} />
      <Stat
        label="Errors"
        value={fmtCount(l.totals.errors)}
        tone={l.totals.errors ? "bad" : undefined}
        hint={`since start · ${fmtCount(l.totals.unitAttentions)} unit attention${l.totals.unitAttentions === 1 ? "" : "s"} apart`}
      />
    </div>
  );
}

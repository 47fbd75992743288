"use client";
/** One session: identity, connections, negotiated parameters, totals and its live charts. Test ids: session-detail, session-missing. */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useMemo, useState } from "react";
import { useTRPC } from "@/components/trpc";
import { IoCharts } from "./charts";
import { fmtBytes, fmtDateTime, fmtDuration, fmtIops, fmtMBps } from "./format";
import { historyToPoints, LiveBadge, useLiveFeed, useLiveLatest, type SampleEvent } from "./live";
import { DisconnectDialog, Parameters, withLiveRates, type SessionRow } from "./sessions";
import { Badge, Button, Card, EmptyState, QueryStatus, TableHead, td } from "@/components/ui";
import { Stat } from "@/components/ui/stat";
import { ConnectionInstructions } from "@/components/onboarding/instructions";
import { plural } from "@/components/form";

export function SessionDetailPage({ id }: { id: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const q = useQuery({ ...trpc.sessions.get.queryOptions({ id }), refetchInterval: 2_000 });
  const past = useQuery({ ...trpc.monitor.history.queryOptions({ scope: "session", key: id, range: "15m" }), staleTime: Infinity, refetchOnWindowFocus: false });
  const seed = useMemo(() => (past.data?.source === "live" ? historyToPoints(past.data.live) : undefined), [past.data]);
  const pick = useCallback((e: SampleEvent) => e.sessions.find((s) => s.id === id), [id]);
  const feed = useLiveFeed({ pick, seed });
  // The cards show the rates now: this page renders once a second (the charts draw themselves).
  const latest = useLiveLatest(feed);
  const [doomed, setDoomed] = useState<SessionRow | null>(null);

  if (!q.isSuccess) return <QueryStatus query={q} label="Loading session…" />;
  if (!q.data.session) {
    return (
      <div data-testid="session-missing">
        <EmptyState title="This session has ended">
          The initiator logged out or its connection closed. <Link href="/sessions" className="text-sky-800 underline">All sessions</Link> ·{" "}
          <Link href="/events" className="text-sky-800 underline">Events</Link>
        </EmptyState>
      </div>
    );
  }
  const s = withLiveRates([q.data.session], latest)[0];
  return (
    <div data-testid="session-detail" data-id={id}>
      <nav className="mb-2 text-sm">
        <Link href="/sessions" className="text-sky-800 hover:underline dark:text-sky-300">
          Sessions
        </Link>{" "}
        /
      </nav>
      <div className="mb-6 flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <h1 className="text-2xl font-semibold tracking-tight break-all">{s.initiatorName}</h1>
          <p className="mt-1 text-sm break-all text-slate-600 dark:text-slate-400">
            {s.initiatorAlias ? `${s.initiatorAlias} · ` : ""}
            {s.targetName ?? "discovery"} {s.tpgTag !== undefined ? `· tpg${s.tpgTag}` : ""} · ISID {s.isid} · TSIH {s.tsih} ·{" "}
            {s.authenticated ? <Badge tone="ok">CHAP</Badge> : <Badge>no CHAP</Badge>}
          </p>
        </div>
        <div className="flex items-center gap-2">
          <LiveBadge feed={feed} />
          <Button tone="danger" onClick={() => setDoomed(s)} data-testid="disconnect-button">
            Disconnect
          </Button>
        </div>
      </div>
      <div className="mb-4 grid grid-cols-2 gap-3 md:grid-cols-4">
        <Stat label="IOPS" value={fmtIops(s.iops)} hint={`R ${fmtIops(s.readIops)} · W ${fmtIops(s.writeIops)}`} testId="detail-iops" />
        <Stat label="Throughput" value={fmtMBps(s.mbps)} hint={`R ${fmtMBps(s.readMBps)} · W ${fmtMBps(s.writeMBps)}`} />
        <Stat label="Since login" value={fmtBytes(s.totals.readBytes + s.totals.writeBytes)} hint={`${plural(s.totals.readCommands, "read")} · ${plural(s.totals.writeCommands, "write")} · ${plural(s.totals.errors, "error")}`} />
        <Stat label="Logged in" value={fmtDuration(Date.now() - s.loginTime)} hint={fmtDateTime(s.loginTime)} />
      </div>
      <Card title="IO, last 15 minutes" className="mb-4">
        <IoCharts feed={feed} spanMs={15 * 60_000} testIdPrefix="session-chart" />
      </Card>
      <div className="grid gap-4 lg:grid-cols-2">
        <Card title="Connections">
          <div className="relative overflow-x-auto">
          <table className="w-full min-w-[24rem] text-left text-sm" aria-label="Connections">
            <TableHead columns={["CID", "Initiator address", "Portal"]} />
            <tbody>
              {s.connections.map((c) => (
                <tr key={c.cid}>
                  <td className={td}>{c.cid}</td>
                  <td className={`${td} font-mono text-xs`}>
                    {c.remoteAddress}:{c.remotePort}
                  </td>
                  <td className={`${td} font-mono text-xs`}>
                    {c.localAddress}:{c.localPort}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
        </Card>
        <Card title="Negotiated parameters">
          <Parameters params={s.parameters} narrow />
        </Card>
      </div>
      {s.targetName && s.tpgTag !== undefined && (
        <Card title="How this initiator connects" className="mt-4">
          <ConnectionInstructions wwn={s.targetName} tag={s.tpgTag} initiatorName={s.initiatorName} />
        </Card>
      )}
      <DisconnectDialog session={doomed} onClose={() => setDoomed(null)} onDone={() => router.push("/sessions")} />
    </div>
  );
}

"use client";
/**
 * Overview: appliance status, object counts, what needs attention, live sessions.
 * Status and tree refresh every 5 s. Sessions have one source on this page: the
 * sessions.list query shared with the live panel's card (refetched as soon as the live
 * stream shows a session come or go), so the count and the list never disagree.
 */
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { formatUptime, plural } from "../form";
import { useTRPC } from "../trpc";
import { LivePanel, useSessionsNow } from "../monitor/live-panel";
import { Alert, Badge, Card, DataTable, EmptyState, ErrorState, LinkButton, LoadingState, PageHeader, QueryStatus, TableHead, td } from "../ui";
import { fmtTime } from "../monitor/format";

/** Status and tree: counts, warnings and what needs attention change rarely; sessions and rates come from the live panel's stream. */
const REFRESH_MS = 5_000;

export function Overview() {
  const trpc = useTRPC();
  const status = useQuery({ ...trpc.system.status.queryOptions(), refetchInterval: REFRESH_MS });
  const tree = useQuery({ ...trpc.config.tree.queryOptions(), refetchInterval: REFRESH_MS });
  const info = useQuery(trpc.host.info.queryOptions());
  // Offline or full storage, repeated login refusals, slow LUNs: the alert rules on fresh facts.
  const alerts = useQuery({ ...trpc.alerts.attention.queryOptions(), refetchInterval: REFRESH_MS });
  if (status.isPending || tree.isPending) return <LoadingState />;
  if (status.isError) return <ErrorState error={status.error} retry={() => void status.refetch()} />;
  if (tree.isError) return <ErrorState error={tree.error} retry={() => void tree.refetch()} />;
  const s = status.data;
  const c = s.counts;
  const attention: { key: string; text: React.ReactNode; href: string }[] = [];
  if (!s.fabric) attention.push({ key: "fabric", text: `The iSCSI fabric is not loaded${s.health.fabric.error ? ` (${s.health.fabric.error})` : ""}: no initiator can connect.`, href: "/" });
  const uncaught = s.health.uncaught.exceptions + s.health.uncaught.rejections;
  if (uncaught > 0) attention.push({ key: "uncaught", text: `${uncaught} internal ${uncaught === 1 ? "error" : "errors"} since start (last: ${s.health.uncaught.last?.message ?? "unknown"}).`, href: "/events" });
  for (const w of s.warnings) attention.push({ key: `w-${w.object}`, text: <><code className="break-all">{w.object}</code> failed to restore: {w.reason}</>, href: w.object.startsWith("/backstores/") ? `/storage/${w.object.split("/").slice(2).join("/")}` : "/targets" });
  for (const p of s.portals) if (!p.listening && !s.warnings.some((w) => w.object.endsWith(`/portals/${p.ip}:${p.port}`))) attention.push({ key: `p-${p.wwn}-${p.key}`, text: <>Portal <code>{p.key}</code> of <code className="break-all">{p.wwn}</code> is not listening.</>, href: `/targets/${encodeURIComponent(p.wwn)}?tpg=${p.tag}&tab=portals` });
  for (const a of alerts.data ?? []) {
    if (a.rule === "portal_down") continue; // listed above from the portals themselves
    if (s.warnings.some((w) => w.object === a.object)) continue; // failed to restore: listed above
    const so = /^\/backstores\/([^#]+)/.exec(a.object)?.[1];
    const href =
      a.rule === "login_failures" ? "/events" : a.rule === "high_latency" ? `/luns/${encodeURIComponent(a.object.replace(/^lun /, ""))}` : so ? `/storage/${so}` : "/";
    attention.push({ key: `a-${a.id}`, text: <><span className="font-medium">{a.summary}.</span> {a.description}</>, href });
  }
  for (const t of tree.data.targets) {
    for (const g of t.tpgs) {
      if (!g.enabled) attention.push({ key: `d-${t.wwn}-${g.tag}`, text: <>tpg{g.tag} of <code className="break-all">{t.wwn}</code> is disabled: initiators cannot log in to it.</>, href: `/targets/${encodeURIComponent(t.wwn)}?tpg=${g.tag}` });
      else if (!g.portals.length) attention.push({ key: `np-${t.wwn}-${g.tag}`, text: <>tpg{g.tag} of <code className="break-all">{t.wwn}</code> has no portal.</>, href: `/targets/${encodeURIComponent(t.wwn)}?tpg=${g.tag}&tab=portals` });
      else if (!g.luns.length) attention.push({ key: `nl-${t.wwn}-${g.tag}`, text: <>tpg{g.tag} of <code className="break-all">{t.wwn}</code> exports no LUN.</>, href: `/targets/${encodeURIComponent(t.wwn)}?tpg=${g.tag}&tab=luns` });
    }
  }
  const stats = [
    { label: "Storage objects", value: c.storageObjects, href: "/storage", testId: "count-storage" },
    { label: "Targets", value: c.targets, href: "/targets", testId: "count-targets" },
    { label: "LUNs", value: c.luns, href: "/targets", testId: "count-luns" },
    { label: "Portals listening", value: `${c.portalsListening} / ${c.portals}`, href: "/targets", testId: "count-portals" },
  ];
  return (
    <>
      <PageHeader title="Overview" description={`${info.data?.appliance.name ?? "Appliance"} · Portico ${s.version} · up ${formatUptime(s.uptimeSeconds)}`} />
      <LivePanel />
      <div className="mb-6 grid grid-cols-2 gap-3 lg:grid-cols-4" data-testid="status-panel">
        {stats.map((x) => (
          <Link key={x.label} href={x.href} className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm hover:border-sky-400 dark:border-slate-800 dark:bg-slate-900">
            <span className="block text-xs font-medium text-slate-600 uppercase dark:text-slate-400">{x.label}</span>
            <span className="mt-1 block text-2xl font-semibold" data-testid={x.testId}>
              {x.value}
            </span>
          </Link>
        ))}
      </div>
      <div className="grid gap-6 lg:grid-cols-2">
        <Card title="Needs attention" id="attention">
          {attention.length === 0 ? (
            <Alert tone="ok">Everything configured is live.</Alert>
          ) : (
            <ul className="space-y-2" data-testid="restore-warnings">
              {attention.map((a) => (
                <li key={a.key} data-testid="attention-item">
                  <Link href={a.href} className="block rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-950 hover:border-amber-500 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100">
                    {a.text}
                  </Link>
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title="Targets" id="targets-summary" actions={<LinkButton href="/targets/new">New target</LinkButton>}>
          {tree.data.targets.length === 0 ? (
            <EmptyState title="No targets yet" action={<LinkButton tone="primary" href="/targets/new">Create a target</LinkButton>}>
              A target is what initiators connect to; it exports storage as LUNs.
            </EmptyState>
          ) : (
            <ul className="divide-y divide-slate-200 dark:divide-slate-800">
              {tree.data.targets.map((t) => (
                <li key={t.wwn} className="py-2" data-testid="target">
                  <Link href={`/targets/${encodeURIComponent(t.wwn)}`} className="font-mono text-sm break-all text-sky-800 hover:underline dark:text-sky-300">
                    {t.wwn}
                  </Link>
                  <div className="mt-1 flex flex-wrap gap-1">
                    {t.tpgs.map((g) => (
                      <Badge key={g.tag} tone={g.enabled ? "ok" : "off"}>
                        tpg{g.tag}: {plural(g.luns.length, "LUN")} · {g.portals.map((p) => p.key).join(", ") || "no portal"}
                      </Badge>
                    ))}
                  </div>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <div id="sessions" className="mt-6">
        <OverviewSessions />
      </div>
    </>
  );
}

/** Who is logged in (discovery sessions included), from the same query as the live panel's Sessions card. */
function OverviewSessions() {
  const sessions = useSessionsNow();
  return (
    <Card title="Sessions" id="sessions-card">
      {!sessions.isSuccess ? (
        <QueryStatus query={sessions} label="Loading sessions…" />
      ) : sessions.data.length === 0 ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">No initiator is logged in.</p>
      ) : (
        <DataTable label="Sessions">
          <TableHead columns={["Initiator", "Target", "From", "Since"]} />
          <tbody>
            {sessions.data.map((x) => (
              <tr key={x.id} data-testid="session">
                <td className={`${td} font-mono break-all`}>
                  <Link href={`/sessions/${encodeURIComponent(x.id)}`} className="text-sky-800 hover:underline dark:text-sky-300">
                    {x.initiatorName}
                  </Link>
                </td>
                <td className={`${td} font-mono break-all`}>{x.sessionType === "Discovery" ? "(discovery)" : `${x.targetName} tpg${x.tpgTag}`}</td>
                <td className={td}>{x.connections.map((k) => k.remoteAddress).join(", ")}</td>
                <td className={td}>{fmtTime(x.loginTime)}</td>
              </tr>
            ))}
          </tbody>
        </DataTable>
      )}
    </Card>
  );
}

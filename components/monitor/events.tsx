"use client";
/**
 * Events: the audit log (configuration changes with what changed, before → after; sign-ins,
 * refused sign-ins, onboarding, starts and stops, with who and from where) and the activity log
 * (logins, logouts, refused logins with the reason, resets, unit attentions), newest first,
 * filtered by log, type, target, initiator and time. Reset notices (unit attention 29h after every
 * login) are hidden unless asked for. A refused login for want of an ACL offers "Allow this
 * initiator": the target's ACL form, filled in.
 * Test ids: events-filters, filter-log, filter-type-<type>, filter-show-resets, filter-target,
 * filter-initiator, filter-period, events-table, event-row (data-type, data-log), event-count,
 * event-changes, allow-initiator, events-empty, events-more.
 */
import Link from "next/link";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC, type RouterOutputs } from "@/components/trpc";
import { Badge, Button, Card, EmptyState, QueryStatus, TableHead, td } from "@/components/ui";
import { cx, fmtDateTime } from "./format";

type EventRow = RouterOutputs["events"]["list"][number];

const TYPES: { id: string; label: string; tone: "ok" | "warn" | "bad" | "off" | "info" }[] = [
  { id: "login", label: "Login", tone: "ok" },
  { id: "logout", label: "Logout", tone: "off" },
  { id: "login_failed", label: "Login failed", tone: "bad" },
  { id: "reset", label: "Reset", tone: "warn" },
  { id: "unit_attention_raised", label: "Unit attention raised", tone: "warn" },
  { id: "unit_attention", label: "Unit attention reported", tone: "warn" },
  { id: "config", label: "Configuration", tone: "info" },
  { id: "signin", label: "Sign-in", tone: "ok" },
  { id: "signin_failed", label: "Sign-in refused", tone: "bad" },
  { id: "signout", label: "Sign-out", tone: "off" },
  { id: "password_changed", label: "Password changed", tone: "info" },
  { id: "onboarding", label: "Onboarding", tone: "info" },
  { id: "appliance_start", label: "Started", tone: "info" },
  { id: "appliance_stop", label: "Stopped", tone: "off" },
  { id: "cluster_join", label: "Cluster join", tone: "info" },
  { id: "cluster_leave", label: "Cluster leave", tone: "warn" },
  { id: "cluster_evict", label: "Node removed", tone: "bad" },
  { id: "cluster_ownership", label: "Ownership change", tone: "warn" },
];
const LOGS = [
  { id: "all", label: "Everything" },
  { id: "audit", label: "Audit log (changes, sign-ins)" },
  { id: "activity", label: "Activity (initiators, engine)" },
] as const;
type Change = { object: string; action: "created" | "deleted" | "changed"; fields: { field: string; before?: unknown; after?: unknown; secret?: boolean }[] };
const PERIODS = [
  { id: "1h", label: "Last hour", ms: 3600_000 },
  { id: "24h", label: "Last 24 hours", ms: 24 * 3600_000 },
  { id: "7d", label: "Last 7 days", ms: 7 * 24 * 3600_000 },
  { id: "all", label: "Everything kept", ms: 0 },
] as const;
const PAGE = 200;

const input =
  "rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-900 focus-visible:outline-2 focus-visible:outline-sky-600";

export function EventsPage() {
  const trpc = useTRPC();
  const [types, setTypes] = useState<string[]>([]);
  const [log, setLog] = useState<(typeof LOGS)[number]["id"]>("all");
  const [showResets, setShowResets] = useState(false);
  const [target, setTarget] = useState("");
  const [initiator, setInitiator] = useState("");
  const [period, setPeriod] = useState<(typeof PERIODS)[number]["id"]>("24h");
  const [limit, setLimit] = useState(PAGE);
  const p = PERIODS.find((x) => x.id === period)!;
  // Rounded to the minute so the query key is stable between polls.
  const from = p.ms ? Math.floor((Date.now() - p.ms) / 60_000) * 60_000 : undefined;
  const facets = useQuery({ ...trpc.events.facets.queryOptions(), refetchInterval: 30_000 });
  const list = useQuery({
    ...trpc.events.list.queryOptions({
      log: log === "all" ? undefined : log,
      types: types.length ? types : undefined,
      hideResetNotices: !showResets,
      target: target || undefined,
      initiator: initiator.trim() || undefined,
      from,
      limit,
    }),
    refetchInterval: 5_000,
    placeholderData: keepPreviousData,
  });
  const toggleType = (id: string) => setTypes((t) => (t.includes(id) ? t.filter((x) => x !== id) : [...t, id]));
  const filtered = types.length > 0 || log !== "all" || !!target || !!initiator.trim() || period !== "24h";

  return (
    <div>
      <div className="mb-6">
        <h1 className="text-2xl font-semibold tracking-tight">Events</h1>
        <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
          The audit log — configuration changes with what changed, sign-ins, onboarding, starts and stops, with who and from where (kept 400 days) — and
          the activity log: logins and logouts, refused logins and why, resets, unit attentions (kept 30 days).
        </p>
      </div>
      <Card className="mb-4" id="events-filters">
        <form className="flex flex-wrap items-end gap-4" onSubmit={(e) => e.preventDefault()} aria-label="Filter events">
          <label className="flex flex-col text-sm">
            <span className="mb-1 text-xs font-medium text-slate-600 uppercase dark:text-slate-400">Log</span>
            <select className={input} value={log} onChange={(e) => setLog(e.target.value as typeof log)} data-testid="filter-log">
              {LOGS.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.label}
                </option>
              ))}
            </select>
          </label>
          <fieldset>
            <legend className="mb-1 text-xs font-medium text-slate-600 uppercase dark:text-slate-400">Type</legend>
            <div className="flex flex-wrap gap-1">
              {TYPES.map((t) => (
                <label key={t.id} className={cx("cursor-pointer rounded-md border px-2 py-1 text-sm", types.includes(t.id) ? "border-sky-700 bg-sky-50 text-sky-900 dark:bg-sky-950 dark:text-sky-200" : "border-slate-300 dark:border-slate-700")}>
                  <input type="checkbox" className="sr-only" checked={types.includes(t.id)} onChange={() => toggleType(t.id)} data-testid={`filter-type-${t.id}`} />
                  {t.label}
                </label>
              ))}
            </div>
          </fieldset>
          <label className="flex flex-col text-sm">
            <span className="mb-1 text-xs font-medium text-slate-600 uppercase dark:text-slate-400">Target</span>
            <select className={cx(input, "max-w-xs")} value={target} onChange={(e) => setTarget(e.target.value)} data-testid="filter-target">
              <option value="">All targets</option>
              {(facets.data?.targets ?? []).map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          <label className="flex flex-col text-sm">
            <span className="mb-1 text-xs font-medium text-slate-600 uppercase dark:text-slate-400">Initiator contains</span>
            <input className={input} value={initiator} onChange={(e) => setInitiator(e.target.value)} placeholder="iqn.1993-08.org.debian:…" list="event-initiators" data-testid="filter-initiator" />
            <datalist id="event-initiators">
              {(facets.data?.initiators ?? []).map((i) => (
                <option key={i} value={i} />
              ))}
            </datalist>
          </label>
          <label className="flex flex-col text-sm">
            <span className="mb-1 text-xs font-medium text-slate-600 uppercase dark:text-slate-400">Time</span>
            <select className={input} value={period} onChange={(e) => setPeriod(e.target.value as typeof period)} data-testid="filter-period">
              {PERIODS.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.label}
                </option>
              ))}
            </select>
          </label>
          <label className="flex items-center gap-2 self-center text-sm" title="The unit attention 29h (power on, reset or I_T nexus loss) every new session gets once per LUN">
            <input type="checkbox" checked={showResets} onChange={(e) => setShowResets(e.target.checked)} data-testid="filter-show-resets" />
            Show reset notices
          </label>
          {filtered && (
            <Button
              onClick={() => {
                setTypes([]);
                setLog("all");
                setTarget("");
                setInitiator("");
                setPeriod("24h");
              }}
            >
              Clear filters
            </Button>
          )}
        </form>
      </Card>
      <Card>
        {!list.isSuccess ? (
          <QueryStatus query={list} label="Loading events…" />
        ) : list.data.length === 0 ? (
          <div data-testid="events-empty">
            <EmptyState title={filtered ? "No event matches these filters" : "Nothing has happened in the last 24 hours"}>
              {filtered ? "Widen the time range or clear the filters." : "Logins, logouts and configuration changes will be listed here."}
            </EmptyState>
          </div>
        ) : (
          <>
            <div className="relative overflow-x-auto">
              <table className="w-full min-w-[56rem] text-left text-sm" data-testid="events-table" aria-label="Events">
                <TableHead columns={["Time", "Event", "Initiator", "Target", "Details"]} />
                <tbody>
                  {list.data.map((e) => (
                    <EventLine key={`${e.log}-${e.id}`} e={e} />
                  ))}
                </tbody>
              </table>
            </div>
            {list.data.length >= limit && (
              <Button className="mt-3" onClick={() => setLimit((l) => Math.min(l + PAGE, 1000))} disabled={limit >= 1000} data-testid="events-more">
                {limit >= 1000 ? "Showing the newest 1000: narrow the filters" : "Show older events"}
              </Button>
            )}
          </>
        )}
      </Card>
    </div>
  );
}

function EventLine({ e }: { e: EventRow }) {
  const t = TYPES.find((x) => x.id === e.type);
  const d = e.detail ?? {};
  let details: React.ReactNode = e.message ?? "";
  if (e.type === "login_failed")
    details = (
      <>
        {e.reason?.replace(/_/g, " ")}
        {e.message ? <span className="text-slate-600 dark:text-slate-400"> — {e.message}</span> : null}
        {d.cause === "ACL denied" && e.initiatorName && e.targetName && (
          <div className="mt-1">
            <Link
              href={`/targets/${encodeURIComponent(e.targetName)}?tpg=${e.tpgTag ?? 1}&tab=acls&allow=${encodeURIComponent(e.initiatorName)}`}
              className="text-sm font-medium text-sky-700 underline hover:text-sky-900 dark:text-sky-400"
              data-testid="allow-initiator"
            >
              Allow this initiator
            </Link>
          </div>
        )}
      </>
    );
  else if (e.type === "logout") details = <>{e.reason}</>;
  else if (e.type === "login")
    details = (
      <>
        {d.chap ? "CHAP" : "no CHAP"} · {String(d.sessionType ?? "")} · TSIH {String(d.tsih ?? "")}
        {/* The unit attentions the new nexus got at login (power on, 29h/00h, one per LUN) are part of its login row. */}
        {Array.isArray(d.unitAttentions) && d.unitAttentions.length > 0 && (
          <span className="text-slate-600 dark:text-slate-400" data-testid="login-unit-attentions">
            {" "}· unit attention on {(d.unitAttentions as { lun?: number | null; asc?: number; ascq?: number }[])
              .map((u) => `${typeof u.lun === "number" ? `LUN ${u.lun}` : "a LUN"} (${hex(u.asc)}/${hex(u.ascq)})`)
              .join(", ")}
          </span>
        )}
      </>
    );
  else if (e.type === "config") details = <ConfigDetails e={e} />;
  else if (AUDIT_TYPES.has(e.type))
    details = (
      <>
        <strong>{e.actor ?? "?"}</strong>
        {e.reason && <span> · {e.reason.replace(/_/g, " ")}</span>}
        {e.message && <span className="text-slate-600 dark:text-slate-400"> — {e.message}</span>}
      </>
    );
  else if (e.type === "unit_attention" || e.type === "unit_attention_raised")
    // raised: the SCSI layer queued it for this nexus; reported: a command of the nexus got it as CHECK CONDITION.
    details = (
      <>
        {e.lun !== null ? `LUN ${e.lun}` : "LUN not mapped in a live session"}
        {typeof d.storageObject === "string" && ` (${d.storageObject})`} · ASC/ASCQ {hex(d.asc)}/{hex(d.ascq)}
        {e.message && <span className="text-slate-600 dark:text-slate-400"> — {e.message}</span>}
      </>
    );
  else if (e.type === "reset") details = <>{["", "", "", "", "", "LUN reset", "target warm reset", "target cold reset"][Number(d.function)] ?? "reset"}{e.lun !== null ? ` · LUN ${e.lun}` : ""}</>;
  return (
    <tr data-testid="event-row" data-type={e.type} data-log={e.log}>
      <td className={`${td} whitespace-nowrap tabular-nums`}>
        {fmtDateTime(e.at)}
        {e.count > 1 && e.lastAt !== null && <div className="text-xs text-slate-600 dark:text-slate-400">to {fmtDateTime(e.lastAt)}</div>}
      </td>
      <td className={td}>
        <Badge tone={t?.tone ?? "off"}>{t?.label ?? e.type}</Badge>
        {e.count > 1 && (
          <span className="ml-1 text-xs font-medium tabular-nums" data-testid="event-count" title={`${e.count} times in this minute`}>
            ×{e.count}
          </span>
        )}
      </td>
      <td className={td}>
        <span className="break-all">{e.initiatorName ?? "–"}</span>
        {e.remote && <div className="font-mono text-xs text-slate-600 dark:text-slate-400">{e.remote}</div>}
      </td>
      <td className={td}>
        <span className="break-all">{e.targetName ?? "–"}</span>
        {e.tpgTag !== null && <span className="text-xs text-slate-600"> · tpg{e.tpgTag}</span>}
      </td>
      <td className={td}>{details}</td>
    </tr>
  );
}

const AUDIT_TYPES = new Set(["signin", "signin_failed", "signout", "password_changed", "onboarding", "appliance_start", "appliance_stop"]);
const VIA: Record<string, string> = { console: "console", cli: "portico CLI", "cli-offline": "portico CLI, appliance stopped", internal: "the appliance" };

/** A configuration change: what ran, who and how, and each object it changed with before → after (secrets masked by the server). */
function ConfigDetails({ e }: { e: EventRow }) {
  const d = e.detail ?? {};
  const changes = (Array.isArray(d.changes) ? d.changes : []) as Change[];
  const via = typeof d.via === "string" ? (VIA[d.via] ?? d.via) : undefined;
  const value = (v: unknown) => (v === undefined || v === null ? <em className="text-slate-500">none</em> : <code>{String(v)}</code>);
  return (
    <div>
      <code>{e.reason}</code> by <strong>{e.actor ?? "?"}</strong>
      {typeof d.osUser === "string" && <span> ({d.osUser})</span>}
      {via && <span className="text-slate-600 dark:text-slate-400"> · {via}</span>}
      {d.ok === false && <span className="text-red-700"> — failed: {e.message}</span>}
      {changes.length > 0 && (
        <details className="mt-1" data-testid="event-changes">
          <summary className="cursor-pointer text-slate-700 dark:text-slate-300">{e.message ?? `${changes.length} change${changes.length === 1 ? "" : "s"}`}</summary>
          <ul className="mt-1 space-y-1">
            {changes.map((c) => (
              <li key={`${c.action}-${c.object}`}>
                <span className="font-medium">{c.action}</span> <code className="break-all">{c.object}</code>
                {c.action !== "deleted" && c.fields.length > 0 && (
                  <ul className="ml-4 list-disc">
                    {c.fields.map((f) => (
                      <li key={f.field}>
                        <code>{f.field}</code>{" "}
                        {c.action === "created" ? (
                          <>= {value(f.after)}</>
                        ) : (
                          <>
                            {value(f.before)} → {value(f.after)}
                            {f.secret && f.before !== undefined && f.after !== undefined && <span className="text-slate-600"> (changed)</span>}
                          </>
                        )}
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
            {typeof d.moreChanges === "number" && <li className="text-slate-600">and {d.moreChanges} more</li>}
          </ul>
        </details>
      )}
    </div>
  );
}

function hex(v: unknown): string {
  return typeof v === "number" ? `0x${v.toString(16).padStart(2, "0")}` : "?";
}

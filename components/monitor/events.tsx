"use client";
/**
 * Events: logins, logouts, refused logins (with the reason), resets, unit attentions
 * and configuration changes (with who made them), newest first, filtered by type,
 * target, initiator and time. Test ids: events-filters, filter-type-<type>,
 * filter-target, filter-initiator, filter-period, events-table, event-row (data-type), events-empty, events-more.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC, type RouterOutputs } from "@/components/trpc";
import { Badge, Button, Card, EmptyState, ErrorState, LoadingState, td, th } from "@/components/ui";
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
];
const PERIODS = [
  { id: "1h", label: "Last hour", ms: 3600_000 },
  { id: "24h", label: "Last 24 hours", ms: 24 * 3600_000 },
  { id: "7d", label: "Last 7 days", ms: 7 * 24 * 3600_000 },
  { id: "all", label: "Everything kept (30 days)", ms: 0 },
] as const;
const PAGE = 200;

const input =
  "rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm dark:border-slate-700 dark:bg-slate-900 focus-visible:outline-2 focus-visible:outline-sky-600";

export function EventsPage() {
  const trpc = useTRPC();
  const [types, setTypes] = useState<string[]>([]);
  const [target, setTarget] = useState("");
  const [initiator, setInitiator] = useState("");
  const [period, setPeriod] = useState<(typeof PERIODS)[number]["id"]>("24h");
  const [limit, setLimit] = useState(PAGE);
  const p = PERIODS.find((x) => x.id === period)!;
  // Rounded to the minute so the query key is stable between polls.
  const from = p.ms ? Math.floor((Date.now() - p.ms) / 60_000) * 60_000 : undefined;
  const facets = useQuery({ ...trpc.events.facets.queryOptions(), refetchInterval: 30_000 });
  const list = useQuery({
    ...trpc.events.list.queryOptions({ types: types.length ? types : undefined, target: target || undefined, initiator: initiator.trim() || undefined, from, limit }),
    refetchInterval: 5_000,
    placeholderData: keepPreviousData,
  });
  const toggleType = (id: string) => setTypes((t) => (t.includes(id) ? t.filter((x) => x !== id) : [...t, id]));
  const filtered = types.length > 0 || !!target || !!initiator.trim() || period !== "24h";

  return (
    <div>
      <div className="mb-6">
        <h1 className="text-2xl font-semibold tracking-tight">Events</h1>
        <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
          Logins and logouts, refused logins and why, resets, unit attentions and configuration changes with who made them. Kept 30 days.
        </p>
      </div>
      <Card className="mb-4" id="events-filters">
        <form className="flex flex-wrap items-end gap-4" onSubmit={(e) => e.preventDefault()} aria-label="Filter events">
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
          {filtered && (
            <Button
              onClick={() => {
                setTypes([]);
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
        {list.isPending ? (
          <LoadingState label="Loading events…" />
        ) : list.isError ? (
          <ErrorState error={list.error} retry={() => void list.refetch()} />
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
                <thead>
                  <tr>
                    <th className={th}>Time</th>
                    <th className={th}>Event</th>
                    <th className={th}>Initiator</th>
                    <th className={th}>Target</th>
                    <th className={th}>Details</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.map((e) => (
                    <EventLine key={e.id} e={e} />
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
  if (e.type === "login_failed") details = <>{e.reason?.replace(/_/g, " ")}{e.message ? <span className="text-slate-600 dark:text-slate-400"> — {e.message}</span> : null}</>;
  else if (e.type === "logout") details = <>{e.reason}</>;
  else if (e.type === "login") details = <>{d.chap ? "CHAP" : "no CHAP"} · {String(d.sessionType ?? "")} · TSIH {String(d.tsih ?? "")}</>;
  else if (e.type === "config")
    details = (
      <>
        <code>{e.reason}</code> by <strong>{e.actor ?? "?"}</strong>
        {d.ok === false && <span className="text-red-700"> — failed: {e.message}</span>}
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
    <tr data-testid="event-row" data-type={e.type}>
      <td className={`${td} whitespace-nowrap tabular-nums`}>{fmtDateTime(e.at)}</td>
      <td className={td}>
        <Badge tone={t?.tone ?? "off"}>{t?.label ?? e.type}</Badge>
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

function hex(v: unknown): string {
  return typeof v === "number" ? `0x${v.toString(16).padStart(2, "0")}` : "?";
}

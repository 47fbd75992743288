"use client";
/**
 * Sessions: who is connected, busiest first. Rates come from the live stream (1 s),
 * the session list from a 2 s poll. A row expands to the negotiated parameters; the
 * detail page has the session's charts; "Disconnect" asks the initiator to log out
 * (iSCSI Async Message, AsyncEvent 1) and drops the session if it does not.
 * Test ids: sessions-table, session-row (data-id, data-initiator), session-iops,
 * session-mbps, session-params, disconnect-button, confirm-button, sessions-empty.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { Fragment, useMemo, useState } from "react";
import { useTRPC, type RouterOutputs } from "@/components/trpc";
import { Badge, Button, Card, ConfirmDialog, EmptyState, QueryStatus, td, th } from "@/components/ui";
import { cx, fmtDateTime, fmtDuration, fmtIops, fmtMBps, sessionHref } from "./format";
import { LiveBadge, useLiveFeed, useLiveLatest, type SampleEvent } from "./live";

export type SessionRow = RouterOutputs["sessions"]["list"][number];
type SortKey = "iops" | "mbps" | "initiator" | "target" | "login" | "address";

const COLUMNS: { key: SortKey | null; label: string; align?: "right" }[] = [
  { key: null, label: "" },
  { key: "initiator", label: "Initiator" },
  { key: "address", label: "Source" },
  { key: "target", label: "Target / TPG" },
  { key: null, label: "ISID / TSIH" },
  { key: null, label: "Conns", align: "right" },
  { key: null, label: "CHAP" },
  { key: "login", label: "Logged in" },
  { key: "iops", label: "IOPS", align: "right" },
  { key: "mbps", label: "MB/s", align: "right" },
  { key: null, label: "" },
];

export function withLiveRates(rows: SessionRow[], live: SampleEvent | null): SessionRow[] {
  if (!live) return rows;
  const byId = new Map(live.sessions.map((s) => [s.id, s]));
  return rows.map((r) => {
    const s = byId.get(r.id);
    if (!s) return r;
    return {
      ...r,
      readIops: s.readIops, writeIops: s.writeIops, readMBps: s.readMBps, writeMBps: s.writeMBps,
      iops: s.readIops + s.writeIops + s.otherIops, mbps: s.readMBps + s.writeMBps, inFlight: s.inFlight,
    };
  });
}

export function useDisconnect(onDone?: () => void) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  return useMutation(
    trpc.sessions.disconnect.mutationOptions({
      onSuccess: () => {
        void qc.invalidateQueries({ queryKey: trpc.sessions.list.queryKey() });
        onDone?.();
      },
    }),
  );
}

export function DisconnectDialog({ session, onClose, onDone }: { session: SessionRow | null; onClose: () => void; onDone?: () => void }) {
  const disconnect = useDisconnect(() => {
    onClose();
    onDone?.();
  });
  return (
    <ConfirmDialog
      open={!!session}
      title="Disconnect this session?"
      confirmLabel="Disconnect"
      busy={disconnect.isPending}
      error={disconnect.error?.message}
      onClose={() => {
        disconnect.reset();
        onClose();
      }}
      onConfirm={() => session && disconnect.mutate({ id: session.id, timeoutMs: 5_000 })}
    >
      {session && (
        <div data-testid="confirm-dialog" className="space-y-3 text-sm">
          <p>
            <strong className="break-all">{session.initiatorName}</strong> will be asked to log out of{" "}
            <span className="break-all">{session.targetName ?? "discovery"}</span>. If it has not done so within 5 seconds, its connection is dropped.
          </p>
          <p className="text-slate-600 dark:text-slate-400">
            Commands in flight are aborted. Most initiators log in again by themselves; to keep one out, change its ACL first.
          </p>
        </div>
      )}
    </ConfirmDialog>
  );
}

export function SessionsPage() {
  const trpc = useTRPC();
  const list = useQuery({ ...trpc.sessions.list.queryOptions(), refetchInterval: 2_000 });
  const feed = useLiveFeed();
  const latest = useLiveLatest(feed);
  const [sort, setSort] = useState<{ key: SortKey; dir: 1 | -1 }>({ key: "iops", dir: -1 });
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [doomed, setDoomed] = useState<SessionRow | null>(null);
  const [flash, setFlash] = useState<string | null>(null);

  const rows = useMemo(() => {
    const merged = withLiveRates(list.data ?? [], latest);
    const val = (r: SessionRow): number | string => {
      switch (sort.key) {
        case "iops": return r.iops;
        case "mbps": return r.mbps;
        case "initiator": return r.initiatorName;
        case "target": return `${r.targetName ?? ""}|${r.tpgTag ?? ""}`;
        case "login": return r.loginTime;
        case "address": return r.connections[0]?.remoteAddress ?? "";
      }
    };
    return merged.sort((a, b) => {
      const x = val(a), y = val(b);
      const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return c * sort.dir || a.id.localeCompare(b.id);
    });
  }, [list.data, latest, sort]);

  const toggle = (id: string) => setOpen((s) => {
    const n = new Set(s);
    if (n.has(id)) n.delete(id);
    else n.add(id);
    return n;
  });

  return (
    <div>
      <div className="mb-6 flex flex-wrap items-start justify-between gap-3">
        <div>
          <h1 className="text-2xl font-semibold tracking-tight">Sessions</h1>
          <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">Initiators logged in now, busiest first. Rates are per second, updated every second.</p>
        </div>
        <LiveBadge feed={feed} />
      </div>
      {flash && (
        <p role="status" data-testid="sessions-flash" className="mb-3 rounded border border-emerald-300 bg-emerald-50 px-3 py-2 text-sm text-emerald-900">
          {flash}
        </p>
      )}
      <Card id="sessions-panel">
        {!list.isSuccess ? (
          <QueryStatus query={list} label="Loading sessions…" />
        ) : rows.length === 0 ? (
          <div data-testid="sessions-empty">
            <EmptyState title="No initiator is logged in">
              Sessions appear here as soon as an initiator logs in to one of the targets (for example <code>iscsiadm -m node --login</code>).
            </EmptyState>
          </div>
        ) : (
          <div className="relative overflow-x-auto">
            <table className="w-full min-w-[64rem] text-left text-sm" data-testid="sessions-table" aria-label="Sessions">
              <thead>
                <tr>
                  {COLUMNS.map((c, i) => (
                    <th
                      key={i}
                      className={cx(th, c.align === "right" && "text-right")}
                      aria-sort={c.key && sort.key === c.key ? (sort.dir === 1 ? "ascending" : "descending") : undefined}
                    >
                      {c.key ? (
                        <button
                          type="button"
                          className="uppercase hover:text-slate-900 dark:hover:text-white"
                          data-testid={`sort-${c.key}`}
                          onClick={() => setSort((s) => ({ key: c.key!, dir: s.key === c.key ? (-s.dir as 1 | -1) : c.key === "iops" || c.key === "mbps" || c.key === "login" ? -1 : 1 }))}
                        >
                          {c.label}
                          {sort.key === c.key ? (sort.dir === 1 ? " ▲" : " ▼") : ""}
                        </button>
                      ) : (
                        c.label
                      )}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((s) => {
                  const expanded = open.has(s.id);
                  const c0 = s.connections[0];
                  return (
                    <Fragment key={s.id}>
                      <tr data-testid="session-row" data-id={s.id} data-initiator={s.initiatorName}>
                        <td className={td}>
                          <button type="button" aria-expanded={expanded} aria-label={expanded ? "Hide parameters" : "Show negotiated parameters"} onClick={() => toggle(s.id)} className="rounded px-1 text-slate-600 hover:bg-slate-100 dark:hover:bg-slate-800" data-testid="session-expand">
                            {expanded ? "▾" : "▸"}
                          </button>
                        </td>
                        <td className={td}>
                          <Link href={sessionHref(s.id)} className="break-all text-sky-800 hover:underline dark:text-sky-300" data-testid="session-initiator">
                            {s.initiatorName}
                          </Link>
                          {s.initiatorAlias && <div className="text-xs text-slate-600 dark:text-slate-400">{s.initiatorAlias}</div>}
                          {s.sessionType === "Discovery" && <Badge tone="info">discovery</Badge>}
                        </td>
                        <td className={`${td} font-mono text-xs`}>{c0 ? `${c0.remoteAddress}:${c0.remotePort}` : "–"}</td>
                        <td className={td}>
                          <span className="break-all">{s.targetName ?? "–"}</span>
                          {s.tpgTag !== undefined && <div className="text-xs text-slate-600 dark:text-slate-400">tpg{s.tpgTag}</div>}
                        </td>
                        <td className={`${td} font-mono text-xs`}>
                          {s.isid}
                          <div>{s.tsih}</div>
                        </td>
                        <td className={`${td} text-right tabular-nums`}>{s.connections.length}</td>
                        <td className={td}>{s.authenticated ? <Badge tone="ok">CHAP</Badge> : <Badge>none</Badge>}</td>
                        <td className={td} title={fmtDateTime(s.loginTime)}>
                          {fmtDateTime(s.loginTime).slice(11)}
                          <div className="text-xs text-slate-600 dark:text-slate-400">{fmtDuration(Date.now() - s.loginTime)} ago</div>
                        </td>
                        <td className={`${td} text-right font-medium tabular-nums`} data-testid="session-iops" data-value={s.iops}>
                          {fmtIops(s.iops)}
                        </td>
                        <td className={`${td} text-right tabular-nums`} data-testid="session-mbps" data-value={s.mbps}>
                          {fmtMBps(s.mbps).replace(" MB/s", "")}
                        </td>
                        <td className={td}>
                          <Button className="py-1" data-testid="disconnect-button" onClick={() => setDoomed(s)}>
                            Disconnect
                          </Button>
                        </td>
                      </tr>
                      {expanded && (
                        <tr>
                          <td className={td} />
                          <td className={td} colSpan={COLUMNS.length - 1}>
                            <Parameters params={s.parameters} />
                          </td>
                        </tr>
                      )}
                    </Fragment>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <DisconnectDialog session={doomed} onClose={() => setDoomed(null)} onDone={() => setFlash(`Disconnected ${doomed?.initiatorName ?? "the session"}.`)} />
    </div>
  );
}

/** The negotiated keys; `narrow` for a half-width card (two columns at most). */
export function Parameters({ params, narrow }: { params: Record<string, string>; narrow?: boolean }) {
  const entries = Object.entries(params).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return <p className="text-sm text-slate-600">No parameters were negotiated.</p>;
  return (
    <dl data-testid="session-params" className={cx("grid grid-cols-1 gap-x-6 gap-y-1 text-xs", narrow ? "xl:grid-cols-2" : "sm:grid-cols-2 lg:grid-cols-3")}>
      {entries.map(([k, v]) => (
        <div key={k} className="flex min-w-0 justify-between gap-2 border-b border-slate-100 py-0.5 dark:border-slate-800">
          <dt className="min-w-0 break-words text-slate-600 dark:text-slate-400">{k}</dt>
          <dd className="shrink-0 text-right font-mono">{v}</dd>
        </div>
      ))}
    </dl>
  );
}

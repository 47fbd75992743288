"use client";
/**
 * The console's first page: engine status and the live configuration tree,
 * refreshed every 2 s. Stable test ids: status-panel, status-uptime, status-sessions,
 * status-portals, restore-warnings/restore-warning, storage-objects/storage-object,
 * targets/target (data-wwn), target-iqn, tpg (data-tag), lun (data-index),
 * portal (data-key, data-listening), acl (data-initiator), mapped-lun (data-index),
 * empty-state, loading-state, error-state.
 */
import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { useTRPC, type RouterOutputs } from "./trpc";

type Status = RouterOutputs["system"]["status"];
type Tree = RouterOutputs["config"]["tree"];
type TargetView = Tree["targets"][number];
type TpgView = TargetView["tpgs"][number];

const REFRESH_MS = 2_000;

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function Badge({ tone, children, testId }: { tone: "ok" | "warn" | "off" | "info"; children: ReactNode; testId?: string }) {
  const tones = {
    ok: "bg-emerald-100 text-emerald-800 dark:bg-emerald-900/40 dark:text-emerald-300",
    warn: "bg-amber-100 text-amber-800 dark:bg-amber-900/40 dark:text-amber-300",
    off: "bg-slate-200 text-slate-700 dark:bg-slate-800 dark:text-slate-300",
    info: "bg-sky-100 text-sky-800 dark:bg-sky-900/40 dark:text-sky-300",
  };
  return (
    <span data-testid={testId} className={`inline-flex items-center rounded px-1.5 py-0.5 text-xs font-medium ${tones[tone]}`}>
      {children}
    </span>
  );
}

function Card({ title, id, children, actions }: { title: string; id: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section aria-labelledby={`${id}-title`} data-testid={id} className="mb-6 rounded-lg border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900">
      <div className="mb-3 flex items-center justify-between">
        <h2 id={`${id}-title`} className="text-lg font-semibold">
          {title}
        </h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

function StatusPanel({ status }: { status: Status }) {
  const c = status.counts;
  return (
    <Card title="Engine status" id="status-panel" actions={<span className="text-xs text-slate-500">Portico {status.version}</span>}>
      <dl className="grid grid-cols-2 gap-4 sm:grid-cols-5">
        <Stat label="Uptime" testId="status-uptime" value={formatUptime(status.uptimeSeconds)} />
        <Stat label="Sessions" testId="status-sessions" value={String(c.sessions)} />
        <Stat label="Portals listening" testId="status-portals" value={`${c.portalsListening} / ${c.portals}`} />
        <Stat label="Targets" testId="status-targets" value={String(c.targets)} />
        <Stat label="LUNs" testId="status-luns" value={String(c.luns)} />
      </dl>
      {!status.fabric && (
        <p role="alert" className="mt-3 text-sm text-amber-700 dark:text-amber-400">
          The iSCSI fabric is not loaded: portals do not listen.
        </p>
      )}
      {status.sessions.length > 0 && (
        <table className="mt-4 w-full text-left text-sm" aria-label="Sessions">
          <thead className="text-xs uppercase text-slate-500">
            <tr>
              <th className="py-1">Initiator</th>
              <th>Target</th>
              <th>TPG</th>
              <th>From</th>
            </tr>
          </thead>
          <tbody>
            {status.sessions.map((s) => (
              <tr key={s.id} data-testid="session" className="border-t border-slate-100 dark:border-slate-800">
                <td className="py-1 font-mono text-xs">{s.initiatorName}</td>
                <td className="font-mono text-xs">{s.targetName ?? "(discovery)"}</td>
                <td>{s.tpgTag ?? "–"}</td>
                <td className="font-mono text-xs">{s.connections.map((c) => `${c.remoteAddress}:${c.remotePort}`).join(", ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {status.warnings.length > 0 && (
        <div data-testid="restore-warnings" role="alert" className="mt-4 rounded border border-amber-300 bg-amber-50 p-3 dark:border-amber-700 dark:bg-amber-950/40">
          <h3 className="mb-1 text-sm font-semibold text-amber-900 dark:text-amber-200">Not restored at start-up ({status.warnings.length})</h3>
          <ul className="space-y-1 text-sm">
            {status.warnings.map((w) => (
              <li key={w.object} data-testid="restore-warning">
                <code className="text-xs">{w.object}</code>: {w.reason}
              </li>
            ))}
          </ul>
        </div>
      )}
    </Card>
  );
}

function Stat({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <div>
      <dt className="text-xs uppercase tracking-wide text-slate-500">{label}</dt>
      <dd data-testid={testId} className="text-xl font-semibold tabular-nums">
        {value}
      </dd>
    </div>
  );
}

function StorageObjects({ tree }: { tree: Tree }) {
  return (
    <Card title="Storage objects" id="storage-objects">
      {tree.storageObjects.length === 0 ? (
        <p className="text-sm text-slate-500">No storage objects.</p>
      ) : (
        <table className="w-full text-left text-sm [&_td]:pr-3 [&_th]:pr-3" aria-label="Storage objects">
          <thead className="text-xs uppercase text-slate-500">
            <tr>
              <th className="py-1">Name</th>
              <th>Plugin</th>
              <th>Size</th>
              <th>Backing</th>
              <th>Cache</th>
              <th>Used by</th>
            </tr>
          </thead>
          <tbody>
            {tree.storageObjects.map((so) => (
              <tr key={so.path} data-testid="storage-object" data-name={so.name} data-plugin={so.plugin} aria-label={`Storage object ${so.path}`} className="border-t border-slate-100 align-top dark:border-slate-800">
                <td className="py-1.5 font-medium">
                  {so.name} {!so.live && <Badge tone="warn">not loaded</Badge>}
                  {so.error && <div className="text-xs text-amber-700 dark:text-amber-400">{so.error}</div>}
                </td>
                <td>{so.plugin}</td>
                <td className="whitespace-nowrap tabular-nums">{formatBytes(so.size)}</td>
                <td className="font-mono text-xs">{so.dev ?? "memory"}</td>
                <td className="whitespace-nowrap">{so.writeBack ? "write-back" : "write-through"}</td>
                <td className="text-xs">
                  {so.usedBy.length === 0
                    ? "–"
                    : so.usedBy.map((u) => (
                        <div key={`${u.wwn}/${u.tag}/${u.lun}`} className="font-mono">
                          {u.wwn} tpg{u.tag} lun{u.lun}
                        </div>
                      ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function TpgBlock({ wwn, tpg }: { wwn: string; tpg: TpgView }) {
  return (
    <div data-testid="tpg" data-tag={tpg.tag} aria-label={`TPG ${tpg.tag} of ${wwn}`} className="mt-3 rounded border border-slate-200 p-3 dark:border-slate-800">
      <div className="mb-2 flex flex-wrap items-center gap-2">
        <h4 className="font-semibold">tpg{tpg.tag}</h4>
        <Badge tone={tpg.enabled ? "ok" : "off"} testId="tpg-enabled">
          {tpg.enabled ? "enabled" : "disabled"}
        </Badge>
        <Badge tone="info">{tpg.demoMode ? "gen-acls (demo mode)" : "no-gen-acls"}</Badge>
        {!tpg.live && <Badge tone="warn">not loaded</Badge>}
      </div>
      <div className="grid gap-4 md:grid-cols-3">
        <div>
          <h5 className="mb-1 text-xs uppercase text-slate-500">LUNs</h5>
          {tpg.luns.length === 0 ? (
            <p className="text-sm text-slate-500">none</p>
          ) : (
            <ul className="space-y-1 text-sm">
              {tpg.luns.map((l) => (
                <li key={l.index} data-testid="lun" data-index={l.index} aria-label={`LUN ${l.index}`}>
                  <span className="font-medium">lun{l.index}</span> → <code className="text-xs">{l.storageObject}</code>{" "}
                  {!l.live && <Badge tone="warn">not loaded</Badge>}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div>
          <h5 className="mb-1 text-xs uppercase text-slate-500">Portals</h5>
          {tpg.portals.length === 0 ? (
            <p className="text-sm text-slate-500">none</p>
          ) : (
            <ul className="space-y-1 text-sm">
              {tpg.portals.map((p) => (
                <li key={p.key} data-testid="portal" data-key={p.key} data-listening={p.listening ? "true" : "false"} aria-label={`Portal ${p.key}`}>
                  <code className="text-xs">{p.key}</code>{" "}
                  <Badge tone={p.listening ? "ok" : "warn"}>{p.listening ? "listening" : "not listening"}</Badge>
                  {p.error && <div className="text-xs text-amber-700 dark:text-amber-400">{p.error}</div>}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div>
          <h5 className="mb-1 text-xs uppercase text-slate-500">ACLs</h5>
          {tpg.nodeAcls.length === 0 ? (
            <p className="text-sm text-slate-500">{tpg.demoMode ? "none (any initiator may log in)" : "none (no initiator may log in)"}</p>
          ) : (
            <ul className="space-y-2 text-sm">
              {tpg.nodeAcls.map((a) => (
                <li key={a.initiatorName} data-testid="acl" data-initiator={a.initiatorName} aria-label={`ACL ${a.initiatorName}`}>
                  <code className="text-xs">{a.initiatorName}</code> {a.tag && <Badge tone="info">{a.tag}</Badge>}
                  <ul className="ml-3 mt-0.5 text-xs text-slate-600 dark:text-slate-400">
                    {a.mappedLuns.length === 0 && <li>no mapped LUNs</li>}
                    {a.mappedLuns.map((m) => (
                      <li key={m.index} data-testid="mapped-lun" data-index={m.index} aria-label={`Mapped LUN ${m.index}`}>
                        mapped_lun{m.index} → lun{m.tpgLun} {m.writeProtect && <Badge tone="off">read-only</Badge>}
                      </li>
                    ))}
                  </ul>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </div>
  );
}

function Targets({ tree }: { tree: Tree }) {
  return (
    <Card title="iSCSI targets" id="targets">
      {tree.targets.map((t) => (
        <article key={t.wwn} data-testid="target" data-wwn={t.wwn} aria-label={`Target ${t.wwn}`} className="mb-4 last:mb-0">
          <h3 className="flex items-center gap-2">
            <code data-testid="target-iqn" className="text-sm font-semibold">
              {t.wwn}
            </code>
            {!t.live && <Badge tone="warn">not loaded</Badge>}
          </h3>
          {t.tpgs.length === 0 ? <p className="text-sm text-slate-500">No TPGs.</p> : t.tpgs.map((g) => <TpgBlock key={g.tag} wwn={t.wwn} tpg={g} />)}
        </article>
      ))}
    </Card>
  );
}

function EmptyState() {
  return (
    <section data-testid="empty-state" aria-labelledby="empty-title" className="rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center dark:border-slate-700 dark:bg-slate-900">
      <h2 id="empty-title" className="mb-2 text-lg font-semibold">
        No targets yet
      </h2>
      <p className="mx-auto max-w-xl text-sm text-slate-600 dark:text-slate-400">
        Import an existing targetcli configuration with{" "}
        <code className="rounded bg-slate-100 px-1 dark:bg-slate-800">npx portico restoreconfig /etc/target/saveconfig.json</code>. The console refreshes
        on its own once targets exist.
      </p>
    </section>
  );
}

export function Dashboard() {
  const trpc = useTRPC();
  const status = useQuery(trpc.system.status.queryOptions(undefined, { refetchInterval: REFRESH_MS }));
  const tree = useQuery(trpc.config.tree.queryOptions(undefined, { refetchInterval: REFRESH_MS }));

  const s = status.data;
  const t = tree.data;
  if (!s || !t) {
    if (status.isError || tree.isError) {
      const message = (status.error ?? tree.error)?.message ?? "unknown error";
      return (
        <div data-testid="error-state" role="alert" className="rounded border border-red-300 bg-red-50 p-4 text-sm text-red-800 dark:border-red-800 dark:bg-red-950/40 dark:text-red-300">
          <p className="font-semibold">Cannot reach the appliance.</p>
          <p>{message}</p>
          <p className="mt-1 text-xs">Retrying every {REFRESH_MS / 1000} s.</p>
        </div>
      );
    }
    return (
      <p data-testid="loading-state" role="status" aria-live="polite" className="text-sm text-slate-500">
        Loading the appliance status…
      </p>
    );
  }
  const stale = status.isError || tree.isError;
  return (
    <>
      {stale && (
        <p role="alert" data-testid="stale-state" className="mb-4 text-sm text-amber-700 dark:text-amber-400">
          Lost contact with the appliance; showing the last known state.
        </p>
      )}
      <StatusPanel status={s} />
      {t.targets.length === 0 ? <EmptyState /> : <Targets tree={t} />}
      {(t.storageObjects.length > 0 || t.targets.length > 0) && <StorageObjects tree={t} />}
    </>
  );
}

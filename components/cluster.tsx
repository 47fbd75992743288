"use client";
/**
 * The Cluster page (issue 14, point 5). On a single appliance: what a cluster is and the two ways
 * in (PORTICO_CLUSTER / PORTICO_NODE at start, or the join form, validated by the API's schema
 * with errors next to the field). On a member: the nodes with their health (the member key's
 * lease, renewed every second), console and portal addresses, version and the LUNs each owns;
 * per-LUN owner and ALUA state with "move ownership" (when the ownership module runs; otherwise
 * "ownership not available", never made-up data); leave (this node) and remove (another node);
 * the cluster's recent events (joins, departures, failovers, fencing, with the time they took).
 *
 * Test ids: cluster-empty, cluster-join-form, join-endpoints, join-node, join-submit, join-result,
 * cluster-status, cluster-nodes, cluster-node (data-name, data-self), node-health, node-renewed,
 * node-owns, leave-button, remove-button, remove-confirm-name, cluster-ownership,
 * ownership-unavailable, ownership-empty, ownership-row (data-lu), move-select, move-button, cluster-events,
 * cluster-pending, cluster-left, cluster-evicted.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { evictNodeSchema, joinClusterSchema } from "@/server/api/schemas/cluster";
import { errorMessage, serverErrors, zodErrors, type Errors } from "./form";
import { fmtDateTime } from "./monitor/format";
import { useTRPC, type RouterOutputs } from "./trpc";
import { Alert, Badge, Button, Card, ConfirmDialog, CopyBlock, DataTable, Field, PageHeader, QueryStatus, Select, TableHead, TextInput, actionsColumn, td } from "./ui";

type Overview = RouterOutputs["cluster"]["overview"];
type NodeRow = Overview["nodes"][number];

/** Event types the cluster modules record (join/leave/evict here; failover and fencing by the ownership module). */
export const CLUSTER_EVENT_TYPES = ["cluster_join", "cluster_leave", "cluster_evict", "cluster_failover", "cluster_fence", "cluster_ownership"];

export function ClusterPage() {
  const trpc = useTRPC();
  const q = useQuery({ ...trpc.cluster.overview.queryOptions(), refetchInterval: 2_000 });
  return (
    <div className="space-y-6">
      <PageHeader
        title="Cluster"
        description="Several Portico nodes serving one target from Ceph RBD, with etcd holding membership, configuration and leases: an initiator with multipath keeps working when a node dies."
      />
      {!q.isSuccess ? <QueryStatus query={q} label="Reading the cluster…" /> : q.data.mode === "single" ? <SingleNode o={q.data} /> : <Member o={q.data} />}
      {q.data?.mode === "member" || q.data?.left ? <ClusterEvents /> : null}
    </div>
  );
}

function SingleNode({ o }: { o: Overview }) {
  return (
    <>
      {o.pending && (
        <Alert tone="warn" title={`Restart needed: this node joins the cluster as ${o.pending.node} at its next start`} testId="cluster-pending">
          <p>
            Saved (etcd {o.pending.endpoints.join(", ")}). It could not join now: {o.pending.reason}.
          </p>
          <LeaveButton label="Cancel the join" pendingOnly />
        </Alert>
      )}
      {o.left && (
        <Alert tone="info" title={`This node left the cluster at ${fmtDateTime(Date.parse(o.left.at))}`} testId="cluster-left">
          {o.left.rejoinsAtStart
            ? "PORTICO_CLUSTER is set in its environment: it rejoins at its next start. Remove the variable to leave for good."
            : "It keeps serving its own TPGs; restart Portico to serve every TPG as a single appliance again."}
        </Alert>
      )}
      <div data-testid="cluster-empty" className="rounded-lg border border-dashed border-slate-300 p-6 dark:border-slate-700">
        <h2 className="text-lg font-semibold">This appliance is not in a cluster</h2>
        <div className="mt-2 grid gap-6 text-sm text-slate-700 md:grid-cols-2 dark:text-slate-300">
          <div className="space-y-2">
            <p>
              A Portico cluster is two or more appliances that export the <strong>same LUNs as one iSCSI target</strong>. The data lives in Ceph RBD; etcd holds who is a member (a key
              per node, kept alive by a 3-second lease), the shared configuration and which node owns each LUN. There is no controller to lose: when a node dies its lease expires, a
              survivor takes its LUNs over, and multipath initiators carry on through the other paths.
            </p>
            <p>You need: a reachable etcd (one, or three for redundancy), the same Ceph cluster on every node, and a unique name per node.</p>
          </div>
          <div className="space-y-2">
            <p className="font-medium">Join at start (recommended for automation)</p>
            <CopyBlock label="Start command" text={"PORTICO_CLUSTER=etcd://10.0.0.5:2379,10.0.0.6:2379 \\\nPORTICO_NODE=gw-a npm start"} testId="cluster-env-example" />
            <p className="text-xs text-slate-600 dark:text-slate-400">
              The environment wins over a join made here. Without <code>PORTICO_CLUSTER</code> the node is a single appliance, exactly as now. See docs/cluster.md.
            </p>
          </div>
        </div>
        {!o.pending && <JoinForm suggested={o.suggestedNode} />}
      </div>
    </>
  );
}

function JoinForm({ suggested, initial }: { suggested: string | null; initial?: { endpoints: string; node: string } }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [values, setValues] = useState({ endpoints: initial?.endpoints ?? "", node: initial?.node ?? suggested ?? "" });
  const [errors, setErrors] = useState<Errors>({});
  const join = useMutation(trpc.cluster.join.mutationOptions());
  const set = (k: "endpoints" | "node", v: string) => {
    setValues((x) => ({ ...x, [k]: v }));
    setErrors(({ [k]: _gone, form: _f, ...rest }) => rest);
  };
  return (
    <form
      noValidate
      data-testid="cluster-join-form"
      aria-label="Join a cluster"
      className="mt-6 grid gap-4 border-t border-slate-200 pt-4 sm:grid-cols-[2fr_1fr_auto] sm:items-start dark:border-slate-800"
      onSubmit={(e) => {
        e.preventDefault();
        const r = joinClusterSchema.safeParse(values);
        if (!r.success) return setErrors(zodErrors(r.error));
        join.mutate(values, {
          onSuccess: async () => (setErrors({}), await qc.invalidateQueries()),
          onError: (err) => setErrors(serverErrors(err)),
        });
      }}
    >
      <Field label="etcd endpoints" hint="host:port, comma-separated (etcd:// optional), the same list on every node" error={errors.endpoints}>
        {(p) => <TextInput {...p} value={values.endpoints} placeholder="10.0.0.5:2379,10.0.0.6:2379" autoComplete="off" onChange={(e) => set("endpoints", e.target.value)} data-testid="join-endpoints" />}
      </Field>
      <Field label="This node's name" hint="letters, digits and -; unique in the cluster; TPGs name it in their node" error={errors.node}>
        {(p) => <TextInput {...p} value={values.node} placeholder="gw-a" autoComplete="off" onChange={(e) => set("node", e.target.value)} data-testid="join-node" />}
      </Field>
      <div className="sm:pt-6">
        <Button type="submit" tone="primary" busy={join.isPending} data-testid="join-submit">
          Join cluster
        </Button>
      </div>
      <p className="text-xs text-slate-600 sm:col-span-3 dark:text-slate-400">
        Saved in the data directory (<code>cluster.json</code>): the node rejoins at every start. A single appliance joins when Portico is restarted (the page says so); a node that
        left or was removed joins again at once.
      </p>
      {errors.form && (
        <div className="sm:col-span-3">
          <Alert tone="bad">{errors.form}</Alert>
        </div>
      )}
      {join.data && (
        <div className="sm:col-span-3" data-testid="join-result">
          <Alert tone={join.data.live ? "ok" : "warn"}>{join.data.live ? `Joining as ${join.data.node}…` : `Saved: restart Portico to join as ${join.data.node} (${join.data.restartReason})`}</Alert>
        </div>
      )}
    </form>
  );
}

function LeaveButton({ label, pendingOnly, rejoinsAtStart, node }: { label: string; pendingOnly?: boolean; rejoinsAtStart?: boolean; node?: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const leave = useMutation(trpc.cluster.leave.mutationOptions());
  return (
    <>
      <Button tone={pendingOnly ? "secondary" : "danger"} className={pendingOnly ? "mt-2" : "py-1 text-xs"} onClick={() => (leave.reset(), setOpen(true))} data-testid="leave-button">
        {label}
      </Button>
      <ConfirmDialog
        open={open}
        onClose={() => setOpen(false)}
        title={pendingOnly ? "Cancel the saved join?" : `Leave the cluster (${node})?`}
        confirmLabel={pendingOnly ? "Cancel the join" : "Leave cluster"}
        busy={leave.isPending}
        error={leave.error ? errorMessage(leave.error) : null}
        onConfirm={() => leave.mutate(undefined, { onSuccess: async () => (setOpen(false), await qc.invalidateQueries()) })}
      >
        {pendingOnly ? (
          <p className="text-sm">The node stays a single appliance at its next start.</p>
        ) : (
          <div className="space-y-2 text-sm">
            <p>This node revokes its lease: the other nodes see it go at once and stop listing its portals in SendTargets. LUNs it owns move to a survivor.</p>
            <p>It keeps serving its own TPGs until it is restarted. {rejoinsAtStart ? "PORTICO_CLUSTER is set in its environment: it rejoins at its next start." : "The saved join is removed: it starts as a single appliance."}</p>
          </div>
        )}
      </ConfirmDialog>
    </>
  );
}

function RemoveButton({ node }: { node: NodeRow }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const evict = useMutation(trpc.cluster.evict.mutationOptions());
  const submit = () => {
    const r = evictNodeSchema.safeParse({ node: node.name, confirm });
    if (!r.success) return setErrors(zodErrors(r.error));
    evict.mutate(r.data, { onSuccess: async () => (setOpen(false), await qc.invalidateQueries()), onError: (err) => setErrors(serverErrors(err)) });
  };
  return (
    <>
      <Button tone="danger" className="py-1 text-xs" onClick={() => (setConfirm(""), setErrors({}), setOpen(true))} data-testid="remove-button" aria-label={`Remove ${node.name} from the cluster`}>
        Remove
      </Button>
      <ConfirmDialog open={open} onClose={() => setOpen(false)} title={`Remove ${node.name} from the cluster?`} confirmLabel="Remove node" busy={evict.isPending} error={errors.form ?? errors.node ?? null} onConfirm={submit}>
        <div className="space-y-2 text-sm">
          <p>
            Its member key is revoked now: the others drop it at once, its LUNs fail over to a survivor, and SendTargets stops listing its portals. It is marked <em>evicted</em>, so it
            does <strong>not</strong> register again by itself, not even after a restart.
          </p>
          <p>To bring it back, open its own Cluster page ({node.consoleUrl ?? "its console"}) and join again. To take a node out for maintenance, prefer Leave on its own page.</p>
        </div>
        <Field label={`Type ${node.name} to confirm`} error={errors.confirm}>
          {(p) => <TextInput {...p} value={confirm} autoComplete="off" onChange={(e) => (setErrors({}), setConfirm(e.target.value))} data-testid="remove-confirm-name" />}
        </Field>
      </ConfirmDialog>
    </>
  );
}

function Health({ n, ttl }: { n: NodeRow; ttl: number }) {
  if (!n.lease) return <Badge tone="warn" testId="node-health">live · lease unknown</Badge>;
  const late = n.lease.renewedAgoS >= Math.max(2, ttl - 1);
  return (
    <div>
      <Badge tone={late ? "warn" : "ok"} testId="node-health">
        {late ? "late" : "live"}
      </Badge>
      <span className="block text-xs text-slate-600 tabular-nums dark:text-slate-400" data-testid="node-renewed" title="From etcd: the member key's lease, renewed by keep-alive about once a second">
        renewed {n.lease.renewedAgoS < 1 ? "under 1 s" : `${n.lease.renewedAgoS} s`} ago · expires in ≤{Math.max(0, n.lease.ttl)} s
      </span>
    </div>
  );
}

function Member({ o }: { o: Overview }) {
  const joinedTone = o.connected ? "ok" : o.evicted ? "bad" : "warn";
  const self = o.nodes.find((n) => n.self);
  return (
    <>
      <Card id="cluster-status">
        <div className="flex flex-wrap items-center gap-x-4 gap-y-2 text-sm">
          <span>
            This node: <strong>{o.node}</strong>
          </span>
          <Badge tone={joinedTone} testId="cluster-joined">
            {o.connected ? "joined" : o.evicted ? "removed" : "not joined"}
          </Badge>
          <span className="text-slate-600 dark:text-slate-400">etcd {o.endpoints.join(", ")}</span>
          <span className="text-slate-600 dark:text-slate-400">{o.source === "env" ? "from PORTICO_CLUSTER" : "joined from the console"}</span>
          <span className="ml-auto">{o.connected && self ? <LeaveButton label="Leave cluster" node={o.node ?? ""} rejoinsAtStart={o.source === "env"} /> : !o.evicted && <LeaveButton label="Stop trying to join" node={o.node ?? ""} rejoinsAtStart={o.source === "env"} />}</span>
        </div>
        {o.error && !o.evicted && (
          <Alert tone="warn" title="Not joined">
            {o.error}. The node keeps serving its local configuration and retries every second.
          </Alert>
        )}
      </Card>
      {o.evicted && (
        <Card title="This node was removed from the cluster" id="cluster-evicted">
          <p className="mb-2 text-sm">
            Removed by {o.evicted.by} at {fmtDateTime(Date.parse(o.evicted.at))}. It does not register again by itself. Join again to come back (the removal mark is cleared):
          </p>
          <JoinForm suggested={o.node} initial={{ endpoints: o.endpoints.map((e) => e.replace(/^http:\/\//, "")).join(","), node: o.node ?? "" }} />
        </Card>
      )}
      <Card title={`Nodes (${o.nodes.length})`} id="cluster-nodes">
        {o.nodes.length === 0 ? (
          <p className="text-sm text-slate-600 dark:text-slate-400">{o.connected ? "No member listed yet." : "The member list is unknown while this node is not joined."}</p>
        ) : (
          <DataTable label="Cluster nodes">
            <TableHead columns={["Node", "Health", "Addresses", "Version", "Owns", actionsColumn]} />
            <tbody>
              {o.nodes.map((n) => (
                <tr key={n.name} data-testid="cluster-node" data-name={n.name} data-self={n.self ? "true" : "false"}>
                  <td className={td}>
                    <span className="font-medium">{n.name}</span> {n.self && <Badge tone="info">this node</Badge>}
                    <span className="block text-xs text-slate-500">
                      {n.host} · pid {n.pid}
                    </span>
                    <span className="block text-xs text-slate-500">started {fmtDateTime(Date.parse(n.startedAt))}</span>
                  </td>
                  <td className={td}>
                    <Health n={n} ttl={o.ttlS} />
                  </td>
                  <td className={td}>
                    {n.consoleUrl ? (
                      <a className="block break-all text-sky-700 hover:underline dark:text-sky-400" href={n.consoleUrl} data-testid="node-console">
                        {n.consoleUrl}
                      </a>
                    ) : (
                      <span className="block text-slate-500">console unknown</span>
                    )}
                    <span className="block text-xs text-slate-600 dark:text-slate-400" data-testid="node-portals">
                      portals {n.portals.length ? n.portals.join(", ") : "none"}
                    </span>
                  </td>
                  <td className={`${td} tabular-nums`}>{n.version}</td>
                  <td className={td} data-testid="node-owns">
                    {!o.ownership.available ? (
                      <span className="text-xs text-slate-500">not available</span>
                    ) : n.owns.length === 0 ? (
                      <span className="text-slate-500">nothing</span>
                    ) : (
                      n.owns.map((lu) => (
                        <span key={lu} className="block text-xs">
                          {lu}
                        </span>
                      ))
                    )}
                  </td>
                  <td className={`${td} text-right`}>{!n.self && o.connected && <RemoveButton node={n} />}</td>
                </tr>
              ))}
            </tbody>
          </DataTable>
        )}
      </Card>
      <Ownership o={o} />
    </>
  );
}

function Ownership({ o }: { o: Overview }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [choice, setChoice] = useState<Record<string, string>>({});
  const [pending, setPending] = useState<{ lu: string; from: string | null; to: string } | null>(null);
  const move = useMutation(trpc.cluster.moveOwnership.mutationOptions());
  if (!o.ownership.available)
    return (
      <Card title="LUN ownership" id="cluster-ownership">
        <div data-testid="ownership-unavailable" className="rounded-lg border border-dashed border-slate-300 p-6 text-center dark:border-slate-700">
          <p className="font-medium">Ownership not available</p>
          <p className="mx-auto mt-1 max-w-prose text-sm text-slate-600 dark:text-slate-400">
            {o.ownership.reason}. Each RBD LUN has one owner (the node holding its etcd election), which reports Active/Optimized; the others report Active/Non-optimized and forward its IO to the owner. When it runs, this table
            lists each LUN&apos;s owner and ALUA state and lets you move ownership.
          </p>
        </div>
      </Card>
    );
  const units = o.ownership.units;
  const live = o.nodes.map((n) => n.name);
  return (
    <Card title="LUN ownership" id="cluster-ownership">
      {units.length === 0 ? (
        <p data-testid="ownership-empty" className="text-sm text-slate-600 dark:text-slate-400">No RBD LUN in the cluster has an owner yet: ownership applies to LUNs backed by Ceph RBD.</p>
      ) : (
        <DataTable label="LUN ownership">
          <TableHead columns={["LUN", "Owner", "ALUA state here", "Move ownership"]} />
          <tbody>
            {units.map((u) => {
              const to = choice[u.lu] ?? live.find((n) => n !== u.owner) ?? "";
              const took = u.lastChange?.tookMs;
              return (
                <tr key={u.lu} data-testid="ownership-row" data-lu={u.lu}>
                  <td className={td}>
                    <span className="font-medium">rbd/{u.lu}</span>
                    {u.luns.map((l) => (
                      <Link key={`${l.wwn}:${l.tag}:${l.lun}`} className="block text-xs break-all text-sky-700 hover:underline dark:text-sky-400" href={`/targets/${encodeURIComponent(l.wwn)}?tpg=${l.tag}&tab=luns`}>
                        lun{l.lun} of {l.wwn} tpg{l.tag}
                      </Link>
                    ))}
                  </td>
                  <td className={td} data-testid="ownership-owner">
                    {u.owner ?? <Badge tone="warn">no owner (electing)</Badge>}
                    {u.since && <span className="block text-xs text-slate-500">since {fmtDateTime(Date.parse(u.since))}</span>}
                    {u.lastChange && (
                      <span className="block text-xs text-slate-500">
                        {u.lastChange.planned ? "moved" : "failed over"} from {u.lastChange.from ?? "nobody"} at {fmtDateTime(Date.parse(u.lastChange.at))}
                        {typeof took === "number" && ` · took ${took < 1000 ? `${Math.round(took)} ms` : `${(took / 1000).toFixed(1)} s`}`}
                      </span>
                    )}
                  </td>
                  <td className={td}>
                    {u.aluaState ? <Badge tone={u.aluaState === "Active/Optimized" ? "ok" : u.aluaState === "Active/NonOptimized" || u.aluaState === "Standby" ? "info" : "warn"}>{u.aluaState}</Badge> : <span className="text-slate-500">—</span>}
                    <span className="block text-xs text-slate-500">this node: {u.state}</span>
                    {u.reason && <span className="block text-xs text-red-700 dark:text-red-400">{u.reason}</span>}
                  </td>
                  <td className={td}>
                    {o.canMove ? (
                      <span className="flex items-center gap-2">
                        <Select className="w-auto py-1 text-xs" aria-label={`New owner of ${u.lu}`} value={to} onChange={(e) => setChoice({ ...choice, [u.lu]: e.target.value })} data-testid="move-select">
                          {live.map((n) => (
                            <option key={n} value={n}>
                              {n}
                            </option>
                          ))}
                        </Select>
                        <Button className="py-1 text-xs" disabled={!to || to === u.owner} onClick={() => (move.reset(), setPending({ lu: u.lu, from: u.owner, to }))} data-testid="move-button">
                          Move
                        </Button>
                      </span>
                    ) : (
                      <span className="text-xs text-slate-500">not offered by this node</span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </DataTable>
      )}
      <ConfirmDialog
        open={pending !== null}
        onClose={() => setPending(null)}
        title={pending ? `Move rbd/${pending.lu} to ${pending.to}?` : ""}
        confirmLabel="Move ownership"
        busy={move.isPending}
        error={move.error ? errorMessage(move.error) : null}
        onConfirm={() => pending && move.mutate({ lu: pending.lu, to: pending.to }, { onSuccess: async () => (setPending(null), await qc.invalidateQueries()) })}
      >
        <p className="text-sm">
          {pending?.from ?? "No node"} hands the LUN over: {pending?.to} takes the image&apos;s exclusive lock and reports Active/Optimized, {pending?.from ?? "the others"} Active/Non-optimized (forwarding to it).
          Initiators get ASYMMETRIC ACCESS STATE CHANGED and switch paths; IO is not failed.
        </p>
      </ConfirmDialog>
    </Card>
  );
}

function ClusterEvents() {
  const trpc = useTRPC();
  const q = useQuery({ ...trpc.events.list.queryOptions({ types: CLUSTER_EVENT_TYPES, limit: 20 }), refetchInterval: 5_000 });
  return (
    <Card title="Cluster events" id="cluster-events" actions={<Link className="text-sm text-sky-700 hover:underline dark:text-sky-400" href="/events">All events</Link>}>
      {!q.isSuccess ? (
        <QueryStatus query={q} label="Loading events…" />
      ) : q.data.length === 0 ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">No join, departure, failover or fencing recorded on this node yet.</p>
      ) : (
        <ul className="divide-y divide-slate-100 text-sm dark:divide-slate-800">
          {q.data.map((e) => {
            const d = e.detail ?? {};
            const ms = typeof d.tookMs === "number" ? d.tookMs : typeof d.durationMs === "number" ? d.durationMs : null;
            return (
              <li key={e.id} className="flex flex-wrap gap-x-3 py-2" data-testid="cluster-event" data-type={e.type}>
                <span className="whitespace-nowrap text-slate-600 tabular-nums dark:text-slate-400">{fmtDateTime(e.at)}</span>
                <span>{e.message ?? e.type}</span>
                {ms !== null && <Badge tone="info">took {ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`}</Badge>}
              </li>
            );
          })}
        </ul>
      )}
    </Card>
  );
}

/**
 * What the console's Cluster page shows (issue 14, point 5): this node's mode (single appliance,
 * member, saved join waiting for a restart), the members with their health (lease), addresses,
 * version and the LUNs each owns, and per-LUN ownership. Membership comes from membership.ts;
 * ownership from whichever module registers an OwnershipSource (server/cluster/ownership.ts):
 * without one, the page says "ownership not available" rather than guessing.
 */
import os from "node:os";
import type { Engine } from "../engine/core/engine";
import { nodeNameReason } from "../engine/core/names";
import { processSlot } from "../process-slot";
import { getCluster } from "./index";
import { getClusterControl } from "./join";
import { MEMBER_TTL_S, type Eviction, type MemberLease } from "./membership";

/**
 * One rbd LU's ownership as the ownership module reports it (server/cluster/ownership.ts,
 * OwnershipEntry: the fields the page needs).
 */
export interface OwnershipUnit {
  /** The storage object (rbd) name: the LU's name on every node, and what "move ownership" takes. */
  lu: string;
  /** The member holding its election, or null while none does (electing, or every candidate down). */
  owner: string | null;
  /** This node's part: owner, standby, acquiring, releasing, fenced, unowned. */
  state: string;
  /** Since when (ISO) owner/state hold. */
  since: string | null;
  /** The ALUA access state this node's port group reports ("Active/Optimized", "Standby"...). */
  aluaState: string | null;
  /** Why this node may not serve it (fenced), or a configuration problem. */
  reason: string | null;
  /** The last change of owner, and how long the taking node took (fence + lock). */
  lastChange: { from: string | null; to: string; at: string; tookMs: number | null; planned: boolean } | null;
}

export interface OwnershipSource {
  status(): OwnershipUnit[] | Promise<OwnershipUnit[]>;
  /** Moves an LU to another live member without IO errors (absent: the module cannot move on request). */
  move?(lu: string, to: string, by: string): Promise<unknown>;
}

const ownershipSource = processSlot<OwnershipSource>("portico.clusterOwnership");

/** Registered by the ownership module while it runs; undefined: ownership not available. */
export function setOwnershipSource(s: OwnershipSource | undefined): void {
  ownershipSource.set(s);
}
export function getOwnershipSource(): OwnershipSource | undefined {
  return ownershipSource.get();
}

export interface NodeRow {
  name: string;
  self: boolean;
  version: string;
  consoleUrl: string | null;
  portals: string[];
  host: string;
  pid: number;
  startedAt: string;
  /** The member key's lease, as etcd counts it down (null: etcd did not answer). */
  lease: { ttl: number; grantedTtl: number; renewedAgoS: number } | null;
  /** The LUs this member owns (empty without ownership data). */
  owns: string[];
}

export type OwnershipView = { available: false; reason: string } | { available: true; units: (OwnershipUnit & { luns: LunRef[] })[] };

/** A LUN exporting a storage object: where the page links. */
export interface LunRef {
  wwn: string;
  tag: number;
  lun: number;
}

export interface ClusterOverview {
  /** "single": not a member (maybe a saved join waits for a restart); "member": has a membership (joined or trying). */
  mode: "single" | "member";
  node: string | null;
  endpoints: string[];
  source: "env" | "console" | null;
  connected: boolean;
  error: string | null;
  evicted: Eviction | null;
  /** The member key's TTL in seconds. */
  ttlS: number;
  /** A join saved for the next start, and why it could not take effect now. */
  pending: { node: string; endpoints: string[]; reason: string } | null;
  /** This node left during this run (ISO), and whether PORTICO_CLUSTER brings it back at its next start. */
  left: { at: string; rejoinsAtStart: boolean } | null;
  nodes: NodeRow[];
  ownership: OwnershipView;
  /** Whether "move ownership" is offered (the ownership module can move on request). */
  canMove: boolean;
  /** The join form's default node name: the host name, when it is a valid node name (PORTICO_NODE's default too). */
  suggestedNode: string | null;
}

/** Seconds since a lease was last renewed, from what is left of it (etcd counts whole seconds). */
export function renewedAgo(lease: Pick<MemberLease, "ttl" | "grantedTtl">): number {
  return lease.ttl < 0 ? lease.grantedTtl : Math.max(0, lease.grantedTtl - lease.ttl);
}

export async function clusterOverview(engine: Engine): Promise<ClusterOverview> {
  const control = getClusterControl();
  const m = getCluster();
  const status = m?.status();
  const pending = control?.pending ? { node: control.pending.node, endpoints: control.pending.endpoints, reason: control.pending.reason } : null;
  const left = control?.leftAt ? { at: control.leftAt, rejoinsAtStart: control.source === "env" } : null;
  const ownership = await readOwnership(engine, status !== undefined);
  const units = ownership.available ? ownership.units : [];
  const leases = m && status?.connected ? await m.leaseTimes() : new Map<string, MemberLease>();
  const nodes: NodeRow[] = (status?.members ?? []).map((x) => {
    const l = leases.get(x.name);
    // Our own renewal time is known to the millisecond; the others' from etcd's countdown.
    const selfAgo = x.self && status?.renewedAt ? Math.max(0, Math.floor((Date.now() - status.renewedAt) / 1000)) : undefined;
    return {
      name: x.name,
      self: x.self,
      version: x.version,
      consoleUrl: x.consoleUrl,
      portals: x.portals,
      host: x.host,
      pid: x.pid,
      startedAt: x.startedAt,
      lease: l ? { ttl: l.ttl, grantedTtl: l.grantedTtl, renewedAgoS: selfAgo ?? renewedAgo(l) } : null,
      owns: units.filter((u) => u.owner === x.name).map((u) => u.lu),
    };
  });
  return {
    mode: status ? "member" : "single",
    node: status?.node ?? null,
    endpoints: status?.endpoints ?? [],
    source: status ? control?.source ?? "env" : null,
    connected: status?.connected ?? false,
    error: status?.error ?? null,
    evicted: status?.evicted ?? null,
    ttlS: MEMBER_TTL_S,
    pending,
    left: status ? null : left,
    nodes,
    ownership,
    canMove: ownership.available && typeof getOwnershipSource()?.move === "function",
    suggestedNode: suggestedNode(),
  };
}

function suggestedNode(): string | null {
  const host = (os.hostname().split(".")[0] ?? "").toLowerCase();
  return host && !nodeNameReason(host) ? host : null;
}

async function readOwnership(engine: Engine, member: boolean): Promise<OwnershipView> {
  if (!member) return { available: false, reason: "this node is not a cluster member" };
  const source = getOwnershipSource();
  if (!source) return { available: false, reason: "ownership is not available on this node: LUN ownership and fencing (issue 14, step 3) are not running" };
  try {
    const units = await source.status();
    return { available: true, units: units.map((u) => ({ ...u, luns: lunsOf(engine, [`rbd/${u.lu}`]) })) };
  } catch (err) {
    return { available: false, reason: `ownership could not be read: ${(err as Error).message}` };
  }
}

/** The LUNs that export these storage objects (`plugin/name`), for links from the page. */
export function lunsOf(engine: Engine, storageObjects: string[]): LunRef[] {
  const wanted = new Set(storageObjects.map((s) => s.replace(/^\/backstores\//, "")));
  const out: LunRef[] = [];
  for (const target of engine.targets.values())
    for (const tpg of target.tpgs.values())
      for (const [lun, l] of tpg.luns) {
        const so = l.storageObject;
        if (wanted.has(`${so.plugin}/${so.name}`) || wanted.has(so.name)) out.push({ wwn: target.wwn, tag: tpg.tag, lun });
      }
  return out;
}

export async function moveLu(lu: string, to: string, by: string): Promise<void> {
  const source = getOwnershipSource();
  if (!source?.move) throw new Error("moving ownership is not available on this node");
  const live = getCluster()?.status().members.some((x) => x.name === to);
  if (!live) throw new Error(`"${to}" is not a live member`);
  await source.move(lu, to, by);
}

/**
 * Joining and leaving at run time (issue 14, points 1 and 5: "or joined from the console's
 * Cluster page"). One ClusterControl per process owns the node's membership, whether it came
 * from PORTICO_CLUSTER at start, from `cluster.json` in the data directory (a join made on the
 * Cluster page, so the node rejoins after a restart), or from a join made just now.
 *
 * - Join: checked against etcd first (reachable? the name free?) so that a refusal lands next
 *   to the form's field; saved to `cluster.json`; then the membership starts at once, unless
 *   something this process set up at start cannot change at run time (main.ts: persistent
 *   reservations in etcd are attached to the engine before restore) or it serves portals it would
 *   have to close as a member (TPGs assigned to another node): then it is saved and takes effect
 *   at the next start, and the answer says so.
 * - Leave (on this node's own page): the lease is revoked (the others see it go at once) and
 *   `cluster.json` removed. A node started with PORTICO_CLUSTER rejoins at its next start: the
 *   environment wins, and the page says so.
 * - Evict (another node): its key is marked evicted and its lease revoked; the evicted node does
 *   not register again until it is joined again from its own page (membership.ts).
 * - Every join, departure and eviction this node sees goes to the event log (activity).
 */
import fs from "node:fs";
import path from "node:path";
import { Etcd3 } from "etcd3";
import type { Engine } from "../engine/core/engine";
import { recordEvent } from "../history/events";
import { FieldError } from "../console/errors";
import { setCluster } from "./index";
import { EVICTED_PREFIX, NODES_PREFIX, type ClusterMembership, type MemberEvent } from "./membership";
import type { ClusterSettings } from "./settings";
import { removeFileDurable, writeFileAtomic } from "../runtime";
import { processSlot } from "../process-slot";

export const SAVED_FILE = "cluster.json";

/** Where this node's membership settings came from. */
export type ClusterSource = "env" | "console";

export interface SavedCluster extends ClusterSettings {
  joinedAt: string;
  by?: string;
}

/** The join saved by the Cluster page, if any (a damaged file is reported and ignored: the node starts single). */
export function readSavedCluster(dataDir: string, warn: (m: string) => void = () => undefined): (ClusterSettings & { joinedAt?: string }) | undefined {
  const file = path.join(dataDir, SAVED_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as Partial<SavedCluster>;
    if (!Array.isArray(v.endpoints) || !v.endpoints.every((e) => typeof e === "string") || typeof v.node !== "string") throw new Error("missing endpoints or node");
    return { endpoints: v.endpoints, node: v.node, joinedAt: v.joinedAt };
  } catch (err) {
    warn(`${file} is not readable (${(err as Error).message}): starting as a single appliance; join again from the Cluster page`);
    return undefined;
  }
}

/**
 * Saves a join made on the Cluster page. Temp file, fsync, rename, fsync of the directory
 * (writeFileAtomic): a crash or a power loss leaves the old file or the new one, never half of
 * one, and a join that was answered is still there after the power comes back.
 */
export function writeSavedCluster(dataDir: string, saved: SavedCluster): void {
  writeFileAtomic(path.join(dataDir, SAVED_FILE), JSON.stringify(saved, null, 2) + "\n");
}

export interface JoinResult {
  node: string;
  endpoints: string[];
  /** Joined now (membership running); false: saved, takes effect at the next start (`restartReason`). */
  live: boolean;
  restartReason: string | null;
}

/**
 * Something that runs while this node is a member (LU ownership, configuration sync): started
 * after the membership, at start or at a join from the console, and stopped before it when the
 * node leaves or shuts down.
 */
export type ClusterCompanion = (settings: ClusterSettings, membership: ClusterMembership) => { stop(): Promise<void> } | undefined;

export interface ClusterControlOptions {
  dataDir: string;
  engine: Engine;
  /** Makes the membership for a node (main.ts knows what a member publishes). */
  membership: (settings: ClusterSettings) => ClusterMembership;
  log?: (line: string) => void;
  /** Members that dropped off the list (while some are still listed): e.g. their SPC-2 reservations go. */
  onMembersLeft?: (names: string[]) => void;
  /** Why this process can never join without a restart (something set up at start only), or null. */
  liveJoinBlocker?: string | null;
}

const control = processSlot<ClusterControl>("portico.clusterControl");

export function setClusterControl(c: ClusterControl | undefined): void {
  control.set(c);
}
export function getClusterControl(): ClusterControl | undefined {
  return control.get();
}

export class ClusterControl {
  private current: ClusterMembership | undefined;
  private unsubscribe: (() => void) | undefined;
  private settings: ClusterSettings | undefined;
  source: ClusterSource | null = null;
  /** A join saved for the next start (live join not possible), and why. */
  pending: (ClusterSettings & { reason: string }) | null = null;
  /** This node left the cluster on purpose during this run (ISO time). */
  leftAt: string | null = null;
  private busy = false;
  /** Register before begin(): e.g. main.ts adds LU ownership here. */
  readonly companions: ClusterCompanion[] = [];
  private running: { stop(): Promise<void> }[] = [];

  constructor(private readonly opts: ClusterControlOptions) {}

  get membership(): ClusterMembership | undefined {
    return this.current;
  }

  /** Starts the membership of a node configured at start (environment or cluster.json). */
  begin(settings: ClusterSettings, source: ClusterSource): void {
    this.settings = settings;
    this.source = source;
    const m = this.opts.membership(settings);
    this.current = m;
    setCluster(m);
    let seen: ReadonlySet<string> = new Set<string>();
    m.onChange = () => {
      const live = new Set(m.status().members.map((x) => x.name));
      this.opts.engine.liveNodes = live;
      const left = [...seen].filter((n) => !live.has(n));
      if (left.length > 0 && live.size > 0) this.opts.onMembersLeft?.(left);
      seen = live;
    };
    this.unsubscribe = m.onMember((e) => recordMemberEvent(m.node, e));
    void m.start();
    for (const c of this.companions) {
      try {
        const r = c(settings, m);
        if (r) this.running.push(r);
      } catch (err) {
        this.opts.log?.(`portico: cluster: a cluster module did not start: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Joins from the console. Refusals name the field: `endpoints` (etcd not reachable) or `node`
   * (a live member has that name). An eviction mark for the name is cleared: joining is on purpose.
   */
  async join(input: ClusterSettings, by: string): Promise<JoinResult> {
    if (this.busy) throw new FieldError("a join or leave is already in progress", "form", "CONFLICT");
    const cur = this.current?.status();
    if (cur && !cur.evicted) {
      throw new FieldError(`this node is already a member (as ${cur.node}, etcd ${cur.endpoints.join(", ")}): leave the cluster first`, "form", "CONFLICT");
    }
    this.busy = true;
    try {
      await preflight(input);
      const saved: SavedCluster = { ...input, joinedAt: new Date().toISOString(), by };
      const restartReason = this.liveJoinBlocker(input.node);
      writeSavedCluster(this.opts.dataDir, saved);
      this.leftAt = null;
      if (restartReason) {
        this.pending = { ...input, reason: restartReason };
        recordEvent({ type: "cluster_join", actor: by, reason: "saved", message: `joining the cluster as ${input.node} at the next start (${restartReason})`, detail: { node: input.node, endpoints: input.endpoints, live: false } });
        return { node: input.node, endpoints: input.endpoints, live: false, restartReason };
      }
      if (this.current) {
        // Evicted earlier with the same settings: clear the mark and register again.
        const same = this.settings?.node === input.node && this.settings.endpoints.join() === input.endpoints.join();
        if (same) {
          await this.current.rejoin();
          this.source = "console";
          return { node: input.node, endpoints: input.endpoints, live: true, restartReason: null };
        }
        await this.stopCurrent();
      }
      this.opts.engine.localNode = input.node;
      this.begin(input, "console");
      this.opts.log?.(`portico: cluster: joining as ${input.node} from the console (etcd ${input.endpoints.join(", ")})`);
      return { node: input.node, endpoints: input.endpoints, live: true, restartReason: null };
    } finally {
      this.busy = false;
    }
  }

  /** This node leaves on purpose: lease revoked (the others see it at once), saved join removed. */
  async leave(by: string): Promise<{ rejoinsAtStart: boolean }> {
    const m = this.current;
    if (!m && !this.pending) throw new FieldError("this node is not a member of a cluster", "form", "CONFLICT");
    const node = m?.node ?? this.pending?.node;
    removeFileDurable(path.join(this.opts.dataDir, SAVED_FILE));
    this.pending = null;
    const rejoinsAtStart = this.source === "env";
    if (m) {
      await this.stopCurrent();
      // Until the next start the node keeps serving its own TPGs only; SendTargets lists only them.
      this.opts.engine.liveNodes = new Set();
      this.leftAt = new Date().toISOString();
      recordEvent({ type: "cluster_leave", actor: by, reason: "left", message: `${node} left the cluster${rejoinsAtStart ? " (PORTICO_CLUSTER is set: it rejoins at its next start)" : ""}`, detail: { node } });
      this.opts.log?.(`portico: cluster: ${node} left the cluster (by ${by})`);
    }
    return { rejoinsAtStart };
  }

  /** Removes another node: marks it evicted and revokes its lease (membership.evict). */
  async evict(name: string, by: string): Promise<void> {
    const m = this.current;
    if (!m?.status().connected) throw new FieldError("this node is not a connected member: evict from a node that is", "form", "CONFLICT");
    try {
      await m.evict(name, `${m.node} (${by})`);
    } catch (err) {
      throw new FieldError((err as Error).message, "node", "CONFLICT");
    }
    recordEvent({ type: "cluster_evict", actor: by, reason: "evicted", message: `${name} removed from the cluster by ${m.node}; it stays out until it is joined again from its own Cluster page`, detail: { node: name } });
  }

  async shutdown(): Promise<void> {
    await this.stopCurrent();
  }

  private async stopCurrent(): Promise<void> {
    // Companions first (ownership hands its LUs over while the membership still stands).
    for (const r of this.running.splice(0).reverse()) await r.stop().catch((err: unknown) => this.opts.log?.(`portico: cluster: stopping a cluster module: ${(err as Error).message}`));
    const m = this.current;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.current = undefined;
    setCluster(undefined);
    await m?.stop();
  }

  /**
   * Why this process cannot become `node`'s member without a restart: it would have to close
   * portals it serves now (TPGs assigned to another node) or open ones it does not (its engine
   * was started as another node).
   */
  private liveJoinBlocker(node: string): string | null {
    if (this.opts.liveJoinBlocker) return this.opts.liveJoinBlocker;
    const engine = this.opts.engine;
    if (engine.localNode !== undefined && engine.localNode !== node) return `this process was started as node ${engine.localNode}: restart it to serve as ${node}`;
    const others = new Set<string>();
    for (const target of engine.targets.values()) for (const tpg of target.tpgs.values()) if (tpg.node !== undefined && tpg.node !== node) others.add(`${target.wwn} tpg${tpg.tag} (node ${tpg.node})`);
    if (others.size) return `restart Portico to close the portals of ${[...others].slice(0, 3).join(", ")}${others.size > 3 ? ` and ${others.size - 3} more` : ""}, which belong to other nodes`;
    return null;
  }
}

/** etcd answers and the name is free, before anything is saved; refusals name the form's field. */
async function preflight(input: ClusterSettings): Promise<void> {
  const client = new Etcd3({ hosts: input.endpoints, dialTimeout: 2_000, defaultCallOptions: () => ({ deadline: Date.now() + 3_000 }) });
  try {
    let holder: string | null;
    try {
      holder = await client.get(NODES_PREFIX + input.node).string();
    } catch (err) {
      throw new FieldError(`etcd at ${input.endpoints.join(", ")} is not reachable: ${(err as Error).message}`, "endpoints");
    }
    if (holder !== null) {
      let who = "";
      try {
        const m = JSON.parse(holder) as { pid?: number; host?: string };
        who = ` (pid ${m.pid} on ${m.host})`;
      } catch {
        // name only
      }
      throw new FieldError(`another node is already registered as "${input.node}"${who}: choose another name`, "node", "CONFLICT");
    }
    // Joining on purpose clears an earlier eviction of this name.
    await client.delete().key(EVICTED_PREFIX + input.node);
  } finally {
    client.close();
  }
}

function recordMemberEvent(self: string, e: MemberEvent): void {
  switch (e.kind) {
    case "joined":
      recordEvent({
        type: "cluster_join",
        actor: "system",
        reason: e.self ? "joined" : "member_joined",
        message: e.self
          ? `${self} joined the cluster`
          : `${e.name} ${e.existing ? "is a member" : "joined the cluster"} (console ${e.info.consoleUrl ?? "?"}, portals ${e.info.portals.join(", ") || "none"})`,
        detail: { node: e.name, observer: self, version: e.info.version, startedAt: e.info.startedAt },
      });
      return;
    case "left":
      recordEvent({
        type: "cluster_leave",
        actor: "system",
        reason: e.self ? "removed" : "member_left",
        // etcd deletes the key the same way for a revoke (stop, leave, evict) and a lease expiry (death): both are "gone".
        message: e.self ? `${self}'s member key is gone (evicted, or its lease expired)` : `${e.name} left the cluster (stopped, removed, or its lease expired)`,
        detail: { node: e.name, observer: self },
      });
      return;
    case "lease_lost":
      recordEvent({ type: "cluster_leave", actor: "system", reason: "lease_lost", message: `${self} lost its membership lease (${e.reason}); re-joining`, detail: { node: self } });
      return;
    case "evicted":
      recordEvent({ type: "cluster_evict", actor: "system", reason: "evicted", message: `${self} was removed from the cluster by ${e.eviction.by} at ${e.eviction.at}; it does not rejoin until joined again from its Cluster page`, detail: { node: self, ...e.eviction } });
      return;
  }
}

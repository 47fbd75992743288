/**
 * Cluster membership on etcd (issue "Portico cluster", step 1: joining). A member is a key
 * `/portico/v1/nodes/<name>` attached to the node's lease: while the node lives it keeps the
 * lease alive; when it dies (kill -9, a cut link, a pause longer than the TTL) etcd drops the
 * key on its own, so the member list is the set of live nodes without any controller of ours.
 * Registration is create-only in one transaction: a second process with the same name is
 * refused by name instead of overwriting a live member.
 *
 * Never throws out of its background work: etcd unreachable at start or later is a status
 * ("not connected: …") and a retry, while the node goes on serving its local configuration.
 */
import { Etcd3, type Lease, type Watcher } from "etcd3";

export const KEY_PREFIX = "/portico/v1/";
export const NODES_PREFIX = `${KEY_PREFIX}nodes/`;
/**
 * A node removed from the console (evicted): while this key exists the node does not register
 * again (its lease was revoked, and a plain retry would bring it back silently). Joining again
 * from that node's own Cluster page deletes it.
 */
export const EVICTED_PREFIX = `${KEY_PREFIX}evicted/`;
/** Seconds a dead node stays listed (the lease TTL). */
export const MEMBER_TTL_S = 3;
const RETRY_MS = 1_000;

/** What a member publishes about itself. */
export interface MemberInfo {
  name: string;
  version: string;
  /** The console's URL, as this node reports it. */
  consoleUrl: string | null;
  /** iSCSI portals it listens on (`ip:port`). */
  portals: string[];
  startedAt: string;
  pid: number;
  host: string;
}

export interface MemberView extends MemberInfo {
  self: boolean;
}

/** Who evicted a node, and when (the value of its EVICTED_PREFIX key). */
export interface Eviction {
  by: string;
  at: string;
}

/** A change in the member list, as this node sees it (for the event log). */
export type MemberEvent =
  /** `existing`: already a member when this node (re)read the list, not a join seen as it happened. */
  | { kind: "joined"; name: string; self: boolean; info: MemberInfo; existing?: boolean }
  | { kind: "left"; name: string; self: boolean }
  | { kind: "lease_lost"; name: string; self: true; reason: string }
  | { kind: "evicted"; name: string; self: true; eviction: Eviction };

/** A member's lease as etcd reports it: seconds left of the TTL it was granted (renewed by keep-alive). */
export interface MemberLease {
  id: string;
  /** Seconds left before the key drops out (-1: the lease is gone). */
  ttl: number;
  grantedTtl: number;
}

export interface ClusterStatus {
  node: string;
  endpoints: string[];
  /** Registered and the lease is alive. */
  connected: boolean;
  /** Why not, when not. */
  error: string | null;
  /** Set when another node evicted this one: it does not register again until it rejoins on purpose. */
  evicted: Eviction | null;
  /** When this node's own lease was last renewed (ms), while connected. */
  renewedAt: number | null;
  members: MemberView[];
}

export class ClusterMembership {
  private readonly client: Etcd3;
  private lease: Lease | undefined;
  private watcher: Watcher | undefined;
  private members = new Map<string, MemberInfo>();
  private connected = false;
  private error: string | null = "connecting";
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private leases = new Map<string, string>();
  private evicted: Eviction | null = null;
  private renewedAt: number | null = null;
  private readonly listeners = new Set<(e: MemberEvent) => void>();
  /** Called whenever the member list changes (e.g. to refresh SendTargets or the console). */
  onChange: (() => void) | undefined;

  constructor(
    private readonly endpoints: string[],
    private readonly info: () => MemberInfo,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.client = new Etcd3({
      hosts: endpoints,
      dialTimeout: 2_000,
      // Unary calls must not hang on an unreachable etcd: the node keeps serving and retries.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3_000 }),
    });
  }

  get node(): string {
    return this.info().name;
  }

  /** Starts registering in the background; resolves after the first attempt (joined or not). */
  async start(): Promise<void> {
    await this.register();
  }

  status(): ClusterStatus {
    const self = this.node;
    const members = [...this.members.values()].map((m) => ({ ...m, self: m.name === self })).sort((a, b) => a.name.localeCompare(b.name));
    return { node: self, endpoints: this.endpoints, connected: this.connected, error: this.error, evicted: this.evicted, renewedAt: this.connected ? this.renewedAt : null, members };
  }

  /** Follows joins and departures (this node's and the others'); returns the unsubscribe. */
  onMember(fn: (e: MemberEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: MemberEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch {
        // a listener never breaks membership
      }
    }
  }

  /** Each live member's lease, as etcd counts it down between keep-alives (one LeaseTimeToLive per member). */
  async leaseTimes(): Promise<Map<string, MemberLease>> {
    const out = new Map<string, MemberLease>();
    await Promise.all(
      [...this.leases].map(async ([name, id]) => {
        try {
          const r = await this.client.leaseClient.leaseTimeToLive({ ID: id });
          out.set(name, { id, ttl: Number(r.TTL), grantedTtl: Number(r.grantedTTL) });
        } catch {
          // etcd unreachable: no figure rather than a stale one
        }
      }),
    );
    return out;
  }

  /**
   * Removes another member on purpose: marks it evicted (so it does not register again by
   * itself), then revokes its lease, which drops its key at once. Refused for this node (leave
   * instead) and for a name that is not a live member.
   */
  async evict(name: string, by: string): Promise<void> {
    if (name === this.node) throw new Error(`"${name}" is this node: leave the cluster instead`);
    const lease = this.leases.get(name);
    if (!lease) throw new Error(`"${name}" is not a live member`);
    const eviction: Eviction = { by, at: new Date().toISOString() };
    await this.client.put(EVICTED_PREFIX + name).value(JSON.stringify(eviction));
    try {
      await this.client.leaseClient.leaseRevoke({ ID: lease });
    } catch (err) {
      // Already expired: the key is gone anyway.
      if (!/not found/i.test((err as Error).message)) throw err;
    }
  }

  /** Clears this node's eviction mark and registers again (an admin joining it on purpose). */
  async rejoin(): Promise<void> {
    await this.client.delete().key(EVICTED_PREFIX + this.node);
    this.evicted = null;
    this.stopped = false;
    await this.register();
  }

  /** Republishes this node's info (e.g. after portals changed). */
  async refresh(): Promise<void> {
    if (!this.connected || !this.lease) return;
    try {
      await this.lease.put(NODES_PREFIX + this.node).value(JSON.stringify(this.info()));
    } catch (err) {
      this.log(`portico: cluster: could not update this node's entry: ${(err as Error).message}`);
    }
  }

  /** Leaves: revokes the lease so the other nodes see this one go at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    try {
      await this.watcher?.cancel();
    } catch {
      // closing anyway
    }
    try {
      if (this.connected) await this.lease?.revoke();
    } catch {
      // etcd unreachable: the lease expires on its own
    }
    this.lease?.release();
    this.client.close();
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.register(), RETRY_MS);
    this.retry.unref();
  }

  private async register(): Promise<void> {
    if (this.stopped) return;
    const key = NODES_PREFIX + this.node;
    const lease = this.client.lease(MEMBER_TTL_S, { autoKeepAlive: true });
    lease.on("keepaliveSucceeded", () => {
      if (this.lease === lease) this.renewedAt = Date.now();
    });
    lease.on("lost", (err) => {
      if (this.stopped || this.lease !== lease) return;
      this.connected = false;
      this.error = `lease lost: ${err.message}`;
      this.emit({ kind: "lease_lost", name: this.node, self: true, reason: err.message });
      this.log(`portico: cluster: ${this.node} lost its membership lease (${err.message}); re-joining`);
      this.scheduleRetry();
    });
    try {
      const id = await lease.grant();
      const r = await this.client
        .if(key, "Create", "==", 0)
        .and(EVICTED_PREFIX + this.node, "Create", "==", 0)
        .then(this.client.put(key).value(JSON.stringify(this.info())).lease(id))
        .else(this.client.get(key), this.client.get(EVICTED_PREFIX + this.node))
        .commit();
      const evicted = parseEviction(r.succeeded ? undefined : r.responses[1]?.response_range?.kvs[0]?.value.toString());
      if (evicted) {
        // Removed from the console on purpose: no silent comeback, no retry (rejoin() clears it).
        await lease.revoke().catch(() => undefined);
        this.evicted = evicted;
        this.connected = false;
        this.error = `evicted from the cluster by ${evicted.by} at ${evicted.at}: join again from this node's Cluster page`;
        this.log(`portico: cluster: ${this.error}`);
        this.emit({ kind: "evicted", name: this.node, self: true, eviction: evicted });
        return;
      }
      if (!r.succeeded) {
        const other = r.responses[0]?.response_range?.kvs[0]?.value.toString();
        const desc = describeHolder(other);
        await lease.revoke().catch(() => undefined);
        this.error = `another node is already registered as "${this.node}"${desc}: set PORTICO_NODE to a unique name`;
        this.connected = false;
        this.log(`portico: cluster: ${this.error}`);
        this.scheduleRetry();
        return;
      }
      this.lease = lease;
      this.connected = true;
      this.error = null;
      this.renewedAt = Date.now();
      await this.watchMembers();
      this.log(`portico: cluster: joined as ${this.node} (${this.members.size} member${this.members.size === 1 ? "" : "s"})`);
    } catch (err) {
      lease.release();
      this.connected = false;
      this.error = `etcd at ${this.endpoints.join(", ")} is not reachable: ${(err as Error).message}`;
      this.scheduleRetry();
    }
  }

  /** Loads the member list, then follows it through a watch from the revision read. */
  private async watchMembers(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
    const all = await this.client.getAll().prefix(NODES_PREFIX).exec();
    const before = this.members;
    this.members = new Map();
    this.leases = new Map();
    for (const kv of all.kvs) {
      const m = parseMember(kv.value.toString());
      const name = kv.key.toString().slice(NODES_PREFIX.length);
      if (m) this.members.set(name, m), this.leases.set(name, kv.lease);
    }
    for (const [name, m] of this.members) if (!before.has(name)) this.emit({ kind: "joined", name, self: name === this.node, info: m, existing: name !== this.node });
    for (const name of before.keys()) if (!this.members.has(name)) this.emit({ kind: "left", name, self: name === this.node });
    this.onChange?.();
    // From the revision just read, so that no join or leave between the read and the watch is missed.
    const from = (BigInt(all.header.revision) + 1n).toString();
    const watcher = await this.client.watch().prefix(NODES_PREFIX).startRevision(from).create();
    this.watcher = watcher;
    watcher.on("put", (kv) => {
      const m = parseMember(kv.value.toString());
      const name = kv.key.toString().slice(NODES_PREFIX.length);
      const known = this.members.has(name);
      if (m) this.members.set(name, m), this.leases.set(name, kv.lease);
      if (m && !known) this.emit({ kind: "joined", name, self: name === this.node, info: m });
      this.onChange?.();
    });
    watcher.on("delete", (kv) => {
      const name = kv.key.toString().slice(NODES_PREFIX.length);
      const known = this.members.delete(name);
      this.leases.delete(name);
      if (known) this.emit({ kind: "left", name, self: name === this.node });
      this.onChange?.();
    });
    watcher.on("error", () => undefined);
  }
}

function parseMember(v: string): MemberInfo | undefined {
  try {
    const m = JSON.parse(v) as MemberInfo;
    return typeof m.name === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

function parseEviction(v: string | undefined): Eviction | null {
  if (!v) return null;
  try {
    const e = JSON.parse(v) as Eviction;
    return typeof e.by === "string" ? e : { by: "?", at: "?" };
  } catch {
    return { by: "?", at: "?" };
  }
}

function describeHolder(v: string | undefined): string {
  const m = v ? parseMember(v) : undefined;
  return m ? ` (pid ${m.pid} on ${m.host}, started ${m.startedAt})` : "";
}

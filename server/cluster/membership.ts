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

export interface ClusterStatus {
  node: string;
  endpoints: string[];
  /** Registered and the lease is alive. */
  connected: boolean;
  /** Why not, when not. */
  error: string | null;
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
    return { node: self, endpoints: this.endpoints, connected: this.connected, error: this.error, members };
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
    lease.on("lost", (err) => {
      if (this.stopped || this.lease !== lease) return;
      this.connected = false;
      this.error = `lease lost: ${err.message}`;
      this.log(`portico: cluster: ${this.node} lost its membership lease (${err.message}); re-joining`);
      this.scheduleRetry();
    });
    try {
      const id = await lease.grant();
      const r = await this.client
        .if(key, "Create", "==", 0)
        .then(this.client.put(key).value(JSON.stringify(this.info())).lease(id))
        .else(this.client.get(key))
        .commit();
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
    this.members = new Map();
    for (const kv of all.kvs) {
      const m = parseMember(kv.value.toString());
      if (m) this.members.set(kv.key.toString().slice(NODES_PREFIX.length), m);
    }
    this.onChange?.();
    // From the revision just read, so that no join or leave between the read and the watch is missed.
    const from = (BigInt(all.header.revision) + 1n).toString();
    const watcher = await this.client.watch().prefix(NODES_PREFIX).startRevision(from).create();
    this.watcher = watcher;
    watcher.on("put", (kv) => {
      const m = parseMember(kv.value.toString());
      if (m) this.members.set(kv.key.toString().slice(NODES_PREFIX.length), m);
      this.onChange?.();
    });
    watcher.on("delete", (kv) => {
      this.members.delete(kv.key.toString().slice(NODES_PREFIX.length));
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

function describeHolder(v: string | undefined): string {
  const m = v ? parseMember(v) : undefined;
  return m ? ` (pid ${m.pid} on ${m.host}, started ${m.startedAt})` : "";
}

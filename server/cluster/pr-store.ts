/**
 * Persistent reservations across gateways (issue 14, point 4): the registrations, the
 * reservation and the SPC-2 RESERVE holder of every LU live in etcd, one key per LU,
 * `/portico/v1/pr/<wwn>` (the unit serial every gateway reports for the LU: same wwn, same LU).
 *
 * - A change (PR OUT, RESERVE, RELEASE, a nexus loss releasing an SPC-2 reservation) is one etcd
 *   transaction that compares the key's mod revision with the one the change was computed from
 *   (scsi/pr.ts PrStore.update). A transaction that loses the race reads the newer state and the
 *   change is evaluated again against it, so the answer is the one a single target would give.
 *   The command's status waits for the commit: GOOD means etcd has it.
 * - Every node watches the prefix and applies the others' changes to its engine, queuing the unit
 *   attentions the change raised (RESERVATIONS PREEMPTED/RELEASED, REGISTRATIONS PREEMPTED, stored
 *   with it) for its own nexuses that match the affected registrations.
 * - Each node records the highest PR revision it has applied under its own leased key
 *   `/portico/v1/pr-applied/<node>`; the committing node waits (bounded) until every live member
 *   has applied the change, so when PR OUT returns GOOD through one gateway, every live gateway
 *   already enforces it (a preempted initiator's next write through another gateway conflicts).
 *
 * Nothing of it lives only in a node's memory: a node that dies loses nothing, and a node that
 * starts loads the state before it opens its portals (start()).
 */
import { Etcd3, type IKeyValue, type Lease, type Watcher } from "etcd3";
import { PersistentReservations, ReservationConflict, type PrSharedState, type PrStore, type PrUnitAttention, type Registration } from "../engine/scsi/pr";
import { Asc, SenseError, SenseKey } from "../engine/scsi/sense";
import type { Engine } from "../engine/core/engine";
import type { StorageObject } from "../engine/core/model";
import { KEY_PREFIX, MEMBER_TTL_S, NODES_PREFIX } from "./membership";

export const PR_PREFIX = `${KEY_PREFIX}pr/`;
export const PR_APPLIED_PREFIX = `${KEY_PREFIX}pr-applied/`;
/** A change that keeps losing races (a storm of PR OUT on one LU from several gateways) gives up after this many tries. */
const MAX_ATTEMPTS = 16;
/** How long a PR command waits for the initial load from etcd before it is refused. */
const READY_WAIT_MS = 3_000;
/**
 * How long a committed change waits for the other live members to apply it. A member that is
 * cut off from etcd drops out of the member list within the lease TTL; past that it no longer counts.
 */
const APPLY_WAIT_MS = (MEMBER_TTL_S + 1) * 1_000;
const RETRY_MS = 1_000;
/**
 * How long a PR OUT waits for its transaction. etcd3 retries a failed call on its own (three
 * deadlines of 3 s measured with etcd stopped: 9.4 s), longer than initiators wait for a command;
 * past this the command fails (retryable) and, should the transaction still land, the watch
 * brings its state like any other change.
 */
const COMMIT_TIMEOUT_MS = 3_000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`no answer from etcd within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}
/**
 * A RESERVE(6/10) that meets an SPC-2 reservation held through another gateway waits this long
 * for a change before it conflicts: the holder's gateway releases it when the nexus goes (logout,
 * reset) and commits that a few milliseconds after the initiator saw its logout complete, so an
 * initiator that logs out through one gateway and reserves through another is not refused by a
 * release still in flight.
 */
const REMOTE_SPC2_GRACE_MS = 1_000;

/** What the store needs of a logical unit (scsi/ScsiDisk). */
export interface PrDevice {
  readonly info: { readonly wwn: string };
  readonly pr: PersistentReservations;
  queuePrUnitAttentions(uas: PrUnitAttention[]): void;
  /** Another gateway reset the LU: 29h/03h for this gateway's nexuses of it. */
  peerReset?(): void;
}

type SavedRegistration = PrSharedState["registrations"][number];

/** The value of `/portico/v1/pr/<wwn>`. */
export interface StoredPr extends PrSharedState {
  v: 1;
  /** The node that made the change (for humans reading etcd). */
  by: string;
  /** The node whose nexus holds the SPC-2 reservation: it goes with that node (SPC-2: released on I_T nexus loss). */
  spc2Node?: string;
  /** The unit attentions this change raised, for every gateway's nexuses matching the registration. */
  uas: { registration: SavedRegistration; asc: number; ascq: number }[];
  /** This change is a reset of the LU (PrStore.announceReset): every gateway raises 29h/03h on its nexuses of it. */
  reset?: true;
}

const KNOWN_CODES = [Asc.RESERVATIONS_PREEMPTED, Asc.RESERVATIONS_RELEASED, Asc.REGISTRATIONS_PREEMPTED];

export function encodePr(state: PrSharedState, uas: PrUnitAttention[], by: string, spc2Node?: string, reset = false): string {
  const stored: StoredPr = {
    v: 1,
    ...state,
    by,
    ...(state.spc2Holder !== undefined && spc2Node ? { spc2Node } : {}),
    uas: uas.map((u) => ({ registration: savedRegistration(u.registration), asc: u.code[0], ascq: u.code[1] })),
    ...(reset ? { reset: true as const } : {}),
  };
  return JSON.stringify(stored);
}

/** Parses a stored value; undefined when it is not one of ours (logged by the caller). */
export function decodePr(text: string): { state: PrSharedState; uas: PrUnitAttention[]; spc2Node?: string; resetBy?: string } | undefined {
  let s: StoredPr;
  try {
    s = JSON.parse(text) as StoredPr;
  } catch {
    return undefined;
  }
  if (s?.v !== 1 || !Array.isArray(s.registrations) || typeof s.generation !== "number") return undefined;
  const state: PrSharedState = {
    generation: s.generation,
    registrations: s.registrations,
    reservation: s.reservation,
    aptpl: s.aptpl === true,
    ...(typeof s.spc2Holder === "string" ? { spc2Holder: s.spc2Holder } : {}),
  };
  const uas = (s.uas ?? []).map((u) => ({
    registration: { ...u.registration, key: BigInt(u.registration.key) } as Registration,
    code: KNOWN_CODES.find((c) => c[0] === u.asc && c[1] === u.ascq) ?? ([u.asc, u.ascq] as const),
  }));
  return { state, uas, ...(s.reset === true ? { resetBy: String(s.by) } : {}), ...(state.spc2Holder !== undefined && typeof s.spc2Node === "string" ? { spc2Node: s.spc2Node } : {}) };
}

function savedRegistration(r: Registration): SavedRegistration {
  return {
    key: r.key.toString(),
    initiatorName: r.initiatorName,
    ...(r.isid !== undefined ? { isid: r.isid } : {}),
    targetPort: r.targetPort,
    relativeTargetPortId: r.relativeTargetPortId,
    allTargetPorts: r.allTargetPorts,
  };
}

const EMPTY: PrSharedState = { generation: 0, registrations: [], aptpl: false };

/** The shared store cannot commit: the command ends in CHECK CONDITION, ABORTED COMMAND, LOGICAL UNIT COMMUNICATION FAILURE (retryable), never GOOD. */
export function storeUnavailable(): SenseError {
  return new SenseError(SenseKey.ABORTED_COMMAND, [0x08, 0x00]);
}

/** One LU's reservations in etcd: the engine's PrStore for that device. */
class LuPrStore implements PrStore {
  /** Mod revision of the state the device holds (0: none in etcd). */
  rev = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private waiters: (() => void)[] = [];

  constructor(
    private readonly owner: ClusterPrStore,
    readonly wwn: string,
    public device: PrDevice,
  ) {}

  get key(): string {
    return PR_PREFIX + this.wwn;
  }

  update(change: (pr: PersistentReservations) => PrUnitAttention[]): Promise<PrUnitAttention[]> {
    // One change at a time per LU on this node: each is computed from the state the previous one left.
    const run = this.chain.then(() => this.commit(change, false));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** A reset of the LU through this node: written (with the state as it is) so every gateway's watch raises 29h/03h. */
  announceReset(): Promise<void> {
    const run = this.chain.then(() => this.commit(() => [], true, true));
    this.chain = run.catch(() => undefined);
    return run.then(
      () => undefined,
      (err) => this.owner.log(`portico: cluster: reset of LU ${this.wwn} not announced to the other gateways: ${(err as Error).message}`),
    );
  }

  /** Writes this node's state for an LU etcd does not know yet (APTPL state from before the cluster). */
  seed(): void {
    const run = this.chain.then(() => this.commit(() => [], true));
    this.chain = run.catch((err) => this.owner.log(`portico: cluster: reservations of LU ${this.wwn} not written to etcd: ${(err as Error).message}`));
  }

  /** Applies a state read from etcd (a watch event, a lost race, the initial load) when it is newer than what the device holds. */
  apply(state: PrSharedState, rev: number, uas: PrUnitAttention[], resetBy?: string): void {
    if (rev <= this.rev) return;
    this.device.pr.restore(state);
    this.rev = rev;
    // A reset through this node already raised its unit attentions here (its own watch event may come first).
    if (resetBy !== undefined && resetBy !== this.owner.node) this.device.peerReset?.();
    if (uas.length > 0) this.device.queuePrUnitAttentions(uas);
    for (const w of this.waiters.splice(0)) w();
  }

  /** Would `change` pass but for an SPC-2 reservation held through another gateway? */
  private conflictIsRemoteSpc2(base: PrSharedState, change: (pr: PersistentReservations) => PrUnitAttention[]): boolean {
    if (base.spc2Holder === undefined || this.owner.spc2NodeOf(this.wwn) === this.owner.node) return false;
    try {
      change(PersistentReservations.from({ ...base, spc2Holder: undefined }));
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves at the next state applied from etcd, or after `ms`. */
  private nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private async commit(change: (pr: PersistentReservations) => PrUnitAttention[], force: boolean, reset = false): Promise<PrUnitAttention[]> {
    await this.owner.ready();
    const client = this.owner.client;
    let graceUntil = 0;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const base = this.device.pr.snapshot();
      const baseRev = this.rev;
      const scratch = PersistentReservations.from(base);
      let uas: PrUnitAttention[];
      try {
        uas = change(scratch); // ReservationConflict / SenseError: refused, nothing to commit
      } catch (err) {
        if (!(err instanceof ReservationConflict) || !this.conflictIsRemoteSpc2(base, change) || (graceUntil !== 0 && Date.now() >= graceUntil)) throw err;
        if (graceUntil === 0) graceUntil = Date.now() + REMOTE_SPC2_GRACE_MS;
        await this.nextChange(graceUntil - Date.now());
        attempt--;
        continue;
      }
      const next = scratch.snapshot();
      const changed = force || JSON.stringify(next) !== JSON.stringify(base);
      const spc2Node = next.spc2Holder === undefined ? undefined : next.spc2Holder === base.spc2Holder ? this.owner.spc2NodeOf(this.wwn) : this.owner.node;
      // Even an answer that changes nothing (RESERVE by the holder, RELEASE by a non-holder) is
      // checked against etcd's newest state: the transaction then only compares.
      let r;
      try {
        r = await withTimeout(
          client
            .if(this.key, "Mod", "==", baseRev)
            .then(...(changed ? [client.put(this.key).value(encodePr(next, uas, this.owner.node, spc2Node, reset))] : []))
            .else(client.get(this.key))
            .commit(),
          COMMIT_TIMEOUT_MS,
        );
      } catch (err) {
        this.owner.log(`portico: cluster: reservations of LU ${this.wwn} not committed: ${(err as Error).message}`);
        throw storeUnavailable();
      }
      if (r.succeeded) {
        if (!changed) return uas;
        const rev = Number(r.header.revision);
        if (rev > this.rev) {
          this.device.pr.restore(next);
          this.rev = rev;
          this.owner.known.set(this.wwn, { state: next, rev, spc2Node });
        }
        this.owner.noteApplied(rev);
        await this.owner.waitApplied(rev);
        return uas;
      }
      // Lost the race: take the newer state (and its unit attentions for our nexuses), then try again.
      const kv = r.responses[0]?.response_range?.kvs?.[0];
      this.owner.applyKv(this, kv);
      if (!kv && this.rev !== 0) {
        // Deleted behind our back (an admin with etcdctl): start again from nothing.
        this.device.pr.restore(EMPTY);
        this.rev = 0;
      }
    }
    this.owner.log(`portico: cluster: reservations of LU ${this.wwn}: gave up after ${MAX_ATTEMPTS} lost races`);
    throw storeUnavailable();
  }
}

/**
 * The node's PR store: attach() every LU's device (as storage objects are created), start()
 * before the portals open. Never throws out of its background work.
 */
export class ClusterPrStore {
  readonly client: Etcd3;
  private readonly lus = new Map<string, LuPrStore>();
  /** The newest state etcd has for every LU seen, attached here or not. */
  readonly known = new Map<string, { state: PrSharedState; rev: number; spc2Node?: string }>();
  private watcher: Watcher | undefined;
  private lease: Lease | undefined;
  private loaded = false;
  private readonly loadedPromise: Promise<void>;
  private resolveLoaded!: () => void;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  /** The highest PR revision applied here (a watch event, our own commit, the initial load). */
  private applied = 0;
  private acking: Promise<void> | undefined;
  private ackAgain = false;

  constructor(
    endpoints: string[],
    readonly node: string,
    readonly log: (line: string) => void = () => undefined,
  ) {
    this.client = new Etcd3({
      hosts: endpoints,
      dialTimeout: 2_000,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3_000 }),
    });
    this.loadedPromise = new Promise((resolve) => (this.resolveLoaded = resolve));
  }

  /** Keeps this device's reservations in etcd from now on (also for a device re-created for the same LU). */
  attach(device: PrDevice): void {
    const wwn = device.info.wwn;
    let lu = this.lus.get(wwn);
    if (lu) lu.device = device;
    else this.lus.set(wwn, (lu = new LuPrStore(this, wwn, device)));
    device.pr.store = lu;
    if (this.loaded) this.adopt(lu);
  }

  detach(device: PrDevice): void {
    const lu = this.lus.get(device.info.wwn);
    if (lu?.device === device) this.lus.delete(device.info.wwn);
    if (device.pr.store === lu) device.pr.store = undefined;
  }

  /** Loads every LU's state and starts following changes; resolves once loaded, or after `waitMs` (it keeps trying). */
  async start(waitMs = READY_WAIT_MS): Promise<boolean> {
    void this.load();
    return this.readyWithin(waitMs);
  }

  /** Resolves once the initial load is done; rejects with storeUnavailable() after READY_WAIT_MS. */
  async ready(): Promise<void> {
    if (this.loaded) return;
    if (!(await this.readyWithin(READY_WAIT_MS))) throw storeUnavailable();
  }

  private async readyWithin(ms: number): Promise<boolean> {
    if (this.loaded) return true;
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (t = setTimeout(() => resolve(false), ms)));
    const r = await Promise.race([this.loadedPromise.then(() => true), timeout]);
    clearTimeout(t);
    return r;
  }

  spc2NodeOf(wwn: string): string | undefined {
    return this.known.get(wwn)?.spc2Node;
  }

  /**
   * Members that left (lease expired: killed, cut off; or stopped): their nexuses are gone, and
   * with them the SPC-2 reservations they held (SPC-2 §5.5.1, released on I_T nexus loss). Every
   * survivor tries; the compare-and-set lets one of them do it.
   */
  membersLeft(names: string[]): void {
    if (!this.loaded) return;
    for (const [wwn, k] of this.known) {
      if (k.state.spc2Holder === undefined || !k.spc2Node || !names.includes(k.spc2Node)) continue;
      const holder = k.state.spc2Holder;
      const gone = k.spc2Node;
      const lu = this.lus.get(wwn);
      const release = (pr: PersistentReservations) => {
        if (pr.spc2Holder === holder && this.spc2NodeOf(wwn) === gone) pr.spc2Holder = undefined;
        return [];
      };
      if (lu) {
        lu.update(release).then(
          () => this.log(`portico: cluster: SPC-2 reservation of LU ${wwn} held through ${gone} released (${gone} left)`),
          () => undefined,
        );
      }
      // An LU not served here is left to the nodes that serve it.
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.watcher?.cancel().catch(() => undefined);
    await this.lease?.revoke().catch(() => undefined);
    this.lease?.release();
    for (const lu of this.lus.values()) if (lu.device.pr.store === lu) lu.device.pr.store = undefined;
    this.client.close();
  }

  private async load(): Promise<void> {
    if (this.stopped) return;
    try {
      const all = await this.client.getAll().prefix(PR_PREFIX).exec();
      for (const kv of all.kvs) this.remember(kv);
      this.loaded = true;
      for (const lu of this.lus.values()) this.adopt(lu);
      this.noteApplied(Number(all.header.revision));
      // From the revision just read, so no change between the read and the watch is missed.
      const from = (BigInt(all.header.revision) + 1n).toString();
      await this.watcher?.cancel().catch(() => undefined);
      const watcher = await this.client.watch().prefix(PR_PREFIX).startRevision(from).create();
      this.watcher = watcher;
      watcher.on("put", (kv) => this.onEvent(kv, false));
      watcher.on("delete", (kv) => this.onEvent(kv, true));
      watcher.on("error", (err) => {
        // E.g. the revision to resume from was compacted: read every LU's state again.
        if (this.stopped || this.watcher !== watcher) return;
        this.log(`portico: cluster: the reservations watch failed (${err.message}); reading them again`);
        this.watcher = undefined;
        void watcher.cancel().catch(() => undefined);
        this.retry = setTimeout(() => void this.load(), RETRY_MS);
        this.retry.unref();
      });
      this.resolveLoaded();
    } catch (err) {
      this.log(`portico: cluster: reservations not loaded from etcd (${(err as Error).message}); retrying`);
      if (this.stopped) return;
      this.retry = setTimeout(() => void this.load(), RETRY_MS);
      this.retry.unref();
    }
  }

  /** An LU attached after (or before) the load: etcd's state wins; an LU etcd does not know is written from ours (APTPL). */
  private adopt(lu: LuPrStore): void {
    const k = this.known.get(lu.wwn);
    if (k) lu.apply(k.state, k.rev, []);
    else if (lu.device.pr.registrations.length > 0 || lu.device.pr.spc2Holder !== undefined) lu.seed();
  }

  private remember(kv: IKeyValue): { state: PrSharedState; rev: number; uas: PrUnitAttention[]; resetBy?: string } | undefined {
    const wwn = kv.key.toString().slice(PR_PREFIX.length);
    const d = decodePr(kv.value.toString());
    if (!d) {
      this.log(`portico: cluster: ignoring an unreadable reservations value for LU ${wwn}`);
      return undefined;
    }
    const rev = Number(kv.mod_revision);
    const k = this.known.get(wwn);
    if (!k || k.rev < rev) this.known.set(wwn, { state: d.state, rev, spc2Node: d.spc2Node });
    return { ...d, rev };
  }

  private onEvent(kv: IKeyValue, deleted: boolean): void {
    const wwn = kv.key.toString().slice(PR_PREFIX.length);
    const rev = Number(kv.mod_revision);
    if (deleted) {
      this.known.delete(wwn);
      const lu = this.lus.get(wwn);
      if (lu) {
        lu.device.pr.restore(EMPTY);
        lu.rev = 0;
      }
    } else {
      const r = this.remember(kv);
      if (r) this.lus.get(wwn)?.apply(r.state, r.rev, r.uas, r.resetBy);
    }
    this.noteApplied(rev);
  }

  /** A state read in a transaction's else branch (a lost race). */
  applyKv(lu: LuPrStore, kv: IKeyValue | undefined): void {
    if (!kv) return;
    const r = this.remember(kv);
    if (r) lu.apply(r.state, r.rev, r.uas, r.resetBy);
  }

  /** Records that this node enforces every PR change up to `rev`; published under its leased key. */
  noteApplied(rev: number): void {
    if (rev <= this.applied) return;
    this.applied = rev;
    this.publish();
  }

  /** One put in flight at a time; changes applied meanwhile are published by the next. */
  private publish(): void {
    if (this.acking) {
      this.ackAgain = true;
      return;
    }
    this.acking = this.publishApplied().finally(() => {
      this.acking = undefined;
      if (this.ackAgain) {
        this.ackAgain = false;
        this.publish();
      }
    });
  }

  private async publishApplied(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.lease) {
        const lease = this.client.lease(MEMBER_TTL_S, { autoKeepAlive: true });
        lease.on("lost", () => {
          if (this.lease === lease) this.lease = undefined;
          if (!this.stopped) this.publish();
        });
        await lease.grant();
        this.lease = lease;
      }
      await this.lease.put(PR_APPLIED_PREFIX + this.node).value(String(this.applied));
    } catch (err) {
      this.log(`portico: cluster: could not publish the reservations revision applied: ${(err as Error).message}`);
    }
  }

  /**
   * Waits until every other live member has applied PR revision `rev` (bounded by APPLY_WAIT_MS:
   * a member that cannot reach etcd leaves the member list within the lease TTL).
   */
  async waitApplied(rev: number): Promise<void> {
    const deadline = Date.now() + APPLY_WAIT_MS;
    let pause = 2;
    let behind: string[] = [];
    while (!this.stopped) {
      try {
        const [members, applied] = await withTimeout(
          Promise.all([this.client.getAll().prefix(NODES_PREFIX).keys(), this.client.getAll().prefix(PR_APPLIED_PREFIX).strings()]),
          Math.max(deadline - Date.now(), 100),
        );
        behind = members
          .map((k) => k.slice(NODES_PREFIX.length))
          .filter((name) => name !== this.node && !(Number(applied[PR_APPLIED_PREFIX + name] ?? 0) >= rev));
        if (behind.length === 0) return;
      } catch {
        // etcd slow or gone: the change is committed; keep trying until the deadline
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 50);
    }
    if (behind.length > 0) this.log(`portico: cluster: reservations change ${rev} not confirmed by ${behind.join(", ")} within ${APPLY_WAIT_MS} ms`);
  }
}

function isPrDevice(d: unknown): d is PrDevice {
  const p = d as PrDevice | undefined;
  return typeof p?.queuePrUnitAttentions === "function" && p.pr instanceof PersistentReservations && typeof p.info?.wwn === "string";
}

/**
 * Keeps the reservations of every storage object of the engine in etcd, now and as they are
 * created or their device re-created (after APTPL's own hook, which loads this node's copy first).
 */
export function attachClusterReservations(engine: Pick<Engine, "storageObjects" | "onStorageObjectCreated">, store: ClusterPrStore): void {
  const attach = (so: StorageObject) => {
    if (isPrDevice(so.device)) store.attach(so.device);
  };
  for (const so of engine.storageObjects.values()) attach(so);
  const before = engine.onStorageObjectCreated;
  engine.onStorageObjectCreated = (so) => {
    before?.(so);
    attach(so);
  };
}

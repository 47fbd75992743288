/**
 * LU ownership and fencing (issue 14, point 3; docs/cluster.md "Ownership and fencing").
 *
 * Each rbd LU has one owner: the node holding the create-only key `/portico/v1/owners/<lu>`,
 * attached to that node's ownership lease (TTL 2 s). The owner:
 *   1. fences the previous owner unless it let go on purpose: blocklists its Ceph client address
 *      (rados_blocklist_add) and breaks its exclusive lock (rbd_lock_break, which blocklists the
 *      holder too), so a paused owner that wakes up has every later write refused by the OSDs;
 *   2. takes the image's exclusive lock in managed mode (rbd_lock_acquire(EXCLUSIVE)): librbd
 *      then never hands it to another client on its own, so there is no lock ping-pong;
 *   3. only then marks the key `active`; every node then reports the owner's ALUA group
 *      Active/Optimized and every other node's group Active/Non-optimized (2Ah/06h on the
 *      change): the others forward the LU's data commands to the owner over the peer link
 *      (peer-link.ts; the owner key names its address), so only the owner's Ceph client ever
 *      touches the image. With no active owner (an election, a hand-over) every group is
 *      Transitioning; a node that may not forward (fenced, no lease) reports Standby.
 * A lost lease (etcd unreachable or the process paused longer than the TTL) fences the LU on
 * this node at once; a survivor is elected when the key expires. A planned move (moveOwnership)
 * is a hand-over: the owner goes Transitioning, drains, flushes, releases the lock and the key
 * (marked `released`, so it is not fenced), and the named node takes it.
 *
 * The engine knows nothing of etcd: this module drives it through setAluaGroupRuntimeState,
 * fenceStorageObject, forwardStorageObject and the rbd backstore's lock calls. Never throws out of background work.
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import { Etcd3, type Lease, type Watcher } from "etcd3";
import type { Backstore, ForwardedIo } from "../engine/backstores/backstore";
import type { Engine } from "../engine/core/engine";
import type { AluaTargetPortGroup } from "../engine/core/alua";
import type { StorageObject } from "../engine/core/model";
import { envNumber } from "../engine/core/env";
import { RbdBackstore } from "../engine/backstores/rbd";
import { ALUA_STATE_NAMES, AluaState } from "../engine/scsi/alua";
import { recordEvent } from "../history/events";
import { processSlot } from "../process-slot";
import { KEY_PREFIX } from "./membership";
import { PeerClient, PeerServer, retryable, type PeerTarget } from "./peer-link";

export const OWNERS_PREFIX = `${KEY_PREFIX}owners/`;
export const MOVES_PREFIX = `${KEY_PREFIX}owner-moves/`;
/** Seconds an owner that stops renewing keeps its LUs (scale-out.md: TTL 2 → successor in ~2.2 s). */
export const OWNER_TTL_S = envNumber("PORTICO_OWNER_TTL", { default: 2, min: 1, integer: true });
/** How long a move request waits for its target before anyone may take the LU. */
const MOVE_TTL_S = 15;
const TICK_MS = 500;
/** Blocklist entries outlive any plausible pause of a fenced gateway (its client address is never reused). */
const BLOCKLIST_EXPIRE_S = 24 * 3600;

/** The owner key's value. */
export interface OwnerRecord {
  node: string;
  /** The owner's Ceph client address (what a successor blocklists). */
  addr: string | null;
  /** acquiring: fencing and taking the lock; active: serving; releasing/released: a planned hand-over. */
  phase: "acquiring" | "active" | "releasing" | "released";
  since: string;
  pid: number;
  /** The owner's peer link (`host:port`) the other nodes forward the LU's data commands to; absent: they cannot (Standby). */
  peer?: string | null;
  /** The token the peer link asks for (this owner process's; as trusted as etcd itself). */
  token?: string;
}

export interface MoveRecord {
  to: string;
  by: string;
  at: string;
}

/** One LU's ownership as this node sees it (the Cluster page, `cluster.ownership`). */
export interface OwnershipEntry {
  /** The storage object (rbd) name: the LU's name on every node. */
  lu: string;
  /** The node holding the LU's election, or null while there is none. */
  owner: string | null;
  /** owner: this node serves it (A/O); standby: another node does (this node forwards to it, A/NO); acquiring/releasing: a change under way; fenced: this node may not serve it; unowned. */
  state: "owner" | "standby" | "acquiring" | "releasing" | "fenced" | "unowned";
  /** Since when (ISO time) `owner`/`state` hold. */
  since: string;
  /** This node's own port group's ALUA state, by name. */
  aluaState: string | null;
  /** Why this node may not serve it, when fenced; a configuration problem otherwise. */
  reason: string | null;
  /** The last change of owner this node made or saw, and how long the taking node took (fence + lock). */
  lastChange: { from: string | null; to: string; at: string; tookMs: number | null; planned: boolean } | null;
}

interface LuState {
  lu: string;
  owner: OwnerRecord | null;
  /** This node holds the key (create revision `rev`). */
  mine: boolean;
  rev: string | null;
  busy: boolean;
  fenced: string | null;
  move: MoveRecord | null;
  /** The owner before the key went away (to fence, unless it released the LU). */
  previous: OwnerRecord | null;
  lostAt: number | null;
  since: number;
  retryAt: number;
  reason: string | null;
  lastChange: OwnershipEntry["lastChange"];
  /** After an involuntary loss: asking Ceph whether we were blocklisted; no forwarding until it answers. */
  checking: boolean;
  /** The owner this node forwards to now (`address\0token`), null when it does not. */
  forwardingTo: string | null;
}

const errText = (err: unknown) => (err as Error)?.message ?? String(err);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

function parse<T>(v: string | undefined): T | null {
  if (!v) return null;
  try {
    return JSON.parse(v) as T;
  } catch {
    return null;
  }
}

/** The ALUA groups of `so` that belong to one node: every member port is in a TPG whose `node` is that node. */
export function groupsByNode(so: StorageObject): Map<string, AluaTargetPortGroup[]> {
  const out = new Map<string, AluaTargetPortGroup[]>();
  for (const g of so.aluaGroups.values()) {
    const nodes = new Set(g.members().map((l) => l.tpg.node));
    if (nodes.size !== 1) continue;
    const node = [...nodes][0];
    if (!node) continue;
    out.set(node, [...(out.get(node) ?? []), g]);
  }
  return out;
}

/**
 * The ALUA state of `node`'s port groups given the owner record, as this node reports it
 * (docs/cluster.md, "ALUA states"):
 * - the owner, once active: Active/Optimized; while it takes or hands over: Transitioning;
 * - every other node while an owner is active and publishes its peer link: Active/Non-optimized
 *   (it forwards to the owner); an active owner without a peer link: Standby (nothing to forward to);
 * - no active owner (an election, a hand-over, a failover under way): Transitioning, which
 *   initiators retry on the same path;
 * - this node when it may not forward (`selfMayForward` false: fenced, no lease, or checking
 *   whether it was blocklisted): Standby.
 * This node's own groups are Active/Optimized only while it really serves the LU (it holds the
 * key and the lock, and is not fenced): a stale record naming it must not make it A/O.
 */
export function desiredState(node: string, self: string, owner: OwnerRecord | null, selfServing: boolean, selfChanging: boolean, selfMayForward = true): number {
  if (node === self) {
    if (selfServing) return AluaState.ACTIVE_OPTIMIZED;
    if (selfChanging) return AluaState.TRANSITIONING;
    if (!selfMayForward) return AluaState.STANDBY;
    if (owner?.node === self) return AluaState.TRANSITIONING; // a stale record of ours: a successor is coming
    return nonOwnerState(owner);
  }
  if (owner?.node === node) return owner.phase === "active" ? AluaState.ACTIVE_OPTIMIZED : AluaState.TRANSITIONING;
  return nonOwnerState(owner);
}

/** A node that does not own the LU: forwarding to an active owner (A/NO), or waiting for one (Transitioning). */
function nonOwnerState(owner: OwnerRecord | null): number {
  if (!owner || owner.phase !== "active") return AluaState.TRANSITIONING;
  return owner.peer ? AluaState.ACTIVE_NON_OPTIMIZED : AluaState.STANDBY;
}

/** Data commands while no owner can take them: NOT READY, 04h/0Ah (retried on the same path). */
function refuseAll(why: string): ForwardedIo {
  const no = () => Promise.reject(retryable(why));
  return { read: no, write: no, flush: no, unmap: no, writeSame: no, compareAndWrite: no, status: no };
}

/**
 * Where this node's peer link listens: PORTICO_PEER_ADDRESS (`host[:port]`), else the first
 * specific address among its own TPGs' portals (the network initiators reach it on) on any free
 * port, else every address with the host name announced.
 */
export function peerListenAddress(engine: Engine, node: string, env = process.env.PORTICO_PEER_ADDRESS): { bind: string; announce: string; port: number } {
  if (env) {
    const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(env.trim());
    if (!m) throw new Error(`PORTICO_PEER_ADDRESS "${env}" is not host[:port]`);
    return { bind: m[1]!, announce: m[1]!, port: Number(m[2] ?? 0) };
  }
  for (const t of engine.targets.values()) {
    for (const tpg of t.tpgs.values()) {
      if (tpg.node !== node) continue;
      for (const p of tpg.portals) {
        const host = p.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
        if (host !== "0.0.0.0" && host !== "::") return { bind: host, announce: host, port: 0 };
      }
    }
  }
  return { bind: "0.0.0.0", announce: os.hostname(), port: 0 };
}

export class ClusterOwnership {
  private readonly client: Etcd3;
  private lease: Lease | undefined;
  private leaseId: string | undefined;
  private watchers: Watcher[] = [];
  private readonly lus = new Map<string, LuState>();
  private addresses = new Map<string, string | null>();
  private stopped = false;
  private started = false;
  private tick: NodeJS.Timeout | undefined;
  private connecting = false;
  /** This process's peer link token (published in its owner keys). */
  private readonly token = randomBytes(16).toString("hex");
  private readonly peerServer: PeerServer;
  private readonly peerClient = new PeerClient();
  private peerAddress: string | null = null;

  constructor(
    endpoints: string[],
    readonly node: string,
    private readonly engine: Engine,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.client = new Etcd3({
      hosts: endpoints,
      dialTimeout: 2_000,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3_000 }),
    });
    this.peerServer = new PeerServer(this.token, (lu) => this.servingBackstore(lu), log);
  }

  /** The backstore of `lu` when this node serves it right now (the peer link's check, per request). */
  private servingBackstore(lu: string): Backstore | null {
    const st = this.lus.get(lu);
    if (!st || !st.mine || st.owner?.phase !== "active" || st.fenced) return null;
    const bs = this.backstore(lu);
    return bs && !bs.forwarding && !bs.fenced ? bs : null;
  }

  /** Opens the peer link (before campaigning: the owner key names it). A failure leaves the others Standby, not broken. */
  private async listenPeer(): Promise<void> {
    if (this.peerAddress) return;
    try {
      const a = peerListenAddress(this.engine, this.node);
      const bound = await this.peerServer.listen(a.bind, a.port);
      const port = bound.slice(bound.lastIndexOf(":") + 1);
      this.peerAddress = `${a.announce.includes(":") ? `[${a.announce}]` : a.announce}:${port}`;
      this.log(`portico: cluster: ${this.node}'s peer link listens on ${bound} (announced ${this.peerAddress})`);
    } catch (err) {
      this.log(`portico: cluster: the peer link cannot listen (${errText(err)}): the other nodes will report Standby for LUs this node owns`);
    }
  }

  /** Starts in the background: leases, watches and elections retry until etcd answers. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.reconcile();
    this.tick = setInterval(() => this.onTick(), TICK_MS);
    this.tick.unref();
    void this.listenPeer().then(() => this.connect());
  }

  status(): OwnershipEntry[] {
    this.reconcile();
    return [...this.lus.values()]
      .map((st) => {
        const so = this.storageObject(st.lu);
        const own = so ? groupsByNode(so).get(this.node)?.[0] : undefined;
        return {
          lu: st.lu,
          owner: st.owner?.phase === "released" ? null : (st.owner?.node ?? null),
          state: this.stateOf(st),
          since: new Date(st.since).toISOString(),
          aluaState: own ? (ALUA_STATE_NAMES[own.state] ?? String(own.state)) : null,
          reason: st.fenced ?? st.reason,
          lastChange: st.lastChange,
        };
      })
      .sort((a, b) => a.lu.localeCompare(b.lu));
  }

  /**
   * Moves an LU to `to` on purpose, without IO errors: the owner drains and hands over, `to`
   * takes it. Resolves once `to` serves it (or rejects after MOVE_TTL_S with the reason).
   */
  async moveOwnership(lu: string, to: string, by = "api"): Promise<{ tookMs: number }> {
    const st = this.lus.get(lu);
    if (!st) throw new Error(`no rbd LU named "${lu}" on ${this.node} (known: ${[...this.lus.keys()].join(", ") || "none"})`);
    if (st.owner?.node === to && st.owner.phase === "active") return { tookMs: 0 };
    const t0 = Date.now();
    const lease = this.client.lease(MOVE_TTL_S, { autoKeepAlive: false });
    try {
      await lease.put(MOVES_PREFIX + lu).value(JSON.stringify({ to, by, at: new Date().toISOString() } satisfies MoveRecord));
    } finally {
      lease.release();
    }
    while (Date.now() - t0 < MOVE_TTL_S * 1000) {
      const o = this.lus.get(lu)?.owner;
      if (o?.node === to && o.phase === "active") return { tookMs: Date.now() - t0 };
      await sleep(50);
    }
    throw new Error(`${to} did not take ${lu} within ${MOVE_TTL_S} s (is it a live member with a port group for it?)`);
  }

  /** Stops: LUs this node owns are handed over (released, not fenced), so a survivor takes them at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.tick);
    await Promise.race([Promise.all([...this.lus.values()].filter((st) => st.mine).map((st) => this.handOver(st, null))), sleep(5_000)]);
    for (const w of this.watchers) await w.cancel().catch(() => undefined);
    this.peerClient.close();
    await this.peerServer.close();
    try {
      if (this.leaseId) await this.lease?.revoke();
    } catch {
      // expires on its own
    }
    this.lease?.release();
    this.client.close();
  }

  // ---- etcd: lease and watches -----------------------------------------------------------

  private async connect(): Promise<void> {
    if (this.stopped || this.connecting) return;
    this.connecting = true;
    const lease = this.client.lease(OWNER_TTL_S, { autoKeepAlive: true });
    lease.on("lost", (err) => {
      if (this.lease !== lease || this.stopped) return;
      this.onLeaseLost(errText(err));
    });
    try {
      this.leaseId = await lease.grant();
      this.lease = lease;
      await this.watch();
      this.log(`portico: cluster: ${this.node} takes part in LU ownership (lease TTL ${OWNER_TTL_S} s)`);
      for (const st of this.lus.values()) void this.maybeCampaign(st);
    } catch (err) {
      lease.release();
      this.lease = undefined;
      this.leaseId = undefined;
      for (const st of this.lus.values()) st.reason = `etcd not reachable: ${errText(err)}`;
      setTimeout(() => void this.connect(), 1_000).unref();
    } finally {
      this.connecting = false;
    }
  }

  /** The lease is gone: another node may own our LUs by now. Stop serving them at once, then rejoin. */
  private onLeaseLost(why: string): void {
    this.lease?.release();
    this.lease = undefined;
    this.leaseId = undefined;
    for (const st of this.lus.values()) {
      if (st.mine) this.lostOwnership(st, `lost the ownership lease (${why}): another node may own it now`);
    }
    for (const w of this.watchers) void w.cancel().catch(() => undefined);
    this.watchers = [];
    setTimeout(() => void this.connect(), 200).unref();
  }

  /**
   * This node owned `st` and no longer does, not by its own choice (lease expired, key gone or
   * taken): stop serving at once, then ask Ceph (a network call) whether a successor has fenced
   * us already (paused past the TTL), and say so.
   */
  private lostOwnership(st: LuState, reason: string): void {
    st.mine = false;
    st.rev = null;
    // No forwarding to a successor until Ceph says whether one fenced us: a fenced node refuses.
    st.checking = true;
    this.fenceLocally(st, reason);
    this.log(`portico: cluster: ${this.node} stopped serving ${st.lu}: ${reason}`);
    const bs = this.backstore(st.lu);
    const checked = () => {
      st.checking = false;
      void this.apply(st);
    };
    if (!bs) return checked();
    void bs.exclusiveLockOwners().then(
      (owners) => {
        this.log(`portico: cluster: ${this.node} is not blocklisted for ${st.lu} (lock owners: ${owners.join(", ") || "none"})`);
        checked();
      },
      (err: { code?: string; message?: string }) => {
        if (err.code === "EBLOCKLISTED" || bs.blocklisted) this.noteBlocklisted(st);
        else this.log(`portico: cluster: ${this.node} could not check ${st.lu}'s lock: ${err.message}`);
        checked();
      },
    );
  }

  /** Ceph refused this node's client: another gateway fenced it. It serves the LU no more (until restarted). */
  private noteBlocklisted(st: LuState): void {
    if (st.fenced) return;
    st.fenced = "this node's Ceph client was blocklisted by the owner that took over";
    this.log(`portico: cluster: ${this.node} is blocklisted for ${st.lu}: not serving it`);
    recordEvent({ type: "cluster_fenced", actor: "system", message: `${this.node} was fenced for ${st.lu} (blocklisted by the node that took it over)`, detail: { lu: st.lu, node: this.node } });
    this.fenceLocally(st, st.fenced);
    if (st.mine && !st.busy) void this.releaseKey(st);
  }

  private async watch(): Promise<void> {
    for (const w of this.watchers) await w.cancel().catch(() => undefined);
    this.watchers = [];
    const [owners, moves] = await Promise.all([this.client.getAll().prefix(OWNERS_PREFIX).exec(), this.client.getAll().prefix(MOVES_PREFIX).exec()]);
    const seenOwners = new Set<string>();
    for (const kv of owners.kvs) {
      const lu = kv.key.toString().slice(OWNERS_PREFIX.length);
      seenOwners.add(lu);
      this.onOwnerPut(lu, parse<OwnerRecord>(kv.value.toString()), kv.create_revision, kv.lease);
    }
    for (const st of this.lus.values()) if (!seenOwners.has(st.lu) && st.owner) this.onOwnerDelete(st.lu, st.owner);
    for (const st of this.lus.values()) st.move = null;
    for (const kv of moves.kvs) this.onMovePut(kv.key.toString().slice(MOVES_PREFIX.length), parse<MoveRecord>(kv.value.toString()));
    const from = (BigInt(owners.header.revision) + 1n).toString();
    const ow = await this.client.watch().prefix(OWNERS_PREFIX).withPreviousKV().startRevision(from).create();
    ow.on("put", (kv) => this.onOwnerPut(kv.key.toString().slice(OWNERS_PREFIX.length), parse<OwnerRecord>(kv.value.toString()), kv.create_revision, kv.lease));
    ow.on("delete", (kv, prev) => this.onOwnerDelete(kv.key.toString().slice(OWNERS_PREFIX.length), parse<OwnerRecord>(prev?.value.toString())));
    ow.on("error", () => undefined);
    const mfrom = (BigInt(moves.header.revision) + 1n).toString();
    const mw = await this.client.watch().prefix(MOVES_PREFIX).startRevision(mfrom).create();
    mw.on("put", (kv) => this.onMovePut(kv.key.toString().slice(MOVES_PREFIX.length), parse<MoveRecord>(kv.value.toString())));
    mw.on("delete", (kv) => this.onMoveDelete(kv.key.toString().slice(MOVES_PREFIX.length)));
    mw.on("error", () => undefined);
    this.watchers = [ow, mw];
  }

  // ---- events ----------------------------------------------------------------------------

  private onOwnerPut(lu: string, rec: OwnerRecord | null, createRev: string, lease: string): void {
    const st = this.lus.get(lu);
    if (!st || !rec) return;
    const before = st.owner;
    st.owner = rec;
    if (before?.node !== rec.node || before?.phase !== rec.phase) st.since = Date.now();
    // Another process owns it now: requests still waiting on the previous owner's link fail (retryably) at once.
    if (before?.peer && before.token !== rec.token) this.peerClient.drop(before.peer, `${before.node} no longer owns ${lu}`);
    const ours = rec.node === this.node && lease === this.leaseId;
    // Someone else holds the key now: we are no owner, whatever we thought.
    if (st.mine && (!ours || createRev !== st.rev)) this.lostOwnership(st, `${rec.node} owns it now`);
    if (!st.mine && rec.phase === "active" && before?.node !== rec.node && rec.node !== this.node) {
      st.lastChange = { from: st.previous?.node ?? before?.node ?? null, to: rec.node, at: new Date().toISOString(), tookMs: st.lostAt ? Date.now() - st.lostAt : null, planned: st.previous?.phase === "released" };
    }
    void this.apply(st);
  }

  private onOwnerDelete(lu: string, prev: OwnerRecord | null): void {
    const st = this.lus.get(lu);
    if (!st) return;
    const was = prev ?? st.owner;
    st.owner = null;
    if (was?.peer && was.node !== this.node) this.peerClient.drop(was.peer, `${was.node} no longer owns ${lu}`);
    st.since = Date.now();
    st.lostAt = Date.now();
    // Fenced at takeover unless it released the LU (our own earlier incarnation's address is never blocklisted).
    if (was) st.previous = was;
    if (st.mine) this.lostOwnership(st, "its ownership key expired");
    void this.apply(st);
    void this.maybeCampaign(st);
  }

  private onMovePut(lu: string, rec: MoveRecord | null): void {
    const st = this.lus.get(lu);
    if (!st || !rec) return;
    st.move = rec;
    if (st.mine && rec.to !== this.node) void this.handOver(st, rec.to);
    else void this.maybeCampaign(st);
  }

  private onMoveDelete(lu: string): void {
    const st = this.lus.get(lu);
    if (!st) return;
    st.move = null;
    void this.maybeCampaign(st);
  }

  private onTick(): void {
    if (this.stopped) return;
    this.reconcile();
    for (const st of this.lus.values()) {
      const bs = this.backstore(st.lu);
      // Ceph says another gateway fenced us (we were paused, or cut off from etcd): give the LU up.
      if (bs?.blocklisted) this.noteBlocklisted(st);
      void this.apply(st);
      if (!st.owner && Date.now() >= st.retryAt) void this.maybeCampaign(st);
    }
  }

  // ---- election, takeover, hand-over ------------------------------------------------------

  /** The rbd LUs of this node's configuration: exported through a TPG this node serves, in a port group of this node's. */
  private reconcile(): void {
    const names = new Set<string>();
    for (const so of this.engine.storageObjects.values()) {
      if (so.plugin !== "rbd" || so.exports.size === 0) continue;
      names.add(so.name);
      if (!this.lus.has(so.name)) {
        this.lus.set(so.name, { lu: so.name, owner: null, mine: false, rev: null, busy: false, fenced: null, move: null, previous: null, lostAt: null, since: Date.now(), retryAt: 0, reason: null, lastChange: null, checking: false, forwardingTo: null });
      }
    }
    for (const [lu, st] of this.lus) {
      if (names.has(lu)) continue;
      if (st.mine) void this.releaseKey(st);
      this.lus.delete(lu);
    }
  }

  private storageObject(lu: string): StorageObject | undefined {
    return this.engine.storageObjects.get(`rbd/${lu}`);
  }

  private backstore(lu: string): RbdBackstore | undefined {
    const bs = this.storageObject(lu)?.backstore;
    return bs instanceof RbdBackstore ? bs : undefined;
  }

  /** Why this node cannot own `st` (no port group of its own, the image offline...), or null. */
  private ineligible(st: LuState): string | null {
    const so = this.storageObject(st.lu);
    if (!so) return "not configured here";
    const bs = this.backstore(st.lu);
    if (!bs) return "the rbd backstore is not open";
    if (!groupsByNode(so).has(this.node)) return `no ALUA group of ${st.lu} holds only ports of TPGs served by ${this.node} (give each node's TPG LUN its own group)`;
    if (bs.offline && bs.offline !== bs.fenced) return bs.offline;
    return null;
  }

  private async maybeCampaign(st: LuState): Promise<void> {
    if (this.stopped || !this.leaseId || st.busy || st.mine || st.owner || st.fenced) return;
    const why = this.ineligible(st);
    st.reason = why;
    if (why) return;
    // A planned move names its target: the others leave it the LU while the request lives.
    if (st.move && st.move.to !== this.node) return;
    st.busy = true;
    const rec: OwnerRecord = { node: this.node, addr: await this.address(st.lu), phase: "acquiring", since: new Date().toISOString(), pid: process.pid, peer: this.peerAddress, token: this.token };
    const key = OWNERS_PREFIX + st.lu;
    try {
      const leaseId = this.leaseId;
      if (!leaseId) return;
      const r = await this.client.if(key, "Create", "==", 0).then(this.client.put(key).value(JSON.stringify(rec)).lease(leaseId)).commit();
      if (!r.succeeded) return; // someone else was faster: its put arrives through the watch
      st.mine = true;
      st.rev = r.header.revision;
      st.owner = rec;
      st.since = Date.now();
      await this.takeover(st, leaseId);
    } catch (err) {
      st.reason = `election: ${errText(err)}`;
      st.retryAt = Date.now() + 1_000;
    } finally {
      st.busy = false;
    }
  }

  /** Fence the previous owner, take the lock, then serve (A/O). */
  private async takeover(st: LuState, leaseId: string): Promise<void> {
    const t0 = Date.now();
    const bs = this.backstore(st.lu)!;
    const prev = st.previous;
    const self = st.owner!.addr;
    void this.apply(st);
    const fenced: string[] = [];
    const steps: Record<string, number> = {};
    const step = (name: string, since: number) => (steps[name] = (steps[name] ?? 0) + Date.now() - since);
    try {
      for (let attempt = 0; ; attempt++) {
        // A lock still held by anyone but us is a dead (or cut-off, or paused) owner's: break it.
        // rbd_lock_break blocklists the holder's address first (rbd_blocklist_on_break_lock).
        let t = Date.now();
        const owners = await bs.exclusiveLockOwners();
        step("owners", t);
        for (const o of owners) {
          if (self && o.includes(self.replace(/^v1:/, ""))) continue;
          t = Date.now();
          await bs.breakExclusiveLock(o);
          step("break", t);
          fenced.push(o);
        }
        // The previous owner may hold no lock (it died while taking it): blocklist its address anyway.
        if (attempt === 0 && prev && prev.phase !== "released" && prev.addr && prev.addr !== self && !fenced.some((o) => o.includes(prev.addr!.replace(/^v1:/, "")))) {
          t = Date.now();
          await bs.blocklistClient(prev.addr, BLOCKLIST_EXPIRE_S);
          step("blocklist", t);
          fenced.push(prev.addr);
        }
        try {
          t = Date.now();
          await bs.acquireExclusiveLock();
          step("acquire", t);
          break;
        } catch (err) {
          step("acquire", t);
          const code = (err as { code?: string }).code;
          if (code === "EBLOCKLISTED" || attempt >= 10 || !st.mine) throw err;
          await sleep(200);
        }
      }
      if (!st.mine) {
        await bs.releaseExclusiveLock().catch(() => undefined);
        return;
      }
      bs.fence(undefined);
      this.engine.fenceStorageObject("rbd", st.lu, undefined);
      const active: OwnerRecord = { ...st.owner!, phase: "active", since: new Date().toISOString() };
      const key = OWNERS_PREFIX + st.lu;
      const r = await this.client.if(key, "Create", "==", st.rev!).then(this.client.put(key).value(JSON.stringify(active)).lease(leaseId)).commit();
      if (!r.succeeded) throw new Error("the ownership key changed during the takeover");
      st.owner = active;
      st.since = Date.now();
      st.reason = null;
      const tookMs = Date.now() - t0;
      const planned = prev?.phase === "released";
      st.lastChange = { from: prev?.node ?? null, to: this.node, at: new Date().toISOString(), tookMs, planned };
      st.previous = null;
      await this.apply(st);
      const msg = `${this.node} owns ${st.lu}${prev ? ` (${planned ? "handed over" : "taken over"} from ${prev.node})` : ""}${fenced.length ? `, fenced ${fenced.join(", ")}` : ""}: lock taken in ${tookMs} ms (${Object.entries(steps).map(([k, v]) => `${k} ${v} ms`).join(", ")})`;
      this.log(`portico: cluster: ${msg}`);
      recordEvent({ type: "cluster_ownership", actor: "system", message: msg, detail: { lu: st.lu, from: prev?.node ?? null, to: this.node, fenced, tookMs, steps, planned } });
      if (st.move?.to === this.node) await this.client.delete().key(MOVES_PREFIX + st.lu).exec().catch(() => undefined);
    } catch (err) {
      const e = err as { code?: string };
      if (e.code === "EBLOCKLISTED") st.fenced = "this node's Ceph client is blocklisted (another gateway fenced it)";
      st.reason = `takeover failed: ${errText(err)}`;
      this.log(`portico: cluster: ${this.node} could not take ${st.lu}: ${errText(err)}`);
      st.retryAt = Date.now() + 2_000;
      await this.releaseKey(st);
      await this.apply(st);
    }
  }

  /**
   * A planned hand-over (moveOwnership, or this node stopping): Transitioning (initiators retry),
   * drain and flush, release the lock, mark the key `released` and delete it. `to` null: anyone.
   */
  private async handOver(st: LuState, to: string | null): Promise<void> {
    if (!st.mine || st.busy) return;
    st.busy = true;
    const key = OWNERS_PREFIX + st.lu;
    const bs = this.backstore(st.lu);
    const t0 = Date.now();
    try {
      st.owner = { ...st.owner!, phase: "releasing" };
      await this.putMine(st);
      await this.apply(st);
      if (bs) {
        await bs.drain();
        await sleep(20);
        await bs.drain();
        await bs.flush().catch(() => undefined);
        await bs.releaseExclusiveLock().catch((err) => this.log(`portico: cluster: releasing ${st.lu}'s lock: ${errText(err)}`));
      }
      st.owner = { ...st.owner!, phase: "released" };
      await this.putMine(st);
      st.mine = false;
      await this.client.if(key, "Create", "==", st.rev!).then(this.client.delete().key(key)).commit();
      st.rev = null;
      await this.apply(st);
      this.log(`portico: cluster: ${this.node} handed ${st.lu} over${to ? ` to ${to}` : ""} (drained and released in ${Date.now() - t0} ms)`);
    } catch (err) {
      this.log(`portico: cluster: hand-over of ${st.lu} failed: ${errText(err)}`);
    } finally {
      st.busy = false;
    }
  }

  private async putMine(st: LuState): Promise<void> {
    const key = OWNERS_PREFIX + st.lu;
    if (!this.leaseId || !st.rev) throw new Error("no ownership lease");
    const r = await this.client.if(key, "Create", "==", st.rev).then(this.client.put(key).value(JSON.stringify(st.owner)).lease(this.leaseId)).commit();
    if (!r.succeeded) throw new Error("the ownership key is not ours any more");
  }

  /** Gives the key up (after a failed takeover, or when fenced). */
  private async releaseKey(st: LuState): Promise<void> {
    const rev = st.rev;
    st.mine = false;
    st.rev = null;
    if (!rev) return;
    const key = OWNERS_PREFIX + st.lu;
    await this.client.if(key, "Create", "==", rev).then(this.client.delete().key(key)).commit().catch(() => undefined);
  }

  /** Stops serving `st` on this node now: the backstore refuses IO, this node's groups go Standby. */
  private fenceLocally(st: LuState, reason: string): void {
    try {
      if (this.storageObject(st.lu)) this.engine.fenceStorageObject("rbd", st.lu, reason);
    } catch {
      // gone meanwhile
    }
    void this.apply(st);
  }

  /**
   * Sets every node's port group of the LU to the state the owner record implies (runtime, not
   * stored), and where this node's data commands go: its own Ceph client (owner), the owner's
   * peer link (Active/Non-optimized), nowhere (NOT READY, 04h/0Ah), or the fenced backstore.
   * The data path changes before the state, so a command the new state admits finds it ready.
   */
  private async apply(st: LuState): Promise<void> {
    const so = this.storageObject(st.lu);
    if (!so) return;
    const serving = st.mine && st.owner?.phase === "active" && !st.fenced;
    const changing = st.mine && (st.owner?.phase === "acquiring" || st.owner?.phase === "releasing");
    const mayForward = !!this.leaseId && !st.fenced && !st.checking;
    const selfState = desiredState(this.node, this.node, st.owner, serving, changing, mayForward);
    this.route(st, serving, selfState);
    for (const [node, groups] of groupsByNode(so)) {
      const state = desiredState(node, this.node, st.owner, serving, changing, mayForward);
      for (const g of groups) {
        if (g.state === state && g.pendingState === undefined) continue;
        if (g.pendingState === state) continue;
        try {
          await this.engine.setAluaGroupRuntimeState("rbd", st.lu, g.name, state);
        } catch (err) {
          st.reason = `ALUA group ${g.name}: ${errText(err)}`;
        }
      }
    }
  }

  /** Where this node's data commands of `st` go, given what it reports (apply). */
  private route(st: LuState, serving: boolean, selfState: number): void {
    let to: string | null;
    let io: ForwardedIo | undefined;
    const o = st.owner;
    if (serving) to = "local";
    else if (st.fenced) to = "fenced"; // the backstore's own fence answers (NOT READY, 04h/03h)
    else if (selfState === AluaState.ACTIVE_NON_OPTIMIZED && o?.peer && o.token) {
      const target: PeerTarget = { address: o.peer, token: o.token };
      to = `${target.address}\0${target.token}`;
      if (st.forwardingTo !== to) io = this.peerClient.forwarder(st.lu, target);
    } else {
      to = "none";
      if (st.forwardingTo !== to) io = refuseAll(o ? `${o.node} is ${o.phase === "active" ? "not reachable" : o.phase}` : `no node owns ${st.lu} right now`);
    }
    if (st.forwardingTo === to) return;
    st.forwardingTo = to;
    try {
      this.engine.forwardStorageObject("rbd", st.lu, io);
    } catch {
      // gone meanwhile
    }
  }

  private stateOf(st: LuState): OwnershipEntry["state"] {
    if (st.fenced) return "fenced";
    if (st.mine) return st.owner?.phase === "active" ? "owner" : st.owner?.phase === "acquiring" ? "acquiring" : "releasing";
    if (!st.owner || st.owner.phase === "released") return "unowned";
    return "standby";
  }

  private async address(lu: string): Promise<string | null> {
    if (!this.addresses.has(lu)) this.addresses.set(lu, (await this.backstore(lu)?.clientAddress().catch(() => null)) ?? null);
    return this.addresses.get(lu) ?? null;
  }
}

// ---- the running node's ownership, for the API and the console ------------------------------

const ownership = processSlot<ClusterOwnership>("portico.ownership");

export function setOwnership(o: ClusterOwnership | undefined): void {
  ownership.set(o);
}

export function getOwnership(): ClusterOwnership | undefined {
  return ownership.get();
}

/** Per rbd LU: its owner and this node's part (empty on a single appliance). */
export function ownershipStatus(): OwnershipEntry[] {
  return getOwnership()?.status() ?? [];
}

/** Moves an LU's ownership to node `to` (a planned hand-over, no IO errors). */
export async function moveOwnership(lu: string, to: string, by?: string): Promise<{ tookMs: number }> {
  const o = getOwnership();
  if (!o) throw new Error("this appliance is not a cluster member (PORTICO_CLUSTER is not set)");
  return o.moveOwnership(lu, to, by);
}

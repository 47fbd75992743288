/**
 * Cluster ownership and fencing (issue 14 point 3), against a real single-node Ceph and a real
 * etcd. First the rbd backstore's lock and fencing calls, in this process with two separate
 * Ceph clients (two connections: two gateways as Ceph sees them): the exclusive lock taken in
 * managed mode is not handed over, a broken lock blocklists its holder whose next write fails
 * and never lands, rados_blocklist_add fences a client by its address.
 *
 * Then two real Portico processes (gw-a, gw-b) restored from one saveconfig.json export one RBD
 * LUN as one target, each through its own TPG and ALUA group: one owner Active/Optimized, the
 * other Active/Non-optimized, forwarding its data commands to the owner over the peer link
 * (REPORT TARGET PORT GROUPS through both; a write through the other node lands, the lock stays); kill -9 of the owner during writes
 * (every acknowledged write is in `rbd export`, the IO gap printed); SIGSTOP of the owner (the
 * survivor takes over, the woken node's writes fail and never land); ownership moved on purpose
 * with IO running and no IO error. The writer is a small multipath initiator of our own: it
 * retries UNIT ATTENTION and NOT READY/transitioning on the same path and moves to the other
 * path on Standby or a lost connection, as dm-multipath with scsi_dh_alua does.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RbdBackstore } from "../../server/engine/backstores/rbd";
import { AluaState, decodeRtpg } from "../../server/engine/scsi/alua";
import { startCeph, type Ceph } from "../support/ceph";
import { write10 } from "../support/cdb";
import { startEtcd, type Etcd } from "../support/etcd";
import { restoreTwoGateways, startGateway, type Gateway } from "../support/gateways";
import { IscsiClient } from "../support/iscsi-client";
import { removeDir } from "../support/portico";
import { stopProcess } from "../support/sigstop";
import { until } from "../support/until";

const MiB = 1024 * 1024;
let ceph: Ceph;
let etcd: Etcd | undefined;

beforeAll(async () => {
  ceph = await startCeph();
}, 180_000);

afterAll(async () => {
  for (const n of Object.values(nodes)) {
    n.server?.child.kill("SIGCONT");
    await n.server?.stop().catch(() => n.server?.kill());
    removeDir(n.dataDir);
  }
  await etcd?.stop();
  await ceph?.stop();
}, 60_000);

/** A distinct osd_op_timeout gives a distinct Ceph client (connections are shared per conf, id and timeout). */
const configOf = (image: string, client: number) => `rbd/rbd/${image};conf=${ceph.conf};osd_op_timeout=${20 + client}`;

const pattern = (byte: number, n = 4096) => Buffer.alloc(n, byte);

describe("rbd exclusive lock and fencing calls", () => {
  it("a managed lock is not handed over; breaking it blocklists the holder, whose later writes fail and never land", async () => {
    ceph.rbd("create", "--size", "16M", "rbd/lock1");
    const a = await RbdBackstore.open("lock1-a", configOf("lock1", 1), 512);
    const b = await RbdBackstore.open("lock1-b", configOf("lock1", 2), 512);
    try {
      expect(await a.exclusiveLockOwners()).toEqual([]);
      await a.acquireExclusiveLock();
      expect(await a.holdsExclusiveLock()).toBe(true);
      const owners = await b.exclusiveLockOwners();
      expect(owners).toHaveLength(1);
      const addrA = await a.clientAddress();
      expect(addrA).toMatch(/\d+\.\d+\.\d+\.\d+:\d+\/\d+/);
      expect(owners[0]).toContain(addrA.replace(/^v1:/, ""));
      await a.write(0, pattern(0xa1), true);

      // b asks for the lock: a holds it in managed mode and refuses; b's write is refused too.
      await expect(b.acquireExclusiveLock()).rejects.toMatchObject({ code: expect.stringMatching(/EROFS|EBUSY/) });
      await expect(b.write(4096, pattern(0xb1), true)).rejects.toThrow();
      expect((await a.read(4096, 4096)).equals(pattern(0))).toBe(true);

      // b breaks a's lock (as a survivor does with a dead owner's), then takes it.
      const t0 = Date.now();
      await b.breakExclusiveLock(owners[0]!);
      await b.acquireExclusiveLock();
      const takeover = Date.now() - t0;
      expect(await b.holdsExclusiveLock()).toBe(true);
      await b.write(8192, pattern(0xb2), true);

      // a (the "zombie") writes: blocklisted, it fails and the data never lands.
      await expect(a.write(0, pattern(0xee), true)).rejects.toThrow();
      expect(a.blocklisted).toBe(true);
      const image = ceph.rbdBytes("export", "rbd/lock1", "-");
      expect(image.subarray(0, 4096).equals(pattern(0xa1))).toBe(true);
      expect(image.subarray(8192, 12288).equals(pattern(0xb2))).toBe(true);
      expect(ceph.ceph("osd", "blocklist", "ls")).toContain(addrA.replace(/^v1:/, "").split("/")[0]);
      console.log(`rbd lock break + acquire by the survivor: ${takeover} ms`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("release hands the lock over without a break; blocklistClient fences a client by its address", async () => {
    ceph.rbd("create", "--size", "16M", "rbd/lock2");
    const a = await RbdBackstore.open("lock2-a", configOf("lock2", 3), 512);
    const b = await RbdBackstore.open("lock2-b", configOf("lock2", 4), 512);
    try {
      await a.acquireExclusiveLock();
      await a.write(0, pattern(0x11), true);
      await a.releaseExclusiveLock();
      expect(await a.holdsExclusiveLock()).toBe(false);
      expect(await b.exclusiveLockOwners()).toEqual([]);
      // After its own release a (managed mode) does not take the lock back by writing.
      await expect(a.write(4096, pattern(0x12), true)).rejects.toThrow();
      const t0 = Date.now();
      await b.acquireExclusiveLock();
      console.log(`rbd planned hand-over (release, acquire): ${Date.now() - t0} ms`);
      await b.write(4096, pattern(0x21), true);
      // Fencing by address alone (a dead owner that held no lock yet).
      const addrA = await a.clientAddress();
      await b.blocklistClient(addrA, 600);
      await expect(a.read(0, 4096)).rejects.toThrow();
      expect(a.blocklisted).toBe(true);
      const image = ceph.rbdBytes("export", "rbd/lock2", "-");
      expect(image.subarray(0, 4096).equals(pattern(0x11))).toBe(true);
      expect(image.subarray(4096, 8192).equals(pattern(0x21))).toBe(true);
      // fence() gates the backstore on this gateway, unfence lifts only its own reason.
      b.fence("moved to gw-x");
      await expect(b.write(0, pattern(0x31), true)).rejects.toThrow();
      b.fence(undefined);
      await b.write(0, pattern(0x31), true);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

// ---- two gateways ------------------------------------------------------------------------------

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.failover0001";
const LU = "shared";
const IMAGE_MIB = 64;
const BLOCKS = (IMAGE_MIB * MiB) / 4096;
type Node = Gateway;
const nodes: Record<string, Node> = {};

const ownershipOf = async (n: Node) => (await n.api!.cluster.ownership.query()).find((e) => e.lu === LU);
const other = (n: Node) => (n.name === "gw-a" ? nodes["gw-b"]! : nodes["gw-a"]!);

/** The current owner once one node says `owner` and the other `standby` naming it. */
async function settledOwner(timeoutMs = 20_000): Promise<Node> {
  let owner: Node | undefined;
  await until(
    "one owner, one standby",
    async () => Promise.all([ownershipOf(nodes["gw-a"]!), ownershipOf(nodes["gw-b"]!)]),
    ([a, b]) => {
      if (a?.state === "owner" && b?.state === "standby" && b.owner === "gw-a") owner = nodes["gw-a"];
      else if (b?.state === "owner" && a?.state === "standby" && a.owner === "gw-b") owner = nodes["gw-b"];
      else return false;
      return true;
    },
    timeoutMs,
    100,
  );
  return owner!;
}

async function login(port: number, name = "iqn.2024-01.org.portico.test:failover"): Promise<IscsiClient> {
  const c = await IscsiClient.connect(port);
  const r = await c.login({ initiatorName: name, targetName: IQN });
  if (r.statusClass !== 0) throw new Error(`login to ${port} refused: ${r.statusClass}/${r.statusDetail}`);
  return c;
}

const rtpgCdb = () => Buffer.from([0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]);
const writeFua = (lba: number, blocks: number) => write10(lba, blocks, { fua: true });

/** REPORT TARGET PORT GROUPS through `port`: group id → state (unit attentions retried). */
async function rtpg(port: number): Promise<Record<number, number>> {
  const c = await login(port, "iqn.2024-01.org.portico.test:rtpg");
  try {
    for (let i = 0; i < 5; i++) {
      const r = await c.command(rtpgCdb(), { readLength: 4096 });
      if (r.status === 0) return Object.fromEntries(decodeRtpg(r.data).groups.map((g) => [g.id, g.state]));
    }
    throw new Error("RTPG kept failing");
  } finally {
    c.close();
  }
}

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T | "timeout"> => Promise.race([p, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms))]);

/** Sequential 4 KiB FUA writes through two paths, as a multipath initiator would. */
class MultipathWriter {
  acked: number[] = [];
  hardErrors: string[] = [];
  maxGapMs = 0;
  pathSwitches = 0;
  retries = 0;
  private stopped = false;
  private lastAck = Date.now();
  private clients = new Map<number, IscsiClient>();
  private current: number;
  done: Promise<void>;
  constructor(
    private readonly ports: number[],
    private readonly tag: number,
    start: number,
    private readonly first = 0,
  ) {
    this.current = start;
    this.done = this.run();
  }
  static block(tag: number, i: number): Buffer {
    const b = Buffer.alloc(4096, (tag * 7 + i) & 0xff);
    b.writeUInt32BE(tag, 0);
    b.writeUInt32BE(i, 4);
    return b;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
    for (const c of this.clients.values()) c.close();
  }
  private async client(port: number): Promise<IscsiClient | undefined> {
    const have = this.clients.get(port);
    if (have && !have.isClosed) return have;
    const c = await withTimeout(login(port, "iqn.2024-01.org.portico.test:mpath").catch(() => undefined), 3_000);
    if (!c || c === "timeout") return undefined;
    this.clients.set(port, c);
    return c;
  }
  private switchPath(): void {
    this.current = this.ports.find((p) => p !== this.current)!;
    this.pathSwitches++;
  }
  private async run(): Promise<void> {
    for (let i = this.first; !this.stopped && i < BLOCKS; i++) {
      const data = MultipathWriter.block(this.tag, i);
      const t0 = Date.now();
      for (;;) {
        if (Date.now() - t0 > 30_000) {
          this.hardErrors.push(`write ${i}: no path for 30 s`);
          return;
        }
        const c = await this.client(this.current);
        if (!c) {
          this.switchPath();
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        const r = await withTimeout(c.command(writeFua(i * 8, 8), { write: data }).catch(() => undefined), 4_000);
        if (r && r !== "timeout" && r.status === 0) break;
        this.retries++;
        if (!r || r === "timeout") {
          c.close();
          this.clients.delete(this.current);
          this.switchPath();
          continue;
        }
        const key = r.sense ? r.sense[2] & 0x0f : -1;
        const asc = r.sense ? [r.sense[12], r.sense[13]] : [];
        if (key === 6) continue; // UNIT ATTENTION (2Ah/06h...): retry on the same path
        if (key === 2 && asc[0] === 0x04 && asc[1] === 0x0a) {
          await new Promise((res) => setTimeout(res, 50)); // transitioning: retry the same path
          continue;
        }
        if (key === 2 && asc[0] === 0x04 && (asc[1] === 0x0b || asc[1] === 0x0c)) {
          this.switchPath(); // standby / unavailable: the other path
          await new Promise((res) => setTimeout(res, 50));
          continue;
        }
        this.hardErrors.push(`write ${i} through ${this.current}: status ${r.status} sense ${key}/${asc.map((x) => x.toString(16)).join("/")}`);
        this.switchPath();
        await new Promise((res) => setTimeout(res, 100));
      }
      const now = Date.now();
      this.maxGapMs = Math.max(this.maxGapMs, now - this.lastAck);
      this.lastAck = now;
      this.acked.push(i);
    }
  }
}

function verifyAcked(w: MultipathWriter, tag: number): { checked: number; missing: number[] } {
  const image = ceph.rbdBytes("export", `rbd/${LU}`, "-");
  const missing = w.acked.filter((i) => !image.subarray(i * 4096, (i + 1) * 4096).equals(MultipathWriter.block(tag, i)));
  return { checked: w.acked.length, missing };
}

describe("two gateways, one RBD LUN: ownership and fencing", () => {
  beforeAll(async () => {
    etcd = await startEtcd();
    ceph.rbd("create", "--size", `${IMAGE_MIB}M`, `rbd/${LU}`);
    Object.assign(nodes, await restoreTwoGateways({ iqn: IQN, lu: LU, sizeBytes: IMAGE_MIB * MiB, wwn: "5b1c0a30-0000-4000-8000-00000000fa11", cephConf: ceph.conf }));
    await Promise.all(Object.values(nodes).map((n) => startGateway(n, etcd!.clusterUrl)));
  }, 180_000);

  it("elects one owner: its group Active/Optimized, the other Active/Non-optimized (forwarding), reported alike through both ports; the owner holds the lock", async () => {
    const owner = await settledOwner();
    const standby = other(owner);
    for (const n of [owner, standby]) {
      const states = await until(`RTPG through ${n.name}`, () => rtpg(n.port), (s) => s[owner.tag] === AluaState.ACTIVE_OPTIMIZED && s[standby.tag] === AluaState.ACTIVE_NON_OPTIMIZED, 20_000, 100);
      expect(states[owner.tag]).toBe(AluaState.ACTIVE_OPTIMIZED);
    }
    // The image's exclusive lock is held by exactly one client: the owner's.
    expect(ceph.rbd("lock", "ls", `rbd/${LU}`)).toMatch(/1 exclusive lock/i);
    expect((await ownershipOf(owner))!.aluaState).toBe("Active/Optimized");
    expect((await ownershipOf(standby))!.aluaState).toBe("Active/NonOptimized");
    // A write through the other node's port is forwarded to the owner: GOOD, and it is in the image,
    // while the lock never moved (still exactly one exclusive lock, the owner's).
    const lockBefore = ceph.rbd("lock", "ls", `rbd/${LU}`);
    const c = await login(standby.port);
    let r = await c.command(writeFua(0, 8), { write: Buffer.alloc(4096, 0x3c) });
    for (let i = 0; i < 5 && r.status !== 0; i++) r = await c.command(writeFua(0, 8), { write: Buffer.alloc(4096, 0x3c) }); // past unit attentions
    expect(r.status).toBe(0);
    const read = await c.command(Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]), { readLength: 4096 });
    expect(read.status).toBe(0);
    expect(read.data.equals(Buffer.alloc(4096, 0x3c))).toBe(true);
    c.close();
    expect(ceph.rbdBytes("export", `rbd/${LU}`, "-").subarray(0, 4096).equals(Buffer.alloc(4096, 0x3c))).toBe(true);
    expect(ceph.rbd("lock", "ls", `rbd/${LU}`)).toBe(lockBefore);
  });

  it("kill -9 of the owner during writes: the survivor takes over within seconds and every acknowledged write is in the image", async () => {
    const owner = await settledOwner();
    const survivor = other(owner);
    const w = new MultipathWriter([owner.port, survivor.port], 11, owner.port);
    await until("writes flowing", async () => w.acked.length, (n) => n >= 50, 30_000, 100);
    const killedAt = Date.now();
    owner.server!.kill();
    const st = await until("survivor owns", () => ownershipOf(survivor), (e) => e?.state === "owner", 30_000, 100);
    const targetSide = Date.now() - killedAt;
    const ackedAtTakeover = w.acked.length;
    await until("writes through the survivor", async () => w.acked.length, (n) => n >= ackedAtTakeover + 50, 30_000, 100);
    await w.stop();
    const v = verifyAcked(w, 11);
    console.log(
      `failover (kill -9): survivor Active/Optimized ${targetSide} ms after the kill (fence + lock ${st!.lastChange?.tookMs} ms); ` +
        `writer's IO gap ${w.maxGapMs} ms, ${v.checked} acknowledged writes checked in rbd export, ${v.missing.length} missing, ${w.pathSwitches} path switches`,
    );
    console.log(survivor.server!.output().split("\n").filter((l) => /cluster: .*(owns|handed|lost|blocklisted)/.test(l)).join("\n"));
    expect(w.hardErrors).toEqual([]);
    expect(v.missing).toEqual([]);
    expect(st!.lastChange).toMatchObject({ from: owner.name, to: survivor.name, planned: false });
    expect(targetSide).toBeLessThan(15_000);
    expect((await rtpg(survivor.port))[survivor.tag]).toBe(AluaState.ACTIVE_OPTIMIZED);
    // The dead node comes back as a standby (a new Ceph client: the old one is blocklisted).
    await startGateway(owner, etcd!.clusterUrl);
    await settledOwner();
    expect((await ownershipOf(owner))!.state).toBe("standby");
  });

  it("SIGSTOP of the owner: the survivor fences it; woken up, its writes fail and never land", async () => {
    const owner = await settledOwner();
    const survivor = other(owner);
    const zombie = await login(owner.port, "iqn.2024-01.org.portico.test:zombie");
    const LBA = 4096; // block 512 of 4 KiB
    let first = -1;
    for (let i = 0; i < 5 && first !== 0; i++) first = (await zombie.command(writeFua(LBA, 8), { write: Buffer.alloc(4096, 0x5a) })).status; // past unit attentions
    expect(first).toBe(0);
    // Only once all its threads are stopped: a write sent before that could still be taken (sigstop.ts).
    stopProcess(owner.server!.child);
    const stoppedAt = Date.now();
    try {
      // Sent while it sleeps: it reaches the process only when it wakes.
      const late = zombie.command(writeFua(LBA, 8), { write: Buffer.alloc(4096, 0xdd) }).catch((e: Error) => e);
      await until("survivor owns", () => ownershipOf(survivor), (e) => e?.state === "owner", 30_000, 100);
      const took = Date.now() - stoppedAt;
      const c = await login(survivor.port);
      let ok = false;
      for (let i = 0; i < 20 && !ok; i++) ok = (await c.command(writeFua(LBA + 8, 8), { write: Buffer.alloc(4096, 0x77) })).status === 0;
      expect(ok).toBe(true);
      c.close();
      owner.server!.child.kill("SIGCONT");
      const r = await withTimeout(late, 30_000);
      const senseOf = (x: typeof r) => (x === "timeout" || x instanceof Error ? String(x) : x.sense ? `${x.sense[2] & 15}/${x.sense[12].toString(16)}/${x.sense[13].toString(16)}` : `status ${x.status}`);
      console.log(`the woken node answered its pending write with ${senseOf(r)}`);
      expect(r === "timeout" || r instanceof Error ? 2 : r.status).not.toBe(0);
      // Any further write through the woken node is refused too.
      const again = await withTimeout(zombie.command(writeFua(LBA, 8), { write: Buffer.alloc(4096, 0xde) }).catch((e: Error) => e), 15_000);
      expect(again === "timeout" || again instanceof Error ? 2 : again.status).not.toBe(0);
      const image = ceph.rbdBytes("export", `rbd/${LU}`, "-");
      expect(image.subarray(LBA * 512, LBA * 512 + 4096).equals(Buffer.alloc(4096, 0x5a))).toBe(true);
      expect(image.subarray((LBA + 8) * 512, (LBA + 8) * 512 + 4096).equals(Buffer.alloc(4096, 0x77))).toBe(true);
      const z = await until("the woken node says it is fenced", () => ownershipOf(owner), (e) => e?.state === "fenced" && e.aluaState === "Standby", 30_000, 100);
      expect(z!.reason).toMatch(/blocklisted/);
      expect(ceph.ceph("osd", "blocklist", "ls")).toMatch(/127\.0\.0\.1/);
      for (const n of [owner, survivor]) console.log(n.server!.output().split("\n").filter((l) => /cluster: .*(owns|handed|lost|blocklisted)/.test(l)).join("\n"));
      console.log(`failover (SIGSTOP): survivor owns ${took} ms after the pause; the woken node's writes were refused: ${z!.reason}`);
    } finally {
      owner.server!.child.kill("SIGCONT");
      zombie.close();
    }
    // Restarted (its Ceph client is dead: killed, not stopped), it is a standby again.
    owner.server!.kill();
    await startGateway(owner, etcd!.clusterUrl);
    await settledOwner(60_000);
  }, 300_000);

  it("moves ownership on purpose with IO running: no IO error, every acknowledged write lands", async () => {
    const owner = await settledOwner();
    const target = other(owner);
    const w = new MultipathWriter([owner.port, target.port], 23, owner.port, 2000);
    await until("writes flowing", async () => w.acked.length, (n) => n >= 50, 30_000, 100);
    // The console's move checks that the target is a live member (a restarted node re-joins within seconds).
    for (const n of [owner, target]) await until("both members seen", () => n.api!.cluster.status.query(), (s) => (s?.members ?? []).length === 2, 30_000, 100);
    let t0 = Date.now();
    await owner.api!.cluster.moveOwnership.mutate({ lu: LU, to: target.name });
    const moved = { tookMs: Date.now() - t0 };
    const now = await settledOwner();
    expect(now.name).toBe(target.name);
    const ackedAtMove = w.acked.length;
    await until("writes through the new owner", async () => w.acked.length, (n) => n >= ackedAtMove + 50, 30_000, 100);
    // And back, asked through the other node's API.
    t0 = Date.now();
    await target.api!.cluster.moveOwnership.mutate({ lu: LU, to: owner.name });
    const back = { tookMs: Date.now() - t0 };
    expect((await settledOwner()).name).toBe(owner.name);
    const ackedAtBack = w.acked.length;
    await until("writes after moving back", async () => w.acked.length, (n) => n >= ackedAtBack + 50, 30_000, 100);
    await w.stop();
    const v = verifyAcked(w, 23);
    console.log(`planned move: ${moved.tookMs} ms and ${back.tookMs} ms; writer's IO gap ${w.maxGapMs} ms, ${w.retries} retries, ${v.checked} writes checked, ${v.missing.length} missing`);
    expect(w.hardErrors).toEqual([]);
    expect(v.missing).toEqual([]);
    expect((await ownershipOf(target))!.lastChange).toMatchObject({ planned: true });
    // A planned move fences nobody: no blocklist entry for either node's current client.
  });
});

/**
 * Failover as an application sees it (issue 14 point 6): the IO gap across a kill -9 of the owning
 * gateway, with the Linux kernel initiator and dm-multipath, and every acknowledged write checked.
 *
 *   npx tsx bench/failover.ts [--trials 20] [--tmo 5] [--noop 2] [--image-mib 128] [--no-pr]
 *   npm run bench:failover -- --trials 20
 *
 * On this machine: a single-node Ceph and an etcd (test/support), two Portico processes (gw-a, gw-b)
 * on free 127.0.0.1 ports restored from one saveconfig.json: one target, one TPG and one ALUA group
 * per node, one RBD LUN. A QEMU guest (../shared/tools/linux-vm, TCG) runs bench/failover-guest.sh:
 * iscsid + iscsiadm logged in to both portals, multipathd assembling the two paths with the settings
 * docs/cluster.md recommends (--tmo sets replacement_timeout and fast_io_fail_tmo, --noop the NOP-Out
 * interval and timeout), and a writer of sequence-numbered 4 KiB blocks (O_DIRECT, then fsync, so a
 * write is acknowledged only once SYNCHRONIZE CACHE returned), which prints each completion with the
 * guest's clock on the console.
 *
 * Each trial: both paths up in multipathd and writes flowing, then kill -9 of the current owner;
 * the target side's takeover is the time until the survivor's cluster.ownership says `owner`; the
 * IO gap is the longest time between two successive acknowledged writes around the kill (guest
 * clock). The killed node is started again, waits until it is a member and its path is back in
 * multipathd, and the next trial kills whichever node owns the LU then. At the end `rbd export`
 * reads the image back and every acknowledged sequence number must be in its slot (a later,
 * unacknowledged write to the same slot is allowed). With PR on, a registration made with
 * sg_persist through one path is read through the other before and after the first kill.
 *
 * Needs the VM built once: bench/failover-vm.sh (as root: ../shared/tools/linux-vm/build.sh with the
 * libraries iscsid and multipathd need) into /tmp/linux-vm-failover; VM_DIR overrides the directory. Every process it starts (qemu, etcd, Ceph, Portico) is stopped by pid,
 * on failure and on SIGINT too.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startCeph, type Ceph } from "../test/support/ceph";
import { twoGatewayRbdSaveconfig } from "../test/support/cluster";
import { startEtcd, type Etcd } from "../test/support/etcd";
import { freePort, waitForPort } from "../test/support/ports";
import { makeDataDir, portico, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { until } from "../test/support/until";
import { createTRPCClient, httpLink } from "@trpc/client";
import superjson from "superjson";
import { readFileSync } from "node:fs";
import type { AppRouter } from "../server/api/root";

const here = path.dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.failoverbench";
const LU = "fobench";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const TRIALS = arg("trials", 20);
const TMO = arg("tmo", 5);
const NOOP = arg("noop", 2);
const IMAGE_MIB = arg("image-mib", 128);
const SLOTS = (IMAGE_MIB * MiB) / 4096;
const CHECK_PR = !process.argv.includes("--no-pr");
const VM_DIR = process.env.VM_DIR ?? "/tmp/linux-vm-failover";

type Name = "gw-a" | "gw-b";
interface Node {
  name: Name;
  dataDir: string;
  port: number;
  tag: number;
  server?: PorticoProcess;
  api?: ReturnType<typeof apiClient>;
}

/** A tRPC client authenticated like the CLI (the runtime file's token). */
function apiClient(url: string, dataDir: string) {
  const token = (JSON.parse(readFileSync(path.join(dataDir, "portico.runtime.json"), "utf8")) as { token: string }).token;
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: `${url}/api/trpc`, transformer: superjson, headers: { "x-portico-token": token } })] });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${s}`);

// ---- the guest -----------------------------------------------------------------------------------

interface Ack {
  seq: number;
  /** Guest uptime (s) when the write completed. */
  guest: number;
  /** Host time (ms) when its line arrived. */
  host: number;
}

class Guest {
  child: ChildProcess;
  acks: Ack[] = [];
  errors: string[] = [];
  console: string[] = [];
  ready: Promise<void>;
  exited: Promise<number | null>;
  private nextId = 1;
  private pending = new Map<number, { out: string[]; resolve: (r: { rc: number; out: string }) => void }>();
  private dir: string;

  constructor(vmDir: string, params: Record<string, string | number>) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), "portico-fobench-vm-"));
    // run.sh's way: the guest script rides in a second cpio archive appended to the initrd.
    mkdirSync(path.join(this.dir, "root"));
    copyFileSync(path.join(here, "failover-guest.sh"), path.join(this.dir, "root", "guest.sh"));
    const r = spawnSync("sh", ["-c", `chmod +x root/guest.sh && (cd root && echo guest.sh | cpio -o -H newc 2>/dev/null | gzip -1 > ../extra.gz) && cat "${vmDir}/initrd.gz" extra.gz > initrd.gz`], { cwd: this.dir });
    if (r.status !== 0) throw new Error(`building the guest's initrd: ${r.stderr}`);
    const append = ["console=ttyS0", "quiet", "panic=-1", ...Object.entries(params).map(([k, v]) => `g.${k}=${v}`)].join(" ");
    this.child = spawn(
      "qemu-system-x86_64",
      ["-machine", "q35,accel=tcg", "-cpu", "max", "-m", "768", "-smp", "1", "-nographic", "-no-reboot",
        "-kernel", path.join(vmDir, "vmlinuz"), "-initrd", path.join(this.dir, "initrd.gz"), "-append", append,
        "-netdev", "user,id=n0", "-device", "e1000,netdev=n0"],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    this.exited = new Promise((res) => this.child.once("exit", (code) => res(code)));
    let buf = "";
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => ((readyResolve = res), (readyReject = rej)));
    void this.exited.then((code) => readyReject(new Error(`qemu exited (${code}) before the guest was ready:\n${this.tail()}`)));
    const onData = (d: Buffer) => {
      buf += d.toString().replace(/\r/g, "");
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.line(line, readyResolve, readyReject);
      }
    };
    this.child.stdout!.on("data", onData);
    this.child.stderr!.on("data", onData);
  }

  private line(line: string, ready: () => void, fail: (e: Error) => void): void {
    const host = Date.now();
    let m: RegExpMatchArray | null;
    if ((m = /^W (\d+) ([\d.]+)$/.exec(line))) {
      this.acks.push({ seq: Number(m[1]), guest: Number(m[2]), host });
      return;
    }
    this.console.push(line);
    if (this.console.length > 4000) this.console.splice(0, 1000);
    if (line.startsWith("E ")) this.errors.push(line);
    else if (line === "@@READY") ready();
    else if (line.startsWith("@@FAIL")) fail(new Error(`${line}\n${this.tail()}`));
    else if ((m = /^@@OUT (\d+) (.*)$/.exec(line))) this.pending.get(Number(m[1]))?.out.push(m[2]);
    else if ((m = /^@@DONE (\d+) (\d+)$/.exec(line))) {
      const p = this.pending.get(Number(m[1]));
      this.pending.delete(Number(m[1]));
      p?.resolve({ rc: Number(m[2]), out: p.out.join("\n") });
    }
  }

  tail(n = 60): string {
    return this.console.slice(-n).join("\n");
  }

  /** Runs a shell command line in the guest (one line; eval'd by busybox sh). */
  run(cmd: string, timeoutMs = 60_000): Promise<{ rc: number; out: string }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`guest command timed out after ${timeoutMs} ms: ${cmd}\n${this.tail(20)}`));
      }, timeoutMs);
      this.pending.set(id, { out: [], resolve: (r) => (clearTimeout(t), resolve(r)) });
      this.child.stdin!.write(`@@CMD ${id} ${cmd}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin!.write("@@QUIT\n");
      const t = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
      await this.exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** multipathd's view of the two paths: device, dm state, checker state, priority. */
async function paths(g: Guest): Promise<{ dev: string; dm: string; chk: string; prio: number }[]> {
  const r = await g.run(`multipathd show paths raw format "%d %t %T %p"`, 20_000);
  return r.out
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 4 && /^sd/.test(f[0]!))
    .map(([dev, dm, chk, prio]) => ({ dev: dev!, dm: dm!, chk: chk!, prio: Number(prio) }));
}

// ---- statistics ------------------------------------------------------------------------------------

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

// ---- main ------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(path.join(VM_DIR, "vmlinuz"))) throw new Error(`no VM in ${VM_DIR}: build it once with bench/failover-vm.sh ${VM_DIR} (as root)`);
  const cleanup: (() => Promise<void> | void)[] = [];
  let stopping = false;
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    for (const f of cleanup.reverse()) await Promise.resolve(f()).catch((e: Error) => console.error(`cleanup: ${e.message}`));
  };
  const onSignal = () => void stopAll().then(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await run(cleanup);
  } finally {
    await stopAll();
  }
}

async function run(cleanup: (() => Promise<void> | void)[]): Promise<void> {
  const started = new Date();
  log(`failover bench: ${TRIALS} trials, replacement_timeout/fast_io_fail_tmo ${TMO} s, NOP-Out ${NOOP}/${NOOP} s, ${IMAGE_MIB} MiB image`);
  const ceph = await startCeph();
  cleanup.push(() => ceph.stop());
  const etcd: Etcd = await startEtcd();
  cleanup.push(() => etcd.stop());
  ceph.rbd("create", "--size", `${IMAGE_MIB}M`, `rbd/${LU}`);

  const nodes: Record<Name, Node> = {} as Record<Name, Node>;
  const pa = await freePort();
  const pb = await freePort();
  for (const [name, port, tag] of [["gw-a", pa, 1], ["gw-b", pb, 2]] as const) {
    const dataDir = makeDataDir(`portico-fobench-${name}-`);
    const file = path.join(dataDir, "saveconfig.json");
    writeFileSync(file, JSON.stringify(twoGatewayRbdSaveconfig({ iqn: IQN, lu: LU, sizeBytes: IMAGE_MIB * MiB, wwn: "5b1c0a30-0000-4000-8000-0000000fb001", cephConf: ceph.conf, ports: [pa, pb] }), null, 2));
    const r = portico(dataDir, ["restoreconfig", file]);
    if (r.status !== 0) throw new Error(`restoreconfig on ${name}: ${r.stderr}${r.stdout}`);
    nodes[name] = { name, dataDir, port, tag };
  }
  cleanup.push(async () => {
    for (const n of Object.values(nodes)) {
      n.server?.child.kill("SIGCONT");
      await n.server?.stop().catch(() => n.server?.kill());
      removeDir(n.dataDir);
    }
  });
  const startNode = async (n: Node) => {
    const old = n.server?.child;
    if (old && old.exitCode === null && old.signalCode === null) await new Promise((r) => old.once("exit", r));
    rmSync(path.join(n.dataDir, "portico.runtime.json"), { force: true });
    n.server = await startPortico({ dataDir: n.dataDir, env: { PORTICO_CLUSTER: etcd.clusterUrl, PORTICO_NODE: n.name } });
    await waitForPort(n.port);
    n.api = apiClient(n.server.url, n.dataDir);
  };
  await Promise.all(Object.values(nodes).map((n) => startNode(n)));
  const ownershipOf = async (n: Node) => (await n.api!.cluster.ownership.query()).find((e) => e.lu === LU);
  const other = (n: Node) => (n.name === "gw-a" ? nodes["gw-b"] : nodes["gw-a"]);
  /** One node `owner`, the other serving as non-owner (Standby or Active/Non-optimized) and naming it. */
  const settledOwner = async (timeoutMs = 60_000): Promise<Node> => {
    let owner: Node | undefined;
    await until(
      "one owner, the other not",
      async () => Promise.all([ownershipOf(nodes["gw-a"]), ownershipOf(nodes["gw-b"])]),
      ([a, b]) => {
        const follows = (x: typeof a, o: Name) => x?.state === "standby" && x.owner === o;
        if (a?.state === "owner" && follows(b, "gw-a")) owner = nodes["gw-a"];
        else if (b?.state === "owner" && follows(a, "gw-b")) owner = nodes["gw-b"];
        else return false;
        return true;
      },
      timeoutMs,
      100,
    );
    return owner!;
  };
  const bothMembers = (n: Node) => until(`${n.name} sees two members`, () => n.api!.cluster.status.query(), (s) => (s?.members ?? []).length === 2, 60_000, 200);
  let owner = await settledOwner();
  log(`owner ${owner.name}; gw-a on 127.0.0.1:${pa}, gw-b on 127.0.0.1:${pb}`);

  const guest = new Guest(VM_DIR, { iqn: IQN, p1: pa, p2: pb, tmo: TMO, noop: NOOP });
  cleanup.push(() => guest.stop().catch(() => guest.kill()));
  const bootAt = Date.now();
  await Promise.race([guest.ready, sleep(300_000).then(() => Promise.reject(new Error(`guest not ready after 300 s:\n${guest.tail()}`)))]);
  log(`guest ready in ${fmt(Date.now() - bootAt)}:\n${guest.tail(12)}`);

  const bothPathsUp = async (timeoutMs = 120_000) =>
    until("both paths active in multipathd (ready, or ghost: Standby)", () => paths(guest), (ps) => ps.length === 2 && ps.every((p) => p.dm === "active" && (p.chk === "ready" || p.chk === "ghost")), timeoutMs, 1000);
  await bothPathsUp();
  const devs = (await paths(guest)).map((p) => p.dev);

  // ---- persistent reservations through both paths (before the writer, so its IO does not slow it) ----
  const pr: string[] = [];
  const readKeys = async (dev: string) => {
    const r = await guest.run(`sg_persist --in --read-keys --no-inquiry /dev/${dev}`, 30_000);
    return { rc: r.rc, keys: [...r.out.matchAll(/^\s+0x([0-9a-f]+)\s*$/gm)].map((m) => m[1]!), out: r.out };
  };
  // Which sd device is which gateway: the TPG tag in VPD page 0x83's target port name.
  const devOf: Partial<Record<Name, string>> = {};
  for (const d of devs) {
    const r = await guest.run(`sg_vpd --page=di /dev/${d}`, 30_000);
    const m = /,t,0x([0-9a-f]+)/i.exec(r.out); // the target port's SCSI name string: <iqn>,t,0x<tag>
    const tpg = m ? parseInt(m[1]!, 16) : NaN;
    for (const n of Object.values(nodes)) if (n.tag === tpg) devOf[n.name] = d;
  }
  log(`paths: ${JSON.stringify(devOf)}`);
  let registeredDev = devs[0]!;
  if (CHECK_PR) {
    const ownerDev = devOf[owner.name]!;
    registeredDev = ownerDev;
    const otherDev = devOf[other(owner).name]!;
    const reg = await guest.run(`sg_persist --out --register --param-sark=0xf00dbeef --no-inquiry /dev/${ownerDev}`, 30_000);
    const seen = await readKeys(otherDev);
    pr.push(`REGISTER 0xf00dbeef through ${owner.name} (/dev/${ownerDev}): rc ${reg.rc}; READ KEYS through ${other(owner).name} (/dev/${otherDev}): ${seen.keys.join(",") || seen.out}`);
    log(pr.at(-1)!);
  }

  await guest.run(`writer 0 ${SLOTS} >&3 2>&3 &`);
  await until("writes flowing", async () => guest.acks.length, (n) => n >= 20, 120_000, 200);
  const rate = () => {
    const a = guest.acks;
    const recent = a.filter((x) => x.host > Date.now() - 5000);
    return recent.length / 5;
  };
  log(`writer running: ${guest.acks.length} acknowledged, ~${rate().toFixed(1)} writes/s`);

  interface Trial {
    n: number;
    killed: Name;
    takeoverMs: number;
    fenceLockMs: number | null;
    gapMs: number;
    hostGapMs: number;
    errors: number;
  }
  const trials: Trial[] = [];
  for (let t = 1; t <= TRIALS; t++) {
    owner = await settledOwner();
    const survivor = other(owner);
    await bothPathsUp();
    // Writes flowing through the current owner for a few seconds.
    const before = guest.acks.length;
    await until("writes before the kill", async () => guest.acks.length, (n) => n >= before + 10, 120_000, 100);
    const errorsBefore = guest.errors.length;
    const ackIndexAtKill = guest.acks.length;
    const killedAt = Date.now();
    owner.server!.kill();
    const st = await until("survivor owns", () => ownershipOf(survivor), (e) => e?.state === "owner", 60_000, 25);
    const takeoverMs = Date.now() - killedAt;
    // Writes resumed: 10 more after the takeover.
    const atTakeover = guest.acks.length;
    await until("writes after the takeover", async () => guest.acks.length, (n) => n >= atTakeover + 10, 180_000, 100);
    // The longest gap between successive acknowledged writes from the last one before the kill on.
    const window = guest.acks.slice(Math.max(0, ackIndexAtKill - 1));
    let gap = 0;
    let hostGap = 0;
    for (let i = 1; i < window.length; i++) {
      gap = Math.max(gap, (window[i]!.guest - window[i - 1]!.guest) * 1000);
      hostGap = Math.max(hostGap, window[i]!.host - window[i - 1]!.host);
    }
    const trial: Trial = { n: t, killed: owner.name, takeoverMs, fenceLockMs: st?.lastChange?.tookMs ?? null, gapMs: Math.round(gap), hostGapMs: hostGap, errors: guest.errors.length - errorsBefore };
    trials.push(trial);
    log(`trial ${t}: killed ${trial.killed}; takeover ${fmt(takeoverMs)} (survivor's own step ${trial.fenceLockMs} ms); IO gap ${fmt(trial.gapMs)} (host-side ${fmt(hostGap)}); ${trial.errors} write errors`);

    if (CHECK_PR && t === 1) {
      const keys = await readKeys(devOf[survivor.name]!);
      pr.push(`after killing ${owner.name}: READ KEYS through ${survivor.name}: ${keys.keys.join(",") || keys.out}`);
      log(pr.at(-1)!);
    }
    // The killed node comes back, joins, and its path is logged in again by iscsid.
    const back = Date.now();
    await startNode(owner);
    await bothMembers(survivor);
    await settledOwner();
    await bothPathsUp();
    log(`  ${owner.name} back as a member and its path active again in ${fmt(Date.now() - back)}`);
    if (CHECK_PR && t === 1) {
      const keys = await readKeys(devOf[owner.name]!);
      pr.push(`${owner.name} restarted: READ KEYS through it: ${keys.keys.join(",") || keys.out}`);
      log(pr.at(-1)!);
    }
  }

  // ---- stop the writer and check every acknowledged write ----
  await guest.run("touch /tmp/stop; sleep 2");
  const lastWriter = await until("the writer stopped", async () => guest.console.find((l) => l.startsWith("@@WRITER-STOPPED")), (l) => !!l, 60_000, 200);
  if (CHECK_PR) {
    const unreg = await guest.run(`sg_persist --out --register --param-rk=0xf00dbeef --param-sark=0 --no-inquiry /dev/${registeredDev}`, 30_000);
    pr.push(`unregister through /dev/${registeredDev}: rc ${unreg.rc}`);
  }
  const image = ceph.rbdBytes("export", `rbd/${LU}`, "-");
  const bySlot = new Map<number, number>();
  for (const a of guest.acks) bySlot.set(a.seq % SLOTS, Math.max(bySlot.get(a.seq % SLOTS) ?? -1, a.seq));
  const lost: number[] = [];
  for (const [slot, seq] of bySlot) {
    const m = /^PORTICO-SEQ (\d{10})\n/.exec(image.subarray(slot * 4096, slot * 4096 + 23).toString("latin1"));
    const found = m ? Number(m[1]) : -1;
    if (found < seq || found % SLOTS !== slot) lost.push(seq);
  }
  // Acknowledgements must also be in order with no sequence number skipped (the writer retries the same one).
  const skipped = guest.acks.filter((a, i) => i > 0 && a.seq !== guest.acks[i - 1]!.seq + 1).length;

  const gaps = trials.map((t) => t.gapMs);
  const takeovers = trials.map((t) => t.takeoverMs);
  const line = (what: string, xs: number[]) => `${what}: p50 ${fmt(quantile(xs, 0.5))}, p99 ${fmt(quantile(xs, 0.99))}, max ${fmt(Math.max(...xs))} (min ${fmt(Math.min(...xs))})`;
  console.log("");
  console.log(`Failover bench, ${started.toISOString()}, ${trials.length} trials (kill -9 of the owner), ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  console.log(`initiator: Linux ${"6.1"} iscsi_tcp + dm-multipath in QEMU TCG; replacement_timeout = fast_io_fail_tmo = ${TMO} s, NOP-Out ${NOOP}/${NOOP} s, polling_interval 1, no_path_retry queue, prio alua, group_by_prio, failback immediate`);
  console.log(`per trial: ${trials.map((t) => `${t.n}:${t.killed} takeover ${(t.takeoverMs / 1000).toFixed(2)} gap ${(t.gapMs / 1000).toFixed(2)}`).join("; ")}`);
  console.log(line("target side (kill -9 → survivor owns)", takeovers));
  console.log(line("application IO gap (guest clock)", gaps));
  console.log(line("application IO gap (host receipt)", trials.map((t) => t.hostGapMs)));
  console.log(`acknowledged writes: ${guest.acks.length} (${bySlot.size} slots checked in rbd export), lost ${lost.length}${lost.length ? ` (e.g. ${lost.slice(0, 10).join(", ")})` : ""}, out of order ${skipped}; write errors seen by the writer ${guest.errors.length}; ${lastWriter}`);
  if (CHECK_PR) console.log(`persistent reservations: ${pr.join(" | ")}`);
  if (lost.length > 0 || skipped > 0) process.exitCode = 1;
}

// Exit when done: a pending timer (the guest's boot timeout) must not keep the process alive.
main().then(
  () => process.exit(process.exitCode ?? 0),
  (e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  },
);

/**
 * Portico vs Debian's tgt, side by side on loopback, with the same clients.
 *
 *   npm run bench [-- --seconds 5 --rounds 3 --only portico|tgt|rbd --workloads qd1r,qd1w,logins-seq --cpu-prof DIR]
 *
 * `--cpu-prof DIR` writes a V8 CPU profile of the Portico process (the whole appliance) to DIR when it stops.
 *
 * Each target gets a 1 GiB memory-backed LUN: a Portico ramdisk (the real appliance
 * process, configured by `portico restoreconfig`) and, for tgt, a file in /dev/shm.
 * Both run for the whole benchmark; every workload runs against one then the other,
 * the order swapped each round (A B, B A, ...), and `--rounds` repeats it so a noisy
 * machine shows as spread (min–max over rounds) instead of as a result.
 *
 * Workloads (id: client):
 *   r32     iscsi-perf -m 32 -b 8 -r         4 KiB random reads at queue depth 32
 *   seq8    iscsi-perf -m 8 -b 2048          1 MiB sequential reads at queue depth 8
 *   w32     qemu-img bench -w -d 32 -s 4k    4 KiB writes at queue depth 32
 *   r1      iscsi-perf -m 1 -b 8 -r          4 KiB random reads at queue depth 1
 *   qd1r    bench/initiator.ts               4 KiB random reads at QD1: IOPS, p50/p99 latency
 *   qd1w    bench/initiator.ts               4 KiB random writes at QD1 (immediate data)
 *   logins-seq / logins-par                  `--logins` (500) sessions logging in and out one
 *                                            after another / all at once (bench/initiator.ts)
 * For each: the median and spread per target, the ratio of medians (> 1: Portico is better),
 * and the target's CPU per IO (or per login) from /proc/<pid>/stat (utime + stime, all threads) with its
 * [min–max], its context switches per IO (all threads, /proc/<pid>/task/<tid>/status), and its main thread's
 * run-queue wait per IO (runnable with no CPU given, /proc/<pid>/task/<pid>/schedstat: the load's share, not the
 * target's work; under load it is where a one-thread event loop's IOPS go, docs/performance.md w32).
 * Needs root for tgtd.
 *
 * Backings (`--backing ramdisk,fileio,block`, all three by default): the same workloads on a
 * fileio LUN (a 1 GiB preallocated file on the data directory's file system, write_back) against
 * tgt's rdwr backing store on a file of the same kind beside it, and on a block LUN (a loop device
 * over such a file, write_back) against tgt on another loop device. tgt keeps its default write
 * cache (WCE=1, no O_SYNC), hence write_back on Portico's side; both files are read once before
 * the runs and again before every run (this VM evicts idle page cache on its own; each run line says how
 * much was still cached) so the page cache is warm for both. The login workloads run on the ramdisk only.
 * `--variants ,uring,pool,inline0` starts a Portico per fileio/block IO road ("" the default: io_uring with
 * page-cache hits and lone write-back writes on the event loop; uring: the ring alone; pool: libuv's
 * thread pool, the road before io_uring; inline0: the default without the lone writes on the event
 * loop; backstores/uring.ts, fd.ts; poll0: no poll window after answers, PORTICO_POLL_US=0, iscsi/poll-window.ts)
 * and alternates them with tgt: before/after figures from
 * one run on the same load. `--only both` runs the tgt rows without the rbd rows.
 *
 * Then the rbd rows (bench/rbd.ts): Portico over an RBD image of a single-node Ceph against
 * fio's rbd engine on the same image, ratio Portico/fio-rbd (skipped, saying why, where Ceph,
 * fio or the rbd backstore is missing). `--only rbd` runs only those; `--rbd-seconds` (8) and
 * `--rbd-rounds` (4, Portico and fio-rbd in A B B A order) size them.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { rbdAvailable, rbdStatus } from "../server/engine/backstores/rbd";
import { cephAvailable } from "../test/support/ceph";
import { restoreDemo, type DemoStorageObject } from "../test/support/demo";
import { startTgt } from "../test/support/tgt";
import { freePort, waitForPort } from "../test/support/ports";
import { makeDataDir, removeDir, startPortico, storageDirOf } from "../test/support/portico";
import { parallelLogins, qd1, sequentialLogins } from "./initiator";
import { cachedShare, contextSwitches, runQueueNs } from "./proc";
import { CEPH_ISCSI_TPG_PARAMETERS, runRbdBench, spread, verdict, type Figure as RbdFigure } from "./rbd";

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const seconds = Number(arg("--seconds")) || 5;
const rounds = Number(arg("--rounds")) || 3;
const logins = Number(arg("--logins")) || 500;
const only = arg("--only");
const selected = arg("--workloads")?.split(",");
type Backing = "ramdisk" | "fileio" | "block";
const backings = (arg("--backing")?.split(",") ?? ["ramdisk", "fileio", "block"]) as Backing[];
/** Portico processes to alternate: "" is the default IO path; pool / uring / inline0 / inline1 pin one (PORTICO_FD_IO, PORTICO_FD_NOWAIT, PORTICO_FD_INLINE_WRITES); poll0 has no poll window (PORTICO_POLL_US=0). */
const variants = arg("--variants")?.split(",") ?? [""];
const cpuProf = arg("--cpu-prof");
const GiB = 1024 ** 3;
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

interface Target {
  name: string;
  url: string;
  host: string;
  port: number;
  iqn: string;
  lun: number;
  pid: number | undefined;
  /** The file or device behind the LUN (fileio/block), re-read before each run. */
  backing?: string;
}

/** One run: its headline figure, how many IOs (or logins) it did, and extra figures. */
interface Run {
  value: number;
  ops: number;
  p50us?: number;
  p99us?: number;
  extra?: string;
}

interface Workload {
  id: string;
  name: string;
  unit: string;
  /** IOPS: higher is better; seconds: lower is better. */
  higherIsBetter: boolean;
  run(t: Target): Promise<Run>;
  /** Runs on the ramdisk LUN only (logins do no IO). */
  ramdiskOnly?: boolean;
}

function exec(cmd: string, a: string[], timeoutMs: number): string {
  const r = spawnSync(cmd, a, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  const out = (r.stdout ?? "") + (r.stderr ?? "");
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(" ")} exited ${r.status}: ${out.slice(-500)}`);
  return out;
}

/** iscsi-perf prints "iops average N (M MB/s)" at the end; its MB are MiB. */
function iscsiPerf(extra: string[]): (t: Target) => Promise<Run> {
  return async (t) => {
    const out = exec("iscsi-perf", ["-t", String(seconds), ...extra, t.url], (seconds + 30) * 1000);
    const last = [...out.matchAll(/iops average (\d+) \((\d+) MB\/s\)/g)].at(-1);
    if (!last) throw new Error(`no figures in iscsi-perf output: ${out.slice(-300)}`);
    return { value: Number(last[1]), ops: Number(last[1]) * seconds, extra: `${last[2]} MiB/s` };
  };
}

async function qemuBench(t: Target): Promise<Run> {
  // Size the request count so the run lasts roughly `seconds` at ~50k IOPS, at least 20k.
  const count = Math.max(20_000, seconds * 50_000);
  const out = exec("qemu-img", ["bench", "-w", "-d", "32", "-s", "4k", "-c", String(count), "-f", "raw", t.url], (seconds * 10 + 60) * 1000);
  const m = /Run completed in ([\d.]+) seconds/.exec(out);
  if (!m) throw new Error(`no figures in qemu-img bench output: ${out.slice(-300)}`);
  const iops = count / Number(m[1]);
  return { value: Math.round(iops), ops: count, extra: `${Math.round((iops * 4096) / 1024 ** 2)} MiB/s` };
}

function ownQd1(write: boolean): (t: Target) => Promise<Run> {
  return async (t) => {
    const f = await qd1({
      host: t.host, port: t.port, targetName: t.iqn, initiatorName: "iqn.2026-12.org.portico:bench-qd1", isid: 1,
      lun: t.lun, write, seconds, spanBytes: GiB,
    });
    // CPU and context switches are read around the whole call: divide by every command it sent, warm-up included.
    return { value: f.iops, ops: f.ios + f.warmupIos, p50us: f.p50us, p99us: f.p99us };
  };
}

function loginRun(parallel: boolean): (t: Target) => Promise<Run> {
  return async (t) => {
    const o = { host: t.host, port: t.port, targetName: t.iqn, initiatorName: "iqn.2026-12.org.portico:bench-login" };
    const secs = parallel ? await parallelLogins(o, logins) : await sequentialLogins(o, logins);
    return { value: secs, ops: logins };
  };
}

const workloads: Workload[] = [
  { id: "r32", name: "4k random read QD32 (iscsi-perf -m 32 -b 8 -r)", unit: "IOPS", higherIsBetter: true, run: iscsiPerf(["-m", "32", "-b", "8", "-r"]) },
  { id: "seq8", name: "1M sequential read QD8 (iscsi-perf -m 8 -b 2048)", unit: "IOPS", higherIsBetter: true, run: iscsiPerf(["-m", "8", "-b", "2048"]) },
  { id: "w32", name: "4k write QD32 (qemu-img bench -w -d 32 -s 4k)", unit: "IOPS", higherIsBetter: true, run: qemuBench },
  { id: "r1", name: "4k random read QD1 (iscsi-perf -m 1 -b 8 -r)", unit: "IOPS", higherIsBetter: true, run: iscsiPerf(["-m", "1", "-b", "8", "-r"]) },
  { id: "qd1r", name: "4k random read QD1 (bench/initiator.ts)", unit: "IOPS", higherIsBetter: true, run: ownQd1(false) },
  { id: "qd1w", name: "4k random write QD1 (bench/initiator.ts)", unit: "IOPS", higherIsBetter: true, run: ownQd1(true) },
  { id: "logins-seq", name: `${logins} sequential logins+logouts`, unit: "s", higherIsBetter: false, run: loginRun(false), ramdiskOnly: true },
  { id: "logins-par", name: `${logins} parallel logins`, unit: "s", higherIsBetter: false, run: loginRun(true), ramdiskOnly: true },
].filter((w) => !selected || selected.includes(w.id));

/** utime + stime of a process and all its threads, in seconds. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

function rssMiB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  const r = spawnSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" });
  const kb = Number(r.stdout.trim());
  return kb ? Math.round(kb / 1024) : undefined;
}

interface Sample extends Run {
  /** Target CPU per IO (or per login), µs. */
  cpuUs?: number;
  /** Target context switches per IO (or per login), all threads. */
  switches?: number;
  /** µs per IO (or per login) the target's main thread waited runnable for a CPU. */
  runqUs?: number;
}

async function measure(w: Workload, t: Target): Promise<Sample> {
  const c0 = cpuSeconds(t.pid);
  const x0 = contextSwitches(t.pid);
  const q0 = runQueueNs(t.pid);
  const r = await w.run(t);
  const c1 = cpuSeconds(t.pid);
  const x1 = contextSwitches(t.pid);
  const q1 = runQueueNs(t.pid);
  return {
    ...r,
    cpuUs: c0 !== undefined && c1 !== undefined && r.ops > 0 ? ((c1 - c0) * 1e6) / r.ops : undefined,
    switches: x0 !== undefined && x1 !== undefined && r.ops > 0 ? (x1 - x0) / r.ops : undefined,
    runqUs: q0 !== undefined && q1 !== undefined && r.ops > 0 ? (q1 - q0) / 1e3 / r.ops : undefined,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** A target with one LUN per backing: `at(backing)` is the view the workloads use. */
interface Started {
  name: string;
  at(b: Backing): Target;
  stop(): Promise<void>;
}

const BENCH_IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.benchmark001";

/** A preallocated 1 GiB file (fileio and loop backing): blocks allocated, as an admin's image file is. */
function imageFile(file: string): string {
  exec("fallocate", ["-l", String(GiB), file], 60_000);
  return file;
}

function attachLoop(file: string): string {
  return exec("losetup", ["-f", "--show", file], 30_000).trim();
}

/** Reads a file or device once, so the runs start with a warm page cache (as tgt's and Portico's both do). */
function warm(file: string): void {
  exec("dd", [`if=${file}`, "of=/dev/null", "bs=1M", "status=none"], 300_000);
}

/**
 * Before each run on a file or device: the share of it still cached (printed), then read it again.
 * This VM evicts page cache nobody touched for a while on its own (DAMON's proactive reclaim,
 * kdamond with a pageout scheme: regions idle for 12 aggregation intervals, up to 128 MiB/s; an
 * idle 1 GiB file went from 1024 to 924 MiB cached in 4 minutes with no memory pressure,
 * docs/performance.md, 2026-12-03 afternoon), so a file warmed once at start may be partly cold
 * when a later round reaches it, for one target more than the other. Re-read before every run,
 * both targets start each run with their file cached, and the line says what was left.
 */
function rewarm(file: string | undefined): string {
  if (!file) return "";
  const before = cachedShare(file);
  warm(file);
  return before === undefined ? "" : `  cached ${Math.round(before * 100)}% before re-read`;
}

async function startPorticoTarget(variant: string): Promise<Started> {
  const dataDir = makeDataDir("portico-bench-");
  const port = await freePort();
  const iqn = BENCH_IQN;
  const storage = storageDirOf(dataDir);
  const objects: DemoStorageObject[] = [];
  const lunOf: Partial<Record<Backing, number>> = {};
  const cleanups: (() => void)[] = [];
  for (const b of backings) {
    lunOf[b] = objects.length;
    if (b === "ramdisk") objects.push({ name: "bench", plugin: "ramdisk", size: GiB });
    else if (b === "fileio") objects.push({ name: "benchfile", plugin: "fileio", dev: imageFile(path.join(storage, "bench.img")), size: GiB, write_back: true });
    else {
      const loop = attachLoop(imageFile(path.join(dataDir, "loop.img")));
      cleanups.push(() => exec("losetup", ["-d", loop], 30_000));
      objects.push({ name: "benchblock", plugin: "block", dev: loop, write_back: true });
    }
  }
  restoreDemo(dataDir, { iqn, storageObjects: objects, ports: [port] });
  const env: Record<string, string> = { UV_THREADPOOL_SIZE: "64" };
  // pool: the road before io_uring (libuv's thread pool, no RWF_NOWAIT); uring: the ring alone.
  if (variant === "pool" || variant === "uring") Object.assign(env, { PORTICO_FD_IO: variant, PORTICO_FD_NOWAIT: "0", PORTICO_FD_INLINE_WRITES: "0" });
  // inline0 / inline1: without / with (the default since it is gated) lone write-back writes on the event loop.
  if (variant === "inline0") env.PORTICO_FD_INLINE_WRITES = "0";
  if (variant === "inline1") env.PORTICO_FD_INLINE_WRITES = "1";
  // poll0: without the poll window after answers (PORTICO_POLL_US=0, iscsi/poll-window.ts).
  if (variant === "poll0") env.PORTICO_POLL_US = "0";
  const nodeArgs = cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${cpuProf}`, "--cpu-prof-interval=200"] : [];
  const p = await startPortico({ dataDir, env, nodeArgs });
  await waitForPort(port);
  const name = variant ? `Portico[${variant}]` : "Portico";
  for (const o of objects) if (typeof o.dev === "string") warm(o.dev);
  const ioLine = /fileio\/block IO: (.*)/.exec(p.output())?.[1];
  console.log(`${name}: fileio/block IO: ${ioLine ?? "(not logged yet)"}`);
  return {
    name,
    at: (b) => {
      const dev = objects[lunOf[b]!].dev;
      return { name, url: `iscsi://127.0.0.1:${port}/${iqn}/${lunOf[b]}`, host: "127.0.0.1", port, iqn, lun: lunOf[b]!, pid: p.child.pid, backing: typeof dev === "string" ? dev : undefined };
    },
    stop: async () => {
      console.log(`${name} RSS after the runs: ${rssMiB(p.child.pid) ?? "?"} MiB`);
      await p.stop().catch(() => p.kill());
      for (const c of cleanups) c();
      removeDir(dataDir);
    },
  };
}

async function startTgtTarget(): Promise<Started> {
  const files: string[] = [];
  const loops: string[] = [];
  const lunOf: Partial<Record<Backing, number>> = {};
  const dir = makeDataDir("portico-bench-tgt-");
  try {
    const backingFiles = backings.map((b) => {
      if (b === "ramdisk") {
        const file = `/dev/shm/portico-bench-tgt-${process.pid}.img`;
        exec("truncate", ["-s", String(GiB), file], 10_000);
        files.push(file);
        return file;
      }
      const file = imageFile(path.join(dir, `${b}.img`));
      if (b === "fileio") return file;
      const loop = attachLoop(file);
      loops.push(loop);
      return loop;
    });
    backings.forEach((b, i) => (lunOf[b] = i + 1));
    const iqn = "iqn.2001-04.com.example:tgtbench";
    const tgt = await startTgt(backingFiles[0], iqn, backingFiles.slice(1));
    for (const f of backingFiles) if (!f.startsWith("/dev/shm")) warm(f);
    const u = new URL(tgt.url.replace(/^iscsi:/, "http:"));
    return {
      name: "tgt",
      at: (b) => {
        const f = backingFiles[lunOf[b]! - 1];
        return { name: "tgt", url: tgt.url.replace(/\/1$/, `/${lunOf[b]}`), host: u.hostname, port: Number(u.port), iqn, lun: lunOf[b]!, pid: tgt.pid, backing: b === "ramdisk" ? undefined : f };
      },
      stop: async () => {
        await tgt.stop();
        for (const l of loops) exec("losetup", ["-d", l], 30_000);
        for (const f of files) rmSync(f, { force: true });
        removeDir(dir);
      },
    };
  } catch (err) {
    for (const l of loops) spawnSync("losetup", ["-d", l]);
    for (const f of files) rmSync(f, { force: true });
    removeDir(dir);
    throw err;
  }
}

function fmtValue(w: Workload, v: number): string {
  return w.unit === "s" ? v.toFixed(3) : String(Math.round(v));
}

async function main() {
  if (only !== "rbd") await tgtRows();
  if (only === undefined || only === "rbd") await rbdRows();
}

async function rbdRows() {
  const missing =
    cephAvailable() ?? (spawnSync("sh", ["-c", "command -v fio"]).status !== 0 ? "fio is not installed" : undefined) ?? (rbdAvailable() ? undefined : rbdStatus);
  if (missing) {
    console.log(`\nrbd rows skipped: ${missing}`);
    return;
  }
  const rbdSeconds = Number(arg("--rbd-seconds")) || 8;
  // Four rounds, A B B A: one round's spread was as large as the gap to the goal (docs/performance.md, rbd).
  const rbdRounds = Number(arg("--rbd-rounds")) || 4;
  const load0 = os.loadavg();
  const { rows, binding } = await runRbdBench(rbdSeconds, rbdRounds);
  const load1 = os.loadavg();
  const fmt = (f: RbdFigure) => `${String(f.iops).padStart(7)} IOPS ${String(f.mibs).padStart(5)} MiB/s`;
  console.log(`\nPortico over RBD vs fio-rbd, same 1 GiB image, ${rbdSeconds} s per run, median of ${rbdRounds}`);
  console.log(`load average at start ${load0.map((x) => x.toFixed(2)).join(" ")}, at end ${load1.map((x) => x.toFixed(2)).join(" ")}`);
  console.log("(ramdisk: the same client on a ramdisk LUN of the same target, the iSCSI hop's ceiling here; CPU: µs per IO of Portico's process / of fio with its librbd threads)");
  console.log(`(the target's TPG runs ceph-iscsi's login parameters: ${Object.entries(CEPH_ISCSI_TPG_PARAMETERS).map(([k, v]) => `${k}=${v}`).join(" ")}; LIO's defaults otherwise)`);
  console.log(`${"workload".padEnd(30)} ${"Portico".padEnd(26)} ${"fio-rbd".padEnd(26)} ${"ratio".padEnd(6)} ${"Portico ramdisk".padEnd(26)} CPU µs/IO`);
  for (const r of rows) {
    const cpu = `${r.portico.cpuUs ?? "—"} / ${r.fio.cpuUs ?? "—"} (ramdisk ${r.ramdisk.cpuUs ?? "—"})`;
    console.log(`${r.name.padEnd(30)} ${fmt(r.portico).padEnd(26)} ${fmt(r.fio).padEnd(26)} ${spread(r.ratios).median.toFixed(2).padEnd(6)} ${fmt(r.ramdisk).padEnd(26)} ${cpu}`);
  }
  // Trustworthy only where the range of a row's per-round ratios lies on one side of the goal.
  console.log("per round, A B B A (Portico, fio-rbd IOPS):");
  for (const r of rows) {
    const p = spread(r.porticoIops), f = spread(r.fioIops);
    console.log(`${r.name.padEnd(30)} ${verdict(r.ratios)}; Portico [${p.min}–${p.max}], fio-rbd [${f.min}–${f.max}]`);
  }
  const fioRead = rows[0].fio;
  console.log(
    `binding alone (RbdBackstore.read in the bench process, no iSCSI), 4k random read QD32: ${fmt(binding)}, ratio to fio-rbd ${(binding.iops / fioRead.iops).toFixed(2)}; ` +
      `${binding.mainUs} µs/IO on the event loop, ${binding.cpuUs} µs/IO in all (fio ${fioRead.cpuUs ?? "—"})`,
  );
}

async function tgtRows() {
  const started: Started[] = [];
  try {
    if (only !== "tgt") for (const v of variants) started.push(await startPorticoTarget(v));
    if (only !== "portico") started.push(await startTgtTarget());
    const load0 = os.loadavg();
    const results = new Map<string, Map<string, Sample[]>>();
    const key = (w: Workload, b: Backing) => `${w.id}@${b}`;
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? started : [...started].reverse();
      for (const b of backings) {
        for (const w of workloads) {
          if (w.ramdiskOnly && b !== "ramdisk") continue;
          for (const s0 of order) {
            const t = s0.at(b);
            // Write back what earlier runs left dirty (w32 leaves up to 1 GiB) before a file or device run, so the
            // kernel's flusher does not write one target's data back during the next target's run (sync is not timed).
            if (b !== "ramdisk") spawnSync("sync");
            const cached = b !== "ramdisk" ? rewarm(t.backing) : "";
            const s = await measure(w, t);
            const byTarget = results.get(key(w, b)) ?? new Map<string, Sample[]>();
            results.set(key(w, b), byTarget);
            (byTarget.get(t.name) ?? byTarget.set(t.name, []).get(t.name)!).push(s);
            const lat = s.p50us !== undefined ? `  p50 ${s.p50us} µs p99 ${s.p99us} µs` : "";
            const cpu =
              (s.cpuUs !== undefined ? `  cpu ${s.cpuUs.toFixed(1)} µs/${w.unit === "s" ? "login" : "IO"}` : "") +
              (s.switches !== undefined ? `  ctxsw ${s.switches.toFixed(2)}/${w.unit === "s" ? "login" : "IO"}` : "") +
              (s.runqUs !== undefined ? `  runq ${s.runqUs.toFixed(1)} µs/${w.unit === "s" ? "login" : "IO"}` : "");
            console.log(
              `round ${round + 1} ${b.padEnd(7)} ${w.id.padEnd(10)} ${t.name.padEnd(15)} ${fmtValue(w, s.value).padStart(8)} ${w.unit}${s.extra ? ` (${s.extra})` : ""}${lat}${cpu}${cached}`,
            );
          }
        }
      }
    }
    const load1 = os.loadavg();
    console.log(`\nPortico vs tgt, ${seconds} s per run, ${rounds} rounds alternating, loopback, ${new Date().toISOString()}`);
    console.log(`load average at start ${load0.map((x) => x.toFixed(2)).join(" ")}, at end ${load1.map((x) => x.toFixed(2)).join(" ")}; medians with [min–max] over rounds`);
    console.log("backings: ramdisk (Portico ramdisk / tgt file in /dev/shm), fileio (1 GiB file, tgt rdwr), block (loop device, tgt rdwr); write cache on both sides");
    for (const b of backings) {
      for (const w of workloads) {
        if (w.ramdiskOnly && b !== "ramdisk") continue;
        const byTarget = results.get(key(w, b))!;
        const cell = (name: string) => {
          const ss = byTarget.get(name);
          if (!ss) return "—";
          const vals = ss.map((s) => s.value);
          let out = `${fmtValue(w, median(vals))} ${w.unit} [${fmtValue(w, Math.min(...vals))}–${fmtValue(w, Math.max(...vals))}]`;
          const p50 = ss.map((s) => s.p50us).filter((x): x is number => x !== undefined);
          const p99 = ss.map((s) => s.p99us).filter((x): x is number => x !== undefined);
          if (p50.length) out += `, p50 ${median(p50)} µs, p99 ${median(p99)} µs [${Math.min(...p99)}–${Math.max(...p99)}]`;
          const cpu = ss.map((s) => s.cpuUs).filter((x): x is number => x !== undefined);
          if (cpu.length) out += `, cpu ${median(cpu).toFixed(1)} µs/${w.unit === "s" ? "login" : "IO"} [${Math.min(...cpu).toFixed(1)}–${Math.max(...cpu).toFixed(1)}]`;
          const sw = ss.map((s) => s.switches).filter((x): x is number => x !== undefined);
          if (sw.length) out += `, ctxsw ${median(sw).toFixed(2)}/${w.unit === "s" ? "login" : "IO"}`;
          const rq = ss.map((s) => s.runqUs).filter((x): x is number => x !== undefined);
          if (rq.length) out += `, runq ${median(rq).toFixed(1)} µs/${w.unit === "s" ? "login" : "IO"} [${Math.min(...rq).toFixed(1)}–${Math.max(...rq).toFixed(1)}]`;
          return out;
        };
        const g = byTarget.get("tgt")?.map((s) => s.value);
        const lines = [`\n${w.name} — ${b}`];
        for (const s0 of started) {
          lines.push(`  ${s0.name.padEnd(15)} ${cell(s0.name)}`);
        }
        for (const s0 of started) {
          if (s0.name === "tgt") continue;
          const p = byTarget.get(s0.name)?.map((s) => s.value);
          const ratio = p && g ? (w.higherIsBetter ? median(p) / median(g) : median(g) / median(p)) : undefined;
          lines.push(`  ${s0.name}/tgt ${ratio !== undefined ? ratio.toFixed(2) : "—"}${w.higherIsBetter ? "" : " (tgt's time / Portico's)"}`);
        }
        console.log(lines.join("\n"));
      }
    }
  } finally {
    for (const s of started.reverse()) await s.stop().catch((err) => console.error(`stopping ${s.name}: ${String(err)}`));
  }
}

main().catch((err) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

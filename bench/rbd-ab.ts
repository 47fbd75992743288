/**
 * A/B of the rbd path: one or more checkouts of Portico serve the same RBD image of one
 * single-node Ceph, and the same clients run against each in turn, with fio's rbd engine on the
 * same image as one more contender: A B (fio) in even rounds, (fio) B A in odd ones, so that over
 * an even number of rounds the machine's drift hits every side alike. For measuring a change
 * before/after, or Portico against fio-rbd, on a shared noisy machine: same Ceph, same image,
 * same minutes. The image is filled once by fio and checked (`rbd du`) to be wholly allocated:
 * every read on both sides reads written data. The summary gives per contender the median and
 * range over the rounds, and per appliance the ratio to fio-rbd of each round (its neighbour in
 * the order) with whether its whole range lies above or below the 0.8 goal.
 *
 *   npx tsx bench/rbd-ab.ts [--seconds 8] [--rounds 3] [--workloads r4k,w4k,r1m,w1m] [--no-fio]
 *        [--prof DIR] [--hold] [--binding] [--threads] <checkout dir> [<checkout dir>...]
 *
 * A checkout may carry TPG parameters after a `#`, e.g.
 * `.#MaxRecvDataSegmentLength=65536`, or `.#ceph-iscsi` for ceph-iscsi's target defaults (what
 * bench/rbd.ts runs with, CEPH_ISCSI_TPG_PARAMETERS), to compare login parameters on one build.
 * Without `#`, LIO's defaults. Environment variables for that appliance go after a `%`, e.g.
 * `.#ceph-iscsi%PORTICO_RBD_BL_READ_MIN=0` (comma-separated), to compare settings of one build.
 *
 * Each checkout needs its node_modules and native/build (the addon it is measured with).
 * Prints per run IOPS, MiB/s, the event loop's CPU per IO (the appliance's main thread,
 * /proc/<pid>/task/<pid>) and the whole process's, Ceph's daemons' CPU per IO (mon, mgr and the
 * memstore OSD: the server side both paths share), the client's (iscsi-perf or qemu-img; fio with
 * its librbd threads), their sum (for fio: fio + Ceph), the whole machine's busy CPU per IO with its
 * idle and steal shares (/proc/stat: other sessions' work included), and the load average. On
 * this 2-vCPU machine, when idle is ~0 the IOPS are ~2 / (sum of CPU per IO): the sums say
 * what a side must shed to reach a ratio.
 * `--binding` adds, per round, 4 KiB random reads at QD32 through RbdBackstore.read in this
 * process (this checkout's addon, no iSCSI). `--threads` adds per appliance run its threads' CPU
 * and context switches per IO by thread name (/proc/<pid>/task/*: loop (the main thread),
 * rbd-submit, rbd-coalesce, msgr-worker, io_context_pool, node for V8/libuv's), and per fio run
 * fio's threads (sampled every 100 ms while it runs, the last sample scaled to its whole CPU). `--prof DIR` runs
 * every appliance under `node --cpu-prof` (profiles written to DIR when they stop); `--hold`
 * starts everything, prints the URLs and pids, and waits for SIGINT (experiments by hand).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCeph, type Ceph } from "../test/support/ceph";
import { assertFilled, bindingRead, CEPH_ISCSI_TPG_PARAMETERS, spread, verdict } from "./rbd";
import { restoreDemo } from "../test/support/demo";
import { freePort, waitForPort } from "../test/support/ports";
import { makeDataDir, removeDir } from "../test/support/portico";

const MiB = 1024 * 1024;
const IMAGE_SIZE = 1024 * MiB;
const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.benchrbdab01";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const flag = (name: string): boolean => {
  const i = argv.indexOf(name);
  if (i < 0) return false;
  argv.splice(i, 1);
  return true;
};
const seconds = Number(opt("--seconds")) || 8;
const rounds = Number(opt("--rounds")) || 3;
const selected = (opt("--workloads") ?? "r4k,w4k,r1m,w1m").split(",");
const profDir = opt("--prof");
const noFio = flag("--no-fio");
const hold = flag("--hold");
const binding = flag("--binding");
const threads = flag("--threads");
const specs = argv.map((a) => {
  const [spec, envText] = a.split("%");
  const [dir, params] = spec.split("#");
  const parameters = !params ? undefined : params === "ceph-iscsi" ? CEPH_ISCSI_TPG_PARAMETERS : Object.fromEntries(params.split(",").map((kv) => kv.split("=") as [string, string]));
  const env = envText ? Object.fromEntries(envText.split(",").map((kv) => kv.split("=") as [string, string])) : {};
  return { root: path.resolve(dir), parameters, env, label: `${path.basename(path.resolve(dir))}${params ? `#${params}` : ""}${envText ? `%${envText}` : ""}` };
});
const roots = specs;
if (roots.length === 0) {
  console.error("usage: npx tsx bench/rbd-ab.ts [--seconds 8] [--rounds 3] [--workloads r4k,w4k,r1m,w1m] [--no-fio] [--prof DIR] <checkout>...");
  process.exit(2);
}

function exec(cmd: string, a: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, a, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * MiB, env: env ?? process.env });
  const out = (r.stdout ?? "") + (r.stderr ?? "");
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(" ")} exited ${r.status ?? r.signal}: ${out.slice(-500)}`);
  return out;
}

/** The CPU time (s) of the last `timed` command and its children (bash's `times`), for CPU per IO of the client. */
let lastClientCpu = 0;
/** exec through bash, which prints its children's user and system time after the command (`times`). */
function timed(cmd: string, a: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): string {
  const out = exec("bash", ["-c", 'c="$1"; shift; "$c" "$@"; s=$?; times; exit $s', "timed", cmd, ...a], timeoutMs, env);
  const t = [...out.matchAll(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/g)].at(-1);
  lastClientCpu = t ? Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]) : NaN;
  return out;
}

/** A process and its descendants (fio forks its job processes). */
function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
        for (const c of readFileSync(`/proc/${out[i]}/task/${tid}/children`, "utf8").trim().split(/\s+/)) if (c) out.push(Number(c));
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * timed() without blocking, calling `sample` with the command's process (the one bash runs) every
 * 100 ms while it runs: fio's figures are read from those samples, since its librbd threads are
 * gone once it exits. Returns the output; lastClientCpu as timed().
 */
async function timedSampled(cmd: string, a: string[], timeoutMs: number, env: NodeJS.ProcessEnv, sample: (pid: number) => void): Promise<string> {
  const child = spawn("bash", ["-c", 'c="$1"; shift; "$c" "$@"; s=$?; times; exit $s', "timed", cmd, ...a], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const timer = setInterval(() => {
    try {
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      if (kids.length) sample(Number(kids[0]));
    } catch {
      // between exec and exit
    }
  }, 100);
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code: number | null = await new Promise((r) => child.once("exit", r));
  clearInterval(timer);
  clearTimeout(killer);
  if (code !== 0) throw new Error(`${cmd} ${a.join(" ")} exited ${code}: ${out.slice(-500)}`);
  const t = [...out.matchAll(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/g)].at(-1);
  lastClientCpu = t ? Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]) : NaN;
  return out;
}

/**
 * The whole machine's CPU time so far (/proc/stat's first line, all processes, other sessions'
 * included), in seconds: busy (user, nice, system, irq, softirq), idle (idle + iowait), and
 * steal (this is a Firecracker guest: time its vCPUs wanted and the host gave elsewhere).
 */
function machine(): { busy: number; idle: number; steal: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  const hz = 100;
  return { busy: (user + nice + system + irq + softirq) / hz, idle: (idle + iowait) / hz, steal: (steal ?? 0) / hz };
}
/** "machine busy X µs/IO, idle Y %, steal Z %" between two machine() readings; idle and steal in % of all vCPUs' time. */
function machineDelta(m0: ReturnType<typeof machine>, m1: ReturnType<typeof machine>, ios: number): { busyUs: number; idlePct: number; stealPct: number; text: string } {
  const busy = m1.busy - m0.busy, idle = m1.idle - m0.idle, steal = m1.steal - m0.steal;
  const all = busy + idle + steal;
  const busyUs = (busy * 1e6) / ios, idlePct = (100 * idle) / all, stealPct = (100 * steal) / all;
  return { busyUs, idlePct, stealPct, text: `machine ${busyUs.toFixed(1)} µs/IO busy, idle ${idlePct.toFixed(0)} %, steal ${stealPct.toFixed(0)} % of ${os.cpus().length} vCPUs` };
}

interface Run {
  iops: number;
  mibs: number;
  ios: number;
  /** The client process's own CPU time, s (fio only: its thread and librbd's). */
  cpuS?: number;
}

type Client = (url: string) => Run;

function iscsiPerf(extra: string[]): Client {
  return (url) => {
    const out = timed("iscsi-perf", ["-t", String(seconds), ...extra, url], (seconds + 60) * 1000);
    const last = [...out.matchAll(/iops average (\d+) \((\d+) MB\/s\)/g)].at(-1);
    if (!last) throw new Error(`no figures in iscsi-perf output: ${out.slice(-300)}`);
    return { iops: Number(last[1]), mibs: Number(last[2]), ios: Number(last[1]) * seconds };
  };
}

function qemuBench(depth: number, size: number, step: number, rate: number): Client {
  return (url) => {
    const count = Math.max(200, Math.round(seconds * rate));
    const out = timed("qemu-img", ["bench", "-w", "-d", String(depth), "-s", String(size), "-S", String(step), "-c", String(count), "-f", "raw", url], (seconds * 20 + 120) * 1000);
    const m = /Run completed in ([\d.]+) seconds/.exec(out);
    if (!m) throw new Error(`no figures in qemu-img bench output: ${out.slice(-300)}`);
    const iops = count / Number(m[1]);
    return { iops: Math.round(iops), mibs: Math.round((iops * size) / MiB), ios: count };
  };
}

const workloads: { key: string; name: string; client: Client; fio: string[]; write: boolean }[] = [
  { key: "r4k", name: "4k random read QD32", client: iscsiPerf(["-m", "32", "-b", "8", "-r"]), fio: ["--rw=randread", "--bs=4k", "--iodepth=32"], write: false },
  { key: "w4k", name: "4k random write QD32", client: qemuBench(32, 4096, 4096 * 7919, 2000), fio: ["--rw=randwrite", "--bs=4k", "--iodepth=32"], write: true },
  { key: "r1m", name: "1M sequential read QD8", client: iscsiPerf(["-m", "8", "-b", "2048"]), fio: ["--rw=read", "--bs=1M", "--iodepth=8"], write: false },
  { key: "w1m", name: "1M sequential write QD8", client: qemuBench(8, MiB, MiB, 40), fio: ["--rw=write", "--bs=1M", "--iodepth=8"], write: true },
].filter((w) => selected.includes(w.key));

/** One sample of a fio run: when, fio's CPU (all its processes and threads), Ceph's, the machine's, fio's threads. */
interface FioSample {
  t: number;
  fio: number;
  ceph: number;
  mach: ReturnType<typeof machine>;
  threads: Map<string, { cpu: number; cs: number }>;
}

/**
 * fio's run, and its CPU figures over its steady part: from the first sample at least 0.3 s past
 * the ramp (`secs` before the last sample) to the last sample, with IOs = IOPS x that time. Whole-run
 * CPU (bash's `times`) also counts fio's connection set-up and its ramp second, which total_ios does
 * not: per IO it read ~10-15 % high for 4 KiB reads.
 */
async function fio(ceph: Ceph, extra: string[], secs: number): Promise<Run & { window?: { fioUs: number; cephUs: number; mach: ReturnType<typeof machineDelta>; threads: string } }> {
  const conf = path.join(ceph.dir, "fio-ceph.conf");
  if (!existsSync(conf)) writeFileSync(conf, `${readFileSync(ceph.conf, "utf8")}\n[client]\nrbd cache writethrough until flush = false\n`);
  const a = ["--name=rbd", "--ioengine=rbd", "--clientname=admin", "--pool=rbd", "--rbdname=ab", "--direct=1", `--size=${IMAGE_SIZE}`, "--output-format=json", ...extra];
  if (secs > 0) a.push("--time_based", `--runtime=${secs}`, "--ramp_time=1");
  // fio's CPU time: its thread and its librbd threads.
  const env = { ...process.env, CEPH_CONF: conf };
  const samples: FioSample[] = [];
  const out = await timedSampled("fio", a, (secs + 600) * 1000, env, (pid) => {
    const threads = new Map<string, { cpu: number; cs: number }>();
    let cpuS = 0;
    for (const p of descendants(pid)) {
      try {
        cpuS += cpuAll(p);
      } catch {
        continue;
      }
      for (const [n, e] of threadTable(p)) {
        const name = n === "loop" ? "fio" : n;
        const x = threads.get(name) ?? { cpu: 0, cs: 0 };
        x.cpu += e.cpu;
        x.cs += e.cs;
        threads.set(name, x);
      }
    }
    samples.push({ t: performance.now() / 1000, fio: cpuS, ceph: cephCpu(ceph), mach: machine(), threads });
  });
  const cpuS = lastClientCpu;
  const j = (JSON.parse(out.slice(out.indexOf("{"), out.lastIndexOf("}") + 1)) as { jobs: { read: { iops: number; bw_bytes: number; total_ios: number }; write: { iops: number; bw_bytes: number; total_ios: number } }[] }).jobs[0];
  const side = j.read.iops > 0 ? j.read : j.write;
  const run = { iops: Math.round(side.iops), mibs: Math.round(side.bw_bytes / MiB), ios: side.total_ios, cpuS };
  // The last sample while fio's job (its librbd threads) still ran: once the job process exits its CPU
  // leaves the samples until fio reaps it.
  const running = samples.filter((x) => x.threads.has("msgr-worker"));
  let end = 0;
  while (end + 1 < running.length && running[end + 1].fio >= running[end].fio) end++;
  const last = running[end];
  const first = last && running.find((x) => x.t >= last.t - secs + 0.3);
  if (!last || !first || last.t - first.t < 1) return run;
  const ios = side.iops * (last.t - first.t);
  return {
    ...run,
    window: {
      fioUs: ((last.fio - first.fio) * 1e6) / ios,
      cephUs: ((last.ceph - first.ceph) * 1e6) / ios,
      mach: machineDelta(first.mach, last.mach, ios),
      // Per thread from the first window sample whose threads all still run at the last one (a set-up thread of
      // fio's parent that ended would count negative), over that sample's own share of the IOs.
      threads: (() => {
        const t0 = running.find((x) => x.t >= first.t && [...x.threads].every(([n, e]) => (last.threads.get(n)?.cpu ?? -1) >= e.cpu)) ?? first;
        return threadDelta(t0.threads, last.threads, side.iops * (last.t - t0.t));
      })(),
    },
  };
}

function cpu(pid: number, tid = pid): number {
  const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}
/** Per thread name (libuv/V8's unnamed ones are "node"): CPU seconds and context switches (voluntary + not) of a process's threads. */
function threadTable(pid: number): Map<string, { cpu: number; cs: number }> {
  const out = new Map<string, { cpu: number; cs: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = tid === String(pid) ? "loop" : stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/[-_:]?\d+$/, "");
      const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      const cs = [...status.matchAll(/ctxt_switches:\s+(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
      const e = out.get(name) ?? { cpu: 0, cs: 0 };
      e.cpu += (Number(f[11]) + Number(f[12])) / 100;
      e.cs += cs;
      out.set(name, e);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}
/** "name cpu µs/switches" per IO for each thread name, busiest first. */
function threadDelta(before: Map<string, { cpu: number; cs: number }>, after: Map<string, { cpu: number; cs: number }>, ios: number): string {
  const rows = [...after].map(([name, a]) => {
    const b = before.get(name) ?? { cpu: 0, cs: 0 };
    return { name, us: ((a.cpu - b.cpu) * 1e6) / ios, cs: (a.cs - b.cs) / ios };
  });
  const cs = rows.reduce((x, r) => x + r.cs, 0);
  return `switches ${cs.toFixed(2)}/IO; ` + rows.filter((r) => r.us >= 0.5 || r.cs >= 0.01).sort((x, y) => y.us - x.us).map((r) => `${r.name} ${r.us.toFixed(1)}µs/${r.cs.toFixed(2)}`).join(", ");
}
function cephCpu(ceph: Ceph): number {
  return ceph.pids().reduce((sum, p) => sum + cpuAll(p), 0);
}
function cpuAll(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

interface Appliance {
  root: string;
  label: string;
  child: ChildProcess;
  url: string;
  dataDir: string;
}

async function startAppliance(spec: (typeof specs)[number], ceph: Ceph, index: number): Promise<Appliance> {
  const root = spec.root;
  const dataDir = makeDataDir("portico-rbd-ab-");
  const port = await freePort();
  restoreDemo(dataDir, {
    iqn: IQN,
    storageObjects: [{ name: "ab", plugin: "user", size: IMAGE_SIZE, config: `rbd/rbd/ab;conf=${ceph.conf}` }],
    ports: [port],
    tpgParameters: spec.parameters,
  });
  const httpPort = await freePort();
  const nodeArgs = ["--import", "tsx"];
  if (profDir) nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${path.join(profDir, String(index))}`);
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, "server", "main.ts")], {
    cwd: root,
    env: { ...process.env, ...spec.env, PORTICO_DATA_DIR: dataDir, PORTICO_HTTP_HOST: "127.0.0.1", PORTICO_HTTP_PORT: String(httpPort), UV_THREADPOOL_SIZE: "64", NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitForPort(port, "127.0.0.1", 120_000);
  return { root, label: `${String.fromCharCode(65 + index)} ${spec.label}`, child, url: `iscsi://127.0.0.1:${port}/${IQN}/0`, dataDir };
}

async function main() {
  const ceph = await startCeph();
  const apps: Appliance[] = [];
  // Stops the appliances and Ceph once, whether the run ends, fails, or is interrupted.
  let stopped: Promise<void> | undefined;
  const stopAll = () =>
    (stopped ??= (async () => {
      for (const a of apps) {
        a.child.kill("SIGTERM");
        await new Promise((r) => (a.child.exitCode !== null ? r(null) : a.child.once("exit", r)));
        removeDir(a.dataDir);
      }
      await ceph.stop();
    })());
  // SIGINT/SIGTERM outside --hold (which waits for them itself): without this, a killed run left
  // its ceph-mon and ceph-mgr running. Handled once the current client (a blocking spawn) returns.
  if (!hold) {
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void stopAll().finally(() => process.exit(130)));
  }
  try {
    ceph.rbd("create", "--size", String(IMAGE_SIZE / MiB), "rbd/ab");
    await fio(ceph, ["--rw=write", "--bs=4M", "--iodepth=8"], 0);
    // Reads of never-written objects cost far less than reads of data: both sides read written data.
    const filled = assertFilled(ceph, "ab");
    console.log(`image rbd/ab: ${filled.used} of ${filled.provisioned} bytes allocated (filled by fio)`);
    for (const [i, r] of roots.entries()) apps.push(await startAppliance(r, ceph, i));
    // Warm each appliance (JIT) and move the lock once.
    for (const a of apps) exec("qemu-img", ["bench", "-w", "-c", "2000", "-d", "8", "-s", "4k", "-f", "raw", a.url], 120_000);
    if (hold) {
      // Interactive: print what to point clients at, run until SIGINT/SIGTERM.
      console.log(JSON.stringify({ conf: ceph.conf, fioConf: path.join(ceph.dir, "fio-ceph.conf"), image: "rbd/ab", appliances: apps.map((a) => ({ label: a.label, pid: a.child.pid, url: a.url })) }));
      await new Promise((r) => {
        process.once("SIGINT", r);
        process.once("SIGTERM", r);
      });
      return;
    }
    const results = new Map<string, string[]>();
    const line = (key: string, s: string) => {
      console.log(`${key}: ${s}`);
      results.set(key, [...(results.get(key) ?? []), s]);
    };
    // Per workload and contender, one figure per round (the summary's medians, spreads and ratios).
    type Figure = { iops: number; mibs: number; cpuUs: number; sumUs: number; idlePct: number };
    const figures = new Map<string, Map<string, Figure[]>>();
    const keep = (w: string, who: string, f: Figure) => {
      const m = figures.get(w) ?? new Map();
      figures.set(w, m);
      m.set(who, [...(m.get(who) ?? []), f]);
    };
    // fio-rbd is a contender like the appliances: A B B A order over the rounds, so a drift of the
    // shared machine's load hits both sides alike (fio last in every round favoured whichever ran
    // in the quieter minute).
    type Contender = { label: string; app?: Appliance };
    const contenders: Contender[] = [...apps.map((a) => ({ label: a.label, app: a })), ...(noFio ? [] : [{ label: "fio-rbd" }])];
    for (let round = 0; round < rounds; round++) {
      if (binding) {
        const b = await bindingRead(ceph.conf, "ab", seconds);
        line("binding alone 4k random read QD32", `${b.iops} IOPS, loop ${b.mainUs} µs/IO, process ${b.cpuUs} µs/IO, load ${os.loadavg()[0].toFixed(1)}`);
      }
      for (const w of workloads) {
        const order = round % 2 ? [...contenders].reverse() : contenders;
        for (const c of order) {
          const a = c.app;
          if (!a) {
            const c0 = cephCpu(ceph), mc0 = machine();
            const f = await fio(ceph, w.fio, seconds);
            // Whole run (ramp and set-up included, which total_ios is not: per IO, a little high).
            const cephWholeUs = ((cephCpu(ceph) - c0) * 1e6) / f.ios;
            const machWhole = machineDelta(mc0, machine(), f.ios);
            const fioWholeUs = (f.cpuS! * 1e6) / f.ios;
            const fw = f.window;
            if (fw && threads) line(`${w.name} | fio-rbd threads`, fw.threads);
            const fioUs = fw?.fioUs ?? fioWholeUs, cephUs = fw?.cephUs ?? cephWholeUs, mach = fw?.mach ?? machWhole;
            keep(w.name, c.label, { iops: f.iops, mibs: f.mibs, cpuUs: fioUs, sumUs: fioUs + cephUs, idlePct: mach.idlePct });
            line(
              `${w.name} | fio-rbd`,
              `${f.iops} IOPS ${f.mibs} MiB/s, fio ${fioUs.toFixed(1)} µs/IO, ceph ${cephUs.toFixed(1)} µs/IO, fio + ceph ${(fioUs + cephUs).toFixed(1)} µs/IO, ${mach.text}${fw ? ` (steady part; whole run fio ${fioWholeUs.toFixed(1)}, ceph ${cephWholeUs.toFixed(1)}, idle ${machWhole.idlePct.toFixed(0)} %)` : ""}, load ${os.loadavg()[0].toFixed(1)}`,
            );
            continue;
          }
          if (w.write) exec("qemu-img", ["bench", "-w", "-c", "16", "-d", "1", "-s", "4k", "-f", "raw", a.url], 120_000);
          const pid = a.child.pid!;
          const m0 = cpu(pid), p0 = cpuAll(pid), c0 = cephCpu(ceph), mc0 = machine();
          const t0 = threads ? threadTable(pid) : undefined;
          const r = w.client(a.url);
          if (t0) line(`${w.name} | ${a.label} threads`, threadDelta(t0, threadTable(pid), r.ios));
          const mainUs = ((cpu(pid) - m0) * 1e6) / r.ios, allUs = ((cpuAll(pid) - p0) * 1e6) / r.ios;
          const cephUs = ((cephCpu(ceph) - c0) * 1e6) / r.ios;
          const mach = machineDelta(mc0, machine(), r.ios);
          const clientUs = (lastClientCpu * 1e6) / r.ios;
          const sumUs = allUs + clientUs + cephUs;
          keep(w.name, c.label, { iops: r.iops, mibs: r.mibs, cpuUs: allUs, sumUs, idlePct: mach.idlePct });
          line(`${w.name} | ${a.label}`, `${r.iops} IOPS ${r.mibs} MiB/s, loop ${mainUs.toFixed(1)} µs/IO, process ${allUs.toFixed(1)} µs/IO, client ${clientUs.toFixed(1)} µs/IO, ceph ${cephUs.toFixed(1)} µs/IO, appliance + client + ceph ${sumUs.toFixed(1)} µs/IO, ${mach.text}, load ${os.loadavg()[0].toFixed(1)}`);
        }
      }
    }
    console.log("\nsummary (runs in order):");
    for (const [k, v] of results) console.log(`${k}\n    ${v.join("\n    ")}`);
    console.log(`\nmedians [lowest–highest] over ${rounds} rounds (CPU: the appliance's process, or fio with its librbd threads), load now ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}:`);
    for (const [w, byWho] of figures) {
      console.log(w);
      const fioRuns = byWho.get("fio-rbd");
      for (const [who, fs] of byWho) {
        const io = spread(fs.map((f) => f.iops)), mb = spread(fs.map((f) => f.mibs)), cp = spread(fs.map((f) => f.cpuUs));
        const sm = spread(fs.map((f) => f.sumUs)), idle = spread(fs.map((f) => f.idlePct));
        let text = `    ${who.padEnd(28)} ${Math.round(io.median)} IOPS [${io.min}–${io.max}, spread ${(io.rel * 100).toFixed(0)} %], ${Math.round(mb.median)} MiB/s, CPU ${cp.median.toFixed(0)} µs/IO [${cp.min.toFixed(0)}–${cp.max.toFixed(0)}]`;
        // With Ceph's daemons and the client (for fio: itself), and the machine's idle share: if idle is ~0,
        // IOPS ~ vCPUs / (sum of CPU per IO) and the sum says what must shrink.
        text += `\n    ${"".padEnd(28)} with ${who === "fio-rbd" ? "Ceph" : "client and Ceph"} ${sm.median.toFixed(0)} µs/IO [${sm.min.toFixed(0)}–${sm.max.toFixed(0)}], machine idle ${idle.median.toFixed(0)} % [${idle.min.toFixed(0)}–${idle.max.toFixed(0)}]`;
        // The ratio per round (each appliance run against the fio run of the same round: neighbours in A B B A).
        if (fioRuns && who !== "fio-rbd") text += `\n    ${"".padEnd(28)} Portico/fio-rbd ${verdict(fs.map((f, i) => f.iops / fioRuns[i].iops))}`;
        console.log(text);
      }
    }
  } finally {
    await stopAll();
  }
}

if (profDir) mkdirSync(profDir, { recursive: true });
main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});

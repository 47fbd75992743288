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
 * memstore OSD: the server side both paths share), fio's CPU per IO, and the load average.
 * `--binding` adds, per round, 4 KiB random reads at QD32 through RbdBackstore.read in this
 * process (this checkout's addon, no iSCSI). `--threads` adds per appliance run its threads' CPU
 * and context switches per IO by thread name (/proc/<pid>/task/*: loop (the main thread),
 * rbd-submit, rbd-coalesce, msgr-worker, io_context_pool, node for V8/libuv's). `--prof DIR` runs
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

function fio(ceph: Ceph, extra: string[], secs: number): Run {
  const conf = path.join(ceph.dir, "fio-ceph.conf");
  if (!existsSync(conf)) writeFileSync(conf, `${readFileSync(ceph.conf, "utf8")}\n[client]\nrbd cache writethrough until flush = false\n`);
  const a = ["--name=rbd", "--ioengine=rbd", "--clientname=admin", "--pool=rbd", "--rbdname=ab", "--direct=1", `--size=${IMAGE_SIZE}`, "--output-format=json", ...extra];
  if (secs > 0) a.push("--time_based", `--runtime=${secs}`, "--ramp_time=1");
  // fio's CPU time: its thread and its librbd threads.
  const out = timed("fio", a, (secs + 600) * 1000, { ...process.env, CEPH_CONF: conf });
  const cpuS = lastClientCpu;
  const j = (JSON.parse(out.slice(out.indexOf("{"), out.lastIndexOf("}") + 1)) as { jobs: { read: { iops: number; bw_bytes: number; total_ios: number }; write: { iops: number; bw_bytes: number; total_ios: number } }[] }).jobs[0];
  const side = j.read.iops > 0 ? j.read : j.write;
  return { iops: Math.round(side.iops), mibs: Math.round(side.bw_bytes / MiB), ios: side.total_ios, cpuS };
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
    fio(ceph, ["--rw=write", "--bs=4M", "--iodepth=8"], 0);
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
    const figures = new Map<string, Map<string, { iops: number; mibs: number; cpuUs: number }[]>>();
    const keep = (w: string, who: string, f: { iops: number; mibs: number; cpuUs: number }) => {
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
            const c0 = cephCpu(ceph);
            const f = fio(ceph, w.fio, seconds);
            // fio's ramp second is not in total_ios but is in both CPU figures: per IO, they read a little high.
            const cephUs = ((cephCpu(ceph) - c0) * 1e6) / f.ios;
            const fioUs = (f.cpuS! * 1e6) / f.ios;
            keep(w.name, c.label, { iops: f.iops, mibs: f.mibs, cpuUs: fioUs });
            line(`${w.name} | fio-rbd`, `${f.iops} IOPS ${f.mibs} MiB/s, fio ${fioUs.toFixed(1)} µs/IO, ceph ${cephUs.toFixed(1)} µs/IO, load ${os.loadavg()[0].toFixed(1)}`);
            continue;
          }
          if (w.write) exec("qemu-img", ["bench", "-w", "-c", "16", "-d", "1", "-s", "4k", "-f", "raw", a.url], 120_000);
          const pid = a.child.pid!;
          const m0 = cpu(pid), p0 = cpuAll(pid), c0 = cephCpu(ceph);
          const t0 = threads ? threadTable(pid) : undefined;
          const r = w.client(a.url);
          if (t0) line(`${w.name} | ${a.label} threads`, threadDelta(t0, threadTable(pid), r.ios));
          const mainUs = ((cpu(pid) - m0) * 1e6) / r.ios, allUs = ((cpuAll(pid) - p0) * 1e6) / r.ios;
          const cephUs = ((cephCpu(ceph) - c0) * 1e6) / r.ios;
          const clientUs = (lastClientCpu * 1e6) / r.ios;
          keep(w.name, c.label, { iops: r.iops, mibs: r.mibs, cpuUs: allUs });
          line(`${w.name} | ${a.label}`, `${r.iops} IOPS ${r.mibs} MiB/s, loop ${mainUs.toFixed(1)} µs/IO, process ${allUs.toFixed(1)} µs/IO, client ${clientUs.toFixed(1)} µs/IO, ceph ${cephUs.toFixed(1)} µs/IO, load ${os.loadavg()[0].toFixed(1)}`);
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
        let text = `    ${who.padEnd(28)} ${Math.round(io.median)} IOPS [${io.min}–${io.max}, spread ${(io.rel * 100).toFixed(0)} %], ${Math.round(mb.median)} MiB/s, CPU ${cp.median.toFixed(0)} µs/IO [${cp.min.toFixed(0)}–${cp.max.toFixed(0)}]`;
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

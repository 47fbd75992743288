/**
 * What a login costs the appliance: the real process (server/main.ts, configured by `portico
 * restoreconfig` with one 1 GiB ramdisk LUN in demo mode, as bench/run.ts starts it), `--logins`
 * sessions logging in and out one after another (bench/initiator.ts), and the appliance's CPU
 * time per login + logout from /proc (each thread's schedstat run time, in nanoseconds), per thread
 * group: the main thread (JavaScript, syscalls), V8's helper threads (GC, compiler), and the rest
 * (libuv's pool, SQLite's none). CPU time does not include time spent waiting for a core, so the
 * figures hold on a loaded machine better than wall-clock ones; with several rounds the medians per
 * tree are printed at the end.
 *
 *   npx tsx bench/login-cost.ts [--logins 500] [--rounds 3] [--trees DIR,DIR] [--parallel] [--cpu-prof DIR] [--perf DIR] [--pin CPU]
 *     [--node-arg FLAG]... [--stdout DIR] [--settle SECONDS] [--syscalls] [--tgt] [--floor] [--cold]
 *     [--tree-args 'FLAGS|FLAGS']
 *
 * `--trees` starts one appliance per source tree (default: this one) and alternates them round by
 * round (A B, B A, ...): before/after figures of a change from the same minutes. The data
 * directories are restored by this tree's CLI. `--parallel` adds a round of `--logins` sessions
 * logging in at once. `--perf DIR` records the measured rounds of each appliance with `perf record -g`
 * (on-CPU samples only, JavaScript frames named through `--perf-basic-prof`) into DIR/<index>.data;
 * read it with `perf report -i DIR/0.data --no-children --sort sym`. `--node-arg` passes a flag to each
 * appliance's node (repeatable; e.g. `--node-arg --trace-deopt` to see V8 tier-up), `--stdout DIR` keeps
 * each appliance's standard output in DIR/<index>.log (else it is discarded). `--settle` waits that long
 * after the appliances have started before the first login (their start-up work done first).
 * `--syscalls` counts each target's system calls over the measured rounds (`perf stat -e
 * 'syscalls:sys_enter_*' -p PID`, no ptrace stops, so timing is not disturbed) and prints them per
 * login + logout. `--tgt` adds Debian's tgtd (a 64 MiB file in /dev/shm as LUN 1; needs root) as one
 * more target in the rotation: the peer's CPU and system calls per login in the same minutes.
 * `--floor` adds bench/login-floor.mjs (a plain net.Socket server answering Login and Logout with
 * canned PDUs): what Node's socket life cycle alone costs per login, below any engine work.
 * `--tree-args` gives each tree's node its own flags (`|` between trees, spaces between flags; a tree
 * may be named twice: `--trees .,. --tree-args '|--always-sparkplug'` measures a V8 flag A/B).
 * `--cold` skips the warm-up round: the first round is what a fresh process pays (bench/run.ts's case).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parallelLogins, sequentialLogins } from "./initiator";
import { restoreDemo } from "../test/support/demo";
import { makeDataDir, removeDir, root } from "../test/support/portico";
import { freePort, waitForPort } from "../test/support/ports";
import { startTgt } from "../test/support/tgt";

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const logins = Number(arg("--logins")) || 500;
const rounds = Number(arg("--rounds")) || 3;
const trees = (arg("--trees")?.split(",") ?? [root]).map((t) => path.resolve(t));
const parallel = args.includes("--parallel");
const cpuProf = arg("--cpu-prof");
const perfDir = arg("--perf");
const extraNodeArgs = args.flatMap((a, i) => (a === "--node-arg" && args[i + 1] ? [args[i + 1]] : []));
const stdoutDir = arg("--stdout");
const settleMs = (Number(arg("--settle")) || 0) * 1000;
/** `--pin N`: the appliances and this client on CPU N only (taskset): steadier CPU figures on a shared machine, no parallelism. */
const pin = arg("--pin");
const syscalls = args.includes("--syscalls");
const withTgt = args.includes("--tgt");
const withFloor = args.includes("--floor");
const cold = args.includes("--cold");
const treeArgs = (arg("--tree-args")?.split("|") ?? []).map((t) => t.split(" ").filter(Boolean));
if (pin !== undefined) spawnSync("taskset", ["-a", "-pc", pin, String(process.pid)], { stdio: "ignore" });
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.logincost01";

/**
 * CPU seconds of a process's threads, grouped: main, V8 helpers, other. From schedstat (run time in
 * ns) when the kernel has it, else utime + stime in clock ticks (10 ms: too coarse for a short round).
 */
function threadCpu(pid: number): Record<"main" | "v8" | "other" | "ticks", number> {
  const out = { main: 0, v8: 0, other: 0, ticks: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    let schedstat: string | undefined;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      schedstat = existsSync(`/proc/${pid}/task/${tid}/schedstat`) ? readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8") : undefined;
    } catch {
      continue; // the thread ended
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = (Number(f[11]) + Number(f[12])) / CLK_TCK;
    out.ticks += ticks;
    const secs = schedstat ? Number(schedstat.split(" ")[0]) / 1e9 : ticks;
    if (Number(tid) === pid) out.main += secs;
    else if (/^V8 |DelayedTask|^node$/.test(comm)) out.v8 += secs;
    else out.other += secs;
  }
  return out;
}

interface Appliance {
  index: number;
  name: string;
  port: number;
  pid: number;
  /** The target name its logins ask for. */
  iqn: string;
  stop(): Promise<void>;
}

async function start(tree: string, index: number): Promise<Appliance> {
  const dataDir = makeDataDir("portico-login-cost-");
  const port = await freePort();
  restoreDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "bench", plugin: "ramdisk", size: 1024 ** 3 }], ports: [port] });
  const httpPort = await freePort();
  const nodeArgs = cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${path.join(cpuProf, String(index))}`, "--cpu-prof-interval=200"] : [];
  if (perfDir) nodeArgs.push("--perf-basic-prof");
  nodeArgs.push(...extraNodeArgs, ...(treeArgs[index] ?? []));
  let stdout: "ignore" | number = "ignore";
  if (stdoutDir) {
    mkdirSync(stdoutDir, { recursive: true });
    stdout = openSync(path.join(stdoutDir, `${index}.log`), "w");
  }
  const argv = [...nodeArgs, "--import", "tsx", path.join(tree, "server", "main.ts")];
  const child: ChildProcess = spawn(pin !== undefined ? "taskset" : process.execPath, pin !== undefined ? ["-c", pin, process.execPath, ...argv] : argv, {
    cwd: tree,
    env: { ...process.env, PORTICO_DATA_DIR: dataDir, PORTICO_HTTP_HOST: "127.0.0.1", PORTICO_HTTP_PORT: String(httpPort), NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", stdout, "inherit"],
  });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  await waitForPort(httpPort, "127.0.0.1", 90_000);
  await waitForPort(port, "127.0.0.1", 30_000);
  for (let i = 0; i < 100 && !existsSync(path.join(dataDir, "portico.runtime.json")); i++) await new Promise((r) => setTimeout(r, 100));
  const name = trees.length > 1 ? `${String.fromCharCode(65 + index)} ${path.basename(tree)}${treeArgs[index]?.length ? ` ${treeArgs[index].join(" ")}` : ""}` : "Portico";
  console.log(`${name}: ${tree}, pid ${child.pid}, iSCSI port ${port}`);
  return {
    index, name, port, pid: child.pid!, iqn: IQN,
    async stop() {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      removeDir(dataDir);
    },
  };
}

/** tgtd on a free port with a 64 MiB file in /dev/shm as LUN 1, in the same rotation. */
async function startPeer(index: number): Promise<Appliance> {
  const file = `/dev/shm/portico-login-cost-${process.pid}.img`;
  spawnSync("truncate", ["-s", "64M", file]);
  const iqn = "iqn.2001-04.com.example:logincost";
  const tgt = await startTgt(file, iqn);
  if (pin !== undefined) spawnSync("taskset", ["-a", "-pc", pin, String(tgt.pid)], { stdio: "ignore" });
  const port = Number(new URL(tgt.url.replace(/^iscsi:/, "http:")).port);
  console.log(`tgt: pid ${tgt.pid}, iSCSI port ${port}`);
  return {
    index, name: "tgt", port, pid: tgt.pid!, iqn,
    async stop() {
      await tgt.stop();
      spawnSync("rm", ["-f", file]);
    },
  };
}

/** bench/login-floor.mjs on a free port (no tsx: plain node), in the same rotation. */
async function startFloor(index: number): Promise<Appliance> {
  const port = await freePort();
  const child = spawn(pin !== undefined ? "taskset" : process.execPath, [
    ...(pin !== undefined ? ["-c", pin, process.execPath] : []), ...extraNodeArgs, path.join(root, "bench", "login-floor.mjs"), String(port),
  ], { stdio: "ignore" });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  await waitForPort(port, "127.0.0.1", 30_000);
  console.log(`net.Socket floor: pid ${child.pid}, port ${port}`);
  return {
    index, name: "net.Socket floor", port, pid: child.pid!, iqn: IQN,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Per appliance and kind: CPU µs per login and seconds per round, for the medians at the end. */
const results = new Map<string, { cpu: number[]; main: number[]; secs: number[] }>();
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)];

async function measure(a: Appliance, kind: "seq" | "par", keep = true): Promise<string> {
  const o = { host: "127.0.0.1", port: a.port, targetName: a.iqn, initiatorName: "iqn.2026-12.org.portico:login-cost" };
  const c0 = threadCpu(a.pid);
  const secs = kind === "seq" ? await sequentialLogins(o, logins) : await parallelLogins(o, logins);
  // Let the deferred work of the last logins (event-log batch, 50 ms) run inside the window.
  await new Promise((r) => setTimeout(r, 150));
  const c1 = threadCpu(a.pid);
  const us = (k: keyof typeof c0) => (((c1[k] - c0[k]) * 1e6) / logins).toFixed(0).padStart(5);
  const all = ((c1.main + c1.v8 + c1.other - c0.main - c0.v8 - c0.other) * 1e6) / logins;
  if (keep) {
    const key = `${a.name} ${kind}`;
    const r = results.get(key) ?? { cpu: [], main: [], secs: [] };
    r.cpu.push(all);
    r.main.push(((c1.main - c0.main) * 1e6) / logins);
    r.secs.push(secs);
    results.set(key, r);
  }
  return `${a.name.padEnd(24)} ${kind} ${logins} logins ${secs.toFixed(3)} s  cpu ${all.toFixed(0).padStart(5)} µs/login (main ${us("main")}, v8 threads ${us("v8")}, other ${us("other")}; utime+stime ${us("ticks")})`;
}

/** `perf stat` of every system call one target makes until the returned function is called; it returns the counts. */
async function countSyscalls(a: Appliance): Promise<() => Promise<Map<string, number>>> {
  const out = `/tmp/login-cost-syscalls-${process.pid}-${a.index}.txt`;
  const perf = spawn("perf", ["stat", "-x", ",", "-e", "syscalls:sys_enter_*", "-p", String(a.pid), "-o", out], { stdio: ["ignore", "ignore", "inherit"] });
  const exited = new Promise<void>((r) => perf.on("exit", () => r()));
  await new Promise((r) => setTimeout(r, 1000)); // perf attaches to the threads
  return async () => {
    perf.kill("SIGINT");
    await exited;
    const counts = new Map<string, number>();
    for (const line of readFileSync(out, "utf8").split("\n")) {
      const [n, , event] = line.split(",");
      if (event?.startsWith("syscalls:sys_enter_") && Number(n) > 0) counts.set(event.slice("syscalls:sys_enter_".length), Number(n));
    }
    rmSync(out, { force: true });
    return counts;
  };
}

/** `perf record -g` of one appliance until the returned function is called. */
async function recordPerf(a: Appliance): Promise<() => Promise<void>> {
  mkdirSync(perfDir!, { recursive: true });
  const perf = spawn("perf", ["record", "-g", "-F", "4000", "-p", String(a.pid), "-o", path.join(perfDir!, `${a.index}.data`)], { stdio: ["ignore", "ignore", "inherit"] });
  const exited = new Promise<void>((r) => perf.on("exit", () => r()));
  await new Promise((r) => setTimeout(r, 1000)); // perf attaches to the threads
  return async () => {
    perf.kill("SIGINT");
    await exited;
  };
}

async function main(): Promise<void> {
  const started: Appliance[] = [];
  try {
    for (let i = 0; i < trees.length; i++) started.push(await start(trees[i], i));
    if (withTgt) started.push(await startPeer(started.length));
    if (withFloor) started.push(await startFloor(started.length));
    if (settleMs) await new Promise((r) => setTimeout(r, settleMs));
    // Warm-up: the first logins compile the login path.
    if (!cold) for (const a of started) await measure(a, "seq", false);
    console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
    const recorders = perfDir ? await Promise.all(started.map((a) => recordPerf(a))) : [];
    const counters = syscalls ? await Promise.all(started.map((a) => countSyscalls(a))) : [];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? started : [...started].reverse();
      for (const a of order) console.log(`round ${round + 1} ${await measure(a, "seq")}`);
      if (parallel) for (const a of order) console.log(`round ${round + 1} ${await measure(a, "par")}`);
    }
    console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
    for (const stop of recorders) await stop();
    for (let i = 0; i < counters.length; i++) {
      const counts = await counters[i]();
      const per = logins * rounds * (parallel ? 2 : 1);
      const total = [...counts.values()].reduce((x, y) => x + y, 0);
      const rows = [...counts].sort((x, y) => y[1] - x[1]).filter(([, n]) => n / per >= 0.01).map(([k, n]) => `${k} ${(n / per).toFixed(2)}`);
      console.log(`${started[i].name}: system calls per login + logout ${(total / per).toFixed(1)}: ${rows.join(", ")}`);
    }
    if (rounds > 1) {
      console.log(`medians over ${rounds} rounds:`);
      for (const [key, r] of results) {
        console.log(`  ${key.padEnd(28)} ${median(r.secs).toFixed(3)} s (${(logins / median(r.secs)).toFixed(0)} logins/s)  cpu ${median(r.cpu).toFixed(0)} µs/login [${Math.min(...r.cpu).toFixed(0)}–${Math.max(...r.cpu).toFixed(0)}], main thread ${median(r.main).toFixed(0)}`);
      }
    }
  } finally {
    for (const a of started) await a.stop();
  }
}

main().catch((err) => {
  console.error(`login-cost failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

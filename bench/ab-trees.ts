/**
 * Before/after of two source trees on the same minutes: one appliance per tree (each with a
 * fresh 1 GiB ramdisk LUN, as bench/run.ts gives Portico), the workloads alternated A B / B A
 * per round. For each run: IOPS, the target's CPU per IO split into the main thread and the
 * other threads (V8's GC and compiler, libuv), p50/p99 for the own-client rows, page
 * faults per IO (minflt from /proc: a fault costs this VM tens of µs, docs/performance.md) and
 * context switches per IO (all threads, voluntary + involuntary: sleeps and hand-offs) and the
 * main thread's run-queue wait per IO (runnable, no CPU given: the load, not the target's work).
 *
 *   npx tsx bench/ab-trees.ts --roots /path/to/before,/path/to/after [--seconds 3] [--rounds 2]
 *     [--workloads r32,seq8,w32,w1m,r1,qd1r,qd1w] [--params lio|ceph-iscsi] [--warm] [--node-args "..."] [--node-args-b "..."] [--log-dir DIR]
 *     [--backing ramdisk|fileio|block] [--cache warm|cold] [--env-a K=V,K=V] [--env-b K=V,K=V]
 *
 * w1m: 1 MiB sequential writes at QD8 (`qemu-img bench -w -s 1M -d 8`, as bench/rbd.ts), IOPS = writes/s.
 * --params ceph-iscsi: the TPG runs ceph-iscsi's login parameters (bench/rbd.ts CEPH_ISCSI_TPG_PARAMETERS:
 * 256 KiB Data-Out PDUs, 256 KiB of immediate data) instead of LIO's defaults (8 KiB PDUs).
 *
 * A tree is a checkout with node_modules (e.g. `git archive <commit> | tar -x -C DIR` and a
 * hard-linked node_modules). --warm writes the whole LUN first (1 MiB writes); --node-args-b
 * gives the second appliance other node options (the same tree twice compares flags), --env-a /
 * --env-b other environment settings (e.g. PORTICO_POLL_US=0 against the default). The
 * appliances' stdout goes to DIR/app-<i>.log (e.g. with --node-args --trace-gc).
 * --backing fileio / block gives each appliance a 1 GiB fallocated file (write_back, as bench/run.ts's
 * fileio LUN) or a loop device over one (write_back), read once the appliance holds it open and again
 * before every run (each line says how much of it was still cached); ramdisk by default.
 * --cache cold instead drops the file's or device's page cache before every run (sync, then
 * posix_fadvise DONTNEED through `dd iflag=nocache count=0`) and never warms it: writes then find
 * their pages uncached, so fd.ts's gate sends them to the ring, where a warm cache has them written
 * inline on the event loop (docs/performance.md, w32). Each line ends with the state it ran in.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { openSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { demoSaveconfig, type DemoStorageObject } from "../test/support/demo";
import { freePort, waitForPort } from "../test/support/ports";
import { makeDataDir, removeDir, storageDirOf } from "../test/support/portico";
import { qd1 } from "./initiator";
import { cachedShare, contextSwitches, runQueueNs } from "./proc";
import { CEPH_ISCSI_TPG_PARAMETERS } from "./rbd";

const args = process.argv.slice(2);
const arg = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const roots = (arg("--roots") ?? "").split(",");
const seconds = Number(arg("--seconds")) || 3;
const rounds = Number(arg("--rounds")) || 2;
const wl = (arg("--workloads") ?? "r1,qd1r,qd1w,w32,r32").split(",");
const prealloc = args.includes("--warm");
const logDir = arg("--log-dir") ?? os.tmpdir();
const tpgParameters = arg("--params") === "ceph-iscsi" ? CEPH_ISCSI_TPG_PARAMETERS : undefined;
const backing = arg("--backing") ?? "ramdisk";
const cold = arg("--cache") === "cold";
const GiB = 1024 ** 3;
const TCK = 100;

/**
 * CPU ticks (main thread, other threads), page faults, context switches, and the main thread's time
 * runnable but waiting for a CPU (/proc/PID/schedstat's second field, ns): under load a one-thread
 * event loop waits there, while a target with many threads (tgt's workers, io-wq) gets more shares.
 */
function ticks(pid: number): { main: number; other: number; flt: number; csw: number; runq: number } {
  let main = 0, other = 0, flt = 0;
  const runq = runQueueNs(pid) ?? 0;
  const csw = contextSwitches(pid) ?? 0;
  { const s = readFileSync(`/proc/${pid}/stat`, "utf8"); flt = Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[7]); }
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      const v = Number(f[11]) + Number(f[12]);
      if (Number(t) === pid) main += v; else other += v;
    } catch {}
  }
  return { main, other, flt, csw, runq };
}

interface T { name: string; pid: number; port: number; child: ChildProcess; dataDir: string; loop?: string; so: DemoStorageObject }

/** The LUN's storage object for --backing: a ramdisk, or a warm 1 GiB fallocated file / loop device over one (write_back). */
function storageObject(dataDir: string): { so: DemoStorageObject; loop?: string } {
  if (backing === "ramdisk") return { so: { name: "bench", plugin: "ramdisk", size: GiB } };
  const file = path.join(storageDirOf(dataDir), "bench.img");
  exec("fallocate", ["-l", String(GiB), file]);
  if (backing === "fileio") return { so: { name: "benchfile", plugin: "fileio", dev: file, size: GiB, write_back: true } };
  const loop = exec("losetup", ["-f", "--show", file]).trim();
  return { so: { name: "benchblock", plugin: "block", dev: loop, write_back: true }, loop };
}

/**
 * Reads the LUN's file or device once with the appliance running (as bench/run.ts does): a block
 * device's page cache is dropped at its last close, so warming a loop device nobody holds open
 * leaves it cold (the reads then go through the loop driver's worker, not the page cache).
 */
function warm(so: DemoStorageObject): void {
  if (typeof so.dev !== "string") return;
  if (cold) {
    spawnSync("sync");
    exec("dd", [`if=${so.dev}`, "iflag=nocache", "count=0", "status=none"]);
  } else exec("dd", [`if=${so.dev}`, "of=/dev/null", "bs=1M", "status=none"]);
}

/**
 * Before each run on a file or device: how much of it is still cached (this VM's DAMON reclaim pages
 * out idle page cache on its own, bench/run.ts rewarm), then read it again so both trees start warm.
 */
function rewarm(so: DemoStorageObject): string {
  if (typeof so.dev !== "string") return "";
  const before = cachedShare(so.dev);
  spawnSync("sync");
  warm(so);
  const state = cold ? "dropped (cold)" : "re-read (warm)";
  return before !== undefined ? ` cached ${Math.round(before * 100)}% before, ${state}` : ` ${state}`;
}
const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.benchmark001";

async function start(root: string, i: number): Promise<T> {
  const dataDir = makeDataDir("qd1-ab-");
  const port = await freePort();
  const http = await freePort();
  const file = path.join(dataDir, "demo.json");
  const { so, loop } = storageObject(dataDir);
  writeFileSync(file, JSON.stringify(demoSaveconfig({ iqn: IQN, storageObjects: [so], ports: [port], tpgParameters })));
  const extra = Object.fromEntries((arg(i === 0 ? "--env-a" : "--env-b") ?? "").split(",").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
  const env = { ...process.env, ...extra, PORTICO_DATA_DIR: dataDir, PORTICO_HTTP_HOST: "127.0.0.1", PORTICO_HTTP_PORT: String(http), UV_THREADPOOL_SIZE: "64", NEXT_TELEMETRY_DISABLED: "1" };
  let child: ChildProcess | undefined;
  try {
    const r = spawnSync(process.execPath, [path.join(root, "bin", "portico.mjs"), "restoreconfig", file], { cwd: root, env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`restoreconfig: ${r.stderr}${r.stdout}`);
    const nodeArgs = (arg(i === 1 && arg("--node-args-b") !== undefined ? "--node-args-b" : "--node-args") ?? "").split(" ").filter(Boolean);
    child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", path.join(root, "server", "main.ts")], { cwd: root, env, stdio: ["ignore", openSync(path.join(logDir, `app-${i}.log`), "w"), "inherit"] });
    await waitForPort(port, "127.0.0.1", 90_000);
    warm(so);
  } catch (err) {
    // A tree that does not start (an old checkout without native/build, a saveconfig it cannot read)
    // leaves no appliance, loop device or data dir behind, and says which tree and where its log is.
    child?.kill("SIGKILL");
    if (loop) spawnSync("losetup", ["-d", loop]);
    removeDir(dataDir);
    throw new Error(`${root} did not start (log: ${path.join(logDir, `app-${i}.log`)}): ${(err as Error).message}`);
  }
  return { name: `${"AB"[i]}(${path.basename(root)})`, pid: child.pid!, port, child, dataDir, loop, so };
}

function exec(cmd: string, a: string[]): string {
  const r = spawnSync(cmd, a, { encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

async function run(w: string, t: T): Promise<{ iops: number; ops: number; lat?: string }> {
  const url = `iscsi://127.0.0.1:${t.port}/${IQN}/0`;
  if (w === "r1" || w === "r32") {
    const out = exec("iscsi-perf", ["-t", String(seconds), "-m", w === "r1" ? "1" : "32", "-b", "8", "-r", url]);
    const m = [...out.matchAll(/iops average (\d+)/g)].at(-1)!;
    return { iops: Number(m[1]), ops: Number(m[1]) * seconds };
  }
  if (w === "seq8") {
    const out = exec("iscsi-perf", ["-t", String(seconds), "-m", "8", "-b", "2048", url]);
    const m = [...out.matchAll(/iops average (\d+)/g)].at(-1)!;
    return { iops: Number(m[1]), ops: Number(m[1]) * seconds };
  }
  if (w === "w32") {
    const count = seconds * 30_000;
    // /usr/bin/time: the client's own CPU and switches per write (is one side waiting for the other?).
    const out = exec("/usr/bin/time", ["-f", "CLIENT %U %S %w %c", "qemu-img", "bench", "-w", "-d", "32", "-s", "4k", "-c", String(count), "-f", "raw", url]);
    const m = /Run completed in ([\d.]+) seconds/.exec(out)!;
    const c = /CLIENT ([\d.]+) ([\d.]+) (\d+) (\d+)/.exec(out);
    const client = c ? `client cpu ${(((Number(c[1]) + Number(c[2])) * 1e6) / count).toFixed(1)} µs/IO ctxsw/IO ${((Number(c[3]) + Number(c[4])) / count).toFixed(2)}` : "";
    return { iops: Math.round(count / Number(m[1])), ops: count, lat: client };
  }
  if (w === "w1m") {
    const count = seconds * 150;
    const out = exec("qemu-img", ["bench", "-w", "-d", "8", "-s", "1M", "-c", String(count), "-f", "raw", url]);
    const m = /Run completed in ([\d.]+) seconds/.exec(out)!;
    return { iops: Math.round(count / Number(m[1])), ops: count };
  }
  const f = await qd1({ host: "127.0.0.1", port: t.port, targetName: IQN, initiatorName: "iqn.2026-12.org.portico:ab", isid: 7, lun: 0, write: w === "qd1w", seconds, spanBytes: GiB });
  return { iops: f.iops, ops: f.ios, lat: `p50 ${f.p50us} p99 ${f.p99us}` };
}

async function main() {
  const ts: T[] = [];
  try {
    for (let i = 0; i < roots.length; i++) ts.push(await start(roots[i], i));
    await new Promise((r) => setTimeout(r, 2000));
    for (const t of ts) {
      const a = ticks(t.pid); await new Promise((r) => setTimeout(r, 3000)); const b = ticks(t.pid);
      console.log(`${t.name} idle: main ${(b.main - a.main) / TCK / 3 * 100}% other ${(b.other - a.other) / TCK / 3 * 100}% of a core`);
    }
    if (prealloc) for (const t of ts) exec("qemu-img", ["bench", "-w", "-d", "32", "-s", "1M", "-c", "1024", "-f", "raw", `iscsi://127.0.0.1:${t.port}/${IQN}/0`]);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [...ts].reverse() : ts;
      for (const w of wl) for (const t of order) {
        const cached = rewarm(t.so);
        const a = ticks(t.pid);
        const res = await run(w, t);
        const b = ticks(t.pid);
        const us = (x: number) => ((x / TCK) * 1e6 / res.ops).toFixed(1);
        console.log(`r${r + 1} ${w.padEnd(5)} ${t.name.padEnd(22)} ${String(res.iops).padStart(7)} IOPS  cpu ${us(b.main - a.main + b.other - a.other)} µs/IO (main ${us(b.main - a.main)}, other threads ${us(b.other - a.other)}) ${res.lat ?? ""} faults/IO ${((b.flt - a.flt) / res.ops).toFixed(2)} ctxsw/IO ${((b.csw - a.csw) / res.ops).toFixed(2)} runq ${((b.runq - a.runq) / 1e3 / res.ops).toFixed(1)} µs/IO load ${os.loadavg()[0].toFixed(1)}${cached}`);
      }
    }
  } finally {
    for (const t of ts) { t.child.kill("SIGTERM"); }
    await new Promise((r) => setTimeout(r, 1500));
    for (const t of ts) { if (t.child.exitCode === null) t.child.kill("SIGKILL"); if (t.loop) spawnSync("losetup", ["-d", t.loop]); removeDir(t.dataDir); }
  }
}
main().catch((e) => { console.error(e); process.exit(1); });

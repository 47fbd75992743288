/**
 * What one command costs the target, measured so that a busy machine does not blur it:
 * CPU time of the target process (utime/stime from /proc/<pid>/stat, all threads) and the
 * JS heap it allocates (--trace-gc-nvp "allocated=", summed over the GCs in the window) per command, for 4 KiB random reads and
 * writes at queue depth 1 and for logins, against the engine alone (test/support/engine-server.ts,
 * a 1 GiB ramdisk) and optionally Debian's tgt (a file in /dev/shm).
 *
 *   npx tsx bench/command-cost.ts [--count 50000] [--logins 500] [--tgt] [--cpu-prof DIR]
 *
 * Wall-clock figures (IOPS, p50/p99) are printed too, but on a shared machine compare the CPU
 * per command: it does not include time the target spent waiting for a core.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BenchSession, sequentialLogins } from "./initiator";
import { startTgt } from "../test/support/tgt";
import { freePort } from "../test/support/ports";

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(arg("--count")) || 50_000;
const logins = Number(arg("--logins")) || 500;
const withTgt = args.includes("--tgt");
const cpuProf = arg("--cpu-prof");
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
const GiB = 1024 ** 3;
/** Commands go to the first 64 MiB, written in full before measuring (steady state: no first-touch page faults). */
const SPAN = 64 * 1024 ** 2;

function cpu(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK };
}

interface Target {
  name: string;
  port: number;
  iqn: string;
  lun: number;
  pid: number;
  scavenges(): number;
  /** Bytes allocated on the JS heap so far, as of the last GC (so per-op figures need many ops). */
  allocated(): number;
  stop(): Promise<void>;
}

async function startEngine(): Promise<Target> {
  const port = await freePort();
  const node = [...(cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${cpuProf}`] : []), "--trace-gc-nvp", "--import", "tsx"];
  const child = spawn(process.execPath, [...node, path.join(root, "test/support/engine-server.ts"), "--port", String(port), "--ramdisk", "1G"], {
    cwd: root, stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  let scavenges = 0;
  let allocated = 0;
  let partial = "";
  // --trace-gc-nvp: one line per GC, "gc=s" for a scavenge, "allocated=N" bytes since the previous GC.
  child.stdout!.on("data", (d: Buffer) => {
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.includes(" gc=s ")) scavenges++;
      const m = / allocated=(\d+)/.exec(line);
      if (m) allocated += Number(m[1]);
      if (!/READY/.test(out) && !line.includes("pause=")) out = (out + line + "\n").slice(-4096);
    }
  });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  for (let i = 0; i < 300 && !/READY (\S+)/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  const m = /READY (\S+)/.exec(out);
  if (!m) throw new Error(`engine-server did not start: ${out}`);
  return {
    name: "engine", port, iqn: m[1], lun: 0, pid: child.pid!, scavenges: () => scavenges, allocated: () => allocated,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function startTgtTarget(): Promise<Target> {
  const file = `/dev/shm/portico-cost-tgt-${process.pid}.img`;
  spawnSync("truncate", ["-s", String(GiB), file]);
  const iqn = "iqn.2001-04.com.example:tgtcost";
  const t = await startTgt(file, iqn);
  return {
    name: "tgt", port: Number(new URL(t.url.replace(/^iscsi:/, "http:")).port), iqn, lun: 1, pid: t.pid!, scavenges: () => 0, allocated: () => 0,
    async stop() {
      await t.stop();
      rmSync(file, { force: true });
    },
  };
}

async function measure(t: Target, label: string, ops: number, fn: () => Promise<void>): Promise<void> {
  const c0 = cpu(t.pid);
  const g0 = t.scavenges();
  const a0 = t.allocated();
  const w0 = performance.now();
  await fn();
  const secs = (performance.now() - w0) / 1000;
  const c1 = cpu(t.pid);
  const g1 = t.scavenges();
  const a1 = t.allocated();
  const us = (x: number) => ((x * 1e6) / ops).toFixed(1);
  const user = c1.user - c0.user;
  const sys = c1.sys - c0.sys;
  console.log(
    `${t.name.padEnd(6)} ${label.padEnd(22)} ${String(ops).padStart(7)} ops  cpu ${us(user + sys).padStart(6)} µs/op (user ${us(user)}, sys ${us(sys)})` +
      `  ${t.name === "engine" ? `heap ${((a1 - a0) / ops).toFixed(0)} B/op, scavenges ${g1 - g0}  ` : ""}wall ${(ops / secs).toFixed(0)} ops/s`,
  );
}

async function qd1Loop(s: BenchSession, lun: number, write: boolean, n: number, lat?: number[]): Promise<void> {
  const data = Buffer.alloc(4096, 0x5a);
  const span = SPAN / 4096;
  for (let i = 0; i < n; i++) {
    const lba = Math.floor(Math.random() * span) * 8;
    const a = performance.now();
    const st = await s.command(lun, write, lba, 4096, 512, data);
    lat?.push(performance.now() - a);
    if (st !== 0) throw new Error(`status 0x${st.toString(16)}`);
  }
}

async function run(t: Target): Promise<void> {
  const o = { host: "127.0.0.1", port: t.port, targetName: t.iqn, initiatorName: "iqn.2026-12.org.portico:cost", isid: 3 };
  const s = await BenchSession.login(o);
  // Warm-up: the span written once (256 KiB writes, R2T), then JIT warm-up.
  const big = Buffer.alloc(256 * 1024, 0x33);
  await s.command(t.lun, false, 0, 4096, 512); // takes the power-on unit attention
  for (let off = 0; off < SPAN; off += big.length) {
    const st = await s.command(t.lun, true, off / 512, big.length, 512, big);
    if (st !== 0) throw new Error(`warm-up write status 0x${st.toString(16)}`);
  }
  await qd1Loop(s, t.lun, false, 5000);
  await qd1Loop(s, t.lun, true, 5000);
  for (const write of [false, true]) {
    const lat: number[] = [];
    await measure(t, `4k ${write ? "write" : "read"} QD1`, count, () => qd1Loop(s, t.lun, write, count, lat));
    const sorted = Float64Array.from(lat).sort();
    const pct = (p: number) => Math.round(sorted[Math.floor(p * (sorted.length - 1))] * 1000);
    console.log(`${"".padEnd(30)}latency p50 ${pct(0.5)} µs, p99 ${pct(0.99)} µs`);
  }
  await s.logout();
  await measure(t, "login+logout", logins, async () => {
    await sequentialLogins({ host: "127.0.0.1", port: t.port, targetName: t.iqn, initiatorName: "iqn.2026-12.org.portico:cost-login" }, logins);
  });
}

async function main() {
  const e = await startEngine();
  try {
    await run(e);
  } finally {
    await e.stop();
  }
  if (withTgt) {
    const t = await startTgtTarget();
    try {
      await run(t);
    } finally {
      await t.stop();
    }
  }
}

main().catch((err) => {
  console.error(`command-cost failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});

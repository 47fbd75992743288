/**
 * Portico vs Debian's tgt, side by side on loopback, with the same clients.
 *
 *   npm run bench [-- --seconds 10 --only portico|tgt]
 *
 * Each target gets a 1 GiB memory-backed LUN: a Portico ramdisk (the real appliance
 * process, configured by `portico restoreconfig`) and, for tgt, a file in /dev/shm.
 * Workloads:
 *   iscsi-perf -m 32 -b 8 -r      4 KiB random reads at queue depth 32
 *   iscsi-perf -m 8 -b 2048       1 MiB sequential reads at queue depth 8
 *   qemu-img bench -w -d 32 -s 4k 4 KiB writes at queue depth 32
 * Prints IOPS and MiB/s for both and the ratio Portico/tgt. Needs root for tgtd.
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { restoreDemo } from "../test/support/demo";
import { startTgt } from "../test/support/tgt";
import { freePort, waitForPort } from "../test/support/ports";
import { makeDataDir, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf("--seconds") + 1] || 0) || 10;
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
const GiB = 1024 ** 3;

interface Figure {
  iops: number;
  mibs: number;
}
type Workload = { name: string; run: (url: string) => Figure };

function exec(cmd: string, a: string[], timeoutMs: number): string {
  const r = spawnSync(cmd, a, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  const out = (r.stdout ?? "") + (r.stderr ?? "");
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(" ")} exited ${r.status}: ${out.slice(-500)}`);
  return out;
}

/** iscsi-perf prints "iops average N (M MB/s)" at the end; its MB are MiB. */
function iscsiPerf(extra: string[]): Workload["run"] {
  return (url) => {
    const out = exec("iscsi-perf", ["-t", String(seconds), ...extra, url], (seconds + 30) * 1000);
    const all = [...out.matchAll(/iops average (\d+) \((\d+) MB\/s\)/g)];
    const last = all.at(-1);
    if (!last) throw new Error(`no figures in iscsi-perf output: ${out.slice(-300)}`);
    return { iops: Number(last[1]), mibs: Number(last[2]) };
  };
}

function qemuBench(url: string): Figure {
  // Size the request count so the run lasts roughly `seconds` at ~50k IOPS, at least 20k.
  const count = Math.max(20_000, seconds * 50_000);
  const out = exec("qemu-img", ["bench", "-w", "-d", "32", "-s", "4k", "-c", String(count), "-f", "raw", url], (seconds * 10 + 60) * 1000);
  const m = /Run completed in ([\d.]+) seconds/.exec(out);
  if (!m) throw new Error(`no figures in qemu-img bench output: ${out.slice(-300)}`);
  const iops = count / Number(m[1]);
  return { iops: Math.round(iops), mibs: Math.round((iops * 4096) / 1024 ** 2) };
}

const workloads: Workload[] = [
  { name: "4k random read QD32 (iscsi-perf -m 32 -b 8 -r)", run: iscsiPerf(["-m", "32", "-b", "8", "-r"]) },
  { name: "1M sequential read QD8 (iscsi-perf -m 8 -b 2048)", run: iscsiPerf(["-m", "8", "-b", "2048"]) },
  { name: "4k write QD32 (qemu-img bench -w -d 32 -s 4k)", run: qemuBench },
];

async function withTgt<T>(fn: (url: string) => T): Promise<T> {
  const file = `/dev/shm/portico-bench-tgt-${process.pid}.img`;
  exec("truncate", ["-s", String(GiB), file], 10_000);
  try {
    const tgt = await startTgt(file, "iqn.2001-04.com.example:tgtbench");
    try {
      return fn(tgt.url);
    } finally {
      await tgt.stop();
    }
  } finally {
    rmSync(file, { force: true });
  }
}

async function withPortico<T>(fn: (url: string, p: PorticoProcess) => T): Promise<T> {
  const dataDir = makeDataDir("portico-bench-");
  const port = await freePort();
  const iqn = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.benchmark001";
  restoreDemo(dataDir, { iqn, storageObjects: [{ name: "bench", plugin: "ramdisk", size: GiB }], ports: [port] });
  const p = await startPortico({ dataDir, env: { UV_THREADPOOL_SIZE: "64" } });
  try {
    await waitForPort(port);
    return fn(`iscsi://127.0.0.1:${port}/${iqn}/0`, p);
  } finally {
    await p.stop().catch(() => p.kill());
    removeDir(dataDir);
  }
}

function rssMiB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  const r = spawnSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" });
  const kb = Number(r.stdout.trim());
  return kb ? Math.round(kb / 1024) : undefined;
}

async function main() {
  const results: Record<string, { portico?: Figure; tgt?: Figure }> = {};
  let porticoRss: number | undefined;
  if (only !== "tgt") {
    await withPortico((url, p) => {
      for (const w of workloads) (results[w.name] ??= {}).portico = w.run(url);
      porticoRss = rssMiB(p.child.pid);
    });
  }
  if (only !== "portico") {
    await withTgt((url) => {
      for (const w of workloads) (results[w.name] ??= {}).tgt = w.run(url);
    });
  }
  const fmt = (f?: Figure) => (f ? `${String(f.iops).padStart(7)} IOPS ${String(f.mibs).padStart(5)} MiB/s` : "       —");
  console.log(`\nPortico vs tgt, ${seconds} s per iscsi-perf run, loopback, ${new Date().toISOString()}`);
  console.log(`${"workload".padEnd(52)} ${"Portico".padEnd(26)} ${"tgt".padEnd(26)} ratio`);
  for (const [name, r] of Object.entries(results)) {
    const ratio = r.portico && r.tgt ? (r.portico.iops / r.tgt.iops).toFixed(2) : "—";
    console.log(`${name.padEnd(52)} ${fmt(r.portico).padEnd(26)} ${fmt(r.tgt).padEnd(26)} ${ratio}`);
  }
  if (porticoRss) console.log(`Portico RSS after the runs: ${porticoRss} MiB`);
}

main().catch((err) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

/**
 * The fileio IO paths alone, no iSCSI: what one 4 KiB command costs the target process on
 * each road (backstores/uring.ts), measured where a loaded machine matters least (CPU time
 * per IO from process.cpuUsage, all threads: io_uring's and the pool's workers included).
 *
 *   npx tsx bench/fd-path.ts [--count 100000] [--rounds 3] [--qd 32] [--file /var/tmp/x.img]
 *
 * Roads: pool (libuv's thread pool, the path before io_uring), uring (SQEs batched per turn,
 * completions reaped per wake-up), nowait (preadv2/pwritev2 RWF_NOWAIT on the event loop, the
 * ring when it would wait), inline (the default: nowait, and a lone write-back write as a timed
 * pwrite on the event loop where the file system refuses RWF_NOWAIT writes: fd.ts writeSync).
 * Each runs in its own child process (the road is chosen once per process), alternated,
 * `--rounds` times; prints median [min–max] of IOPS, CPU µs per IO and, per IO, the latency
 * p50/p99 (at --qd 1 the time of one command alone) and the context switches of all threads.
 * Random 4 KiB reads and write-back writes at queue depth --qd over a 1 GiB preallocated file
 * whose page cache is warm (read once first), as the iSCSI benchmark's fileio LUN is.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(arg("--count")) || 100_000;
const rounds = Number(arg("--rounds")) || 3;
const qd = Number(arg("--qd")) || 32;
const GiB = 1 << 30;

interface Result {
  iops: number;
  cpuUs: number;
  syncShare: number;
  p50us: number;
  p99us: number;
  /** Context switches per IO, all threads of the process (io-wq and pool workers included). */
  switches: number;
}

/** Voluntary + involuntary context switches of all this process's threads so far. */
function switchesNow(): number {
  let n = 0;
  for (const tid of fs.readdirSync("/proc/self/task")) {
    try {
      const st = fs.readFileSync(`/proc/self/task/${tid}/status`, "utf8");
      n += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
    } catch {
      // the thread exited meanwhile
    }
  }
  return n;
}

/** In the child: one road, one workload. */
async function child(road: string, write: boolean, file: string): Promise<Result> {
  const { openBackstore } = await import("../server/engine/backstores/index");
  const b = await openBackstore({ plugin: "fileio", name: "bench", dev: file, writeBack: true });
  const span = GiB / 4096;
  const data = Buffer.alloc(4096, 0x5a);
  let sync = 0;
  // Latency of each IO from its start to its answer (in the turn for a synchronous one).
  const lat = new Float64Array(count);
  const x0 = switchesNow();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    let inflight = 0;
    let started = 0;
    let done = 0;
    const finished = (i: number, t: number) => () => {
      lat[i] = performance.now() - t;
      inflight--;
      done++;
      pump();
    };
    // As the iSCSI loop runs it: a turn starts what arrived (up to qd), synchronous answers
    // included; the next turn comes when a completion (or setImmediate) wakes the loop.
    const pump = () => {
      let k = 0;
      while (inflight < qd && started < count && k < qd) {
        const i = started++;
        k++;
        const off = Math.floor(Math.random() * span) * 4096;
        const t = performance.now();
        if (write ? b.writeSync?.(off, data, false) : b.readSync?.(off, 4096)) {
          lat[i] = performance.now() - t;
          sync++;
          done++;
          continue;
        }
        inflight++;
        (write ? b.write(off, data, false) : b.read(off, 4096)).then(finished(i, t));
      }
      if (done >= count && inflight === 0) resolve();
      else if (inflight === 0) setImmediate(pump);
    };
    pump();
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const switches = (switchesNow() - x0) / count;
  await b.close();
  void road;
  lat.sort();
  const pct = (p: number) => Math.round(lat[Math.min(count - 1, Math.floor(p * count))] * 1000);
  return { iops: Math.round(count / seconds), cpuUs: (c.user + c.system) / count, syncShare: sync / count, p50us: pct(0.5), p99us: pct(0.99), switches };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const ROADS: Record<string, Record<string, string>> = {
  pool: { PORTICO_FD_IO: "pool", PORTICO_FD_NOWAIT: "0", PORTICO_FD_INLINE_WRITES: "0" },
  uring: { PORTICO_FD_IO: "uring", PORTICO_FD_NOWAIT: "0", PORTICO_FD_INLINE_WRITES: "0" },
  nowait: { PORTICO_FD_IO: "uring", PORTICO_FD_NOWAIT: "1", PORTICO_FD_INLINE_WRITES: "0" },
  inline: { PORTICO_FD_IO: "uring", PORTICO_FD_NOWAIT: "1", PORTICO_FD_INLINE_WRITES: "1" },
};

async function main() {
  if (args[0] === "--child") {
    const r = await child(args[1], args[2] === "write", args[3]);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const file = arg("--file") ?? `/var/tmp/portico-fd-path-${process.pid}.img`;
  const made = !fs.existsSync(file);
  if (made) execFileSync("fallocate", ["-l", String(GiB), file]);
  try {
    execFileSync("dd", [`if=${file}`, "of=/dev/null", "bs=1M", "status=none"]);
    const self = fileURLToPath(import.meta.url);
    const results = new Map<string, Result[]>();
    const { loadavg } = await import("node:os");
    const load0 = loadavg();
    for (let round = 0; round < rounds; round++) {
      for (const op of ["read", "write"]) {
        const roads = round % 2 === 0 ? Object.keys(ROADS) : Object.keys(ROADS).reverse();
        for (const road of roads) {
          // The child reads --count and --qd from its own arguments.
          const r = spawnSync(process.execPath, ["--import", "tsx", self, "--child", road, op, file, "--count", String(count), "--qd", String(qd)], {
            cwd: path.resolve(path.dirname(self), ".."),
            env: { ...process.env, ...ROADS[road] },
            encoding: "utf8",
            timeout: 600_000,
          });
          if (r.status !== 0) throw new Error(`${road} ${op}: exit ${r.status}: ${r.stderr.slice(-400)}`);
          const res = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Result;
          (results.get(`${op} ${road}`) ?? results.set(`${op} ${road}`, []).get(`${op} ${road}`)!).push(res);
          console.log(
            `round ${round + 1} ${op.padEnd(5)} ${road.padEnd(6)} ${String(res.iops).padStart(7)} IOPS  cpu ${res.cpuUs.toFixed(2)} µs/IO  p50 ${res.p50us} p99 ${res.p99us} µs  ctxsw ${res.switches.toFixed(2)}/IO  on the event loop at once ${(res.syncShare * 100).toFixed(0)} %`,
          );
        }
      }
    }
    const load1 = loadavg();
    console.log(`\nfileio backstore alone, 4 KiB random at QD${qd}, ${count} IOs per run, ${rounds} rounds alternating, ${new Date().toISOString()}`);
    console.log(`load average at start ${load0.map((x) => x.toFixed(2)).join(" ")}, at end ${load1.map((x) => x.toFixed(2)).join(" ")}; medians with [min–max]`);
    for (const [key, rs] of results) {
      const iops = rs.map((r) => r.iops);
      const cpu = rs.map((r) => r.cpuUs);
      console.log(
        `${key.padEnd(13)} ${String(median(iops)).padStart(7)} IOPS [${Math.min(...iops)}–${Math.max(...iops)}]  cpu ${median(cpu).toFixed(2)} µs/IO [${Math.min(...cpu).toFixed(2)}–${Math.max(...cpu).toFixed(2)}]` +
          `  p50 ${median(rs.map((r) => r.p50us))} µs  p99 ${median(rs.map((r) => r.p99us))} µs  ctxsw ${median(rs.map((r) => r.switches)).toFixed(2)}/IO`,
      );
    }
  } finally {
    if (made) fs.rmSync(file, { force: true });
  }
}

main().catch((err) => {
  console.error(`fd-path bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

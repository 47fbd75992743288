/**
 * Micro-benchmark of the IO counters' hot path (not a test; run by hand):
 *
 *   npx tsx test/unit/stats/bench-hotpath.ts
 *
 * Prints ns per start()/done() pair with counters on and off, the cost of one
 * sampler tick and of one /metrics scrape. At 100k IOPS a command has 10 µs of
 * budget per core, so 100 ns of counting is 1%.
 */
import { formatPrometheus } from "../../../server/engine/core/metrics";
import { IoSampler } from "../../../server/engine/core/sampler";
import { IoKind, IoStats, type IoHandle } from "../../../server/engine/core/stats";

const QD = 32;
const LUNS = 8;

function setup(): { stats: IoStats; handles: IoHandle[] } {
  const stats = new IoStats();
  const handles: IoHandle[] = [];
  for (let s = 0; s < 4; s++) {
    const session = stats.openSession(`s${s}`, { initiatorName: `iqn.i${s}`, targetName: "iqn.t", tpgTag: 1 });
    const conn = stats.openConnection(session, 0, "127.0.0.1:1");
    for (let l = 0; l < LUNS; l++) handles.push(stats.handle(session, conn, stats.lun("iqn.t", 1, l, `disk${l}`, "ramdisk")));
  }
  return { stats, handles };
}

/** `iterations` commands, QD at a time, round-robin over the handles, mixed reads/writes/other. */
function run(handles: IoHandle[], iterations: number, sharedClock = false): number {
  const starts = new Float64Array(QD);
  const owners: IoHandle[] = new Array<IoHandle>(QD);
  let k = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += QD) {
    // With sharedClock, one clock read per batch of QD commands (one socket read / one writev).
    const t = sharedClock ? performance.now() : undefined;
    for (let q = 0; q < QD; q++) {
      const h = handles[(k + q) % handles.length];
      owners[q] = h;
      starts[q] = h.start(t);
    }
    const t2 = sharedClock ? performance.now() : undefined;
    for (let q = 0; q < QD; q++) {
      const kind = (q & 3) === 0 ? IoKind.WRITE : (q & 7) === 7 ? IoKind.OTHER : IoKind.READ;
      owners[q].done(starts[q], kind as IoKind, 4096, 0, -1, t2);
    }
    k++;
  }
  return Number(process.hrtime.bigint() - t0) / iterations;
}

function bench(label: string, enabled: boolean, iterations: number, sharedClock = false): number {
  const { stats, handles } = setup();
  stats.enabled = enabled;
  run(handles, 200_000, sharedClock); // warm up (JIT)
  const samples: number[] = [];
  for (let r = 0; r < 7; r++) samples.push(run(handles, iterations, sharedClock));
  samples.sort((a, b) => a - b);
  const median = samples[3];
  console.log(`${label.padEnd(28)} ${median.toFixed(1).padStart(7)} ns per start/done pair (min ${samples[0].toFixed(1)}, max ${samples[6].toFixed(1)})`);
  return median;
}

const N = 2_000_000;
const clockT0 = process.hrtime.bigint();
let sink = 0;
for (let i = 0; i < N; i++) sink += performance.now();
const clockNs = Number(process.hrtime.bigint() - clockT0) / N;
console.log(`${"performance.now() alone".padEnd(28)} ${clockNs.toFixed(1).padStart(7)} ns per call${sink < 0 ? "!" : ""}`);

const off = bench("counters off", false, N);
const on = bench("counters on", true, N);
const shared = bench("counters on, shared clock", true, N, true);
for (const [label, cost] of [
  ["counting cost", on - off],
  ["counting cost, shared clock", shared - off],
] as const) {
  console.log(`${label.padEnd(28)} ${cost.toFixed(1).padStart(7)} ns per command`);
  for (const iops of [50_000, 100_000, 200_000]) {
    console.log(`  = ${((cost * iops) / 1e7).toFixed(2)}% of one core at ${iops / 1000}k IOPS`);
  }
}

// Sampler tick and scrape with a realistic registry: 64 LUNs, 256 sessions.
{
  const stats = new IoStats();
  for (let l = 0; l < 64; l++) stats.lun("iqn.t", 1, l, `disk${l}`, "fileio");
  for (let s = 0; s < 256; s++) {
    const session = stats.openSession(`s${s}`, { initiatorName: `iqn.i${s}`, targetName: "iqn.t", tpgTag: 1 });
    const conn = stats.openConnection(session, 0, "127.0.0.1:1");
    const h = stats.handle(session, conn, stats.lun("iqn.t", 1, s % 64, `disk${s % 64}`, "fileio"));
    for (let i = 0; i < 100; i++) h.done(h.start(), IoKind.READ, 4096, 0, -1);
  }
  let wall = Date.now();
  const sampler = new IoSampler(stats, { clock: () => wall });
  sampler.baseline();
  const ticks = 200;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ticks; i++) {
    wall += 1000;
    sampler.tick();
  }
  const tickUs = Number(process.hrtime.bigint() - t0) / ticks / 1000;
  console.log(`sampler tick (64 LUNs, 256 sessions, no listener): ${tickUs.toFixed(1)} µs`);
  sampler.on("sample", () => undefined);
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < ticks; i++) {
    wall += 1000;
    sampler.tick();
  }
  console.log(`sampler tick with a 'sample' listener: ${(Number(process.hrtime.bigint() - t1) / ticks / 1000).toFixed(1)} µs`);
  const t2 = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < 20; i++) bytes = formatPrometheus(stats).length;
  console.log(`formatPrometheus (64 LUNs): ${(Number(process.hrtime.bigint() - t2) / 20 / 1e6).toFixed(2)} ms, ${bytes} bytes`);
}

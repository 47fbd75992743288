/**
 * Portico over an RBD image against fio's rbd engine on the same image (issue 12 §6).
 *
 *   npm run bench -- --only rbd [--rbd-seconds 8] [--rbd-rounds 4]
 *   (npm run bench runs it after the ramdisk rows.)
 *
 * A single-node Ceph (test/support/ceph.ts: 1 mon, 1 mgr, 1 memstore OSD, on this machine),
 * one 1 GiB image made with `rbd create` and filled once by fio (1 MiB writes) so every
 * object exists: reads then reach the OSD on both sides (librbd's object map would answer
 * reads of never-written objects without one), writes are overwrites on both sides.
 * Portico serves the image as a tcmu user:rbd LUN (the appliance process, restoreconfig);
 * fio opens it with librbd directly (ioengine=rbd), the ceiling Portico's path is held to.
 *
 * | workload                      | Portico (iSCSI client)               | fio-rbd                      |
 * | 4 KiB random read, QD32       | iscsi-perf -m 32 -b 8 -r             | rw=randread bs=4k iodepth=32 |
 * | 4 KiB scattered write, QD32   | qemu-img bench -w -d 32 -s 4k -S 4k×7919 | rw=randwrite bs=4k iodepth=32 |
 * | 1 MiB sequential read, QD8    | iscsi-perf -m 8 -b 2048              | rw=read bs=1M iodepth=8      |
 * | 1 MiB sequential write, QD8   | qemu-img bench -w -d 8 -s 1M         | rw=write bs=1M iodepth=8     |
 *
 * No libiscsi tool does random writes, so Portico's 4 KiB write run steps 7919 blocks
 * (~31 MiB) between requests: every request lands in a different 4 MiB object and the
 * whole image is covered (7919 is prime to the 262144 blocks), which for RBD is what
 * random means. Portico and fio alternate A B, B A over the rounds so the shared machine's
 * drift hits both (the table gives the median ratio and its range over the rounds: a ratio is
 * only worth quoting when its range lies on one side of the goal); the image's exclusive lock moves between them between runs (librbd hands it
 * over on request in ~0.1 s). Both sides write through librbd's write-back cache (see
 * fioConf). Prints IOPS, MiB/s and the ratio Portico/fio-rbd, the same client on a ramdisk
 * LUN of the same target (the iSCSI hop's ceiling on this machine), CPU per IO, and the
 * binding alone (RbdBackstore.read in this process, no iSCSI) against fio's 4 KiB reads.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startCeph, type Ceph } from "../test/support/ceph";
import { restoreDemo } from "../test/support/demo";
import { freePort, waitForPort } from "../test/support/ports";
import { makeDataDir, removeDir, startPortico } from "../test/support/portico";

export interface Figure {
  iops: number;
  mibs: number;
  /** CPU time of the process (Portico's, or fio's with its librbd threads) per IO, µs. */
  cpuUs?: number;
  /** IOs the run completed (qemu-img bench runs a count; iscsi-perf a time). */
  ios?: number;
}

/**
 * The binding alone: RbdBackstore.read from this process, 4 KiB random reads at QD32, no
 * iSCSI. What the addon and rbd.ts cost per IO on the event loop's thread (`main`) and in all
 * (`cpuUs`, librbd's threads included), against fio-rbd's 4 KiB random read.
 */
export interface BindingFigure extends Figure {
  mainUs: number;
}

export async function bindingRead(conf: string, image: string, seconds: number): Promise<BindingFigure> {
  const { RbdBackstore } = await import("../server/engine/backstores/rbd");
  const b = await RbdBackstore.open("binding", `rbd/rbd/${image};conf=${conf}`, 512);
  try {
    const mainCpu = () => {
      const f = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1].split(" ");
      return (Number(f[11]) + Number(f[12])) / 100;
    };
    const allCpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    };
    const blocks = IMAGE_SIZE / 4096;
    const m0 = mainCpu();
    const a0 = allCpu();
    const t0 = Date.now();
    const end = t0 + seconds * 1000;
    let n = 0;
    const worker = async () => {
      while (Date.now() < end) {
        const buf = await b.read(Math.floor(Math.random() * blocks) * 4096, 4096);
        // As the iSCSI path does once the Data-In has left: without it every read took a fresh
        // buffer and the figure carried major GCs the appliance does not have (about 8 µs per IO).
        b.releaseRead(buf);
        n++;
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    const dt = (Date.now() - t0) / 1000;
    return {
      iops: Math.round(n / dt),
      mibs: Math.round((n * 4096) / dt / MiB),
      mainUs: Math.round(((mainCpu() - m0) * 1e6) / n),
      cpuUs: Math.round(((allCpu() - a0) * 1e6) / n),
    };
  } finally {
    await b.close();
  }
}

export interface RbdRow {
  name: string;
  portico: Figure;
  fio: Figure;
  /** The same client on a ramdisk LUN of the same target: the iSCSI hop's ceiling on this machine. */
  ramdisk: Figure;
  /** Portico/fio-rbd IOPS of each round (neighbouring runs), and each side's IOPS per round. */
  ratios: number[];
  porticoIops: number[];
  fioIops: number[];
}

/**
 * The login parameters ceph-iscsi gives every target it creates (gwcli's target defaults,
 * ceph_iscsi_config/gateway_setting.py TGT_SETTINGS: first_burst_length 262144,
 * max_burst_length 524288, max_recv_data_segment_length 262144; immediate_data, initial_r2t
 * and max_outstanding_r2t stay at LIO's Yes/Yes/1). The rbd row's TPG uses them: it is the
 * setup an RBD gateway runs with, where LIO's own default MaxRecvDataSegmentLength (8192) makes a
 * 1 MiB write 128 Data-Out PDUs in 4 R2T round trips (MaxBurstLength 262144) instead of 256 KiB
 * of immediate data and 2 R2Ts (docs/performance.md, rbd). Portico's defaults stay LIO's.
 */
export const CEPH_ISCSI_TPG_PARAMETERS: Record<string, string> = {
  MaxRecvDataSegmentLength: "262144",
  FirstBurstLength: "262144",
  MaxBurstLength: "524288",
};

const MiB = 1024 * 1024;
const IMAGE_SIZE = 1024 * MiB;
const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.benchrbd0001";

/**
 * Throws unless every byte of `image` is allocated (`rbd du --exact`: used = provisioned). A read
 * of a never-written RBD object is answered without reading data (librbd's object map, or the
 * OSD's ENOENT), so it is far cheaper than a read of data: both sides of the comparison must read
 * written data, and the fill must have covered the whole image for that.
 */
export function assertFilled(ceph: Ceph, image: string): { provisioned: number; used: number } {
  const j = JSON.parse(ceph.rbd("du", "--exact", "--format", "json", `rbd/${image}`)) as { images: { provisioned_size: number; used_size: number }[] };
  const { provisioned_size: provisioned, used_size: used } = j.images[0];
  if (used < provisioned) throw new Error(`image rbd/${image} is not filled: ${used} of ${provisioned} bytes allocated; reads of unwritten objects would be measured`);
  return { provisioned, used };
}

/** Median, lowest and highest of a list of numbers, and the spread (highest - lowest) relative to the median. */
export function spread(xs: number[]): { median: number; min: number; max: number; rel: number } {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { median, min: s[0], max: s[n - 1], rel: (s[n - 1] - s[0]) / median };
}

/**
 * What a set of per-round ratios Portico/fio-rbd says about the goal (>= `goal`): only a ratio
 * whose spread lies wholly on one side of the goal says anything.
 */
export function verdict(ratios: number[], goal = 0.8): string {
  const r = spread(ratios);
  const head = `ratio ${r.median.toFixed(2)} [${r.min.toFixed(2)}–${r.max.toFixed(2)}] over ${ratios.length} rounds`;
  if (r.min >= goal) return `${head}: >= ${goal} in every round (met)`;
  if (r.max < goal) return `${head}: < ${goal} in every round (not met)`;
  return `${head}: the spread straddles ${goal} (undecided: more rounds or a quieter machine)`;
}

function exec(cmd: string, a: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, a, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * MiB, env: env ?? process.env });
  const out = (r.stdout ?? "") + (r.stderr ?? "");
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(" ")} exited ${r.status ?? r.signal}: ${out.slice(-500)}`);
  return out;
}

interface Workload {
  name: string;
  fio: string[];
  portico: (url: string, seconds: number) => Figure;
}

function iscsiPerf(extra: string[]): Workload["portico"] {
  return (url, seconds) => {
    const out = exec("iscsi-perf", ["-t", String(seconds), ...extra, url], (seconds + 60) * 1000);
    const last = [...out.matchAll(/iops average (\d+) \((\d+) MB\/s\)/g)].at(-1);
    if (!last) throw new Error(`no figures in iscsi-perf output: ${out.slice(-300)}`);
    return { iops: Number(last[1]), mibs: Number(last[2]), ios: Number(last[1]) * seconds };
  };
}

/** qemu-img bench writes a fixed count; `rate` (IOPS guess) sizes it to last about `seconds`. */
function qemuBench(depth: number, size: number, step: number, rate: number): Workload["portico"] {
  return (url, seconds) => {
    const count = Math.max(200, Math.round(seconds * rate));
    const a = ["bench", "-w", "-d", String(depth), "-s", String(size), "-S", String(step), "-c", String(count), "-f", "raw", url];
    const out = exec("qemu-img", a, (seconds * 20 + 120) * 1000);
    const m = /Run completed in ([\d.]+) seconds/.exec(out);
    if (!m) throw new Error(`no figures in qemu-img bench output: ${out.slice(-300)}`);
    const iops = count / Number(m[1]);
    return { iops: Math.round(iops), mibs: Math.round((iops * size) / MiB), ios: count };
  };
}

const workloads: Workload[] = [
  { name: "rbd 4k random read QD32", fio: ["--rw=randread", "--bs=4k", "--iodepth=32"], portico: iscsiPerf(["-m", "32", "-b", "8", "-r"]) },
  {
    name: "rbd 4k random write QD32",
    fio: ["--rw=randwrite", "--bs=4k", "--iodepth=32"],
    portico: qemuBench(32, 4096, 4096 * 7919, 2000),
  },
  { name: "rbd 1M sequential read QD8", fio: ["--rw=read", "--bs=1M", "--iodepth=8"], portico: iscsiPerf(["-m", "8", "-b", "2048"]) },
  { name: "rbd 1M sequential write QD8", fio: ["--rw=write", "--bs=1M", "--iodepth=8"], portico: qemuBench(8, MiB, MiB, 300) },
];

function fio(ceph: Ceph, image: string, extra: string[], seconds: number): Figure {
  const a = [
    "--name=rbd",
    "--ioengine=rbd",
    "--clientname=admin",
    "--pool=rbd",
    `--rbdname=${image}`,
    "--direct=1",
    `--size=${IMAGE_SIZE}`,
    "--output-format=json",
    ...extra,
  ];
  if (seconds > 0) a.push("--time_based", `--runtime=${seconds}`, "--ramp_time=1");
  // `times` after fio: the shell's children's user and system CPU (fio and its librbd threads).
  const quoted = a.map((x) => `'${x}'`).join(" ");
  const out = exec("bash", ["-c", `fio ${quoted} && times`], (seconds + 600) * 1000, { ...process.env, CEPH_CONF: fioConf(ceph) });
  const json = JSON.parse(out.slice(out.indexOf("{"), out.lastIndexOf("}") + 1)) as {
    jobs: { read: { iops: number; bw_bytes: number; total_ios: number }; write: { iops: number; bw_bytes: number; total_ios: number } }[];
  };
  const j = json.jobs[0];
  const side = j.read.iops > 0 ? j.read : j.write;
  const t = [...out.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)].at(-1);
  const cpu = t ? Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]) : undefined;
  // fio's own total includes ramp_time's IOs in CPU but not in total_ios: close enough for a 1 s ramp.
  return { iops: Math.round(side.iops), mibs: Math.round(side.bw_bytes / MiB), cpuUs: cpu && side.total_ios ? Math.round((cpu * 1e6) / side.total_ios) : undefined };
}

/**
 * fio's ceph.conf: the cluster's, with librbd's cache write-back from the start. Portico's
 * librbd turns write-back at the initiator's first SYNCHRONIZE CACHE (qemu sends one;
 * rbd_cache_writethrough_until_flush) and reports WCE=1; fio never flushes, so without this
 * its writes would wait for the OSD while Portico's are acknowledged from the cache.
 */
function fioConf(ceph: Ceph): string {
  const file = path.join(ceph.dir, "fio-ceph.conf");
  if (!existsSync(file)) writeFileSync(file, `${readFileSync(ceph.conf, "utf8")}\n[client]\nrbd cache writethrough until flush = false\n`);
  return file;
}

/** utime + stime of a process, seconds. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
}

function medianFigure(fs: Figure[]): Figure {
  const cpu = fs.flatMap((f) => (f.cpuUs === undefined ? [] : [f.cpuUs]));
  return { iops: median(fs.map((f) => f.iops)), mibs: median(fs.map((f) => f.mibs)), cpuUs: cpu.length ? median(cpu) : undefined };
}

/** Runs the rbd rows (and the binding-alone figure); `log` gets each run's figures as they come. */
export async function runRbdBench(
  seconds: number,
  rounds = 1,
  log: (line: string) => void = console.log,
): Promise<{ rows: RbdRow[]; binding: BindingFigure }> {
  const ceph = await startCeph();
  const dataDir = makeDataDir("portico-bench-rbd-");
  try {
    const image = "bench";
    ceph.rbd("create", "--size", String(IMAGE_SIZE / MiB), `rbd/${image}`);
    log(`rbd: filling ${image} (1 GiB) with fio so every object exists`);
    fio(ceph, image, ["--rw=write", "--bs=4M", "--iodepth=8"], 0);
    // Reads of never-written objects cost far less than reads of data: both sides read written data.
    assertFilled(ceph, image);
    const port = await freePort();
    restoreDemo(dataDir, {
      iqn: IQN,
      storageObjects: [
        { name: "bench", plugin: "user", size: IMAGE_SIZE, config: `rbd/rbd/${image};conf=${ceph.conf}` },
        { name: "ceiling", plugin: "ramdisk", size: IMAGE_SIZE },
      ],
      ports: [port],
      tpgParameters: CEPH_ISCSI_TPG_PARAMETERS,
    });
    const p = await startPortico({ dataDir, env: { UV_THREADPOOL_SIZE: "64" } });
    try {
      await waitForPort(port);
      const url = `iscsi://127.0.0.1:${port}/${IQN}/0`;
      const ramdiskUrl = `iscsi://127.0.0.1:${port}/${IQN}/1`;
      const pid = p.child.pid!;
      const measured = (run: () => Figure): Figure => {
        const c0 = cpuSeconds(pid);
        const f = run();
        const ios = f.ios ?? f.iops * seconds;
        return { ...f, cpuUs: ios ? Math.round(((cpuSeconds(pid) - c0) * 1e6) / ios) : undefined };
      };
      // The ramdisk allocates its pages on first write: fill it so its writes are overwrites too.
      exec("qemu-img", ["bench", "-w", "-c", String(IMAGE_SIZE / MiB), "-d", "8", "-s", "1M", "-f", "raw", ramdiskUrl], 600_000);
      const runs = new Map<string, { portico: Figure[]; fio: Figure[]; ramdisk: Figure[] }>();
      for (let round = 0; round < rounds; round++) {
        for (const w of workloads) {
          const r = runs.get(w.name) ?? { portico: [], fio: [], ramdisk: [] };
          runs.set(w.name, r);
          // Take the image's exclusive lock back from fio before the clock starts (fio's ramp_time does the same for fio).
          if (w.fio[0].includes("write")) exec("qemu-img", ["bench", "-w", "-c", "16", "-d", "1", "-s", "4k", "-f", "raw", url], 120_000);
          // Portico and fio-rbd in A B order in even rounds, B A in odd ones: over an even number
          // of rounds the shared machine's drift hits both alike.
          let pf: Figure, ff: Figure;
          if (round % 2 === 0) {
            pf = measured(() => w.portico(url, seconds));
            ff = fio(ceph, image, w.fio, seconds);
          } else {
            ff = fio(ceph, image, w.fio, seconds);
            if (w.fio[0].includes("write")) exec("qemu-img", ["bench", "-w", "-c", "16", "-d", "1", "-s", "4k", "-f", "raw", url], 120_000);
            pf = measured(() => w.portico(url, seconds));
          }
          const rf = measured(() => w.portico(ramdiskUrl, seconds));
          r.portico.push(pf);
          r.fio.push(ff);
          r.ramdisk.push(rf);
          log(`  ${w.name}: Portico ${pf.iops} IOPS ${pf.mibs} MiB/s, fio-rbd ${ff.iops} IOPS ${ff.mibs} MiB/s (${(pf.iops / ff.iops).toFixed(2)}); Portico ramdisk ${rf.iops} IOPS`);
        }
      }
      const bindings: BindingFigure[] = [];
      for (let round = 0; round < rounds; round++) {
        const bf = await bindingRead(ceph.conf, image, seconds);
        bindings.push(bf);
        log(`  binding alone, 4k random read QD32: ${bf.iops} IOPS, ${bf.mainUs} µs/IO on the event loop, ${bf.cpuUs} µs/IO in all`);
      }
      const mid = [...bindings].sort((a, b) => a.iops - b.iops)[Math.floor(bindings.length / 2)];
      const rows = workloads.map((w) => {
        const r = runs.get(w.name)!;
        return {
          name: w.name,
          portico: medianFigure(r.portico),
          fio: medianFigure(r.fio),
          ramdisk: medianFigure(r.ramdisk),
          ratios: r.portico.map((p, i) => p.iops / r.fio[i].iops),
          porticoIops: r.portico.map((p) => p.iops),
          fioIops: r.fio.map((f) => f.iops),
        };
      });
      return { rows, binding: mid };
    } finally {
      await p.stop().catch(() => p.kill());
    }
  } finally {
    removeDir(dataDir);
    await ceph.stop();
  }
}

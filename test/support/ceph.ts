/**
 * A single-node Ceph for tests and benchmarks (scale-out.md §5, after go-ceph's micro-osd.sh):
 * 1 monitor, 1 manager, 1 memstore OSD, auth none, pool size 1, all on 127.0.0.1 on free
 * ports, everything in a temporary directory. The daemons run in the foreground as our
 * children and are stopped by pid. A memstore OSD loses its data when it stops, so the
 * "OSD stops answering" fault is SIGSTOP/SIGCONT (pauseOsd/resumeOsd), not a restart.
 *
 * Needs Debian's ceph-mon, ceph-osd, ceph-mgr and ceph-common (scripts/test.mjs installs them).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "./ports";
import { stopProcess } from "./sigstop";

export interface Ceph {
  dir: string;
  /** ceph.conf for clients (Portico's `conf=`, rbd, fio). */
  conf: string;
  /** The monitor's address, as in mon_host. */
  monHost: string;
  /** Runs the `ceph` CLI against this cluster; throws with its stderr on failure. */
  ceph(...args: string[]): string;
  /** Runs the `rbd` CLI against this cluster; throws with its stderr on failure. */
  rbd(...args: string[]): string;
  /** Runs `rbd` and returns its raw stdout as bytes (e.g. `rbd export img -`). */
  rbdBytes(...args: string[]): Buffer;
  /** SIGSTOP / SIGCONT the OSD: it stops answering without losing memstore data (pauseOsd returns once all its threads are stopped). */
  pauseOsd(): void;
  resumeOsd(): void;
  /** Pids of the daemons (tests check they are gone after stop). */
  pids(): number[];
  /** Stops every daemon by pid (SIGTERM, then SIGKILL after 5 s) and removes the directory. */
  stop(): Promise<void>;
}

export function cephAvailable(): string | undefined {
  for (const bin of ["ceph-mon", "ceph-osd", "ceph-mgr", "ceph", "rbd"]) {
    if (spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0) return `${bin} is not installed (Debian package ${bin === "rbd" || bin === "ceph" ? "ceph-common" : bin})`;
  }
  return undefined;
}

function confText(dir: string, fsid: string, monPort: number, portMin: number): string {
  return `[global]
fsid = ${fsid}
osd crush chooseleaf type = 0
run dir = ${dir}/run
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon host = v1:127.0.0.1:${monPort}
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr2 = false
ms bind port min = ${portMin}
ms bind port max = ${portMin + 99}
mon allow pool delete = true
mon data avail crit = 0
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
# A 2-core machine shared by many: few threads, little memory, quiet logs.
osd op num shards = 1
osd op num threads per shard = 2
osd memory target = 939524096
ms async op threads = 1
debug ms = 0
debug osd = 0
debug mon = 0
debug monc = 0
debug rbd = 0
debug rados = 0
debug objecter = 0
mgr stats period = 5

[mon.a]
mon data = ${dir}/mon
mon addr = v1:127.0.0.1:${monPort}

[osd.0]
osd data = ${dir}/osd
osd objectstore = memstore
memstore device bytes = 2147483648
osd class load list = *
osd class default list = *

[mgr.x]
mgr data = ${dir}/mgr
mgr initial modules = iostat
`;
}

async function retry<T>(fn: () => T, tries = 10): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return fn();
    } catch (err) {
      if (i >= tries) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Starts the cluster and creates pool `rbd` (rbd pool init). Takes ~10-20 s. */
export async function startCeph(opts: { pools?: string[] } = {}): Promise<Ceph> {
  const missing = cephAvailable();
  if (missing) throw new Error(`cannot start Ceph: ${missing}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-ceph-"));
  for (const d of ["mon", "osd", "mgr", "run", "log"]) fs.mkdirSync(path.join(dir, d));
  const monPort = await freePort();
  const portMin = 20000 + Math.floor(Math.random() * 400) * 100;
  const conf = path.join(dir, "ceph.conf");
  fs.writeFileSync(conf, confText(dir, randomUUID(), monPort, portMin));
  const env = { ...process.env, CEPH_CONF: conf };
  const children = new Map<string, ChildProcess>();

  const run = (cmd: string, args: string[], timeoutMs = 60_000) => {
    const r = spawnSync(cmd, args, { env, encoding: "buffer", timeout: timeoutMs, maxBuffer: 1 << 30 });
    if (r.status !== 0) {
      throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr?.toString().trim() || r.error?.message}`);
    }
    return r.stdout;
  };
  const daemon = (name: string, cmd: string, args: string[]) => {
    const child = spawn(cmd, [...args, "-f"], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    child.on("exit", (code, sig) => {
      if (children.get(name) === child && !stopping) process.stderr.write(`[ceph] ${name} exited (${code ?? sig}): ${stderr}\n`);
    });
    children.set(name, child);
  };
  let stopping = false;

  const stop = async () => {
    stopping = true;
    const waits = [...children.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once("exit", () => resolve());
          try {
            c.kill("SIGCONT");
            c.kill("SIGTERM");
          } catch {
            resolve();
          }
          setTimeout(() => {
            try {
              c.kill("SIGKILL");
            } catch {
              // already gone
            }
          }, 5000).unref();
        }),
    );
    await Promise.all(waits);
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const ceph = (...args: string[]) => run("ceph", ["--connect-timeout", "20", ...args]).toString();
  const rbd = (...args: string[]) => run("rbd", args).toString();
  try {
    run("ceph-mon", ["--id", "a", "--mkfs", "--keyring", "/dev/null"]);
    fs.writeFileSync(path.join(dir, "mon", "keyring"), "");
    daemon("mon.a", "ceph-mon", ["--id", "a"]);
    const id = await retry(() => ceph("osd", "create").trim());
    if (id !== "0") throw new Error(`ceph osd create gave id ${id}, expected 0`);
    await retry(() => ceph("osd", "crush", "add", "osd.0", "1", "root=default"));
    run("ceph-osd", ["--id", "0", "--mkjournal", "--mkfs"]);
    daemon("osd.0", "ceph-osd", ["--id", "0"]);
    daemon("mgr.x", "ceph-mgr", ["--id", "x"]);
    const deadline = Date.now() + 90_000;
    let osdRestarts = 0;
    for (;;) {
      // Seen on the loaded shared machine: the OSD's first boot fails with "'wrong fsid':
      // (1) Operation not permitted" on its first monitor command and exits; a second
      // start of the same OSD comes up. Restart it (by pid, our child) a few times.
      const o = children.get("osd.0")!;
      if ((o.exitCode !== null || o.signalCode !== null) && osdRestarts < 3) {
        osdRestarts++;
        process.stderr.write(`[ceph] osd.0 exited during start; starting it again (${osdRestarts})\n`);
        daemon("osd.0", "ceph-osd", ["--id", "0"]);
      }
      // The monitor may still be settling (EPERM "problem getting command descriptions"): retry.
      let stat = "";
      try {
        stat = ceph("osd", "stat");
      } catch (err) {
        stat = (err as Error).message;
      }
      if (/1 up/.test(stat)) break;
      if (Date.now() > deadline) throw new Error(`OSD did not come up: ${stat}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const pool of opts.pools ?? ["rbd"]) {
      await retry(() => ceph("osd", "pool", "create", pool, "8"));
      await retry(() => rbd("pool", "init", pool));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const osd = () => children.get("osd.0")!;
  return {
    dir,
    conf,
    monHost: `127.0.0.1:${monPort}`,
    ceph,
    rbd,
    rbdBytes: (...args: string[]) => run("rbd", args, 300_000),
    pauseOsd: () => stopProcess(osd()),
    resumeOsd: () => void osd().kill("SIGCONT"),
    pids: () => [...children.values()].map((c) => c.pid!).filter(Boolean),
    stop,
  };
}

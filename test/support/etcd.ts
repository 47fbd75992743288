/**
 * A single etcd for tests (scale-out.md §6): Debian's etcd-server on free loopback ports,
 * data in a temporary directory, run as our child and stopped by pid. Starts in well under
 * a second. restart() keeps the data directory (the "etcd restarted under load" fault);
 * pause()/resume() stop it answering without losing anything.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, waitForPort } from "./ports";

export interface Etcd {
  /** `http://127.0.0.1:<port>`, the client URL. */
  url: string;
  /** `etcd://127.0.0.1:<port>`, as PORTICO_CLUSTER takes it. */
  clusterUrl: string;
  port: number;
  /** Runs etcdctl (API v3) against this etcd; throws with its stderr on failure. */
  ctl(...args: string[]): string;
  pid(): number | undefined;
  pause(): void;
  resume(): void;
  /** SIGTERM, wait, start again on the same ports and data. */
  restart(): Promise<void>;
  /** Stops etcd by pid and removes its directory. */
  stop(): Promise<void>;
}

export function etcdAvailable(): string | undefined {
  for (const bin of ["etcd", "etcdctl"]) {
    if (spawnSync("sh", ["-c", `command -v ${bin}`]).status !== 0) return `${bin} is not installed (Debian packages etcd-server, etcd-client)`;
  }
  return undefined;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGCONT");
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(t);
}

export async function startEtcd(): Promise<Etcd> {
  const missing = etcdAvailable();
  if (missing) throw new Error(missing);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-etcd-"));
  const port = await freePort();
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let log = "";
  const launch = async () => {
    child = spawn(
      "etcd",
      [
        "--name", "test", "--data-dir", path.join(dir, "data"),
        "--listen-client-urls", url, "--advertise-client-urls", url,
        "--listen-peer-urls", `http://127.0.0.1:${peerPort}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peerPort}`,
        "--initial-cluster", `test=http://127.0.0.1:${peerPort}`,
        "--heartbeat-interval", "50", "--election-timeout", "250",
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === "x64" ? "" : process.arch } },
    );
    child.stdout!.on("data", (d) => (log = (log + d).slice(-20_000)));
    child.stderr!.on("data", (d) => (log = (log + d).slice(-20_000)));
    const c = child;
    await Promise.race([
      waitForPort(port, "127.0.0.1", 20_000),
      new Promise((_, reject) => c.once("exit", (code) => reject(new Error(`etcd exited with ${code}:\n${log}`)))),
    ]);
    // Serving once a write goes through.
    for (let i = 0; i < 50; i++) {
      const r = spawnSync("etcdctl", ["--endpoints", url, "put", "/portico-test/ready", "1"], { env: { ...process.env, ETCDCTL_API: "3" }, encoding: "utf8" });
      if (r.status === 0) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`etcd at ${url} does not accept writes:\n${log}`);
  };
  await launch();
  return {
    url,
    clusterUrl: `etcd://127.0.0.1:${port}`,
    port,
    ctl(...args) {
      const r = spawnSync("etcdctl", ["--endpoints", url, ...args], { env: { ...process.env, ETCDCTL_API: "3" }, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`etcdctl ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    },
    pid: () => child?.pid,
    pause: () => void child?.kill("SIGSTOP"),
    resume: () => void child?.kill("SIGCONT"),
    async restart() {
      await stopChild(child);
      await launch();
    },
    async stop() {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the real appliance process (server/main.ts) on free ports with its own
 * data directory, and runs the `portico` CLI against it. Nothing is mocked.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitForPort } from "./ports";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface PorticoProcess {
  dataDir: string;
  httpPort: number;
  url: string;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** SIGTERM, then resolves with the exit code (rejects if it does not exit in `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | null>;
  kill(): void;
}

/** A fresh data directory, and its storage directory `<data dir>-storage` (fileio files may not live in the data directory). */
export function makeDataDir(prefix = "portico-it-"): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  mkdirSync(storageDirOf(dir), { recursive: true });
  return dir;
}

/** Where the appliance puts new fileio files by default, and where tests put theirs: `<data dir>-storage`. */
export function storageDirOf(dataDir: string): string {
  return `${dataDir}-storage`;
}

/** Removes a directory, and with a data directory its storage directory too. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  rmSync(storageDirOf(dir), { recursive: true, force: true });
}

/** Teardown: stops the appliance (SIGKILL if SIGTERM does not end it in time) and removes its data directory. */
export async function stopAndRemove(server: PorticoProcess | undefined, dataDir: string | undefined): Promise<void> {
  await server?.stop().catch(() => server.kill());
  if (dataDir) removeDir(dataDir);
}

export async function startPortico(opts: { dataDir?: string; httpPort?: number; env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<PorticoProcess> {
  const dataDir = opts.dataDir ?? makeDataDir();
  const httpPort = opts.httpPort ?? (await freePort());
  let out = "";
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), "--import", "tsx", path.join(root, "server", "main.ts")], {
    cwd: root,
    env: {
      ...process.env,
      PORTICO_DATA_DIR: dataDir,
      PORTICO_HTTP_HOST: "127.0.0.1",
      PORTICO_HTTP_PORT: String(httpPort),
      UV_THREADPOOL_SIZE: "32",
      NEXT_TELEMETRY_DISABLED: "1",
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const proc: PorticoProcess = {
    dataDir,
    httpPort,
    url: `http://127.0.0.1:${httpPort}`,
    child,
    output: () => out,
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const timer = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`portico did not exit within ${timeoutMs} ms after SIGTERM`)), timeoutMs),
      );
      return Promise.race([exited, timer]);
    },
    kill() {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
  try {
    await Promise.race([
      waitForPort(httpPort, "127.0.0.1", 90_000),
      exited.then((code) => {
        throw new Error(`portico exited with ${code} during start-up:\n${out}`);
      }),
    ]);
    // The runtime file is written once restore is done and HTTP is up.
    const runtime = path.join(dataDir, "portico.runtime.json");
    for (let i = 0; i < 100 && !existsSync(runtime); i++) await new Promise((r) => setTimeout(r, 100));
  } catch (err) {
    proc.kill();
    throw err;
  }
  return proc;
}

/**
 * The onboarding setup code header for a request to the appliance of `dataDir`: the code is
 * read from `<dataDir>/setup-code`, as an admin (root) would; every onboarding request needs
 * it, from loopback too. Empty once onboarding is done (the file is gone).
 */
export function setupCodeHeaders(dataDir: string): Record<string, string> {
  const file = path.join(dataDir, "setup-code");
  return existsSync(file) ? { "x-portico-setup-code": readFileSync(file, "utf8").trim() } : {};
}

export interface HttpReply {
  status: number;
  /** The portico_session cookie the reply sets, if any. */
  cookie: string | undefined;
  body: string;
}

/**
 * One HTTP request to the appliance from a chosen loopback source address (node:http: fetch
 * cannot pick it); a `body` is sent as JSON with POST unless `method` says otherwise.
 */
export function httpRequest(
  server: PorticoProcess,
  opts: { path: string; method?: string; body?: unknown; from?: string; headers?: Record<string, string> },
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = http.request(
      {
        host: "127.0.0.1",
        port: server.httpPort,
        path: opts.path,
        method: opts.method ?? (payload ? "POST" : "GET"),
        localAddress: opts.from,
        agent: false,
        headers: { ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}), ...opts.headers },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, cookie: res.headers["set-cookie"]?.find((c) => c.startsWith("portico_session=")), body }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `portico <args>` (bin/portico.mjs) with PORTICO_DATA_DIR. */
export function portico(dataDir: string, args: string[], input?: string): CliResult {
  const r = spawnSync(process.execPath, [path.join(root, "bin", "portico.mjs"), ...args], {
    cwd: root,
    env: { ...process.env, PORTICO_DATA_DIR: dataDir },
    encoding: "utf8",
    input,
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs an external command (iscsi-ls, qemu-img…) and returns its output; never throws. */
export function sh(cmd: string, args: string[], timeoutMs = 120_000): CliResult {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}

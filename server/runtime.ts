/**
 * Process helpers shared by server/main.ts and server/cli.ts: settings from the
 * environment, and the runtime file `<data dir>/portico.runtime.json` through
 * which the CLI finds (and authenticates to) a running appliance.
 */
import fs from "node:fs";
import { DataDirLockedError, lockDataDir } from "./db/lock";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defaultStorageDir, type FileioPolicyOptions } from "./engine/backstores/path-policy";

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface Settings {
  dataDir: string;
  /** Where new fileio files go by default: PORTICO_STORAGE_DIR, else `<data dir>-storage` next to the data directory. */
  storageDir: string;
  httpHost: string;
  httpPort: number;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const port = Number(env.PORTICO_HTTP_PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORTICO_HTTP_PORT=${env.PORTICO_HTTP_PORT} is not a port number`);
  const dataDir = path.resolve(env.PORTICO_DATA_DIR || "./data");
  return {
    dataDir,
    storageDir: path.resolve(env.PORTICO_STORAGE_DIR || defaultStorageDir(dataDir)),
    httpHost: env.PORTICO_HTTP_HOST || "127.0.0.1",
    httpPort: port,
  };
}

/** The fileio path policy's fixed places (backstores/path-policy.ts): never the data directory or the code, new files in the storage directory. */
export function fileioPolicy(settings: Pick<Settings, "dataDir" | "storageDir">): FileioPolicyOptions {
  return { dataDir: settings.dataDir, appDir: packageRoot, storageDir: settings.storageDir };
}

export function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "0.0.0";
  }
}

export interface RuntimeInfo {
  pid: number;
  httpHost: string;
  httpPort: number;
  /** Random per start; the CLI sends it as `x-portico-token`. */
  token: string;
  startedAt: string;
}

export const RUNTIME_FILE_NAME = "portico.runtime.json";
export const TOKEN_HEADER = "x-portico-token";
/** The CLI names the operating-system user who runs it, for the audit log (the token is what authorizes). */
export const CLI_USER_HEADER = "x-portico-cli-user";

export function runtimeFile(dataDir: string): string {
  return path.join(dataDir, RUNTIME_FILE_NAME);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running appliance for this data dir, or undefined (no file, or a stale one from a killed process). */
export function readRuntime(dataDir: string): RuntimeInfo | undefined {
  let info: RuntimeInfo;
  try {
    info = JSON.parse(fs.readFileSync(runtimeFile(dataDir), "utf8")) as RuntimeInfo;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(info.pid) || !alive(info.pid) || info.pid === process.pid) return undefined;
  // A live pid may belong to an unrelated process after a reboot: the data directory's lock says
  // whether an appliance really holds it.
  if (!dataDirLocked(dataDir)) return undefined;
  return info;
}

/** True when another process holds the data directory's lock (a running or starting appliance). */
export function dataDirLocked(dataDir: string): boolean {
  try {
    lockDataDir(dataDir).release();
    return false;
  } catch (err) {
    if (err instanceof DataDirLockedError) return true;
    throw err;
  }
}

/** Writes a file atomically: temp file (exclusive, mode 0600), fsync, rename (as rtslib's save_to_file). */
export function writeFileAtomic(file: string, content: string | Buffer): void {
  const tmp = `${file}.${process.pid}.temp`;
  // A temp file left by a crash of a process with the same pid (pid 1 in containers) must not block every later write.
  fs.rmSync(tmp, { force: true });
  const fd = fs.openSync(tmp, "wx", 0o600);
  try {
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.chmodSync(file, 0o600);
  // The rename is durable only once the directory entry is on disk.
  fsyncDir(path.dirname(file));
}

/**
 * Removes a file so that the removal survives power loss: the unlink is durable only once the
 * directory is synced (otherwise a removed state file, e.g. a left cluster's cluster.json, can
 * come back after a crash).
 */
export function removeFileDurable(file: string): void {
  if (!fs.existsSync(file)) return;
  fs.rmSync(file, { force: true });
  fsyncDir(path.dirname(file));
}

function fsyncDir(dir: string): void {
  const dirFd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

export function writeRuntime(dataDir: string, info: RuntimeInfo): void {
  writeFileAtomic(runtimeFile(dataDir), `${JSON.stringify(info, null, 2)}\n`);
}

export function removeRuntime(dataDir: string): void {
  try {
    const info = JSON.parse(fs.readFileSync(runtimeFile(dataDir), "utf8")) as RuntimeInfo;
    if (info.pid !== process.pid) return;
  } catch {
    return;
  }
  fs.rmSync(runtimeFile(dataDir), { force: true });
}

/** Where to reach the running appliance's HTTP server from this host. */
export function runtimeUrl(info: Pick<RuntimeInfo, "httpHost" | "httpPort">): string {
  const host = info.httpHost === "0.0.0.0" ? "127.0.0.1" : info.httpHost === "::" || info.httpHost === "[::]" ? "[::1]" : info.httpHost;
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `http://${h}:${info.httpPort}`;
}

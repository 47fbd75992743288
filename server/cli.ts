/**
 * `portico` — the appliance's targetctl:
 *
 *   portico restoreconfig FILE [--clear] [--overcommit]   apply a targetcli saveconfig.json (all-or-nothing)
 *   portico restoreconfig --backup NAME    replace the configuration with a backup from <data dir>/backup
 *   portico backups                        list the backups (newest first)
 *   portico saveconfig [FILE]              write the configuration (stdout without FILE)
 *   portico status                         running or not, URL, object and session counts
 *
 * While the appliance runs, every command goes THROUGH it (HTTP + the token from
 * `<data dir>/portico.runtime.json`), so the running engine and its DB never
 * disagree. While it is stopped, commands work on the DB directly, with the same
 * validation (an engine that checks backing files but opens nothing).
 */
import os from "node:os";
import fs from "node:fs";
import path from "node:path";
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import superjson from "superjson";
import type { AppRouter } from "./api/root";
import { engineStatus } from "./api/tree";
import { backupDir, listBackups, readBackup } from "./config/backup";
import { ConfigImportError } from "./config/errors";
import { offlineBackstore, offlineDevice, probeBackstore } from "./config/probe";
import { ConfigService } from "./config/service";
import { databaseFile, openDatabase } from "./db";
import { DataDirLockedError, lockDataDir, type DataDirLock } from "./db/lock";
import { Engine } from "./engine/core/engine";
import { rbdAvailable, rbdStatus } from "./engine/backstores/rbd";
import { fdIoStatus } from "./engine/backstores/uring";
import { EngineError } from "./engine/core/errors";
import { CLI_USER_HEADER, fileioPolicy, readRuntime, readSettings, runtimeUrl, TOKEN_HEADER, version, writeFileAtomic, type RuntimeInfo } from "./runtime";
import { auditedOffline } from "./history/offline";
import { shellMain, type Backend } from "./shell/cli";
import { complete } from "./shell/complete";
import { isReadOnlyLine } from "./shell/grammar";
import { runLine } from "./shell/run";

const USAGE = `usage:
  portico                                the interactive shell (targetcli's language, Tab completion)
  portico [--json] [PATH] COMMAND [ARGS] one shell command at /, e.g. \`portico ls /iscsi\` (docs/shell.md)
  portico < script                       shell commands from a script, one per line
  portico restoreconfig FILE [--clear] [--overcommit]
                                         apply a targetcli saveconfig.json (all-or-nothing); --overcommit accepts
                                         sparse fileio files larger than their file system's free space
  portico restoreconfig --backup NAME    replace the configuration with a backup (see \`portico backups\`)
  portico backups                        list configuration backups in <data dir>/backup, newest first
  portico saveconfig [FILE]              write the configuration (to stdout without FILE)
  portico status                         is the appliance running; what it serves
environment: PORTICO_DATA_DIR (default ./data)`;

class UsageError extends Error {}

/** Where a command on the stopped appliance comes from, for the audit log. */
const OFFLINE_ORIGIN = () => ({ remote: "local", via: "cli-offline", osUser: cliUser() });

/** Who runs this command, for the audit log: the operating-system user (and sudo's caller). */
function cliUser(): string {
  let name: string;
  try {
    name = os.userInfo().username;
  } catch {
    name = `uid ${process.getuid?.() ?? "?"}`;
  }
  const sudo = process.env.SUDO_USER;
  return sudo && sudo !== name ? `${name} (sudo from ${sudo})` : name;
}

function client(info: RuntimeInfo) {
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${runtimeUrl(info)}/api/trpc`, transformer: superjson, headers: { [TOKEN_HEADER]: info.token, [CLI_USER_HEADER]: cliUser() } })],
  });
}

/** The stopped appliance's configuration, opened with an engine that validates but opens nothing. */
async function offline(dataDir: string) {
  // No runtime file does not mean no appliance: one that is still starting holds the lock, and must not have its DB changed underneath.
  let lock: DataDirLock;
  try {
    lock = lockDataDir(dataDir);
  } catch (err) {
    if (err instanceof DataDirLockedError) throw new Error(`the appliance is starting or stopping (${err.message}): try again in a moment`);
    throw err;
  }
  let db: ReturnType<typeof openDatabase>;
  try {
    db = openDatabase(dataDir);
  } catch (err) {
    lock.release();
    throw err;
  }
  const engine = new Engine({ openBackstore: offlineBackstore, createDevice: offlineDevice, fileio: fileioPolicy({ ...readSettings(), dataDir }) });
  const service = new ConfigService(db.db, db.sqlite, engine);
  await service.restore();
  return {
    db,
    service,
    close: async () => {
      await engine.shutdown();
      db.close();
      lock.release();
    },
  };
}

/**
 * The shell's backend: each line goes through the running appliance when there is one,
 * else to the stopped data directory, opened for that line only (no lock held while idle).
 */
function shellBackend(): Backend {
  const { dataDir } = readSettings();
  const withService = async <T>(fn: (base: { service: ConfigService; engine: Engine; online: boolean }) => Promise<T> | T): Promise<T> => {
    const o = await offline(dataDir);
    try {
      return await fn({ service: o.service, engine: o.service.engine, online: false });
    } finally {
      await o.close();
    }
  };
  return {
    async run(req) {
      const running = readRuntime(dataDir);
      if (running) {
        try {
          const api = client(running).shell;
          return await (isReadOnlyLine(req.line) ? api.read.query(req) : api.run.mutate(req));
        } catch (err) {
          return { ok: false, stdout: "", stderr: `${describe(err)}\n`, cwd: req.cwd, previous: req.previous };
        }
      }
      try {
        if (isReadOnlyLine(req.line)) return await withService((base) => runLine(base, req));
        // A change on the stopped appliance: recorded in the audit log with who ran it and what it changed.
        return await withService((base) =>
          auditedOffline(dataDir, "shell.run", "cli", OFFLINE_ORIGIN(), { line: req.line, cwd: req.cwd }, () => runLine(base, req), (r) => r.ok),
        );
      } catch (err) {
        return { ok: false, stdout: "", stderr: `${describe(err)}\n`, cwd: req.cwd, previous: req.previous };
      }
    },
    async complete(req) {
      const running = readRuntime(dataDir);
      if (running) return client(running).shell.complete.query(req);
      return withService((base) => complete(base, req));
    },
  };
}

function printReport(notHonoured: string[], warnings: string[] = []): void {
  if (warnings.length) process.stderr.write(`warnings (${warnings.length}):\n${warnings.map((s) => `  ${s}\n`).join("")}`);
  if (notHonoured.length === 0) return;
  process.stderr.write(`not honoured (${notHonoured.length}):\n${notHonoured.map((s) => `  ${s}\n`).join("")}`);
}

async function backups(args: string[]): Promise<void> {
  if (args.length) throw new UsageError("backups takes no arguments");
  const { dataDir } = readSettings();
  const list = listBackups(dataDir);
  if (list.length === 0) process.stdout.write(`no backups in ${backupDir(dataDir)}\n`);
  for (const b of list) process.stdout.write(`${b.name}  ${b.size} bytes  ${new Date(b.mtime).toISOString()}\n`);
}

async function restoreconfig(args: string[]): Promise<void> {
  const b = args.indexOf("--backup");
  const backupName = b >= 0 ? args[b + 1] : undefined;
  if (b >= 0 && !backupName) throw new UsageError("restoreconfig --backup needs a backup NAME (see `portico backups`)");
  const rest = b >= 0 ? args.filter((_, i) => i !== b && i !== b + 1) : args;
  const clear = backupName !== undefined || rest.includes("--clear") || rest.includes("clear_existing");
  const overcommit = rest.includes("--overcommit");
  const unknown = rest.find((a) => a.startsWith("--") && a !== "--clear" && a !== "--overcommit");
  if (unknown) throw new UsageError(`restoreconfig: unknown option ${unknown}`);
  const files = rest.filter((a) => !a.startsWith("--") && a !== "clear_existing");
  const { dataDir } = readSettings();
  let text: string;
  let file: string;
  if (backupName !== undefined) {
    if (files.length) throw new UsageError("restoreconfig takes a FILE or --backup NAME, not both");
    // A backup replaces the whole configuration (it is one), as restoreconfig clear_existing.
    text = readBackup(dataDir, backupName);
    file = path.join(backupDir(dataDir), backupName);
  } else {
    if (files.length !== 1) throw new UsageError("restoreconfig needs exactly one FILE");
    file = path.resolve(files[0]);
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
    }
  }
  const running = readRuntime(dataDir);
  const result = running
    ? await client(running).config.import.mutate({ config: text, clear, overcommit })
    : await (async () => {
        const o = await offline(dataDir);
        try {
          return await auditedOffline(dataDir, "config.import", "cli", OFFLINE_ORIGIN(), { file, clear, overcommit }, () => o.service.importSaveconfig(text, { clear, overcommit }));
        } finally {
          await o.close();
        }
      })();
  printReport(result.notHonoured, result.warnings);
  process.stdout.write(
    `restored ${result.storageObjects} storage object(s) and ${result.targets} target(s) from ${file}${result.cleared ? " (previous configuration cleared)" : ""}${running ? " into the running appliance" : ""}\n`,
  );
}

async function saveconfig(args: string[]): Promise<void> {
  if (args.length > 1) throw new UsageError("saveconfig takes at most one FILE");
  const { dataDir } = readSettings();
  const running = readRuntime(dataDir);
  let text: string;
  // The file is complete (CHAP secrets included) and written 0600, as targetcli does.
  if (running) text = await client(running).config.export.query({ secrets: true });
  else {
    if (!fs.existsSync(databaseFile(dataDir))) throw new Error(`no configuration in ${dataDir} (no ${path.basename(databaseFile(dataDir))})`);
    const db = openDatabase(dataDir);
    try {
      // No engine needed: the stored configuration is exported as it is.
      const service = new ConfigService(db.db, db.sqlite, new Engine({ openBackstore: probeBackstore, createDevice: offlineDevice }));
      text = service.exportSaveconfig();
    } finally {
      db.close();
    }
  }
  if (args.length === 0) {
    process.stdout.write(text);
    return;
  }
  const file = path.resolve(args[0]);
  writeFileAtomic(file, text);
  process.stderr.write(`configuration saved to ${file}\n`);
}

async function status(): Promise<void> {
  const { dataDir } = readSettings();
  const running = readRuntime(dataDir);
  let s: ReturnType<typeof engineStatus>;
  if (running) {
    s = await client(running).system.status.query();
    process.stdout.write(`Portico ${s.version}: running (pid ${running.pid}) at ${runtimeUrl(running)}, up ${s.uptimeSeconds} s\n`);
  } else {
    process.stdout.write(`Portico ${version()}: not running (data ${dataDir})\n`);
    if (!fs.existsSync(databaseFile(dataDir))) {
      process.stdout.write("no configuration yet: `portico restoreconfig FILE` adds one\n");
      return;
    }
    const db = openDatabase(dataDir);
    try {
      const service = new ConfigService(db.db, db.sqlite, new Engine({ openBackstore: probeBackstore, createDevice: offlineDevice }));
      s = engineStatus(service, { version: version(), startedAt: Date.now() });
    } finally {
      db.close();
    }
  }
  const c = s.counts;
  process.stdout.write(
    `storage objects: ${c.storageObjects}\ntargets: ${c.targets}\nTPGs: ${c.tpgs}\nLUNs: ${c.luns}\nnode ACLs: ${c.nodeAcls}\nportals: ${c.portals}${running ? ` (${c.portalsListening} listening)` : ""}\nsessions: ${running ? c.sessions : 0}\n`,
  );
  // Where librbd or the addon is missing, the rbd backstore says so by name; everything else works.
  process.stdout.write(`Ceph RBD backstore: ${rbdAvailable() ? "available (librbd)" : `unavailable: ${rbdStatus}`}\n`);
  // Which road fileio and block take (io_uring, or the thread pool and why), as this machine's kernel allows.
  process.stdout.write(`fileio/block IO: ${fdIoStatus()}\n`);
  if (running) {
    const h = s.health;
    if (!h.fabric.loaded) process.stdout.write(`iSCSI fabric: NOT LOADED (${h.fabric.error}): no initiator can connect\n`);
    const cl = s.cluster;
    if (cl) {
      process.stdout.write(`cluster: node ${cl.node}, etcd ${cl.endpoints.join(", ")}: ${cl.connected ? "joined" : `NOT JOINED (${cl.error})`}\n`);
      for (const m of cl.members) process.stdout.write(`  member ${m.name}${m.self ? " (this node)" : ""}: console ${m.consoleUrl ?? "-"}, portals ${m.portals.join(" ") || "none"}\n`);
    }
    const uncaught = h.uncaught.exceptions + h.uncaught.rejections;
    if (uncaught > 0) process.stdout.write(`uncaught errors: ${uncaught} (last: ${h.uncaught.last?.message}; see the event log)\n`);
    for (const p of s.portals) process.stdout.write(`  portal ${p.key} (${p.wwn} tpg${p.tag}): ${p.listening ? "listening" : p.servedBy ? `served by node ${p.servedBy}` : `not listening${p.error ? `: ${p.error}` : ""}`}\n`);
    for (const w of s.warnings) process.stdout.write(`  warning: ${w.object}: ${w.reason}\n`);
  }
}

function describe(err: unknown): string {
  if (err instanceof TRPCClientError) {
    const data = err.data as { issues?: { path: string; message: string }[]; field?: string } | undefined;
    if (data?.issues?.length) return `configuration refused:\n${data.issues.map((i) => `  ${i.path ? `${i.path}: ` : ""}${i.message}`).join("\n")}`;
    const cause = (err.cause as { code?: string } | undefined)?.code;
    if (cause === "ECONNREFUSED") return "the appliance's runtime file exists but it does not answer; is it starting or stopping?";
    return err.message;
  }
  if (err instanceof ConfigImportError || err instanceof EngineError || err instanceof Error) return err.message;
  return String(err);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  // targetcli's keyword forms (`restoreconfig savefile=x clear_existing=true`) are the shell's.
  const keywordForm = args.some((a) => a.includes("=") && !a.startsWith("--"));
  try {
    switch (keywordForm ? "" : command) {
      case "restoreconfig":
        await restoreconfig(args);
        return 0;
      case "saveconfig":
        await saveconfig(args);
        return 0;
      case "status":
        await status();
        return 0;
      case "backups":
        await backups(args);
        return 0;
      case "--help":
      case "-h":
        process.stdout.write(`${USAGE}\n`);
        return 0;
      default:
        // Everything else is targetcli's language (server/shell): one command, a script on stdin, or the interactive shell.
        return await shellMain(argv, shellBackend(), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, version: version() });
    }
  } catch (err) {
    process.stderr.write(`portico: ${describe(err)}\n`);
    if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));

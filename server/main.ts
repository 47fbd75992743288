/**
 * The appliance: one Node.js process.
 *
 *   DB (migrations) → engine → restore configuration (portals open) → HTTP:
 *   /api/trpc/* → tRPC (this process, the real engine and DB); everything else → Next.
 *
 * Settings: PORTICO_DATA_DIR (./data), PORTICO_STORAGE_DIR (new fileio files; `<data dir>-storage`), PORTICO_HTTP_HOST (0.0.0.0: the console has a login),
 * PORTICO_HTTP_PORT (3000).
 *
 * Access: until an admin exists every page redirects to /onboarding (and onboarding, from
 * loopback too, needs the one-time setup code in <data dir>/setup-code); afterwards pages
 * need the session cookie (else /login) and so does every tRPC procedure except login
 * and the onboarding status. The CLI authenticates with the runtime-file token.
 * `--dev` runs the console with `next dev`.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import { startAlerts } from "./alerts/service";
import { appRouter } from "./api/root";
import { httpContextFactory, sessionOf } from "./auth/context";
import { LoginRateLimiter } from "./auth/rate-limit";
import { SetupCode } from "./auth/setup-code";
import { AuthStore } from "./auth/store";
import { attachAptplPersistence } from "./config/aptpl";
import { ConfigService } from "./config/service";
import { offlineDevice } from "./config/probe";
import { openDatabase, type OpenedDatabase } from "./db";
import { DataDirLockedError, lockDataDir, type DataDirLock } from "./db/lock";
import { createFrontDoor, type FrontDoor, type HttpsControl } from "./http/front-door";
import type { UpgradeHandler } from "./http/listener";
import { getMonitor, handleMonitorHttp, startMonitor, stopMonitor } from "./history/monitor";
import { recordEvent } from "./history/events";
import type { Engine } from "./engine/core/engine";
import { ClusterMembership } from "./cluster/membership";
import { ConfigSync } from "./cluster/config-sync";
import { setConfigSync } from "./cluster";
import { attachClusterReservations, ClusterPrStore } from "./cluster/pr-store";
import { ClusterControl, readSavedCluster, setClusterControl } from "./cluster/join";
import { ClusterOwnership, setOwnership } from "./cluster/ownership";
import { setOwnershipSource } from "./cluster/console";
import { readClusterSettings, type ClusterSettings } from "./cluster/settings";
import { logFabricFailure, noteFabricFailure, noteUncaught } from "./health";
import type { FileioPolicyOptions } from "./engine/backstores/path-policy";
import { fdIoStatus } from "./engine/backstores/uring";
import { fileioPolicy, packageRoot, readRuntime, readSettings, removeRuntime, TOKEN_HEADER, version, writeRuntime } from "./runtime";

const SHUTDOWN_TIMEOUT_MS = 9_000;
/** tRPC calls in one batched request (the console sends at most 16: components/providers.tsx). */
const MAX_BATCH_SIZE = 32;
/** Held (module scope: never collected) until the process exits; the kernel drops it then. */
let dataDirLock: DataDirLock | undefined;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}
function fail(message: string): never {
  process.stderr.write(`portico: ${message}\n`);
  process.exit(1);
}

async function makeEngine(fileio: FileioPolicyOptions): Promise<Engine> {
  try {
    const { createEngine } = await import("./engine/index");
    return createEngine({ fileio });
  } catch (err) {
    // While the transport is being built the fabric may not load yet; serve the console and API anyway, and say so.
    process.stderr.write(`portico: WARNING: the iSCSI fabric could not be loaded (${(err as Error).message}); running without iSCSI\n`);
    noteFabricFailure(err); // `portico status`, the console and /metrics say so too
    const { Engine } = await import("./engine/core/engine");
    const { openBackstore } = await import("./engine/backstores/index");
    return new Engine({ openBackstore, createDevice: offlineDevice, fileio });
  }
}

type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

async function makeConsoleHandler(dev: boolean, settings: { httpHost: string; httpPort: number }): Promise<{ handler?: RequestHandler; upgrade?: unknown; note?: string }> {
  if (!dev && !fs.existsSync(path.join(packageRoot, ".next", "BUILD_ID"))) {
    return { note: "the console is not built (run `npx next build`): serving the API only" };
  }
  process.env.NEXT_TELEMETRY_DISABLED ??= "1";
  const { default: next } = await import("next");
  const app = next({ dev, dir: packageRoot, hostname: settings.httpHost, port: settings.httpPort });
  await app.prepare();
  const upgrade = (app as unknown as { getUpgradeHandler?: () => unknown }).getUpgradeHandler?.();
  return { handler: app.getRequestHandler() as RequestHandler, upgrade };
}

async function main(): Promise<void> {
  const dev = process.argv.includes("--dev");
  let settings: ReturnType<typeof readSettings>;
  try {
    // With a login in front of it, the console may listen on every address (the LAN) by default.
    settings = readSettings({ ...process.env, PORTICO_HTTP_HOST: process.env.PORTICO_HTTP_HOST || "0.0.0.0" });
  } catch (err) {
    fail((err as Error).message);
  }
  let clusterSettings: ClusterSettings | undefined;
  try {
    clusterSettings = readClusterSettings();
  } catch (err) {
    fail((err as Error).message);
  }
  // Without PORTICO_CLUSTER, a join made on the Cluster page (saved in the data directory) applies.
  const clusterSource = clusterSettings ? "env" : "console";
  clusterSettings ??= readSavedCluster(settings.dataDir, (m) => process.stderr.write(`portico: WARNING: ${m}\n`));
  // One appliance per data directory. The lock is the authority (the kernel drops it with the
  // process, and it also keeps out an instance that is still starting); once it is ours, a runtime
  // file left by a killed process is stale, whatever its pid now belongs to.
  try {
    dataDirLock = lockDataDir(settings.dataDir);
  } catch (err) {
    if (!(err instanceof DataDirLockedError)) fail(`cannot lock ${settings.dataDir}: ${(err as Error).message}`);
    const running = readRuntime(settings.dataDir);
    fail(`already running for ${settings.dataDir}${running ? ` (pid ${running.pid}, http://${running.httpHost}:${running.httpPort})` : `: ${err.message}`}`);
  }

  let db: OpenedDatabase;
  try {
    db = openDatabase(settings.dataDir);
  } catch (err) {
    fail(`cannot open the database in ${settings.dataDir}: ${(err as Error).message}`);
  }
  // fileio never touches the data directory or the code; new files go to the storage directory (docs/configuration.md).
  const engine = await makeEngine(fileioPolicy(settings));
  // A cluster node opens the portals of the TPGs whose `node` is its own (or unset); a single appliance opens all.
  engine.localNode = clusterSettings?.node;
  // The default place for new fileio files exists from the start, so the wizards' default paths work at once.
  try {
    fs.mkdirSync(settings.storageDir, { recursive: true, mode: 0o750 });
  } catch (err) {
    process.stderr.write(`portico: WARNING: cannot create the storage directory ${settings.storageDir} (${(err as Error).message}): give fileio paths explicitly\n`);
  }
  const service = new ConfigService(db.db, db.sqlite, engine);
  attachAptplPersistence(engine, db.db); // APTPL reservations: loaded as restore creates each storage object, saved on change
  // In a cluster, every LU's reservations live in etcd (server/cluster/pr-store.ts), loaded before the portals open.
  let prStore: ClusterPrStore | undefined;
  if (clusterSettings) {
    prStore = new ClusterPrStore(clusterSettings.endpoints, clusterSettings.node, log);
    attachClusterReservations(engine, prStore);
    if (!(await prStore.start())) log("portico: cluster: reservations not loaded from etcd yet: PR commands wait for it (retrying)");
  }
  const warnings = await service.restore();
  startMonitor({ engine, dataDir: settings.dataDir }); // live IO statistics, history.db, event log, GET /metrics
  // A cluster member's configuration lives in etcd (server/cluster/config-sync.ts): every change is published there
  // before it commits, the cluster's changes are applied here through a watch. Caught up before the API opens (changes
  // are refused until then); an unreachable etcd delays the start by its first attempt only, then it retries.
  let configSync: ConfigSync | undefined;
  if (clusterSettings) {
    configSync = new ConfigSync(clusterSettings.endpoints, clusterSettings.node, service, log);
    service.replica = configSync;
    setConfigSync(configSync);
    await Promise.race([configSync.start(), new Promise((r) => setTimeout(r, 5_000).unref())]);
  }
  logFabricFailure();

  const startedAt = Date.now();
  const token = randomBytes(24).toString("hex");
  const app = { version: version(), startedAt, dataDir: settings.dataDir, url: undefined as string | undefined };

  const auth = new AuthStore(db.db);
  // Until an admin exists, onboarding needs this run's setup code (named in the ready line below).
  try {
    auth.setupCode = SetupCode.start(settings.dataDir, auth.hasAdmin());
  } catch (err) {
    fail(`cannot write the setup code to ${settings.dataDir}: ${(err as Error).message}`);
  }
  const setupCode = auth.setupCode.code;
  const limiter = new LoginRateLimiter();
  // Alert rules (storage offline or full, portals down, login failures, latency) → webhook and e-mail.
  const alerts = startAlerts(service, auth, () => auth.getSetting<string>("appliance.name") ?? os.hostname());

  const httpsControl: { current?: HttpsControl } = {}; // set once the front door exists (below)
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: "/api/trpc/",
    maxBodySize: 16 * 1024 * 1024,
    // One request carries at most this many calls (the console's client splits larger batches, components/providers.tsx);
    // auth.login refuses batching altogether (server/api/routers/auth.ts).
    maxBatchSize: MAX_BATCH_SIZE,
    createContext: httpContextFactory({ service, engine, app, auth, limiter, token, https: httpsControl }),
    onError: ({ error, path: p }) => {
      if (error.code === "INTERNAL_SERVER_ERROR") process.stderr.write(`portico: ${p ?? "?"}: ${error.message}\n${error.cause?.stack ?? ""}\n`);
    },
  });

  let consoleHandler: Awaited<ReturnType<typeof makeConsoleHandler>> = {};
  try {
    consoleHandler = await makeConsoleHandler(dev, settings);
  } catch (err) {
    consoleHandler = { note: `the console could not start (${(err as Error).message}): serving the API only` };
  }

  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? "/";
    try {
      if (url === "/api/trpc" || url.startsWith("/api/trpc/") || url.startsWith("/api/trpc?")) {
        trpc(req, res);
        return;
      }
      if (handleMonitorHttp(req, res)) return; // GET /metrics (token or localhost), before any page redirect
      const redirect = pageRedirect(url, auth.hasAdmin(), () => Boolean(sessionOf(auth, req)));
      if (redirect) {
        res.writeHead(303, { location: redirect, "cache-control": "no-store" }).end();
        return;
      }
      if (consoleHandler.handler) {
        Promise.resolve(consoleHandler.handler(req, res)).catch((err: unknown) => {
          process.stderr.write(`portico: console request ${url} failed: ${(err as Error).message}\n`);
          if (!res.headersSent) res.writeHead(500).end("internal error");
        });
        return;
      }
      res.writeHead(503, { "content-type": "text/plain; charset=utf-8" }).end(`Portico ${app.version}: ${consoleHandler.note}\n`);
    } catch (err) {
      process.stderr.write(`portico: request ${url} failed: ${(err as Error).message}\n`);
      if (!res.headersSent) res.writeHead(500).end("internal error");
    }
  };
  // One port, HTTPS and plain HTTP (server/http/front-door.ts): Host check, HTTPS redirect for
  // the network, JSON-only same-origin changes and security headers before `handle` sees a request.
  let front: FrontDoor;
  try {
    front = createFrontDoor({
      dataDir: settings.dataDir,
      bindHost: settings.httpHost,
      dev,
      settings: auth,
      handler: handle,
      upgrade: typeof consoleHandler.upgrade === "function" ? (consoleHandler.upgrade as UpgradeHandler) : undefined,
      warn: (m) => process.stderr.write(`portico: WARNING: ${m}\n`),
      isCli: (headers) => {
        const given = headers[TOKEN_HEADER];
        return typeof given === "string" && given.length === token.length && timingSafeEqual(Buffer.from(given), Buffer.from(token));
      },
    });
  } catch (err) {
    await engine.shutdown().catch(() => undefined);
    db.close();
    fail(`cannot set up HTTPS: ${(err as Error).message} (PORTICO_HTTPS=off serves plain HTTP only)`);
  }
  httpsControl.current = front.control;
  const server = front.listener.server;

  const shutdownEngine = async () => {
    await engine.shutdown().catch((err: unknown) => process.stderr.write(`portico: engine shutdown: ${(err as Error).message}\n`));
    db.close();
  };

  await new Promise<void>((resolve) => {
    server.once("error", async (err: NodeJS.ErrnoException) => {
      const where = `${settings.httpHost}:${settings.httpPort}`;
      const message =
        err.code === "EADDRINUSE"
          ? `HTTP address ${where} is already in use: stop what uses it or set PORTICO_HTTP_PORT`
          : err.code === "EADDRNOTAVAIL"
            ? `HTTP address ${where} is not an address of this machine: check PORTICO_HTTP_HOST`
            : `cannot listen on ${where}: ${err.message}`;
      await shutdownEngine();
    await prStore?.stop();
      fail(message);
    });
    server.listen(settings.httpPort, settings.httpHost, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : settings.httpPort;
  const hostForUrl = settings.httpHost.includes(":") ? `[${settings.httpHost}]` : settings.httpHost;
  app.url = `${front.scheme}://${hostForUrl}:${port}`;

  writeRuntime(settings.dataDir, { pid: process.pid, httpHost: settings.httpHost, httpPort: port, token, startedAt: new Date(startedAt).toISOString() });

  const tree = service.config();
  const portals = tree.targets.reduce((n, t) => n + t.tpgs.reduce((m, g) => m + g.portals.length, 0), 0);
  const listening = engine.fabric ? engine.portalKeys().length : 0;
  log(
    `Portico ${app.version} ready: console ${app.url}${dev ? " (dev)" : ""}` +
      (front.certificate ? ` (${front.certificate.kind} certificate, SHA-256 ${front.certificate.fingerprint256}; plain HTTP from this machine only)` : "") +
      ` — ${tree.targets.length} target(s), ${portals} portal(s) (${listening} listening), data ${settings.dataDir}` +
      // The code itself only on a terminal: a journal or log file is read by more people than the 0600 file.
      (setupCode ? (process.stdout.isTTY ? ` — onboarding setup code ${setupCode} (also in ${auth.setupCode.file})` : ` — onboarding setup code in ${auth.setupCode.file}`) : ""),
  );
  if (consoleHandler.note) log(`portico: ${consoleHandler.note}`);
  log(`portico: fileio/block IO: ${fdIoStatus()}`);
  for (const w of warnings) log(`portico: restore warning: ${w.object}: ${w.reason}`);
  recordStart({ version: app.version, url: app.url, targets: tree.targets.length, portals, listening, warnings: warnings.length });

  // A cluster member registers under a leased key once it serves; etcd unreachable is a status and a retry, never a stop.
  // The control also lets the Cluster page join, leave and evict at run time (server/cluster/join.ts).
  const cluster = new ClusterControl({
    dataDir: settings.dataDir,
    engine,
    log,
    membership: ({ endpoints, node: name }) =>
      new ClusterMembership(
        endpoints,
        () => ({ name, version: app.version, consoleUrl: app.url ?? null, portals: engine.fabric ? engine.portalKeys() : [], startedAt: new Date(startedAt).toISOString(), pid: process.pid, host: os.hostname() }),
        log,
      ),
    // A member that left takes its nexuses' SPC-2 reservations with it.
    onMembersLeft: (left) => prStore?.membersLeft(left),
    // Reservations and the configuration go through etcd only when set up at start, before restore (above).
    liveJoinBlocker: prStore && configSync ? null : "persistent reservations and the configuration are shared through etcd only by a process that starts as a member",
  });
  setClusterControl(cluster);
  cluster.companions.push((_settings, membership) => {
    if (configSync) configSync.onChange = () => void membership.refresh(); // the portals this node opened may have changed
    return undefined;
  });
  // Each rbd LU's owner holds its etcd election and the image's lock (docs/cluster.md); stopped with the membership.
  cluster.companions.push((settings) => {
    const ownership = new ClusterOwnership(settings.endpoints, settings.node, engine, log);
    setOwnership(ownership);
    setOwnershipSource({ status: () => ownership.status(), move: (lu, to, by) => ownership.moveOwnership(lu, to, by) });
    ownership.start();
    return {
      stop: async () => {
        setOwnershipSource(undefined);
        setOwnership(undefined);
        await ownership.stop(); // owned LUs are handed over (released, not fenced): a survivor takes them at once
      },
    };
  });
  if (clusterSettings) {
    cluster.begin(clusterSettings, clusterSource);
    log(`portico: cluster: node ${clusterSettings.node}, etcd ${clusterSettings.endpoints.join(", ")}${clusterSource === "console" ? " (joined from the console)" : ""}`);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`portico: ${signal}: shutting down`);
    const hard = setTimeout(() => {
      process.stderr.write(`portico: shutdown took longer than ${SHUTDOWN_TIMEOUT_MS / 1000} s; exiting\n`);
      removeRuntime(settings.dataDir);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    hard.unref();
    await configSync?.stop();
    await cluster.shutdown(); // leave first: the others see this node go at once
    alerts.stop();
    server.close();
    front.listener.closeIdleConnections();
    await shutdownEngine();
    recordEvent({ type: "appliance_stop", actor: "system", remote: "local", reason: signal, message: `Portico stopped (${signal}) after ${Math.round((Date.now() - startedAt) / 1000)} s` });
    stopMonitor(); // after the engine (its logouts reach the event log): writes the minute in progress
    front.listener.closeAllConnections();
    removeRuntime(settings.dataDir);
    clearTimeout(hard);
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // A bug in one request must not take the appliance down; log it and keep serving.
  // Each is counted in /metrics and logged as a process_error event with its stack, never swallowed.
  process.on("uncaughtException", (err) => {
    process.stderr.write(`portico: uncaught: ${err.stack ?? err.message}\n`);
    noteUncaught("exception", err);
  });
  process.on("unhandledRejection", (err) => {
    process.stderr.write(`portico: unhandled rejection: ${(err as Error)?.stack ?? String(err)}\n`);
    noteUncaught("rejection", err);
  });
}

/**
 * Where a page request must go instead, if anywhere: /onboarding until an admin exists,
 * /login without a session. Next's assets and the API are never redirected.
 */
function pageRedirect(url: string, onboarded: boolean, signedIn: () => boolean): string | undefined {
  const u = new URL(url, "http://x");
  const p = u.pathname;
  // Next's assets, the API, and public files at the root (favicon, robots.txt…) are never redirected;
  // any other path is a page, whatever it ends with.
  if (p.startsWith("/_next/") || p.startsWith("/api/") || /^\/[^/]+\.(ico|png|svg|txt|webmanifest)$/.test(p)) return undefined;
  if (!onboarded) return p === "/onboarding" ? undefined : "/onboarding";
  if (p === "/login") return signedIn() ? "/" : undefined;
  if (!signedIn()) return p === "/" ? "/login" : `/login?next=${encodeURIComponent(p + u.search)}`;
  return undefined;
}

main().catch((err: unknown) => fail((err as Error).stack ?? String(err)));

/**
 * The audit log's record of a start: version, what is served, who started it, and whether the
 * previous run ended with a clean stop (its appliance_stop) or not (a crash, a kill, power loss).
 */
function recordStart(facts: { version: string; url?: string; targets: number; portals: number; listening: number; warnings: number }): void {
  const last = getMonitor()?.events({ log: "audit", types: ["appliance_start", "appliance_stop"], limit: 1 })[0];
  const uncleanPrevious = last?.type === "appliance_start";
  let user = "?";
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry
  }
  recordEvent({
    type: "appliance_start",
    actor: "system",
    remote: "local",
    reason: uncleanPrevious ? "previous_run_unclean" : undefined,
    message:
      `Portico ${facts.version} started (pid ${process.pid}, user ${user}): ${facts.targets} target(s), ${facts.listening}/${facts.portals} portal(s) listening` +
      (facts.warnings ? `, ${facts.warnings} restore warning(s)` : "") +
      (uncleanPrevious ? "; the previous run did not stop cleanly" : ""),
    detail: { ...facts, pid: process.pid, user },
  });
}

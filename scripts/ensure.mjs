/**
 * Installs what a fresh clone lacks, so `npm start` and `npm test` work on a new
 * Debian machine: npm packages always; Debian packages when running as root.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function log(msg) {
  process.stderr.write(`[portico] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed with exit code ${r.status}`);
}

/** node-gyp must build better-sqlite3 against the local Node headers: nothing can be downloaded here. */
function npmEnv() {
  const env = { ...process.env };
  if (!env.npm_config_nodedir && existsSync("/usr/include/node/node.h")) env.npm_config_nodedir = "/usr";
  return env;
}

function newestMtime(paths) {
  let newest = 0;
  const visit = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) if (e !== "node_modules" && !e.startsWith(".")) visit(path.join(p, e));
    } else newest = Math.max(newest, st.mtimeMs);
  };
  paths.forEach((p) => visit(path.join(root, p)));
  return newest;
}

export function ensureNodeModules() {
  const marker = path.join(root, "node_modules", ".package-lock.json");
  const lock = path.join(root, "package-lock.json");
  const pkg = path.join(root, "package.json");
  const stale =
    !existsSync(marker) ||
    statSync(pkg).mtimeMs > statSync(marker).mtimeMs ||
    (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000) ||
    !existsSync(path.join(root, "node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node"));
  if (!stale) return;
  log("installing npm packages (npm install)…");
  // `npm ci` fails here: the registry copy of the lock lacks other platforms' optional binaries.
  run("npm", ["install", "--no-audit", "--no-fund"], { env: npmEnv() });
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

function dpkgInstalled(pkg) {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("install ok installed");
}

/** Installs Debian packages that are missing (root only); returns the ones still missing. */
export function ensureDebianPackages(pkgs) {
  const missing = pkgs.filter((p) => !dpkgInstalled(p));
  if (missing.length === 0) return [];
  if (!isRoot) {
    log(`missing Debian packages (run as root to install them): ${missing.join(" ")}`);
    return missing;
  }
  log(`installing Debian packages: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["update", "-qq"], { env });
  run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env });
  return missing.filter((p) => !dpkgInstalled(p));
}

/**
 * Builds the N-API addon in native/ (fallocate PUNCH_HOLE for UNMAP on fileio, SEEK_DATA/
 * SEEK_HOLE for GET LBA STATUS) when it is missing or older than its source. Without it the
 * backstores still work but UNMAP writes zeros instead of reclaiming space.
 */
export function ensureNativeAddon() {
  // liburing's headers for the fileio/block io_uring path (native/portico_uring.c); best effort:
  // without them the addon builds without it and fileio/block use libuv's thread pool, saying so.
  try {
    ensureDebianPackages(URING_BUILD_PACKAGES);
  } catch (err) {
    log(`cannot install ${URING_BUILD_PACKAGES.join(" ")} (${err.message}): fileio/block will use the thread pool`);
  }
  const built = path.join(root, "native", "build", "Release", "portico_native.node");
  const source = newestMtime(readdirSync(path.join(root, "native")).filter((f) => /\.(c|cc|h|gyp)$/.test(f)).map((f) => `native/${f}`));
  // The rbd backstore's addon (native/portico_rbd.c) is built only where librbd's headers are.
  const rbdBuilt = path.join(root, "native", "build", "Release", "portico_rbd.node");
  const rbdWanted = existsSync("/usr/include/rbd/librbd.h") && existsSync("/usr/include/rados/librados.h");
  // The io_uring path (native/portico_uring.c) likewise only where liburing's headers are.
  const uringBuilt = path.join(root, "native", "build", "Release", "portico_uring.node");
  const uringWanted = existsSync("/usr/include/liburing.h");
  const fresh = (f) => existsSync(f) && statSync(f).mtimeMs >= source;
  if (fresh(built) && (!rbdWanted || fresh(rbdBuilt)) && (!uringWanted || fresh(uringBuilt))) return;
  log("building the native addon (node-gyp)…");
  try {
    run("sh", [path.join(root, "native", "build.sh")], { env: npmEnv() });
  } catch (err) {
    log(`native addon not built (${err.message}): UNMAP will write zeros instead of punching holes`);
  }
}

/**
 * librbd's and librados' headers for the rbd backstore (native/portico_rbd.c). Installed
 * when root; without them everything but the rbd backstore works, and it says why.
 * libradospp-dev (librados' C++ headers, which librbd.hpp needs) lets large reads use librbd's
 * own buffers (native/portico_rbd_bl.cc); without it they are copied, as before.
 */
export const RBD_BUILD_PACKAGES = ["librbd-dev", "librados-dev", "libradospp-dev"];

/** liburing's headers (and library) for the fileio/block io_uring path, native/portico_uring.c. */
export const URING_BUILD_PACKAGES = ["liburing-dev"];

/** Builds the console (next build) when the build is missing or older than its sources. */
export function ensureNextBuild() {
  const buildId = path.join(root, ".next", "BUILD_ID");
  const sources = newestMtime(["app", "components", "server/api", "server/config", "next.config.js", "postcss.config.mjs", "package.json"]);
  if (existsSync(buildId) && statSync(buildId).mtimeMs >= sources) return;
  log("building the console (next build)…");
  run(process.execPath, [path.join(root, "node_modules", "next", "dist", "bin", "next"), "build"], {
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
}

export function which(cmd) {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

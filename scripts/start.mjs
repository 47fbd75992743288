/**
 * `npm start`: installs what is missing, builds the console if needed, then runs
 * the appliance (server/main.ts) in one Node process on its embedded defaults.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { RBD_BUILD_PACKAGES, ensureDebianPackages, ensureNativeAddon, ensureNextBuild, ensureNodeModules, root } from "./ensure.mjs";

try {
  ensureNodeModules();
  // openssl makes the console's self-signed HTTPS certificate at first start (docs/https.md).
  try {
    ensureDebianPackages(["openssl"]);
  } catch (err) {
    process.stderr.write(`[portico] cannot install openssl: ${err.message}\n`);
  }
  // Best effort: without librbd the rbd backstore reports itself unavailable, everything else runs.
  try {
    ensureDebianPackages(RBD_BUILD_PACKAGES);
  } catch (err) {
    process.stderr.write(`[portico] rbd backstore unavailable: ${err.message}\n`);
  }
  ensureNativeAddon();
  ensureNextBuild();
} catch (err) {
  process.stderr.write(`[portico] cannot start: ${err.message}\n`);
  process.exit(1);
}

// Every async fs call runs on libuv's pool (4 threads by default): size it for the
// outstanding disk IO of many LUNs at queue depth 32+. It must be set before start.
const env = { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? "64", NEXT_TELEMETRY_DISABLED: "1" };
const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "server", "main.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
  cwd: root,
  env,
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

/**
 * `npm test`: installs what is missing, then runs every suite and prints, as its
 * last line, `N passed, N failed, N skipped` summed over all suites.
 *
 * Suites: unit (vitest), integration (vitest: the real server with libiscsi and
 * QEMU), conformance (libiscsi's iscsi-test-cu through shared/tools/libiscsi-score
 * style classification), e2e (Playwright in Debian's Chromium on the production build).
 * `npm test -- unit integration` runs a subset.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { RBD_BUILD_PACKAGES, ensureDebianPackages, ensureNativeAddon, ensureNextBuild, ensureNodeModules, root } from "./ensure.mjs";

// ceph-*: the single-node Ceph the rbd tests start (test/support/ceph.ts); fio: its rbd engine is the bench peer;
// python3-rbd: the rbd tests' second client, holding an image's exclusive lock.
const CEPH_TEST_PACKAGES = ["ceph-mon", "ceph-osd", "ceph-mgr", "ceph-common", "fio", "python3-rbd", ...RBD_BUILD_PACKAGES];
// etcd-server, etcd-client: the etcd the cluster tests start (test/support/etcd.ts).
// qemu-system-x86, cpio, kmod: the Linux guest of ../shared/tools/linux-vm (kernel initiator + dm-multipath, test/integration/alua-multipath.test.ts).
const TEST_DEBIAN_PACKAGES = ["openssl", "curl", "libiscsi-bin", "qemu-utils", "qemu-block-extra", "qemu-system-x86", "cpio", "kmod", "chromium", "util-linux", "tmux", "etcd-server", "etcd-client", ...CEPH_TEST_PACKAGES];
const all = ["unit", "integration", "conformance", "e2e"];
const defaults = all;
const wanted = process.argv.slice(2).filter((a) => all.includes(a));
const suites = wanted.length ? wanted : defaults;

const tmp = mkdtempSync(path.join(os.tmpdir(), "portico-test-"));
const results = [];

function log(msg) {
  process.stdout.write(`\n[portico test] ${msg}\n`);
}

function bin(name) {
  return path.join(root, "node_modules", ".bin", name);
}

function runVitest(name, config) {
  const out = path.join(tmp, `${name}.json`);
  const r = spawnSync(bin("vitest"), ["run", "--config", config, "--reporter=default", "--reporter=json", `--outputFile.json=${out}`], {
    stdio: "inherit",
    cwd: root,
    env: { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? "64" },
  });
  if (!existsSync(out)) return { name, passed: 0, failed: 1, skipped: 0, note: `vitest exited ${r.status} without results` };
  const j = JSON.parse(readFileSync(out, "utf8"));
  // A test file that fails to load has no tests but counts as a failure.
  const brokenFiles = (j.testResults ?? []).filter((f) => f.status === "failed" && (f.assertionResults ?? []).length === 0).length;
  return {
    name,
    passed: j.numPassedTests,
    failed: j.numFailedTests + brokenFiles,
    skipped: (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0),
    note: r.status !== 0 && j.numFailedTests + brokenFiles === 0 ? `vitest exited ${r.status}` : undefined,
  };
}

function runConformance() {
  const script = path.join(root, "test", "conformance", "run.ts");
  if (!existsSync(script)) return undefined;
  const out = path.join(tmp, "conformance.json");
  const r = spawnSync(process.execPath, ["--import", "tsx", script, "--json", out], { stdio: "inherit", cwd: root });
  if (!existsSync(out)) return { name: "conformance", passed: 0, failed: 1, skipped: 0, note: `exited ${r.status} without results` };
  const j = JSON.parse(readFileSync(out, "utf8"));
  return { name: "conformance", passed: j.passed, failed: j.failed, skipped: j.skipped };
}

function runPlaywright() {
  if (!existsSync(path.join(root, "playwright.config.ts"))) return undefined;
  ensureNextBuild();
  const out = path.join(tmp, "e2e.json");
  const r = spawnSync(bin("playwright"), ["test", "--reporter=list,json"], {
    stdio: "inherit",
    cwd: root,
    env: { ...process.env, PLAYWRIGHT_JSON_OUTPUT_NAME: out },
  });
  if (!existsSync(out)) return { name: "e2e", passed: 0, failed: 1, skipped: 0, note: `playwright exited ${r.status} without results` };
  const s = JSON.parse(readFileSync(out, "utf8")).stats ?? {};
  const failed = (s.unexpected ?? 0) + (r.status !== 0 && !s.unexpected ? 1 : 0);
  return { name: "e2e", passed: (s.expected ?? 0) + (s.flaky ?? 0), failed, skipped: s.skipped ?? 0 };
}

try {
  ensureNodeModules();
  const stillMissing = ensureDebianPackages(TEST_DEBIAN_PACKAGES);
  if (stillMissing.length) log(`tests that need ${stillMissing.join(", ")} will fail: install them as root`);
  ensureNativeAddon();
} catch (err) {
  log(`setup failed: ${err.message}`);
  results.push({ name: "setup", passed: 0, failed: 1, skipped: 0 });
}

for (const suite of suites) {
  if (results.some((r) => r.name === "setup")) break;
  log(`suite: ${suite}`);
  let r;
  try {
    if (suite === "unit") r = runVitest("unit", "vitest.config.mts");
    else if (suite === "integration") r = runVitest("integration", "vitest.integration.config.mts");
    else if (suite === "conformance") r = runConformance();
    else if (suite === "e2e") r = runPlaywright();
  } catch (err) {
    r = { name: suite, passed: 0, failed: 1, skipped: 0, note: err.message };
  }
  if (r) results.push(r);
}

rmSync(tmp, { recursive: true, force: true });
process.stdout.write("\n");
for (const r of results) {
  process.stdout.write(`[portico test] ${r.name}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${r.note ? ` (${r.note})` : ""}\n`);
}
const sum = (k) => results.reduce((n, r) => n + r[k], 0);
const failed = sum("failed");
process.stdout.write(`${sum("passed")} passed, ${failed} failed, ${sum("skipped")} skipped\n`);
process.exit(failed > 0 ? 1 : 0);

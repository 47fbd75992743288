/**
 * libiscsi's conformance suite (iscsi-test-cu -d -t ALL) against the real appliance,
 * classified by ../shared/tools/libiscsi-score (PASS, SKIP = passed but printed
 * [SKIPPED], FAIL, INCOMPLETE).
 *
 *   npx tsx test/conformance/run.ts [--kind ramdisk|fileio-thin|fileio|block|rbd]... [--json OUT] [--tests REGEX] [--tgt]
 *
 * --tgt also scores Debian's tgt on a fully provisioned file LUN in the same run.
 *
 * Without --kind it runs the five LUN kinds the appliance serves: a (thin) ramdisk, a thin
 * fileio, a fully provisioned fileio, a block LUN on a loop device and an rbd LUN (a tcmu
 * user:rbd object on an image of a single-node Ceph, test/support/ceph.ts, started once);
 * then the ReadOnly suite against a write-protected ramdisk (ramdisk-readonly). The LUN is
 * reached through two portals of one TPG, so URL2 is a real second path for the
 * multipath tests. Exit code 1 on any FAIL or INCOMPLETE.
 *
 * One scorer FAIL is a known conflict inside libiscsi 1.19's suite (see
 * docs/conformance.md): Reserve6.LUNReset itself prints "passed", then the suite's
 * cleanup sends PERSISTENT RESERVE IN on both paths and gets the 29h/03h unit
 * attention that the LUN reset must raise on every I_T nexus (SAM-5 §6.3.3, which
 * MultipathIO.Reset checks). It is counted as skipped, with its reason, only when the
 * raw log shows exactly that; anything else in it stays a failure.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startCeph, type Ceph } from "../support/ceph";
import { restoreDemo, type DemoStorageObject } from "../support/demo";
import { startTgt } from "../support/tgt";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, removeDir, root, sh, startPortico, storageDirOf } from "../support/portico";

const args = process.argv.slice(2);
const opt = (n: string) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : undefined);
const kinds = args.flatMap((a, i) => (a === "--kind" ? [args[i + 1]] : []));
const jsonOut = opt("json");
const tests = opt("tests");
const MiB = 1024 * 1024;
const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.conformance1";

function scorerPath(): string {
  // CI and developers have the project's shared/ folder beside the checkout; a git worktree
  // sits one level deeper (shared/ beside its parent), so look upwards. LIBISCSI_SCORE overrides.
  const tried: string[] = [];
  if (process.env.LIBISCSI_SCORE) tried.push(process.env.LIBISCSI_SCORE);
  for (let dir = path.dirname(root); ; dir = path.dirname(dir)) {
    tried.push(path.join(dir, "shared", "tools", "libiscsi-score"));
    if (path.dirname(dir) === dir) break;
  }
  const found = tried.find((p) => existsSync(p));
  if (found) return found;
  throw new Error(`libiscsi-score not found (looked at ${tried.join(", ")}; set LIBISCSI_SCORE)`);
}

interface KindScore {
  kind: string;
  passed: number;
  skipped: number;
  failed: number;
  results: Record<string, string>;
  knownConflicts: Record<string, string>;
}

/**
 * A scorer FAIL that is only cleanup noise after a passed test: the test line ends in
 * "...passed" and every later line before the next test is a [FAILED] command that got
 * the BUS DEVICE RESET FUNCTION OCCURRED unit attention.
 */
function cleanupNoiseAfterPass(log: string, testName: string): boolean {
  const [suite, short] = testName.split(".");
  const lines = log.split("\n");
  // Test names repeat across suites (several have a LUNReset): find it inside its own suite.
  const suiteAt = lines.findIndex((l) => l.startsWith(`Suite: ${suite}`));
  const i = suiteAt < 0 ? -1 : lines.findIndex((l, k) => k > suiteAt && l.startsWith(`  Test: ${short} ...`));
  if (i < 0 || !/^ {2}Test: \S+ \.\.\.passed/.test(lines[i])) return false;
  const after = [lines[i].replace(/^ {2}Test: \S+ \.\.\.passed/, "")];
  for (let j = i + 1; j < lines.length && !/^ {2}Test: |^Run Summary|^Suite: /.test(lines[j]); j++) after.push(lines[j]);
  const noise = after.map((l) => l.trim()).filter(Boolean);
  return noise.length > 0 && noise.every((l) => /^\[FAILED\] .*UNIT_ATTENTION.*BUS_DEVICE_RESET/.test(l));
}

const KNOWN_CONFLICT = "test passed; libiscsi's suite cleanup then hit the LUN-reset unit attention SAM-5 requires on every I_T nexus";

/** The single-node Ceph behind the rbd kind: started on first use, stopped by pid at exit. */
let ceph: Promise<Ceph> | undefined;
let imageSeq = 0;

async function runKind(kind: string): Promise<KindScore> {
  const dataDir = makeDataDir("portico-cu-");
  const [p1, p2] = [await freePort(), await freePort()];
  let loop: string | undefined;
  let so: DemoStorageObject;
  // ramdisk-readonly: the same LUN behind demo_mode_write_protect=1 (MODE SENSE WP), for the
  // ReadOnly suite only, which skips on a writable LUN and whose writes must fail everywhere else.
  const readOnly = kind === "ramdisk-readonly";
  if (kind === "ramdisk" || readOnly) so = { name: "cu", plugin: "ramdisk", size: 128 * MiB, attributes: { emulate_tpu: 1, emulate_tpws: 1 } };
  else if (kind === "fileio" || kind === "fileio-thin") {
    so = {
      name: "cu",
      plugin: "fileio",
      dev: path.join(storageDirOf(dataDir), "cu.img"),
      size: 128 * MiB,
      write_back: false,
      attributes: kind === "fileio-thin" ? { emulate_tpu: 1, emulate_tpws: 1 } : {},
    };
    if (kind === "fileio") spawnSync("fallocate", ["-l", String(128 * MiB), path.join(storageDirOf(dataDir), "cu.img")]);
  } else if (kind === "block") {
    const f = path.join(dataDir, "loop.img");
    spawnSync("fallocate", ["-l", String(128 * MiB), f]);
    const r = sh("losetup", ["-f", "--show", f]);
    if (r.status !== 0) throw new Error(`losetup failed (root needed): ${r.stderr}`);
    loop = r.stdout.trim();
    so = { name: "cu", plugin: "block", dev: loop, write_back: false };
  } else if (kind === "rbd") {
    // As `rbd create` leaves it and ceph-iscsi names it: a tcmu user:rbd object on that image.
    // One retry: on a shared machine another cluster may take a port between freePort and bind.
    ceph ??= startCeph().catch((err: Error) => {
      process.stdout.write(`conformance (rbd): Ceph did not start (${err.message.split("\n")[0]}), retrying once\n`);
      return startCeph();
    });
    const c = await ceph;
    const image = `cu${++imageSeq}`;
    c.rbd("create", "--size", "128M", `rbd/${image}`);
    so = { name: "cu", plugin: "user", size: 128 * MiB, config: `rbd/rbd/${image};conf=${c.conf};osd_op_timeout=30`, attributes: {} };
  } else throw new Error(`unknown --kind ${kind}`);
  restoreDemo(dataDir, {
    iqn: IQN,
    storageObjects: [so],
    ports: [p1, p2],
    tpgAttributes: { demo_mode_write_protect: readOnly ? 1 : 0 },
  });
  const server = await startPortico({ dataDir });
  try {
    await waitForPort(p1);
    const out = path.join(dataDir, "score.json");
    const log = path.join(dataDir, "cu.log");
    const scoreArgs = [`iscsi://127.0.0.1:${p1}/${IQN}/0`, `iscsi://127.0.0.1:${p2}/${IQN}/0`, "--json", out, "--log", log];
    if (readOnly) scoreArgs.push("--tests", "ALL.ReadOnly");
    else if (tests) scoreArgs.push("--tests", tests);
    const r = spawnSync("python3", [scorerPath(), ...scoreArgs], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    process.stdout.write(r.stdout);
    if (!existsSync(out)) throw new Error(`scorer wrote no results (exit ${r.status})`);
    const score = JSON.parse(readFileSync(out, "utf8")) as { counts: Record<string, number>; results: Record<string, string> };
    const rawLog = existsSync(log) ? readFileSync(log, "utf8") : "";
    const knownConflicts: Record<string, string> = {};
    for (const [name, st] of Object.entries(score.results)) {
      if (st === "FAIL" && name === "Reserve6.LUNReset" && cleanupNoiseAfterPass(rawLog, name)) knownConflicts[name] = KNOWN_CONFLICT;
    }
    for (const [name, st] of Object.entries(score.results)) {
      if (st !== "PASS") process.stdout.write(`  ${(knownConflicts[name] ? "FAIL*" : st).padEnd(10)} ${name}${knownConflicts[name] ? ` (${knownConflicts[name]})` : ""}\n`);
    }
    const c = score.counts;
    const conflicts = Object.keys(knownConflicts).length;
    process.stdout.write(
      `conformance (${kind}): scorer pass=${c.PASS} skip=${c.SKIP} fail=${c.FAIL} incomplete=${c.INCOMPLETE}` +
        (conflicts ? ` (${conflicts} FAIL* = known suite conflict, counted as skipped)` : "") +
        "\n",
    );
    return { kind, passed: c.PASS, skipped: c.SKIP + conflicts, failed: c.FAIL + c.INCOMPLETE - conflicts, results: score.results, knownConflicts };
  } finally {
    await server.stop().catch(() => server.kill());
    if (loop) sh("losetup", ["-d", loop]);
    removeDir(dataDir);
  }
}

/** Debian's tgt on a fully provisioned file LUN, scored the same way (needs root for tgtd). */
async function runTgt(): Promise<void> {
  const dir = makeDataDir("portico-cu-tgt-");
  const file = path.join(dir, "tgt.img");
  spawnSync("fallocate", ["-l", String(128 * MiB), file]);
  try {
    const tgt = await startTgt(file, "iqn.2001-04.com.example:conformance");
    try {
      const r = spawnSync("python3", [scorerPath(), tgt.url, tgt.url, ...(tests ? ["--tests", tests] : [])], { encoding: "utf8" });
      process.stdout.write(`conformance (tgt, full file): ${r.stdout.trim()}\n`);
    } finally {
      await tgt.stop();
    }
  } finally {
    removeDir(dir);
  }
}

async function main(): Promise<number> {
  scorerPath(); // fail before starting anything
  if (args.includes("--tgt")) await runTgt().catch((err) => process.stdout.write(`tgt: could not run: ${err.message}\n`));
  const all: KindScore[] = [];
  for (const kind of kinds.length ? kinds : ["ramdisk", "fileio-thin", "fileio", "block", "rbd", "ramdisk-readonly"]) {
    try {
      all.push(await runKind(kind));
    } catch (err) {
      process.stdout.write(`conformance (${kind}): could not run: ${err instanceof Error ? err.message : String(err)}\n`);
      all.push({ kind, passed: 0, skipped: 0, failed: 1, results: {}, knownConflicts: {} });
    }
  }
  if (ceph) await (await ceph.catch(() => undefined))?.stop();
  const sum = (k: "passed" | "skipped" | "failed") => all.reduce((n, r) => n + r[k], 0);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ passed: sum("passed"), skipped: sum("skipped"), failed: sum("failed"), kinds: all }, null, 1));
  return sum("failed") > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`conformance: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);

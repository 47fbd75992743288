/**
 * libiscsi's conformance suite (iscsi-test-cu -d -t ALL) against the real appliance,
 * classified by ../shared/tools/libiscsi-score (PASS, SKIP = passed but printed
 * [SKIPPED], FAIL, INCOMPLETE).
 *
 *   npx tsx test/conformance/run.ts [--kind ramdisk|fileio-thin|fileio|block] [--json OUT] [--tests REGEX]
 *
 * The LUN is reached through two portals of one TPG, so URL2 is a real second path
 * for the multipath tests. Exit code 1 on any FAIL or INCOMPLETE.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, root, sh, startPortico } from "../support/portico";

const args = process.argv.slice(2);
const opt = (n: string) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : undefined);
const kind = opt("kind") ?? "ramdisk";
const jsonOut = opt("json");
const tests = opt("tests");
const MiB = 1024 * 1024;
const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.conformance1";

function scorerPath(): string {
  for (const p of [path.join(root, "..", "shared", "tools", "libiscsi-score"), "/work/shared/tools/libiscsi-score"]) if (existsSync(p)) return p;
  throw new Error("libiscsi-score not found in ../shared/tools");
}

async function main(): Promise<number> {
  const dataDir = makeDataDir("portico-cu-");
  const [p1, p2] = [await freePort(), await freePort()];
  let loop: string | undefined;
  let so: Record<string, unknown>;
  if (kind === "ramdisk") so = { name: "cu", plugin: "ramdisk", size: 128 * MiB };
  else if (kind === "fileio" || kind === "fileio-thin") {
    so = {
      name: "cu",
      plugin: "fileio",
      dev: path.join(dataDir, "cu.img"),
      size: 128 * MiB,
      write_back: false,
      attributes: kind === "fileio-thin" ? { emulate_tpu: 1, emulate_tpws: 1 } : {},
    };
    if (kind === "fileio") spawnSync("fallocate", ["-l", String(128 * MiB), path.join(dataDir, "cu.img")]);
  } else if (kind === "block") {
    const f = path.join(dataDir, "loop.img");
    spawnSync("fallocate", ["-l", String(128 * MiB), f]);
    const r = sh("losetup", ["-f", "--show", f]);
    if (r.status !== 0) throw new Error(`losetup failed (root needed): ${r.stderr}`);
    loop = r.stdout.trim();
    so = { name: "cu", plugin: "block", dev: loop, write_back: false };
  } else throw new Error(`unknown --kind ${kind}`);
  const plugin = so.plugin as string;
  const cfg = {
    storage_objects: [so],
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: [
          {
            tag: 1,
            enable: true,
            attributes: { authentication: 0, generate_node_acls: 1, demo_mode_write_protect: 0 },
            luns: [{ index: 0, storage_object: `/backstores/${plugin}/cu` }],
            portals: [
              { ip_address: "127.0.0.1", port: p1 },
              { ip_address: "127.0.0.1", port: p2 },
            ],
            node_acls: [],
          },
        ],
      },
    ],
  };
  writeFileSync(path.join(dataDir, "cu.json"), JSON.stringify(cfg));
  const rc = portico(dataDir, ["restoreconfig", path.join(dataDir, "cu.json")]);
  if (rc.status !== 0) throw new Error(`restoreconfig failed: ${rc.stderr}`);
  const server = await startPortico({ dataDir });
  try {
    await waitForPort(p1);
    const out = path.join(dataDir, "score.json");
    const log = path.join(dataDir, "cu.log");
    const scoreArgs = [`iscsi://127.0.0.1:${p1}/${IQN}/0`, `iscsi://127.0.0.1:${p2}/${IQN}/0`, "--json", out, "--log", log];
    if (tests) scoreArgs.push("--tests", tests);
    const r = spawnSync("python3", [scorerPath(), ...scoreArgs], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    process.stdout.write(r.stdout);
    if (!existsSync(out)) throw new Error(`scorer wrote no results (exit ${r.status})`);
    const score = JSON.parse(readFileSync(out, "utf8")) as { counts: Record<string, number>; results: Record<string, string> };
    for (const [name, st] of Object.entries(score.results)) if (st !== "PASS") process.stdout.write(`  ${st.padEnd(10)} ${name}\n`);
    const c = score.counts;
    const summary = { kind, passed: c.PASS, skipped: c.SKIP, failed: c.FAIL + c.INCOMPLETE, results: score.results };
    process.stdout.write(`conformance (${kind}): pass=${c.PASS} skip=${c.SKIP} fail=${c.FAIL} incomplete=${c.INCOMPLETE}\n`);
    if (jsonOut) writeFileSync(jsonOut, JSON.stringify(summary, null, 1));
    return summary.failed > 0 ? 1 : 0;
  } finally {
    await server.stop().catch(() => server.kill());
    if (loop) sh("losetup", ["-d", loop]);
    removeDir(dataDir);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`conformance: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);

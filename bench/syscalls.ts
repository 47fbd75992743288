/**
 * System calls per 4 KiB READ at queue depth 1 on the target, Portico's engine alone
 * (test/support/engine-server.ts, 1 GiB ramdisk) and Debian's tgt (a file in /dev/shm):
 * `strace -c -f -p <target pid>` attached for N reads of bench/initiator.ts, counts divided by N.
 * Also checks TCP_NODELAY on the target's accepted socket (`ss -tip`). Needs root and strace.
 *
 *   npx tsx bench/syscalls.ts [--count 5000] [--tree DIR] [--no-tgt]
 */
import { spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BenchSession } from "./initiator";
import { startTgt } from "../test/support/tgt";
import { freePort } from "../test/support/ports";

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(arg("--count")) || 5000;
const root = arg("--tree") ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SPAN = 64 * 1024 ** 2;

async function measure(name: string, pid: number, port: number, iqn: string, lun: number): Promise<void> {
  const s = await BenchSession.login({ host: "127.0.0.1", port, targetName: iqn, initiatorName: "iqn.2026-12.org.portico:syscalls", isid: 9 });
  const data = Buffer.alloc(4096);
  await s.command(lun, false, 0, 4096, 512);
  const loop = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const st = await s.command(lun, false, Math.floor(Math.random() * (SPAN / 4096)) * 8, 4096, 512, data);
      if (st !== 0) throw new Error(`status ${st}`);
    }
  };
  await loop(3000);
  const out = `/tmp/syscalls-${name}-${process.pid}.txt`;
  const strace = spawn("strace", ["-c", "-f", "-o", out, "-p", String(pid)], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 1000)); // attached to every thread
  await loop(count);
  strace.kill("SIGINT");
  await new Promise((r) => strace.once("exit", r));
  const ss = spawnSync("ss", ["-tinH", "state", "established", `( sport = :${port} )`], { encoding: "utf8" }).stdout;
  await s.logout();
  const text = spawnSync("cat", [out], { encoding: "utf8" }).stdout;
  rmSync(out, { force: true });
  const rows: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$/.exec(line);
    if (m && m[3] !== "total") rows.push(`${m[3]} ${(Number(m[1]) / count).toFixed(2)}${m[2] ? ` (${m[2]} errors)` : ""}`);
  }
  console.log(`${name}: system calls per 4 KiB read (${count} reads): ${rows.join(", ")}`);
  console.log(`${name}: target socket ${/nodelay|TCP_NODELAY/.test(ss) ? "" : "(ss shows no nodelay flag) "}${ss.replace(/\s+/g, " ").trim().slice(0, 300)}`);
}

async function main() {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "test/support/engine-server.ts"), "--port", String(port), "--ramdisk", "1G"], {
    cwd: root, stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 300 && !/READY (\S+)/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  const iqn = /READY (\S+)/.exec(out)![1];
  try {
    await measure("portico", child.pid!, port, iqn, 0);
  } finally {
    child.kill("SIGTERM");
  }
  if (args.includes("--no-tgt")) return;
  const file = `/dev/shm/portico-syscalls-tgt-${process.pid}.img`;
  spawnSync("truncate", ["-s", String(1024 ** 3), file]);
  const tiqn = "iqn.2001-04.com.example:syscalls";
  const t = await startTgt(file, tiqn);
  try {
    await measure("tgt", t.pid!, Number(new URL(t.url.replace(/^iscsi:/, "http:")).port), tiqn, 1);
  } finally {
    await t.stop();
    rmSync(file, { force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

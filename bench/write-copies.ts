/**
 * Bytes of payload the target copies per byte written, counted (not timed, so load does not blur
 * it): the engine alone in this process on a 1 GiB ramdisk, Buffer#copy wrapped to count bytes by
 * destination, driven by `qemu-img bench -w` (libiscsi) over 127.0.0.1. Copies into the ramdisk's
 * medium are the backstore's; copies into any other buffer of 1 KiB or more are the transport's
 * (PDU assembly, gather buffers); headers and digests (< 1 KiB) are not counted.
 *
 *   npx tsx bench/write-copies.ts [--root TREE] [--params lio|ceph-iscsi] [--count 400] [--size 1M] [--depth 8] [--no-count]
 *
 * --root runs another checkout's engine (a before tree) with this counter. --no-count leaves Buffer#copy
 * alone: the same run as a harness for a profile (`node --cpu-prof --import tsx bench/write-copies.ts --no-count`).
 */
import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { freePort } from "../test/support/ports";

const args = process.argv.slice(2);
const arg = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const root = path.resolve(arg("--root") ?? path.join(path.dirname(fileURLToPath(import.meta.url)), ".."));
const params = arg("--params") ?? "ceph-iscsi";
const count = Number(arg("--count") ?? 400);
const size = arg("--size") ?? "1M";
const depth = arg("--depth") ?? "8";
const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.writecopies1";
/** ceph-iscsi's target defaults (bench/rbd.ts CEPH_ISCSI_TPG_PARAMETERS); "lio" keeps LIO's. */
const TPG: Record<string, Record<string, string>> = {
  lio: {},
  "ceph-iscsi": { MaxRecvDataSegmentLength: "262144", FirstBurstLength: "262144", MaxBurstLength: "524288" },
};

const counted = { transport: 0, medium: 0, calls: 0 };
let on = false;
const realCopy = Buffer.prototype.copy;
if (!args.includes("--no-count")) Buffer.prototype.copy = function (this: Buffer, target: Uint8Array, ts?: number, ss?: number, se?: number): number {
  const n = realCopy.call(this, target, ts, ss, se);
  if (on) {
    if (target.length >= 256 * 1024 * 1024) counted.medium += n;
    else if (target.length >= 1024) {
      counted.transport += n;
      counted.calls++;
    }
  }
  return n;
} as typeof Buffer.prototype.copy;

function run(cmd: string, a: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, a);
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    p.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`))));
  });
}

async function main() {
  const { createEngine } = await import(pathToFileURL(path.join(root, "server/engine/index.ts")).href);
  const engine = createEngine();
  const so = await engine.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 1024 ** 3 });
  engine.createTarget(IQN);
  engine.createTpg(IQN, 1, { attributes: { generate_node_acls: 1, demo_mode_write_protect: 0, cache_dynamic_acls: 1 } });
  for (const [k, v] of Object.entries(TPG[params])) engine.setTpgParameter(IQN, 1, k, v);
  engine.createLun(IQN, 1, so.path, { index: 0 });
  const port = await freePort();
  await engine.createPortal(IQN, 1, "127.0.0.1", port);
  const url = `iscsi://127.0.0.1:${port}/${IQN}/0`;
  const bench = ["bench", "-w", "-s", size, "-d", depth, "-f", "raw", url];
  await run("qemu-img", [...bench, "-c", String(count)]); // first touch of the medium's pages, not counted
  on = true;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await run("qemu-img", [...bench, "-c", String(count)]);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  on = false;
  const m = /^(\d+)([kmg]?)$/i.exec(size)!;
  const bytes = count * Number(m[1]) * 1024 ** " kmg".indexOf((m[2] || " ").toLowerCase());
  const per = (n: number) => (n / bytes).toFixed(3);
  console.log(`${path.basename(root)} params ${params}, ${count} × ${size} writes QD${depth}: transport ${per(counted.transport)} B copied per B written (${(counted.calls / count).toFixed(1)} copies per write), medium ${per(counted.medium)}; ${(bytes / 1048576 / secs).toFixed(0)} MiB/s, CPU ${((cpu.user + cpu.system) / count).toFixed(0)} µs per write${args.includes("--no-count") ? " (not counted)" : " (counter included)"}, load ${os.loadavg()[0].toFixed(1)}`);
  await engine.shutdown();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});

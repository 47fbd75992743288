/**
 * Runs the engine alone (no database, no console) with one demo-mode target, for
 * trying real initiators and for the benchmarks:
 *
 *   npx tsx test/support/engine-server.ts --port 3270 [--ramdisk 1G] [--fileio PATH:SIZE] [--block DEV]
 *                                         [--rbd rbd/POOL/IMAGE;conf=PATH] [--iqn IQN] [--ip 127.0.0.1] [--write-back]
 *
 * Prints `READY <iqn> <ip>:<port>` when the portal listens; SIGTERM/SIGINT shut down cleanly.
 */
import { createEngine } from "../../server/engine";
import { serveDemoTarget } from "./demo-target";

const args = process.argv.slice(2);
function opt(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}
function all(name: string): string[] {
  return args.flatMap((a, i) => (a === `--${name}` ? [args[i + 1]] : []));
}
function bytes(s: string): number {
  const m = /^(\d+)([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * 1024 ** " kmgt".indexOf((m[2] || " ").toLowerCase());
}

async function main() {
  const port = Number(opt("port") ?? 3270);
  const ip = opt("ip") ?? "127.0.0.1";
  const iqn = opt("iqn") ?? "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.engineonly01";
  const writeBack = args.includes("--write-back");
  const engine = createEngine();
  const sos: string[] = [];
  for (const [i, size] of all("ramdisk").entries()) {
    const so = await engine.createStorageObject({ plugin: "ramdisk", name: `rd${i}`, size: bytes(size) });
    sos.push(so.path);
  }
  for (const [i, spec] of all("fileio").entries()) {
    const [dev, size] = spec.split(":");
    const so = await engine.createStorageObject({ plugin: "fileio", name: `fio${i}`, dev, size: size ? bytes(size) : undefined, writeBack });
    sos.push(so.path);
  }
  for (const [i, dev] of all("block").entries()) {
    const so = await engine.createStorageObject({ plugin: "block", name: `blk${i}`, dev, writeBack });
    sos.push(so.path);
  }
  for (const [i, config] of all("rbd").entries()) {
    const so = await engine.createStorageObject({ plugin: "rbd", name: `rbd${i}`, dev: config });
    sos.push(so.path);
  }
  if (sos.length === 0) sos.push((await engine.createStorageObject({ plugin: "ramdisk", name: "rd0", size: bytes("1G") })).path);
  await serveDemoTarget(engine, { iqn, ip, port, storageObjects: sos, attributes: { cache_dynamic_acls: 1 } });
  process.stdout.write(`READY ${iqn} ${ip}:${port}\n`);
}

main().catch((err) => {
  process.stderr.write(`engine-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

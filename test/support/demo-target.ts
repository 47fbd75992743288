/**
 * The engine alone serving one demo-mode target, for the standalone servers that real initiators
 * and benchmarks talk to (test/support/engine-server.ts, test/unit/scsi/score-server.ts).
 */
import type { Engine } from "../../server/engine/core/engine";

/**
 * Exports `storageObjects` (paths) as LUNs 0, 1, … of TPG 1 of a new target `iqn` in demo mode
 * (generate_node_acls=1, writable), with a portal on ip:port; SIGTERM and SIGINT then shut the
 * engine down cleanly and end the process.
 */
export async function serveDemoTarget(engine: Engine, o: { iqn: string; ip: string; port: number; storageObjects: string[]; attributes?: Record<string, number> }): Promise<void> {
  engine.createTarget(o.iqn);
  engine.createTpg(o.iqn, 1, { attributes: { generate_node_acls: 1, demo_mode_write_protect: 0, ...o.attributes } });
  o.storageObjects.forEach((p, lun) => engine.createLun(o.iqn, 1, p, { index: lun }));
  await engine.createPortal(o.iqn, 1, o.ip, o.port);
  const stop = async () => {
    await engine.shutdown();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

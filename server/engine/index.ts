/**
 * The engine's front door: wires backstores, SCSI emulation and the iSCSI fabric
 * into one Engine. Nothing here (or below) imports Next, React, tRPC or the database.
 */
import { openBackstore } from "./backstores";
import { Engine } from "./core/engine";
import { IscsiFabric, type IscsiFabricOptions } from "./iscsi/fabric";
import { ScsiDisk } from "./scsi/disk";

export { Engine } from "./core/engine";
export type { SessionInfo, StorageObjectSpec, FabricDriver } from "./core/engine";
export { EngineError } from "./core/errors";

export function createEngine(options: IscsiFabricOptions = {}): Engine {
  const engine = new Engine({ openBackstore, createDevice: (info) => new ScsiDisk(info) });
  engine.attachFabric(new IscsiFabric(engine, options));
  return engine;
}

/**
 * The engine's front door: wires backstores, SCSI emulation and the iSCSI fabric
 * into one Engine. Nothing here (or below) imports Next, React, tRPC or the database.
 */
import { openBackstore } from "./backstores";
import type { FileioPolicyOptions } from "./backstores/path-policy";
import { Engine } from "./core/engine";
import { envNumber, envSwitch, type Env } from "./core/env";
import { IoSampler } from "./core/sampler";
import { IoStats } from "./core/stats";
import { IscsiFabric, type IscsiFabricOptions } from "./iscsi/fabric";
import { ScsiDisk } from "./scsi/disk";
import type { DeviceInfo } from "./scsi/types";

export { Engine } from "./core/engine";
export type { SessionInfo, StorageObjectSpec, FabricDriver } from "./core/engine";
export { EngineError } from "./core/errors";

/** What live monitoring needs from an engine: the counters, the 1 Hz sampler (not started) and the fabric. */
export interface EngineMonitor {
  stats: IoStats;
  sampler: IoSampler;
  fabric: IscsiFabric;
}

const monitors = new WeakMap<Engine, EngineMonitor>();

/** The monitor of an engine made by createEngine (undefined for an engine without the iSCSI fabric). */
export function engineMonitor(engine: Engine): EngineMonitor | undefined {
  return monitors.get(engine);
}

/** PORTICO_STATS=off (or 0/false/no) switches IO counting off: the overhead benchmark's baseline. */
export function statsEnabledFromEnv(env: Env = process.env): boolean {
  return envSwitch("PORTICO_STATS", { default: true, env });
}

export function createEngine(options: IscsiFabricOptions & { statsEnabled?: boolean; fileio?: FileioPolicyOptions } = {}): Engine {
  let fabric: IscsiFabric | undefined;
  const engine = new Engine({
    openBackstore,
    fileio: options.fileio,
    createDevice: (info) => {
      const disk = new ScsiDisk(info);
      // Unit attentions as they are raised, to fabric.events ('unit_attention_raised', one per nexus).
      disk.onUnitAttention = (keys, asc, ascq) => fabric?.unitAttentionRaised(info as DeviceInfo & { device?: unknown }, keys, asc, ascq);
      return disk;
    },
  });
  const stats = options.stats ?? new IoStats();
  stats.enabled = options.statsEnabled ?? statsEnabledFromEnv();
  // LUN counters follow the engine's LUNs (not the configuration polled): /metrics and the charts
  // list a LUN from its creation, and a deleted LUN's series ends at once.
  engine.onLunChange(({ type, lun }) => {
    if (type === "created") stats.lun(lun.tpg.target.wwn, lun.tpg.tag, lun.index, lun.storageObject.name, lun.storageObject.plugin);
    else stats.removeLun(lun.tpg.target.wwn, lun.tpg.tag, lun.index);
  });
  fabric = new IscsiFabric(engine, { ...options, stats });
  engine.attachFabric(fabric);
  // PORTICO_HISTORY_MINUTE_MS shortens the aggregate "minute" (tests of the history).
  const minuteMs = envNumber("PORTICO_HISTORY_MINUTE_MS", { default: undefined, min: 1 });
  monitors.set(engine, { stats, sampler: new IoSampler(stats, { minuteMs }), fabric });
  return engine;
}

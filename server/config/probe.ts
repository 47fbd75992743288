/**
 * A backstore opener that checks a spec without touching storage: used when the
 * CLI edits the configuration while the appliance is stopped. It runs the same
 * checks a real open would (missing file without a size, not a block device...)
 * but creates, allocates and opens nothing; the appliance opens for real at start.
 */
import fs from "node:fs";
import path from "node:path";
import type { Backstore, BackstoreSpec, OpenBackstore } from "../engine/backstores/backstore";
import { openBackstore } from "../engine/backstores/index";
import { parseRbdConfig } from "../engine/backstores/rbd-config";

const blockSizeOf = (spec: BackstoreSpec) => spec.blockSize ?? 512;
import type { DeviceInfo, ScsiDevice } from "../engine/scsi/types";

function probe(spec: BackstoreSpec, sizeBytes: number): Backstore {
  const blockSize = spec.blockSize ?? 512;
  return {
    plugin: spec.plugin,
    blockSize,
    sizeBytes: Math.floor(sizeBytes / blockSize) * blockSize,
    writeBack: spec.writeBack ?? false,
    read: async () => Buffer.alloc(0),
    write: async () => undefined,
    flush: async () => undefined,
    close: async () => undefined,
  };
}

async function blockDeviceBytes(dev: string): Promise<number> {
  const real = await fs.promises.realpath(dev);
  const name = path.basename(real);
  const sectors = await fs.promises.readFile(`/sys/class/block/${name}/size`, "utf8").catch(() => "0");
  return Number(sectors.trim()) * 512;
}

export const probeBackstore: OpenBackstore = async (spec) => {
  const size = spec.size;
  switch (spec.plugin) {
    case "ramdisk":
      if (!size) throw new Error(`ramdisk ${spec.name} needs a size`);
      return probe(spec, size);
    case "fileio": {
      if (!spec.dev) throw new Error(`fileio ${spec.name} needs a file path (dev)`);
      const file = path.resolve(spec.dev);
      const st = await fs.promises.stat(file).catch(() => undefined);
      if (!st) {
        const dir = await fs.promises.stat(path.dirname(file)).catch(() => undefined);
        if (!dir?.isDirectory()) throw new Error(`directory ${path.dirname(file)} does not exist`);
        if (!size) throw new Error(`file ${file} does not exist: give a size to create it`);
        return probe(spec, size);
      }
      if (st.isBlockDevice()) throw new Error(`${file} is a block device: use the block backstore for it`);
      if (!st.isFile()) throw new Error(`${file} is not a regular file`);
      return probe(spec, Math.max(st.size, size ?? 0));
    }
    case "block": {
      if (!spec.dev) throw new Error(`block ${spec.name} needs a device path (dev)`);
      const st = await fs.promises.stat(spec.dev).catch(() => undefined);
      if (!st) throw new Error(`block device ${spec.dev} does not exist`);
      if (!st.isBlockDevice()) throw new Error(`${spec.dev} is not a block device`);
      return probe(spec, await blockDeviceBytes(spec.dev));
    }
    case "rbd":
      // The offline CLI does not reach the cluster: check the config string; the appliance opens the image at start.
      if (!spec.dev) throw new Error(`rbd ${spec.name} needs a config string rbd/<pool>/<image>`);
      parseRbdConfig(spec.dev);
      return probe(spec, size ?? blockSizeOf(spec));
    default:
      throw new Error(`unknown backstore plugin "${String(spec.plugin)}"`);
  }
};

/** A SCSI device that is never executed (the offline engine has no fabric). */
export function offlineDevice(_info: DeviceInfo): ScsiDevice {
  return {
    execute: async () => {
      throw new Error("the configuration engine does not execute SCSI commands");
    },
  };
}

/**
 * For the CLI while the appliance is stopped: fileio objects are opened for real
 * (a new file is created, as targetcli does at create time, so the appliance finds
 * it at start); ramdisks and block devices are only checked.
 */
export const offlineBackstore: OpenBackstore = (spec) => (spec.plugin === "fileio" ? openBackstore(spec) : probeBackstore(spec));

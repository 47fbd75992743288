import { RamdiskBackstore } from "../../../server/engine/backstores/ramdisk";
import type { Backstore } from "../../../server/engine/backstores/backstore";
import { ScsiDisk } from "../../../server/engine/scsi/disk";
import { storageObjectAttributeDefaults } from "../../../server/engine/core/defaults";
import { itNexus, type DeviceInfo, type NexusIdentity, type ResolvedLun, type ScsiNexusView, type ScsiResult, type ScsiTask } from "../../../server/engine/scsi/types";
import { parseSense } from "../../../server/engine/scsi/sense";

export const WWN = "0d3f6b2a-1c2e-4e5f-9a8b-7c6d5e4f3a2b";

export function makeInfo(backstore: Backstore, attrs: Record<string, number> = {}): DeviceInfo {
  return {
    name: "disk1",
    plugin: backstore.plugin,
    wwn: WWN,
    vendorId: "LIO-ORG",
    productId: "disk1",
    revision: "4.0",
    attributes: { ...storageObjectAttributeDefaults(backstore.plugin, backstore.blockSize), ...attrs },
    backstore,
  };
}

export function identity(initiator = "iqn.1994-05.com.example:init1", isid = "400001370000"): NexusIdentity {
  const targetName = "iqn.2003-01.org.example:target";
  const tpgTag = 1;
  return itNexus(initiator, isid, targetName, tpgTag);
}

export function makeView(disk: ScsiDisk | undefined, id = identity(), opts: { writeProtect?: boolean; luns?: number[] } = {}): ScsiNexusView & { resolved?: ResolvedLun } {
  const luns = opts.luns ?? (disk ? [0] : []);
  const resolved: ResolvedLun | undefined = disk
    ? { binding: { lun: 0, tpgLunIndex: 0, writeProtect: opts.writeProtect ?? false }, device: disk, relativeTargetPortId: 3 }
    : undefined;
  return {
    identity: id,
    resolve: (lun: number) => (lun === 0 ? resolved : undefined),
    luns: () => luns,
    resolved,
  };
}

export function makeDisk(opts: { blocks?: number; blockSize?: number; attrs?: Record<string, number> } = {}) {
  const bs = opts.blockSize ?? 512;
  const backstore = new RamdiskBackstore(bs, (opts.blocks ?? 2048) * bs);
  const disk = new ScsiDisk(makeInfo(backstore, opts.attrs));
  return { disk, backstore };
}

export function task(cdbBytes: number[], opts: Partial<ScsiTask> = {}): ScsiTask {
  const cdb = Buffer.alloc(16);
  Buffer.from(cdbBytes).copy(cdb);
  return {
    cdb,
    lun: 0,
    expectedDataTransferLength: opts.dataOut?.length ?? 65536,
    read: !opts.dataOut,
    write: !!opts.dataOut,
    taskAttribute: 1,
    taskTag: 1,
    ...opts,
  };
}

export async function run(disk: ScsiDisk, t: ScsiTask, view = makeView(disk)): Promise<ScsiResult> {
  return disk.execute(t, view, view.resolved!);
}

export function senseOf(r: ScsiResult) {
  if (!r.sense) throw new Error(`no sense data (status ${r.status})`);
  return parseSense(r.sense);
}

/** CDB helpers */
export function rw10(op: number, lba: number, blocks: number, flags = 0): number[] {
  return [op, flags, (lba >>> 24) & 0xff, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, (blocks >> 8) & 0xff, blocks & 0xff, 0];
}
export function rw16(op: number, lba: bigint, blocks: number, flags = 0): number[] {
  const b = Buffer.alloc(16);
  b[0] = op;
  b[1] = flags;
  b.writeBigUInt64BE(lba, 2);
  b.writeUInt32BE(blocks, 10);
  return [...b];
}

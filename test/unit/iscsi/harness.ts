/**
 * In-process target for iSCSI tests: an Engine with an in-memory backstore and a
 * stub SCSI device (READ/WRITE(10), TEST UNIT READY, a slow command for aborts),
 * plus an IscsiFabric on 127.0.0.1 and a free port.
 */
import type { Backstore, BackstoreSpec } from "../../../server/engine/backstores/backstore";
import { Engine } from "../../../server/engine/core/engine";
import { IscsiFabric, type IscsiFabricOptions } from "../../../server/engine/iscsi/fabric";
import { ScsiStatus, type DeviceInfo, type NexusIdentity, type ScsiDevice, type ScsiResult, type ScsiTask } from "../../../server/engine/scsi/types";
import { freePort } from "../../support/iscsi-client";

export const TARGET = "iqn.2024-01.org.portico.test:target1";
export const INITIATOR = "iqn.2024-01.org.portico.test:client";

function memBackstore(spec: BackstoreSpec): Backstore {
  const mem = Buffer.alloc(spec.size ?? 1024 * 1024);
  return {
    plugin: spec.plugin,
    blockSize: spec.blockSize ?? 512,
    sizeBytes: mem.length,
    writeBack: false,
    async read(off, len) { return mem.subarray(off, off + len); },
    async write(off, data) { data.copy(mem, off); },
    async flush() {},
    async close() {},
  };
}

/** Opcode of the stub's slow command: waits until aborted or 3 s. */
export const SLOW_OPCODE = 0xc0;

export class StubDisk implements ScsiDevice {
  readonly events: string[] = [];
  /** One entry per READ(10) buffer given back (releaseDataIn): true when it was that read's own buffer. */
  readonly released: boolean[] = [];
  constructor(readonly info: DeviceInfo) {}
  async execute(task: ScsiTask): Promise<ScsiResult> {
    const bs = this.info.backstore;
    const cdb = task.cdb;
    switch (cdb[0]) {
      case 0x00:
        return { status: ScsiStatus.GOOD };
      case 0x28: {
        const lba = cdb.readUInt32BE(2), n = cdb.readUInt16BE(7);
        if ((lba + n) * 512 > bs.sizeBytes) return { status: ScsiStatus.CHECK_CONDITION, sense: sense(0x05, 0x21) };
        // As a pooling backstore's read: the transport gives the buffer back once its Data-In is written.
        const dataIn = Buffer.from(await bs.read(lba * 512, n * 512));
        return { status: ScsiStatus.GOOD, dataIn, releaseDataIn: (b) => this.released.push(b === dataIn) };
      }
      case 0x2a: {
        const lba = cdb.readUInt32BE(2), n = cdb.readUInt16BE(7);
        const data = task.dataOut ?? Buffer.alloc(0);
        await bs.write(lba * 512, data.subarray(0, Math.min(data.length, n * 512)), false);
        return { status: ScsiStatus.GOOD, cdbTransferLength: n * 512 };
      }
      case SLOW_OPCODE: {
        const signal = task.signal!;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 3000);
          signal.addEventListener("abort", () => { clearTimeout(t); resolve(); });
        });
        return { status: signal.aborted ? ScsiStatus.TASK_ABORTED : ScsiStatus.GOOD };
      }
      default:
        return { status: ScsiStatus.CHECK_CONDITION, sense: sense(0x05, 0x20) };
    }
  }
  taskManagement(fn: string): void { this.events.push(`tmf:${fn}`); }
  nexusCreated(n: NexusIdentity): void { this.events.push(`created:${n.initiatorName}`); }
  nexusLost(n: NexusIdentity): void { this.events.push(`lost:${n.initiatorName}`); }
}

function sense(key: number, asc: number): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70; b[2] = key; b[7] = 10; b[12] = asc;
  return b;
}

export interface Harness {
  engine: Engine;
  fabric: IscsiFabric;
  port: number;
  disk: () => StubDisk;
  logs: string[];
  close(): Promise<void>;
}

export async function startTarget(opts: IscsiFabricOptions = {}, tpgAttributes: Record<string, number> = { generate_node_acls: 1, demo_mode_write_protect: 0 }): Promise<Harness> {
  const engine = new Engine({ openBackstore: async (s) => memBackstore(s), createDevice: (info) => new StubDisk(info) });
  const logs: string[] = [];
  const fabric = new IscsiFabric(engine, { log: (level, msg) => logs.push(`${level}: ${msg}`), ...opts });
  engine.attachFabric(fabric);
  await engine.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 4 * 1024 * 1024 });
  engine.createTarget(TARGET);
  engine.createTpg(TARGET, 1, { attributes: tpgAttributes });
  engine.createLun(TARGET, 1, "rd0");
  const port = await freePort();
  await engine.createPortal(TARGET, 1, "127.0.0.1", port);
  return {
    engine, fabric, port, logs,
    disk: () => engine.storageObject("ramdisk", "rd0").device as StubDisk,
    close: () => fabric.shutdown(),
  };
}

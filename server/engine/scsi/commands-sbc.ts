/**
 * The SBC-3 commands beyond plain READ/WRITE: WRITE SAME, UNMAP, GET LBA STATUS,
 * COMPARE AND WRITE, WRITE AND VERIFY, ORWRITE, PRE-FETCH; and the SPC-4 MAINTENANCE IN
 * report REPORT SUPPORTED OPERATION CODES (REPORT TARGET PORT GROUPS: commands-alua.ts).
 */
import {
  MaintenanceIn,
  Opcode,
  ServiceActionIn16,
  parseCompareAndWrite,
  parseLbaCdb,
  parseRsoc,
  parseServiceActionIn16,
  parseUnmap,
  parseWriteSame,
} from "./cdb";
import { GOOD, dataIn, firstMismatch, miscompare, rwUsage, type CommandContext, type CommandEntry, type CommandTable } from "./command";
import { invalidFieldInCdb, invalidFieldInParameterList, lbaOutOfRange, parameterListLengthError } from "./sense";
import { ScsiStatus, type ScsiResult } from "./types";

/** Writes of WRITE SAME and the zero-fill are issued in pieces of this size. */
const CHUNK_BYTES = 1 << 20;

/** WRITE SAME(10/16) (SBC-3 §5.42/5.43), with LIO's limits: NUMBER OF BLOCKS 0 refused (WSNZ), no PBDATA/LBDATA/ANCHOR. */
async function writeSame(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parseWriteSame(c.cdb);
  d.checkProtect(p);
  if (p.pbdata || p.lbdata) throw invalidFieldInCdb(1, p.pbdata ? 2 : 1);
  if (p.anchor) throw invalidFieldInCdb(1, 4);
  if (p.unmap && !d.thinWriteSame) throw invalidFieldInCdb(1, 3);
  if (p.blocks === 0) throw invalidFieldInCdb(c.cdb[0] === Opcode.WRITE_SAME_16 ? 10 : 7);
  d.checkRange(p.lba, p.blocks);
  if (p.blocks > (d.attr("max_write_same_len") || 0xffff)) throw invalidFieldInCdb(c.cdb[0] === Opcode.WRITE_SAME_16 ? 10 : 7);
  const bs = d.blockSize;
  let block: Buffer;
  if (p.ndob) block = Buffer.alloc(bs);
  else {
    const data = c.task.dataOut ?? Buffer.alloc(0);
    // The Data-Out buffer is exactly one logical block (SBC-3 §5.42).
    if (c.task.expectedDataTransferLength !== bs || data.length < bs) throw invalidFieldInCdb(c.cdb[0] === Opcode.WRITE_SAME_16 ? 10 : 7);
    block = data.subarray(0, bs);
  }
  const bstore = d.info.backstore;
  await d.withRange(p.lba, p.blocks, async () => {
    // UNMAP=1 with a zero block: deallocate (SBC-3 §4.7.3.4); other data must be written.
    if (p.unmap && bstore.unmap && isZero(block)) {
      await bstore.unmap(p.lba * bs, p.blocks * bs);
      return;
    }
    if (bstore.writeSame) {
      await bstore.writeSame(p.lba * bs, p.blocks * bs, block);
      return;
    }
    const per = Math.max(1, Math.min(p.blocks, Math.floor(CHUNK_BYTES / bs)));
    const pattern = Buffer.alloc(per * bs);
    for (let i = 0; i < per; i++) block.copy(pattern, i * bs);
    for (let done = 0; done < p.blocks; done += per) {
      const n = Math.min(per, p.blocks - done);
      await bstore.write((p.lba + done) * bs, pattern.subarray(0, n * bs), false);
    }
  });
  return GOOD;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** UNMAP (SBC-3 §5.28) within the Block Limits VPD limits; ANCHOR is not supported (as LIO). */
async function unmap(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parseUnmap(c.cdb);
  if (p.anchor) throw invalidFieldInCdb(1, 0);
  if (p.parameterListLength === 0) return GOOD;
  if (p.parameterListLength < 8) throw parameterListLengthError();
  const data = d.parameterList(c, p.parameterListLength);
  const descLen = data.readUInt16BE(2);
  if (descLen % 16 !== 0 || 8 + descLen > data.length) throw parameterListLengthError();
  const count = descLen / 16;
  const maxDesc = d.attr("max_unmap_block_desc_count");
  if (maxDesc && count > maxDesc) throw invalidFieldInParameterList(2);
  const maxLba = d.attr("max_unmap_lba_count");
  const ranges: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const off = 8 + i * 16;
    const lba = data.readUInt32BE(off) * 0x1_0000_0000 + data.readUInt32BE(off + 4);
    const blocks = data.readUInt32BE(off + 8);
    if (maxLba && blocks > maxLba) throw invalidFieldInParameterList(off + 8);
    d.checkRange(lba, blocks);
    ranges.push([lba, blocks]);
  }
  const bs = d.blockSize;
  const b = d.info.backstore;
  for (const [lba, blocks] of ranges) {
    if (blocks === 0) continue;
    await d.withRange(lba, blocks, async () => {
      if (b.unmap) await b.unmap(lba * bs, blocks * bs);
      else await b.write(lba * bs, Buffer.alloc(blocks * bs), false);
    });
  }
  return GOOD;
}

/** GET LBA STATUS (SBC-3 §5.6): mapped / deallocated extents from the starting LBA. */
async function getLbaStatus(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parseServiceActionIn16(c.cdb);
  if (p.lba >= d.blocks) throw lbaOutOfRange();
  const bs = d.blockSize;
  const maxDescriptors = Math.max(1, Math.min(64, Math.floor((p.allocationLength - 8) / 16)));
  const descs: Buffer[] = [];
  let lba = p.lba;
  const end = d.blocks;
  while (lba < end && descs.length < maxDescriptors) {
    const remaining = Math.min(end - lba, 0xffffffff);
    const st = d.info.backstore.status ? await d.info.backstore.status(lba * bs, remaining * bs) : { mapped: true, length: remaining * bs };
    const blocks = Math.max(1, Math.floor(st.length / bs));
    const desc = Buffer.alloc(16);
    desc.writeBigUInt64BE(BigInt(lba), 0);
    desc.writeUInt32BE(blocks, 8);
    desc[12] = st.mapped ? 0 : 1;
    descs.push(desc);
    lba += blocks;
  }
  const body = Buffer.concat(descs);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(body.length + 4, 0);
  return dataIn(Buffer.concat([h, body]), p.allocationLength);
}

/**
 * COMPARE AND WRITE (SBC-3 §5.2): atomic against other writes to the range (withRange);
 * MISCOMPARE carries the offset of the first differing byte in INFORMATION.
 */
async function compareAndWrite(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parseCompareAndWrite(c.cdb);
  d.checkProtect(p);
  // NUMBER OF LOGICAL BLOCKS 0 moves no data; Data-Out that disagrees with it (e.g. an
  // initiator's 256 wrapped to 0) is an invalid CDB rather than a silent no-op.
  if (p.blocks === 0) {
    if (c.task.expectedDataTransferLength !== 0) throw invalidFieldInCdb(13);
    return GOOD;
  }
  if (p.blocks > 1) throw invalidFieldInCdb(13);
  d.checkRange(p.lba, p.blocks);
  const bs = d.blockSize;
  const len = p.blocks * bs;
  const data = c.task.dataOut ?? Buffer.alloc(0);
  if (c.task.expectedDataTransferLength !== 2 * len || data.length < 2 * len) throw invalidFieldInCdb(13);
  const b = d.info.backstore;
  if (b.compareAndWrite) {
    // Atomic in the backstore (rbd: on the OSD), so it also holds against other gateways.
    await d.withRange(p.lba, p.blocks, async () => {
      const at = await b.compareAndWrite!(p.lba * bs, data.subarray(0, len), data.subarray(len, 2 * len), p.fua);
      if (at >= 0) throw miscompare(at);
    });
    return GOOD;
  }
  await d.withRange(p.lba, p.blocks, async () => {
    const current = await d.info.backstore.read(p.lba * bs, len);
    const at = firstMismatch(current, data.subarray(0, len));
    if (at >= 0) throw miscompare(at);
    await d.info.backstore.write(p.lba * bs, data.subarray(len, 2 * len), p.fua);
  });
  return GOOD;
}

/** WRITE AND VERIFY (SBC-3 §5.40): the write is verified by construction (BYTCHK 0 or 1). */
async function writeAndVerify(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parseLbaCdb(c.cdb);
  d.checkProtect(p);
  if (p.bytchk > 1) throw invalidFieldInCdb(1, 2);
  d.checkRange(p.lba, p.blocks);
  const w = d.writeData(c, p.blocks);
  if (w.blocks > 0) await d.withRange(p.lba, w.blocks, () => d.info.backstore.write(p.lba * d.blockSize, w.data, true));
  const r: ScsiResult = { status: ScsiStatus.GOOD };
  if (w.cdbTransferLength !== undefined) r.cdbTransferLength = w.cdbTransferLength;
  return r;
}

/** ORWRITE(16) (SBC-3 §5.12): medium := medium OR data. */
async function orWrite(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parseLbaCdb(c.cdb);
  d.checkProtect(p);
  d.checkRange(p.lba, p.blocks);
  const w = d.writeData(c, p.blocks);
  if (w.blocks > 0) {
    const bs = d.blockSize;
    await d.withRange(p.lba, w.blocks, async () => {
      const cur = Buffer.from(await d.info.backstore.read(p.lba * bs, w.blocks * bs));
      for (let i = 0; i < cur.length; i++) cur[i] |= w.data[i];
      await d.info.backstore.write(p.lba * bs, cur, p.fua);
    });
  }
  const r: ScsiResult = { status: ScsiStatus.GOOD };
  if (w.cdbTransferLength !== undefined) r.cdbTransferLength = w.cdbTransferLength;
  return r;
}

/** PRE-FETCH(10/16) (SBC-3 §5.9): the page cache does the work; only the range is checked. */
function preFetch(c: CommandContext): ScsiResult {
  const p = parseLbaCdb(c.cdb);
  c.disk.checkRange(p.lba, p.blocks);
  return GOOD;
}

// ---- REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35) -------------------------

/** CDB usage data: which bits the device server examines, per CDB layout. */
export function usageData(commands: CommandTable, opcode: number, sa?: number): Buffer {
  const def = commands.commandFor(Buffer.from([opcode, sa ?? 0]));
  if (def?.usage) return Buffer.from(def.usage);
  const len = [6, 10, 10, 0, 16, 12, 0, 0][opcode >> 5] || 16;
  const u = Buffer.alloc(len, 0xff);
  u[0] = opcode;
  u[len - 1] = 0x07; // CONTROL: NACA/LINK are examined
  if (sa !== undefined) u[1] = sa & 0x1f;
  return u;
}

function timeoutsDescriptor(): Buffer {
  const t = Buffer.alloc(12);
  t.writeUInt16BE(0x0a, 0);
  return t;
}

function rsoc(c: CommandContext): ScsiResult {
  const d = c.disk;
  const p = parseRsoc(c.cdb);
  const table = c.commands;
  const supported = (opcode: number, sa?: number) => {
    const cdb = Buffer.from([opcode, sa ?? 0]);
    const def = table.commandFor(cdb, d);
    if (!def) return false;
    if (table.hasServiceActions(opcode) && sa !== undefined) return table.hasServiceAction(opcode, sa);
    return true;
  };
  if (p.reportingOptions === 0) {
    const parts: Buffer[] = [];
    for (const { opcode, sa } of table.all()) {
      if (!supported(opcode, sa)) continue;
      const desc = Buffer.alloc(8);
      desc[0] = opcode;
      desc.writeUInt16BE(sa ?? 0, 2);
      desc[5] = (sa !== undefined ? 0x01 : 0) | (p.rctd ? 0x02 : 0);
      desc.writeUInt16BE(usageData(table, opcode, sa).length, 6);
      parts.push(desc);
      if (p.rctd) parts.push(timeoutsDescriptor());
    }
    const body = Buffer.concat(parts);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(body.length, 0);
    return dataIn(Buffer.concat([h, body]), p.allocationLength);
  }
  const op = p.requestedOpcode;
  const hasSa = table.hasServiceActions(op);
  let sa: number | undefined;
  switch (p.reportingOptions) {
    case 1:
      if (hasSa) throw invalidFieldInCdb(2);
      break;
    case 2:
      if (!hasSa) throw invalidFieldInCdb(2);
      sa = p.requestedServiceAction;
      break;
    case 3:
      sa = hasSa ? p.requestedServiceAction : undefined;
      break;
    default:
      throw invalidFieldInCdb(2);
  }
  if (!supported(op, sa)) {
    const out = Buffer.alloc(4);
    out[1] = 0x01; // SUPPORT 001b: not supported
    return dataIn(out, p.allocationLength);
  }
  const usage = usageData(table, op, sa);
  const h = Buffer.alloc(4);
  h[1] = (p.rctd ? 0x80 : 0) | 0x03; // CTDP, SUPPORT 011b: supported as the standard says
  h.writeUInt16BE(usage.length, 2);
  return dataIn(Buffer.concat([h, usage, p.rctd ? timeoutsDescriptor() : Buffer.alloc(0)]), p.allocationLength);
}

function maintenanceInUnsupported(): ScsiResult {
  throw invalidFieldInCdb(1, 4);
}

export const sbcCommands: CommandEntry[] = [
  { opcode: Opcode.WRITE_SAME_10, def: { name: "WRITE SAME(10)", handler: writeSame, writes: true, usage: rwUsage(0x41, 10, 0x08) } },
  { opcode: Opcode.WRITE_SAME_16, def: { name: "WRITE SAME(16)", handler: writeSame, writes: true, usage: rwUsage(0x93, 16, 0x09) } },
  { opcode: Opcode.UNMAP, def: { name: "UNMAP", handler: unmap, writes: true, usage: [0x42, 0x00, 0, 0, 0, 0, 0x3f, 0xff, 0xff, 0x07] }, gate: (d) => d.thinUnmap },
  { opcode: Opcode.SERVICE_ACTION_IN_16, serviceAction: ServiceActionIn16.GET_LBA_STATUS, def: { name: "GET LBA STATUS", handler: getLbaStatus, io: true } },
  {
    opcode: Opcode.COMPARE_AND_WRITE,
    def: { name: "COMPARE AND WRITE", handler: compareAndWrite, writes: true, usage: [0x89, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0x3f, 0x07] },
    gate: (d) => d.attr("emulate_caw") === 1,
  },
  ...([[Opcode.WRITE_AND_VERIFY_10, 10], [Opcode.WRITE_AND_VERIFY_12, 12], [Opcode.WRITE_AND_VERIFY_16, 16]] as const).map(([op, len]): CommandEntry => ({
    opcode: op, def: { name: "WRITE AND VERIFY", handler: writeAndVerify, writes: true, usage: rwUsage(op, len, 0x12) },
  })),
  { opcode: Opcode.ORWRITE_16, def: { name: "ORWRITE(16)", handler: orWrite, writes: true, usage: rwUsage(0x8b, 16, 0x18) } },
  { opcode: Opcode.PRE_FETCH_10, def: { name: "PRE-FETCH(10)", handler: preFetch, io: true, usage: rwUsage(0x34, 10, 0x02) } },
  { opcode: Opcode.PRE_FETCH_16, def: { name: "PRE-FETCH(16)", handler: preFetch, io: true, usage: rwUsage(0x90, 16, 0x02) } },
  { opcode: Opcode.MAINTENANCE_IN, def: { name: "MAINTENANCE IN", handler: maintenanceInUnsupported, conflict: "spc2" } },
  {
    opcode: Opcode.MAINTENANCE_IN,
    serviceAction: MaintenanceIn.REPORT_SUPPORTED_OPERATION_CODES,
    def: { name: "REPORT SUPPORTED OPERATION CODES", handler: rsoc, conflict: "spc2" },
    gate: (d) => d.attr("emulate_rsoc") === 1,
  },
];

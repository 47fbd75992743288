/**
 * The SPC-4 and SBC-3 commands every disk LU has (LIO's spc_parse_cdb and
 * sbc_parse_cdb core): INQUIRY, REQUEST SENSE, REPORT LUNS, MODE SENSE/SELECT,
 * READ CAPACITY, READ/WRITE, VERIFY, SYNCHRONIZE CACHE, START STOP UNIT, SEEK.
 */
import {
  Opcode,
  ServiceActionIn16,
  cdbLength,
  parseInquiry,
  parseLbaCdb,
  parseModeSelect,
  parseModeSense,
  parseRequestSense,
  parseServiceActionIn16,
  parseStartStop,
} from "./cdb";
import { GOOD, dataIn, firstMismatch, miscompare, rwUsage, type CommandContext, type CommandEntry } from "./command";
import {
  standardInquiry,
  vpdBlockDeviceCharacteristics,
  vpdBlockLimits,
  vpdDeviceIdentification,
  vpdExtendedInquiry,
  vpdLogicalBlockProvisioning,
  vpdSupportedPages,
  vpdUnitSerial,
} from "./inquiry";
import { reportLunsData } from "./luns";
import { modePages, modeSenseData, type ModeState, type PageControl } from "./mode";
import { Asc, SenseError, SenseKey, buildSense, invalidFieldInCdb, invalidFieldInParameterList, parameterListLengthError } from "./sense";
import { ScsiStatus, type ScsiResult } from "./types";
import type { Backstore } from "../backstores/backstore";

// ---- SPC commands -----------------------------------------------------------

function inquiry(c: CommandContext): ScsiResult {
  const p = parseInquiry(c.cdb);
  const d = c.disk;
  if (p.cmddt) throw invalidFieldInCdb(1, 1); // CmdDt is obsolete (SPC-4 §6.6.1)
  if (!p.evpd) {
    if (p.pageCode !== 0) throw invalidFieldInCdb(2);
    return dataIn(standardInquiry(d.info, c.lun.alua?.aluaGroup.attributes.alua_access_type), p.allocationLength);
  }
  let page: Buffer;
  switch (p.pageCode) {
    case 0x00:
      page = vpdSupportedPages();
      break;
    case 0x80:
      page = vpdUnitSerial(d.info);
      break;
    case 0x83:
      page = vpdDeviceIdentification(d.info, { relativeTargetPortId: c.lun.relativeTargetPortId, targetPortGroup: c.lun.alua?.aluaGroup.id, identity: c.nexus.identity });
      break;
    case 0x86:
      page = vpdExtendedInquiry(d.info, d.writeCache);
      break;
    case 0xb0: {
      const tp = d.thinUnmap || d.thinWriteSame;
      page = vpdBlockLimits({
        maxCompareAndWriteBlocks: d.attr("emulate_caw") ? 1 : 0,
        maxTransferLength: d.maxTransferBlocks,
        optimalTransferLength: Math.min(d.attr("optimal_sectors") || d.maxTransferBlocks, d.maxTransferBlocks),
        maxUnmapLbaCount: d.attr("max_unmap_lba_count"),
        maxUnmapDescriptors: d.attr("max_unmap_block_desc_count"),
        unmapGranularity: d.attr("unmap_granularity"),
        unmapGranularityAlignment: d.attr("unmap_granularity_alignment"),
        maxWriteSameLength: d.attr("max_write_same_len"),
        thinProvisioning: tp,
      });
      break;
    }
    case 0xb1:
      page = vpdBlockDeviceCharacteristics(d.attr("is_nonrot") === 1);
      break;
    case 0xb2:
      page = vpdLogicalBlockProvisioning({
        lbpu: d.thinUnmap,
        lbpws: d.thinWriteSame,
        lbprz: (d.thinUnmap || d.thinWriteSame) && d.attr("unmap_zeroes_data") === 1,
      });
      break;
    default:
      throw invalidFieldInCdb(2);
  }
  return dataIn(page, p.allocationLength);
}

function testUnitReady(): ScsiResult {
  return GOOD;
}

function requestSense(c: CommandContext): ScsiResult {
  const p = parseRequestSense(c.cdb);
  const ua = c.disk.unitAttentions.take(c.nexus.identity.key);
  const info = ua
    ? { key: SenseKey.UNIT_ATTENTION, asc: ua[0], ascq: ua[1] }
    : { key: SenseKey.NO_SENSE, asc: 0, ascq: 0 };
  // SPC-4 §6.29: DESC selects the format of the returned sense data.
  return dataIn(buildSense(info, p.desc), p.allocationLength);
}

function reportLuns(c: CommandContext): ScsiResult {
  return { status: ScsiStatus.GOOD, dataIn: reportLunsData(c.cdb, c.nexus) };
}

function modeSense(c: CommandContext): ScsiResult {
  const p = parseModeSense(c.cdb);
  const d = c.disk;
  // Saved values are not implemented (SPC-4 §6.11: SAVING PARAMETERS NOT SUPPORTED).
  if (p.pc === 3) throw new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.SAVING_PARAMETERS_NOT_SUPPORTED, { fieldPointer: { cd: true, byte: 2, bit: 7 } });
  const pages = modePages(p.pageCode, p.subpageCode, p.pc as PageControl, d.modeContext());
  if (!pages) throw invalidFieldInCdb(2, 5);
  const data = modeSenseData({
    ten: p.ten,
    dbd: p.dbd,
    llbaa: p.llbaa,
    writeProtect: d.isWriteProtected(c.lun),
    dpofua: d.attr("emulate_fua_write") === 1,
    blocks: d.blocks,
    blockSize: d.blockSize,
    pages,
  });
  return dataIn(data, p.allocationLength);
}

/**
 * MODE SELECT (SPC-4 §6.9): only the control page's D_SENSE and SWP may change; any
 * other field must match its current value (LIO accepts no changes at all).
 */
function modeSelect(c: CommandContext): ScsiResult {
  const p = parseModeSelect(c.cdb);
  const d = c.disk;
  if (!p.pf) throw invalidFieldInCdb(1, 4);
  if (p.sp) throw invalidFieldInCdb(1, 0); // no saved pages
  if (p.parameterListLength === 0) return GOOD;
  const data = d.parameterList(c, p.parameterListLength);
  const hdr = p.ten ? 8 : 4;
  if (data.length < hdr) throw parameterListLengthError();
  const bdLen = p.ten ? data.readUInt16BE(6) : data[3];
  let off = hdr + bdLen;
  if (off > data.length) throw parameterListLengthError();
  const next: ModeState = { ...d.modeState };
  const ctx = d.modeContext();
  while (off < data.length) {
    if (off + 2 > data.length) throw parameterListLengthError();
    const code = data[off] & 0x3f;
    const spf = (data[off] & 0x40) !== 0;
    if (spf) throw invalidFieldInParameterList(off);
    const len = data[off + 1] + 2;
    if (off + len > data.length) throw parameterListLengthError();
    const given = data.subarray(off, off + len);
    const current = modePages(code, 0, 0, ctx);
    const changeable = modePages(code, 0, 1, ctx);
    if (!current || !changeable || current.length !== len) throw invalidFieldInParameterList(off);
    for (let i = 2; i < len; i++) {
      // PS bit (byte 0 bit 7) is ignored on MODE SELECT; bits outside the changeable mask must not change.
      if ((given[i] ^ current[i]) & ~changeable[i] & 0xff) throw invalidFieldInParameterList(off + i);
    }
    if (code === 0x0a) {
      next.dSense = (given[2] & 0x04) !== 0;
      next.swp = (given[4] & 0x08) !== 0;
    }
    off += len;
  }
  // No 2Ah/01h MODE PARAMETERS CHANGED for the other nexuses: D_SENSE only changes the
  // sense format and SWP is reported by DATA PROTECT itself, and initiators (libiscsi's
  // test suite among them) treat an unexpected UA on another path as a failure. LIO
  // accepts no mode change at all, so it never raises it either.
  Object.assign(d.modeState, next);
  return GOOD;
}

// ---- SBC commands -----------------------------------------------------------

function readCapacity10(c: CommandContext): ScsiResult {
  const d = c.disk;
  const b = Buffer.alloc(8);
  const last = d.blocks - 1;
  b.writeUInt32BE(last > 0xffffffff ? 0xffffffff : last, 0);
  b.writeUInt32BE(d.blockSize, 4);
  return { status: ScsiStatus.GOOD, dataIn: b };
}

function readCapacity16(c: CommandContext): ScsiResult {
  const d = c.disk;
  const p = parseServiceActionIn16(c.cdb);
  const b = Buffer.alloc(32);
  b.writeBigUInt64BE(BigInt(d.blocks - 1), 0);
  b.writeUInt32BE(d.blockSize, 8);
  const pi = d.attr("pi_prot_type");
  if (pi) b[12] = ((pi - 1) << 1) | 0x01;
  // LBPME when UNMAP or WRITE SAME with UNMAP is enabled; LBPRZ when unmapped blocks read as zeros (SBC-3 §5.16.2).
  if (d.thinUnmap || d.thinWriteSame) {
    b[14] |= 0x80;
    if (d.attr("unmap_zeroes_data")) b[14] |= 0x40;
  }
  return dataIn(b, p.allocationLength);
}

/** Where TRANSFER LENGTH sits, for the sense field pointer (the transport's CDB buffer is always 16 bytes long). */
function transferLengthByte(cdb: Buffer): number {
  const len = cdbLength(cdb[0]);
  return len === 16 ? 10 : len === 12 ? 6 : len === 6 ? 4 : 7;
}

/** READ(6/10/12/16). Synchronous when the backstore can read without waiting (ramdisk: readSync). */
function read(c: CommandContext): ScsiResult | Promise<ScsiResult> {
  const d = c.disk;
  const p = parseLbaCdb(c.cdb);
  d.checkProtect(p);
  d.checkRange(p.lba, p.blocks);
  if (p.blocks > d.maxTransferBlocks) throw invalidFieldInCdb(transferLengthByte(c.cdb));
  const bs = d.blockSize;
  const cdbBytes = p.blocks * bs;
  // Read only what the initiator will take (the transport truncates to EDTL anyway).
  const want = Math.min(cdbBytes, Math.ceil(c.task.expectedDataTransferLength / bs) * bs);
  const b = d.info.backstore;
  if (want <= 0) return readResult(Buffer.alloc(0), want, cdbBytes, b);
  const now = b.readSync?.(p.lba * bs, want);
  // A plain call, not a closure, when the read completed at once (a heap object per READ otherwise).
  if (now) return readResult(now, want, cdbBytes, b);
  return b.read(p.lba * bs, want).then((data) => readResult(data, want, cdbBytes, b));
}

function readResult(data: Buffer, want: number, cdbBytes: number, b: Backstore): ScsiResult {
  const r: ScsiResult = { status: ScsiStatus.GOOD, dataIn: data };
  if (want !== cdbBytes) r.cdbTransferLength = cdbBytes;
  if (b.releaseRead) r.releaseDataIn = b.releaseRead;
  return r;
}

/**
 * WRITE(6/10/12/16). Synchronous when the backstore can write without waiting (ramdisk:
 * writeSync) and no other write holds an overlapping range: nothing can run in between, so
 * COMPARE AND WRITE's atomicity (withRange) holds without registering the range.
 */
function write(c: CommandContext): ScsiResult | Promise<ScsiResult> {
  const d = c.disk;
  const p = parseLbaCdb(c.cdb);
  d.checkProtect(p);
  d.checkRange(p.lba, p.blocks);
  if (p.blocks > d.maxTransferBlocks) throw invalidFieldInCdb(transferLengthByte(c.cdb));
  const w = d.writeData(c, p.blocks);
  const r: ScsiResult = { status: ScsiStatus.GOOD };
  if (w.cdbTransferLength !== undefined) r.cdbTransferLength = w.cdbTransferLength;
  if (w.blocks === 0) return r;
  // emulate_fua_write only decides whether MODE SENSE advertises DPOFUA; a FUA write that
  // arrives anyway must still be stable before GOOD (SBC-3 §5.37), never silently cached.
  const fua = p.fua;
  const b = d.info.backstore;
  const offset = p.lba * d.blockSize;
  if (b.writeSync && d.rangeIsFree(p.lba, w.blocks) && b.writeSync(offset, w.data, fua)) return r;
  return d.withRange(p.lba, w.blocks, () => b.write(offset, w.data, fua)).then(() => r);
}

/** VERIFY(10/12/16) (SBC-3 §5.29): BYTCHK 0 checks the range; 1 compares; 3 compares one block against each. */
async function verify(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parseLbaCdb(c.cdb);
  d.checkProtect(p);
  if (p.bytchk === 2) throw invalidFieldInCdb(1, 1);
  d.checkRange(p.lba, p.blocks);
  if (p.bytchk === 0 || p.blocks === 0) return GOOD;
  // The comparison reads the whole range into memory: bound it as Block Limits advertises (BYTCHK 3
  // sends one block, so Data-Out does not bound it; 2^32 blocks would be terabytes).
  if (p.blocks > d.maxTransferBlocks) throw invalidFieldInCdb(transferLengthByte(c.cdb));
  const bs = d.blockSize;
  const expected = p.bytchk === 1 ? p.blocks * bs : bs;
  const data = d.parameterList(c, expected);
  const medium = await d.info.backstore.read(p.lba * bs, p.blocks * bs);
  if (p.bytchk === 1) {
    const at = firstMismatch(medium, data);
    if (at >= 0) throw miscompare(at);
  } else {
    for (let i = 0; i < p.blocks; i++) {
      const at = firstMismatch(medium.subarray(i * bs, (i + 1) * bs), data);
      if (at >= 0) throw miscompare(i * bs + at);
    }
  }
  return GOOD;
}

async function synchronizeCache(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parseLbaCdb(c.cdb);
  d.checkRange(p.lba, p.blocks);
  await d.info.backstore.flush();
  return GOOD;
}

/**
 * START STOP UNIT (SBC-3 §5.25): a virtual disk has no motor and no medium to eject;
 * LOEJ on a non-removable device is refused, anything else is accepted.
 */
function startStopUnit(c: CommandContext): ScsiResult {
  const p = parseStartStop(c.cdb);
  if (p.loej && p.powerCondition === 0) throw invalidFieldInCdb(4, 1);
  return GOOD;
}

function noop(): ScsiResult {
  return GOOD;
}

function serviceActionIn16Unsupported(): ScsiResult {
  throw invalidFieldInCdb(1, 4);
}

const READS: [number, number][] = [[Opcode.READ_6, 6], [Opcode.READ_10, 10], [Opcode.READ_12, 12], [Opcode.READ_16, 16]];
const WRITES: [number, number][] = [[Opcode.WRITE_6, 6], [Opcode.WRITE_10, 10], [Opcode.WRITE_12, 12], [Opcode.WRITE_16, 16]];
const VERIFIES: [number, number][] = [[Opcode.VERIFY_10, 10], [Opcode.VERIFY_12, 12], [Opcode.VERIFY_16, 16]];
// Usage data for READ/WRITE(10/12/16): DPO and FUA are examined (SBC-3 §5.8), and so is the protect
// field (to refuse it); VERIFY examines VRPROTECT, DPO and BYTCHK. The 6-byte forms keep the default.
const usage = (op: number, len: number, flags: number) => (len === 6 ? undefined : rwUsage(op, len, flags));

export const spcSbcCommands: CommandEntry[] = [
  { opcode: Opcode.TEST_UNIT_READY, def: { name: "TEST UNIT READY", handler: testUnitReady, conflict: "spc2" } },
  { opcode: Opcode.INQUIRY, def: { name: "INQUIRY", handler: inquiry, uaExempt: true, conflict: "none" } },
  { opcode: Opcode.REQUEST_SENSE, def: { name: "REQUEST SENSE", handler: requestSense, uaExempt: true, conflict: "none" } },
  { opcode: Opcode.REPORT_LUNS, def: { name: "REPORT LUNS", handler: reportLuns, uaExempt: true, conflict: "none" } },
  { opcode: Opcode.MODE_SENSE_6, def: { name: "MODE SENSE(6)", handler: modeSense } },
  { opcode: Opcode.MODE_SENSE_10, def: { name: "MODE SENSE(10)", handler: modeSense } },
  { opcode: Opcode.MODE_SELECT_6, def: { name: "MODE SELECT(6)", handler: modeSelect, conflict: "write" } },
  { opcode: Opcode.MODE_SELECT_10, def: { name: "MODE SELECT(10)", handler: modeSelect, conflict: "write" } },
  { opcode: Opcode.READ_CAPACITY_10, def: { name: "READ CAPACITY(10)", handler: readCapacity10, conflict: "spc2" } },
  { opcode: Opcode.SERVICE_ACTION_IN_16, serviceAction: ServiceActionIn16.READ_CAPACITY_16, def: { name: "READ CAPACITY(16)", handler: readCapacity16, conflict: "spc2" } },
  { opcode: Opcode.SERVICE_ACTION_IN_16, def: { name: "SERVICE ACTION IN(16)", handler: serviceActionIn16Unsupported } },
  ...READS.map(([op, len]): CommandEntry => ({ opcode: op, def: { name: "READ", handler: read, io: true, usage: usage(op, len, 0xf8) } })),
  ...WRITES.map(([op, len]): CommandEntry => ({ opcode: op, def: { name: "WRITE", handler: write, writes: true, usage: usage(op, len, 0xf8) } })),
  ...VERIFIES.map(([op, len]): CommandEntry => ({ opcode: op, def: { name: "VERIFY", handler: verify, io: true, usage: rwUsage(op, len, 0xf6) } })),
  ...[Opcode.SYNCHRONIZE_CACHE_10, Opcode.SYNCHRONIZE_CACHE_16].map((op): CommandEntry => ({
    opcode: op, def: { name: "SYNCHRONIZE CACHE", handler: synchronizeCache, conflict: "write", io: true },
  })),
  { opcode: Opcode.START_STOP_UNIT, def: { name: "START STOP UNIT", handler: startStopUnit } },
  ...[Opcode.REZERO_UNIT, Opcode.SEEK_6, Opcode.SEEK_10].map((op): CommandEntry => ({ opcode: op, def: { name: "SEEK", handler: noop } })),
];

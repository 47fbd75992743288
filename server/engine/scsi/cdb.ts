/**
 * Pure CDB decoding (SPC-4 §4.2, SBC-3 §5). Each decoder takes the raw CDB and
 * returns a typed object; none does I/O or range checks against a device.
 * LBAs are JS numbers: any LBA above 2^53 is out of range for every device this
 * engine can hold, and comparisons with capacity stay correct at that magnitude.
 */

export const Opcode = {
  TEST_UNIT_READY: 0x00,
  REZERO_UNIT: 0x01,
  REQUEST_SENSE: 0x03,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  SEEK_6: 0x0b,
  INQUIRY: 0x12,
  MODE_SELECT_6: 0x15,
  RESERVE_6: 0x16,
  RELEASE_6: 0x17,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  RECEIVE_DIAGNOSTIC_RESULTS: 0x1c,
  SEND_DIAGNOSTIC: 0x1d,
  PREVENT_ALLOW_MEDIUM_REMOVAL: 0x1e,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  SEEK_10: 0x2b,
  WRITE_AND_VERIFY_10: 0x2e,
  VERIFY_10: 0x2f,
  PRE_FETCH_10: 0x34,
  SYNCHRONIZE_CACHE_10: 0x35,
  WRITE_BUFFER: 0x3b,
  READ_BUFFER: 0x3c,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  LOG_SELECT: 0x4c,
  LOG_SENSE: 0x4d,
  MODE_SELECT_10: 0x55,
  RESERVE_10: 0x56,
  RELEASE_10: 0x57,
  MODE_SENSE_10: 0x5a,
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  VARIABLE_LENGTH: 0x7f,
  EXTENDED_COPY: 0x83,
  RECEIVE_COPY_RESULTS: 0x84,
  READ_16: 0x88,
  COMPARE_AND_WRITE: 0x89,
  WRITE_16: 0x8a,
  ORWRITE_16: 0x8b,
  WRITE_AND_VERIFY_16: 0x8e,
  VERIFY_16: 0x8f,
  PRE_FETCH_16: 0x90,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
  MAINTENANCE_IN: 0xa3,
  MAINTENANCE_OUT: 0xa4,
  READ_12: 0xa8,
  WRITE_12: 0xaa,
  WRITE_AND_VERIFY_12: 0xae,
  VERIFY_12: 0xaf,
} as const;

/** SERVICE ACTION IN(16) service actions. */
export const ServiceActionIn16 = { READ_CAPACITY_16: 0x10, GET_LBA_STATUS: 0x12, REPORT_REFERRALS: 0x13 } as const;
/** MAINTENANCE IN service actions. */
export const MaintenanceIn = { REPORT_TARGET_PORT_GROUPS: 0x0a, REPORT_SUPPORTED_OPERATION_CODES: 0x0c, REPORT_SUPPORTED_TMFS: 0x0d } as const;

/** MAINTENANCE OUT service actions. */
export const MaintenanceOut = { SET_TARGET_PORT_GROUPS: 0x0a } as const;

/** CDB length from the group code (SPC-4 §4.2.5.1); 0 for variable length / vendor specific. */
export function cdbLength(opcode: number): number {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 0;
  }
}

function u64(cdb: Buffer, off: number): number {
  return cdb.readUInt32BE(off) * 0x1_0000_0000 + cdb.readUInt32BE(off + 4);
}

/** A command that addresses a range of logical blocks (READ, WRITE, VERIFY, WRITE SAME, PRE-FETCH, SYNCHRONIZE CACHE, ...). */
export interface LbaCdb {
  opcode: number;
  lba: number;
  /** TRANSFER LENGTH / NUMBER OF LOGICAL BLOCKS / VERIFICATION LENGTH in blocks. */
  blocks: number;
  /** RDPROTECT / WRPROTECT / VRPROTECT (bits 7..5 of byte 1). */
  protect: number;
  dpo: boolean;
  fua: boolean;
  /** VERIFY / WRITE AND VERIFY: BYTCHK (SBC-3 bit 1; SBC-4 bits 2..1). */
  bytchk: number;
  /** PRE-FETCH / SYNCHRONIZE CACHE: IMMED. SYNCHRONIZE CACHE(10): SYNC_NV is bit 2. */
  immed: boolean;
  groupNumber: number;
}

/**
 * Decodes the LBA and length of a 6/10/12/16-byte block command. READ(6)/WRITE(6)
 * carry a 21-bit LBA and a transfer length where 0 means 256 blocks (SBC-3 §5.7).
 */
export function parseLbaCdb(cdb: Buffer): LbaCdb {
  const opcode = cdb[0];
  const len = cdbLength(opcode);
  const b1 = cdb[1] ?? 0;
  // One object literal per layout (no spread): this runs for every READ and WRITE.
  const protect = len === 6 ? 0 : b1 >> 5;
  const dpo = len !== 6 && (b1 & 0x10) !== 0;
  const fua = len !== 6 && (b1 & 0x08) !== 0;
  const bytchk = len === 6 ? 0 : (b1 >> 1) & 0x03;
  const immed = (b1 & 0x02) !== 0;
  switch (len) {
    case 6: {
      const lba = ((b1 & 0x1f) << 16) | (cdb[2] << 8) | cdb[3];
      const t = cdb[4];
      // Only READ(6)/WRITE(6) give 0 the meaning 256.
      const blocks = t === 0 && (opcode === 0x08 || opcode === 0x0a) ? 256 : t;
      return { opcode, protect, dpo, fua, bytchk, immed: false, lba, blocks, groupNumber: 0 };
    }
    case 10:
      return { opcode, protect, dpo, fua, bytchk, immed, lba: cdb.readUInt32BE(2), blocks: cdb.readUInt16BE(7), groupNumber: cdb[6] & 0x3f };
    case 12:
      return { opcode, protect, dpo, fua, bytchk, immed, lba: cdb.readUInt32BE(2), blocks: cdb.readUInt32BE(6), groupNumber: cdb[10] & 0x3f };
    case 16:
      return { opcode, protect, dpo, fua, bytchk, immed, lba: u64(cdb, 2), blocks: cdb.readUInt32BE(10), groupNumber: cdb[14] & 0x3f };
    default:
      throw new Error(`opcode ${opcode.toString(16)} is not a block command`);
  }
}

export interface InquiryCdb {
  evpd: boolean;
  cmddt: boolean;
  pageCode: number;
  allocationLength: number;
}
export function parseInquiry(cdb: Buffer): InquiryCdb {
  return { evpd: (cdb[1] & 1) !== 0, cmddt: (cdb[1] & 2) !== 0, pageCode: cdb[2], allocationLength: cdb.readUInt16BE(3) };
}

export interface ModeSenseCdb {
  /** DBD: disable block descriptors. */
  dbd: boolean;
  /** LLBAA (MODE SENSE(10) only): long LBA block descriptors allowed. */
  llbaa: boolean;
  /** Page control: 0 current, 1 changeable, 2 default, 3 saved. */
  pc: number;
  pageCode: number;
  subpageCode: number;
  allocationLength: number;
  ten: boolean;
}
export function parseModeSense(cdb: Buffer): ModeSenseCdb {
  const ten = cdb[0] === 0x5a;
  return {
    dbd: (cdb[1] & 0x08) !== 0,
    llbaa: ten && (cdb[1] & 0x10) !== 0,
    pc: cdb[2] >> 6,
    pageCode: cdb[2] & 0x3f,
    subpageCode: cdb[3],
    allocationLength: ten ? cdb.readUInt16BE(7) : cdb[4],
    ten,
  };
}

export interface ModeSelectCdb {
  pf: boolean;
  sp: boolean;
  parameterListLength: number;
  ten: boolean;
}
export function parseModeSelect(cdb: Buffer): ModeSelectCdb {
  const ten = cdb[0] === 0x55;
  return { pf: (cdb[1] & 0x10) !== 0, sp: (cdb[1] & 0x01) !== 0, parameterListLength: ten ? cdb.readUInt16BE(7) : cdb[4], ten };
}

export function parseRequestSense(cdb: Buffer): { desc: boolean; allocationLength: number } {
  return { desc: (cdb[1] & 1) !== 0, allocationLength: cdb[4] };
}

export function parseReportLuns(cdb: Buffer): { selectReport: number; allocationLength: number } {
  return { selectReport: cdb[2], allocationLength: cdb.readUInt32BE(6) };
}

export function parseReadCapacity10(cdb: Buffer): { lba: number; pmi: boolean } {
  return { lba: cdb.readUInt32BE(2), pmi: (cdb[8] & 1) !== 0 };
}

/** SERVICE ACTION IN(16): READ CAPACITY(16), GET LBA STATUS. */
export function parseServiceActionIn16(cdb: Buffer): { serviceAction: number; lba: number; allocationLength: number } {
  return { serviceAction: cdb[1] & 0x1f, lba: u64(cdb, 2), allocationLength: cdb.readUInt32BE(10) };
}

export interface WriteSameCdb extends LbaCdb {
  anchor: boolean;
  unmap: boolean;
  pbdata: boolean;
  lbdata: boolean;
  /** WRITE SAME(16): no data-out buffer, write zeros (SBC-3r35+). */
  ndob: boolean;
}
export function parseWriteSame(cdb: Buffer): WriteSameCdb {
  const b = parseLbaCdb(cdb);
  const b1 = cdb[1];
  return {
    ...b,
    anchor: (b1 & 0x10) !== 0,
    unmap: (b1 & 0x08) !== 0,
    pbdata: (b1 & 0x04) !== 0,
    lbdata: (b1 & 0x02) !== 0,
    ndob: cdb[0] === 0x93 && (b1 & 0x01) !== 0,
    dpo: false,
    fua: false,
  };
}

export function parseUnmap(cdb: Buffer): { anchor: boolean; parameterListLength: number; groupNumber: number } {
  return { anchor: (cdb[1] & 1) !== 0, parameterListLength: cdb.readUInt16BE(7), groupNumber: cdb[6] & 0x3f };
}

/** COMPARE AND WRITE (SBC-3 §5.2): NUMBER OF LOGICAL BLOCKS is byte 13. */
export function parseCompareAndWrite(cdb: Buffer): LbaCdb {
  const b1 = cdb[1];
  return {
    opcode: cdb[0],
    lba: u64(cdb, 2),
    blocks: cdb[13],
    protect: b1 >> 5,
    dpo: (b1 & 0x10) !== 0,
    fua: (b1 & 0x08) !== 0,
    bytchk: 0,
    immed: false,
    groupNumber: cdb[14] & 0x3f,
  };
}

export interface StartStopCdb {
  immed: boolean;
  powerConditionModifier: number;
  powerCondition: number;
  noFlush: boolean;
  loej: boolean;
  start: boolean;
}
export function parseStartStop(cdb: Buffer): StartStopCdb {
  return {
    immed: (cdb[1] & 1) !== 0,
    powerConditionModifier: cdb[3] & 0x0f,
    powerCondition: cdb[4] >> 4,
    noFlush: (cdb[4] & 0x04) !== 0,
    loej: (cdb[4] & 0x02) !== 0,
    start: (cdb[4] & 0x01) !== 0,
  };
}

export function parsePrIn(cdb: Buffer): { serviceAction: number; allocationLength: number } {
  return { serviceAction: cdb[1] & 0x1f, allocationLength: cdb.readUInt16BE(7) };
}

export function parsePrOut(cdb: Buffer): { serviceAction: number; scope: number; type: number; parameterListLength: number } {
  return { serviceAction: cdb[1] & 0x1f, scope: cdb[2] >> 4, type: cdb[2] & 0x0f, parameterListLength: cdb.readUInt32BE(5) };
}

export interface RsocCdb {
  rctd: boolean;
  reportingOptions: number;
  requestedOpcode: number;
  requestedServiceAction: number;
  allocationLength: number;
}
export function parseRsoc(cdb: Buffer): RsocCdb {
  return {
    rctd: (cdb[2] & 0x80) !== 0,
    reportingOptions: cdb[2] & 0x07,
    requestedOpcode: cdb[3],
    requestedServiceAction: cdb.readUInt16BE(4),
    allocationLength: cdb.readUInt32BE(6),
  };
}

/** MAINTENANCE IN: REPORT TARGET PORT GROUPS. */
export function parseReportTpgs(cdb: Buffer): { extendedHeader: boolean; allocationLength: number } {
  return { extendedHeader: (cdb[1] & 0xe0) === 0x20, allocationLength: cdb.readUInt32BE(6) };
}

/** MAINTENANCE OUT: SET TARGET PORT GROUPS (SPC-4 §6.45): PARAMETER LIST LENGTH in bytes 6-9. */
export function parseSetTpgs(cdb: Buffer): { parameterListLength: number } {
  return { parameterListLength: cdb.readUInt32BE(6) };
}

/** EXTENDED COPY(LID1) / RECEIVE COPY RESULTS. */
export function parseExtendedCopy(cdb: Buffer): { parameterListLength: number } {
  return { parameterListLength: cdb.readUInt32BE(10) };
}
export function parseReceiveCopyResults(cdb: Buffer): { serviceAction: number; listId: number; allocationLength: number } {
  return { serviceAction: cdb[1] & 0x1f, listId: cdb[2], allocationLength: cdb.readUInt32BE(10) };
}

/** SPC-2 RESERVE(10)/RELEASE(10): 3RDPTY / LONGID are not supported by LIO either. */
export function parseReserve10(cdb: Buffer): { thirdParty: boolean; longId: boolean; parameterListLength: number } {
  return { thirdParty: (cdb[1] & 0x10) !== 0, longId: (cdb[1] & 0x02) !== 0, parameterListLength: cdb.readUInt16BE(7) };
}

/** The allocation length field of a command whose Data-In size is set by it (for residual reporting). */
export function allocationLength(cdb: Buffer): number | undefined {
  switch (cdb[0]) {
    case Opcode.INQUIRY:
      return cdb.readUInt16BE(3);
    case Opcode.REQUEST_SENSE:
    case Opcode.MODE_SENSE_6:
      return cdb[4];
    case Opcode.MODE_SENSE_10:
    case Opcode.PERSISTENT_RESERVE_IN:
      return cdb.readUInt16BE(7);
    case Opcode.REPORT_LUNS:
    case Opcode.MAINTENANCE_IN:
      return cdb.readUInt32BE(6);
    case Opcode.SERVICE_ACTION_IN_16:
    case Opcode.RECEIVE_COPY_RESULTS:
      return cdb.readUInt32BE(10);
    default:
      return undefined;
  }
}

/**
 * Sense data (SPC-4 §4.5): sense keys, additional sense codes and builders for
 * fixed (70h) and descriptor (72h) format. Pure functions.
 */
import { ScsiStatus, type ScsiResult } from "./types";

export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  BLANK_CHECK: 0x8,
  COPY_ABORTED: 0xa,
  ABORTED_COMMAND: 0xb,
  VOLUME_OVERFLOW: 0xd,
  MISCOMPARE: 0xe,
} as const;

/** ASC/ASCQ pairs used by the emulation, as [asc, ascq]. */
export const Asc = {
  NO_ADDITIONAL_SENSE: [0x00, 0x00],
  LUN_NOT_READY_MANUAL_INTERVENTION: [0x04, 0x03],
  /** ALUA (SPC-4 §5.16.2): LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION. */
  ALUA_STATE_TRANSITION: [0x04, 0x0a],
  /** LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE. */
  ALUA_TG_PT_STANDBY: [0x04, 0x0b],
  /** LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE STATE. */
  ALUA_TG_PT_UNAVAILABLE: [0x04, 0x0c],
  /** LOGICAL UNIT NOT READY, OFFLINE (LIO's ASCQ_04H_ALUA_OFFLINE). */
  ALUA_OFFLINE: [0x04, 0x12],
  WRITE_ERROR: [0x0c, 0x00],
  INVALID_FIELD_IN_COMMAND_IU: [0x0e, 0x03],
  LOGICAL_UNIT_COMMUNICATION_FAILURE: [0x08, 0x00],
  UNRECOVERED_READ_ERROR: [0x11, 0x00],
  MISCOMPARE_DURING_VERIFY: [0x1d, 0x00],
  PARAMETER_LIST_LENGTH_ERROR: [0x1a, 0x00],
  INVALID_COMMAND_OPERATION_CODE: [0x20, 0x00],
  LBA_OUT_OF_RANGE: [0x21, 0x00],
  INVALID_FIELD_IN_CDB: [0x24, 0x00],
  LOGICAL_UNIT_NOT_SUPPORTED: [0x25, 0x00],
  INVALID_FIELD_IN_PARAMETER_LIST: [0x26, 0x00],
  UNSUPPORTED_TARGET_DESCRIPTOR_TYPE: [0x26, 0x07],
  UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE: [0x26, 0x09],
  TOO_MANY_TARGET_DESCRIPTORS: [0x26, 0x06],
  TOO_MANY_SEGMENT_DESCRIPTORS: [0x26, 0x08],
  WRITE_PROTECTED: [0x27, 0x00],
  HARDWARE_WRITE_PROTECTED: [0x27, 0x01],
  SOFTWARE_WRITE_PROTECTED: [0x27, 0x02],
  POWER_ON_RESET: [0x29, 0x00],
  BUS_DEVICE_RESET_FUNCTION: [0x29, 0x03],
  MODE_PARAMETERS_CHANGED: [0x2a, 0x01],
  RESERVATIONS_PREEMPTED: [0x2a, 0x03],
  RESERVATIONS_RELEASED: [0x2a, 0x04],
  REGISTRATIONS_PREEMPTED: [0x2a, 0x05],
  CAPACITY_DATA_CHANGED: [0x2a, 0x09],
  ASYMMETRIC_ACCESS_STATE_CHANGED: [0x2a, 0x06],
  COMMANDS_CLEARED_BY_ANOTHER_INITIATOR: [0x2f, 0x00],
  SAVING_PARAMETERS_NOT_SUPPORTED: [0x39, 0x00],
  REPORTED_LUNS_DATA_CHANGED: [0x3f, 0x0e],
  INTERNAL_TARGET_FAILURE: [0x44, 0x00],
  INSUFFICIENT_REGISTRATION_RESOURCES: [0x55, 0x04],
  COPY_TARGET_DEVICE_NOT_REACHABLE: [0x0d, 0x02],
} as const satisfies Record<string, readonly [number, number]>;

export interface SenseInfo {
  key: number;
  asc: number;
  ascq: number;
  /** INFORMATION field (e.g. the miscompare offset, SBC-3 §5.2). */
  information?: number | bigint;
  /**
   * Sense-key specific field pointer (SPC-4 §4.5.2.4.2): byte (and optional bit)
   * of the CDB (cd=true) or parameter list (cd=false) that is invalid.
   */
  fieldPointer?: { cd: boolean; byte: number; bit?: number };
}

/** Fixed format sense data (response code 70h), 18 bytes. */
export function fixedSense(s: SenseInfo): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = s.key & 0x0f;
  if (s.information !== undefined) {
    b[0] |= 0x80; // VALID: the INFORMATION field is meaningful
    b.writeUInt32BE(Number(BigInt(s.information) & 0xffffffffn), 3);
  }
  b[7] = 10; // additional sense length
  b[12] = s.asc;
  b[13] = s.ascq;
  if (s.fieldPointer) {
    const fp = s.fieldPointer;
    b[15] = 0x80 | (fp.cd ? 0x40 : 0) | (fp.bit !== undefined ? 0x08 | (fp.bit & 7) : 0);
    b.writeUInt16BE(fp.byte & 0xffff, 16);
  }
  return b;
}

/** Descriptor format sense data (response code 72h) with information and sense-key specific descriptors. */
export function descriptorSense(s: SenseInfo): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(8);
  head[0] = 0x72;
  head[1] = s.key & 0x0f;
  head[2] = s.asc;
  head[3] = s.ascq;
  parts.push(head);
  if (s.information !== undefined) {
    // Information descriptor (SPC-4 §4.5.2.2): type 00h, length 0Ah, VALID=1.
    const d = Buffer.alloc(12);
    d[0] = 0x00;
    d[1] = 0x0a;
    d[2] = 0x80;
    d.writeBigUInt64BE(BigInt(s.information), 4);
    parts.push(d);
  }
  if (s.fieldPointer) {
    const fp = s.fieldPointer;
    const d = Buffer.alloc(8);
    d[0] = 0x02; // sense key specific descriptor
    d[1] = 0x06;
    d[4] = 0x80 | (fp.cd ? 0x40 : 0) | (fp.bit !== undefined ? 0x08 | (fp.bit & 7) : 0);
    d.writeUInt16BE(fp.byte & 0xffff, 5);
    parts.push(d);
  }
  const out = Buffer.concat(parts);
  out[7] = out.length - 8;
  return out;
}

export function buildSense(s: SenseInfo, descriptor = false): Buffer {
  return descriptor ? descriptorSense(s) : fixedSense(s);
}

/** Parses key/asc/ascq out of either sense format (for tests and REQUEST SENSE conversions). */
export function parseSense(b: Buffer): { key: number; asc: number; ascq: number; information?: bigint } {
  const code = b[0] & 0x7f;
  if (code === 0x72 || code === 0x73) {
    let information: bigint | undefined;
    for (let off = 8; off + 2 <= b.length; off += 2 + b[off + 1]) {
      if (b[off] === 0 && b[off + 1] >= 0x0a) information = b.readBigUInt64BE(off + 4);
    }
    return { key: b[1] & 0x0f, asc: b[2], ascq: b[3], information };
  }
  return {
    key: b[2] & 0x0f,
    asc: b[12],
    ascq: b[13],
    information: b[0] & 0x80 ? BigInt(b.readUInt32BE(3)) : undefined,
  };
}

/**
 * A CHECK CONDITION raised by a handler. Handlers throw it; ScsiDisk.execute turns it
 * into a ScsiResult (in the format the control mode page's D_SENSE selects).
 */
export class SenseError extends Error {
  constructor(
    readonly key: number,
    readonly code: readonly [number, number],
    readonly extra: { information?: number | bigint; fieldPointer?: SenseInfo["fieldPointer"]; cdbTransferLength?: number } = {},
  ) {
    super(`sense ${key.toString(16)}/${code[0].toString(16).padStart(2, "0")}h/${code[1].toString(16).padStart(2, "0")}h`);
    this.name = "SenseError";
  }

  get info(): SenseInfo {
    return { key: this.key, asc: this.code[0], ascq: this.code[1], information: this.extra.information, fieldPointer: this.extra.fieldPointer };
  }
}

export function checkCondition(s: SenseInfo, descriptor = false): ScsiResult {
  return { status: ScsiStatus.CHECK_CONDITION, sense: buildSense(s, descriptor) };
}

/** Shorthands for the common errors; `byte` is the CDB byte at fault (field pointer). */
export const invalidFieldInCdb = (byte?: number, bit?: number) =>
  new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB, byte === undefined ? {} : { fieldPointer: { cd: true, byte, bit } });
export const invalidFieldInParameterList = (byte?: number, bit?: number) =>
  new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_PARAMETER_LIST, byte === undefined ? {} : { fieldPointer: { cd: false, byte, bit } });
export const invalidOpcode = () => new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_COMMAND_OPERATION_CODE, { fieldPointer: { cd: true, byte: 0 } });
export const lbaOutOfRange = () => new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.LBA_OUT_OF_RANGE);
export const parameterListLengthError = () => new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.PARAMETER_LIST_LENGTH_ERROR);
export const writeProtected = () => new SenseError(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);

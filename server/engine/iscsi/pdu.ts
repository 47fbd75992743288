/**
 * iSCSI PDU codec (RFC 7143 §11): one codec per opcode with `decode(bhs)` and
 * `encode(header, bhs)`, described as field tables so every opcode, initiator
 * and target side, shares one small interpreter. Pure: no I/O, no state.
 *
 * A PDU on the wire is BHS (48 bytes) + AHS (TotalAHSLength × 4) + [HeaderDigest]
 * + data segment padded to 4 + [DataDigest]. Lengths and digests are handled by
 * the framer (stream.ts) and the transmitter (transmit.ts); the codecs only know BHS fields.
 */
import { crc32c } from "@node-rs/crc32";
import { NO_LUN, decodeLun, encodeLun } from "../scsi/lun";

export const BHS_LENGTH = 48;
/** RFC 7143 §11.2.1.5: Target Transfer Tag / ITT value meaning "none". */
export const RESERVED_TAG = 0xffffffff;

export const Opcode = {
  NOP_OUT: 0x00,
  SCSI_COMMAND: 0x01,
  TASK_MGMT_REQUEST: 0x02,
  LOGIN_REQUEST: 0x03,
  TEXT_REQUEST: 0x04,
  SCSI_DATA_OUT: 0x05,
  LOGOUT_REQUEST: 0x06,
  SNACK_REQUEST: 0x10,
  NOP_IN: 0x20,
  SCSI_RESPONSE: 0x21,
  TASK_MGMT_RESPONSE: 0x22,
  LOGIN_RESPONSE: 0x23,
  TEXT_RESPONSE: 0x24,
  SCSI_DATA_IN: 0x25,
  LOGOUT_RESPONSE: 0x26,
  R2T: 0x31,
  ASYNC_MESSAGE: 0x32,
  REJECT: 0x3f,
} as const;

export const OPCODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Opcode).map(([k, v]) => [v, k]));

/** Reject reasons (RFC 7143 §11.17.1). */
export const RejectReason = {
  DATA_DIGEST_ERROR: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_COMMAND_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  OUT_OF_RESOURCES: 0x0a,
  WAITING_FOR_LOGOUT: 0x0c,
} as const;

/** AHS types (RFC 7143 §11.2.2). */
export const AhsType = { EXTENDED_CDB: 1, BIDI_READ_LENGTH: 2 } as const;

// ---- field tables ---------------------------------------------------------------------------

type Field =
  | { name: string; t: "flag"; off: number; mask: number }
  | { name: string; t: "bits"; off: number; shift: number; mask: number }
  | { name: string; t: "u8" | "u16" | "u32" | "lun" | "isid"; off: number }
  | { name: string; t: "bytes"; off: number; len: number };

const I = { name: "immediate", t: "flag", off: 0, mask: 0x40 } as const;
const F = { name: "final", t: "flag", off: 1, mask: 0x80 } as const;
const u32 = (name: string, off: number): Field => ({ name, t: "u32", off });
const LUN = { name: "lun", t: "lun", off: 8 } as const;
const ITT = u32("itt", 16);
const TTT = u32("ttt", 20);

export interface PduCodec<H> {
  readonly opcode: number;
  readonly name: string;
  readonly fields: readonly Field[];
  decode(bhs: Buffer): H;
  /** Writes opcode and fields into the 48-byte BHS at `offset` of `buf` (lengths are written by the caller: writeLengths). */
  encode(h: H, buf: Buffer, offset?: number): void;
}

/**
 * The field tables compiled into straight-line code, once per opcode at load: a decoder that
 * builds one object of a fixed shape and an encoder with one statement per field, instead of a
 * loop over the table for every PDU (a quarter of the engine's own time per command in the
 * QD32 write profile). The tables stay the specification; only their interpretation moved.
 */
function readExpr(f: Field): string {
  switch (f.t) {
    case "flag": return `(b[${f.off}] & ${f.mask}) !== 0`;
    case "bits": return `(b[${f.off}] >> ${f.shift}) & ${f.mask}`;
    case "u8": return `b[${f.off}]`;
    case "u16": return `(b[${f.off}] << 8) | b[${f.off + 1}]`;
    case "u32": return `((b[${f.off}] << 24) | (b[${f.off + 1}] << 16) | (b[${f.off + 2}] << 8) | b[${f.off + 3}]) >>> 0`;
    case "lun": return `decodeLun(b, ${f.off})`;
    case "isid": return `b.toString("hex", ${f.off}, ${f.off + 6})`;
    // A view, not a copy: the CDB lives as long as the receive chunk.
    case "bytes": return `b.subarray(${f.off}, ${f.off + f.len})`;
  }
}

/** One statement writing field `f` of `h` into `b` at `o` + its offset (o: where the BHS starts in `b`). */
function writeStatement(f: Field): string {
  const v = `h[${JSON.stringify(f.name)}]`;
  const at = (k: number) => `o + ${f.off + k}`;
  switch (f.t) {
    case "flag": return `if (${v}) b[${at(0)}] |= ${f.mask};`;
    case "bits": return `b[${at(0)}] |= ((${v} ?? 0) & ${f.mask}) << ${f.shift};`;
    case "u8": return `b[${at(0)}] = ${v} ?? 0;`;
    case "u16": return `{ const v = (${v} ?? 0) & 0xffff; b[${at(0)}] = v >> 8; b[${at(1)}] = v; }`;
    case "u32": return `{ const v = (${v} ?? 0) >>> 0; b[${at(0)}] = v >>> 24; b[${at(1)}] = v >>> 16; b[${at(2)}] = v >>> 8; b[${at(3)}] = v; }`;
    // NO_LUN (an address we could not decode) goes out as LUN 0: the field is reserved in every response that can carry it.
    case "lun": return `{ const v = ${v} ?? 0; encodeLun(v === NO_LUN ? 0 : v, b, ${at(0)}); }`;
    case "isid": return `b.write((${v} ?? "").padStart(12, "0").slice(0, 12), ${at(0)}, 6, "hex");`;
    case "bytes": return `{ const v = ${v}; if (v) v.copy(b, ${at(0)}, 0, Math.min(${f.len}, v.length)); }`;
  }
}

function compileDecode<H>(fields: readonly Field[]): (bhs: Buffer) => H {
  const props = fields.map((f) => `${JSON.stringify(f.name)}: ${readExpr(f)}`).join(", ");
  return new Function("decodeLun", `return function decode(b) { return { ${props} }; };`)(decodeLun) as (bhs: Buffer) => H;
}

function compileEncode<H>(opcode: number, fields: readonly Field[]): (h: H, buf: Buffer, offset?: number) => void {
  const body = fields.map(writeStatement).join("\n");
  return new Function("encodeLun", "NO_LUN", `return function encode(h, b, offset) {\nconst o = offset === undefined ? 0 : offset;\nb.fill(0, o, o + ${BHS_LENGTH});\nb[o] = ${opcode};\n${body}\n};`)(encodeLun, NO_LUN) as (h: H, buf: Buffer, offset?: number) => void;
}

function codec<H>(opcode: number, fields: Field[]): PduCodec<H> {
  return { opcode, name: OPCODE_NAMES[opcode], fields, decode: compileDecode<H>(fields), encode: compileEncode<H>(opcode, fields) };
}

// ---- header types -------------------------------------------------------------------------

interface CmdCommon { immediate: boolean; itt: number; cmdSN: number; expStatSN: number }
interface StatusCommon { itt: number; statSN: number; expCmdSN: number; maxCmdSN: number }

export interface NopOutHeader extends CmdCommon { final: boolean; lun: number; ttt: number }
export interface ScsiCommandHeader extends CmdCommon {
  final: boolean; read: boolean; write: boolean; attr: number; lun: number; edtl: number; cdb: Buffer;
}
export interface TaskMgmtRequestHeader extends CmdCommon {
  final: boolean; function: number; lun: number; refTaskTag: number; refCmdSN: number; expDataSN: number;
}
export interface LoginRequestHeader {
  immediate: boolean; transit: boolean; cont: boolean; csg: number; nsg: number; versionMax: number; versionMin: number;
  isid: string; tsih: number; itt: number; cid: number; cmdSN: number; expStatSN: number;
}
export interface TextRequestHeader extends CmdCommon { final: boolean; cont: boolean; lun: number; ttt: number }
export interface DataOutHeader { final: boolean; lun: number; itt: number; ttt: number; expStatSN: number; dataSN: number; bufferOffset: number }
export interface LogoutRequestHeader extends CmdCommon { final: boolean; reason: number; cid: number }
export interface SnackRequestHeader { final: boolean; type: number; lun: number; itt: number; ttt: number; expStatSN: number; begRun: number; runLength: number }

export interface NopInHeader extends StatusCommon { final: boolean; lun: number; ttt: number }
export interface ScsiResponseHeader extends StatusCommon {
  final: boolean; bidiOverflow: boolean; bidiUnderflow: boolean; overflow: boolean; underflow: boolean;
  response: number; status: number; snackTag: number; expDataSN: number; bidiResidualCount: number; residualCount: number;
}
export interface TaskMgmtResponseHeader extends StatusCommon { final: boolean; response: number }
export interface LoginResponseHeader extends StatusCommon {
  transit: boolean; cont: boolean; csg: number; nsg: number; versionMax: number; versionActive: number;
  isid: string; tsih: number; statusClass: number; statusDetail: number;
}
export interface TextResponseHeader extends StatusCommon { final: boolean; cont: boolean; lun: number; ttt: number }
export interface DataInHeader extends StatusCommon {
  final: boolean; ack: boolean; overflow: boolean; underflow: boolean; hasStatus: boolean; status: number;
  lun: number; ttt: number; dataSN: number; bufferOffset: number; residualCount: number;
}
export interface LogoutResponseHeader extends StatusCommon { final: boolean; response: number; time2Wait: number; time2Retain: number }
export interface R2THeader extends StatusCommon { final: boolean; lun: number; ttt: number; r2tSN: number; bufferOffset: number; desiredLength: number }
export interface AsyncMessageHeader extends StatusCommon {
  final: boolean; lun: number; asyncEvent: number; asyncVCode: number; parameter1: number; parameter2: number; parameter3: number;
}
export interface RejectHeader extends StatusCommon { final: boolean; reason: number; dataSN: number }

const CMD = [I, ITT, u32("cmdSN", 24), u32("expStatSN", 28)];
const STATUS = [ITT, u32("statSN", 24), u32("expCmdSN", 28), u32("maxCmdSN", 32)];
/** Login Request and Response share byte 1 (T, C, CSG, NSG) and Version-max (RFC 7143 §11.12, §11.13). */
const LOGIN_STAGES: Field[] = [
  { name: "transit", t: "flag", off: 1, mask: 0x80 },
  { name: "cont", t: "flag", off: 1, mask: 0x40 },
  { name: "csg", t: "bits", off: 1, shift: 2, mask: 3 },
  { name: "nsg", t: "bits", off: 1, shift: 0, mask: 3 },
  { name: "versionMax", t: "u8", off: 2 },
];
/** ISID and TSIH name the session in both directions of a login. */
const LOGIN_SESSION_ID: Field[] = [{ name: "isid", t: "isid", off: 8 }, { name: "tsih", t: "u16", off: 14 }];

// ---- one codec per opcode -----------------------------------------------------------------

export const NopOut = codec<NopOutHeader>(Opcode.NOP_OUT, [...CMD, F, LUN, TTT]);
export const ScsiCommand = codec<ScsiCommandHeader>(Opcode.SCSI_COMMAND, [
  ...CMD, F,
  { name: "read", t: "flag", off: 1, mask: 0x40 },
  { name: "write", t: "flag", off: 1, mask: 0x20 },
  { name: "attr", t: "bits", off: 1, shift: 0, mask: 0x07 },
  LUN, u32("edtl", 20),
  { name: "cdb", t: "bytes", off: 32, len: 16 },
]);
export const TaskMgmtRequest = codec<TaskMgmtRequestHeader>(Opcode.TASK_MGMT_REQUEST, [
  ...CMD, F, { name: "function", t: "bits", off: 1, shift: 0, mask: 0x7f }, LUN,
  u32("refTaskTag", 20), u32("refCmdSN", 32), u32("expDataSN", 36),
]);
export const LoginRequest = codec<LoginRequestHeader>(Opcode.LOGIN_REQUEST, [
  I, ...LOGIN_STAGES,
  { name: "versionMin", t: "u8", off: 3 },
  ...LOGIN_SESSION_ID,
  ITT,
  { name: "cid", t: "u16", off: 20 },
  u32("cmdSN", 24), u32("expStatSN", 28),
]);
export const TextRequest = codec<TextRequestHeader>(Opcode.TEXT_REQUEST, [...CMD, F, { name: "cont", t: "flag", off: 1, mask: 0x40 }, LUN, TTT]);
const DATA_SN = u32("dataSN", 36);
const BUFFER_OFFSET = u32("bufferOffset", 40);
export const DataOut = codec<DataOutHeader>(Opcode.SCSI_DATA_OUT, [F, LUN, ITT, TTT, u32("expStatSN", 28), DATA_SN, BUFFER_OFFSET]);
export const LogoutRequest = codec<LogoutRequestHeader>(Opcode.LOGOUT_REQUEST, [
  ...CMD, F, { name: "reason", t: "bits", off: 1, shift: 0, mask: 0x7f }, { name: "cid", t: "u16", off: 20 },
]);
export const SnackRequest = codec<SnackRequestHeader>(Opcode.SNACK_REQUEST, [
  F, { name: "type", t: "bits", off: 1, shift: 0, mask: 0x0f }, LUN, ITT, TTT, u32("expStatSN", 28),
  u32("begRun", 40), u32("runLength", 44),
]);

export const NopIn = codec<NopInHeader>(Opcode.NOP_IN, [...STATUS, F, LUN, TTT]);
export const ScsiResponse = codec<ScsiResponseHeader>(Opcode.SCSI_RESPONSE, [
  ...STATUS, F,
  { name: "bidiOverflow", t: "flag", off: 1, mask: 0x10 },
  { name: "bidiUnderflow", t: "flag", off: 1, mask: 0x08 },
  { name: "overflow", t: "flag", off: 1, mask: 0x04 },
  { name: "underflow", t: "flag", off: 1, mask: 0x02 },
  { name: "response", t: "u8", off: 2 },
  { name: "status", t: "u8", off: 3 },
  u32("snackTag", 20), u32("expDataSN", 36), u32("bidiResidualCount", 40), u32("residualCount", 44),
]);
export const TaskMgmtResponse = codec<TaskMgmtResponseHeader>(Opcode.TASK_MGMT_RESPONSE, [...STATUS, F, { name: "response", t: "u8", off: 2 }]);
export const LoginResponse = codec<LoginResponseHeader>(Opcode.LOGIN_RESPONSE, [
  ...STATUS, ...LOGIN_STAGES,
  { name: "versionActive", t: "u8", off: 3 },
  ...LOGIN_SESSION_ID,
  { name: "statusClass", t: "u8", off: 36 },
  { name: "statusDetail", t: "u8", off: 37 },
]);
export const TextResponse = codec<TextResponseHeader>(Opcode.TEXT_RESPONSE, [...STATUS, F, { name: "cont", t: "flag", off: 1, mask: 0x40 }, LUN, TTT]);
export const DataIn = codec<DataInHeader>(Opcode.SCSI_DATA_IN, [
  ...STATUS, F,
  { name: "ack", t: "flag", off: 1, mask: 0x40 },
  { name: "overflow", t: "flag", off: 1, mask: 0x04 },
  { name: "underflow", t: "flag", off: 1, mask: 0x02 },
  { name: "hasStatus", t: "flag", off: 1, mask: 0x01 },
  { name: "status", t: "u8", off: 3 },
  LUN, TTT, u32("dataSN", 36), u32("bufferOffset", 40), u32("residualCount", 44),
]);
export const LogoutResponse = codec<LogoutResponseHeader>(Opcode.LOGOUT_RESPONSE, [
  ...STATUS, F, { name: "response", t: "u8", off: 2 },
  { name: "time2Wait", t: "u16", off: 40 }, { name: "time2Retain", t: "u16", off: 42 },
]);
export const R2T = codec<R2THeader>(Opcode.R2T, [
  ...STATUS, F, LUN, TTT, u32("r2tSN", 36), u32("bufferOffset", 40), u32("desiredLength", 44),
]);
export const AsyncMessage = codec<AsyncMessageHeader>(Opcode.ASYNC_MESSAGE, [
  ...STATUS, F, LUN, { name: "asyncEvent", t: "u8", off: 36 }, { name: "asyncVCode", t: "u8", off: 37 },
  { name: "parameter1", t: "u16", off: 38 }, { name: "parameter2", t: "u16", off: 40 }, { name: "parameter3", t: "u16", off: 42 },
]);
export const Reject = codec<RejectHeader>(Opcode.REJECT, [...STATUS, F, { name: "reason", t: "u8", off: 2 }, u32("dataSN", 36)]);

// ---- a framed PDU ---------------------------------------------------------------------------

/** A received PDU: views into the receive buffer, never copies. */
export interface Pdu {
  opcode: number;
  immediate: boolean;
  bhs: Buffer;
  /** Additional header segments (TotalAHSLength × 4 bytes), empty when none. */
  ahs: Buffer;
  /** Data segment without padding. */
  data: Buffer;
}

export function opcodeOf(bhs: Buffer): number {
  return bhs[0] & 0x3f;
}

/**
 * Fields of a SCSI Data-Out BHS read in place (RFC 7143 §11.7): handleDataOut and placeData read
 * them for every Data-Out PDU (127 per 1 MiB write at 8 KiB PDUs) without a header object. The
 * offsets are the DataOut codec's own fields.
 */
export const DataOutField = {
  itt: (bhs: Buffer): number => bhs.readUInt32BE(ITT.off),
  ttt: (bhs: Buffer): number => bhs.readUInt32BE(TTT.off),
  dataSN: (bhs: Buffer): number => bhs.readUInt32BE(DATA_SN.off),
  bufferOffset: (bhs: Buffer): number => bhs.readUInt32BE(BUFFER_OFFSET.off),
} as const;

export function dataSegmentLengthOf(bhs: Buffer, off = 0): number {
  return (bhs[off + 5] << 16) | (bhs[off + 6] << 8) | bhs[off + 7];
}

/** TotalAHSLength and DataSegmentLength of the BHS at `off` of `bhs` (RFC 7143 §11.2.1). */
export function writeLengths(bhs: Buffer, ahsLength: number, dataLength: number, off = 0): void {
  bhs[off + 4] = ahsLength >> 2;
  bhs[off + 5] = (dataLength >> 16) & 0xff;
  bhs[off + 6] = (dataLength >> 8) & 0xff;
  bhs[off + 7] = dataLength & 0xff;
}

export function pad4(n: number): number {
  return (4 - (n & 3)) & 3;
}

/** The AHS entries of a PDU: [type, value view]. Malformed AHS gives undefined. */
export function parseAhs(ahs: Buffer): { type: number; value: Buffer }[] | undefined {
  const out: { type: number; value: Buffer }[] = [];
  let off = 0;
  while (off < ahs.length) {
    if (off + 3 > ahs.length) return undefined;
    const len = ahs.readUInt16BE(off);
    const type = ahs[off + 2];
    // AHSLength counts the bytes after the reserved byte (RFC 7143 §11.2.2.1), each AHS padded to 4.
    const end = off + 4 + len - 1;
    if (len < 1 || end > ahs.length) return undefined;
    out.push({ type, value: ahs.subarray(off + 4, end) });
    off += 3 + len + pad4(3 + len);
  }
  return out;
}

// ---- CRC32C digests (RFC 7143 §11.2.3, RFC 3720 App. B.4) ----------------------------------

/** Header digest over BHS + AHS. */
export function headerDigest(bhs: Buffer, ahs?: Buffer): number {
  let c = crc32c(bhs);
  if (ahs && ahs.length) c = crc32c(ahs, c);
  return c >>> 0;
}

const ZERO_PAD = Buffer.alloc(4);
/** Data digest covers the data segment and its pad bytes. */
export function dataDigest(data: Buffer): number {
  let c = crc32c(data);
  const p = pad4(data.length);
  if (p) c = crc32c(ZERO_PAD.subarray(0, p), c);
  return c >>> 0;
}

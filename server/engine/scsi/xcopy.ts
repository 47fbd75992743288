/**
 * EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (SPC-4 §6.4, §6.18; SPC-3 §6.3/§6.17),
 * with Linux LIO's copy manager limits (target_core_xcopy.c): identification
 * descriptor target descriptors (E4h) naming a LU by its NAA IEEE Registered Extended
 * designator, block → block segment descriptors (02h), at most 2 target and 1 segment
 * descriptors, 1024 bytes of descriptor lists, no inline data. The copy runs inside
 * the appliance between LUs the issuing I_T nexus can address, in chunks of at most
 * 16 MiB (LIO's XCOPY_MAX_BYTES), each under withRange of the destination so it is
 * atomic against other writes to those blocks.
 *
 * Errors found while parsing the parameter list are ILLEGAL REQUEST; a copy target that
 * cannot be located, an index past the target descriptor list, a range past the end of
 * a LU or a failed read/write is COPY ABORTED with 0Dh/02h COPY TARGET DEVICE NOT
 * REACHABLE, as LIO reports them.
 */
import type { CommandContext, CommandEntry } from "./command";
import type { ScsiDisk } from "./disk";
import { devicesByNaa } from "./registry";
import { Asc, SenseError, SenseKey, invalidFieldInCdb, invalidFieldInParameterList, parameterListLengthError } from "./sense";
import { ScsiStatus, type ResolvedLun, type ScsiResult } from "./types";

/** LIO's RECEIVE COPY RESULTS operating parameters (target_core_xcopy.h RCR_OP_*). */
export const XCOPY_LIMITS = {
  maxTargetDescriptors: 2,
  maxSegmentDescriptors: 1,
  maxDescriptorListLength: 1024,
  maxSegmentLength: 256 * 1024 * 1024,
  totalConcurrentCopies: 1,
  maxConcurrentCopies: 1,
  /** log2 of the data segment, inline and held data granularities. */
  granularityLog2: 9,
} as const;
/** One read/write of the copy (LIO XCOPY_MAX_BYTES). */
export const XCOPY_CHUNK_BYTES = 16 * 1024 * 1024;

export const TARGET_DESCRIPTOR_LENGTH = 32;
export const SEGMENT_DESCRIPTOR_B2B_LENGTH = 28;
export const DescriptorType = { BLOCK_TO_BLOCK: 0x02, IDENTIFICATION: 0xe4 } as const;

export interface TargetDescriptor {
  /** NAA designator (16 bytes) of the LU. */
  naa: Buffer;
  /** Block size from the device type specific parameters (0 = not given). */
  blockSize: number;
}

export interface BlockSegment {
  sourceIndex: number;
  destinationIndex: number;
  /** DC: NUMBER OF BLOCKS counts destination blocks. */
  destinationCount: boolean;
  blocks: number;
  sourceLba: number;
  destinationLba: number;
}

export interface XcopyParameters {
  listId: number;
  /** LIST ID USAGE (SPC-4 table 108): 00b holds results for RECEIVE COPY RESULTS. */
  listIdUsage: number;
  targets: TargetDescriptor[];
  segments: BlockSegment[];
}

const copyAborted = () => new SenseError(SenseKey.COPY_ABORTED, Asc.COPY_TARGET_DEVICE_NOT_REACHABLE);

function u64(b: Buffer, off: number): number {
  return b.readUInt32BE(off) * 0x1_0000_0000 + b.readUInt32BE(off + 4);
}

/**
 * Parses an EXTENDED COPY(LID1) parameter list (SPC-4 §6.4.3) with LIO's limits. Pure:
 * throws the SenseError the command ends with. `data` is the whole Data-Out, whose length
 * is the CDB's PARAMETER LIST LENGTH (> 0).
 */
export function parseXcopyParameterList(data: Buffer): XcopyParameters {
  if (data.length < 16) throw parameterListLengthError();
  const listId = data[0];
  const listIdUsage = (data[1] >> 3) & 0x03;
  const tdll = data.readUInt16BE(2);
  const sdll = data.readUInt32BE(8);
  const inlineLength = data.readUInt32BE(12);
  if (tdll + sdll > XCOPY_LIMITS.maxDescriptorListLength) throw parameterListLengthError();
  if (16 + tdll + sdll + inlineLength > data.length) throw parameterListLengthError();
  if (inlineLength !== 0) throw invalidFieldInParameterList(12);
  if (listIdUsage === 0x01) throw invalidFieldInParameterList(1, 4); // reserved
  if (tdll % TARGET_DESCRIPTOR_LENGTH !== 0) throw invalidFieldInParameterList(2);
  if (tdll / TARGET_DESCRIPTOR_LENGTH > XCOPY_LIMITS.maxTargetDescriptors) {
    throw new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.TOO_MANY_TARGET_DESCRIPTORS, { fieldPointer: { cd: false, byte: 2 } });
  }
  if (sdll > XCOPY_LIMITS.maxSegmentDescriptors * SEGMENT_DESCRIPTOR_B2B_LENGTH) {
    throw new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.TOO_MANY_SEGMENT_DESCRIPTORS, { fieldPointer: { cd: false, byte: 8 } });
  }

  const targets: TargetDescriptor[] = [];
  for (let off = 16; off < 16 + tdll; off += TARGET_DESCRIPTOR_LENGTH) targets.push(parseTargetDescriptor(data, off));

  const segments: BlockSegment[] = [];
  for (let off = 16 + tdll; off < 16 + tdll + sdll; ) {
    const type = data[off];
    if (type !== DescriptorType.BLOCK_TO_BLOCK) {
      throw new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE, { fieldPointer: { cd: false, byte: off } });
    }
    if (off + SEGMENT_DESCRIPTOR_B2B_LENGTH > 16 + tdll + sdll) throw parameterListLengthError();
    // DESCRIPTOR LENGTH counts the bytes after byte 3 (SPC-4 §6.4.5.1).
    if (data.readUInt16BE(off + 2) !== SEGMENT_DESCRIPTOR_B2B_LENGTH - 4) throw invalidFieldInParameterList(off + 2);
    segments.push({
      sourceIndex: data.readUInt16BE(off + 4),
      destinationIndex: data.readUInt16BE(off + 6),
      destinationCount: (data[off + 1] & 0x02) !== 0,
      blocks: data.readUInt16BE(off + 10),
      sourceLba: u64(data, off + 12),
      destinationLba: u64(data, off + 20),
    });
    off += SEGMENT_DESCRIPTOR_B2B_LENGTH;
  }
  return { listId, listIdUsage, targets, segments };
}

/** Identification descriptor target descriptor (E4h, SPC-4 §6.4.4.7) naming a LU by NAA. */
function parseTargetDescriptor(data: Buffer, off: number): TargetDescriptor {
  if (data[off] !== DescriptorType.IDENTIFICATION) {
    throw new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE, { fieldPointer: { cd: false, byte: off } });
  }
  // Byte 1 bits 7..5 (SPC-3 LU ID TYPE and NUL) are obsolete in SPC-4, which this device
  // server claims (VERSION 06h): ignored, as LIO does (libiscsi's ValidTgtDescr expects GOOD).
  if ((data[off + 1] & 0x1f) !== 0) throw invalidFieldInParameterList(off + 1, 4); // direct access block devices only
  // The designation descriptor (SPC-4 §7.8.6): binary, associated with the LU, NAA, 16 bytes (LIO's checks).
  const d = off + 4;
  if ((data[d] & 0x0f) !== 0x1) throw invalidFieldInParameterList(d);
  if ((data[d + 1] & 0x30) !== 0) throw invalidFieldInParameterList(d + 1, 5);
  if ((data[d + 1] & 0x0f) !== 0x3) throw invalidFieldInParameterList(d + 1, 3);
  if (data[d + 3] !== 16) throw invalidFieldInParameterList(d + 3);
  return {
    naa: Buffer.from(data.subarray(d + 4, d + 20)),
    blockSize: (data[off + 29] << 16) | (data[off + 30] << 8) | data[off + 31],
  };
}

// ---- the copy manager ---------------------------------------------------------

/** A copy target as the issuing nexus reaches it. */
interface CopyTarget {
  disk: ScsiDisk;
  lun: ResolvedLun;
}

/** Results held for RECEIVE COPY RESULTS (COPY STATUS), per I_T nexus and list identifier. */
export interface HeldCopyResult {
  status: "good" | "error";
  segmentsProcessed: number;
  transferredBytes: number;
}

const MAX_HELD_RESULTS = 16;
const held = new WeakMap<ScsiDisk, Map<string, HeldCopyResult>>();

function hold(disk: ScsiDisk, key: string, r: HeldCopyResult): void {
  let m = held.get(disk);
  if (!m) held.set(disk, (m = new Map()));
  m.delete(key);
  m.set(key, r);
  while (m.size > MAX_HELD_RESULTS) m.delete(m.keys().next().value as string);
}

/** The LU named by `naa` among those the nexus can address, with 3PC enabled. */
function locate(c: CommandContext, naa: Buffer): CopyTarget | undefined {
  const candidates = new Set(devicesByNaa(naa));
  if (candidates.size === 0) return undefined;
  for (const n of c.nexus.luns()) {
    const lun = c.nexus.resolve(n);
    if (!lun) continue;
    const disk = lun.device as unknown as ScsiDisk;
    if (candidates.has(disk) && disk.attr("emulate_3pc") === 1) return { disk, lun };
  }
  return undefined;
}

function conflicts(c: CommandContext, t: CopyTarget, kind: "read" | "write"): boolean {
  const d = t.disk;
  if (d.attr("emulate_pr") !== 1 && d.pr.spc2Holder === undefined) return false;
  return d.pr.conflicts(d.prNexus({ ...c, disk: d, lun: t.lun }), kind);
}

/** EXTENDED COPY(LID1): service action 00h of opcode 83h. */
export async function extendedCopy(c: CommandContext): Promise<ScsiResult> {
  const length = c.cdb.readUInt32BE(10);
  if (length === 0) return { status: ScsiStatus.GOOD }; // SPC-4 §6.4.1: not an error
  const data = c.task.dataOut ?? Buffer.alloc(0);
  if (data.length < length) throw parameterListLengthError();
  const p = parseXcopyParameterList(data.subarray(0, length));
  const key = `${c.nexus.identity.key}|${p.listId}`;
  const result: HeldCopyResult = { status: "good", segmentsProcessed: 0, transferredBytes: 0 };
  try {
    // Resolve every copy target first: the receiving LU must be one of them (as LIO).
    const targets = p.targets.map((t) => locate(c, t.naa));
    for (const seg of p.segments) {
      const src = targets[seg.sourceIndex];
      const dst = targets[seg.destinationIndex];
      if (!src || !dst) throw copyAborted();
      if (src.disk !== c.disk && dst.disk !== c.disk) throw copyAborted();
      if (conflicts(c, src, "read") || conflicts(c, dst, "write")) return { status: ScsiStatus.RESERVATION_CONFLICT };
      if (dst.disk.isWriteProtected(dst.lun)) throw new SenseError(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
      await copySegment(c, src.disk, dst.disk, seg, result);
      result.segmentsProcessed++;
    }
    return { status: ScsiStatus.GOOD };
  } catch (err) {
    result.status = "error";
    if (err instanceof SenseError) throw err;
    console.error(`[scsi] ${c.disk.info.name}: EXTENDED COPY failed:`, err);
    throw copyAborted();
  } finally {
    if (p.listIdUsage === 0) hold(c.disk, key, result);
  }
}

async function copySegment(c: CommandContext, src: ScsiDisk, dst: ScsiDisk, seg: BlockSegment, result: HeldCopyResult): Promise<void> {
  const bs = src.blockSize;
  if (dst.blockSize !== bs) throw copyAborted();
  const blocks = seg.blocks;
  if (blocks === 0) return;
  if (blocks * bs > XCOPY_LIMITS.maxSegmentLength) throw copyAborted();
  if (seg.sourceLba + blocks > src.blocks || seg.destinationLba + blocks > dst.blocks) throw copyAborted();
  const per = Math.max(1, Math.floor(XCOPY_CHUNK_BYTES / bs));
  // Overlapping ranges of one LU copied towards higher LBAs go back to front (memmove).
  const backwards = src === dst && seg.destinationLba > seg.sourceLba && seg.destinationLba < seg.sourceLba + blocks;
  const chunks: [number, number][] = [];
  for (let done = 0; done < blocks; done += per) chunks.push([done, Math.min(per, blocks - done)]);
  if (backwards) chunks.reverse();
  for (const [at, n] of chunks) {
    if (c.task.signal?.aborted) throw new SenseError(SenseKey.ABORTED_COMMAND, Asc.NO_ADDITIONAL_SENSE);
    await dst.withRange(seg.destinationLba + at, n, async () => {
      // A copy of the data: a backstore's read may return a view its next write changes.
      const chunk = Buffer.from(await src.info.backstore.read((seg.sourceLba + at) * bs, n * bs));
      await dst.info.backstore.write((seg.destinationLba + at) * bs, chunk, false);
    });
    result.transferredBytes += n * bs;
  }
}

// ---- RECEIVE COPY RESULTS ---------------------------------------------------------

export const ReceiveCopyResults = { COPY_STATUS: 0x00, OPERATING_PARAMETERS: 0x03 } as const;

/** OPERATING PARAMETERS (SPC-3 §6.17.4): LIO's limits and the descriptor types it implements. */
export function operatingParameters(): Buffer {
  const implemented = [DescriptorType.BLOCK_TO_BLOCK, DescriptorType.IDENTIFICATION];
  const b = Buffer.alloc(44 + implemented.length);
  b.writeUInt32BE(b.length - 4, 0);
  b[4] = 0x01; // SNLID: list identifiers need not be unique across nexuses
  b.writeUInt16BE(XCOPY_LIMITS.maxTargetDescriptors, 8);
  b.writeUInt16BE(XCOPY_LIMITS.maxSegmentDescriptors, 10);
  b.writeUInt32BE(XCOPY_LIMITS.maxDescriptorListLength, 12);
  b.writeUInt32BE(XCOPY_LIMITS.maxSegmentLength, 16);
  // MAXIMUM INLINE DATA LENGTH, HELD DATA LIMIT, MAXIMUM STREAM DEVICE TRANSFER SIZE: 0.
  b.writeUInt16BE(XCOPY_LIMITS.totalConcurrentCopies, 34);
  b[36] = XCOPY_LIMITS.maxConcurrentCopies;
  b[37] = XCOPY_LIMITS.granularityLog2;
  b[38] = XCOPY_LIMITS.granularityLog2;
  b[39] = XCOPY_LIMITS.granularityLog2;
  b[43] = implemented.length;
  Buffer.from(implemented).copy(b, 44);
  return b;
}

/** COPY STATUS (SPC-3 §6.17.2) of a held copy. */
export function copyStatusData(r: HeldCopyResult): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(8, 0);
  b[4] = r.status === "good" ? 0x01 : 0x02; // COPY MANAGER STATUS: completed, good / with errors
  b.writeUInt16BE(Math.min(r.segmentsProcessed, 0xffff), 5);
  // TRANSFER COUNT UNITS 00h (bytes) while it fits, else 02h (mebibytes).
  if (r.transferredBytes <= 0xffffffff) b.writeUInt32BE(r.transferredBytes, 8);
  else {
    b[7] = 0x02;
    b.writeUInt32BE(Math.floor(r.transferredBytes / (1 << 20)), 8);
  }
  return b;
}

function truncate(data: Buffer, alloc: number): ScsiResult {
  return { status: ScsiStatus.GOOD, dataIn: data.length > alloc ? data.subarray(0, alloc) : data };
}

export function receiveCopyOperatingParameters(c: CommandContext): ScsiResult {
  return truncate(operatingParameters(), c.cdb.readUInt32BE(10));
}

/** COPY STATUS for the LIST IDENTIFIER of an earlier EXTENDED COPY of this nexus; unknown ones are an invalid CDB. */
export function receiveCopyStatus(c: CommandContext): ScsiResult {
  const r = held.get(c.disk)?.get(`${c.nexus.identity.key}|${c.cdb[2]}`);
  if (!r) throw invalidFieldInCdb(2);
  return truncate(copyStatusData(r), c.cdb.readUInt32BE(10));
}

/** EXTENDED COPY / RECEIVE COPY RESULTS service actions LIO does not implement (LID4 and the rest). */
export function copyServiceActionUnsupported(): ScsiResult {
  throw invalidFieldInCdb(1, 4);
}

const emulate3pc = (d: ScsiDisk) => d.attr("emulate_3pc") === 1;

/** EXTENDED COPY(LID1) and RECEIVE COPY RESULTS, present while emulate_3pc=1 (LIO: UNSUPPORTED SCSI OPCODE otherwise). */
// Reservations and write protection are checked per copy target by the handler.
export const copyCommands: CommandEntry[] = [
  { opcode: 0x83, def: { name: "EXTENDED COPY", handler: copyServiceActionUnsupported, conflict: "none" }, gate: emulate3pc },
  {
    opcode: 0x83, serviceAction: 0x00, gate: emulate3pc,
    def: { name: "EXTENDED COPY(LID1)", handler: extendedCopy, conflict: "none", io: true, usage: [0x83, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07] },
  },
  { opcode: 0x84, def: { name: "RECEIVE COPY RESULTS", handler: copyServiceActionUnsupported, conflict: "none" }, gate: emulate3pc },
  {
    opcode: 0x84, serviceAction: ReceiveCopyResults.COPY_STATUS, gate: emulate3pc,
    def: { name: "RECEIVE COPY RESULTS(COPY STATUS)", handler: receiveCopyStatus, conflict: "none", usage: [0x84, 0x00, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07] },
  },
  {
    opcode: 0x84, serviceAction: ReceiveCopyResults.OPERATING_PARAMETERS, gate: emulate3pc,
    def: { name: "RECEIVE COPY RESULTS(OPERATING PARAMETERS)", handler: receiveCopyOperatingParameters, conflict: "none", usage: [0x84, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07] },
  },
];

/**
 * What a SCSI command is, for the logical unit's emulation: the handler's context,
 * the definition every command file exports, and the helpers handlers share.
 *
 * Import order is one way: command.ts (this file, no runtime imports from the
 * command files or disk.ts) <- commands-*.ts, xcopy.ts (each exports its entries) <-
 * commands.ts (the one table) <- disk.ts (executes). No command file imports the
 * table or the disk at run time, so any of them can be loaded first.
 */
import type { ConflictKind } from "./pr";
import { Asc, SenseError, SenseKey } from "./sense";
import { ScsiStatus, type ResolvedLun, type ScsiNexusView, type ScsiResult, type ScsiTask } from "./types";
import type { ScsiDisk } from "./disk";

/** Everything a handler needs for one command. */
export interface CommandContext {
  readonly disk: ScsiDisk;
  readonly task: ScsiTask;
  readonly cdb: Buffer;
  readonly nexus: ScsiNexusView;
  readonly lun: ResolvedLun;
  /** The command table (REPORT SUPPORTED OPERATION CODES reports from it). */
  readonly commands: CommandTable;
}

export type CommandHandler = (c: CommandContext) => Promise<ScsiResult> | ScsiResult;

export interface CommandDef {
  name: string;
  handler: CommandHandler;
  /** Modifies the medium: refused on a write-protected LUN (DATA PROTECT). Counts against queue_depth. */
  writes?: boolean;
  /** Reads the backstore (READ, VERIFY, SYNCHRONIZE CACHE...): counts against queue_depth like writes. */
  io?: boolean;
  /** INQUIRY, REPORT LUNS, REQUEST SENSE: neither blocked by nor consuming a unit attention (SPC-4 §5.14). */
  uaExempt?: boolean;
  /** How the command meets reservations (pr.ts ConflictKind); default "write" when `writes`, else "read". */
  conflict?: ConflictKind;
  /** REPORT SUPPORTED OPERATION CODES: CDB usage data (bits the device examines), SPC-4 §6.35.3. */
  usage?: number[];
}

/** One row of the command table, as each command file exports them. */
export interface CommandEntry {
  opcode: number;
  /** For opcodes whose service action (CDB byte 1, bits 4-0) selects the command. */
  serviceAction?: number;
  def: CommandDef;
  /** Present only while this returns true (emulate_pr, emulate_caw, emulate_3pc, emulate_rsoc, emulate_tpu). */
  gate?: (d: ScsiDisk) => boolean;
}

/** The command table as handlers see it (built once in commands.ts). */
export interface CommandTable {
  /** The definition a CDB selects, or undefined (unknown, or gated off for `disk`). */
  commandFor(cdb: Buffer, disk?: ScsiDisk): CommandDef | undefined;
  /** Does the opcode select its command by service action? */
  hasServiceActions(opcode: number): boolean;
  /** Is (opcode, service action) defined, gates aside? */
  hasServiceAction(opcode: number, sa: number): boolean;
  /** Every defined command, by opcode then service action. */
  all(): readonly { opcode: number; sa?: number }[];
}

export const GOOD: ScsiResult = Object.freeze({ status: ScsiStatus.GOOD }) as ScsiResult;

/** Data-In limited to the allocation length (SPC-4 §4.2.5.6). */
export function dataIn(data: Buffer, alloc: number): ScsiResult {
  return { status: ScsiStatus.GOOD, dataIn: data.length > alloc ? data.subarray(0, alloc) : data };
}

/** First differing byte, or -1. */
export function firstMismatch(a: Buffer, b: Buffer): number {
  if (a.equals(b)) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** The miscompare of VERIFY / COMPARE AND WRITE (SBC-3 §5.2): INFORMATION = offset of the first differing byte. */
export function miscompare(offset: number): SenseError {
  return new SenseError(SenseKey.MISCOMPARE, Asc.MISCOMPARE_DURING_VERIFY, { information: offset });
}

/** CDB usage data of an LBA command: every field examined, `flags` in byte 1, GROUP NUMBER 6 bits (SPC-4 §6.35.3). */
export function rwUsage(op: number, len: number, flags: number): number[] {
  const u = new Array<number>(len).fill(0xff);
  u[0] = op;
  u[1] = flags;
  if (len === 10) u[6] = 0x3f;
  if (len === 12) u[10] = 0x3f;
  if (len === 16) u[14] = 0x3f;
  u[len - 1] = 0x07;
  return u;
}

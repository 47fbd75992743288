/**
 * ScsiDisk: SPC-4/SBC-3 emulation of one logical unit (LIO's spc_parse_cdb +
 * sbc_parse_cdb for a disk). One handler per opcode in COMMANDS; execute() does
 * what every command shares (unit attentions, reservations, write protect) and
 * turns a thrown SenseError into CHECK CONDITION. Shared by every nexus that sees
 * the LU; per-nexus state (unit attentions) is keyed by NexusIdentity.key.
 */
import {
  Opcode,
  MaintenanceIn,
  ServiceActionIn16,
  allocationLength,
  cdbLength,
  parseInquiry,
  parseLbaCdb,
  parseModeSelect,
  parseModeSense,
  parseRequestSense,
  parseServiceActionIn16,
  parseStartStop,
  type LbaCdb,
} from "./cdb";
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
import { modePages, modeSenseData, type ModeContext, type ModeState, type PageControl } from "./mode";
import {
  Asc,
  SenseError,
  SenseKey,
  buildSense,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  invalidOpcode,
  lbaOutOfRange,
  parameterListLengthError,
  writeProtected,
} from "./sense";
import { UnitAttentions } from "./ua";
import { registerPrCommands } from "./commands-pr";
import { registerSbcCommands } from "./commands-sbc";
import { registerDevice, unregisterDevice } from "./registry";
import { registerCopyCommands } from "./xcopy";
import { PersistentReservations, type PrNexus, type PrSavedState, type PrUnitAttention } from "./pr";
import { ScsiStatus, type DeviceInfo, type NexusIdentity, type ResolvedLun, type ScsiDevice, type ScsiNexusView, type ScsiResult, type ScsiTask } from "./types";

/** Everything a handler needs for one command. */
export interface CommandContext {
  readonly disk: ScsiDisk;
  readonly task: ScsiTask;
  readonly cdb: Buffer;
  readonly nexus: ScsiNexusView;
  readonly lun: ResolvedLun;
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
  conflict?: import("./pr").ConflictKind;
  /** REPORT SUPPORTED OPERATION CODES: CDB usage data (bits the device examines), SPC-4 §6.35.3. */
  usage?: number[];
}

const GOOD: ScsiResult = Object.freeze({ status: ScsiStatus.GOOD }) as ScsiResult;

/** Data-In limited to the allocation length (SPC-4 §4.2.5.6). */
export function dataIn(data: Buffer, alloc: number): ScsiResult {
  return { status: ScsiStatus.GOOD, dataIn: data.length > alloc ? data.subarray(0, alloc) : data };
}

export class ScsiDisk implements ScsiDevice {
  readonly unitAttentions = new UnitAttentions();
  /** Every I_T nexus known to this LU (logged in and not lost), for "all other nexuses" UAs. */
  readonly nexuses = new Set<string>();
  readonly modeState: ModeState = { dSense: false, swp: false };
  private lastCapacity: number;

  /**
   * Told when this LU raises (queues) a unit attention, with the I_T nexus keys (NexusIdentity.key)
   * it was queued for: power on/reset, capacity or LUN inventory changed, reservations preempted...
   * Delivery to the initiator is a separate, later event (the transport reports it).
   */
  set onUnitAttention(fn: ((nexusKeys: string[], asc: number, ascq: number) => void) | undefined) {
    this.unitAttentions.onRaise = fn ? (keys, code) => fn(keys, code[0], code[1]) : undefined;
  }

  constructor(readonly info: DeviceInfo) {
    this.lastCapacity = info.backstore.sizeBytes;
    // EXTENDED COPY finds copy targets by their NAA designator (scsi/registry.ts).
    registerDevice(this);
  }

  /** The storage object is going away: no EXTENDED COPY may name it any more. */
  close(): void {
    unregisterDevice(this);
  }

  // ---- geometry and attributes -------------------------------------------

  get blockSize(): number {
    return this.info.backstore.blockSize;
  }
  /** Number of logical blocks. */
  get blocks(): number {
    return Math.floor(this.info.backstore.sizeBytes / this.info.backstore.blockSize);
  }
  attr(name: string): number {
    return this.info.attributes[name] ?? 0;
  }
  get writeCache(): boolean {
    return this.info.backstore.writeBack;
  }
  get thinUnmap(): boolean {
    return this.attr("emulate_tpu") === 1;
  }
  get thinWriteSame(): boolean {
    return this.attr("emulate_tpws") === 1;
  }
  /** MAX TRANSFER LENGTH in blocks: hw_max_sectors, limited like LIO's iSCSI fabric (65535 4 KiB pages). */
  get maxTransferBlocks(): number {
    const fabric = Math.floor((65535 * 4096) / this.blockSize);
    return Math.min(this.attr("hw_max_sectors") || fabric, fabric);
  }

  /** Is the LUN write-protected for this nexus (mapped LUN write_protect, read-only backstore, SWP)? */
  isWriteProtected(lun: ResolvedLun): boolean {
    return lun.binding.writeProtect || this.info.backstore.readonly === true || this.modeState.swp;
  }

  modeContext(): ModeContext {
    return {
      state: this.modeState,
      writeCache: this.writeCache,
      uaIntlckCtrl: this.attr("emulate_ua_intlck_ctrl"),
      tas: this.attr("emulate_tas") === 1,
      restrictedReordering: this.attr("emulate_rest_reord") === 1,
    };
  }

  // ---- ScsiDevice ----------------------------------------------------------

  nexusCreated(nexus: NexusIdentity): void {
    this.nexuses.add(nexus.key);
    this.unitAttentions.clear(nexus.key);
    this.unitAttentions.add(nexus.key, Asc.POWER_ON_RESET);
  }

  nexusKeys(): Iterable<string> {
    return this.nexuses;
  }

  reportedLunsChanged(match: (nexusKey: string) => boolean): void {
    for (const k of this.nexuses) if (match(k)) this.unitAttentions.add(k, Asc.REPORTED_LUNS_DATA_CHANGED);
  }

  nexusLost(nexus: NexusIdentity): void {
    this.nexuses.delete(nexus.key);
    this.unitAttentions.clear(nexus.key);
    this.onNexusLost(nexus);
  }

  taskManagement(fn: "lun_reset" | "target_warm_reset" | "target_cold_reset" | "clear_task_set" | "abort_task_set", by: NexusIdentity): void {
    switch (fn) {
      case "lun_reset":
      case "target_warm_reset":
      case "target_cold_reset":
        // SAM-5 §6.4: a reset releases SPC-2 reservations (not persistent ones) and
        // establishes 29h/03h for every I_T nexus of the LU, the issuer's included (as Linux
        // LIO's target_dev_ua_allocate; libiscsi's MultipathIO.Reset expects it on every path).
        this.onReset();
        // Target resets: the issuer knows what it did (libiscsi's Reserve6 tests send their next
        // command on the same nexus and expect no UA); LIO refuses these TMFs altogether.
        this.unitAttentions.addAll(this.nexuses, Asc.BUS_DEVICE_RESET_FUNCTION, fn === "lun_reset" ? undefined : by.key);
        break;
      case "clear_task_set":
        // SAM-5 §7.5 with TST=000b: other initiators lose their tasks: 2Fh/00h.
        this.unitAttentions.addAll(this.nexuses, Asc.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR, by.key);
        break;
      case "abort_task_set":
        break;
    }
  }

  protected onReset(): void {
    this.pr.resetSpc2();
  }
  protected onNexusLost(nexus: NexusIdentity): void {
    this.pr.resetSpc2(nexus.key);
    this.prNexuses.delete(nexus.key);
  }

  // ---- reservations ----------------------------------------------------------

  readonly pr = new PersistentReservations();
  /** The PR view of every nexus seen (for unit attentions to registrants). */
  readonly prNexuses = new Map<string, PrNexus>();
  /**
   * APTPL persistence (SPC-4 §5.12.5): called after every PR OUT that changes state while
   * APTPL is (or was just) active, with the state to save, or undefined to delete it. The config
   * layer stores it and hands it back through loadPersistentReservations() at start-up.
   */
  onAptplChange?: (state: PrSavedState | undefined) => void;

  loadPersistentReservations(state: PrSavedState): void {
    this.pr.load(state);
  }

  prNexus(c: CommandContext): PrNexus {
    const id = c.nexus.identity;
    let n = this.prNexuses.get(id.key);
    if (!n || n.relativeTargetPortId !== c.lun.relativeTargetPortId) {
      n = {
        key: id.key,
        initiatorName: id.initiatorName.toLowerCase(),
        isid: id.isid.toLowerCase(),
        targetPort: `${id.targetName.toLowerCase()},t,0x${id.tpgTag.toString(16).padStart(4, "0")}`,
        relativeTargetPortId: c.lun.relativeTargetPortId,
      };
      this.prNexuses.set(id.key, n);
    }
    return n;
  }

  /** Queues reservation unit attentions for every known nexus a registration matches. */
  queuePrUnitAttentions(uas: PrUnitAttention[]): void {
    for (const ua of uas) {
      for (const n of this.prNexuses.values()) if (this.pr.matches(ua.registration, n)) this.unitAttentions.add(n.key, ua.code);
    }
  }

  /** Sense data in the format the control mode page selects (D_SENSE). */
  sense(key: number, code: readonly [number, number], extra: SenseError["extra"] = {}): Buffer {
    return buildSense({ key, asc: code[0], ascq: code[1], information: extra.information, fieldPointer: extra.fieldPointer }, this.modeState.dSense);
  }

  async execute(task: ScsiTask, nexus: ScsiNexusView, lun: ResolvedLun): Promise<ScsiResult> {
    const key = nexus.identity.key;
    try {
      this.nexuses.add(key);
      this.checkCapacityChange();
      const def = commandFor(task.cdb, this);
      if (!def?.uaExempt) {
        // SPC-4 §5.14: a pending unit attention terminates any other command, and is then cleared.
        const ua = this.unitAttentions.take(key);
        if (ua) return { status: ScsiStatus.CHECK_CONDITION, sense: this.sense(SenseKey.UNIT_ATTENTION, ua) };
      }
      if (!def) throw invalidOpcode();
      const c: CommandContext = { disk: this, task, cdb: task.cdb, nexus, lun };
      if (this.attr("emulate_pr") === 1 || this.pr.spc2Holder !== undefined) {
        const kind = def.conflict ?? (def.writes ? "write" : "read");
        if (this.pr.conflicts(this.prNexus(c), kind)) return { status: ScsiStatus.RESERVATION_CONFLICT };
      }
      if (def.writes && this.isWriteProtected(lun)) {
        throw this.modeState.swp && !lun.binding.writeProtect ? new SenseError(SenseKey.DATA_PROTECT, Asc.SOFTWARE_WRITE_PROTECTED) : writeProtected();
      }
      if (!def.writes && !def.io) return await def.handler(c);
      // queue_depth (read live): at most that many commands of this LU in flight to the backstore;
      // the rest wait their turn in arrival order. Under the limit this is one comparison and a counter.
      if (this.inflight < this.attr("queue_depth") && this.ioWaiters.length === 0) this.inflight++;
      else {
        await new Promise<void>((resolve) => this.ioWaiters.push(resolve));
        // The slot was counted for us by release(). Aborted while waiting: give it back, do nothing.
        if (task.signal?.aborted) {
          this.releaseIo();
          return { status: ScsiStatus.TASK_ABORTED };
        }
      }
      try {
        return await def.handler(c);
      } finally {
        this.releaseIo();
      }
    } catch (err) {
      if (err instanceof SenseError) {
        const r: ScsiResult = { status: ScsiStatus.CHECK_CONDITION, sense: this.sense(err.key, err.code, err.extra) };
        if (err.extra.cdbTransferLength !== undefined) r.cdbTransferLength = err.extra.cdbTransferLength;
        return r;
      }
      console.error(`[scsi] ${this.info.name}: opcode 0x${task.cdb[0]?.toString(16)} failed:`, err);
      return { status: ScsiStatus.CHECK_CONDITION, sense: this.sense(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE) };
    }
  }

  /** Commands holding a queue_depth slot, and those waiting for one (FIFO). */
  private inflight = 0;
  private readonly ioWaiters: (() => void)[] = [];

  /** Commands in flight to the backstore and waiting for a queue_depth slot (tests, monitoring). */
  get ioQueue(): { inflight: number; waiting: number } {
    return { inflight: this.inflight, waiting: this.ioWaiters.length };
  }

  private releaseIo(): void {
    this.inflight--;
    // A lowered queue_depth takes effect as slots free up; a raised one as soon as one does.
    const depth = this.attr("queue_depth");
    while (this.ioWaiters.length > 0 && this.inflight < depth) {
      this.inflight++;
      this.ioWaiters.shift()!();
    }
  }

  /** A grown backstore: every nexus learns it through 2Ah/09h CAPACITY DATA HAS CHANGED (SBC-3 §4.10). */
  private checkCapacityChange(): void {
    const size = this.info.backstore.sizeBytes;
    if (size === this.lastCapacity) return;
    this.lastCapacity = size;
    this.unitAttentions.addAll(this.nexuses, Asc.CAPACITY_DATA_CHANGED);
  }

  // ---- helpers shared by handlers ------------------------------------------

  /** SBC-3 §4.5: LBA + length must stay within capacity, with no wrap. */
  checkRange(lba: number, blocks: number): void {
    if (lba + blocks > this.blocks || lba > Number.MAX_SAFE_INTEGER) throw lbaOutOfRange();
  }

  /** RDPROTECT/WRPROTECT/VRPROTECT must be 0 without protection information (SBC-3 §5.2, LIO sbc_check_prot). */
  checkProtect(p: LbaCdb): void {
    if (p.protect !== 0 && !this.attr("pi_prot_type")) throw invalidFieldInCdb(1, 5);
  }

  /**
   * The Data-Out blocks of a write, handling an EDTL that disagrees with the CDB as
   * Linux LIO does (target_cmd_size_check): the command is executed for the data that
   * arrived in whole blocks and the difference is reported as a residual; a partial
   * block that leaves the CDB short is refused (INVALID FIELD IN COMMAND IU).
   */
  writeData(c: CommandContext, blocks: number): { data: Buffer; blocks: number; cdbTransferLength?: number } {
    const bs = this.blockSize;
    const cdbBytes = blocks * bs;
    const data = c.task.dataOut ?? Buffer.alloc(0);
    const edtl = c.task.expectedDataTransferLength;
    if (edtl === cdbBytes && data.length >= cdbBytes) return { data: data.subarray(0, cdbBytes), blocks };
    const usable = Math.min(edtl, cdbBytes, data.length);
    if (usable % bs !== 0) {
      throw new SenseError(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_COMMAND_IU, { cdbTransferLength: cdbBytes });
    }
    return { data: data.subarray(0, usable), blocks: usable / bs, cdbTransferLength: cdbBytes === edtl ? undefined : cdbBytes };
  }

  /** Writes in progress, by LBA range (COMPARE AND WRITE atomicity, SBC-3 §5.2). */
  private readonly busyRanges = new Set<{ lba: number; end: number; done: Promise<void> }>();

  /**
   * Runs `fn` once no other write-type command holds an overlapping LBA range, holding
   * the range meanwhile: a COMPARE AND WRITE's read-compare-write is atomic against
   * every other write to those blocks. Non-overlapping commands run concurrently.
   */
  async withRange<T>(lba: number, blocks: number, fn: () => Promise<T>): Promise<T> {
    const end = lba + blocks;
    for (;;) {
      let blocker: Promise<void> | undefined;
      for (const r of this.busyRanges) if (r.lba < end && lba < r.end) blocker = r.done;
      if (!blocker) break;
      await blocker;
    }
    let release!: () => void;
    const entry = { lba, end, done: new Promise<void>((res) => (release = res)) };
    this.busyRanges.add(entry);
    try {
      return await fn();
    } finally {
      this.busyRanges.delete(entry);
      release();
    }
  }

  /** Parameter list of a command (MODE SELECT, UNMAP, PR OUT ...): the Data-Out bytes, at most `length`. */
  parameterList(c: CommandContext, length: number): Buffer {
    const data = c.task.dataOut ?? Buffer.alloc(0);
    if (data.length < length) throw parameterListLengthError();
    return data.subarray(0, length);
  }
}

// ---- the command table ------------------------------------------------------

/** Opcode → definition. Opcodes with service actions resolve through `serviceActions`. */
export const COMMANDS = new Map<number, CommandDef>();
/** (opcode << 16 | service action) → definition, for SERVICE ACTION IN(16), MAINTENANCE IN, PR IN/OUT. */
export const SERVICE_ACTIONS = new Map<number, CommandDef>();
/** Opcodes whose service action selects the command. */
export const SA_OPCODES = new Set<number>([Opcode.SERVICE_ACTION_IN_16, Opcode.MAINTENANCE_IN]);
/** Commands the device may leave out by attribute (emulate_pr, emulate_caw, emulate_3pc, emulate_rsoc, emulate_tpu). */
const GATES = new Map<number, (d: ScsiDisk) => boolean>();

export function defineCommand(opcode: number, def: CommandDef, gate?: (d: ScsiDisk) => boolean): void {
  COMMANDS.set(opcode, def);
  if (gate) GATES.set(opcode, gate);
}
export function defineServiceAction(opcode: number, sa: number, def: CommandDef, gate?: (d: ScsiDisk) => boolean): void {
  SA_OPCODES.add(opcode);
  SERVICE_ACTIONS.set((opcode << 16) | sa, def);
  if (gate) GATES.set((opcode << 16) | sa, gate);
}

export function commandFor(cdb: Buffer, disk?: ScsiDisk): CommandDef | undefined {
  const op = cdb[0];
  let key = op;
  let def = COMMANDS.get(op);
  if (SA_OPCODES.has(op)) {
    const k = (op << 16) | (cdb[1] & 0x1f);
    const sa = SERVICE_ACTIONS.get(k);
    if (sa) {
      key = k;
      def = sa;
    }
  }
  const gate = GATES.get(key);
  if (disk && gate && !gate(disk)) return undefined;
  return def;
}

// ---- SPC commands -----------------------------------------------------------

function inquiry(c: CommandContext): ScsiResult {
  const p = parseInquiry(c.cdb);
  const d = c.disk;
  if (p.cmddt) throw invalidFieldInCdb(1, 1); // CmdDt is obsolete (SPC-4 §6.6.1)
  if (!p.evpd) {
    if (p.pageCode !== 0) throw invalidFieldInCdb(2);
    return dataIn(standardInquiry(d.info), p.allocationLength);
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
      page = vpdDeviceIdentification(d.info, { relativeTargetPortId: c.lun.relativeTargetPortId, identity: c.nexus.identity });
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

async function read(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parseLbaCdb(c.cdb);
  d.checkProtect(p);
  d.checkRange(p.lba, p.blocks);
  if (p.blocks > d.maxTransferBlocks) throw invalidFieldInCdb(transferLengthByte(c.cdb));
  const bs = d.blockSize;
  const cdbBytes = p.blocks * bs;
  // Read only what the initiator will take (the transport truncates to EDTL anyway).
  const want = Math.min(cdbBytes, Math.ceil(c.task.expectedDataTransferLength / bs) * bs);
  const data = want > 0 ? await d.info.backstore.read(p.lba * bs, want) : Buffer.alloc(0);
  const r: ScsiResult = { status: ScsiStatus.GOOD, dataIn: data };
  if (want !== cdbBytes) r.cdbTransferLength = cdbBytes;
  return r;
}

async function write(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parseLbaCdb(c.cdb);
  d.checkProtect(p);
  d.checkRange(p.lba, p.blocks);
  if (p.blocks > d.maxTransferBlocks) throw invalidFieldInCdb(transferLengthByte(c.cdb));
  const w = d.writeData(c, p.blocks);
  if (w.blocks > 0) {
    // emulate_fua_write only decides whether MODE SENSE advertises DPOFUA; a FUA write that
    // arrives anyway must still be stable before GOOD (SBC-3 §5.37), never silently cached.
    const fua = p.fua;
    await d.withRange(p.lba, w.blocks, () => d.info.backstore.write(p.lba * d.blockSize, w.data, fua));
  }
  const r: ScsiResult = { status: ScsiStatus.GOOD };
  if (w.cdbTransferLength !== undefined) r.cdbTransferLength = w.cdbTransferLength;
  return r;
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

defineCommand(Opcode.TEST_UNIT_READY, { name: "TEST UNIT READY", handler: testUnitReady, conflict: "spc2" });
defineCommand(Opcode.INQUIRY, { name: "INQUIRY", handler: inquiry, uaExempt: true, conflict: "none" });
defineCommand(Opcode.REQUEST_SENSE, { name: "REQUEST SENSE", handler: requestSense, uaExempt: true, conflict: "none" });
defineCommand(Opcode.REPORT_LUNS, { name: "REPORT LUNS", handler: reportLuns, uaExempt: true, conflict: "none" });
defineCommand(Opcode.MODE_SENSE_6, { name: "MODE SENSE(6)", handler: modeSense });
defineCommand(Opcode.MODE_SENSE_10, { name: "MODE SENSE(10)", handler: modeSense });
defineCommand(Opcode.MODE_SELECT_6, { name: "MODE SELECT(6)", handler: modeSelect, conflict: "write" });
defineCommand(Opcode.MODE_SELECT_10, { name: "MODE SELECT(10)", handler: modeSelect, conflict: "write" });
defineCommand(Opcode.READ_CAPACITY_10, { name: "READ CAPACITY(10)", handler: readCapacity10, conflict: "spc2" });
defineServiceAction(Opcode.SERVICE_ACTION_IN_16, ServiceActionIn16.READ_CAPACITY_16, { name: "READ CAPACITY(16)", handler: readCapacity16, conflict: "spc2" });
defineCommand(Opcode.SERVICE_ACTION_IN_16, { name: "SERVICE ACTION IN(16)", handler: serviceActionIn16Unsupported });
for (const op of [Opcode.READ_6, Opcode.READ_10, Opcode.READ_12, Opcode.READ_16]) defineCommand(op, { name: "READ", handler: read, io: true });
for (const op of [Opcode.WRITE_6, Opcode.WRITE_10, Opcode.WRITE_12, Opcode.WRITE_16]) defineCommand(op, { name: "WRITE", handler: write, writes: true });
for (const op of [Opcode.VERIFY_10, Opcode.VERIFY_12, Opcode.VERIFY_16]) defineCommand(op, { name: "VERIFY", handler: verify, io: true });
for (const op of [Opcode.SYNCHRONIZE_CACHE_10, Opcode.SYNCHRONIZE_CACHE_16]) defineCommand(op, { name: "SYNCHRONIZE CACHE", handler: synchronizeCache, conflict: "write", io: true });
defineCommand(Opcode.START_STOP_UNIT, { name: "START STOP UNIT", handler: startStopUnit });
for (const op of [Opcode.REZERO_UNIT, Opcode.SEEK_6, Opcode.SEEK_10]) defineCommand(op, { name: "SEEK", handler: noop });

registerPrCommands(defineCommand);
registerSbcCommands(defineCommand, defineServiceAction);
registerCopyCommands(defineCommand, defineServiceAction);

export { allocationLength, MaintenanceIn };

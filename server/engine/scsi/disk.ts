/**
 * ScsiDisk: SPC-4/SBC-3 emulation of one logical unit (LIO's spc_parse_cdb +
 * sbc_parse_cdb for a disk). One handler per opcode in the command table (commands.ts); execute() does
 * what every command shares (unit attentions, reservations, write protect) and
 * turns a thrown SenseError into CHECK CONDITION. Shared by every nexus that sees
 * the LU; per-nexus state (unit attentions) is keyed by NexusIdentity.key.
 */
import type { LbaCdb } from "./cdb";
import type { CommandContext, CommandDef } from "./command";
import { commandTable } from "./commands";
import type { ModeContext, ModeState } from "./mode";
import { PersistentReservations, type PrNexus, type PrSavedState, type PrUnitAttention } from "./pr";
import { registerDevice, unregisterDevice } from "./registry";
import { Asc, SenseError, SenseKey, buildSense, invalidFieldInCdb, invalidOpcode, lbaOutOfRange, parameterListLengthError, writeProtected } from "./sense";
import { ScsiStatus, type DeviceInfo, type NexusIdentity, type ResolvedLun, type ScsiDevice, type ScsiNexusView, type ScsiResult, type ScsiTask } from "./types";
import { UnitAttentions } from "./ua";
import { AluaState, aluaRefusal } from "./alua";

export class ScsiDisk implements ScsiDevice {
  readonly unitAttentions = new UnitAttentions();
  /** Every I_T nexus known to this LU (logged in and not lost), by key, for "all other nexuses" UAs. */
  readonly nexuses = new Map<string, NexusIdentity>();
  readonly modeState: ModeState = { dSense: false, swp: false };
  private lastCapacity: number;

  /**
   * Told when this LU raises (queues) a unit attention, with the I_T nexus keys (NexusIdentity.key)
   * it was queued for: power on/reset, capacity or LUN inventory changed, reservations preempted...
   * Delivery to the initiator is a separate, later event (the transport reports it).
   */
  set onUnitAttention(fn: ((nexuses: NexusIdentity[], asc: number, ascq: number) => void) | undefined) {
    this.unitAttentions.onRaise = fn
      ? (keys, code) => fn(keys.map((k) => this.nexuses.get(k)).filter((n): n is NexusIdentity => n !== undefined), code[0], code[1])
      : undefined;
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
    this.nexuses.set(nexus.key, nexus);
    this.unitAttentions.clear(nexus.key);
    this.unitAttentions.add(nexus.key, Asc.POWER_ON_RESET);
  }

  knownNexuses(): Iterable<NexusIdentity> {
    return this.nexuses.values();
  }

  reportedLunsChanged(match: (nexusKey: string) => boolean): void {
    for (const k of this.nexuses.keys()) if (match(k)) this.unitAttentions.add(k, Asc.REPORTED_LUNS_DATA_CHANGED);
  }

  /** SPC-4 §5.16.2.6: ASYMMETRIC ACCESS STATE CHANGED for every I_T nexus but the one that asked for the change. */
  aluaStateChanged(except?: string): void {
    this.unitAttentions.addAll(this.nexuses.keys(), Asc.ASYMMETRIC_ACCESS_STATE_CHANGED, except);
  }

  nexusLost(nexus: NexusIdentity): void {
    this.nexuses.delete(nexus.key);
    this.unitAttentions.clear(nexus.key);
    this.onNexusLost(nexus);
  }

  taskManagement(fn: "lun_reset" | "target_warm_reset" | "target_cold_reset" | "clear_task_set" | "abort_task_set", by: NexusIdentity): void | Promise<void> {
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
        this.unitAttentions.addAll(this.nexuses.keys(), Asc.BUS_DEVICE_RESET_FUNCTION, fn === "lun_reset" ? undefined : by.key);
        // In a cluster the LU's other nexuses are on other gateways: they hear of it before the TMF completes.
        return this.pr.store?.announceReset?.();
      case "clear_task_set":
        // SAM-5 §7.5 with TST=000b: other initiators lose their tasks: 2Fh/00h.
        this.unitAttentions.addAll(this.nexuses.keys(), Asc.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR, by.key);
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
        targetPort: id.targetPort,
        relativeTargetPortId: c.lun.relativeTargetPortId,
      };
      this.prNexuses.set(id.key, n);
    }
    return n;
  }

  /** Another gateway reset the LU (PrStore.announceReset): 29h/03h for every nexus of it here. */
  peerReset(): void {
    this.unitAttentions.addAll(this.nexuses.keys(), Asc.BUS_DEVICE_RESET_FUNCTION);
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

  execute(task: ScsiTask, nexus: ScsiNexusView, lun: ResolvedLun): Promise<ScsiResult> {
    const r = this.executeNow(task, nexus, lun);
    return r instanceof Promise ? r : Promise.resolve(r);
  }

  /**
   * execute(), but a command that completes without waiting (memory-backed IO, most non-IO
   * commands) returns its result directly rather than a promise: the transport can answer
   * in the same turn, with no promise chain per command. Never throws, never rejects.
   */
  executeNow(task: ScsiTask, nexus: ScsiNexusView, lun: ResolvedLun): ScsiResult | Promise<ScsiResult> {
    const key = nexus.identity.key;
    try {
      if (!this.nexuses.has(key)) this.nexuses.set(key, nexus.identity);
      this.checkCapacityChange();
      const def = commandTable.commandFor(task.cdb, this);
      if (!def?.uaExempt) {
        // SPC-4 §5.14: a pending unit attention terminates any other command, and is then cleared.
        const ua = this.unitAttentions.take(key);
        if (ua) return { status: ScsiStatus.CHECK_CONDITION, sense: this.sense(SenseKey.UNIT_ATTENTION, ua) };
      }
      // ALUA (SPC-4 §5.16.2): after unit attentions, before reservations, as LIO's target_alua_state_check.
      const alua = lun.alua;
      if (alua && (alua.aluaOffline || alua.aluaGroup.attributes.alua_access_state !== AluaState.ACTIVE_OPTIMIZED)) {
        const state = alua.aluaOffline ? AluaState.OFFLINE : alua.aluaGroup.attributes.alua_access_state;
        const refusal = aluaRefusal(state, task.cdb);
        if (refusal) return { status: ScsiStatus.CHECK_CONDITION, sense: this.sense(SenseKey.NOT_READY, refusal) };
        // Active/Non-optimized: LIO delays each command by nonop_delay_msecs (core_alua_check_nonop_delay).
        const delay = state === AluaState.ACTIVE_NON_OPTIMIZED ? alua.aluaGroup.attributes.nonop_delay_msecs : 0;
        if (delay > 0) {
          return new Promise((resolve) => setTimeout(resolve, delay)).then(() => this.runCommand(def, task, nexus, lun));
        }
      }
      return this.runCommand(def, task, nexus, lun);
    } catch (err) {
      return this.errorResult(err, task);
    }
  }

  /** The rest of execute() after unit attentions and ALUA: reservations, write protect, queue_depth, the handler. */
  private runCommand(def: CommandDef | undefined, task: ScsiTask, nexus: ScsiNexusView, lun: ResolvedLun): ScsiResult | Promise<ScsiResult> {
    try {
      if (!def) throw invalidOpcode();
      const c: CommandContext = { disk: this, task, cdb: task.cdb, nexus, lun, commands: commandTable };
      if (this.attr("emulate_pr") === 1 || this.pr.spc2Holder !== undefined) {
        const kind = def.conflict ?? (def.writes ? "write" : "read");
        if (this.pr.conflicts(this.prNexus(c), kind)) return { status: ScsiStatus.RESERVATION_CONFLICT };
      }
      if (def.writes && this.isWriteProtected(lun)) {
        throw this.modeState.swp && !lun.binding.writeProtect ? new SenseError(SenseKey.DATA_PROTECT, Asc.SOFTWARE_WRITE_PROTECTED) : writeProtected();
      }
      if (!def.writes && !def.io) return this.settle(def.handler(c), task);
      // queue_depth (read live): at most that many commands of this LU in flight to the backstore;
      // the rest wait their turn in arrival order. Under the limit this is one comparison and a counter.
      if (this.inflight < this.attr("queue_depth") && this.ioWaiters.length === 0) {
        this.inflight++;
        return this.runHoldingSlot(def, c);
      }
      return new Promise<void>((resolve) => this.ioWaiters.push(resolve)).then(() => {
        // The slot was counted for us by release(). Aborted while waiting: give it back, do nothing.
        if (task.signal?.aborted) {
          this.releaseIo();
          return { status: ScsiStatus.TASK_ABORTED };
        }
        return this.runHoldingSlot(def, c);
      });
    } catch (err) {
      return this.errorResult(err, task);
    }
  }

  /** Runs a handler that holds a queue_depth slot, and gives the slot back when it is done (at once when it completed synchronously). */
  private runHoldingSlot(def: CommandDef, c: CommandContext): ScsiResult | Promise<ScsiResult> {
    let r: Promise<ScsiResult> | ScsiResult;
    try {
      r = def.handler(c);
    } catch (err) {
      this.releaseIo();
      return this.errorResult(err, c.task);
    }
    if (!(r instanceof Promise)) {
      this.releaseIo();
      return r;
    }
    return r.then(
      (result) => {
        this.releaseIo();
        return result;
      },
      (err) => {
        this.releaseIo();
        return this.errorResult(err, c.task);
      },
    );
  }

  /** A handler's result as is, or its promise with a rejection turned into CHECK CONDITION. */
  private settle(r: Promise<ScsiResult> | ScsiResult, task: ScsiTask): ScsiResult | Promise<ScsiResult> {
    return r instanceof Promise ? r.catch((err) => this.errorResult(err, task)) : r;
  }

  /** A thrown SenseError becomes CHECK CONDITION with its sense; anything else HARDWARE ERROR / INTERNAL TARGET FAILURE. */
  private errorResult(err: unknown, task: ScsiTask): ScsiResult {
    if (err instanceof SenseError) {
      const r: ScsiResult = { status: ScsiStatus.CHECK_CONDITION, sense: this.sense(err.key, err.code, err.extra) };
      if (err.extra.cdbTransferLength !== undefined) r.cdbTransferLength = err.extra.cdbTransferLength;
      return r;
    }
    console.error(`[scsi] ${this.info.name}: opcode 0x${task.cdb[0]?.toString(16)} failed:`, err);
    return { status: ScsiStatus.CHECK_CONDITION, sense: this.sense(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE) };
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
    this.unitAttentions.addAll(this.nexuses.keys(), Asc.CAPACITY_DATA_CHANGED);
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

  /** Does no write-type command hold an LBA range overlapping this one (withRange)? */
  rangeIsFree(lba: number, blocks: number): boolean {
    if (this.busyRanges.size === 0) return true;
    const end = lba + blocks;
    for (const r of this.busyRanges) if (r.lba < end && lba < r.end) return false;
    return true;
  }

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

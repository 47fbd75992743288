/**
 * An iSCSI session (I_T nexus) and its commands: CmdSN window, task table, the
 * LUN devices it notified. One connection per session (MaxConnections=1, ERL 0).
 */
import type { Tpg } from "../core/model";
import type { IoHandle, SessionCounters } from "../core/stats";
import type { NexusIdentity, ScsiDevice, ScsiNexusView, ScsiTask } from "../scsi/types";
import type { Connection } from "./connection";
import type { ConnectionPort } from "./handlers/port";
import type { Negotiation, SessionParams } from "./negotiation";
import { BufferPool } from "../core/buffer-pool";

/**
 * Gather buffers of large WRITEs (Data-Out in several PDUs), reused once the command has
 * finished: a fresh 1 MiB Buffer per command made V8 collect the whole heap every few dozen
 * writes (docs/performance.md). Only WRITE(10/12/16): their data is never kept past the
 * command (the backstore has written or copied it when the command completes), which a
 * parameter list (PR keys, XCOPY descriptors) need not be.
 */
const gatherBuffers = new BufferPool(64 * 1024 * 1024, 32);
const POOLED_GATHER_MIN = 64 * 1024;
const isWrite10to16 = (op: number) => op === 0x2a || op === 0xaa || op === 0x8a;

/**
 * A pooled gather buffer of `edtl` bytes, or undefined when the command's buffer is not pooled (not
 * a WRITE(10/12/16), or under POOLED_GATHER_MIN). Task.gatherBuffer takes its own here; for a
 * command that has no task yet (its immediate data placed as it arrives: handlers/scsi-command.ts
 * placeData) the buffer is given to its task by Task.adoptGather, or back by giveEarlyGather.
 */
export function takeEarlyGather(opcode: number, edtl: number): Buffer | undefined {
  return isPooledGather(opcode, edtl) ? gatherBuffers.take(edtl) : undefined;
}

/** Whether a command (its CDB's opcode, its EDTL) gathers its Data-Out into a pooled buffer. */
export function isPooledGather(opcode: number, edtl: number): boolean {
  return edtl >= POOLED_GATHER_MIN && isWrite10to16(opcode);
}

export function giveEarlyGather(b: Buffer): void {
  gatherBuffers.give(b);
}

/** RFC 1982 serial number arithmetic on 32 bits (RFC 7143 §4.2.2.1). */
export function snLt(a: number, b: number): boolean {
  return a !== b && ((a - b) | 0) < 0;
}
export function snLe(a: number, b: number): boolean {
  return a === b || snLt(a, b);
}
export function snAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/**
 * How a PDU the target sends carries StatSN: a response takes the next one (RFC 7143 §4.2.2.2);
 * R2T and an unsolicited NOP-In carry the current one without advancing it (§11.8.3, §11.19.3);
 * a Data-In without status leaves the field reserved (§11.7.4).
 */
export const StatSNUse = { ADVANCE: 0, CURRENT: 1, RESERVED: 2 } as const;
export type StatSNUse = (typeof StatSNUse)[keyof typeof StatSNUse];

/** The three sequence-number fields of every target PDU (RFC 7143 §11.2.1: bytes 24, 28, 32). */
export interface SequenceFields {
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

/** A header before stampSequence has filled its sequence numbers. */
export type Unstamped<H> = Omit<H, keyof SequenceFields> & Partial<SequenceFields>;

/** What the CmdSN window looks like from outside: a session, or a login's (ExpCmdSN = MaxCmdSN = its CmdSN). */
export interface CmdSNWindow {
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

/**
 * The one place StatSN, ExpCmdSN and MaxCmdSN are written into an outgoing header
 * (Connection.send calls it for every PDU). Returns the connection's next StatSN.
 */
export function stampSequence(h: Partial<SequenceFields>, use: StatSNUse, statSN: number, window: CmdSNWindow): number {
  h.statSN = use === StatSNUse.RESERVED ? 0 : statSN;
  h.expCmdSN = window.expCmdSN;
  h.maxCmdSN = window.maxCmdSN;
  return use === StatSNUse.ADVANCE ? (statSN + 1) >>> 0 : statSN;
}

/** One SCSI command from its SCSI Command PDU to its response. */
export class Task implements ScsiTask {
  cdb: Buffer;
  lun: number;
  expectedDataTransferLength: number;
  read: boolean;
  write: boolean;
  dataOut?: Buffer;
  taskAttribute: number;
  taskTag: number;

  /** Read EDTL of a bidirectional command (AHS type 2), else EDTL. */
  readLength: number;
  cmdSN: number;
  immediate: boolean;
  /** Released by the CmdSN window (in order). */
  released = false;
  state: "data" | "running" | "done" = "data";
  /** Bytes of Data-Out received. */
  received = 0;
  /** Unsolicited data ends here (immediate + unsolicited Data-Out, ≤ FirstBurstLength). */
  unsolicitedEnd = 0;
  unsolicitedNext = 0;
  unsolicitedDataSN = 0;
  nextR2TOffset = 0;
  r2tSN = 0;
  /** When this task last asked for or received Data-Out (Date.now()), for dataout_timeout. */
  dataOutAt = 0;
  /** Outstanding R2Ts by TTT. */
  r2ts: Map<number, { offset: number; length: number; next: number; dataSN: number }> | undefined;
  /** IO statistics: the (connection, LUN) handle and the start time from IoHandle.start (-1: not counted). */
  io: IoHandle | undefined;
  t0 = -1;
  /** Aborted by task management: "self" = by this nexus (no response), "other" = TASK ABORTED status. */
  aborted: "self" | "other" | undefined;
  private controller: AbortController | undefined;
  /**
   * A view of dataOut the connection's stream is copying a Data-Out payload into, straight from
   * the socket's chunks (scsi-command.ts placeData), until handleDataOut takes the PDU. While it is
   * set, finish() does not give the buffer back: the stream may still be writing into it.
   */
  placing: Buffer | undefined;
  /** dataOut when it came from the gather pool (gatherBuffer, adoptGather), given back in finish(). */
  private pooled: Buffer | undefined;
  private doneResolve: (() => void) | undefined;
  private donePromise: Promise<void> | undefined;
  /** TaskTable links: the next task in this one's hash bucket, and the older/newer neighbours in arrival order. */
  bucketNext: Task | undefined = undefined;
  older: Task | undefined = undefined;
  newer: Task | undefined = undefined;

  constructor(
    readonly session: Session,
    readonly conn: ConnectionPort,
    /** The SCSI Command header's fields (the decoded header itself: no second object per command). */
    init: { cdb: Buffer; lun: number; edtl: number; read: boolean; write: boolean; attr: number; itt: number; cmdSN: number; immediate: boolean },
    readLength: number,
  ) {
    this.cdb = init.cdb;
    this.lun = init.lun;
    this.expectedDataTransferLength = init.edtl;
    this.readLength = readLength;
    this.read = init.read;
    this.write = init.write;
    this.taskAttribute = init.attr;
    this.taskTag = init.itt;
    this.cmdSN = init.cmdSN;
    this.immediate = init.immediate;
  }

  /**
   * The buffer Data-Out arriving in pieces is gathered into (EDTL bytes). A WRITE's comes from
   * a pool and goes back when the task finishes: by then the backstore is done with it (a task
   * finishes only after its dispatch settled, or without being dispatched).
   */
  gatherBuffer(): Buffer {
    const n = this.expectedDataTransferLength;
    const pooled = takeEarlyGather(this.cdb[0], n);
    if (!pooled) return Buffer.allocUnsafe(n);
    this.pooled = pooled;
    return pooled;
  }

  /** Takes a buffer from takeEarlyGather (immediate data placed before the task existed) as its gather buffer. */
  adoptGather(b: Buffer): void {
    this.pooled = b;
    this.dataOut = b;
  }

  /** Created on first use, so commands nobody aborts allocate no AbortController. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort();
    }
    return this.controller.signal;
  }

  /** PREEMPT AND ABORT: the connection aborts the other nexuses' tasks on `device` (ScsiTask.abortTasks). */
  abortTasks(nexusKeys: ReadonlySet<string>, device: ScsiDevice, tas: boolean): Promise<void> {
    return this.conn.abortNexusTasks(this, nexusKeys, device, tas);
  }

  abort(by: "self" | "other"): void {
    if (this.aborted || this.state === "done") return;
    this.aborted = by;
    this.controller?.abort();
  }

  /** Resolves when the task has finished (response sent or suppressed). */
  get done(): Promise<void> {
    if (this.state === "done") return Promise.resolve();
    if (!this.donePromise) this.donePromise = new Promise((r) => (this.doneResolve = r));
    return this.donePromise;
  }

  finish(): void {
    if (this.state === "done") return;
    this.state = "done";
    if (this.pooled) {
      if (!this.placing) gatherBuffers.give(this.pooled);
      this.pooled = undefined;
      this.dataOut = undefined;
    }
    this.doneResolve?.();
  }
}

/**
 * In-flight tasks by Initiator Task Tag: the subset of Map the transport uses (get, has, set,
 * delete, values, size), without a JS heap object per command. A Map whose one entry is added
 * and deleted for every command (queue depth 1) rebuilds its hash table on the delete (V8 shrinks
 * an OrderedHashMap that falls under a quarter full): ~150 B of young generation per command.
 * Here the buckets are a fixed array grown by doubling, chained through the tasks themselves;
 * values() lists tasks in arrival order, as Map did.
 */
export class TaskTable {
  private buckets: (Task | undefined)[] = new Array<Task | undefined>(64).fill(undefined);
  private shift = 32 - 6;
  private oldest: Task | undefined = undefined;
  private newest: Task | undefined = undefined;
  size = 0;

  private slot(itt: number): number {
    return Math.imul(itt, 0x9e3779b1) >>> this.shift;
  }

  get(itt: number): Task | undefined {
    for (let t = this.buckets[this.slot(itt)]; t !== undefined; t = t.bucketNext) if (t.taskTag === itt) return t;
    return undefined;
  }

  has(itt: number): boolean {
    return this.get(itt) !== undefined;
  }

  /** Adds `task` under `itt` (its taskTag), replacing a task already there. */
  set(itt: number, task: Task): this {
    if (task.taskTag !== itt) throw new Error(`task table: key ${itt} is not the task's ITT ${task.taskTag}`);
    this.delete(itt);
    if (this.size >= this.buckets.length * 2) this.grow();
    const i = this.slot(itt);
    task.bucketNext = this.buckets[i];
    this.buckets[i] = task;
    task.older = this.newest;
    task.newer = undefined;
    if (this.newest) this.newest.newer = task;
    else this.oldest = task;
    this.newest = task;
    this.size++;
    return this;
  }

  delete(itt: number): boolean {
    const i = this.slot(itt);
    let prev: Task | undefined;
    for (let t = this.buckets[i]; t !== undefined; prev = t, t = t.bucketNext) {
      if (t.taskTag !== itt) continue;
      if (prev) prev.bucketNext = t.bucketNext;
      else this.buckets[i] = t.bucketNext;
      if (t.older) t.older.newer = t.newer;
      else this.oldest = t.newer;
      if (t.newer) t.newer.older = t.older;
      else this.newest = t.older;
      t.bucketNext = t.older = t.newer = undefined;
      this.size--;
      return true;
    }
    return false;
  }

  /** The tasks in arrival order, as a snapshot (the table may change while the caller walks it). */
  values(): Task[] {
    const out: Task[] = [];
    for (let t = this.oldest; t !== undefined; t = t.newer) out.push(t);
    return out;
  }

  private grow(): void {
    const tasks = this.values();
    this.buckets = new Array<Task | undefined>(this.buckets.length * 2).fill(undefined);
    this.shift--;
    for (const t of tasks) {
      const i = this.slot(t.taskTag);
      t.bucketNext = this.buckets[i];
      this.buckets[i] = t;
    }
  }
}

export class Session {
  readonly id: string;
  readonly loginTime = Date.now();
  readonly connections = new Set<Connection>();
  /** In-flight SCSI tasks by ITT. */
  readonly tasks = new TaskTable();
  expCmdSN: number;
  maxCmdSN: number;
  /** Non-immediate commands received ahead of ExpCmdSN, waiting for the gap to fill. */
  private readonly held = new Map<number, () => void>();
  /** CmdSNs an ABORT TASK declared received (RFC 7143 §11.5.1 case b). */
  private readonly skipped = new Set<number>();
  /** Devices told nexusCreated, told nexusLost at the end. */
  readonly devices = new Set<ScsiDevice>();
  private nextTtt = 1;
  ended = false;
  /** IO statistics of this session (core/stats.ts), from login to close. */
  stats: SessionCounters | undefined;
  /** Set when something decides the session's end before its connection closes (e.g. the console's disconnect). */
  endReason: string | undefined;

  constructor(
    readonly tsih: number,
    readonly type: "Normal" | "Discovery",
    readonly initiatorName: string,
    readonly initiatorAlias: string | undefined,
    readonly isid: string,
    readonly tpg: Tpg | undefined,
    readonly identity: NexusIdentity | undefined,
    readonly view: ScsiNexusView | undefined,
    readonly negotiation: Negotiation,
    readonly params: SessionParams,
    readonly authenticated: boolean,
    firstCmdSN: number,
    /** Queue depth: the CmdSN window (node ACL cmdsn_depth, or TPG default_cmdsn_depth). */
    readonly depth: number,
  ) {
    this.id = `${type === "Discovery" ? "d" : "s"}${tsih}-${isid}`;
    this.expCmdSN = firstCmdSN >>> 0;
    this.maxCmdSN = snAdd(this.expCmdSN, depth - 1);
  }

  /** A Target Transfer Tag, never 0xFFFFFFFF. */
  ttt(): number {
    const t = this.nextTtt;
    this.nextTtt = this.nextTtt >= 0x7fffffff ? 1 : this.nextTtt + 1;
    return t;
  }

  /**
   * The CmdSN window (RFC 7143 §4.2.2.1, §3.2.2.1), asked once per command PDU by the
   * dispatcher (handlers/dispatch.ts): immediate commands are always admitted; others when
   * CmdSN = ExpCmdSN, or ahead of it inside the window and not already waiting. Anything else
   * is outside the window and silently dropped (libiscsi iSCSIcmdsn tests exactly this).
   */
  admits(cmdSN: number, immediate: boolean): boolean {
    if (immediate || cmdSN === this.expCmdSN) return true;
    return snLt(this.expCmdSN, cmdSN) && snLe(cmdSN, this.maxCmdSN) && !this.held.has(cmdSN);
  }

  /** An admitted non-immediate command whose CmdSN is ExpCmdSN runs now: the window moves past it. */
  advance(): void {
    this.expCmdSN = snAdd(this.expCmdSN, 1);
  }

  /** An admitted command ahead of ExpCmdSN waits for the gap to fill. */
  hold(cmdSN: number, run: () => void): void {
    this.held.set(cmdSN, run);
  }

  /** Runs the held commands that are now in order (after one ran, or a CmdSN was skipped). */
  drainHeld(): void {
    if (this.held.size === 0 && this.skipped.size === 0) return;
    for (;;) {
      if (this.skipped.delete(this.expCmdSN)) {
        this.expCmdSN = snAdd(this.expCmdSN, 1);
        this.credit();
        continue;
      }
      const next = this.held.get(this.expCmdSN);
      if (!next) return;
      this.held.delete(this.expCmdSN);
      this.expCmdSN = snAdd(this.expCmdSN, 1);
      next();
    }
  }

  /** ABORT TASK for a command not yet received: treat its CmdSN as received (RFC 7143 §11.5.1 b). */
  skip(cmdSN: number): void {
    this.skipped.add(cmdSN);
    this.drainHeld();
  }

  inWindow(cmdSN: number): boolean {
    return snLe(this.expCmdSN, cmdSN) && snLe(cmdSN, this.maxCmdSN);
  }

  /** A non-immediate command finished: open the window by one (kernel iscsit_increment_maxcmdsn). */
  credit(): void {
    this.maxCmdSN = snAdd(this.maxCmdSN, 1);
  }

  /** Tasks matching a predicate that are not done yet. */
  liveTasks(pred: (t: Task) => boolean = () => true): Task[] {
    const out: Task[] = [];
    for (const t of this.tasks.values()) if (t.state !== "done" && pred(t)) out.push(t);
    return out;
  }
}

/**
 * SCSI Command, R2T and Data-Out (RFC 7143 §11.3, §11.7, §11.8): a command is registered
 * in the session's task table, its whole Data-Out is collected (immediate, unsolicited,
 * solicited by R2T), then it is dispatched to the SCSI layer; scsi-response.ts answers.
 *
 * Hot path: a write's payload is copied once on its way to the backstore. The connection reads
 * into one reused buffer (receive-buffer.ts), so the stream copies every data segment out of it,
 * straight to its offset in the command's gather buffer where placeData names one (Data-Out, a
 * WRITE's immediate data), never assembled first. Where Node lacks that (fresh 'data' chunks),
 * immediate data and a Data-Out PDU carrying a command's whole data that lie in one chunk are
 * passed on as views, and only straddling pieces are placed. Closures only where a promise or the
 * CmdSN window needs one.
 */
import {
  AhsType, DataOutField, Opcode, R2T, RESERVED_TAG, RejectReason, ScsiCommand, dataSegmentLengthOf, opcodeOf, parseAhs, type Pdu,
} from "../pdu";
import { StatSNUse, Task, giveEarlyGather, isPooledGather, takeEarlyGather, type Session } from "../session";
import { ScsiStatus, type ScsiResult } from "../../scsi/types";
import type { OrderedHandler, UnorderedHandler } from "./dispatch";
import type { ConnectionPort } from "./port";
import { abandon, fixedSense, respond } from "./scsi-response";

/** Largest write we buffer for one command (a bigger EDTL is refused with CHECK CONDITION). */
const MAX_WRITE_LENGTH = 64 * 1024 * 1024;

/**
 * SCSI Command (RFC 7143 §11.3): on arrival its AHS and immediate data are checked, its task
 * registered and R2Ts sent for the rest of its data; it runs once the CmdSN window released it
 * and its data is in. The window opens again at its response (scsi-response.ts).
 */
export const scsiCommandHandler: OrderedHandler<Task> = {
  ordered: true,
  creditOnRelease: false,
  arrive: receiveCommand,
  release(c, _s, task) {
    task.released = true;
    maybeExecute(c, task);
  },
};

/** SCSI Data-Out carries no CmdSN: it goes straight to its task. */
export const dataOutHandler: UnorderedHandler = { ordered: false, arrive: handleDataOut };

/**
 * Immediate data placed by placeData before its command's task existed, per session (one
 * connection each): the view the stream filled and the pooled gather buffer it is the start of.
 */
const placedImmediate = new WeakMap<Session, { data: Buffer; buffer: Buffer }>();

/**
 * Where the data segment of a PDU that straddles socket chunks goes (stream.ts DataPlacer): its
 * final place in the command's gather buffer, so the stream copies it once, from the chunks, and
 * no PDU-sized buffer is assembled to be copied again. Only for data the handler will take as it
 * stands (the same checks as handleDataOut and receiveCommand); anything else is assembled by the
 * stream and then refused or copied by the handler as before.
 */
export function placeData(c: ConnectionPort, s: Session, bhs: Buffer, ahs: Buffer): Buffer | undefined {
  const op = opcodeOf(bhs);
  if (op === Opcode.SCSI_DATA_OUT) return placeDataOut(s, bhs);
  if (op === Opcode.SCSI_COMMAND && ahs.length === 0) return placeImmediate(c, s, bhs);
  return undefined;
}

function placeDataOut(s: Session, bhs: Buffer): Buffer | undefined {
  const task = s.tasks.get(DataOutField.itt(bhs));
  if (!task || task.state !== "data" || !task.r2ts || task.received >= task.expectedDataTransferLength) return undefined;
  const len = dataSegmentLengthOf(bhs);
  const off = DataOutField.bufferOffset(bhs);
  if (sequenceError(task, DataOutField.ttt(bhs), off, len, DataOutField.dataSN(bhs)) !== undefined) return undefined;
  task.dataOut ??= task.gatherBuffer();
  return (task.placing = task.dataOut.subarray(off, off + len));
}

/** A WRITE's immediate data: into a pooled gather buffer of EDTL bytes, which its task adopts (receiveCommand). */
function placeImmediate(c: ConnectionPort, s: Session, bhs: Buffer): Buffer | undefined {
  // Only a pooled gather buffer is worth placing into (a small write's data is the stream's own):
  // decided from the CDB's opcode (byte 32) and EDTL (byte 20) before the header is decoded.
  if (s.type === "Discovery" || !isPooledGather(bhs[32], bhs.readUInt32BE(20))) return undefined;
  const h = ScsiCommand.decode(bhs);
  const len = dataSegmentLengthOf(bhs);
  const p = c.params;
  if (!h.write || !p.immediateData || len > h.edtl || len > p.firstBurstLength || h.edtl > MAX_WRITE_LENGTH || s.tasks.has(h.itt)) {
    return undefined;
  }
  const buffer = takeEarlyGather(h.cdb[0], h.edtl);
  if (!buffer) return undefined;
  // One left by a command that never reached its handler (outside the CmdSN window): the stream is done with it.
  const left = placedImmediate.get(s);
  if (left) giveEarlyGather(left.buffer);
  const data = buffer.subarray(0, len);
  placedImmediate.set(s, { data, buffer });
  return data;
}

/** The pooled buffer `imm` was placed into (placeImmediate), if it was; a stale one goes back to the pool. */
function adoptPlacedImmediate(s: Session, imm: Buffer): Buffer | undefined {
  const placed = placedImmediate.get(s);
  if (!placed) return undefined;
  placedImmediate.delete(s);
  if (placed.data === imm) return placed.buffer;
  giveEarlyGather(placed.buffer);
  return undefined;
}

function receiveCommand(c: ConnectionPort, s: Session, pdu: Pdu): Task | undefined {
  if (s.type === "Discovery") return void c.reject(RejectReason.PROTOCOL_ERROR, pdu.bhs);
  const h = ScsiCommand.decode(pdu.bhs);
  let cdb = h.cdb;
  let readLength = h.edtl;
  if (pdu.ahs.length) {
    const ahs = parseAhs(pdu.ahs);
    if (!ahs) return void c.reject(RejectReason.INVALID_PDU_FIELD, pdu.bhs);
    for (const a of ahs) {
      if (a.type === AhsType.EXTENDED_CDB) cdb = Buffer.concat([h.cdb, a.value]);
      else if (a.type === AhsType.BIDI_READ_LENGTH && a.value.length >= 5) readLength = a.value.readUInt32BE(1);
    }
  }
  const imm = pdu.data;
  const p = c.params;
  // RFC 7143 §13.10/§13.14: immediate data needs W, ImmediateData=Yes, and stays within EDTL and FirstBurstLength.
  if (imm.length && (!h.write || !p.immediateData || imm.length > h.edtl || imm.length > p.firstBurstLength)) {
    return void c.reject(RejectReason.PROTOCOL_ERROR, pdu.bhs);
  }
  if (s.tasks.has(h.itt)) return void c.reject(RejectReason.TASK_IN_PROGRESS, pdu.bhs);
  h.cdb = cdb;
  h.immediate = pdu.immediate;
  const task = new Task(s, c, h, h.read && !h.write ? h.edtl : readLength);
  s.tasks.set(h.itt, task);
  if (!h.write || h.edtl === 0) {
    // Nothing to collect.
  } else if (h.edtl > MAX_WRITE_LENGTH) {
    task.expectedDataTransferLength = 0;
    task.write = false;
    task.state = "running";
    respond(c, task, { status: ScsiStatus.CHECK_CONDITION, sense: fixedSense(0x05, 0x24, 0x00) });
    return task;
  } else if (imm.length === h.edtl) {
    // All data was immediate: no copy (or the one the stream made into a pooled buffer).
    const placed = adoptPlacedImmediate(s, imm);
    if (placed) task.adoptGather(placed);
    else task.dataOut = imm;
    task.received = imm.length;
  } else {
    // Gathered at its offsets in one buffer of EDTL bytes (one copy of each piece); without
    // immediate data it is allocated on the first Data-Out, and a Data-Out PDU that carries all
    // of it is kept as a view like immediate data (handleDataOut).
    if (imm.length) {
      const placed = adoptPlacedImmediate(s, imm);
      if (placed) task.adoptGather(placed); // already at offset 0
      else imm.copy((task.dataOut = task.gatherBuffer()), 0);
    }
    task.received = imm.length;
    task.unsolicitedNext = imm.length;
    // Unsolicited Data-Out follows only with InitialR2T=No and F=0 (RFC 7143 §13.10, §11.3.4).
    task.unsolicitedEnd = !p.initialR2T && !h.final ? Math.min(p.firstBurstLength, h.edtl) : imm.length;
    task.nextR2TOffset = task.unsolicitedEnd;
    task.r2ts = new Map();
    issueR2Ts(c, task);
    task.dataOutAt = Date.now();
    c.watchDataOut();
  }
  return task;
}

/** Solicits data with R2Ts: each ≤ MaxBurstLength, at most MaxOutstandingR2T at once (RFC 7143 §11.8). */
function issueR2Ts(c: ConnectionPort, task: Task): void {
  const s = task.session;
  const p = c.params;
  while (task.r2ts!.size < p.maxOutstandingR2T && task.nextR2TOffset < task.expectedDataTransferLength) {
    const offset = task.nextR2TOffset;
    const length = Math.min(p.maxBurstLength, task.expectedDataTransferLength - offset);
    const ttt = s.ttt();
    task.r2ts!.set(ttt, { offset, length, next: offset, dataSN: 0 });
    task.nextR2TOffset += length;
    // R2T carries the current StatSN without advancing it (RFC 7143 §11.8.3).
    c.send(R2T, {
      final: true, lun: task.lun, itt: task.taskTag, ttt, r2tSN: task.r2tSN++, bufferOffset: offset, desiredLength: length,
    }, undefined, StatSNUse.CURRENT);
  }
}

/** SCSI Data-Out (RFC 7143 §11.7): unsolicited (TTT reserved) or answering one of our R2Ts. */
function handleDataOut(c: ConnectionPort, s: Session, pdu: Pdu): void {
  const bhs = pdu.bhs;
  const task = s.tasks.get(DataOutField.itt(bhs));
  // task.r2ts is set on every command that collects Data-Out (its buffer may not exist yet).
  if (!task || task.state !== "data" || !task.r2ts || task.received >= task.expectedDataTransferLength) {
    // Data for a task we dropped (outside the window) or aborted: discard it (RFC 7143 §11.5.1 allows it).
    return;
  }
  const len = pdu.data.length;
  const off = DataOutField.bufferOffset(bhs);
  const ttt = DataOutField.ttt(bhs);
  const why = sequenceError(task, ttt, off, len, DataOutField.dataSN(bhs));
  if (why !== undefined) return failDataOut(c, task, why);
  if (ttt === RESERVED_TAG) {
    task.unsolicitedNext += len;
    task.unsolicitedDataSN++;
  } else {
    const r2t = task.r2ts.get(ttt)!;
    r2t.next += len;
    r2t.dataSN++;
    if (r2t.next === r2t.offset + r2t.length) {
      task.r2ts.delete(ttt);
    }
  }
  if (pdu.data === task.placing) task.placing = undefined; // the stream copied it in place from the chunks
  else if (task.dataOut) pdu.data.copy(task.dataOut, off);
  else if (off === 0 && len === task.expectedDataTransferLength) task.dataOut = pdu.data; // all of it in one PDU: a view, no copy
  else {
    task.dataOut = task.gatherBuffer();
    pdu.data.copy(task.dataOut, off);
  }
  task.received += len;
  task.dataOutAt = Date.now();
  if (task.r2ts && task.r2ts.size < c.params.maxOutstandingR2T) issueR2Ts(c, task);
  maybeExecute(c, task);
}

/**
 * Why a Data-Out (TTT, BufferOffset, length, DataSN) does not fit its task's sequence, or
 * undefined when it does: unsolicited data continues the first burst; solicited data continues
 * its R2T's range, offsets ascending without gaps (DataPDUInOrder=Yes) and DataSN restarting at 0
 * per R2T (RFC 7143 §11.7.5).
 */
function sequenceError(task: Task, ttt: number, off: number, len: number, dataSN: number): string | undefined {
  if (ttt === RESERVED_TAG) {
    if (off !== task.unsolicitedNext || off + len > task.unsolicitedEnd || dataSN !== task.unsolicitedDataSN) {
      return `unsolicited Data-Out out of sequence (offset ${off}, DataSN ${dataSN})`;
    }
    return undefined;
  }
  const r2t = task.r2ts?.get(ttt);
  if (!r2t) return "Data-Out for an unknown Target Transfer Tag";
  if (off !== r2t.next || off + len > r2t.offset + r2t.length || dataSN !== r2t.dataSN) {
    return `Data-Out out of sequence (offset ${off}, DataSN ${dataSN})`;
  }
  return undefined;
}

/**
 * A Data-Out sequence error (wrong DataSN, offset or TTT). ERL 0 cannot recover the
 * data, but the connection can: the command ends with CHECK CONDITION (ABORTED COMMAND,
 * DATA PHASE ERROR) and its remaining Data-Out is discarded (RFC 7143 §7.12 lets the
 * target terminate a command early).
 */
function failDataOut(c: ConnectionPort, task: Task, why: string): void {
  c.host.log("warn", `iSCSI ${why}; failing the command`, { remote: c.describe, itt: task.taskTag });
  task.r2ts?.clear();
  task.state = "running";
  respond(c, task, { status: ScsiStatus.CHECK_CONDITION, sense: fixedSense(0x0b, 0x4b, 0x00) });
}

/** Dispatches a task once the CmdSN window released it and all its Data-Out is in (scsi/types.ts contract). */
function maybeExecute(c: ConnectionPort, task: Task): void {
  if (task.state !== "data" || !task.released || task.aborted) return;
  if (task.write && task.received < task.expectedDataTransferLength) return;
  task.state = "running";
  const view = task.session.view!;
  const io = c.handleFor(task.lun);
  task.io = io;
  task.t0 = io.start();
  let result: Promise<ScsiResult> | ScsiResult;
  try {
    result = c.host.dispatch(task, view);
  } catch (err) {
    result = Promise.reject(err);
  }
  // Completed without waiting (ramdisk, most non-IO commands): answer now, in this turn.
  if (!(result instanceof Promise)) return c.state === "closed" ? abandon(c, task) : respond(c, task, result);
  result.then(
    (r) => (c.state === "closed" ? abandon(c, task) : c.guard(() => respond(c, task, r))),
    (err) => (c.state === "closed" ? abandon(c, task) : c.guard(() => {
      c.host.log("error", "SCSI dispatch failed", { remote: c.describe, error: String(err) });
      respond(c, task, { status: ScsiStatus.CHECK_CONDITION, sense: fixedSense(0x04, 0x44, 0x00) });
    })),
  );
}

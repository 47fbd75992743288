/**
 * SCSI Command, R2T and Data-Out (RFC 7143 §11.3, §11.7, §11.8): a command is registered
 * in the session's task table, its whole Data-Out is collected (immediate, unsolicited,
 * solicited by R2T), then it is dispatched to the SCSI layer; scsi-response.ts answers.
 *
 * Hot path: immediate data, and a Data-Out PDU that carries a command's whole data, are
 * passed on as views; data in several pieces is copied once, each piece to its offset in one
 * buffer. Closures only where a promise or the CmdSN window needs one.
 */
import { AhsType, DataOut, R2T, RESERVED_TAG, RejectReason, ScsiCommand, parseAhs, type Pdu } from "../pdu";
import { StatSNUse, Task, type Session } from "../session";
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
  const task = new Task(s, c, {
    cdb, lun: h.lun, edtl: h.edtl, readLength: h.read && !h.write ? h.edtl : readLength, read: h.read, write: h.write,
    attr: h.attr, itt: h.itt, cmdSN: h.cmdSN, immediate: pdu.immediate,
  });
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
    task.dataOut = imm; // all data was immediate: no copy
    task.received = imm.length;
  } else {
    // Gathered at its offsets in one buffer of EDTL bytes (one copy of each piece); without
    // immediate data it is allocated on the first Data-Out, and a Data-Out PDU that carries all
    // of it is kept as a view like immediate data (handleDataOut).
    if (imm.length) {
      task.dataOut = task.gatherBuffer();
      imm.copy(task.dataOut, 0);
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
  const h = DataOut.decode(pdu.bhs);
  const task = s.tasks.get(h.itt);
  // task.r2ts is set on every command that collects Data-Out (its buffer may not exist yet).
  if (!task || task.state !== "data" || !task.r2ts || task.received >= task.expectedDataTransferLength) {
    // Data for a task we dropped (outside the window) or aborted: discard it (RFC 7143 §11.5.1 allows it).
    return;
  }
  const len = pdu.data.length;
  const off = h.bufferOffset;
  if (h.ttt === RESERVED_TAG) {
    if (off !== task.unsolicitedNext || off + len > task.unsolicitedEnd || h.dataSN !== task.unsolicitedDataSN) {
      return failDataOut(c, task, `unsolicited Data-Out out of sequence (offset ${off}, DataSN ${h.dataSN})`);
    }
    task.unsolicitedNext += len;
    task.unsolicitedDataSN++;
  } else {
    const r2t = task.r2ts?.get(h.ttt);
    if (!r2t) return failDataOut(c, task, "Data-Out for an unknown Target Transfer Tag");
    // DataPDUInOrder=Yes: offsets ascend without gaps; DataSN restarts at 0 per R2T (RFC 7143 §11.7.5).
    if (off !== r2t.next || off + len > r2t.offset + r2t.length || h.dataSN !== r2t.dataSN) {
      return failDataOut(c, task, `Data-Out out of sequence (offset ${off}, DataSN ${h.dataSN})`);
    }
    r2t.next += len;
    r2t.dataSN++;
    if (r2t.next === r2t.offset + r2t.length) {
      task.r2ts!.delete(h.ttt);
    }
  }
  if (task.dataOut) pdu.data.copy(task.dataOut, off);
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

/**
 * SCSI Response and Data-In (RFC 7143 §11.4, §11.7): a ScsiResult becomes Data-In PDUs
 * (views of the device's buffer behind one reused header) and/or a SCSI Response, with
 * residuals; the IO statistics hook closes here (exactly one done per start, stats.ts).
 */
import { DataIn, ScsiResponse } from "../pdu";
import { StatSNUse, type Task } from "../session";
import type { ConnectionPort } from "./port";
import { ioKindOfCdb, senseKeyOf } from "../../core/stats";
import { ScsiStatus, type ScsiResult } from "../../scsi/types";

/** A command that finished after its connection closed: no response, but its counters and waiters still end. */
export function abandon(c: ConnectionPort, task: Task): void {
  if (task.state === "done") return;
  task.session.tasks.delete(task.taskTag);
  countDone(task, 0, ScsiStatus.TASK_ABORTED, undefined);
  task.finish();
}

/** Exactly one IoHandle.done per start (stats.ts): a task not dispatched has t0 = -1 and is not counted. */
function countDone(task: Task, bytes: number, status: number, sense: Buffer | undefined): void {
  const io = task.io;
  if (!io) return;
  task.io = undefined;
  io.done(task.t0, ioKindOfCdb(task.cdb), bytes, status, status === ScsiStatus.CHECK_CONDITION ? senseKeyOf(sense) : 0);
}

/** Turns a ScsiResult into Data-In and/or a SCSI Response (RFC 7143 §11.4, §11.7). */
export function respond(c: ConnectionPort, task: Task, result: ScsiResult): void {
  const s = task.session;
  if (task.state === "done") return;
  s.tasks.delete(task.taskTag);
  if (!task.immediate) s.credit();
  if (task.aborted === "self" || c.state !== "ffp") {
    // Aborted by its own nexus: no response (RFC 7143 §11.5.1; SAM-5 §7.3).
    countDone(task, 0, ScsiStatus.TASK_ABORTED, undefined);
    task.finish();
    return;
  }
  if (task.aborted === "other") result = { status: ScsiStatus.TASK_ABORTED };

  const edtl = task.expectedDataTransferLength;
  const readLen = task.readLength;
  const dataIn = task.read ? result.dataIn : undefined;
  const sent = dataIn ? Math.min(dataIn.length, readLen) : 0;
  // Residuals (RFC 7143 §11.4.5): what the CDB wanted vs. what the initiator expected.
  let readOver = false, readUnder = false, readResidual = 0;
  if (task.read) {
    const wanted = result.cdbTransferLength !== undefined && !task.write ? result.cdbTransferLength : (dataIn?.length ?? 0);
    if (wanted > readLen) { readOver = true; readResidual = wanted - readLen; }
    else if (sent < readLen) { readUnder = true; readResidual = readLen - sent; }
  }
  let writeOver = false, writeUnder = false, writeResidual = 0;
  if (task.write) {
    const wanted = result.cdbTransferLength ?? edtl;
    if (wanted > edtl) { writeOver = true; writeResidual = wanted - edtl; }
    else if (wanted < edtl) { writeUnder = true; writeResidual = edtl - wanted; }
  }
  const bidi = task.read && task.write;
  const over = bidi ? writeOver : task.read ? readOver : writeOver;
  const under = bidi ? writeUnder : task.read ? readUnder : writeUnder;
  const residual = bidi ? writeResidual : task.read ? readResidual : writeResidual;
  const collapse = result.status === ScsiStatus.GOOD && !result.sense && !bidi;

  let dataSN = 0;
  // Whole buffers go as they are: a view per command is a JS heap object (young-generation GCs set the QD1 tail).
  if (sent > 0) dataSN = sendDataIn(c, task, sent === dataIn!.length ? dataIn! : dataIn!.subarray(0, sent), collapse, over, under, residual, result.releaseDataIn && releaser(result.releaseDataIn, dataIn!));
  else if (dataIn && result.releaseDataIn) result.releaseDataIn(dataIn);
  if (!(collapse && sent > 0)) {
    const sense = result.sense;
    let data: Buffer | undefined;
    if (sense && sense.length) {
      data = Buffer.allocUnsafe(2 + sense.length);
      data.writeUInt16BE(sense.length, 0);
      sense.copy(data, 2);
    }
    c.send(ScsiResponse, {
      final: true, bidiOverflow: bidi && readOver, bidiUnderflow: bidi && readUnder, overflow: over, underflow: under,
      response: 0, status: result.status, itt: task.taskTag, snackTag: 0, expDataSN: task.read ? dataSN : task.r2tSN,
      bidiResidualCount: bidi ? readResidual : 0, residualCount: residual,
    }, data, StatSNUse.ADVANCE);
  }
  if (task.io) countDone(task, task.read ? sent : task.write ? task.received : 0, result.status, result.sense);
  if (result.status === ScsiStatus.CHECK_CONDITION && senseKeyOf(result.sense) === 6) noticeUnitAttention(c, task, result.sense!);
  task.finish();
}

/** A unit attention reported to this nexus (SPC-4 §5.14): rare, so it goes to the event log. */
function noticeUnitAttention(c: ConnectionPort, task: Task, sense: Buffer): void {
  const fixed = (sense[0] & 0x7f) <= 0x71;
  const asc = fixed ? sense[12] : sense[2];
  const ascq = fixed ? sense[13] : sense[3];
  c.notice("unit_attention", { lun: task.lun, asc, ascq });
}

/** The last Data-In PDU's onWritten: the buffer goes back to its owner once the socket has written it. */
function releaser(release: (buf: Buffer) => void, buf: Buffer): (err?: Error | null) => void {
  return (err) => {
    // After a write error the socket may be torn down with the write still queued: let it be collected instead.
    if (!err) release(buf);
  };
}

/**
 * Data-In: PDUs of at most the initiator's MaxRecvDataSegmentLength, sequences (F bit)
 * of at most MaxBurstLength, DataSN from 0 across sequences; status in the last one
 * when `status` (with its O/U bits and residual, passed as values: no object per READ) (RFC 7143 §11.7.1);
 * `onLastWritten` goes with the last PDU. Returns
 * the number of PDUs sent.
 */
function sendDataIn(c: ConnectionPort, task: Task, data: Buffer, status: boolean, over: boolean, under: boolean, residual: number, onLastWritten?: (err?: Error | null) => void): number {
  const mx = c.params.maxXmitDataSegmentLength;
  const burst = c.params.maxBurstLength;
  const h = c.dataInHdr;
  const len = data.length;
  let dataSN = 0;
  let off = 0;
  while (off < len) {
    const seqEnd = Math.min(len, off + burst);
    while (off < seqEnd) {
      const n = Math.min(mx, seqEnd - off);
      const last = off + n === len;
      const withStatus = last && status;
      h.final = off + n === seqEnd;
      h.hasStatus = withStatus;
      h.status = withStatus ? ScsiStatus.GOOD : 0;
      h.overflow = withStatus && over;
      h.underflow = withStatus && under;
      h.residualCount = withStatus ? residual : 0;
      h.lun = task.lun < 0 ? 0 : task.lun;
      h.itt = task.taskTag;
      h.dataSN = dataSN++;
      h.bufferOffset = off;
      c.send(DataIn, h, n === len ? data : data.subarray(off, off + n), withStatus ? StatSNUse.ADVANCE : StatSNUse.RESERVED, last ? onLastWritten : undefined);
      off += n;
    }
  }
  return dataSN;
}

/** Fixed-format sense data (SPC-4 §4.5.3). */
export function fixedSense(key: number, asc: number, ascq: number): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = key;
  b[7] = 10;
  b[12] = asc;
  b[13] = ascq;
  return b;
}

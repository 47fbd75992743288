/**
 * The transport's entry point for every SCSI command of a nexus: REPORT LUNS and
 * commands to LUNs the nexus cannot address are answered here (SPC-4 §6.33,
 * §6.6.2, §6.29); anything else goes to the logical unit's ScsiDevice.
 * Never throws.
 */
import { Opcode, parseInquiry, parseRequestSense } from "./cdb";
import { unmappedInquiry } from "./inquiry";
import { reportLunsData } from "./luns";
import { Asc, SenseError, SenseKey, buildSense } from "./sense";
import { ScsiStatus, type ScsiNexusView, type ScsiResult, type ScsiTask } from "./types";

function checkCondition(key: number, code: readonly [number, number]): ScsiResult {
  return { status: ScsiStatus.CHECK_CONDITION, sense: buildSense({ key, asc: code[0], ascq: code[1] }) };
}

export async function dispatchScsi(task: ScsiTask, view: ScsiNexusView): Promise<ScsiResult> {
  try {
    return await dispatchScsiNow(task, view);
  } catch (err) {
    return failure(task, err);
  }
}

/**
 * dispatchScsi() for the transport: a command that completed without waiting (ScsiDevice.executeNow,
 * memory-backed IO) comes back as the result itself rather than a promise. Never throws or rejects.
 */
export function dispatchScsiNow(task: ScsiTask, view: ScsiNexusView): ScsiResult | Promise<ScsiResult> {
  try {
    const op = task.cdb[0];
    const resolved = view.resolve(task.lun);
    if (resolved) {
      const d = resolved.device;
      if (d.executeNow) return d.executeNow(task, view, resolved);
      return d.execute(task, view, resolved).catch((err: unknown) => failure(task, err));
    }
    if (op === Opcode.REPORT_LUNS) return { status: ScsiStatus.GOOD, dataIn: reportLunsData(task.cdb, view) };
    if (op === Opcode.INQUIRY) {
      const p = parseInquiry(task.cdb);
      if (p.evpd || p.pageCode !== 0) return checkCondition(SenseKey.ILLEGAL_REQUEST, Asc.LOGICAL_UNIT_NOT_SUPPORTED);
      const data = unmappedInquiry();
      return { status: ScsiStatus.GOOD, dataIn: data.subarray(0, Math.min(data.length, p.allocationLength)) };
    }
    if (op === Opcode.REQUEST_SENSE) {
      // SPC-4 §6.29: GOOD status, with sense data reporting LOGICAL UNIT NOT SUPPORTED.
      const p = parseRequestSense(task.cdb);
      const sense = buildSense({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x25, ascq: 0x00 }, p.desc);
      return { status: ScsiStatus.GOOD, dataIn: sense.subarray(0, Math.min(sense.length, p.allocationLength)) };
    }
    return checkCondition(SenseKey.ILLEGAL_REQUEST, Asc.LOGICAL_UNIT_NOT_SUPPORTED);
  } catch (err) {
    return failure(task, err);
  }
}

function failure(task: ScsiTask, err: unknown): ScsiResult {
  if (err instanceof SenseError) return { status: ScsiStatus.CHECK_CONDITION, sense: buildSense(err.info) };
  console.error(`[scsi] LUN ${task.lun} opcode 0x${task.cdb[0]?.toString(16)}: unexpected error`, err);
  return checkCondition(SenseKey.HARDWARE_ERROR, Asc.INTERNAL_TARGET_FAILURE);
}

/**
 * Task Management Function Request / Response (RFC 7143 §11.5, §11.6): SAM-5 §7 functions
 * as RFC 7143 §11.5.1 maps them, answered once the affected tasks are quiet. Also the task
 * aborts PREEMPT AND ABORT asks for (ScsiTask.abortTasks), which follow the same rules.
 */
import { RejectReason, TaskMgmtRequest, TaskMgmtResponse, type TaskMgmtRequestHeader } from "../pdu";
import type { ScsiDevice } from "../../scsi/types";
import { ScsiStatus } from "../../scsi/types";
import { StatSNUse, snLt, type Session, type Task } from "../session";
import type { OrderedHandler } from "./dispatch";
import type { ConnectionPort } from "./port";
import { respond } from "./scsi-response";

const TMF = { ABORT_TASK: 1, ABORT_TASK_SET: 2, CLEAR_ACA: 3, CLEAR_TASK_SET: 4, LUN_RESET: 5, TARGET_WARM_RESET: 6, TARGET_COLD_RESET: 7, TASK_REASSIGN: 8 } as const;
const TmfResponse = { COMPLETE: 0, NO_TASK: 1, NO_LUN: 2, REASSIGN_UNSUPPORTED: 4, NOT_SUPPORTED: 5 } as const;

/** How long a TMF waits for aborted tasks (a device that ignores the abort signal cannot hang it). */
const QUIESCE_MS = 5000;

export const taskMgmtHandler: OrderedHandler<TaskMgmtRequestHeader> = {
  ordered: true,
  creditOnRelease: true,
  arrive(c, s, pdu) {
    if (s.type === "Discovery") {
      c.reject(RejectReason.PROTOCOL_ERROR, pdu.bhs);
      return undefined;
    }
    const h = TaskMgmtRequest.decode(pdu.bhs);
    const fnLun = h.function === TMF.ABORT_TASK || h.function >= TMF.TARGET_WARM_RESET ? undefined : c.lunStats(h.lun);
    c.host.stats.taskManagementRequest(h.function, s.stats, fnLun);
    if (h.function >= TMF.LUN_RESET && h.function <= TMF.TARGET_COLD_RESET) {
      c.notice("reset", { function: h.function, lun: h.function === TMF.LUN_RESET ? h.lun : undefined });
    }
    return h;
  },
  release(c, _s, h) {
    taskManagement(c, h.function, h.lun, h.refTaskTag, h.refCmdSN, h.cmdSN).then(
      (response) => c.guard(() => {
        c.send(TaskMgmtResponse, { final: true, response, itt: h.itt }, undefined, StatSNUse.ADVANCE);
      }),
      (err) => c.guard(() => {
        c.host.log("error", "task management failed", { remote: c.describe, error: String(err) });
        c.destroy("task management failed");
      }),
    );
  },
};

/** Runs one function; resolves with its TMF response code once the affected tasks are quiet. */
async function taskManagement(c: ConnectionPort, fn: number, lun: number, refTaskTag: number, refCmdSN: number, cmdSN: number): Promise<number> {
  const s = c.session!;
  switch (fn) {
    case TMF.ABORT_TASK:
      return abortTaskFn(s, refTaskTag, refCmdSN, cmdSN);
    case TMF.ABORT_TASK_SET:
    case TMF.CLEAR_TASK_SET:
      return taskSetFn(c, fn, lun);
    case TMF.LUN_RESET:
      return lunResetFn(c, lun);
    case TMF.TARGET_WARM_RESET:
    case TMF.TARGET_COLD_RESET:
      return targetResetFn(c, fn);
    case TMF.TASK_REASSIGN:
      return TmfResponse.REASSIGN_UNSUPPORTED;
    default:
      return TmfResponse.NOT_SUPPORTED;
  }
}

async function abortTaskFn(s: Session, refTaskTag: number, refCmdSN: number, cmdSN: number): Promise<number> {
  const task = s.tasks.get(refTaskTag);
  if (task && task.state !== "done") {
    await quiesce([abortTask(task, "self")]);
    return TmfResponse.COMPLETE;
  }
  // Not received yet but inside the window and older than this TMF: consider it received (case b).
  if (s.inWindow(refCmdSN) && snLt(refCmdSN, cmdSN)) {
    s.skip(refCmdSN);
    return TmfResponse.COMPLETE;
  }
  return TmfResponse.NO_TASK;
}

/** ABORT TASK SET: this nexus's tasks on the LU. CLEAR TASK SET: every nexus's (in this TPG). */
async function taskSetFn(c: ConnectionPort, fn: number, lun: number): Promise<number> {
  const s = c.session!;
  const r = s.view!.resolve(lun);
  if (!r) return TmfResponse.NO_LUN;
  const own = s.liveTasks((t) => t.lun === lun).map((t) => abortTask(t, "self"));
  const others: Promise<void>[] = [];
  if (fn === TMF.CLEAR_TASK_SET) {
    for (const other of c.host.allSessions()) {
      if (other === s || other.tpg !== s.tpg) continue;
      for (const t of other.liveTasks((t) => other.view?.resolve(t.lun)?.device === r.device)) others.push(abortTask(t, "other"));
    }
  }
  r.device.taskManagement?.(fn === TMF.CLEAR_TASK_SET ? "clear_task_set" : "abort_task_set", s.identity!);
  await quiesce([...own, ...others]);
  return TmfResponse.COMPLETE;
}

/** LUN RESET: every nexus's tasks on the LU. */
async function lunResetFn(c: ConnectionPort, lun: number): Promise<number> {
  const s = c.session!;
  const r = s.view!.resolve(lun);
  if (!r) return TmfResponse.NO_LUN;
  const waits: Promise<void>[] = [];
  for (const other of c.host.allSessions()) {
    for (const t of other.liveTasks((t) => other.view?.resolve(t.lun)?.device === r.device)) waits.push(abortTask(t, other === s ? "self" : "other"));
  }
  const announced = r.device.taskManagement?.("lun_reset", s.identity!);
  await quiesce(waits);
  await announced;
  return TmfResponse.COMPLETE;
}

/** TARGET WARM/COLD RESET: every task of every session of this target; cold also ends the sessions. */
async function targetResetFn(c: ConnectionPort, fn: number): Promise<number> {
  const s = c.session!;
  const waits: Promise<void>[] = [];
  const target = s.tpg!.target;
  const sessions = [...c.host.allSessions()].filter((o) => o.tpg?.target === target);
  for (const other of sessions) for (const t of other.liveTasks()) waits.push(abortTask(t, other === s ? "self" : "other"));
  const devices = new Set(
    [...target.tpgs.values()].flatMap((tpg) => [...tpg.luns.values()].map((l) => l.storageObject.device)),
  );
  const kind = fn === TMF.TARGET_WARM_RESET ? "target_warm_reset" : "target_cold_reset";
  const announced = [...devices].map((d) => d?.taskManagement?.(kind, s.identity!));
  await quiesce(waits);
  await Promise.all(announced);
  if (fn === TMF.TARGET_COLD_RESET) {
    // Cold reset ends every session of the target, this one after its response (RFC 7143 §11.5.1).
    setTimeout(() => {
      for (const other of sessions) void c.host.closeSession(other);
    }, 50).unref();
  }
  return TmfResponse.COMPLETE;
}

/**
 * PREEMPT AND ABORT (SPC-4 §5.12.11.2.6): the live tasks of the preempted I_T nexuses that address
 * `device` are aborted as CLEAR TASK SET aborts another nexus's tasks: TASK ABORTED status with
 * TAS=1, silently with TAS=0 (SAM-5 §7.2). The PERSISTENT RESERVE OUT itself is never aborted;
 * it completes once the aborted tasks are quiet (bounded, as every TMF here).
 */
export function abortNexusTasks(c: ConnectionPort, issuer: Task, nexusKeys: ReadonlySet<string>, device: ScsiDevice, tas: boolean): Promise<void> {
  if (nexusKeys.size === 0) return Promise.resolve();
  const waits: Promise<void>[] = [];
  for (const other of c.host.allSessions()) {
    const key = other.identity?.key;
    if (other.ended || key === undefined || !nexusKeys.has(key)) continue;
    for (const t of other.liveTasks((t) => t !== issuer && other.view?.resolve(t.lun)?.device === device)) {
      waits.push(abortTask(t, tas ? "other" : "self"));
    }
  }
  return quiesce(waits);
}

/** Aborts one task: "self" ends it without a response, "other" with TASK ABORTED (SAM-5 §7.2). */
function abortTask(task: Task, by: "self" | "other"): Promise<void> {
  if (task.state === "data") {
    // Not dispatched yet: it ends here (its Data-Out will be discarded).
    task.abort(by);
    if (by === "other") {
      task.state = "running";
      respond(task.conn, task, { status: ScsiStatus.TASK_ABORTED });
    } else {
      task.session.tasks.delete(task.taskTag);
      if (!task.immediate && task.released) task.session.credit();
      task.finish();
    }
    return Promise.resolve();
  }
  task.abort(by);
  return task.done;
}

/** Waits for tasks to finish, at most QUIESCE_MS. */
export function quiesce(waits: Promise<void>[]): Promise<void> {
  if (waits.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, QUIESCE_MS);
    t.unref();
    void Promise.all(waits).then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

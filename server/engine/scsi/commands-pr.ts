/**
 * PERSISTENT RESERVE IN/OUT (SPC-4 §6.13, §6.14) and SPC-2 RESERVE/RELEASE(6/10)
 * handlers over the pure state machine in pr.ts. All gated by emulate_pr.
 */
import { Opcode, parsePrIn, parsePrOut, parseReserve10 } from "./cdb";
import type { CommandContext, CommandEntry } from "./command";
import type { ScsiDisk } from "./disk";
import { PrInAction, PrOutAction, ReservationConflict, parsePrOutParams, type PersistentReservations, type PrOutParams, type PrStore, type PrUnitAttention } from "./pr";
import { Asc } from "./sense";
import { invalidFieldInCdb, parameterListLengthError } from "./sense";
import { ScsiStatus, type ScsiResult } from "./types";


function prIn(c: CommandContext): ScsiResult {
  const p = parsePrIn(c.cdb);
  const pr = c.disk.pr;
  let data: Buffer;
  switch (p.serviceAction) {
    case PrInAction.READ_KEYS:
      data = pr.readKeys();
      break;
    case PrInAction.READ_RESERVATION:
      data = pr.readReservation();
      break;
    case PrInAction.REPORT_CAPABILITIES:
      data = pr.reportCapabilities();
      break;
    case PrInAction.READ_FULL_STATUS:
      data = pr.readFullStatus();
      break;
    default:
      throw invalidFieldInCdb(1, 4);
  }
  return { status: ScsiStatus.GOOD, dataIn: data.length > p.allocationLength ? data.subarray(0, p.allocationLength) : data };
}

async function prOut(c: CommandContext): Promise<ScsiResult> {
  const d = c.disk;
  const p = parsePrOut(c.cdb);
  const data = c.task.dataOut ?? Buffer.alloc(0);
  if (data.length < Math.min(p.parameterListLength, 24)) throw parameterListLengthError();
  const params = parsePrOutParams(p.serviceAction, data.subarray(0, p.parameterListLength), p.parameterListLength);
  if (d.pr.store) return prOutShared(c, d.pr.store, p.serviceAction, p.scope, p.type, params);
  const wasAptpl = d.pr.aptpl;
  const generation = d.pr.generation;
  const reservation = d.pr.reservation;
  let uas: PrUnitAttention[];
  try {
    uas = d.pr.out(d.prNexus(c), p.serviceAction, p.scope, p.type, params);
    d.queuePrUnitAttentions(uas);
  } catch (err) {
    if (err instanceof ReservationConflict) return { status: ScsiStatus.RESERVATION_CONFLICT };
    throw err;
  }
  if (p.serviceAction === PrOutAction.PREEMPT_AND_ABORT) await abortPreempted(c, uas);
  const changed = generation !== d.pr.generation || reservation !== d.pr.reservation;
  const aptpl = d.pr.aptpl || d.attr("force_pr_aptpl") === 1;
  if (d.onAptplChange && changed && (aptpl || wasAptpl)) d.onAptplChange(aptpl ? d.pr.save() : undefined);
  return { status: ScsiStatus.GOOD };
}

/** SPC-4 §5.12.11.2.6: after the 2Ah/05h unit attentions, every task of the preempted I_T
 * nexuses on this LU is aborted (the issuer's own nexus and this command are not). */
async function abortPreempted(c: CommandContext, uas: PrUnitAttention[]): Promise<void> {
  const d = c.disk;
  if (!c.task.abortTasks) return;
  const preempted = new Set<string>();
  for (const ua of uas) {
    if (ua.code !== Asc.REGISTRATIONS_PREEMPTED) continue;
    for (const n of d.prNexuses.values()) if (d.pr.matches(ua.registration, n)) preempted.add(n.key);
  }
  preempted.delete(c.nexus.identity.key);
  await c.task.abortTasks(preempted, d, d.attr("emulate_tas") === 1);
}

/**
 * PR OUT with a shared store (a cluster): the change is made by the store against the newest
 * committed state and this command's GOOD waits for the commit (PrStore.update). The unit
 * attentions for this gateway's nexuses are queued here; the store raises them on the others.
 */
async function prOutShared(c: CommandContext, store: PrStore, sa: number, scope: number, type: number, params: PrOutParams): Promise<ScsiResult> {
  const d = c.disk;
  const nexus = d.prNexus(c);
  const before = d.pr.snapshot();
  let uas: PrUnitAttention[];
  try {
    uas = await store.update((pr) => pr.out(nexus, sa, scope, type, params));
  } catch (err) {
    if (err instanceof ReservationConflict) return { status: ScsiStatus.RESERVATION_CONFLICT };
    throw err;
  }
  d.queuePrUnitAttentions(uas);
  if (sa === PrOutAction.PREEMPT_AND_ABORT) await abortPreempted(c, uas);
  // This node's APTPL copy (server/config/aptpl.ts) follows too: a node restarted without etcd keeps it.
  const aptpl = d.pr.aptpl || d.attr("force_pr_aptpl") === 1;
  const changed = JSON.stringify(before) !== JSON.stringify(d.pr.snapshot());
  if (d.onAptplChange && changed && (aptpl || before.aptpl)) d.onAptplChange(aptpl ? d.pr.save() : undefined);
  return { status: ScsiStatus.GOOD };
}

/** SPC-2 RESERVE/RELEASE through a shared store: GOOD once committed. */
async function spc2Shared(store: PrStore, change: (pr: PersistentReservations) => void): Promise<ScsiResult> {
  try {
    await store.update((pr) => {
      change(pr);
      return [];
    });
  } catch (err) {
    if (err instanceof ReservationConflict) return { status: ScsiStatus.RESERVATION_CONFLICT };
    throw err;
  }
  return { status: ScsiStatus.GOOD };
}

/** RESERVE(6)/(10) (SPC-2 §7.21): the whole LU for this nexus; third-party and extents are not supported. */
function reserve(c: CommandContext): ScsiResult | Promise<ScsiResult> {
  if (c.cdb[0] === Opcode.RESERVE_10) {
    const p = parseReserve10(c.cdb);
    if (p.thirdParty || p.longId) throw invalidFieldInCdb(1, p.thirdParty ? 4 : 1);
  } else if (c.cdb[1] & 0x01) throw invalidFieldInCdb(1, 0); // extents
  const nexus = c.disk.prNexus(c);
  const store = c.disk.pr.store;
  if (store) return spc2Shared(store, (pr) => pr.reserveSpc2(nexus));
  try {
    c.disk.pr.reserveSpc2(nexus);
  } catch (err) {
    if (err instanceof ReservationConflict) return { status: ScsiStatus.RESERVATION_CONFLICT };
    throw err;
  }
  return { status: ScsiStatus.GOOD };
}

function release(c: CommandContext): ScsiResult | Promise<ScsiResult> {
  if (c.cdb[0] === Opcode.RELEASE_10) {
    const p = parseReserve10(c.cdb);
    if (p.thirdParty || p.longId) throw invalidFieldInCdb(1, p.thirdParty ? 4 : 1);
  }
  const nexus = c.disk.prNexus(c);
  const store = c.disk.pr.store;
  // A RELEASE from a non-holder changes nothing, but is still checked against the newest state.
  if (store) return spc2Shared(store, (pr) => pr.releaseSpc2(nexus));
  c.disk.pr.releaseSpc2(nexus);
  return { status: ScsiStatus.GOOD };
}

const emulatePr = (d: ScsiDisk) => d.attr("emulate_pr") === 1;

export const prCommands: CommandEntry[] = [
  { opcode: Opcode.PERSISTENT_RESERVE_IN, def: { name: "PERSISTENT RESERVE IN", handler: prIn, conflict: "spc2" }, gate: emulatePr },
  { opcode: Opcode.PERSISTENT_RESERVE_OUT, def: { name: "PERSISTENT RESERVE OUT", handler: prOut, conflict: "spc2" }, gate: emulatePr },
  { opcode: Opcode.RESERVE_6, def: { name: "RESERVE(6)", handler: reserve, conflict: "none" }, gate: emulatePr },
  { opcode: Opcode.RESERVE_10, def: { name: "RESERVE(10)", handler: reserve, conflict: "none" }, gate: emulatePr },
  { opcode: Opcode.RELEASE_6, def: { name: "RELEASE(6)", handler: release, conflict: "none" }, gate: emulatePr },
  { opcode: Opcode.RELEASE_10, def: { name: "RELEASE(10)", handler: release, conflict: "none" }, gate: emulatePr },
];

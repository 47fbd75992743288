/**
 * REPORT TARGET PORT GROUPS (SPC-4 §6.36) and SET TARGET PORT GROUPS (§6.45) over the
 * storage object's ALUA groups (core/alua.ts), as LIO's target_emulate_report_target_port_groups
 * and target_emulate_set_target_port_groups. The per-state command gate is ScsiDisk.execute's.
 */
import { MaintenanceIn, MaintenanceOut, Opcode, parseReportTpgs, parseSetTpgs } from "./cdb";
import { GOOD, dataIn, type CommandContext, type CommandEntry } from "./command";
import { AluaState, encodeRtpg, parseStpg, stateSupported, supportedStatesByte, type AluaGroupView, type AluaPort, type RtpgGroup } from "./alua";
import { invalidFieldInCdb, invalidFieldInParameterList, invalidOpcode, parameterListLengthError } from "./sense";
import type { ScsiResult } from "./types";

/** All supported states but LBA Dependent: the group of a device without ALUA data (LIO's default). */
const DEFAULT_SUPPORTED = 0x80 | 0x40 | 0x08 | 0x04 | 0x02 | 0x01;

/** The groups RTPG lists: those with members (LIO skips empty groups), ascending by id. */
function rtpgGroups(c: CommandContext): RtpgGroup[] {
  const groups = c.disk.info.aluaGroupList?.();
  if (!groups) {
    // A device without ALUA data: LIO's default_tg_pt_gp with this port in it.
    return [{ id: 0, state: AluaState.ACTIVE_OPTIMIZED, preferred: false, supported: DEFAULT_SUPPORTED, status: 0, ports: [c.lun.relativeTargetPortId] }];
  }
  return groups
    .map((g) => ({
      id: g.id,
      state: g.attributes.alua_access_state,
      preferred: g.attributes.preferred === 1,
      supported: supportedStatesByte(g.attributes),
      status: g.attributes.alua_access_status,
      ports: g.memberPorts(),
    }))
    .filter((g) => g.ports.length > 0);
}

function reportTargetPortGroups(c: CommandContext): ScsiResult {
  const p = parseReportTpgs(c.cdb);
  // IMPLICIT TRANSITION TIME: of the group of the port the command came through (as LIO).
  const implicit = c.lun.alua?.aluaGroup.attributes.implicit_trans_secs ?? 0;
  return dataIn(encodeRtpg(rtpgGroups(c), p.extendedHeader, implicit), p.allocationLength);
}

/**
 * SET TARGET PORT GROUPS: allowed only when the issuing port's group has explicit ALUA in its
 * alua_access_type (LIO answers INVALID COMMAND OPERATION CODE otherwise). Every descriptor is
 * checked before any is applied: a primary state (A/O, A/NO, Standby, Unavailable) names a target
 * port group, Offline a relative target port; an unsupported state or unknown id is INVALID FIELD
 * IN PARAMETER LIST. Each change is a transition (core/alua.ts); the issuing nexus gets no unit attention.
 */
async function setTargetPortGroups(c: CommandContext): Promise<ScsiResult> {
  const own = c.lun.alua?.aluaGroup;
  if (!own || !(own.attributes.alua_access_type & 0x2)) throw invalidOpcode();
  const { parameterListLength } = parseSetTpgs(c.cdb);
  if (parameterListLength === 0) return GOOD;
  if (parameterListLength < 4) throw parameterListLengthError();
  const data = c.disk.parameterList(c, parameterListLength);
  const groups = c.disk.info.aluaGroupList?.() ?? [];
  const changes: ({ group: AluaGroupView; state: number } | { port: AluaPort })[] = [];
  for (const d of parseStpg(data)) {
    // LIO core_alua_check_transition: against the issuing port's group's supported states.
    const primary = d.state === AluaState.ACTIVE_OPTIMIZED || d.state === AluaState.ACTIVE_NON_OPTIMIZED || d.state === AluaState.STANDBY || d.state === AluaState.UNAVAILABLE;
    if ((!primary && d.state !== AluaState.OFFLINE) || !stateSupported(own.attributes, d.state)) throw invalidFieldInParameterList(d.offset, 3);
    if (primary) {
      const group = groups.find((g) => g.id === d.id);
      if (!group || !stateSupported(group.attributes, d.state)) throw invalidFieldInParameterList(d.offset + 2);
      changes.push({ group, state: d.state });
    } else {
      const port = c.disk.info.aluaPort?.(d.id);
      if (!port) throw invalidFieldInParameterList(d.offset + 2);
      changes.push({ port });
    }
  }
  const by = c.nexus.identity.key;
  for (const ch of changes) {
    if ("group" in ch) await ch.group.transition(ch.state, { explicit: true, by });
    else if (!ch.port.aluaOffline) {
      // Secondary state Offline (LIO core_alua_set_tg_pt_secondary_state).
      ch.port.aluaOffline = true;
      c.disk.aluaStateChanged(by);
    }
  }
  return GOOD;
}

function maintenanceOutUnsupported(): ScsiResult {
  throw invalidFieldInCdb(1, 4);
}

export const aluaCommands: CommandEntry[] = [
  { opcode: Opcode.MAINTENANCE_IN, serviceAction: MaintenanceIn.REPORT_TARGET_PORT_GROUPS, def: { name: "REPORT TARGET PORT GROUPS", handler: reportTargetPortGroups, conflict: "spc2" } },
  { opcode: Opcode.MAINTENANCE_OUT, def: { name: "MAINTENANCE OUT", handler: maintenanceOutUnsupported, conflict: "spc2" } },
  {
    opcode: Opcode.MAINTENANCE_OUT,
    serviceAction: MaintenanceOut.SET_TARGET_PORT_GROUPS,
    def: { name: "SET TARGET PORT GROUPS", handler: setTargetPortGroups, conflict: "write", usage: [0xa4, 0x0a, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07] },
  },
];

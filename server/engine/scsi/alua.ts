/**
 * Asymmetric logical unit access (SPC-4 §5.16) as the SCSI side sees it: the access
 * states and their codes, which commands each state still allows (a data table,
 * consulted once per command by ScsiDisk.execute), and the pure encoders of REPORT
 * TARGET PORT GROUPS (§6.36) and the parameter list of SET TARGET PORT GROUPS (§6.45).
 * The groups themselves (LIO's tg_pt_gp, one list per storage object) live in core/alua.ts.
 */
import { MaintenanceIn, MaintenanceOut, Opcode, ServiceActionIn16 } from "./cdb";
import { Asc } from "./sense";
import type { AscPair } from "./ua";

/** ASYMMETRIC ACCESS STATE values (SPC-4 table 161; LIO ALUA_ACCESS_STATE_*). */
export const AluaState = {
  ACTIVE_OPTIMIZED: 0x0,
  ACTIVE_NON_OPTIMIZED: 0x1,
  STANDBY: 0x2,
  UNAVAILABLE: 0x3,
  LBA_DEPENDENT: 0x4,
  OFFLINE: 0xe,
  TRANSITIONING: 0xf,
} as const;
export type AluaStateValue = (typeof AluaState)[keyof typeof AluaState];

/** The names LIO's configfs and targetcli print (core_alua_dump_state). */
export const ALUA_STATE_NAMES: Record<number, string> = {
  0x0: "Active/Optimized",
  0x1: "Active/NonOptimized",
  0x2: "Standby",
  0x3: "Unavailable",
  0x4: "LBA Dependent",
  0xe: "Offline",
  0xf: "Transitioning",
};

/** alua_access_type (LIO TPGS_*_ALUA): the TPGS field of standard INQUIRY data. */
export const AluaAccessType = { NONE: 0, IMPLICIT: 1, EXPLICIT: 2, BOTH: 3 } as const;
export const ALUA_ACCESS_TYPE_NAMES = ["None", "Implicit", "Explicit", "Implicit and Explicit"] as const;

/** alua_access_status (RTPG STATUS CODE, SPC-4 table 252). */
export const AluaStatus = { NONE: 0, EXPLICIT_STPG: 1, IMPLICIT: 2 } as const;
export const ALUA_STATUS_NAMES = ["None", "Altered by Explicit STPG", "Altered by Implicit ALUA"] as const;

/** The alua_support_* attribute of each state, and its SUP bit in a target port group descriptor. */
export const ALUA_SUPPORT: readonly { state: number; attribute: string; bit: number }[] = [
  { state: AluaState.TRANSITIONING, attribute: "alua_support_transitioning", bit: 0x80 },
  { state: AluaState.OFFLINE, attribute: "alua_support_offline", bit: 0x40 },
  { state: AluaState.UNAVAILABLE, attribute: "alua_support_unavailable", bit: 0x08 },
  { state: AluaState.STANDBY, attribute: "alua_support_standby", bit: 0x04 },
  { state: AluaState.ACTIVE_NON_OPTIMIZED, attribute: "alua_support_active_nonoptimized", bit: 0x02 },
  { state: AluaState.ACTIVE_OPTIMIZED, attribute: "alua_support_active_optimized", bit: 0x01 },
];

/** One ALUA target port group as SCSI emulation reads it (core/alua.ts AluaTargetPortGroup). */
export interface AluaGroupView {
  readonly name: string;
  /** TARGET PORT GROUP (tg_pt_gp_id). */
  readonly id: number;
  /** LIO's attributes by name: alua_access_state, alua_access_type, preferred, alua_support_*... Read live. */
  readonly attributes: Readonly<Record<string, number>>;
  /** Relative target port identifiers of the member ports (the TPGs exporting the LU in this group), ascending. */
  memberPorts(): number[];
  /**
   * Changes the primary access state (SET TARGET PORT GROUPS: explicit, by the issuing nexus),
   * through Transitioning for trans_delay_msecs. Resolves when the new state holds.
   */
  transition(state: number, opts: { explicit: boolean; by?: string }): Promise<void>;
}

/** A target port of the LU (LIO se_lun): the group it is in and its secondary offline state. */
export interface AluaPort {
  readonly aluaGroup: AluaGroupView;
  /** Secondary state Offline (LIO alua_tg_pt_offline, set by STPG with state Eh). */
  aluaOffline: boolean;
}

/** SUPPORTED states byte of a group (T_SUP O_SUP LBD_SUP U_SUP S_SUP AN_SUP AO_SUP). */
export function supportedStatesByte(attributes: Readonly<Record<string, number>>): number {
  let b = 0;
  for (const s of ALUA_SUPPORT) if (attributes[s.attribute]) b |= s.bit;
  return b;
}

/** Is `state` one the group supports (its alua_support_* flag)? LBA Dependent never is (no LBA map). */
export function stateSupported(attributes: Readonly<Record<string, number>>, state: number): boolean {
  const s = ALUA_SUPPORT.find((x) => x.state === state);
  return s !== undefined && attributes[s.attribute] === 1;
}

// ---- the command gate (SPC-4 §5.16.2.4/5; LIO core_alua_state_*) ------------------------

type Allowed = ReadonlySet<number>;
/** Key of an (opcode, service action) pair in the allowed sets; plain opcodes are keyed by themselves. */
const sa = (opcode: number, action: number) => (opcode << 8) | action | 0x10000;

/** Commands that every inaccessible state still answers: INQUIRY, REPORT LUNS, REQUEST SENSE, RTPG, the echo buffers. */
const ALWAYS: number[] = [Opcode.INQUIRY, Opcode.REPORT_LUNS, Opcode.REQUEST_SENSE, Opcode.READ_BUFFER, Opcode.WRITE_BUFFER, sa(Opcode.MAINTENANCE_IN, MaintenanceIn.REPORT_TARGET_PORT_GROUPS)];

/**
 * Per access state: the commands it allows and the sense (NOT READY, ASC 04h) for the rest.
 * Standby (§5.16.2.4.4) also allows LOG/MODE SELECT/SENSE, diagnostics, STPG, persistent
 * reservations and, as SBC-3 and LIO add, READ CAPACITY(10/16); Unavailable (§5.16.2.4.5) adds
 * only STPG; Transitioning (§5.16.2.5) nothing more; Offline (secondary, §5.16.2.4.6) nothing at all.
 */
export const ALUA_ACCESS_TABLE: ReadonlyMap<number, { allowed: Allowed; sense: AscPair }> = new Map([
  [
    AluaState.STANDBY,
    {
      allowed: new Set([
        ...ALWAYS,
        Opcode.LOG_SELECT,
        Opcode.LOG_SENSE,
        Opcode.MODE_SELECT_6,
        Opcode.MODE_SELECT_10,
        Opcode.MODE_SENSE_6,
        Opcode.MODE_SENSE_10,
        Opcode.RECEIVE_DIAGNOSTIC_RESULTS,
        Opcode.SEND_DIAGNOSTIC,
        Opcode.READ_CAPACITY_10,
        sa(Opcode.SERVICE_ACTION_IN_16, ServiceActionIn16.READ_CAPACITY_16),
        sa(Opcode.MAINTENANCE_OUT, MaintenanceOut.SET_TARGET_PORT_GROUPS),
        Opcode.PERSISTENT_RESERVE_IN,
        Opcode.PERSISTENT_RESERVE_OUT,
      ]),
      sense: Asc.ALUA_TG_PT_STANDBY,
    },
  ],
  [AluaState.UNAVAILABLE, { allowed: new Set([...ALWAYS, sa(Opcode.MAINTENANCE_OUT, MaintenanceOut.SET_TARGET_PORT_GROUPS)]), sense: Asc.ALUA_TG_PT_UNAVAILABLE }],
  [AluaState.TRANSITIONING, { allowed: new Set(ALWAYS), sense: Asc.ALUA_STATE_TRANSITION }],
  [AluaState.OFFLINE, { allowed: new Set<number>(), sense: Asc.ALUA_OFFLINE }],
]);

const SA_OPCODES = new Set<number>([Opcode.SERVICE_ACTION_IN_16, Opcode.MAINTENANCE_IN, Opcode.MAINTENANCE_OUT]);

/**
 * The sense (ASC/ASCQ under NOT READY) a command gets through a port in `state`, or undefined
 * when the state allows it. Active/Optimized and Active/Non-optimized allow everything.
 */
export function aluaRefusal(state: number, cdb: Buffer): AscPair | undefined {
  const row = ALUA_ACCESS_TABLE.get(state);
  if (!row) return undefined;
  const op = cdb[0];
  const key = SA_OPCODES.has(op) ? sa(op, cdb[1] & 0x1f) : op;
  return row.allowed.has(key) ? undefined : row.sense;
}

// ---- REPORT TARGET PORT GROUPS ------------------------------------------------------------

export interface RtpgGroup {
  id: number;
  state: number;
  preferred: boolean;
  supported: number;
  status: number;
  ports: number[];
}

/**
 * REPORT TARGET PORT GROUPS parameter data (SPC-4 §6.36.2): RETURN DATA LENGTH, then with the
 * extended header FORMAT TYPE 001b and IMPLICIT TRANSITION TIME, then one descriptor per group
 * (PREF, state, SUPPORTED, group id, status, port count, then 4 bytes per relative target port id).
 */
export function encodeRtpg(groups: readonly RtpgGroup[], extended: boolean, implicitTransSecs: number): Buffer {
  const hdr = extended ? 8 : 4;
  const len = groups.reduce((n, g) => n + 8 + 4 * g.ports.length, 0);
  const b = Buffer.alloc(hdr + len);
  b.writeUInt32BE(hdr - 4 + len, 0);
  if (extended) {
    b[4] = 0x10;
    b[5] = Math.min(implicitTransSecs, 255);
  }
  let off = hdr;
  for (const g of groups) {
    b[off] = (g.preferred ? 0x80 : 0) | (g.state & 0x0f);
    b[off + 1] = g.supported;
    b.writeUInt16BE(g.id, off + 2);
    b[off + 5] = g.status;
    b[off + 7] = Math.min(g.ports.length, 255);
    off += 8;
    for (const p of g.ports) {
      b.writeUInt16BE(p & 0xffff, off + 2);
      off += 4;
    }
  }
  return b;
}

/** Decodes REPORT TARGET PORT GROUPS data (tests, the console's checks). */
export function decodeRtpg(b: Buffer): { extended: boolean; implicitTransSecs: number; groups: RtpgGroup[] } {
  const extended = b.length >= 8 && (b[4] & 0x70) === 0x10;
  const hdr = extended ? 8 : 4;
  const end = Math.min(b.length, 4 + b.readUInt32BE(0));
  const groups: RtpgGroup[] = [];
  let off = hdr;
  while (off + 8 <= end) {
    const n = b[off + 7];
    const g: RtpgGroup = { preferred: (b[off] & 0x80) !== 0, state: b[off] & 0x0f, supported: b[off + 1], id: b.readUInt16BE(off + 2), status: b[off + 5], ports: [] };
    off += 8;
    for (let i = 0; i < n && off + 4 <= end; i++, off += 4) g.ports.push(b.readUInt16BE(off + 2));
    groups.push(g);
  }
  return { extended, implicitTransSecs: extended ? b[5] : 0, groups };
}

// ---- SET TARGET PORT GROUPS -----------------------------------------------------------------

export interface StpgDescriptor {
  /** ASYMMETRIC ACCESS STATE (bits 3-0 of byte 0). */
  state: number;
  /** TARGET PORT GROUP (primary states) or RELATIVE TARGET PORT IDENTIFIER (Offline). */
  id: number;
  /** Offset of the descriptor in the parameter list (field pointers). */
  offset: number;
}

/** The descriptors of a SET TARGET PORT GROUPS parameter list: 4 reserved bytes, then 4 bytes each. */
export function parseStpg(data: Buffer): StpgDescriptor[] {
  const out: StpgDescriptor[] = [];
  for (let off = 4; off + 4 <= data.length; off += 4) out.push({ state: data[off] & 0x0f, id: data.readUInt16BE(off + 2), offset: off });
  return out;
}

/** Builds a SET TARGET PORT GROUPS parameter list (tests, clients). */
export function encodeStpg(descriptors: readonly { state: number; id: number }[]): Buffer {
  const b = Buffer.alloc(4 + 4 * descriptors.length);
  descriptors.forEach((d, i) => {
    b[4 + 4 * i] = d.state & 0x0f;
    b.writeUInt16BE(d.id, 4 + 4 * i + 2);
  });
  return b;
}

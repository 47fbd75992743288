/**
 * LIO's ALUA target port groups (struct t10_alua_tg_pt_gp, configfs `<so>/alua/<name>/`):
 * a list per storage object, `default_tg_pt_gp` (id 0) made with the object and never
 * deleted; each TPG LUN (LIO se_lun, one target port of the LU) is a member of exactly one.
 * Attributes keep LIO's names and ranges (target_core_alua.c, target_core_configfs.c).
 * State changes run as LIO's core_alua_do_transition_tg_pt: Transitioning for
 * trans_delay_msecs, then the new state, each raising ASYMMETRIC ACCESS STATE CHANGED.
 */
import { EngineError } from "./errors";
import { ALUA_STATE_NAMES, AluaAccessType, AluaState, AluaStatus, stateSupported, type AluaGroupView } from "../scsi/alua";
import type { StorageObject, TpgLun } from "./model";

export const DEFAULT_ALUA_GROUP_NAME = "default_tg_pt_gp";
export const DEFAULT_ALUA_GROUP_ID = 0;

/** The read-write attributes saveconfig.json dumps for a group, in rtslib's order (alua_rw_params). */
export const ALUA_GROUP_ATTRIBUTES = [
  "alua_access_state",
  "alua_access_status",
  "alua_write_metadata",
  "alua_access_type",
  "preferred",
  "nonop_delay_msecs",
  "trans_delay_msecs",
  "implicit_trans_secs",
  "alua_support_offline",
  "alua_support_standby",
  "alua_support_transitioning",
  "alua_support_active_nonoptimized",
  "alua_support_unavailable",
  "alua_support_active_optimized",
] as const;

/** LIO's defaults for a new group (core_alua_allocate_tg_pt_gp). */
export function aluaGroupDefaults(): Record<string, number> {
  return {
    alua_access_state: AluaState.ACTIVE_OPTIMIZED,
    alua_access_status: AluaStatus.NONE,
    alua_write_metadata: 0,
    alua_access_type: AluaAccessType.BOTH,
    preferred: 0,
    nonop_delay_msecs: 100,
    trans_delay_msecs: 0,
    implicit_trans_secs: 0,
    alua_support_offline: 1,
    alua_support_standby: 1,
    alua_support_transitioning: 1,
    alua_support_active_nonoptimized: 1,
    alua_support_unavailable: 1,
    alua_support_active_optimized: 1,
  };
}

/** Ranges of the attributes (target_core_configfs.c stores; ALUA_MAX_* in target_core_alua.h). */
const RANGES: Record<string, [number, number]> = {
  alua_access_status: [0, 2],
  alua_write_metadata: [0, 1],
  alua_access_type: [0, 3],
  preferred: [0, 1],
  nonop_delay_msecs: [0, 10000],
  trans_delay_msecs: [0, 30000],
  implicit_trans_secs: [0, 255],
  alua_support_offline: [0, 1],
  alua_support_standby: [0, 1],
  alua_support_transitioning: [0, 1],
  alua_support_active_nonoptimized: [0, 1],
  alua_support_unavailable: [0, 1],
  alua_support_active_optimized: [0, 1],
};

const STATES: readonly number[] = [AluaState.ACTIVE_OPTIMIZED, AluaState.ACTIVE_NON_OPTIMIZED, AluaState.STANDBY, AluaState.UNAVAILABLE, AluaState.OFFLINE, AluaState.TRANSITIONING];

/** Group names become configfs directories: 1..64 characters, no '/' or whitespace. */
export function validateAluaGroupName(name: string): string {
  if (typeof name !== "string" || !/^[^\s/]{1,64}$/.test(name)) {
    throw new EngineError(`"${name}" is not a valid ALUA group name: use 1 to 64 characters, no spaces or '/'`, "invalid", "name");
  }
  return name;
}

/** Validates one attribute value; alua_access_state must be a state the group supports. */
export function checkAluaAttribute(name: string, value: number, attributes: Readonly<Record<string, number>>): void {
  if (!(ALUA_GROUP_ATTRIBUTES as readonly string[]).includes(name)) {
    throw new EngineError(`unknown ALUA group attribute "${name}" (known: ${ALUA_GROUP_ATTRIBUTES.join(", ")})`, "invalid", name);
  }
  if (!Number.isInteger(value)) throw new EngineError(`ALUA attribute ${name} must be an integer`, "invalid", name);
  if (name === "alua_access_state") {
    if (!STATES.includes(value)) {
      throw new EngineError(
        `alua_access_state must be one of ${STATES.map((s) => `${s} (${ALUA_STATE_NAMES[s]})`).join(", ")}${value === AluaState.LBA_DEPENDENT ? ": LBA Dependent needs an LBA map, which Portico does not have" : ""}`,
        "invalid",
        name,
      );
    }
    if (!stateSupported(attributes, value)) throw new EngineError(`ALUA state ${ALUA_STATE_NAMES[value]} is not supported by this group (its alua_support flag is 0)`, "invalid", name);
    return;
  }
  const r = RANGES[name];
  if (value < r[0] || value > r[1]) throw new EngineError(`ALUA attribute ${name} must be an integer in ${r[0]}..${r[1]}`, "invalid", name);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref?.());

export class AluaTargetPortGroup implements AluaGroupView {
  readonly attributes: Record<string, number>;
  /** The state a running transition is heading for (what the configuration stores meanwhile). */
  pendingState: number | undefined;
  private transitionSeq = 0;

  constructor(
    readonly storageObject: StorageObject,
    readonly name: string,
    public id: number,
    attributes: Record<string, number> = {},
  ) {
    this.attributes = { ...aluaGroupDefaults(), ...attributes };
  }

  get isDefault(): boolean {
    return this.name === DEFAULT_ALUA_GROUP_NAME;
  }

  get state(): number {
    return this.attributes.alua_access_state;
  }

  /** The TPG LUNs of the storage object in this group (LIO `members`). */
  members(): TpgLun[] {
    return [...this.storageObject.exports].filter((l) => l.aluaGroup === this);
  }

  memberPorts(): number[] {
    return this.members()
      .map((l) => l.tpg.relativeTargetPortId)
      .sort((a, b) => a - b);
  }

  /** The state to store: where a running transition is going, else the current one. */
  get persistentState(): number {
    return this.pendingState ?? this.state;
  }

  /**
   * Moves the group to `state` as LIO's core_alua_do_transition_tg_pt: status becomes
   * "altered by explicit STPG" or "by implicit ALUA", the state Transitioning while
   * trans_delay_msecs runs (commands get 04h/0Ah), then the new state; every I_T nexus of
   * the LU but the STPG issuer's gets 2Ah/06h (SPC-4 §5.16.2.6). A later change supersedes
   * one still transitioning. `Transitioning` itself may be set (implicitly) and stays.
   */
  async transition(state: number, opts: { explicit: boolean; by?: string; transient?: boolean }): Promise<void> {
    checkAluaAttribute("alua_access_state", state, this.attributes);
    if (opts.explicit && state === AluaState.TRANSITIONING) throw new EngineError("Transitioning cannot be requested by SET TARGET PORT GROUPS", "invalid", "alua_access_state");
    if (state === this.state && this.pendingState === undefined) return;
    const seq = ++this.transitionSeq;
    this.attributes.alua_access_status = opts.explicit ? AluaStatus.EXPLICIT_STPG : AluaStatus.IMPLICIT;
    const delay = this.attributes.trans_delay_msecs;
    if (state === AluaState.TRANSITIONING || delay > 0) {
      this.pendingState = state === AluaState.TRANSITIONING ? undefined : state;
      this.setState(AluaState.TRANSITIONING, opts.by, opts.transient);
      if (state === AluaState.TRANSITIONING) return;
      await sleep(delay);
      if (seq !== this.transitionSeq) return;
    }
    this.pendingState = undefined;
    this.setState(state, opts.by, opts.transient);
  }

  /** `transient`: runtime state (cluster ownership decides it), not configuration: not handed to onAluaChange to be stored. */
  private setState(state: number, by: string | undefined, transient = false): void {
    const changed = this.attributes.alua_access_state !== state;
    this.attributes.alua_access_state = state;
    if (changed) this.storageObject.device?.aluaStateChanged?.(by);
    if (!transient) this.storageObject.onAluaChange?.(this);
  }
}

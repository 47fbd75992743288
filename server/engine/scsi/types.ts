/**
 * The contract between a transport (iSCSI) and SCSI emulation.
 *
 * The transport collects a command's whole Data-Out payload first (immediate,
 * unsolicited and solicited data), then calls `ScsiNexusPort.execute()` and turns
 * the `ScsiResult` into Data-In / SCSI Response PDUs, truncating Data-In to the
 * Expected Data Transfer Length and setting residuals (RFC 7143 §11.4.5).
 */

/** SAM-5 status codes. */
export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;

/** Task attributes as carried in the iSCSI SCSI Command PDU (RFC 7143 §11.3.1). */
export const TaskAttribute = {
  UNTAGGED: 0,
  SIMPLE: 1,
  ORDERED: 2,
  HEAD_OF_QUEUE: 3,
  ACA: 4,
} as const;

export interface ScsiTask {
  /** The CDB, as received (16 bytes, or more with an extended CDB AHS). */
  cdb: Buffer;
  /** LUN number as the initiator addresses it (the mapped LUN under an ACL). */
  lun: number;
  /** Expected Data Transfer Length from the transport. */
  expectedDataTransferLength: number;
  /** R bit: the initiator expects Data-In. */
  read: boolean;
  /** W bit: the initiator sends Data-Out. */
  write: boolean;
  /** Data-Out payload, collected in full by the transport (length ≤ EDTL). */
  dataOut?: Buffer;
  taskAttribute: number;
  /** Initiator Task Tag, for task management (ABORT TASK). */
  taskTag: number;
  /** Aborted by task management; long operations may check it. */
  signal?: AbortSignal;
  /**
   * Aborts the live tasks of the given I_T nexuses (NexusIdentity.key) that address `device`,
   * never this task itself, and resolves when they are quiet (bounded). PREEMPT AND ABORT uses it
   * (SPC-4 §5.12.11.2.6). `tas` is the device's TAS bit (emulate_tas): 1 ends them with TASK ABORTED
   * status, 0 without a response (SAM-5 §7.2). Provided by the transport; optional.
   */
  abortTasks?(nexusKeys: ReadonlySet<string>, device: ScsiDevice, tas: boolean): Promise<void>;
}

export interface ScsiResult {
  status: number;
  /** Sense data (fixed or descriptor format) for CHECK CONDITION. */
  sense?: Buffer;
  /** Data-In payload, possibly longer than EDTL: the transport truncates and reports overflow. */
  dataIn?: Buffer;
  /**
   * Bytes the CDB itself asked to move, when that differs from what dataIn/dataOut
   * shows (e.g. WRITE(10) whose TRANSFER LENGTH disagrees with EDTL). The transport
   * compares it with EDTL to set residual overflow/underflow. Defaults: dataIn.length
   * for reads, EDTL for writes.
   */
  cdbTransferLength?: number;
  /**
   * Called with dataIn once the transport no longer references it (its last Data-In PDU was
   * written to the socket): a backstore that pools its read buffers takes it back
   * (Backstore.releaseRead). Not called on error paths; the buffer is then collected as usual.
   */
  releaseDataIn?: (buf: Buffer) => void;
}

/**
 * What one I_T nexus (an iSCSI session) sees: the LUNs it may address.
 * The core builds it from the TPG's LUNs and the session's node ACL (or demo mode).
 */
export interface LunBinding {
  /** LUN number seen by the initiator. */
  lun: number;
  /** The TPG LUN index behind it (LIO `tpg_lun`). */
  tpgLunIndex: number;
  /** Mapped LUN write_protect, or demo_mode_write_protect for a dynamic ACL. */
  writeProtect: boolean;
}

/** Identity of the I_T nexus, for VPD 0x83, persistent reservations and unit attentions. */
export interface NexusIdentity {
  initiatorName: string;
  /** ISID as 12 hex digits. */
  isid: string;
  targetName: string;
  tpgTag: number;
  /** The initiator port name, `<initiator>,i,0x<isid>` (RFC 7143 §13.1; SPC-4 TransportID format 01b). */
  initiatorPort: string;
  /** The target port name, `<target>,t,0x<tpgt>` (RFC 7143 §13.1; VPD 83h SCSI name string). */
  targetPort: string;
  /** A key unique per I_T nexus: `<initiatorPort>|<targetPort>`. Only ever compared, never parsed back. */
  key: string;
}

/**
 * The one place an I_T nexus is built (at login, from names the login already checked and
 * lowercased): every other module takes its fields and never parses the key back.
 */
export function itNexus(initiatorName: string, isid: string, targetName: string, tpgTag: number): NexusIdentity {
  const initiatorPort = `${initiatorName},i,0x${isid.toLowerCase()}`;
  const targetPort = `${targetName},t,0x${tpgTag.toString(16).padStart(4, "0")}`;
  return Object.freeze({ initiatorName, isid: isid.toLowerCase(), targetName, tpgTag, initiatorPort, targetPort, key: `${initiatorPort}|${targetPort}` });
}

/**
 * What SCSI emulation needs to know about a storage object. `core/StorageObject`
 * implements it; attributes are read live, so a changed attribute takes effect
 * on the next command.
 */
export interface DeviceInfo {
  readonly name: string;
  readonly plugin: string;
  /** Unit serial number (LIO `wwn/vpd_unit_serial`), a UUID string. */
  readonly wwn: string;
  /** T10 vendor identification, ≤ 8 chars (LIO default `LIO-ORG`). */
  readonly vendorId: string;
  /** Product identification, ≤ 16 chars. */
  readonly productId: string;
  /** Product revision level, ≤ 4 chars. */
  readonly revision: string;
  /** LIO storage-object attributes (lio-model.md §2.1), e.g. emulate_write_cache. */
  readonly attributes: Readonly<Record<string, number>>;
  readonly backstore: import("../backstores/backstore").Backstore;
  /** ALUA target port groups (SPC-4 §5.16), ordered by id; absent: one implicit Active/Optimized group. */
  aluaGroupList?(): readonly import("./alua").AluaGroupView[];
  /** The target port with this relative target port identifier (STPG Offline names ports). */
  aluaPort?(relativeTargetPortId: number): import("./alua").AluaPort | undefined;
}

/** A LUN as one nexus resolves it. */
export interface ResolvedLun {
  binding: LunBinding;
  /** The device's SCSI emulation (scsi/ScsiDisk). */
  device: ScsiDevice;
  /** Relative Target Port Identifier of the TPG the nexus came through (VPD 0x83). */
  relativeTargetPortId: number;
  /** The target port's ALUA group and secondary state; absent: Active/Optimized, implicit ALUA. */
  alua?: import("./alua").AluaPort;
}

/** SCSI emulation of one logical unit, shared by every nexus that sees it. */
export interface ScsiDevice {
  execute(task: ScsiTask, nexus: ScsiNexusView, lun: ResolvedLun): Promise<ScsiResult>;
  /**
   * execute() that returns the result itself when the command completed without waiting
   * (memory-backed IO): the transport answers in the same turn. Optional; never throws or rejects.
   */
  executeNow?(task: ScsiTask, nexus: ScsiNexusView, lun: ResolvedLun): ScsiResult | Promise<ScsiResult>;
  /**
   * Task management that changes device state (SAM-5 §7): LUN RESET, TARGET WARM/COLD
   * RESET, CLEAR TASK SET. The transport aborts its own in-flight tasks; the device clears
   * reservations as the function requires and queues the unit attentions for the other nexuses
   * (e.g. 29h/03h BUS DEVICE RESET FUNCTION OCCURRED).
   */
  taskManagement?(fn: "lun_reset" | "target_warm_reset" | "target_cold_reset" | "clear_task_set" | "abort_task_set", by: NexusIdentity): void | Promise<void>;
  /** The I_T nexus is gone (session closed): drop its SPC-2 reservation and pending state. */
  nexusLost?(nexus: NexusIdentity): void;
  /** The storage object is deleted: release what the device registered (scsi/registry.ts for EXTENDED COPY). */
  close?(): void;
  /** The nexus logged in: queue 29h/00h POWER ON, RESET, OR BUS DEVICE RESET OCCURRED for it. */
  nexusCreated?(nexus: NexusIdentity): void;
  /** The I_T nexuses this LU knows (core: live reconfiguration). */
  knownNexuses?(): Iterable<NexusIdentity>;
  /** The LUN inventory of some nexuses changed: queue 3Fh/0Eh REPORTED LUNS DATA HAS CHANGED for those that match. */
  reportedLunsChanged?(match: (nexusKey: string) => boolean): void;
  /** An ALUA group's access state changed: queue 2Ah/06h ASYMMETRIC ACCESS STATE CHANGED for every nexus but `except`. */
  aluaStateChanged?(except?: string): void;
}

/** One I_T nexus's view of the target: built by core from the TPG and the node ACL. */
export interface ScsiNexusView {
  readonly identity: NexusIdentity;
  resolve(lun: number): ResolvedLun | undefined;
  /** Every LUN number this nexus may address, ascending (REPORT LUNS). */
  luns(): number[];
}

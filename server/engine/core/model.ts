/**
 * LIO's object model: storage objects, targets, TPGs, LUNs, portals, node ACLs
 * and mapped LUNs (lio-model.md §1.3–1.6). Plain objects with invariants; the
 * Engine (core/engine.ts) is the only thing that creates or deletes them.
 */
import { addressAllowed, type Cidr } from "./networks";
import type { Backstore, BackstorePlugin } from "../backstores/backstore";
import type { DeviceInfo, LunBinding, NexusIdentity, ResolvedLun, ScsiDevice, ScsiNexusView } from "../scsi/types";
import type { AttributeMap, ParameterMap } from "./defaults";
import { AluaTargetPortGroup, DEFAULT_ALUA_GROUP_ID, DEFAULT_ALUA_GROUP_NAME } from "./alua";
import type { AluaPort } from "../scsi/alua";

export class StorageObject implements DeviceInfo {
  /** Set by the engine right after construction. */
  device!: ScsiDevice;
  /** TPG LUNs that export this object. */
  readonly exports = new Set<TpgLun>();
  /** ALUA target port groups by name, in creation order; `default_tg_pt_gp` (id 0) always first. */
  readonly aluaGroups = new Map<string, AluaTargetPortGroup>();
  /** Told after a group's state or status changes (SET TARGET PORT GROUPS, transitions): set by the engine. */
  onAluaChange?: (group: AluaTargetPortGroup) => void;
  /** fileio: the backing file's real path (symlinks resolved) and st_dev:st_ino, for "one file, one storage object". */
  realPath?: string;
  devIno?: string;
  /** fileio: the engine created the file for this object (an undone create removes it again). */
  fileCreated = false;

  constructor(
    readonly plugin: BackstorePlugin,
    readonly name: string,
    public wwn: string,
    public backstore: Backstore,
    readonly attributes: AttributeMap,
    /** fileio/block: backing path. */
    readonly dev: string | undefined,
    public vendorId: string,
    public productIdBase: string,
    public revision: string,
  ) {
    this.aluaGroups.set(DEFAULT_ALUA_GROUP_NAME, new AluaTargetPortGroup(this, DEFAULT_ALUA_GROUP_NAME, DEFAULT_ALUA_GROUP_ID));
  }

  get defaultAluaGroup(): AluaTargetPortGroup {
    return this.aluaGroups.get(DEFAULT_ALUA_GROUP_NAME)!;
  }

  /** DeviceInfo: the groups REPORT TARGET PORT GROUPS lists (ordered by id). */
  aluaGroupList(): AluaTargetPortGroup[] {
    return [...this.aluaGroups.values()].sort((a, b) => a.id - b.id);
  }

  /** DeviceInfo: the target port (TPG LUN) with this relative target port identifier. */
  aluaPort(relativeTargetPortId: number): TpgLun | undefined {
    for (const l of this.exports) if (l.tpg.relativeTargetPortId === relativeTargetPortId) return l;
    return undefined;
  }

  /** `/backstores/<plugin>/<name>`, the saveconfig.json reference. */
  get path(): string {
    return `/backstores/${this.plugin}/${this.name}`;
  }

  get key(): string {
    return `${this.plugin}/${this.name}`;
  }

  /** With emulate_model_alias=1 the INQUIRY product is the object's name truncated to 16 (LIO). */
  get productId(): string {
    return this.attributes.emulate_model_alias ? this.name.slice(0, 16) : this.productIdBase;
  }

  get sizeBytes(): number {
    return this.backstore.sizeBytes;
  }

  get writeBack(): boolean {
    return this.backstore.writeBack;
  }
}

export class TpgLun implements AluaPort {
  /** The ALUA target port group of this port (LIO alua_tg_pt_gp_name). */
  aluaGroup: AluaTargetPortGroup;
  /** Secondary state Offline (LIO alua_tg_pt_offline). */
  aluaOffline = false;

  constructor(
    readonly tpg: Tpg,
    readonly index: number,
    readonly storageObject: StorageObject,
    readonly alias: string,
  ) {
    this.aluaGroup = storageObject.defaultAluaGroup;
  }
}

export class MappedLun {
  constructor(
    /** LUN number the initiator sees. */
    readonly index: number,
    /** TPG LUN index it maps to. */
    readonly tpgLun: number,
    public writeProtect: boolean,
    readonly alias: string,
  ) {}
}

export interface ChapCredentials {
  userid?: string;
  password?: string;
  mutualUserid?: string;
  mutualPassword?: string;
}

export class NodeAcl {
  readonly mappedLuns = new Map<number, MappedLun>();
  /** ACL tag (targetcli's initiator groups, rtslib NodeACLGroup; LIO's saveconfig key `tag`), not the TPG's tag. */
  aclTag: string | undefined;
  chap: ChapCredentials = {};

  constructor(
    readonly tpg: Tpg,
    /** Initiator IQN, lowercase (RFC 7143 names are case-insensitive). */
    readonly initiatorName: string,
    readonly attributes: AttributeMap,
    /** cmdsn_depth: the queue depth this initiator gets (defaults to the TPG's default_cmdsn_depth). */
    public cmdsnDepth: number,
  ) {}
}

export class Tpg {
  readonly luns = new Map<number, TpgLun>();
  /** Portal keys "ip:port" (IPv6 bracketed), as LIO names np/ entries. */
  readonly portals = new Set<string>();
  readonly nodeAcls = new Map<string, NodeAcl>();
  chap: ChapCredentials = {};
  /** Networks logins may come from (empty: any); a login from elsewhere gets Authorization Failure. */
  allowedNetworks: Cidr[] = [];
  /**
   * The cluster node that serves this TPG (its portals open there only); undefined: every node
   * that has it, which on a single appliance is this one. Portico's, as `node` in saveconfig.json.
   */
  node: string | undefined;
  /** Bumped by the engine on every change to LUNs, ACLs or attributes; views re-resolve on change. */
  generation = 0;

  constructor(
    readonly target: Target,
    readonly tag: number,
    public enabled: boolean,
    readonly attributes: AttributeMap,
    readonly parameters: ParameterMap,
    /** Relative Target Port Identifier, unique within the engine (VPD 0x83). */
    readonly relativeTargetPortId: number,
  ) {}

  /** Demo mode: any initiator may log in and sees every TPG LUN. */
  get demoMode(): boolean {
    return this.attributes.generate_node_acls === 1;
  }

  /** The node ACL for an initiator, or undefined. */
  aclFor(initiatorName: string): NodeAcl | undefined {
    return this.nodeAcls.get(initiatorName.toLowerCase());
  }

  /**
   * Does SendTargets list this TPG to this initiator? Those it admits, except that a demo-mode
   * TPG with demo_mode_discovery=0 lists itself only to initiators that have an explicit ACL
   * (LIO iscsit_build_sendtargets_response).
   */
  discoverableBy(initiatorName: string): boolean {
    if (this.aclFor(initiatorName)) return true;
    return this.demoMode && this.attributes.demo_mode_discovery === 1;
  }

  /** May this initiator log in (and see the target in SendTargets)? */
  /** Is a login from this remote address allowed (allowedNetworks)? */
  admitsAddress(address: string): boolean {
    return addressAllowed(this.allowedNetworks, address);
  }

  admits(initiatorName: string): boolean {
    return this.demoMode || this.aclFor(initiatorName) !== undefined;
  }

  /**
   * The LUNs an initiator sees: its ACL's mapped LUNs, or in demo mode every TPG
   * LUN under demo_mode_write_protect. Resolved live, so LUN changes show at once.
   */
  nexusView(identity: NexusIdentity): ScsiNexusView {
    return new NexusView(this, identity);
  }

  /**
   * The LUN table an initiator sees at this generation, shared by all its sessions (in demo mode
   * every initiator without an ACL sees the same bindings): built once per initiator and
   * configuration change, not once per login.
   */
  lunTable(initiatorName: string): LunTable {
    if (this.lunTablesGeneration !== this.generation) {
      this.lunTables.clear();
      this.lunTablesGeneration = this.generation;
    }
    let t = this.lunTables.get(initiatorName);
    if (!t) {
      const byLun = new Map(this.bindingsFor(initiatorName).map((b) => [b.lun, b]));
      t = { byLun, sorted: [...byLun.keys()].sort((a, b) => a - b) };
      // Bounded: names are the initiators that logged in; a flood of new names starts over.
      if (this.lunTables.size >= 1024) this.lunTables.clear();
      this.lunTables.set(initiatorName, t);
    }
    return t;
  }

  private readonly lunTables = new Map<string, LunTable>();
  private lunTablesGeneration = -1;

  /** LUN bindings for an initiator: its ACL's mapped LUNs, or all LUNs in demo mode. */
  bindingsFor(initiatorName: string): LunBinding[] {
    const acl = this.aclFor(initiatorName);
    if (acl) {
      // prod_mode_write_protect=1 makes every mapped LUN of every explicit ACL read-only (LIO
      // core_enable_device_list_for_node); the mapped LUN's own write_protect still applies when it is 0.
      const prodWp = this.attributes.prod_mode_write_protect === 1;
      return [...acl.mappedLuns.values()]
        .filter((m) => this.luns.has(m.tpgLun))
        .map((m) => ({ lun: m.index, tpgLunIndex: m.tpgLun, writeProtect: m.writeProtect || prodWp }));
    }
    if (!this.demoMode) return [];
    const wp = this.attributes.demo_mode_write_protect === 1;
    return [...this.luns.values()].map((l) => ({ lun: l.index, tpgLunIndex: l.index, writeProtect: wp }));
  }
}

/** An initiator's LUN numbers at one generation of its TPG (Tpg.lunTable). */
interface LunTable {
  readonly byLun: ReadonlyMap<number, LunBinding>;
  readonly sorted: number[];
}

/**
 * The LUNs an initiator sees: its ACL's mapped LUNs, or in demo mode every TPG LUN under
 * demo_mode_write_protect. Resolved live (the TPG's generation is compared on every call), so
 * LUN changes show at once.
 */
class NexusView implements ScsiNexusView {
  private table: LunTable | undefined;
  private tableGeneration = -1;

  constructor(
    private readonly tpg: Tpg,
    readonly identity: NexusIdentity,
  ) {}

  private current(): LunTable {
    const tpg = this.tpg;
    if (this.tableGeneration !== tpg.generation || !this.table) {
      this.table = tpg.lunTable(this.identity.initiatorName);
      this.tableGeneration = tpg.generation;
    }
    return this.table;
  }

  resolve(lun: number): ResolvedLun | undefined {
    const binding = this.current().byLun.get(lun);
    const tpgLun = binding && this.tpg.luns.get(binding.tpgLunIndex);
    if (!binding || !tpgLun) return undefined;
    return { binding, device: tpgLun.storageObject.device, relativeTargetPortId: this.tpg.relativeTargetPortId, alua: tpgLun };
  }

  luns(): number[] {
    return this.current().sorted;
  }
}

export class Target {
  readonly tpgs = new Map<number, Tpg>();
  constructor(
    /** The target's name, its IQN (or eui./naa.): LIO's `wwn`, as the DB, API and console call it; lowercase. */
    readonly wwn: string,
  ) {}
}

/** Discovery authentication (saveconfig `fabric_modules[name=iscsi]`). */
export interface DiscoveryAuth extends ChapCredentials {
  enabled: boolean;
}

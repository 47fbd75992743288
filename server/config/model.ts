/**
 * The configuration as Portico stores and applies it: LIO's object tree with the
 * engine's names (camelCase), independent of the database and of saveconfig.json.
 * `store.ts` reads/writes it from SQLite, `apply.ts` builds it into an Engine,
 * `saveconfig.ts` converts it to and from targetcli's file.
 */
import type { BackstorePlugin } from "../engine/backstores/backstore";

export interface Chap {
  userid?: string;
  password?: string;
  mutualUserid?: string;
  mutualPassword?: string;
}

export interface StorageObjectConfig {
  plugin: BackstorePlugin;
  name: string;
  dev?: string;
  /** Bytes. */
  size?: number;
  /** Unit serial (UUID); generated when absent. */
  wwn?: string;
  writeBack: boolean;
  blockSize: number;
  readonly: boolean;
  /** Writable attributes that differ from, or restate, LIO's defaults. */
  attributes: Record<string, number>;
  /**
   * ALUA target port groups (saveconfig.json `alua_tpgs`), default_tg_pt_gp included when present;
   * absent: only default_tg_pt_gp with LIO's defaults.
   */
  aluaGroups?: AluaGroupConfig[];
  /** INQUIRY identity when set (LIO wwn/vendor_id, product_id, revision); not in saveconfig.json (rtslib has no key). */
  vendorId?: string;
  productId?: string;
  revision?: string;
}

/** One ALUA target port group (LIO tg_pt_gp): its name, tg_pt_gp_id and rtslib's alua_rw_params by name. */
export interface AluaGroupConfig {
  name: string;
  id: number;
  attributes: Record<string, number>;
}

export interface LunConfig {
  index: number;
  /** `/backstores/<plugin>/<name>`. */
  storageObject: string;
  alias?: string;
  /** ALUA group of the storage object (LIO alua_tg_pt_gp_name); absent: default_tg_pt_gp. */
  aluaGroup?: string;
}

export interface PortalConfig {
  ip: string;
  port: number;
}

export interface MappedLunConfig {
  index: number;
  tpgLun: number;
  writeProtect: boolean;
  alias?: string;
}

export interface NodeAclConfig {
  initiatorName: string;
  /** The ACL tag (initiator group); saveconfig.json calls it `tag`, as LIO does. */
  aclTag?: string;
  cmdsnDepth?: number;
  attributes: Record<string, number>;
  chap: Chap;
  mappedLuns: MappedLunConfig[];
}

export interface TpgConfig {
  tag: number;
  enabled: boolean;
  attributes: Record<string, number>;
  parameters: Record<string, string>;
  chap: Chap;
  /** Networks (CIDR) logins may come from; absent or empty: any. Portico's, not in targetcli's saveconfig.json. */
  allowedNetworks?: string[];
  /** The cluster node that serves this TPG (its portals open there only); absent: any. Portico's `node` in saveconfig.json. */
  node?: string;
  luns: LunConfig[];
  portals: PortalConfig[];
  nodeAcls: NodeAclConfig[];
}

export interface TargetConfig {
  wwn: string;
  tpgs: TpgConfig[];
}

export interface DiscoveryAuthConfig extends Chap {
  enabled: boolean;
}

export interface PorticoConfig {
  storageObjects: StorageObjectConfig[];
  targets: TargetConfig[];
  discoveryAuth: DiscoveryAuthConfig;
}

export function emptyConfig(): PorticoConfig {
  return { storageObjects: [], targets: [], discoveryAuth: { enabled: false } };
}

export function storageObjectPath(so: { plugin: string; name: string }): string {
  return `/backstores/${so.plugin}/${so.name}`;
}

/** targetcli-style paths, used to name objects in warnings and reports. */
export const paths = {
  storageObject: storageObjectPath,
  target: (wwn: string) => `/iscsi/${wwn}`,
  tpg: (wwn: string, tag: number) => `/iscsi/${wwn}/tpg${tag}`,
  lun: (wwn: string, tag: number, index: number) => `/iscsi/${wwn}/tpg${tag}/luns/lun${index}`,
  portal: (wwn: string, tag: number, key: string) => `/iscsi/${wwn}/tpg${tag}/portals/${key}`,
  acl: (wwn: string, tag: number, initiator: string) => `/iscsi/${wwn}/tpg${tag}/acls/${initiator}`,
  mappedLun: (wwn: string, tag: number, initiator: string, index: number) => `/iscsi/${wwn}/tpg${tag}/acls/${initiator}/mapped_lun${index}`,
};

/** An object that could not be brought up, and why (restore at start-up). */
export interface RestoreWarning {
  object: string;
  reason: string;
}

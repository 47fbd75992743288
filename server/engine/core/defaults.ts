/**
 * LIO's defaults for attributes and parameters, as data (lio-model.md §2).
 * One table per object kind; the engine starts every object from these.
 */

import { KEY_TABLE } from "../iscsi/negotiation";

export type AttributeMap = Record<string, number>;
export type ParameterMap = Record<string, string>;

/** Storage object attributes (se_dev_attrib), defaults from target_alloc_device(). */
export function storageObjectAttributeDefaults(plugin: string, blockSize: number): AttributeMap {
  const common: AttributeMap = {
    block_size: blockSize,
    hw_block_size: blockSize,
    emulate_model_alias: 1, // targetcli's export_backstore_name_as_model=True
    emulate_dpo: 1,
    emulate_fua_write: 1,
    emulate_fua_read: 1,
    emulate_write_cache: 0,
    emulate_ua_intlck_ctrl: 0,
    emulate_tas: 1,
    emulate_tpu: 0,
    emulate_tpws: 0,
    emulate_caw: 1,
    emulate_3pc: 1,
    emulate_pr: 1,
    emulate_rsoc: 1,
    emulate_rest_reord: 0,
    enforce_pr_isids: 1,
    force_pr_aptpl: 0,
    is_nonrot: 0,
    pi_prot_type: 0,
    pi_prot_format: 0,
    pi_prot_verify: 0,
    max_unmap_lba_count: 0,
    max_unmap_block_desc_count: 0,
    unmap_granularity: 0,
    unmap_granularity_alignment: 0,
    unmap_zeroes_data: 0,
    max_write_same_len: 0,
    queue_depth: 128,
    hw_queue_depth: 128,
    alua_support: 1,
    pgr_support: 1,
  };
  switch (plugin) {
    case "fileio":
      // target_core_file.c: FD_MAX_BYTES / block_size; a regular file supports punch-hole UNMAP.
      return {
        ...common,
        hw_max_sectors: Math.floor(8388608 / blockSize),
        optimal_sectors: Math.floor(8388608 / blockSize),
        max_unmap_lba_count: 0x2000,
        max_unmap_block_desc_count: 1,
        unmap_granularity: 1,
        max_write_same_len: 0x1000,
      };
    case "block":
      return {
        ...common,
        hw_max_sectors: Math.floor(8388608 / blockSize),
        optimal_sectors: Math.floor(8388608 / blockSize),
        max_unmap_lba_count: 4194303,
        max_unmap_block_desc_count: 1,
        unmap_granularity: 1,
        max_write_same_len: 0xffff,
      };
    case "rbd":
      // A thin RBD image: UNMAP is rbd discard, reads of discarded blocks return zeros (LBPME, LBPRZ).
      // Unmap limits in the image's objects, as tcmu-runner's rbd handler reports them: at most
      // 4 objects per UNMAP (one discard never floods the OSD queues), granularity one object
      // (a whole-object discard deletes it; a partial one only zeroes). Here for rbd's default
      // 4 MiB objects; rbdUnmapAttributes gives them for the image's own object size.
      return {
        ...common,
        hw_max_sectors: Math.floor(8388608 / blockSize),
        optimal_sectors: Math.floor(4194304 / blockSize),
        ...rbdUnmapAttributes(RBD_DEFAULT_OBJECT_SIZE, blockSize),
        max_unmap_block_desc_count: 1,
        unmap_zeroes_data: 1,
        emulate_tpu: 1,
        emulate_tpws: 1,
        max_write_same_len: 0xffff,
      };
    case "ramdisk":
    default:
      return {
        ...common,
        is_nonrot: 1,
        hw_max_sectors: 4294967288,
        optimal_sectors: 4294967288,
        max_unmap_lba_count: 8192,
        max_unmap_block_desc_count: 1,
        unmap_granularity: 1,
        max_write_same_len: 0x1000,
      };
  }
}

/** rbd's default object size (rbd create --object-size, order 22). */
export const RBD_DEFAULT_OBJECT_SIZE = 4 * 1024 * 1024;

/** UNMAP limits of an rbd image with `objectSize`-byte objects (tcmu-runner rbd.c: 4 objects, granularity 1 object). */
export function rbdUnmapAttributes(objectSize: number, blockSize: number): { max_unmap_lba_count: number; unmap_granularity: number } {
  const objectBlocks = Math.max(1, Math.floor(objectSize / blockSize));
  return { max_unmap_lba_count: 4 * objectBlocks, unmap_granularity: objectBlocks };
}

/** iSCSI TPG attributes (tpgt_N/attrib), TA_* defaults; targetcli sets authentication=0 on a new TPG. */
export const tpgAttributeDefaults: AttributeMap = {
  authentication: 0,
  login_timeout: 15,
  netif_timeout: 2,
  generate_node_acls: 0,
  default_cmdsn_depth: 64,
  cache_dynamic_acls: 0,
  demo_mode_write_protect: 1,
  prod_mode_write_protect: 0,
  demo_mode_discovery: 1,
  default_erl: 0,
  t10_pi: 0,
  fabric_prot_type: 0,
  tpg_enabled_sendtargets: 1,
  login_keys_workaround: 1,
};

/** Allowed ranges for TPG attributes that have one (lio-model.md §2.2). */
export const tpgAttributeRanges: Record<string, [number, number]> = {
  authentication: [0, 1],
  login_timeout: [5, 30],
  netif_timeout: [2, 15],
  generate_node_acls: [0, 1],
  default_cmdsn_depth: [1, 512],
  cache_dynamic_acls: [0, 1],
  demo_mode_write_protect: [0, 1],
  prod_mode_write_protect: [0, 1],
  demo_mode_discovery: [0, 1],
  default_erl: [0, 2],
  t10_pi: [0, 1],
  fabric_prot_type: [0, 3],
  tpg_enabled_sendtargets: [0, 1],
  login_keys_workaround: [0, 1],
};

/**
 * Attribute values the API accepts from LIO's range but Portico cannot honour: the values it
 * runs with, and why. Anything else is refused by the engine (a clear error naming the attribute)
 * and reported as not honoured by the saveconfig import. docs/configuration.md has the full table.
 */
export interface SupportedValues {
  values: number[];
  why: string;
}

const ERL0_ONLY = "Portico implements ErrorRecoveryLevel 0 only (no SNACK, no connection recovery)";
const NO_PI = "T10 protection information is not supported";

export const tpgAttributeSupported: Record<string, SupportedValues> = {
  default_erl: { values: [0], why: ERL0_ONLY },
  t10_pi: { values: [0], why: NO_PI },
  fabric_prot_type: { values: [0], why: NO_PI },
  login_keys_workaround: { values: [1], why: "Portico's login negotiation has one behaviour, LIO's default; switching the workaround off is not implemented" },
};

export const nodeAclAttributeSupported: Record<string, SupportedValues> = {
  default_erl: { values: [0], why: ERL0_ONLY },
  random_datain_pdu_offsets: { values: [0], why: "Portico sends Data-In PDUs in order (DataPDUInOrder=Yes)" },
  random_datain_seq_offsets: { values: [0], why: "Portico sends Data-In sequences in order (DataSequenceInOrder=Yes)" },
  random_r2t_offsets: { values: [0], why: "Portico sends R2Ts in order (DataSequenceInOrder=Yes)" },
};

/** "random_r2t_offsets=1 is not supported: Portico sends R2Ts in order (DataSequenceInOrder=Yes)", or undefined when supported. */
export function unsupportedValue(table: Record<string, SupportedValues>, name: string, value: number): string | undefined {
  const rule = table[name];
  if (!rule || rule.values.includes(value)) return undefined;
  return `${name}=${value} is not supported: ${rule.why}`;
}

/** iSCSI TPG parameters (tpgt_N/param): LIO's initial values, the target's side of negotiation. */
export const tpgParameterDefaults: ParameterMap = {
  AuthMethod: "CHAP,None",
  HeaderDigest: "CRC32C,None",
  DataDigest: "CRC32C,None",
  MaxConnections: "1",
  TargetAlias: "LIO Target",
  InitialR2T: "Yes",
  ImmediateData: "Yes",
  MaxRecvDataSegmentLength: "8192",
  MaxXmitDataSegmentLength: "262144",
  MaxBurstLength: "262144",
  FirstBurstLength: "65536",
  DefaultTime2Wait: "2",
  DefaultTime2Retain: "20",
  MaxOutstandingR2T: "1",
  DataPDUInOrder: "Yes",
  DataSequenceInOrder: "Yes",
  ErrorRecoveryLevel: "0",
  IFMarker: "No",
  OFMarker: "No",
  IFMarkInt: "Reject",
  OFMarkInt: "Reject",
};

/** Node ACL attributes (acls/<iqn>/attrib), NA_* defaults. */
export const nodeAclAttributeDefaults: AttributeMap = {
  dataout_timeout: 3,
  dataout_timeout_retries: 5,
  default_erl: 0,
  nopin_response_timeout: 30,
  nopin_timeout: 15,
  random_datain_pdu_offsets: 0,
  random_datain_seq_offsets: 0,
  random_r2t_offsets: 0,
};

export const DEFAULT_ISCSI_PORT = 3260;
/** INQUIRY identity defaults (target_alloc_device). */
export const DEFAULT_VENDOR_ID = "LIO-ORG";
export const PRODUCT_ID_BY_PLUGIN: Record<string, string> = {
  fileio: "FILEIO",
  block: "IBLOCK",
  ramdisk: "RAMDISK-MCP",
  rbd: "TCMU device",
};
export const DEFAULT_REVISION = "4.0";

/**
 * How each storage object attribute may be changed (lio-model.md §2.1, K-cfs store functions).
 * `exported: false` = LIO refuses the change while any LUN exports the object ("not while exported").
 * `fixed` = the value Portico runs with and the only one it accepts (LIO ignores or refuses the rest).
 */
export interface SoAttributeRule {
  range?: [number, number];
  values?: number[];
  exported?: false;
  fixed?: number;
  readOnly?: boolean;
  /** Why a fixed value cannot change, for the error message. */
  why?: string;
}

const BOOL: [number, number] = [0, 1];
const U32: [number, number] = [0, 0xffffffff];

export const storageObjectAttributeRules: Record<string, SoAttributeRule> = {
  block_size: { values: [512, 4096], exported: false },
  hw_block_size: { readOnly: true },
  hw_max_sectors: { readOnly: true },
  hw_queue_depth: { readOnly: true },
  emulate_model_alias: { range: BOOL, exported: false },
  emulate_dpo: { fixed: 1, why: "deprecated in LIO (writes are ignored)" },
  emulate_fua_read: { fixed: 1, why: "deprecated in LIO (writes are ignored)" },
  emulate_fua_write: { range: BOOL },
  emulate_write_cache: { range: BOOL, why: "it follows the backstore's write_back mode, chosen when the storage object is created" },
  emulate_ua_intlck_ctrl: { range: [0, 2], exported: false },
  emulate_tas: { range: BOOL, exported: false },
  emulate_tpu: { range: BOOL },
  emulate_tpws: { range: BOOL },
  emulate_caw: { range: BOOL },
  emulate_3pc: { range: BOOL },
  emulate_pr: { range: BOOL, exported: false },
  emulate_rsoc: { range: BOOL },
  emulate_rest_reord: { fixed: 0, why: "LIO only implements restricted reordering 0" },
  enforce_pr_isids: { range: BOOL },
  force_pr_aptpl: { range: BOOL, exported: false },
  is_nonrot: { range: BOOL },
  pi_prot_type: { fixed: 0, why: "T10 protection information is not supported" },
  pi_prot_format: { fixed: 0, why: "T10 protection information is not supported" },
  pi_prot_verify: { fixed: 0, why: "T10 protection information is not supported" },
  max_unmap_lba_count: { range: U32 },
  max_unmap_block_desc_count: { range: U32 },
  unmap_granularity: { range: U32 },
  unmap_granularity_alignment: { range: U32 },
  unmap_zeroes_data: { range: BOOL, exported: false },
  max_write_same_len: { range: U32 },
  optimal_sectors: { range: U32, exported: false },
  queue_depth: { range: [1, 0xffffffff], exported: false },
  alua_support: { fixed: 1, why: "read-only in LIO for these backstores" },
  pgr_support: { fixed: 1, why: "read-only in LIO for these backstores" },
};

/** Why a storage object attribute change was refused (the kinds callers treat differently). */
export interface AttributeRefusal {
  name: string;
  /**
   * unknown: no such attribute; read_only: the backstore decides it; not_integer; fixed: Portico runs
   * with one value (`fixed`); values/range: outside what LIO accepts; needs_unmap, limit: the set of
   * attributes does not hold together; exported: LIO refuses the change while a LUN exports the object.
   */
  kind: "unknown" | "read_only" | "not_integer" | "fixed" | "values" | "range" | "needs_unmap" | "limit" | "exported";
  message: string;
  fixed?: number;
}

/** Attributes a storage object's backstore decides at creation (block size, write-back): chosen by the create spec, not by `attributes`. */
const BACKSTORE_FACTS = new Set(["block_size", "emulate_write_cache"]);

/**
 * The one rulebook for storage object attributes (lio-model.md §2.1): Engine.createStorageObject,
 * Engine.setStorageObjectAttributes and saveconfig import (config/saveconfig.ts) all call it, so
 * what one refuses the others refuse. `current`: the object's attributes now (for a new object,
 * its plugin's defaults). Returns the attributes after `changes` and the refusals, in order
 * (none: accepted; callers throw the first or, on import, report each).
 *
 * mode "create" (and import): a read-only attribute is accepted and left to the backstore (a
 * saved file restates them); block_size and emulate_write_cache are checked but come from the
 * create spec (blockSize, writeBack). mode "set": a read-only attribute is refused, and so is a
 * change of emulate_write_cache. Both: a value equal to the current one is accepted as it is.
 * `exportedBy`: the LUNs exporting the object (set only), for LIO's "not while exported" rule.
 */
export function checkStorageObjectAttributes(
  current: Readonly<AttributeMap>,
  changes: Readonly<Record<string, unknown>>,
  opts: { mode: "create" | "set"; exportedBy?: string; objectKey?: string },
): { next: AttributeMap; refusals: AttributeRefusal[] } {
  const next: AttributeMap = { ...current };
  const refusals: AttributeRefusal[] = [];
  const refuse = (name: string, kind: AttributeRefusal["kind"], message: string, fixed?: number) => refusals.push({ name, kind, message, ...(fixed === undefined ? {} : { fixed }) });
  const create = opts.mode === "create";
  for (const [k, v] of Object.entries(changes)) {
    const rule = storageObjectAttributeRules[k];
    if (!rule || !(k in current)) {
      refuse(k, "unknown", `unknown storage object attribute "${k}"`);
      continue;
    }
    if (rule.readOnly && !create) {
      refuse(k, "read_only", `attribute ${k} is read-only: the backstore decides it`);
      continue;
    }
    if (typeof v !== "number" || !Number.isInteger(v) || (create && v < 0)) {
      refuse(k, "not_integer", create ? `attribute ${k} must be a non-negative integer, got ${JSON.stringify(v)}` : `attribute ${k} must be an integer`);
      continue;
    }
    if (rule.readOnly) {
      next[k] = v; // create: a restated fact; the backstore's own value replaces it where it has one
      continue;
    }
    if (v === current[k]) continue;
    if (rule.fixed !== undefined) {
      refuse(k, "fixed", `attribute ${k} can only be ${rule.fixed}: ${rule.why}`, rule.fixed);
      continue;
    }
    if (rule.values && !rule.values.includes(v)) {
      refuse(k, "values", `attribute ${k} must be one of ${rule.values.join(", ")}`);
      continue;
    }
    if (rule.range && (v < rule.range[0] || v > rule.range[1])) {
      refuse(k, "range", `attribute ${k} must be an integer in ${rule.range[0]}..${rule.range[1]}`);
      continue;
    }
    if (BACKSTORE_FACTS.has(k) && create) continue; // from the create spec
    if (k === "emulate_write_cache") {
      refuse(k, "read_only", `attribute emulate_write_cache cannot be changed: ${rule.why}`);
      continue;
    }
    if (rule.exported === false && opts.exportedBy) {
      refuse(k, "exported", `attribute ${k} cannot change while ${opts.objectKey ?? "the storage object"} is exported (by ${opts.exportedBy}), as in LIO: remove those LUNs first`);
      continue;
    }
    next[k] = v;
  }
  for (const k of ["emulate_tpu", "emulate_tpws", "unmap_zeroes_data"]) {
    if (next[k] === 1 && current[k] !== 1 && !(next.max_unmap_block_desc_count > 0)) {
      refuse(k, "needs_unmap", `attribute ${k}=1 needs UNMAP support: max_unmap_block_desc_count is 0`);
    }
  }
  if (next.optimal_sectors > next.hw_max_sectors) {
    refuse("optimal_sectors", "limit", `attribute optimal_sectors must be at most hw_max_sectors (${next.hw_max_sectors})`);
  }
  if (next.queue_depth > next.hw_queue_depth) {
    refuse("queue_depth", "limit", `attribute queue_depth must be in 1..hw_queue_depth (${next.hw_queue_depth})`);
  }
  return { next, refusals };
}

/** Node ACL attribute ranges (lio-model.md §2.3). */
export const nodeAclAttributeRanges: Record<string, [number, number]> = {
  dataout_timeout: [2, 60],
  dataout_timeout_retries: [1, 15],
  default_erl: [0, 2],
  nopin_response_timeout: [3, 60],
  nopin_timeout: [3, 60],
  random_datain_pdu_offsets: [0, 1],
  random_datain_seq_offsets: [0, 1],
  random_r2t_offsets: [0, 1],
};

/** iSCSI TPG parameter types (lio-model.md §2.4): what a value must look like. */
export type ParameterRule =
  | { kind: "list"; values: readonly string[] }
  | { kind: "bool" }
  | { kind: "number"; range: readonly [number, number] }
  | { kind: "text" }
  | { kind: "fixed"; values: readonly string[]; why: string };

/**
 * Where Portico implements less than RFC 7143 lets a target offer, the TPG parameter has one
 * value (LIO's default), and why. Everything else about a key comes from the RFC key table.
 */
const PORTICO_FIXED: Readonly<Record<string, { values: string[]; why: string }>> = {
  MaxConnections: { values: ["1"], why: "a session has one connection (MC/S is not supported)" },
  // "No" would let an initiator that also says No send Data-Out out of order (RFC 7143 §13.19-20: OR).
  DataPDUInOrder: { values: ["Yes"], why: "Portico accepts Data-Out PDUs only in order" },
  DataSequenceInOrder: { values: ["Yes"], why: "Portico sends R2Ts and accepts Data-Out sequences only in order" },
  ErrorRecoveryLevel: { values: ["0"], why: "only ErrorRecoveryLevel 0 is implemented" },
  IFMarker: { values: ["No"], why: "markers are not supported (LIO always rejects them)" },
  OFMarker: { values: ["No"], why: "markers are not supported (LIO always rejects them)" },
};
const MARKERS_WHY = "markers are not supported (LIO always rejects them)";

/**
 * A TPG parameter's rule, derived from the RFC key table (iscsi/negotiation.ts KEY_TABLE, the one
 * table of RFC 7143 §13 keys) so configuration accepts exactly what negotiation can offer:
 * list keys take the table's values, numeric keys its range, Yes/No keys (and/or) a boolean,
 * declarative text (TargetAlias) printable text; `reject` keys (IFMarkInt/OFMarkInt) stay "Reject".
 * MaxXmitDataSegmentLength is LIO's, not an RFC key (a cap on what Portico sends per PDU; never
 * negotiated), with MaxRecvDataSegmentLength's range.
 */
function parameterRule(name: string): ParameterRule | undefined {
  if (!(name in tpgParameterDefaults)) return undefined;
  const fixed = PORTICO_FIXED[name];
  if (fixed) return { kind: "fixed", ...fixed };
  const def = KEY_TABLE[name === "MaxXmitDataSegmentLength" ? "MaxRecvDataSegmentLength" : name];
  if (!def) return undefined;
  switch (def.kind) {
    case "list":
      return { kind: "list", values: def.values! };
    case "and":
    case "or":
      return { kind: "bool" };
    case "min":
    case "max":
    case "number-declarative":
      return { kind: "number", range: def.range! };
    case "declarative":
      return { kind: "text" };
    case "reject":
      return { kind: "fixed", values: ["Reject"], why: MARKERS_WHY };
  }
}

/** Every TPG parameter's rule (one per key of tpgParameterDefaults), derived from the RFC key table. */
export const tpgParameterRules: Readonly<Record<string, ParameterRule>> = Object.fromEntries(
  Object.keys(tpgParameterDefaults).flatMap((k) => {
    const rule = parameterRule(k);
    return rule ? [[k, rule]] : [];
  }),
);

/**
 * Why `value` is not a valid value of TPG parameter `name`, or undefined when it is: the one check
 * the engine (Engine.setTpgParameter), saveconfig import and the API/console's zod schema call.
 */
export function tpgParameterProblem(name: string, value: unknown): string | undefined {
  const rule = tpgParameterRules[name];
  if (!rule) return `unknown iSCSI parameter "${name}"`;
  if (typeof value !== "string" || value.length > 255) return `iSCSI parameter ${name} must be at most 255 characters`;
  switch (rule.kind) {
    case "list": {
      const items = value.split(",");
      if (!value || items.some((v) => !rule.values.includes(v)) || new Set(items).size !== items.length) {
        return `iSCSI parameter ${name} must be a comma-separated list of ${rule.values.join(", ")}`;
      }
      return undefined;
    }
    case "bool":
      return value === "Yes" || value === "No" ? undefined : `iSCSI parameter ${name} must be Yes or No`;
    case "number": {
      const n = /^\d+$/.test(value) ? Number(value) : NaN;
      return n >= rule.range[0] && n <= rule.range[1] ? undefined : `iSCSI parameter ${name} must be a number in ${rule.range[0]}..${rule.range[1]}`;
    }
    case "text":
      return /^[\x20-\x7e\u00a0-\uffff]*$/.test(value) ? undefined : `iSCSI parameter ${name} must be printable text`;
    case "fixed":
      return rule.values.includes(value) ? undefined : `iSCSI parameter ${name} can only be ${rule.values.join(" or ")}: ${rule.why}`;
  }
}

/** What a TPG parameter accepts, in words (the console's "Allowed" column and the shell's help). */
export function describeTpgParameter(name: string): string {
  const rule = tpgParameterRules[name];
  switch (rule?.kind) {
    case "list":
      return `comma-separated: ${rule.values.join(", ")}`;
    case "bool":
      return "Yes or No";
    case "number":
      return `${rule.range[0]}..${rule.range[1]}`;
    case "text":
      return "printable text, up to 255 characters";
    case "fixed":
      return `only ${rule.values.join(" or ")}`;
    default:
      return "";
  }
}

/**
 * The values a form offers for a TPG parameter, or undefined for free entry: Yes/No, or every
 * non-empty ordering of a list key's values (the order is the target's preference, RFC 7143 §6.2).
 */
export function tpgParameterChoices(name: string): string[] | undefined {
  const rule = tpgParameterRules[name];
  if (rule?.kind === "bool") return ["Yes", "No"];
  if (rule?.kind !== "list") return undefined;
  const orderings = (items: readonly string[]): string[][] =>
    items.length === 0 ? [[]] : items.flatMap((first, i) => orderings(items.filter((_, j) => j !== i)).map((rest) => [first, ...rest]));
  const subsets = (items: readonly string[]): string[][] =>
    items.length === 0 ? [[]] : ((rest) => [...rest.map((s) => [items[0], ...s]), ...rest])(subsets(items.slice(1)));
  const all = subsets(rule.values).filter((s) => s.length > 0).flatMap(orderings).map((o) => o.join(","));
  // Longest (most permissive) first, as LIO's defaults are.
  return all.sort((a, b) => b.split(",").length - a.split(",").length);
}

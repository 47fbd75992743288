/**
 * LIO's defaults for attributes and parameters, as data (lio-model.md §2).
 * One table per object kind; the engine starts every object from these.
 */

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
};
export const DEFAULT_REVISION = "4.0";

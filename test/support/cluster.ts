/**
 * The saveconfig.json the cluster tests and bench/failover restore on every node: one RBD image as
 * one LU of one target, served by two gateways (gw-a, gw-b), each through its own TPG (tags 1 and
 * 2, the node named in the TPG) and its own ALUA group (ids 1 and 2, named after the node), so
 * ownership manages each group (docs/cluster.md, "Configuration it needs").
 */
import { AluaState } from "../../server/engine/scsi/alua";

export interface TwoGatewayRbd {
  iqn: string;
  /** The storage object's name and the image's name in pool `rbd`. */
  lu: string;
  sizeBytes: number;
  wwn: string;
  cephConf: string;
  /** The iSCSI ports of gw-a and gw-b on 127.0.0.1. */
  ports: [number, number];
  /** The ALUA groups' nonop_delay_msecs; LIO's default is 100. */
  nonopDelayMsecs?: number;
}

export function twoGatewayRbdSaveconfig(c: TwoGatewayRbd): object {
  const group = (name: string, id: number) => ({
    alua_access_state: AluaState.STANDBY, alua_access_status: 0, alua_access_type: 1, alua_support_active_nonoptimized: 1, alua_support_active_optimized: 1,
    alua_support_offline: 1, alua_support_standby: 1, alua_support_transitioning: 1, alua_support_unavailable: 1, alua_write_metadata: 0,
    implicit_trans_secs: 0, name, nonop_delay_msecs: c.nonopDelayMsecs ?? 100, preferred: 0, tg_pt_gp_id: id, trans_delay_msecs: 0,
  });
  return {
    fabric_modules: [],
    storage_objects: [
      {
        plugin: "user", name: c.lu, size: c.sizeBytes, config: `rbd/rbd/${c.lu};conf=${c.cephConf};osd_op_timeout=10`, wwn: c.wwn,
        attributes: { block_size: 512 }, alua_tpgs: [group("default_tg_pt_gp", 0), group("gw-a", 1), group("gw-b", 2)],
      },
    ],
    targets: [
      {
        fabric: "iscsi",
        wwn: c.iqn,
        tpgs: [
          { tag: 1, node: "gw-a", port: c.ports[0] },
          { tag: 2, node: "gw-b", port: c.ports[1] },
        ].map((t) => ({
          tag: t.tag,
          node: t.node,
          enable: true,
          attributes: { authentication: 0, generate_node_acls: 1, demo_mode_write_protect: 0, cache_dynamic_acls: 1 },
          parameters: {},
          luns: [{ index: 0, storage_object: `/backstores/user:rbd/${c.lu}`, alua_tg_pt_gp_name: t.node }],
          portals: [{ ip_address: "127.0.0.1", port: t.port }],
          node_acls: [],
        })),
      },
    ],
  };
}

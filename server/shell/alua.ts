/**
 * targetcli's ALUA nodes (ui_backstore.py UIALUATargetPortGroups / UIALUATargetPortGroup, ui_target.py
 * UILUN): `<so>/alua` with `create name tag` and `delete name`; `<so>/alua/<group>` with the `alua`
 * get/set group (LIO's attribute names; a new alua_access_state is an implicit transition); and the
 * `alua` group on a LUN (`set alua alua_tg_pt_gp_name=<group>`).
 */
import { ALUA_GROUP_ATTRIBUTES, DEFAULT_ALUA_GROUP_NAME, aluaGroupDefaults } from "../engine/core/alua";
import type { AluaGroupConfig, StorageObjectConfig, TargetConfig, TpgConfig } from "../config/model";
import { storageObjectPath } from "../config/model";
import { ShellError } from "./grammar";
import type { CommandDef, GroupDef, ShellContext, ShellNode } from "./types";

/** targetcli's alua_state_names (its spelling, for `ls`). */
const STATE_NAMES: Record<number, string> = {
  0: "Active/optimized",
  1: "Active/non-optimized",
  2: "Standby",
  3: "Unavailable",
  4: "LBA Dependent",
  14: "Offline",
  15: "Transitioning",
};

/** targetcli's ui_desc_alua help strings. */
const DESCRIPTIONS: Record<string, string> = {
  alua_access_state: "ALUA state: 0 - Active/optimized, 1 - Active/unoptimized, 2 - Standby, 3 - Unavailable, 14 - Offline, 15 - Transitioning (a change is an implicit transition: sessions get 2Ah/06h)",
  alua_access_status: "ALUA status: 0 - None, 1 - Altered by Explicit STPG, 2 - Altered by Implicit ALUA",
  alua_access_type: "ALUA access type: 0 - None, 1 - Implicit, 2 - Explicit, 3 - Implicit and Explicit",
  alua_support_active_nonoptimized: "Enable (1) or disable (0) Active/non-optimized support",
  alua_support_active_optimized: "Enable (1) or disable (0) Active/optimized support",
  alua_support_offline: "Enable (1) or disable (0) offline support",
  alua_support_standby: "Enable (1) or disable (0) standby support",
  alua_support_transitioning: "Enable (1) or disable (0) transitioning support",
  alua_support_unavailable: "Enable (1) or disable (0) unavailable support",
  alua_write_metadata: "Write ALUA metadata: 0 - no, 1 - yes (Portico stores every state in its database either way)",
  implicit_trans_secs: "Implicit transition time limit in seconds (0..255), reported by REPORT TARGET PORT GROUPS",
  nonop_delay_msecs: "Delay in milliseconds for each command through an Active/non-optimized port (0..10000)",
  preferred: "Preferred target port group: 0 - no, 1 - yes",
  trans_delay_msecs: "Delay in milliseconds of a state transition, in Transitioning (0..30000)",
};

const join = (parent: string, name: string) => `${parent}/${name}`;

/** The groups of a storage object as stored, with default_tg_pt_gp (LIO's defaults when not stored). */
function groupsOf(so: StorageObjectConfig): AluaGroupConfig[] {
  const list = so.aluaGroups ?? [];
  return list.some((g) => g.name === DEFAULT_ALUA_GROUP_NAME) ? list : [{ name: DEFAULT_ALUA_GROUP_NAME, id: 0, attributes: aluaGroupDefaults() }, ...list];
}

function groupNode(ctx: ShellContext, so: StorageObjectConfig, g: AluaGroupConfig, parent: string): ShellNode {
  const live = () => ctx.engine.storageObjects.get(`${so.plugin}/${so.name}`)?.aluaGroups.get(g.name);
  const value = (k: string) => live()?.attributes[k] ?? g.attributes[k];
  const alua: GroupDef = {
    params: () => ALUA_GROUP_ATTRIBUTES.map((name) => ({ name, type: "number" as const, description: DESCRIPTIONS[name] ?? name })),
    get: (_c, name) => String(value(name)),
    set: async (c, values) => {
      await c.service.setAluaGroupAttributes(so.plugin, so.name, g.name, Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number(v)])));
    },
  };
  return {
    name: g.name,
    path: join(parent, g.name),
    summary: () => ({ text: `ALUA state: ${STATE_NAMES[value("alua_access_state")] ?? value("alua_access_state")}`, healthy: true }),
    children: () => [],
    commands: {},
    groups: { alua: alua },
    info: () => {
      const l = live();
      const members = l ? l.members().map((m) => `iscsi/${m.tpg.target.wwn}/tpgt_${m.tpg.tag}/lun_${m.index}`) : [];
      return { name: g.name, tg_pt_gp_id: g.id, members: members.join(" ") || "(none)", ...Object.fromEntries(ALUA_GROUP_ATTRIBUTES.map((k) => [k, value(k)])) };
    },
  };
}

/** `<so>/alua`: the storage object's ALUA target port groups. */
export function aluaNode(ctx: ShellContext, so: StorageObjectConfig, soPath: string): ShellNode {
  const aluaPath = join(soPath, "alua");
  const groups = () => groupsOf(so);
  const create: CommandDef = {
    params: [{ name: "name" }, { name: "tag" }],
    help: "Creates a new ALUA target port group with the given name and tag (its tg_pt_gp_id, 1..65535; 0 is default_tg_pt_gp's).",
    async run(c, args) {
      const tag = /^\d+$/.test(args.tag!) ? Number(args.tag) : NaN;
      if (!Number.isInteger(tag)) throw new ShellError(`Invalid tag ${args.tag}: a number 1..65535.`);
      await c.service.createAluaGroup(so.plugin, so.name, args.name!, tag);
      c.print(`Created ALUA TPG ${args.name}.`);
      c.setJson({ created: `${aluaPath}/${args.name}`, id: tag });
    },
  };
  const del: CommandDef = {
    params: [{ name: "name" }],
    help: "Deletes the ALUA target port group; its LUNs go back to default_tg_pt_gp. default_tg_pt_gp cannot be deleted.",
    complete: (_c, param) => (param === "name" ? groups().filter((g) => g.name !== DEFAULT_ALUA_GROUP_NAME).map((g) => g.name) : []),
    async run(c, args) {
      if (!groups().some((g) => g.name === args.name)) throw new ShellError("Invalid ALUA group name");
      await c.service.deleteAluaGroup(so.plugin, so.name, args.name!);
      c.print(`Deleted ALUA TPG ${args.name}.`);
      c.setJson({ deleted: `${aluaPath}/${args.name}` });
    },
  };
  return {
    name: "alua",
    path: aluaPath,
    summary: () => ({ text: `ALUA Groups: ${groups().length}`, healthy: true }),
    children: () => groups().map((g) => groupNode(ctx, so, g, aluaPath)),
    commands: { create, delete: del },
    groups: {},
  };
}

/** The group a LUN is in, as its `ls` summary shows it. */
export function lunAluaGroupName(_ctx: ShellContext, _t: TargetConfig, tpg: TpgConfig, lun: number): string {
  return tpg.luns.find((l) => l.index === lun)?.aluaGroup ?? DEFAULT_ALUA_GROUP_NAME;
}

/** `set alua alua_tg_pt_gp_name=<group>` on a LUN (targetcli UILUN). */
export function lunAluaGroup(ctx: ShellContext, t: TargetConfig, tpg: TpgConfig, lun: number): GroupDef {
  return {
    params: () => [
      {
        name: "alua_tg_pt_gp_name",
        type: "string",
        description: "The ALUA target port group of this LUN (a group under its storage object's alua/ node).",
        values: (() => {
          const l = tpg.luns.find((x) => x.index === lun);
          const so = l && ctx.config.storageObjects.find((s) => storageObjectPath(s) === l.storageObject);
          return so ? groupsOf(so).map((g) => g.name) : [];
        })(),
      },
    ],
    get: () => lunAluaGroupName(ctx, t, tpg, lun),
    set: async (c, values) => {
      const name = String(values.alua_tg_pt_gp_name);
      await c.service.setLunAluaGroup(t.wwn, tpg.tag, lun, name);
    },
  };
}

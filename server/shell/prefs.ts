/**
 * targetcli's global preferences (targetcli_shell.py default_prefs), under `set global`.
 * Stored in the appliance's settings, by their targetcli names, so the console and
 * every shell share them (auto_add_mapped_luns and max_backup_files are also the
 * configuration service's own settings).
 */
import type { GroupDef, GroupParam, ShellContext } from "./types";

export const PREFS: (GroupParam & { default: boolean | number | string })[] = [
  { name: "auto_add_default_portal", type: "bool", default: true, description: "If true, adds a portal listening on all IPs (::0) to new TPGs.", values: ["true", "false"] },
  { name: "auto_add_mapped_luns", type: "bool", default: true, description: "If true, a new ACL maps every LUN of its TPG, and a new LUN is mapped into every ACL.", values: ["true", "false"] },
  { name: "auto_cd_after_create", type: "bool", default: false, description: "If true, changes the current path to newly created objects.", values: ["true", "false"] },
  { name: "auto_enable_tpgt", type: "bool", default: true, description: "If true, new TPGs are enabled.", values: ["true", "false"] },
  { name: "auto_save_on_exit", type: "bool", default: true, description: "Portico saves every change as it is made; kept for compatibility.", values: ["true", "false"] },
  { name: "export_backstore_name_as_model", type: "bool", default: true, description: "If true, the storage object's name is its INQUIRY model (emulate_model_alias=1).", values: ["true", "false"] },
  { name: "max_backup_files", type: "number", default: 10, description: "Number of configuration backups kept in <data dir>/backup." },
];

export function pref(ctx: ShellContext, name: string): boolean | number | string | undefined {
  const p = PREFS.find((x) => x.name === name);
  return ctx.service.preference<boolean | number | string>(name) ?? p?.default;
}

export const globalGroup: GroupDef = {
  params: () => PREFS.map(({ default: _d, ...p }) => p),
  get: (ctx, name) => {
    const v = pref(ctx, name);
    return v === undefined ? "" : String(v);
  },
  set: async (ctx, values) => {
    await ctx.service.setPreferences(values);
  },
};

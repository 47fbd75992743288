/**
 * targetcli's tree, built from the stored configuration each time a command runs
 * (so every shell sees the others' changes at its next command):
 *
 *   /backstores/<kind>/<name>[/alua/<group>]
 *   /iscsi/<wwn>/tpgN/{acls/<initiator>/mapped_lunN, luns/lunN, portals/<ip:port>}
 *
 * Node kinds, their summaries (ui_*.py summary()), commands and get/set groups.
 * Extension points: BACKSTORE_KINDS (backstores.ts) for backstore directories,
 * `storageObjectChildren` for nodes under a storage object (ALUA groups),
 * `lunGroups` for get/set groups on a LUN (`set alua`).
 */
import fs from "node:fs";
import path from "node:path";
import { paths, storageObjectPath, type Chap, type NodeAclConfig, type StorageObjectConfig, type TargetConfig, type TpgConfig } from "../config/model";
import { nodeAclAttributeDefaults, nodeAclAttributeRanges, storageObjectAttributeRules, tpgAttributeDefaults, tpgAttributeRanges, tpgParameterChoices, tpgParameterDefaults, tpgParameterRules, describeTpgParameter } from "../engine/core/defaults";
import { portalKey } from "../engine/core/names";
import { BACKSTORE_KINDS, backstoreKind, backstoreKindOf, type BackstoreKind } from "./backstores";
import { naturalCompare, parseBool, ShellError } from "./grammar";
import { globalGroup, pref } from "./prefs";
import type { CommandDef, GroupDef, GroupParam, ShellContext, ShellNode, Summary } from "./types";
import { rootCommands } from "./root";
import { aluaNode, lunAluaGroup as lunAluaGroupDef, lunAluaGroupName } from "./alua";

type Children = () => ShellNode[];

function node(name: string, nodePath: string, summary: () => Summary, children: Children = () => [], extra: Partial<ShellNode> = {}): ShellNode {
  return { name, path: nodePath, summary, children, commands: {}, groups: {}, ...extra };
}

const join = (parent: string, name: string) => (parent === "/" ? `/${name}` : `${parent}/${name}`);
const ok = (text = ""): Summary => ({ text, healthy: true });
const unknown: () => Summary = () => ({ text: "" });

/** Nodes under a storage object: `alua/` (shell/alua.ts). */
export const storageObjectChildren: ((ctx: ShellContext, so: StorageObjectConfig, soPath: string) => ShellNode)[] = [aluaNode];

/** get/set groups on a LUN node (`alua`), by name. */
export const lunGroups: Record<string, (ctx: ShellContext, t: TargetConfig, tpg: TpgConfig, lun: number) => GroupDef> = { alua: lunAluaGroupDef };

/** The ALUA group a LUN's summary names. */
export let lunAluaGroup: (ctx: ShellContext, t: TargetConfig, tpg: TpgConfig, lun: number) => string = lunAluaGroupName;
export function setLunAluaGroup(fn: typeof lunAluaGroup): void {
  lunAluaGroup = fn;
}

// ---- helpers -----------------------------------------------------------------

function yesNo(v: boolean): string {
  return v ? "true" : "false";
}

const BOOL_VALUES = ["true", "false"];

function numberGroup(opts: {
  names: () => string[];
  value: (name: string) => number | undefined;
  readOnly?: (name: string) => boolean;
  describe: (name: string) => string;
  apply: (changes: Record<string, number>) => Promise<unknown>;
}): GroupDef {
  return {
    params: () => opts.names().map((name) => ({ name, type: "number", readOnly: opts.readOnly?.(name), description: opts.describe(name) })),
    get: (_ctx, name) => String(opts.value(name) ?? ""),
    set: async (_ctx, values) => {
      await opts.apply(Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number(v)])));
    },
  };
}

const CHAP_PARAMS: [keyof Chap, string, string][] = [
  ["userid", "userid", "The initiator's CHAP user name (1-way authentication)."],
  ["password", "password", "The initiator's CHAP secret (12 to 255 characters)."],
  ["mutualUserid", "mutual_userid", "The target's CHAP user name (mutual authentication)."],
  ["mutualPassword", "mutual_password", "The target's CHAP secret (mutual authentication; differs from password)."],
];

function chapGroup(current: () => Chap, apply: (chap: Chap) => Promise<unknown>, extra?: { enable: () => boolean }): GroupDef {
  return {
    params: () => [
      ...(extra ? [{ name: "enable", type: "bool" as const, description: "Requires CHAP for discovery sessions (SendTargets).", values: BOOL_VALUES }] : []),
      ...CHAP_PARAMS.map(([, name, description]) => ({ name, type: "string" as const, description })),
    ],
    get: (_ctx, name) => {
      if (name === "enable") return yesNo(extra!.enable());
      const field = CHAP_PARAMS.find((p) => p[1] === name)![0];
      return current()[field] ?? "";
    },
    set: async (_ctx, values) => {
      const chap: Chap & { enabled?: boolean } = { ...current() };
      for (const [k, v] of Object.entries(values)) {
        if (k === "enable") chap.enabled = Boolean(v);
        else chap[CHAP_PARAMS.find((p) => p[1] === k)![0]] = String(v);
      }
      await apply(chap);
    },
  };
}

/** targetcli's create/delete messages name a storage object `fileio/disk1`. */
function soLabel(so: { plugin: string; name: string }): string {
  return `${backstoreKindOf(so.plugin)?.dir ?? so.plugin}/${so.name}`;
}

// ---- backstores ----------------------------------------------------------------

function storageObjectNode(ctx: ShellContext, kind: BackstoreKind, so: StorageObjectConfig, parent: string): ShellNode {
  const soPath = join(parent, so.name);
  const live = () => ctx.engine.storageObjects.get(`${so.plugin}/${so.name}`);
  return node(
    so.name,
    soPath,
    () => {
      const l = live();
      return { text: `${kind.summary(so, l ? { sizeBytes: l.sizeBytes, writeBack: l.writeBack } : undefined)} ${l ? "activated" : "deactivated"}`, healthy: Boolean(l) };
    },
    () => storageObjectChildren.map((f) => f(ctx, so, soPath)),
    {
      groups: {
        attribute: numberGroup({
          names: () => Object.keys(live()?.attributes ?? so.attributes).sort(),
          value: (n) => live()?.attributes[n] ?? so.attributes[n],
          readOnly: (n) => Boolean(storageObjectAttributeRules[n]?.readOnly),
          describe: (n) => describeSoAttribute(n),
          apply: (changes) => ctx.service.setStorageObjectAttributes(so.plugin, so.name, changes),
        }),
      },
      info: () => {
        const l = live();
        return {
          dev: so.dev ?? "",
          name: so.name,
          plugin: kind.dir,
          size: l?.sizeBytes ?? so.size ?? 0,
          ...(so.plugin === "fileio" || so.plugin === "block" ? { write_back: l?.writeBack ?? so.writeBack } : {}),
          wwn: l?.wwn ?? so.wwn ?? "",
          status: l ? "activated" : "deactivated",
        };
      },
    },
  );
}

function describeSoAttribute(name: string): string {
  const r = storageObjectAttributeRules[name];
  if (!r) return `Storage object attribute ${name}.`;
  if (r.readOnly) return `${name} (read-only, reported by the device).`;
  if (r.fixed !== undefined) return `${name}: fixed at ${r.fixed} (${r.why ?? "not changeable"}).`;
  const range = r.values ? `one of ${r.values.join(", ")}` : r.range ? `${r.range[0]}..${r.range[1]}` : "";
  return `${name}${range ? `: ${range}` : ""}${r.exported === false ? "; not while exported by a LUN" : ""}.`;
}

function backstoreDirNode(ctx: ShellContext, kind: BackstoreKind, parent: string): ShellNode {
  const dirPath = join(parent, kind.dir);
  const objects = () => ctx.config.storageObjects.filter((so) => so.plugin === kind.plugin);
  const create: CommandDef = {
    params: kind.createParams,
    help: kind.createHelp,
    complete: (_c, param) =>
      param === "write_back" || param === "sparse" || param === "readonly" || param === "nullio" || param === "exclusive" || param === "overcommit" ? BOOL_VALUES : [],
    async run(c, args) {
      const notes: string[] = [];
      const input = kind.toCreate({ ...args, file_or_dev: args.file_or_dev && path.resolve(c.workdir, args.file_or_dev), dev: args.dev && path.resolve(c.workdir, args.dev) }, (l) => notes.push(l));
      if (pref(c, "export_backstore_name_as_model") === false) input.attributes = { ...input.attributes, emulate_model_alias: 0 };
      const so = await c.service.createStorageObject(input);
      for (const n of notes) c.print(n);
      const bytes = c.engine.storageObjects.get(`${so.plugin}/${so.name}`)?.sizeBytes ?? so.size;
      if (kind.dir === "fileio") c.print(`Created fileio ${so.name} with size ${bytes}`);
      else if (kind.dir === "ramdisk") c.print(`Created ramdisk ${so.name} with size ${args.size}.`);
      else if (kind.dir === "block") c.print(`Created block storage object ${so.name} using ${so.dev}.`);
      else c.print(`Created ${kind.dir} storage object ${so.name}.`);
      c.setJson({ created: storageObjectPath({ plugin: kind.dir, name: so.name }), storageObject: so });
      afterCreate(c, join(dirPath, so.name));
    },
  };
  const del: CommandDef = {
    params: [{ name: "name" }, { name: "save", default: "None" }, ...(kind.plugin === "fileio" ? [{ name: "delete_file", default: "false" }] : [])],
    help:
      "Recursively deletes the storage object having the specified name. If there are LUNs using this storage object, they will be deleted too." +
      (kind.plugin === "fileio" ? " As in targetcli the backing file is kept; delete_file=true (a Portico extension) deletes it too." : ""),
    complete: (_c, param) => (param === "name" ? objects().map((so) => so.name) : param === "delete_file" ? BOOL_VALUES : []),
    async run(c, args) {
      const so = objects().find((o) => o.name === args.name);
      if (!so) throw new ShellError(`No storage object named ${args.name}.`);
      const deleteFile = args.delete_file !== undefined && parseBool(args.delete_file, "delete_file");
      // Cascade as targetcli does: LUNs (and their mapped LUNs) go with the object.
      const ref = storageObjectPath(so);
      for (const t of c.config.targets)
        for (const tpg of t.tpgs) for (const l of tpg.luns) if (l.storageObject === ref) await c.service.deleteLun(t.wwn, tpg.tag, l.index);
      const r = await c.service.deleteStorageObject(so.plugin, so.name, { deleteFile });
      c.print(`Deleted storage object ${so.name}.`);
      if (r.fileDeleted) c.print(`Deleted file ${r.fileDeleted}.`);
      c.setJson({ deleted: ref, ...(r.fileDeleted ? { fileDeleted: r.fileDeleted } : {}) });
    },
  };
  return node(
    kind.dir,
    dirPath,
    () => ok(`Storage Objects: ${objects().length}`),
    () => objects().map((so) => storageObjectNode(ctx, kind, so, dirPath)),
    { commands: { create, delete: del } },
  );
}

// ---- iSCSI ----------------------------------------------------------------------

function afterCreate(ctx: ShellContext, newPath: string): void {
  if (pref(ctx, "auto_cd_after_create") === true) {
    ctx.print(`Entering new node ${newPath}`);
    ctx.cd(newPath);
  }
}

function tpgSummary(tpg: TpgConfig): Summary {
  if (!tpg.enabled) return { text: "disabled", healthy: false };
  const attr = { ...tpgAttributeDefaults, ...tpg.attributes };
  const msg = [attr.generate_node_acls ? "gen-acls" : "no-gen-acls"];
  if (!attr.authentication) msg.push("no-auth");
  else if (tpg.chap.userid) msg.push("tpg-auth", tpg.chap.mutualUserid ? "mutual auth" : "1-way auth");
  else msg.push("auth per-acl");
  return ok(msg.join(", "));
}

function aclSummary(tpg: TpgConfig, acl: NodeAclConfig): Summary {
  const attr = { ...tpgAttributeDefaults, ...tpg.attributes };
  let auth = "";
  if (attr.authentication && tpg.chap.userid && !acl.chap.userid) auth = "auth via tpg, ";
  else if (acl.chap.userid) auth = acl.chap.mutualUserid ? "mutual auth, " : "1-way auth, ";
  return ok(`${auth}Mapped LUNs: ${acl.mappedLuns.length}`);
}

function lunSummary(ctx: ShellContext, t: TargetConfig, tpg: TpgConfig, index: number): Summary {
  const lun = tpg.luns.find((l) => l.index === index)!;
  const so = ctx.config.storageObjects.find((s) => storageObjectPath(s) === lun.storageObject);
  if (!so) return { text: "BROKEN STORAGE LINK", healthy: false };
  return ok(`${soLabel(so)}${so.dev ? ` (${so.dev})` : ""} (${lunAluaGroup(ctx, t, tpg, index)})`);
}

function mappedLunNode(ctx: ShellContext, t: TargetConfig, tpg: TpgConfig, acl: NodeAclConfig, m: NodeAclConfig["mappedLuns"][number], parent: string): ShellNode {
  const lun = tpg.luns.find((l) => l.index === m.tpgLun);
  const so = lun && ctx.config.storageObjects.find((s) => storageObjectPath(s) === lun.storageObject);
  return node(
    `mapped_lun${m.index}`,
    join(parent, `mapped_lun${m.index}`),
    () => (so ? ok(`lun${m.tpgLun} ${soLabel(so)} (${m.writeProtect ? "ro" : "rw"})`) : { text: "BROKEN LUN LINK", healthy: false }),
    () => [],
    {
      groups: {
        attribute: {
          params: () => [{ name: "write_protect", type: "bool", description: "The initiator sees this LUN read-only.", values: BOOL_VALUES }],
          get: () => yesNo(m.writeProtect),
          set: async (c, values) => c.service.setMappedLunWriteProtect(t.wwn, tpg.tag, acl.initiatorName, m.index, Boolean(values.write_protect)),
        },
      },
      info: () => ({ mapped_lun: m.index, tpg_lun: m.tpgLun, write_protect: m.writeProtect }),
    },
  );
}

function aclNode(ctx: ShellContext, t: TargetConfig, tpg: TpgConfig, acl: NodeAclConfig, parent: string): ShellNode {
  const aclPath = join(parent, acl.initiatorName);
  const create: CommandDef = {
    params: [{ name: "mapped_lun" }, { name: "tpg_lun_or_backstore" }, { name: "write_protect", default: "false" }],
    help: "Creates a mapping to one of the TPG LUNs for the initiator referenced by the ACL. tpg_lun_or_backstore is a TPG LUN (lun0 or 0), or a storage object (/backstores/fileio/disk1): the TPG LUN that exports it, created if there is none.",
    complete: (c, param) =>
      param === "tpg_lun_or_backstore"
        ? [...tpg.luns.map((l) => `lun${l.index}`), ...c.config.storageObjects.map((so) => `/backstores/${backstoreKindOf(so.plugin)?.dir ?? so.plugin}/${so.name}`)]
        : param === "write_protect"
          ? BOOL_VALUES
          : [],
    async run(c, args) {
      const index = lunNumber(args.mapped_lun!, "mapped_lun");
      const wp = args.write_protect === undefined ? false : parseBool(args.write_protect, "write_protect");
      const target = args.tpg_lun_or_backstore!;
      let tpgLun: number;
      let madeLun: number | undefined;
      if (target.includes("/")) {
        const ref = storageObjectRef(target);
        if (!c.config.storageObjects.some((so) => storageObjectPath(so) === ref)) throw new ShellError(`Invalid storage object ${target}.`);
        const existing = tpg.luns.find((l) => l.storageObject === ref);
        if (existing) tpgLun = existing.index;
        else {
          tpgLun = madeLun = (await c.service.createLun(t.wwn, tpg.tag, ref, { addMappedLuns: false })).index;
          c.print(`Created LUN ${tpgLun}.`);
        }
      } else tpgLun = lunNumber(target, "tpg_lun_or_backstore");
      try {
        await c.service.createMappedLun(t.wwn, tpg.tag, acl.initiatorName, { index, tpgLun, writeProtect: wp });
      } catch (err) {
        // All or nothing: the LUN made for this mapping goes too.
        if (madeLun !== undefined) await c.service.deleteLun(t.wwn, tpg.tag, madeLun).catch(() => undefined);
        throw err;
      }
      c.print(`Created Mapped LUN ${index}.`);
      c.setJson({ created: paths.mappedLun(t.wwn, tpg.tag, acl.initiatorName, index) });
      afterCreate(c, join(aclPath, `mapped_lun${index}`));
    },
  };
  const del: CommandDef = {
    params: [{ name: "mapped_lun" }],
    help: "Deletes the specified mapped LUN.",
    complete: (_c, param) => (param === "mapped_lun" ? acl.mappedLuns.map((m) => String(m.index)) : []),
    async run(c, args) {
      const index = lunNumber(args.mapped_lun!, "mapped_lun");
      await c.service.deleteMappedLun(t.wwn, tpg.tag, acl.initiatorName, index);
      c.print(`Deleted Mapped LUN ${index}.`);
      c.setJson({ deleted: paths.mappedLun(t.wwn, tpg.tag, acl.initiatorName, index) });
    },
  };
  return node(
    acl.initiatorName,
    aclPath,
    () => aclSummary(tpg, acl),
    () => acl.mappedLuns.map((m) => mappedLunNode(ctx, t, tpg, acl, m, aclPath)),
    {
      commands: { create, delete: del },
      groups: {
        attribute: numberGroup({
          names: () => Object.keys(nodeAclAttributeDefaults).sort(),
          value: (n) => acl.attributes[n] ?? nodeAclAttributeDefaults[n],
          describe: (n) => `${n}: ${nodeAclAttributeRanges[n]?.join("..") ?? ""}.`,
          apply: (changes) => ctx.service.updateNodeAcl(t.wwn, tpg.tag, acl.initiatorName, { attributes: changes }),
        }),
        auth: chapGroup(
          () => acl.chap,
          (chap) => ctx.service.setNodeAclAuth(t.wwn, tpg.tag, acl.initiatorName, chap),
        ),
      },
      info: () => ({ initiator: acl.initiatorName, acl_tag: acl.aclTag ?? "", cmdsn_depth: acl.cmdsnDepth ?? tpgAttributeDefaults.default_cmdsn_depth }),
    },
  );
}

function lunNumber(raw: string, name: string): number {
  const m = /^(?:lun|mapped_lun)?(\d+)$/.exec(raw);
  if (!m) throw new ShellError(`Not setting ${name}! Syntax error, '${raw}' is not a NUMBER.`);
  return Number(m[1]);
}

function aclsNode(ctx: ShellContext, t: TargetConfig, tpg: TpgConfig, parent: string): ShellNode {
  const aclsPath = join(parent, "acls");
  const create: CommandDef = {
    params: [{ name: "wwn" }, { name: "add_mapped_luns", default: "None" }],
    help: "Creates a Node ACL for the initiator node with the specified wwn. With add_mapped_luns (default: the auto_add_mapped_luns preference) every TPG LUN is mapped into it.",
    complete: (_c, param) => (param === "add_mapped_luns" ? BOOL_VALUES : []),
    async run(c, args) {
      const add = args.add_mapped_luns === undefined ? pref(c, "auto_add_mapped_luns") !== false : parseBool(args.add_mapped_luns, "add_mapped_luns");
      const r = await c.service.createNodeAcl(t.wwn, tpg.tag, args.wwn!, { addMappedLuns: add });
      c.print(`Created Node ACL for ${r.initiatorName}`);
      for (const m of r.mappedLuns) c.print(`Created Mapped LUN ${m}.`);
      c.setJson({ created: paths.acl(t.wwn, tpg.tag, r.initiatorName), mappedLuns: r.mappedLuns });
      afterCreate(c, join(aclsPath, r.initiatorName));
    },
  };
  const del: CommandDef = {
    params: [{ name: "wwn" }],
    help: "Deletes the Node ACL with the specified wwn.",
    complete: (_c, param) => (param === "wwn" ? tpg.nodeAcls.map((a) => a.initiatorName) : []),
    async run(c, args) {
      await c.service.deleteNodeAcl(t.wwn, tpg.tag, args.wwn!);
      c.print(`Deleted Node ACL ${args.wwn!.toLowerCase()}.`);
      c.setJson({ deleted: paths.acl(t.wwn, tpg.tag, args.wwn!.toLowerCase()) });
    },
  };
  /** ACLs named by initiator name or by tag (targetcli's initiator groups). */
  const tagged = (wwnOrTag: string) => {
    const byName = tpg.nodeAcls.filter((a) => a.initiatorName === wwnOrTag.toLowerCase());
    const found = byName.length ? byName : tpg.nodeAcls.filter((a) => a.aclTag === wwnOrTag);
    if (!found.length) throw new ShellError(`No ACL or tag ${wwnOrTag} in ${paths.tpg(t.wwn, tpg.tag)}.`);
    return found;
  };
  const names = () => [...tpg.nodeAcls.map((a) => a.initiatorName), ...new Set(tpg.nodeAcls.flatMap((a) => (a.aclTag ? [a.aclTag] : [])))];
  const tag: CommandDef = {
    params: [{ name: "wwn_or_tag" }, { name: "new_tag" }],
    help: "Tags the ACL (or every ACL with the tag wwn_or_tag) with new_tag: a group of initiators with the same settings.",
    complete: (_c, param) => (param === "wwn_or_tag" ? names() : []),
    async run(c, args) {
      for (const a of tagged(args.wwn_or_tag!)) await c.service.updateNodeAcl(t.wwn, tpg.tag, a.initiatorName, { aclTag: args.new_tag! });
      c.setJson({ tagged: tagged(args.wwn_or_tag!).map((a) => a.initiatorName), aclTag: args.new_tag });
    },
  };
  const untag: CommandDef = {
    params: [{ name: "wwn_or_tag" }],
    help: "Removes the tag from the ACL (or from every ACL with that tag).",
    complete: (_c, param) => (param === "wwn_or_tag" ? names() : []),
    async run(c, args) {
      const acls = tagged(args.wwn_or_tag!);
      for (const a of acls) await c.service.updateNodeAcl(t.wwn, tpg.tag, a.initiatorName, { aclTag: null });
      c.setJson({ untagged: acls.map((a) => a.initiatorName) });
    },
  };
  return node(
    "acls",
    aclsPath,
    () => ok(`ACLs: ${tpg.nodeAcls.length}`),
    () => tpg.nodeAcls.map((a) => aclNode(ctx, t, tpg, a, aclsPath)),
    { commands: { create, delete: del, tag, untag } },
  );
}

function lunsNode(ctx: ShellContext, t: TargetConfig, tpg: TpgConfig, parent: string): ShellNode {
  const lunsPath = join(parent, "luns");
  const create: CommandDef = {
    params: [{ name: "storage_object" }, { name: "lun", default: "None" }, { name: "add_mapped_luns", default: "None" }],
    help: "Creates a new LUN in the Target Portal Group, attached to a storage object (/backstores/fileio/disk1). With add_mapped_luns (default: the auto_add_mapped_luns preference) it is mapped into every ACL.",
    complete: (c, param) =>
      param === "storage_object" ? c.config.storageObjects.map((so) => `/backstores/${backstoreKindOf(so.plugin)?.dir ?? so.plugin}/${so.name}`) : param === "add_mapped_luns" ? BOOL_VALUES : [],
    async run(c, args) {
      let ref = storageObjectRef(args.storage_object!);
      const add = args.add_mapped_luns === undefined ? pref(c, "auto_add_mapped_luns") !== false : parseBool(args.add_mapped_luns, "add_mapped_luns");
      const index = args.lun === undefined ? undefined : lunNumber(args.lun, "lun");
      // As targetcli (rtslib StorageObjectFactory): a file or block device path gets a storage object named after it.
      let created: { plugin: BackstoreKind["plugin"]; name: string } | undefined;
      if (!c.config.storageObjects.some((so) => storageObjectPath(so) === ref)) {
        const file = path.resolve(c.workdir, args.storage_object!);
        const st = args.storage_object!.includes("/") && !args.storage_object!.startsWith("/backstores/") ? fs.statSync(file, { throwIfNoEntry: false }) : undefined;
        if (!st?.isFile() && !st?.isBlockDevice()) throw new ShellError(`Invalid storage object ${args.storage_object}.`);
        const so = await c.service.createStorageObject({ plugin: st.isFile() ? "fileio" : "block", name: path.basename(file), dev: file, size: st.isFile() ? st.size : undefined });
        created = so;
        ref = storageObjectPath(so);
        c.print(`Created storage object ${so.name}.`);
      }
      let r: Awaited<ReturnType<typeof c.service.createLun>>;
      try {
        r = await c.service.createLun(t.wwn, tpg.tag, ref, { index, addMappedLuns: add });
      } catch (err) {
        // All or nothing: the storage object made for this LUN goes too.
        if (created) await c.service.deleteStorageObject(created.plugin, created.name).catch(() => undefined);
        throw err;
      }
      c.print(`Created LUN ${r.index}.`);
      for (const m of r.mapped) c.print(`Created LUN ${r.index}->${m.index} mapping in node ACL ${m.initiatorName}`);
      c.setJson({ created: paths.lun(t.wwn, tpg.tag, r.index), mapped: r.mapped });
      afterCreate(c, join(lunsPath, `lun${r.index}`));
    },
  };
  const del: CommandDef = {
    params: [{ name: "lun" }],
    help: "Deletes the supplied LUN from the Target Portal Group (accepts lunX or X).",
    complete: (_c, param) => (param === "lun" ? tpg.luns.map((l) => `lun${l.index}`) : []),
    async run(c, args) {
      const index = lunNumber(args.lun!, "lun");
      await c.service.deleteLun(t.wwn, tpg.tag, index);
      c.print(`Deleted LUN ${index}.`);
      c.setJson({ deleted: paths.lun(t.wwn, tpg.tag, index) });
    },
  };
  return node(
    "luns",
    lunsPath,
    () => ok(`LUNs: ${tpg.luns.length}`),
    () =>
      tpg.luns.map((l) =>
        node(`lun${l.index}`, join(lunsPath, `lun${l.index}`), () => lunSummary(ctx, t, tpg, l.index), () => [], {
          groups: Object.fromEntries(Object.entries(lunGroups).map(([g, f]) => [g, f(ctx, t, tpg, l.index)])),
          info: () => ({ index: l.index, storage_object: l.storageObject, alias: l.alias ?? "" }),
        }),
      ),
    { commands: { create, delete: del } },
  );
}

/** `/backstores/fileio/disk1`, `fileio/disk1` → the stored reference `/backstores/fileio/disk1` (by directory name). */
function storageObjectRef(raw: string): string {
  const rel = raw.replace(/^\/?backstores\//, "");
  const [dir, name] = rel.split("/");
  const kind = backstoreKind(dir);
  return name !== undefined && kind ? storageObjectPath({ plugin: kind.plugin, name }) : raw;
}

function portalsNode(t: TargetConfig, tpg: TpgConfig, parent: string): ShellNode {
  const portalsPath = join(parent, "portals");
  const create: CommandDef = {
    params: [{ name: "ip_address", default: "None" }, { name: "ip_port", default: "None" }],
    help: "Creates a Network Portal with the specified IP address and port. Defaults: ::0 (all addresses) and 3260.",
    async run(c, args) {
      let port = 3260;
      if (args.ip_port === undefined) c.print(`Using default IP port ${port}`);
      else if (!/^\d+$/.test(args.ip_port)) throw new ShellError(`Not setting ip_port! Syntax error, '${args.ip_port}' is not a NUMBER.`);
      else port = Number(args.ip_port);
      let ip = args.ip_address;
      if (ip === undefined) {
        ip = "::0";
        c.print("Binding to INADDR_ANY (::0)");
      }
      const r = await c.service.createPortal(t.wwn, tpg.tag, ip, port);
      c.print(`Created network portal ${r.key}.`);
      c.setJson({ created: paths.portal(t.wwn, tpg.tag, r.key) });
    },
  };
  const del: CommandDef = {
    params: [{ name: "ip_address" }, { name: "ip_port" }],
    help: "Deletes the Network Portal with the specified IP address and port.",
    complete: (_c, param) => (param === "ip_address" ? tpg.portals.map((p) => p.ip) : param === "ip_port" ? tpg.portals.map((p) => String(p.port)) : []),
    async run(c, args) {
      if (!/^\d+$/.test(args.ip_port!)) throw new ShellError(`Not setting ip_port! Syntax error, '${args.ip_port}' is not a NUMBER.`);
      const ip = args.ip_address!.replace(/^\[(.*)\]$/, "$1");
      await c.service.deletePortal(t.wwn, tpg.tag, ip, Number(args.ip_port));
      c.print(`Deleted network portal ${portalKey(ip, Number(args.ip_port))}`);
      c.setJson({ deleted: paths.portal(t.wwn, tpg.tag, portalKey(ip, Number(args.ip_port))) });
    },
  };
  return node(
    "portals",
    portalsPath,
    () => ok(`Portals: ${tpg.portals.length}`),
    () =>
      tpg.portals.map((p) => {
        const key = portalKey(p.ip, p.port);
        return node(key, join(portalsPath, key), () => ok(), () => [], {
          info: () => ({ ip_address: p.ip, ip_port: p.port }),
          commands: { enable_iser: transportSwitch("iSER", "iSER (iSCSI over RDMA)"), enable_offload: transportSwitch("Offload", "offload to a TCP offload engine") },
        });
      }),
    { commands: { create, delete: del } },
  );
}

/** Portal `enable_iser` / `enable_offload`: Portico's portals are plain TCP, so only `false` is accepted. */
function transportSwitch(label: string, what: string): CommandDef {
  return {
    params: [{ name: "boolean" }],
    help: `Enables or disables ${what} on this portal. Portico serves iSCSI over TCP only.`,
    complete: (_c, param) => (param === "boolean" ? BOOL_VALUES : []),
    run(c, args) {
      if (parseBool(args.boolean!, "boolean")) throw new ShellError(`${what} is not supported by Portico: its portals serve iSCSI over TCP.`);
      c.print(`${label} enable now: False`);
      c.setJson({ enabled: false });
    },
  };
}

function tpgNode(ctx: ShellContext, t: TargetConfig, tpg: TpgConfig, parent: string): ShellNode {
  const tpgPath = join(parent, `tpg${tpg.tag}`);
  const enable = (on: boolean): CommandDef => ({
    params: [],
    help: on ? "Enables the TPG." : "Disables the TPG.",
    async run(c) {
      if (tpg.enabled === on) {
        c.print(`The TPGT is already ${on ? "enabled" : "disabled"}.`);
        return;
      }
      await c.service.setTpgEnabled(t.wwn, tpg.tag, on);
      c.print(`The TPGT has been ${on ? "enabled" : "disabled"}.`);
      c.setJson({ path: tpgPath, enabled: on });
    },
  });
  const attrs = () => ({ ...tpgAttributeDefaults, ...(ctx.engine.targets.get(t.wwn)?.tpgs.get(tpg.tag)?.attributes ?? tpg.attributes) });
  const params = () => ({ ...tpgParameterDefaults, ...(ctx.engine.targets.get(t.wwn)?.tpgs.get(tpg.tag)?.parameters ?? tpg.parameters) });
  return node(
    `tpg${tpg.tag}`,
    tpgPath,
    () => tpgSummary(tpg),
    () => [aclsNode(ctx, t, tpg, tpgPath), lunsNode(ctx, t, tpg, tpgPath), portalsNode(t, tpg, tpgPath)],
    {
      commands: { enable: enable(true), disable: enable(false) },
      groups: {
        attribute: numberGroup({
          names: () => Object.keys(tpgAttributeDefaults).sort(),
          value: (n) => attrs()[n],
          describe: (n) => `${n}: ${tpgAttributeRanges[n]?.join("..") ?? ""}.`,
          apply: (changes) => ctx.service.setTpgAttributes(t.wwn, tpg.tag, changes),
        }),
        parameter: {
          params: () =>
            Object.keys(tpgParameterDefaults)
              .sort()
              .map((name): GroupParam => {
                const r = tpgParameterRules[name];
                return {
                  name,
                  type: "string",
                  readOnly: false,
                  description: `${name}: ${describeTpgParameter(name)}${r?.kind === "fixed" ? ` (${r.why})` : ""}.`,
                  values: r?.kind === "bool" ? tpgParameterChoices(name) : undefined,
                };
              }),
          get: (_c, n) => params()[n] ?? "",
          set: async (c, values) => {
            await c.service.setTpgParameters(t.wwn, tpg.tag, Object.fromEntries(Object.entries(values).map(([k, v]) => [k, String(v)])));
          },
        },
        auth: chapGroup(
          () => tpg.chap,
          (chap) => ctx.service.setTpgAuth(t.wwn, tpg.tag, chap),
        ),
      },
      info: () => ({ tag: tpg.tag, enabled: tpg.enabled, wwn: t.wwn }),
    },
  );
}

function targetNode(ctx: ShellContext, t: TargetConfig, parent: string): ShellNode {
  const targetPath = join(parent, t.wwn);
  const create: CommandDef = {
    params: [{ name: "tag", default: "None" }],
    help: "Creates a new Target Portal Group within the target (tag: 2 or tpg2; the next free one by default).",
    async run(c, args) {
      const tag = args.tag === undefined ? undefined : lunTag(args.tag);
      const r = await c.service.createTpg(t.wwn, tag);
      if (pref(c, "auto_enable_tpgt") === false) await c.service.setTpgEnabled(t.wwn, r.tag, false);
      c.print(`Created TPG ${r.tag}.`);
      c.setJson({ created: paths.tpg(t.wwn, r.tag) });
      await addDefaultPortal(c, t.wwn, r.tag);
      afterCreate(c, join(targetPath, `tpg${r.tag}`));
    },
  };
  const del: CommandDef = {
    params: [{ name: "tag" }],
    help: "Deletes the Target Portal Group with TPGT tag from the target (accepts 2 or tpg2).",
    complete: (_c, param) => (param === "tag" ? t.tpgs.map((g) => `tpg${g.tag}`) : []),
    async run(c, args) {
      const tag = lunTag(args.tag!);
      await c.service.deleteTpg(t.wwn, tag);
      c.print(`Deleted TPGT ${tag}.`);
      c.setJson({ deleted: paths.tpg(t.wwn, tag) });
    },
  };
  return node(t.wwn, targetPath, () => ok(`TPGs: ${t.tpgs.length}`), () => t.tpgs.map((g) => tpgNode(ctx, t, g, targetPath)), {
    commands: { create, delete: del },
    info: () => ({ wwn: t.wwn, tpgs: t.tpgs.length }),
  });
}

function lunTag(raw: string): number {
  const m = /^(?:tpg)?(\d+)$/.exec(raw);
  if (!m || Number(m[1]) < 1) throw new ShellError(`Not setting tag! Syntax error, '${raw}' is not a NUMBER.`);
  return Number(m[1]);
}

async function addDefaultPortal(c: ShellContext, wwn: string, tag: number): Promise<void> {
  if (pref(c, "auto_add_default_portal") === false) return;
  c.print("Global pref auto_add_default_portal=true");
  try {
    await c.service.createPortal(wwn, tag, "::0", 3260);
    c.print("Created default portal listening on all IPs (::0), port 3260.");
  } catch {
    c.print("Default portal not created, TPGs within a target cannot share ip:port.");
  }
}

function iscsiNode(ctx: ShellContext): ShellNode {
  const create: CommandDef = {
    params: [{ name: "wwn", default: "None" }],
    help: "Creates a new iSCSI target with tpg1, enabled. Without a wwn, an IQN is generated.",
    async run(c, args) {
      const r = await c.service.createTarget({ wwn: args.wwn });
      c.print(`Created target ${r.wwn}.`);
      c.print("Created TPG 1.");
      if (pref(c, "auto_enable_tpgt") === false) await c.service.setTpgEnabled(r.wwn, 1, false);
      c.setJson({ created: paths.target(r.wwn) });
      await addDefaultPortal(c, r.wwn, 1);
      afterCreate(c, paths.target(r.wwn));
    },
  };
  const del: CommandDef = {
    params: [{ name: "wwn" }],
    help: "Recursively deletes the target with the specified wwn, and all objects hanging under it.",
    complete: (c, param) => (param === "wwn" ? c.config.targets.map((t) => t.wwn) : []),
    async run(c, args) {
      await c.service.deleteTarget(args.wwn!);
      c.print(`Deleted Target ${args.wwn!.toLowerCase()}.`);
      c.setJson({ deleted: paths.target(args.wwn!.toLowerCase()) });
    },
  };
  const da = () => ctx.config.discoveryAuth;
  return node("iscsi", "/iscsi", () => ok(`Targets: ${ctx.config.targets.length}`), () => ctx.config.targets.map((t) => targetNode(ctx, t, "/iscsi")), {
    commands: { create, delete: del },
    groups: {
      discovery_auth: chapGroup(
        () => da(),
        (chap) => ctx.service.setDiscoveryAuth({ ...da(), ...chap, enabled: (chap as { enabled?: boolean }).enabled ?? da().enabled }),
        { enable: () => da().enabled },
      ),
    },
  });
}

// ---- root ---------------------------------------------------------------------------

export function rootNode(ctx: ShellContext): ShellNode {
  const backstores = node("backstores", "/backstores", unknown, () => BACKSTORE_KINDS.map((k) => backstoreDirNode(ctx, k, "/backstores")));
  return node("/", "/", unknown, () => [backstores, iscsiNode(ctx)], { commands: rootCommands(), groups: {} });
}

/** Every node has the `global` group (targetcli's preferences). */
export function groupsOf(n: ShellNode): Record<string, GroupDef> {
  return { global: globalGroup, ...n.groups };
}

/** The node at an absolute path, or a targetcli error. */
export function findNode(ctx: ShellContext, absPath: string): ShellNode {
  let n = rootNode(ctx);
  for (const seg of absPath.split("/").filter(Boolean)) {
    const child = n.children().find((c) => c.name === seg || (n.path === "/iscsi" && c.name === seg.toLowerCase()));
    if (!child) throw new ShellError(`No such path ${absPath}`);
    n = child;
  }
  return n;
}

export function sortedChildren(n: ShellNode): ShellNode[] {
  return [...n.children()].sort((a, b) => naturalCompare(a.name, b.name));
}

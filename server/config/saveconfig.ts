/**
 * targetcli's /etc/target/saveconfig.json, both ways (lio-model.md §1.1–1.5).
 *
 * parseSaveconfig() validates the whole file first and either refuses it with
 * every problem (ConfigImportError) or returns the configuration Portico will
 * apply plus `notHonoured`: every key or object in the file that Portico does not
 * act on, by name. Nothing is dropped silently.
 *
 * formatSaveconfig() writes the file as rtslib does: json.dump(sort_keys=True,
 * indent=2) + "\n" (ensure_ascii: non-ASCII as \uXXXX).
 */
import { parseCidr } from "../engine/core/networks";
import { checkAclTag, checkChapCredential, checkCmdsnDepth, checkTpgParameter } from "../engine/core/engine";
import {
  nodeAclAttributeDefaults,
  nodeAclAttributeRanges,
  nodeAclAttributeSupported,
  tpgAttributeSupported,
  unsupportedValue,
  type SupportedValues,
  checkStorageObjectAttributes,
  storageObjectAttributeDefaults,
  storageObjectAttributeRules,
  tpgParameterRules,
  tpgAttributeDefaults,
  tpgAttributeRanges,
  tpgParameterDefaults,
} from "../engine/core/defaults";
import { EngineError } from "../engine/core/errors";
import { ALUA_GROUP_ATTRIBUTES, aluaGroupDefaults, checkAluaAttribute, validateAluaGroupName } from "../engine/core/alua";
import { normalizeIscsiName, normalizeNodeName, portalKey, validateStorageObjectName, validateUnitSerial } from "../engine/core/names";
import { parseRbdConfig } from "../engine/backstores/rbd-config";
import type { BackstorePlugin } from "../engine/backstores/backstore";
import { capabilities, DEFAULT_ALUA_GROUP, READ_ONLY_SO_ATTRIBUTES } from "./capabilities";
import { ConfigImportError, type ConfigIssue } from "./errors";
import {
  emptyConfig,
  paths,
  storageObjectPath,
  type AluaGroupConfig,
  type Chap,
  type LunConfig,
  type MappedLunConfig,
  type NodeAclConfig,
  type PorticoConfig,
  type StorageObjectConfig,
  type TargetConfig,
  type TpgConfig,
} from "./model";

export interface ParsedSaveconfig {
  config: PorticoConfig;
  /** Human-readable, one per key/object not acted on, e.g. `storage_objects[0].alua_tpgs ignored`. */
  notHonoured: string[];
  /** Applied, but worth the admin's attention (e.g. a CHAP secret shorter than RFC 7143 recommends), by name. */
  warnings: string[];
}

/** RFC 7143 §12.1.3 recommends CHAP secrets of at least 96 bits (12 bytes). */
export const MIN_CHAP_SECRET = 12;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** A TPG's allowed networks in saveconfig.json: Portico's key, which targetcli does not read. */
export const ALLOWED_NETWORKS_KEY = "portico_allowed_networks";
/** The TPG's serving cluster node, as issue 14 names it (`"node": "gw-a"`); targetcli ignores it. */
export const NODE_KEY = "node";
const CHAP_KEYS = ["chap_userid", "chap_password", "chap_mutual_userid", "chap_mutual_password"] as const;

/** The rules of one kind of integer attributes (engine/core/defaults.ts). */
interface IntAttributeTable {
  defaults: Readonly<Record<string, number>>;
  ranges: Readonly<Record<string, [number, number]>>;
  supported: Record<string, SupportedValues>;
}
const TPG_ATTRIBUTES: IntAttributeTable = { defaults: tpgAttributeDefaults, ranges: tpgAttributeRanges, supported: tpgAttributeSupported };
const NODE_ACL_ATTRIBUTES: IntAttributeTable = { defaults: nodeAclAttributeDefaults, ranges: nodeAclAttributeRanges, supported: nodeAclAttributeSupported };

class Reader {
  readonly issues: ConfigIssue[] = [];
  readonly notHonoured: string[] = [];
  readonly warnings: string[] = [];

  error(path: string, message: string): void {
    this.issues.push({ path, message });
  }
  ignore(path: string, why = "ignored"): void {
    this.notHonoured.push(`${path} ${why}`);
  }
  /** Reports keys of `obj` outside `known`. */
  unknownKeys(obj: Json, path: string, known: readonly string[]): void {
    for (const k of Object.keys(obj)) if (!known.includes(k)) this.ignore(`${path}.${k}`, "ignored (unknown key)");
  }
  str(obj: Json, key: string, path: string, required = false): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (required) this.error(`${path}.${key}`, "is required");
      return undefined;
    }
    if (typeof v !== "string") {
      this.error(`${path}.${key}`, `must be a string, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  }
  int(obj: Json, key: string, path: string, range: [number, number], required = false): number | undefined {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (required) this.error(`${path}.${key}`, "is required");
      return undefined;
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < range[0] || v > range[1]) {
      this.error(`${path}.${key}`, `must be an integer in ${range[0]}..${range[1]}, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  }
  bool(obj: Json, key: string, path: string): boolean | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    // rtslib accepts 0/1 for booleans in older dumps.
    if (v === 0 || v === 1) return v === 1;
    if (typeof v !== "boolean") {
      this.error(`${path}.${key}`, `must be true or false, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  }
  list(obj: Json, key: string, path: string): Json[] {
    const v = obj[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.error(`${path}.${key}`, "must be a list");
      return [];
    }
    return v.map((item, i) => {
      if (!isObject(item)) {
        this.error(`${path}.${key}[${i}]`, "must be an object");
        return {};
      }
      return item;
    });
  }
  map(obj: Json, key: string, path: string): Json {
    const v = obj[key];
    if (v === undefined || v === null) return {};
    if (!isObject(v)) {
      this.error(`${path}.${key}`, "must be an object");
      return {};
    }
    return v;
  }
  /**
   * A TPG's or node ACL's `attributes` (LIO's attrib/, integers): a name the engine does not have is
   * ignored ("not yet supported"), a value outside its range is an error, and a value the engine
   * does not honour is reported with the default that is used instead (and left out).
   */
  intAttributes(obj: Json, path: string, table: IntAttributeTable): Record<string, number> {
    const attributes: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.map(obj, "attributes", path))) {
      const range = table.ranges[k];
      if (!(k in table.defaults) || !range) {
        this.ignore(`${path}.attributes.${k}`, "not yet supported");
        continue;
      }
      if (typeof v !== "number" || !Number.isInteger(v) || v < range[0] || v > range[1]) {
        this.error(`${path}.attributes.${k}`, `must be an integer in ${range[0]}..${range[1]}, got ${JSON.stringify(v)}`);
        continue;
      }
      const unsupported = unsupportedValue(table.supported, k, v);
      if (unsupported) {
        this.notHonoured.push(`${path}.attributes.${unsupported.replace(" is not supported:", " not honoured:")} (${table.defaults[k]} is used)`);
        continue;
      }
      attributes[k] = v;
    }
    return attributes;
  }
  /** Runs an engine validator, turning its EngineError into an issue at `path`. */
  check<T>(path: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (err instanceof EngineError) {
        this.error(path, err.message);
        return undefined;
      }
      throw err;
    }
  }
  chap(obj: Json, path: string): Chap {
    const chap: Chap = {};
    for (const key of CHAP_KEYS) {
      const v = this.str(obj, key, path);
      if (v === undefined || v === "") continue;
      if (!capabilities.chap) {
        this.ignore(`${path}.${key}`, "not yet supported");
        continue;
      }
      const field = { chap_userid: "userid", chap_password: "password", chap_mutual_userid: "mutualUserid", chap_mutual_password: "mutualPassword" }[key] as keyof Chap;
      // The engine's rule for each credential (checkChap: 1..255 printable characters, not NULL).
      if (this.check(`${path}.${key}`, () => checkChapCredential(field, v)) === undefined) continue;
      if (key.endsWith("password")) this.secretLength(`${path}.${key}`, v);
      chap[field] = v;
    }
    this.distinctSecrets(chap, `${path}.chap_mutual_password`, "chap_password");
    return chap;
  }
  /**
   * CHAP secrets as the console takes them (server/config/service.ts validateChap): at least
   * 12 characters (RFC 7143 §12.1.3: 96 bits) — a short secret falls to an offline guess from
   * one captured exchange. The message names the key, never the secret.
   */
  secretLength(path: string, v: string): void {
    if (v.length < MIN_CHAP_SECRET) this.error(path, `must be at least ${MIN_CHAP_SECRET} characters (RFC 7143 §12.1.3), got ${v.length}: set a longer secret in the file`);
  }
  /** The target's (mutual) secret must differ from the initiator's: one captured exchange would reveal both directions (RFC 7143 §12.1.3). */
  distinctSecrets(chap: Chap, path: string, other: string): void {
    if (chap.password && chap.mutualPassword && chap.password === chap.mutualPassword) this.error(path, `must differ from ${other}`);
  }
}

/** Parses saveconfig.json text (or an already parsed value); throws ConfigImportError listing every problem. */
export function parseSaveconfig(input: string | unknown): ParsedSaveconfig {
  let doc: unknown = input;
  if (typeof input === "string") {
    try {
      doc = JSON.parse(input);
    } catch (err) {
      throw new ConfigImportError([{ path: "", message: `not valid JSON${jsonErrorWhere(input, err)}` }]);
    }
  }
  if (!isObject(doc)) throw new ConfigImportError([{ path: "", message: "the file must hold a JSON object with storage_objects and targets" }]);
  const r = new Reader();
  const config = emptyConfig();
  r.unknownKeys(doc, "", ["fabric_modules", "storage_objects", "targets"]);
  r.notHonoured.forEach((s, i, a) => (a[i] = s.replace(/^\./, "")));

  r.list(doc, "fabric_modules", "").forEach((fm, i) => readFabricModule(r, fm, `fabric_modules[${i}]`, config));

  const soPaths = new Set<string>();
  const skippedSoPaths = new Set<string>();
  r.list(doc, "storage_objects", "").forEach((raw, i) => {
    const so = readStorageObject(r, raw, `storage_objects[${i}]`);
    if (so === "skipped") {
      const plugin = typeof raw.plugin === "string" ? raw.plugin : "?";
      // A tcmu object's LUNs name it /backstores/user:<handler>/<name>.
      const dir = plugin === "user" ? `user:${userHandler(raw.config)}` : plugin;
      if (typeof raw.name === "string") skippedSoPaths.add(`/backstores/${dir}/${raw.name}`);
      return;
    }
    if (!so) return;
    const p = storageObjectPath(so);
    if (soPaths.has(p)) return r.error(`storage_objects[${i}]`, `${p} appears twice`);
    soPaths.add(p);
    config.storageObjects.push(so);
  });

  const targetNames = new Set<string>();
  r.list(doc, "targets", "").forEach((raw, i) => {
    const t = readTarget(r, raw, `targets[${i}]`, skippedSoPaths);
    if (!t) return;
    if (targetNames.has(t.wwn)) return r.error(`targets[${i}].wwn`, `target ${t.wwn} appears twice`);
    targetNames.add(t.wwn);
    config.targets.push(t);
  });

  // A LUN's alua_tg_pt_gp_name must name a group of its storage object (LIO: the configfs group must exist).
  const groupsBySo = new Map(config.storageObjects.map((so) => [storageObjectPath(so), new Set([DEFAULT_ALUA_GROUP, ...(so.aluaGroups ?? []).map((g) => g.name)])]));
  for (const t of config.targets) {
    for (const tpg of t.tpgs) {
      for (const l of tpg.luns) {
        const groups = groupsBySo.get(l.storageObject);
        if (l.aluaGroup !== undefined && groups && !groups.has(l.aluaGroup)) {
          r.error(`${paths.lun(t.wwn, tpg.tag, l.index)}.alua_tg_pt_gp_name`, `${l.storageObject} has no ALUA group ${l.aluaGroup} (it has ${[...groups].join(", ")})`);
        }
      }
    }
  }

  if (r.issues.length) throw new ConfigImportError(r.issues);
  return { config, notHonoured: r.notHonoured, warnings: r.warnings };
}

/**
 * Where a JSON syntax error is, as "(line L, column C)", and nothing of the text itself: V8's
 * message quotes the text around the error, and an imported file holds CHAP secrets (the
 * message reaches the response, the CLI's output and the event log).
 */
function jsonErrorWhere(text: string, err: unknown): string {
  const m = /position (\d+)/.exec((err as Error)?.message ?? "");
  if (!m) return "";
  const pos = Math.min(Number(m[1]), text.length);
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  const column = pos - before.lastIndexOf("\n");
  return ` (line ${line}, column ${column})`;
}

/** Keys of saveconfig.json that hold CHAP secrets (node ACLs, TPGs, the iSCSI fabric's discovery auth). */
const SECRET_KEYS = new Set(["chap_password", "chap_mutual_password", "discovery_password", "discovery_mutual_password"]);

/**
 * saveconfig.json text without its CHAP secrets (as `export` without `secrets`), for a backup
 * downloaded without asking for them, in targetcli's layout (stringifySaveconfig).
 */
export function withoutSecrets(text: string): string {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (!isObject(v)) return v;
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) if (!SECRET_KEYS.has(k)) out[k] = strip(x);
    return out;
  };
  return stringifySaveconfig(strip(JSON.parse(text)));
}

function readFabricModule(r: Reader, fm: Json, path: string, config: PorticoConfig): void {
  const name = r.str(fm, "name", path, true);
  if (name !== "iscsi") return r.ignore(path, `(fabric ${name ?? "?"}) ignored: only iscsi is supported`);
  const enabled = r.bool(fm, "discovery_enable_auth", path) ?? false;
  r.unknownKeys(fm, path, ["name", "discovery_enable_auth", "discovery_userid", "discovery_password", "discovery_mutual_userid", "discovery_mutual_password"]);
  if (!capabilities.chap) {
    if (enabled) r.ignore(`${path}.discovery_enable_auth`, "not yet supported (discovery authentication)");
    for (const k of ["discovery_userid", "discovery_password", "discovery_mutual_userid", "discovery_mutual_password"]) {
      if (typeof fm[k] === "string" && fm[k] !== "") r.ignore(`${path}.${k}`, "not yet supported");
    }
    return;
  }
  const chap: Chap = {};
  const fields = { discovery_userid: "userid", discovery_password: "password", discovery_mutual_userid: "mutualUserid", discovery_mutual_password: "mutualPassword" } as const;
  for (const [key, field] of Object.entries(fields)) {
    const v = r.str(fm, key, path);
    if (v === undefined || v === "") continue;
    if (r.check(`${path}.${key}`, () => checkChapCredential(field, v)) === undefined) continue;
    if (field.endsWith("assword")) r.secretLength(`${path}.${key}`, v);
    chap[field] = v;
  }
  r.distinctSecrets(chap, `${path}.discovery_mutual_password`, "discovery_password");
  if (enabled && !(chap.userid && chap.password)) r.error(`${path}.discovery_userid`, "discovery authentication needs discovery_userid and discovery_password");
  config.discoveryAuth = { enabled, ...chap };
}

const SO_KEYS: Record<BackstorePlugin, string[]> = {
  fileio: ["dev", "size", "write_back", "wwn", "aio"],
  block: ["dev", "readonly", "write_back", "wwn", "exclusive"],
  ramdisk: ["size", "wwn", "nullio"],
  // tcmu-runner's user:rbd as rtslib's UserBackedStorageObject dumps it (plugin "user").
  rbd: ["config", "size", "wwn", "hw_max_sectors", "control"],
};

/** The tcmu handler of a `user` object's config string: "rbd" in "rbd/pool/image;...". */
function userHandler(config: unknown): string {
  return typeof config === "string" && config.includes("/") ? config.slice(0, config.indexOf("/")) : "?";
}

/** LIO names a tcmu user:rbd object /backstores/user:rbd/<name>; Portico's plugin is "rbd". */
function lunStorageObjectFromLio(p: string): string {
  return p.replace(/^\/backstores\/rd_mcp\//, "/backstores/ramdisk/").replace(/^\/backstores\/user:rbd\//, "/backstores/rbd/");
}
function lunStorageObjectToLio(p: string): string {
  return p.replace(/^\/backstores\/rbd\//, "/backstores/user:rbd/");
}

function readStorageObject(r: Reader, raw: Json, path: string): StorageObjectConfig | "skipped" | undefined {
  const pluginRaw = r.str(raw, "plugin", path, true);
  const nameRaw = r.str(raw, "name", path, true);
  if (pluginRaw === undefined || nameRaw === undefined) return undefined;
  if (pluginRaw === "user") {
    const handler = userHandler(raw.config);
    if (handler !== "rbd") {
      r.ignore(path, `(plugin user, handler ${handler}, ${nameRaw}) ignored: tcmu handler user:${handler} is not supported (only user:rbd)`);
      return "skipped";
    }
  }
  const plugin = (pluginRaw === "rd_mcp" ? "ramdisk" : pluginRaw === "user" ? "rbd" : pluginRaw) as BackstorePlugin;
  if (!(plugin in SO_KEYS) || pluginRaw === "rbd") {
    r.ignore(path, `(plugin ${pluginRaw}, ${nameRaw}) ignored: plugin not supported (use ramdisk, fileio or block)`);
    return "skipped";
  }
  const name = r.check(`${path}.name`, () => validateStorageObjectName(nameRaw));
  r.unknownKeys(raw, path, ["name", "plugin", "attributes", "alua_tpgs", ...SO_KEYS[plugin]]);
  const aluaGroups = readAluaGroups(r, raw, path);

  const wwnRaw = r.str(raw, "wwn", path);
  const wwn = wwnRaw === undefined ? undefined : r.check(`${path}.wwn`, () => validateUnitSerial(wwnRaw));
  const size = r.int(raw, "size", path, [0, Number.MAX_SAFE_INTEGER]);
  const dev = plugin === "rbd" ? r.str(raw, "config", path, true) : r.str(raw, "dev", path, plugin !== "ramdisk");
  if (plugin === "rbd" && dev !== undefined) r.check(`${path}.config`, () => {
    try {
      return parseRbdConfig(dev);
    } catch (err) {
      throw new EngineError((err as Error).message, "invalid", "config");
    }
  });
  if (plugin === "ramdisk" && size === undefined) r.error(`${path}.size`, "is required for a ramdisk");
  if (plugin === "fileio" && r.bool(raw, "aio", path) === true) r.ignore(`${path}.aio`, "ignored (Portico uses its own I/O path)");
  if (plugin === "block" && r.bool(raw, "exclusive", path) === false) r.notHonoured.push(`${path}.exclusive=false not yet supported (the device is opened exclusively)`);
  if (plugin === "ramdisk" && r.bool(raw, "nullio", path) === true) r.ignore(`${path}.nullio`, "not yet supported (a normal ramdisk is created)");
  const readonly = plugin === "block" ? (r.bool(raw, "readonly", path) ?? false) : false;

  const attrsRaw = r.map(raw, "attributes", path);
  const blockSizeRaw = attrsRaw.block_size;
  const blockSize = blockSizeRaw === 4096 ? 4096 : 512; // any other value is refused below, by the rulebook
  // The engine's rulebook (core/defaults.ts checkStorageObjectAttributes), as create and set use it;
  // import only chooses how each refusal is reported.
  const restated: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attrsRaw)) {
    if (READ_ONLY_SO_ATTRIBUTES.has(k)) r.ignore(`${path}.attributes.${k}`, "ignored (read-only)");
    else restated[k] = v;
  }
  const checked = checkStorageObjectAttributes(storageObjectAttributeDefaults(plugin, blockSize), restated, { mode: "create" });
  const refused = new Set<string>();
  for (const f of checked.refusals) {
    refused.add(f.name);
    const at = `${path}.attributes.${f.name}`;
    if (f.kind === "unknown") r.ignore(at, "not yet supported");
    else if (f.kind === "fixed") r.notHonoured.push(`${at}=${JSON.stringify(restated[f.name])} not honoured: ${storageObjectAttributeRules[f.name]?.why} (${f.fixed} is used)`);
    else r.error(at, f.kind === "not_integer" || f.kind === "values" || f.kind === "range" ? `${f.message}, got ${JSON.stringify(restated[f.name])}` : f.message);
  }
  const attributes: Record<string, number> = {};
  for (const k of Object.keys(restated)) {
    if (!refused.has(k) && k in checked.next && k !== "block_size" && k !== "emulate_write_cache") attributes[k] = checked.next[k];
  }
  // fileio/block write_back is the backstore's cache mode; LIO mirrors it in emulate_write_cache.
  const writeBack = plugin === "ramdisk" ? false : plugin === "rbd" ? true : (r.bool(raw, "write_back", path) ?? attrsRaw.emulate_write_cache === 1);
  if (name === undefined) return undefined;
  return { plugin, name, dev, size, wwn, writeBack, blockSize: blockSize as number, readonly, attributes, ...(aluaGroups ? { aluaGroups } : {}) };
}

/**
 * `alua_tpgs` as rtslib dumps them (name, tg_pt_gp_id, alua_rw_params). default_tg_pt_gp (id 0)
 * always exists; unlike rtslib's restore, which skips it, its attributes are applied too, so its
 * state survives a round trip. Undefined when the list holds nothing but LIO's default group.
 */
function readAluaGroups(r: Reader, raw: Json, path: string): AluaGroupConfig[] | undefined {
  const groups: AluaGroupConfig[] = [];
  r.list(raw, "alua_tpgs", path).forEach((g, i) => {
    const gp = `${path}.alua_tpgs[${i}]`;
    r.unknownKeys(g, gp, ["name", "tg_pt_gp_id", ...ALUA_GROUP_ATTRIBUTES]);
    const nameRaw = r.str(g, "name", gp, true);
    const name = nameRaw === undefined ? undefined : r.check(`${gp}.name`, () => validateAluaGroupName(nameRaw));
    const id = r.int(g, "tg_pt_gp_id", gp, [0, 65535], name !== DEFAULT_ALUA_GROUP);
    if (name === undefined) return;
    if (name === DEFAULT_ALUA_GROUP && id !== undefined && id !== 0) return r.error(`${gp}.tg_pt_gp_id`, `${DEFAULT_ALUA_GROUP} has id 0, got ${id}`);
    if (name !== DEFAULT_ALUA_GROUP && id === 0) return r.error(`${gp}.tg_pt_gp_id`, "id 0 belongs to default_tg_pt_gp: use 1..65535");
    if (groups.some((x) => x.name === name)) return r.error(`${gp}.name`, `ALUA group ${name} appears twice`);
    const groupId = name === DEFAULT_ALUA_GROUP ? 0 : id;
    if (groupId === undefined) return;
    if (groups.some((x) => x.id === groupId)) return r.error(`${gp}.tg_pt_gp_id`, `ALUA group id ${groupId} appears twice`);
    const attributes = aluaGroupDefaults();
    for (const k of ALUA_GROUP_ATTRIBUTES) {
      const v = g[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== "number" || !Number.isInteger(v)) {
        r.error(`${gp}.${k}`, `must be an integer, got ${JSON.stringify(v)}`);
        continue;
      }
      attributes[k] = v;
    }
    for (const k of ALUA_GROUP_ATTRIBUTES) r.check(`${gp}.${k}`, () => checkAluaAttribute(k, attributes[k], attributes));
    groups.push({ name, id: groupId, attributes });
  });
  const defaults = aluaGroupDefaults();
  const trivial = groups.length === 0 || (groups.length === 1 && groups[0].name === DEFAULT_ALUA_GROUP && ALUA_GROUP_ATTRIBUTES.every((k) => groups[0].attributes[k] === defaults[k]));
  return trivial ? undefined : groups;
}

function readTarget(r: Reader, raw: Json, path: string, skippedSoPaths: Set<string>): TargetConfig | undefined {
  const fabric = r.str(raw, "fabric", path) ?? "iscsi";
  if (fabric !== "iscsi") {
    r.ignore(path, `(fabric ${fabric}, ${String(raw.wwn)}) ignored: only iscsi is supported`);
    return undefined;
  }
  r.unknownKeys(raw, path, ["wwn", "fabric", "tpgs", "parameters"]);
  for (const k of Object.keys(r.map(raw, "parameters", path))) r.ignore(`${path}.parameters.${k}`, "ignored");
  const wwnRaw = r.str(raw, "wwn", path, true);
  const wwn = wwnRaw === undefined ? undefined : r.check(`${path}.wwn`, () => normalizeIscsiName(wwnRaw, "wwn"));
  const tpgs: TpgConfig[] = [];
  const portalOwners = new Map<string, number>();
  r.list(raw, "tpgs", path).forEach((t, i) => {
    const tpg = readTpg(r, t, `${path}.tpgs[${i}]`, tpgs, skippedSoPaths);
    if (!tpg) return;
    for (const p of tpg.portals) {
      const key = portalKey(p.ip, p.port);
      const owner = portalOwners.get(key);
      if (owner !== undefined) r.error(`${path}.tpgs[${i}].portals`, `TPGs within a target cannot share ${key} (tpg${owner} has it)`);
      portalOwners.set(key, tpg.tag);
    }
    tpgs.push(tpg);
  });
  return wwn === undefined ? undefined : { wwn, tpgs };
}

function readTpg(r: Reader, raw: Json, path: string, siblings: TpgConfig[], skippedSoPaths: Set<string>): TpgConfig | undefined {
  r.unknownKeys(raw, path, ["tag", "enable", "attributes", "parameters", "luns", "portals", "node_acls", ALLOWED_NETWORKS_KEY, ...CHAP_KEYS]);
  let tag = r.int(raw, "tag", path, [1, 65535]);
  if (raw.tag === undefined) for (tag = 1; siblings.some((s) => s.tag === tag); tag++);
  if (tag !== undefined && siblings.some((s) => s.tag === tag)) r.error(`${path}.tag`, `tpg${tag} appears twice`);
  const enabled = r.bool(raw, "enable", path) ?? true;

  const attributes = r.intAttributes(raw, path, TPG_ATTRIBUTES);
  const parameters: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.map(raw, "parameters", path))) {
    if (!(k in tpgParameterDefaults)) {
      r.ignore(`${path}.parameters.${k}`, "not yet supported");
      continue;
    }
    if (typeof v !== "string" || v.length > 255) {
      r.error(`${path}.parameters.${k}`, `must be a string of at most 255 characters, got ${JSON.stringify(v)}`);
      continue;
    }
    const rule = tpgParameterRules[k];
    if (rule?.kind === "fixed" && !rule.values.includes(v)) {
      r.notHonoured.push(`${path}.parameters.${k}=${v} not honoured: ${rule.why} (${tpgParameterDefaults[k]} is used)`);
      continue;
    }
    if (r.check(`${path}.parameters.${k}`, () => (checkTpgParameter(k, v), true))) parameters[k] = v;
  }
  if (!capabilities.chap && attributes.authentication === 1) {
    // LIO: authentication=0 puts None back into AuthMethod (iscsit_ta_authentication).
    attributes.authentication = 0;
    if (parameters.AuthMethod !== undefined && !parameters.AuthMethod.split(",").includes("None")) parameters.AuthMethod = "CHAP,None";
    r.notHonoured.push(`${path}.attributes.authentication=1 not yet supported (no CHAP): set to 0, access is controlled by node ACLs only`);
  }
  const chap = r.chap(raw, path);

  const luns: LunConfig[] = [];
  const skippedLuns = new Set<number>();
  r.list(raw, "luns", path).forEach((l, i) => {
    const lp = `${path}.luns[${i}]`;
    r.unknownKeys(l, lp, ["index", "storage_object", "alias", "alua_tg_pt_gp_name"]);
    const index = r.int(l, "index", lp, [0, 65535], true);
    const soRaw = r.str(l, "storage_object", lp, true);
    const alias = r.str(l, "alias", lp);
    const group = r.str(l, "alua_tg_pt_gp_name", lp);
    if (index === undefined || soRaw === undefined) return;
    const storageObject = lunStorageObjectFromLio(soRaw.startsWith("/backstores/") ? soRaw : `/backstores/${soRaw}`);
    if (skippedSoPaths.has(storageObject)) {
      skippedLuns.add(index);
      return r.ignore(lp, `ignored: its storage object ${storageObject} is not imported`);
    }
    if (luns.some((x) => x.index === index)) return r.error(`${lp}.index`, `lun${index} appears twice`);
    if (luns.some((x) => x.storageObject === storageObject)) return r.error(`${lp}.storage_object`, `${storageObject} is already exported by another LUN of this TPG`);
    luns.push({ index, storageObject, alias: alias || undefined, ...(group && group !== DEFAULT_ALUA_GROUP ? { aluaGroup: group } : {}) });
  });

  const portals = r.list(raw, "portals", path).flatMap((p, i) => {
    const pp = `${path}.portals[${i}]`;
    r.unknownKeys(p, pp, ["ip_address", "port", "iser", "offload"]);
    const ip = r.str(p, "ip_address", pp, true);
    const port = r.int(p, "port", pp, [1, 65535]) ?? 3260;
    if (r.bool(p, "iser", pp) === true) r.ignore(`${pp}.iser`, "not yet supported (iSER)");
    if (r.bool(p, "offload", pp) === true) r.ignore(`${pp}.offload`, "not yet supported (cxgbit offload)");
    if (ip === undefined) return [];
    if (!/^(\[[0-9a-fA-F:.]+\]|[0-9a-fA-F:.]+)$/.test(ip) || ip === "") {
      r.error(`${pp}.ip_address`, `"${ip}" is not an IPv4 or bracketed IPv6 address`);
      return [];
    }
    return [{ ip, port }];
  });

  const nodeAcls: NodeAclConfig[] = [];
  r.list(raw, "node_acls", path).forEach((a, i) => {
    const ap = `${path}.node_acls[${i}]`;
    const acl = readNodeAcl(r, a, ap, luns, skippedLuns);
    if (!acl) return;
    if (nodeAcls.some((x) => x.initiatorName === acl.initiatorName)) return r.error(`${ap}.node_wwn`, `ACL for ${acl.initiatorName} appears twice`);
    nodeAcls.push(acl);
  });
  // Portico's own key (targetcli has no allowed networks): CIDR blocks logins may come from.
  const allowedNetworks: string[] = [];
  const netsRaw = raw[ALLOWED_NETWORKS_KEY];
  if (netsRaw !== undefined) {
    if (!Array.isArray(netsRaw)) r.error(`${path}.${ALLOWED_NETWORKS_KEY}`, "must be a list of networks like 192.168.1.0/24");
    else
      netsRaw.forEach((n, i) => {
        const np = `${path}.${ALLOWED_NETWORKS_KEY}[${i}]`;
        if (typeof n !== "string") return r.error(np, `must be a network like 192.168.1.0/24, got ${JSON.stringify(n)}`);
        const text = r.check(np, () => parseCidr(n).text);
        if (typeof text === "string" && !allowedNetworks.includes(text)) allowedNetworks.push(text);
      });
  }
  // Portico's own key (targetcli ignores it): the cluster node that serves this TPG (docs/cluster.md).
  let node: string | undefined;
  if (raw[NODE_KEY] !== undefined && raw[NODE_KEY] !== null) {
    if (typeof raw[NODE_KEY] !== "string") r.error(`${path}.${NODE_KEY}`, `must be a node name, got ${JSON.stringify(raw[NODE_KEY])}`);
    else node = r.check(`${path}.${NODE_KEY}`, () => normalizeNodeName(raw[NODE_KEY] as string)) as string | undefined;
  }
  if (tag === undefined) return undefined;
  return { tag, enabled, attributes, parameters, chap, ...(allowedNetworks.length ? { allowedNetworks } : {}), ...(node ? { node } : {}), luns, portals, nodeAcls };
}

function readNodeAcl(r: Reader, raw: Json, path: string, luns: LunConfig[], skippedLuns: Set<number>): NodeAclConfig | undefined {
  r.unknownKeys(raw, path, ["node_wwn", "attributes", "mapped_luns", "tag", "cmdsn_depth", "tcq_depth", ...CHAP_KEYS]);
  const wwnRaw = r.str(raw, "node_wwn", path, true);
  const initiatorName = wwnRaw === undefined ? undefined : r.check(`${path}.node_wwn`, () => normalizeIscsiName(wwnRaw, "initiatorName"));
  // LIO's key is `tag`; Portico calls it aclTag (one word per concept: not the TPG's tag).
  const aclTag = r.str(raw, "tag", path);
  if (aclTag !== undefined && aclTag !== "") r.check(`${path}.tag`, () => checkAclTag(aclTag));
  const depthRaw = raw.cmdsn_depth ?? raw.tcq_depth;
  let cmdsnDepth: number | undefined;
  if (depthRaw !== undefined && depthRaw !== "default") {
    // rtslib dumps tcq_depth as a string in older files.
    cmdsnDepth = r.check(`${path}.cmdsn_depth`, () => checkCmdsnDepth(typeof depthRaw === "string" ? Number(depthRaw) : depthRaw));
  }
  const attributes = r.intAttributes(raw, path, NODE_ACL_ATTRIBUTES);
  const chap = r.chap(raw, path);
  const mappedLuns: MappedLunConfig[] = [];
  r.list(raw, "mapped_luns", path).forEach((m, i) => {
    const mp = `${path}.mapped_luns[${i}]`;
    r.unknownKeys(m, mp, ["index", "tpg_lun", "write_protect", "alias"]);
    const index = r.int(m, "index", mp, [0, 65535], true);
    const tpgLun = r.int(m, "tpg_lun", mp, [0, 65535], true);
    const writeProtect = r.bool(m, "write_protect", mp) ?? false;
    const alias = r.str(m, "alias", mp);
    if (index === undefined || tpgLun === undefined) return;
    if (skippedLuns.has(tpgLun)) return r.ignore(mp, `ignored: tpg_lun ${tpgLun} is not imported`);
    if (!luns.some((l) => l.index === tpgLun)) return r.error(`${mp}.tpg_lun`, `the TPG has no lun${tpgLun} to map`);
    if (mappedLuns.some((x) => x.index === index)) return r.error(`${mp}.index`, `mapped_lun${index} appears twice`);
    mappedLuns.push({ index, tpgLun, writeProtect, alias: alias || undefined });
  });
  if (initiatorName === undefined) return undefined;
  return { initiatorName, aclTag: aclTag || undefined, cmdsnDepth, attributes, chap, mappedLuns };
}

// ---- export ------------------------------------------------------------------

export interface ExportOptions {
  /**
   * Include CHAP and discovery passwords (a complete saveconfig.json, as targetcli writes it).
   * Default true for files; the API only sends them when the caller asks.
   */
  secrets?: boolean;
}

/** The saveconfig.json object (keys as rtslib dumps them) for a configuration. */
export function toSaveconfig(config: PorticoConfig, opts: ExportOptions = {}): Json {
  const secrets = opts.secrets ?? true;
  const chapKeys = (chap: Chap): Json => {
    if (!capabilities.chap) return {};
    const out: Json = {};
    if (chap.userid) out.chap_userid = chap.userid;
    if (chap.password && secrets) out.chap_password = chap.password;
    if (chap.mutualUserid) out.chap_mutual_userid = chap.mutualUserid;
    if (chap.mutualPassword && secrets) out.chap_mutual_password = chap.mutualPassword;
    return out;
  };
  const fabricModules: Json[] = [];
  const da = config.discoveryAuth;
  if (capabilities.chap && da.enabled) {
    const fm: Json = { name: "iscsi", discovery_enable_auth: true };
    if (da.userid) fm.discovery_userid = da.userid;
    if (da.password && secrets) fm.discovery_password = da.password;
    if (da.mutualUserid) fm.discovery_mutual_userid = da.mutualUserid;
    if (da.mutualPassword && secrets) fm.discovery_mutual_password = da.mutualPassword;
    fabricModules.push(fm);
  }
  const storageObjects = config.storageObjects.map((so) => {
    const attributes: Record<string, number> = { ...so.attributes, block_size: so.blockSize, emulate_write_cache: so.writeBack ? 1 : 0 };
    for (const k of READ_ONLY_SO_ATTRIBUTES) delete attributes[k];
    const out: Json = { attributes, name: so.name, plugin: so.plugin === "rbd" ? "user" : so.plugin, wwn: so.wwn };
    if (so.plugin === "rbd") Object.assign(out, { config: so.dev, size: so.size });
    if (so.plugin === "fileio") Object.assign(out, { aio: false, dev: so.dev, size: so.size, write_back: so.writeBack });
    if (so.plugin === "block") Object.assign(out, { dev: so.dev, readonly: so.readonly, write_back: so.writeBack });
    if (so.plugin === "ramdisk") out.size = so.size;
    out.alua_tpgs = aluaTpgsOf(so.aluaGroups);
    return out;
  });
  const targets = config.targets.map((t) => ({
    fabric: "iscsi",
    tpgs: t.tpgs.map((tpg) => ({
      attributes: tpg.attributes,
      enable: tpg.enabled,
      luns: tpg.luns.map((l) => ({ alias: l.alias, alua_tg_pt_gp_name: l.aluaGroup ?? DEFAULT_ALUA_GROUP, index: l.index, storage_object: lunStorageObjectToLio(l.storageObject) })),
      node_acls: tpg.nodeAcls.map((a) => {
        const out: Json = {
          attributes: a.attributes,
          mapped_luns: a.mappedLuns.map((m) => ({ alias: m.alias, index: m.index, tpg_lun: m.tpgLun, write_protect: m.writeProtect })),
          node_wwn: a.initiatorName,
          ...chapKeys(a.chap),
        };
        if (a.aclTag) out.tag = a.aclTag;
        // Only when it differs from the TPG's default_cmdsn_depth, so targetcli-made files round-trip unchanged.
        if (a.cmdsnDepth !== undefined && a.cmdsnDepth !== (tpg.attributes.default_cmdsn_depth ?? 64)) out.cmdsn_depth = a.cmdsnDepth;
        return out;
      }),
      parameters: tpg.parameters,
      portals: tpg.portals.map((p) => ({ ip_address: p.ip, iser: false, offload: false, port: p.port })),
      tag: tpg.tag,
      ...chapKeys(tpg.chap),
      ...(tpg.allowedNetworks?.length ? { [ALLOWED_NETWORKS_KEY]: tpg.allowedNetworks } : {}),
      ...(tpg.node ? { [NODE_KEY]: tpg.node } : {}),
    })),
    wwn: t.wwn,
  }));
  return { fabric_modules: fabricModules, storage_objects: storageObjects, targets };
}

/** `alua_tpgs` of a storage object as rtslib dumps them: default_tg_pt_gp first when the list lacks it. */
function aluaTpgsOf(groups: AluaGroupConfig[] | undefined): Json[] {
  const list = groups ?? [];
  const all = list.some((g) => g.name === DEFAULT_ALUA_GROUP) ? list : [{ name: DEFAULT_ALUA_GROUP, id: 0, attributes: aluaGroupDefaults() }, ...list];
  return all.map((g) => {
    const out: Json = { name: g.name, tg_pt_gp_id: g.id };
    for (const k of ALUA_GROUP_ATTRIBUTES) out[k] = g.attributes[k] ?? aluaGroupDefaults()[k];
    return out;
  });
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isObject(v)) {
    const out: Json = {};
    for (const k of Object.keys(v).sort()) if (v[k] !== undefined) out[k] = sortKeys(v[k]);
    return out;
  }
  return v;
}

/** Serializes like Python's json.dump(obj, sort_keys=True, indent=2) + "\n" (ensure_ascii). */
export function stringifySaveconfig(doc: unknown): string {
  const text = JSON.stringify(sortKeys(doc), null, 2).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `${text}\n`;
}

export function formatSaveconfig(config: PorticoConfig, opts: ExportOptions = {}): string {
  return stringifySaveconfig(toSaveconfig(config, opts));
}

/**
 * The engine's object store and the only place LIO objects are created or
 * deleted. Every method validates first and changes state last, so a refused
 * change leaves nothing half-applied.
 */
import { randomUUID } from "node:crypto";
import type { BackstorePlugin, BackstoreSpec, OpenBackstore } from "../backstores/backstore";
import type { DeviceInfo, ScsiDevice } from "../scsi/types";
import {
  DEFAULT_REVISION,
  DEFAULT_VENDOR_ID,
  PRODUCT_ID_BY_PLUGIN,
  nodeAclAttributeDefaults,
  storageObjectAttributeDefaults,
  tpgAttributeDefaults,
  tpgAttributeRanges,
  tpgParameterDefaults,
} from "./defaults";
import { EngineError } from "./errors";
import { MappedLun, NodeAcl, StorageObject, Target, Tpg, TpgLun, type ChapCredentials, type DiscoveryAuth } from "./model";
import { normalizeIscsiName, portalKey, validateStorageObjectName, validateUnitSerial } from "./names";

export const MAX_LUN = 65535;

/** A live session as the fabric reports it (for status, the API and the console). */
export interface SessionInfo {
  id: string;
  sessionType: "Normal" | "Discovery";
  initiatorName: string;
  initiatorAlias?: string;
  targetName?: string;
  tpgTag?: number;
  isid: string;
  tsih: number;
  loginTime: number;
  authenticated: boolean;
  connections: { cid: number; remoteAddress: string; remotePort: number; localAddress: string; localPort: number }[];
  /** Negotiated operational parameters (RFC 7143 key=value). */
  parameters: Record<string, string>;
}

export interface PortalStatus {
  key: string;
  ip: string;
  port: number;
  listening: boolean;
  error?: string;
}

/** The transport the engine drives: iSCSI (iscsi/IscsiFabric). */
export interface FabricDriver {
  /** Opens a listener; rejects with an EngineError (field "port") when the address is in use. */
  openPortal(ip: string, port: number): Promise<void>;
  closePortal(ip: string, port: number): Promise<void>;
  sessions(): SessionInfo[];
  /** Ends the sessions that match (an ACL removed, a TPG disabled, a target deleted). */
  closeSessions(match: (s: SessionInfo) => boolean): Promise<void>;
  /** Stops accepting, ends every session, waits for in-flight commands. */
  shutdown(): Promise<void>;
}

export interface StorageObjectSpec extends BackstoreSpec {
  wwn?: string;
  attributes?: Record<string, number>;
}

export interface EngineOptions {
  openBackstore: OpenBackstore;
  createDevice: (info: DeviceInfo) => ScsiDevice;
}

export class Engine {
  readonly storageObjects = new Map<string, StorageObject>();
  readonly targets = new Map<string, Target>();
  discoveryAuth: DiscoveryAuth = { enabled: false };
  fabric: FabricDriver | undefined;
  private readonly portalRefs = new Map<string, number>();
  private nextRtpi = 1;

  constructor(private readonly options: EngineOptions) {}

  attachFabric(fabric: FabricDriver): void {
    this.fabric = fabric;
  }

  // ---- storage objects -------------------------------------------------

  storageObject(plugin: string, name: string): StorageObject {
    const so = this.storageObjects.get(`${plugin}/${name}`);
    if (!so) throw new EngineError(`storage object ${plugin}/${name} does not exist`, "not_found", "storageObject");
    return so;
  }

  /** Finds a storage object by `/backstores/<plugin>/<name>`, `<plugin>/<name>` or a unique name. */
  findStorageObject(ref: string): StorageObject {
    const path = ref.replace(/^\/?backstores\//, "");
    const direct = this.storageObjects.get(path);
    if (direct) return direct;
    const byName = [...this.storageObjects.values()].filter((so) => so.name === path);
    if (byName.length === 1) return byName[0];
    throw new EngineError(`storage object "${ref}" does not exist`, "not_found", "storageObject");
  }

  async createStorageObject(spec: StorageObjectSpec): Promise<StorageObject> {
    const name = validateStorageObjectName(spec.name);
    if (!["ramdisk", "fileio", "block"].includes(spec.plugin)) {
      throw new EngineError(`unknown backstore plugin "${spec.plugin}": use ramdisk, fileio or block`, "invalid", "plugin");
    }
    const key = `${spec.plugin}/${name}`;
    if (this.storageObjects.has(key)) throw new EngineError(`storage object ${key} already exists`, "exists", "name");
    const blockSize = spec.blockSize ?? 512;
    if (blockSize !== 512 && blockSize !== 4096) {
      throw new EngineError(`block size ${blockSize} is not supported: use 512 or 4096`, "invalid", "blockSize");
    }
    const wwn = spec.wwn ? validateUnitSerial(spec.wwn) : randomUUID();
    const attributes = storageObjectAttributeDefaults(spec.plugin, blockSize);
    if (spec.writeBack) attributes.emulate_write_cache = 1;
    const overrides = spec.attributes ?? {};
    for (const [k, v] of Object.entries(overrides)) {
      if (!(k in attributes)) throw new EngineError(`unknown storage object attribute "${k}"`, "invalid", k);
      if (!Number.isInteger(v) || v < 0) throw new EngineError(`attribute ${k} must be a non-negative integer`, "invalid", k);
    }
    const backstore = await this.options.openBackstore({ ...spec, name, blockSize }).catch((err: unknown) => {
      if (err instanceof EngineError) throw err;
      throw new EngineError(`cannot open ${key}: ${(err as Error).message}`, "io", spec.plugin === "ramdisk" ? "size" : "dev");
    });
    // Attributes that follow the backstore: block_size and write-back are facts of the backstore.
    Object.assign(attributes, overrides, {
      block_size: backstore.blockSize,
      hw_block_size: backstore.blockSize,
      emulate_write_cache: backstore.writeBack ? 1 : 0,
    });
    const so = new StorageObject(
      spec.plugin,
      name,
      wwn,
      backstore,
      attributes,
      spec.dev,
      DEFAULT_VENDOR_ID,
      PRODUCT_ID_BY_PLUGIN[spec.plugin],
      DEFAULT_REVISION,
    );
    so.device = this.options.createDevice(so);
    this.storageObjects.set(key, so);
    return so;
  }

  async deleteStorageObject(plugin: string, name: string): Promise<void> {
    const so = this.storageObject(plugin, name);
    if (so.exports.size > 0) {
      const luns = [...so.exports].map((l) => `${l.tpg.target.iqn} tpg${l.tpg.tag} lun${l.index}`);
      throw new EngineError(`storage object ${so.key} is exported by ${luns.join(", ")}: delete those LUNs first`, "in_use");
    }
    this.storageObjects.delete(so.key);
    await so.backstore.close();
  }

  // ---- targets and TPGs -------------------------------------------------

  target(iqn: string): Target {
    const t = this.targets.get(iqn.toLowerCase());
    if (!t) throw new EngineError(`target ${iqn} does not exist`, "not_found", "wwn");
    return t;
  }

  tpg(iqn: string, tag: number): Tpg {
    const tpg = this.target(iqn).tpgs.get(tag);
    if (!tpg) throw new EngineError(`target ${iqn} has no tpg${tag}`, "not_found", "tag");
    return tpg;
  }

  createTarget(wwn: string): Target {
    const iqn = normalizeIscsiName(wwn, "wwn");
    if (this.targets.has(iqn)) throw new EngineError(`target ${iqn} already exists`, "exists", "wwn");
    const target = new Target(iqn);
    this.targets.set(iqn, target);
    return target;
  }

  async deleteTarget(iqn: string): Promise<void> {
    const target = this.target(iqn);
    for (const tag of [...target.tpgs.keys()]) await this.deleteTpg(target.iqn, tag);
    this.targets.delete(target.iqn);
  }

  createTpg(
    iqn: string,
    tag?: number,
    opts: { enabled?: boolean; attributes?: Record<string, number>; parameters?: Record<string, string> } = {},
  ): Tpg {
    const target = this.target(iqn);
    let t = tag;
    if (t === undefined) for (t = 1; target.tpgs.has(t); t++);
    if (!Number.isInteger(t) || t < 1 || t > 65535) throw new EngineError(`TPG tag ${t} is out of range 1..65535`, "invalid", "tag");
    if (target.tpgs.has(t)) throw new EngineError(`target ${iqn} already has tpg${t}`, "exists", "tag");
    const attributes = { ...tpgAttributeDefaults };
    for (const [k, v] of Object.entries(opts.attributes ?? {})) checkTpgAttribute(k, v);
    Object.assign(attributes, opts.attributes ?? {});
    const parameters = { ...tpgParameterDefaults };
    for (const [k, v] of Object.entries(opts.parameters ?? {})) checkTpgParameter(k, v);
    Object.assign(parameters, opts.parameters ?? {});
    const tpg = new Tpg(target, t, opts.enabled ?? true, attributes, parameters, this.nextRtpi++);
    target.tpgs.set(t, tpg);
    return tpg;
  }

  async deleteTpg(iqn: string, tag: number): Promise<void> {
    const tpg = this.tpg(iqn, tag);
    await this.closeTpgSessions(tpg);
    for (const key of [...tpg.portals]) await this.deletePortal(iqn, tag, key);
    for (const lun of tpg.luns.values()) lun.storageObject.exports.delete(lun);
    tpg.luns.clear();
    tpg.target.tpgs.delete(tag);
  }

  async setTpgEnabled(iqn: string, tag: number, enabled: boolean): Promise<void> {
    const tpg = this.tpg(iqn, tag);
    tpg.enabled = enabled;
    tpg.generation++;
    if (!enabled) await this.closeTpgSessions(tpg);
  }

  setTpgAttribute(iqn: string, tag: number, name: string, value: number): void {
    const tpg = this.tpg(iqn, tag);
    checkTpgAttribute(name, value);
    tpg.attributes[name] = value;
    tpg.generation++;
  }

  setTpgParameter(iqn: string, tag: number, name: string, value: string): void {
    const tpg = this.tpg(iqn, tag);
    checkTpgParameter(name, value);
    tpg.parameters[name] = value;
  }

  setTpgAuth(iqn: string, tag: number, chap: ChapCredentials): void {
    this.tpg(iqn, tag).chap = { ...chap };
  }

  // ---- LUNs ------------------------------------------------------------

  createLun(iqn: string, tag: number, storageObjectRef: string, opts: { index?: number; alias?: string } = {}): TpgLun {
    const tpg = this.tpg(iqn, tag);
    const so = this.findStorageObject(storageObjectRef);
    let index = opts.index;
    if (index === undefined) for (index = 0; tpg.luns.has(index); index++);
    if (!Number.isInteger(index) || index < 0 || index > MAX_LUN) throw new EngineError(`LUN ${index} is out of range 0..${MAX_LUN}`, "invalid", "index");
    if (tpg.luns.has(index)) throw new EngineError(`tpg${tag} of ${iqn} already has lun${index}`, "exists", "index");
    for (const l of tpg.luns.values()) {
      if (l.storageObject === so) throw new EngineError(`${so.path} is already exported by lun${l.index} of this TPG`, "exists", "storageObject");
    }
    const lun = new TpgLun(tpg, index, so, opts.alias ?? randomUUID().slice(-10));
    tpg.luns.set(index, lun);
    so.exports.add(lun);
    tpg.generation++;
    return lun;
  }

  deleteLun(iqn: string, tag: number, index: number): void {
    const tpg = this.tpg(iqn, tag);
    const lun = tpg.luns.get(index);
    if (!lun) throw new EngineError(`tpg${tag} of ${iqn} has no lun${index}`, "not_found", "index");
    // Mapped LUNs pointing at it go too, as in LIO (the configfs symlinks dangle otherwise).
    for (const acl of tpg.nodeAcls.values()) {
      for (const m of [...acl.mappedLuns.values()]) if (m.tpgLun === index) acl.mappedLuns.delete(m.index);
    }
    tpg.luns.delete(index);
    lun.storageObject.exports.delete(lun);
    tpg.generation++;
  }

  // ---- portals -----------------------------------------------------------

  /** Adds a portal to a TPG and opens its listener; an address in use leaves nothing behind. */
  async createPortal(iqn: string, tag: number, ip: string, port: number): Promise<string> {
    const tpg = this.tpg(iqn, tag);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new EngineError(`port ${port} is out of range 1..65535`, "invalid", "port");
    const key = portalKey(ip, port);
    if (tpg.portals.has(key)) throw new EngineError(`tpg${tag} of ${iqn} already has portal ${key}`, "exists", "ip");
    for (const other of tpg.target.tpgs.values()) {
      if (other.portals.has(key)) throw new EngineError(`TPGs within a target cannot share ${key} (tpg${other.tag} has it)`, "exists", "ip");
    }
    const refs = this.portalRefs.get(key) ?? 0;
    if (refs === 0 && this.fabric) await this.fabric.openPortal(ip, port);
    this.portalRefs.set(key, refs + 1);
    tpg.portals.add(key);
    return key;
  }

  async deletePortal(iqn: string, tag: number, key: string): Promise<void> {
    const tpg = this.tpg(iqn, tag);
    if (!tpg.portals.has(key)) throw new EngineError(`tpg${tag} of ${iqn} has no portal ${key}`, "not_found", "ip");
    tpg.portals.delete(key);
    const refs = (this.portalRefs.get(key) ?? 1) - 1;
    if (refs > 0) {
      this.portalRefs.set(key, refs);
      return;
    }
    this.portalRefs.delete(key);
    const sep = key.lastIndexOf(":");
    if (this.fabric) await this.fabric.closePortal(key.slice(0, sep), Number(key.slice(sep + 1)));
  }

  /** Every portal key in use, and whether its listener is up (set by the fabric). */
  portalKeys(): string[] {
    return [...this.portalRefs.keys()];
  }

  // ---- node ACLs and mapped LUNs -----------------------------------------

  nodeAcl(iqn: string, tag: number, initiatorName: string): NodeAcl {
    const acl = this.tpg(iqn, tag).aclFor(initiatorName);
    if (!acl) throw new EngineError(`tpg${tag} of ${iqn} has no ACL for ${initiatorName}`, "not_found", "initiatorName");
    return acl;
  }

  createNodeAcl(
    iqn: string,
    tag: number,
    initiatorName: string,
    opts: { attributes?: Record<string, number>; tag?: string; cmdsnDepth?: number; chap?: ChapCredentials } = {},
  ): NodeAcl {
    const tpg = this.tpg(iqn, tag);
    const name = normalizeIscsiName(initiatorName, "initiatorName");
    if (tpg.nodeAcls.has(name)) throw new EngineError(`tpg${tag} of ${iqn} already has an ACL for ${name}`, "exists", "initiatorName");
    for (const k of Object.keys(opts.attributes ?? {})) {
      if (!(k in nodeAclAttributeDefaults)) throw new EngineError(`unknown node ACL attribute "${k}"`, "invalid", k);
    }
    if (opts.tag !== undefined && !/^[^.\s]{1,64}$/.test(opts.tag)) {
      throw new EngineError(`ACL tag "${opts.tag}" is invalid: 1 to 64 characters, no '.' or spaces`, "invalid", "tag");
    }
    const acl = new NodeAcl(tpg, name, { ...nodeAclAttributeDefaults, ...opts.attributes }, opts.cmdsnDepth ?? tpg.attributes.default_cmdsn_depth);
    acl.tag = opts.tag;
    acl.chap = { ...opts.chap };
    tpg.nodeAcls.set(name, acl);
    tpg.generation++;
    return acl;
  }

  async deleteNodeAcl(iqn: string, tag: number, initiatorName: string): Promise<void> {
    const acl = this.nodeAcl(iqn, tag, initiatorName);
    acl.tpg.nodeAcls.delete(acl.initiatorName);
    acl.tpg.generation++;
    if (!acl.tpg.demoMode) {
      await this.fabric?.closeSessions(
        (s) => s.targetName === acl.tpg.target.iqn && s.tpgTag === acl.tpg.tag && s.initiatorName === acl.initiatorName,
      );
    }
  }

  createMappedLun(
    iqn: string,
    tag: number,
    initiatorName: string,
    spec: { index: number; tpgLun: number; writeProtect?: boolean; alias?: string },
  ): MappedLun {
    const acl = this.nodeAcl(iqn, tag, initiatorName);
    if (!Number.isInteger(spec.index) || spec.index < 0 || spec.index > MAX_LUN) {
      throw new EngineError(`mapped LUN ${spec.index} is out of range 0..${MAX_LUN}`, "invalid", "index");
    }
    if (acl.mappedLuns.has(spec.index)) throw new EngineError(`ACL ${acl.initiatorName} already has mapped_lun${spec.index}`, "exists", "index");
    if (!acl.tpg.luns.has(spec.tpgLun)) throw new EngineError(`tpg${tag} of ${iqn} has no lun${spec.tpgLun} to map`, "not_found", "tpgLun");
    const m = new MappedLun(spec.index, spec.tpgLun, spec.writeProtect ?? false, spec.alias ?? randomUUID().slice(-10));
    acl.mappedLuns.set(spec.index, m);
    acl.tpg.generation++;
    return m;
  }

  deleteMappedLun(iqn: string, tag: number, initiatorName: string, index: number): void {
    const acl = this.nodeAcl(iqn, tag, initiatorName);
    if (!acl.mappedLuns.delete(index)) throw new EngineError(`ACL ${acl.initiatorName} has no mapped_lun${index}`, "not_found", "index");
    acl.tpg.generation++;
  }

  // ---- lookups for the fabric ------------------------------------------

  /** The TPG of `targetName` reachable through a portal that accepted a connection on `localPortalKeys`. */
  tpgForLogin(targetName: string, listenerKey: string): Tpg | undefined {
    const target = this.targets.get(targetName.toLowerCase());
    if (!target) return undefined;
    for (const tpg of target.tpgs.values()) if (tpg.portals.has(listenerKey)) return tpg;
    return undefined;
  }

  /** Every enabled TPG, for SendTargets. */
  *enabledTpgs(): Iterable<Tpg> {
    for (const target of this.targets.values()) for (const tpg of target.tpgs.values()) if (tpg.enabled) yield tpg;
  }

  sessions(): SessionInfo[] {
    return this.fabric?.sessions() ?? [];
  }

  private async closeTpgSessions(tpg: Tpg): Promise<void> {
    await this.fabric?.closeSessions((s) => s.targetName === tpg.target.iqn && s.tpgTag === tpg.tag);
  }

  /** Removes every object (restoreconfig --clear). */
  async clear(): Promise<void> {
    for (const iqn of [...this.targets.keys()]) await this.deleteTarget(iqn);
    for (const so of [...this.storageObjects.values()]) await this.deleteStorageObject(so.plugin, so.name);
    this.discoveryAuth = { enabled: false };
  }

  /** SIGTERM path: stop the fabric (ends sessions, waits for in-flight commands), then flush and close backstores. */
  async shutdown(): Promise<void> {
    await this.fabric?.shutdown();
    for (const so of this.storageObjects.values()) {
      await so.backstore.flush().catch(() => undefined);
      await so.backstore.close().catch(() => undefined);
    }
  }
}

function checkTpgAttribute(name: string, value: number): void {
  const range = tpgAttributeRanges[name];
  if (!range) throw new EngineError(`unknown TPG attribute "${name}"`, "invalid", name);
  if (!Number.isInteger(value) || value < range[0] || value > range[1]) {
    throw new EngineError(`TPG attribute ${name} must be an integer in ${range[0]}..${range[1]}`, "invalid", name);
  }
}

function checkTpgParameter(name: string, value: string): void {
  if (!(name in tpgParameterDefaults)) throw new EngineError(`unknown iSCSI parameter "${name}"`, "invalid", name);
  if (typeof value !== "string" || value.length > 255) throw new EngineError(`iSCSI parameter ${name} must be at most 255 characters`, "invalid", name);
}

export type { BackstorePlugin };

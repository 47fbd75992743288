/**
 * The engine's object store and the only place LIO objects are created or
 * deleted. Every method validates first and changes state last, so a refused
 * change leaves nothing half-applied.
 */
import { parseCidr } from "./networks";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { BackstorePlugin, BackstoreSpec, ForwardedIo, OpenBackstore } from "../backstores/backstore";
import { devInoOf, formatBytes, freeBytes, isInside, PathRefusedError, realPolicy, resolveFileioPath, systemDirOf, type FileInUse, type FileioPolicyOptions, type ResolvedFile } from "../backstores/path-policy";
import { MAX_LUN } from "../scsi/lun";
import type { DeviceInfo, ScsiDevice } from "../scsi/types";
import {
  DEFAULT_REVISION,
  DEFAULT_VENDOR_ID,
  PRODUCT_ID_BY_PLUGIN,
  nodeAclAttributeDefaults,
  nodeAclAttributeRanges,
  nodeAclAttributeSupported,
  tpgAttributeSupported,
  unsupportedValue,
  storageObjectAttributeDefaults,
  checkStorageObjectAttributes,
  type AttributeRefusal,
  tpgAttributeDefaults,
  tpgAttributeRanges,
  tpgParameterDefaults,
  tpgParameterProblem,
} from "./defaults";
import { EngineError } from "./errors";
import { ALUA_GROUP_ATTRIBUTES, AluaTargetPortGroup, DEFAULT_ALUA_GROUP_NAME, checkAluaAttribute, validateAluaGroupName } from "./alua";
import { MappedLun, NodeAcl, StorageObject, Target, Tpg, TpgLun, type ChapCredentials, type DiscoveryAuth } from "./model";
import { aclTagReason, normalizeIscsiName, normalizeNodeName, portalKey, validateStorageObjectName, validateUnitSerial } from "./names";

export { MAX_LUN };

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
  /** INQUIRY identity; LIO's defaults (LIO-ORG, FILEIO/IBLOCK/RAMDISK-MCP, 4.0) when absent. */
  vendorId?: string;
  productId?: string;
  revision?: string;
}

/** INQUIRY identity of a storage object (LIO `wwn/` configfs group). */
export interface StorageObjectIdentity {
  /** Unit serial (VPD 0x80, and the NAA designator of VPD 0x83), a UUID. */
  wwn?: string;
  /** T10 VENDOR IDENTIFICATION, 1..8 printable ASCII characters. */
  vendorId?: string;
  /** PRODUCT IDENTIFICATION, 1..16 printable ASCII characters (turns emulate_model_alias off). */
  productId?: string;
  /** PRODUCT REVISION LEVEL, 1..4 printable ASCII characters. */
  revision?: string;
}

/** What a LUN-set change did to the nexuses of one TPG (for REPORTED LUNS DATA HAS CHANGED). */
type LunViews = Map<string, string>;

export interface EngineOptions {
  openBackstore: OpenBackstore;
  createDevice: (info: DeviceInfo) => ScsiDevice;
  /** Where fileio files may be (backstores/path-policy.ts): the data directory, the application's directory, the storage directory and roots. */
  fileio?: FileioPolicyOptions;
}

/** A LUN came or went (createLun; deleteLun, deleteTpg, deleteTarget): what the IO counters follow. */
export interface LunChange {
  type: "created" | "deleted";
  lun: TpgLun;
}

/** Options of a storage object delete. */
export interface DeleteStorageObjectOptions {
  /** fileio: remove the backing file too (never the default, as targetcli's delete keeps it). */
  deleteFile?: boolean;
}


export class Engine {
  readonly storageObjects = new Map<string, StorageObject>();
  readonly targets = new Map<string, Target>();
  discoveryAuth: DiscoveryAuth = { enabled: false };
  fabric: FabricDriver | undefined;
  private readonly portalRefs = new Map<string, number>();
  /**
   * This process's cluster node name (PORTICO_NODE), or undefined on a single appliance, which
   * serves every TPG whatever its `node`.
   */
  localNode: string | undefined;
  /**
   * The cluster's live members (from etcd leases), or undefined when unknown: SendTargets lists a
   * TPG another node serves only while that node is live.
   */
  liveNodes: ReadonlySet<string> | undefined;
  private nextRtpi = 1;
  private readonly lunListeners = new Set<(change: LunChange) => void>();

  private fileioPolicy: FileioPolicyOptions;

  constructor(private readonly options: EngineOptions) {
    this.fileioPolicy = { ...options.fileio, storageRoots: [...(options.fileio?.storageRoots ?? [])] };
  }

  /** The fileio path policy in force (backstores/path-policy.ts). */
  get fileioSettings(): Readonly<FileioPolicyOptions> & { storageRoots: readonly string[] } {
    return { ...this.fileioPolicy, storageRoots: [...(this.fileioPolicy.storageRoots ?? [])] };
  }

  /** Where a fileio object's file goes when no path is given: `<first storage root, else the storage directory>/<name>.img`. */
  defaultFilePath(name: string): string | undefined {
    const dir = this.fileioPolicy.storageRoots?.[0] ?? this.fileioPolicy.storageDir;
    return dir ? path.join(dir, `${name}.img`) : undefined;
  }

  /**
   * Restricts fileio files to these directories (empty: no restriction beyond the fixed rules).
   * Each must be an existing directory outside the refused places; refused when an existing
   * fileio object would fall outside them (the error names it).
   */
  async setStorageRoots(roots: string[], opts: { check?: boolean } = {}): Promise<string[]> {
    if (opts.check === false) {
      // Restoring the stored setting: a root that is missing now still restricts (nothing is allowed there).
      this.fileioPolicy.storageRoots = roots.map((r) => path.resolve(r));
      return [...this.fileioPolicy.storageRoots];
    }
    const checked: string[] = [];
    for (const r of roots) {
      if (!path.isAbsolute(r)) throw new EngineError(`storage root "${r}" is not an absolute path`, "invalid", "storageRoots");
      const real = await fs.promises.realpath(r).catch(() => undefined);
      const st = real ? await fs.promises.stat(real).catch(() => undefined) : undefined;
      if (!real || !st?.isDirectory()) throw new EngineError(`storage root ${r} is not an existing directory`, "invalid", "storageRoots");
      const pol = await realPolicy({ ...this.fileioPolicy, storageRoots: [] });
      const sys = systemDirOf(real);
      if (sys) throw new EngineError(`storage root ${r} is under ${sys}, a system directory where fileio is never allowed`, "invalid", "storageRoots");
      if (pol.dataDir && isInside(real, pol.dataDir)) {
        throw new EngineError(`storage root ${r} is inside the appliance's data directory ${pol.dataDir}, where fileio is never allowed`, "invalid", "storageRoots");
      }
      if (!checked.includes(path.resolve(r))) checked.push(path.resolve(r));
    }
    if (checked.length) {
      const realRoots = await Promise.all(checked.map((r) => fs.promises.realpath(r)));
      const outside = [...this.storageObjects.values()].filter((so) => so.plugin === "fileio" && so.realPath && !realRoots.some((r) => isInside(so.realPath!, r)));
      if (outside.length) {
        throw new EngineError(
          `these fileio storage objects are outside the storage roots: ${outside.map((so) => `${so.key} (${so.dev})`).join(", ")}: move or delete them first, or add their directory`,
          "in_use",
          "storageRoots",
        );
      }
    }
    this.fileioPolicy.storageRoots = checked;
    return checked;
  }

  /** fileio files in use, for "one file, one storage object". */
  private filesInUse(): FileInUse[] {
    return [...this.storageObjects.values()]
      .filter((so) => so.plugin === "fileio" && so.realPath)
      .map((so) => ({ key: so.key, dev: so.dev, realPath: so.realPath!, devIno: so.devIno }));
  }

  /**
   * Resolves and checks a fileio path (backstores/path-policy.ts) and the space a new or grown
   * sparse file promises: more than the file system has free needs `spec.overcommit`.
   */
  /**
   * The fileio checks of a create, without creating anything (the console's wizards ask before
   * the create): the path policy, the files in use, and the over-commit confirmation.
   */
  async checkFileioSpec(
    spec: Pick<StorageObjectSpec, "name" | "dev" | "size" | "sparse" | "overcommit" | "blockSize">,
    opts: { ignoreInUse?: boolean } = {},
  ): Promise<ResolvedFile> {
    return this.checkFileio(`fileio/${spec.name}`, { ...spec, plugin: "fileio" }, spec.blockSize ?? 512, opts.ignoreInUse ? [] : undefined);
  }

  private async checkFileio(key: string, spec: StorageObjectSpec, blockSize: number, inUse: FileInUse[] = this.filesInUse()): Promise<ResolvedFile> {
    if (!spec.dev) throw new EngineError(`${key} needs a file path (dev)`, "invalid", "dev");
    const resolved = await resolveFileioPath(spec.dev, this.fileioPolicy, inUse).catch((err: unknown) => {
      if (err instanceof PathRefusedError) throw new EngineError(`${key} refused: ${err.message}`, err.inUse ? "in_use" : "invalid", "dev");
      throw new EngineError(`cannot open ${key}: ${(err as Error).message}`, "io", "dev");
    });
    if (spec.size !== undefined && Number.isSafeInteger(spec.size) && spec.size > 0) {
      const wanted = spec.size - (spec.size % blockSize);
      const growth = wanted - resolved.size;
      if (growth > 0) {
        const dir = path.dirname(resolved.realPath);
        const free = await freeBytes(dir).catch(() => Number.POSITIVE_INFINITY);
        if (growth > free) {
          if (spec.sparse === false) {
            throw new EngineError(`${key}: ${formatBytes(growth)} are needed to allocate the file but the file system of ${dir} has only ${formatBytes(free)} free`, "invalid", "size");
          }
          if (!spec.overcommit) {
            throw new EngineError(
              `${key}: ${formatBytes(wanted)} is more than the ${formatBytes(free)} free on the file system of ${dir}. A sparse file can be created, but initiator writes fail once the file system is full: confirm over-commit to create it anyway`,
              "overcommit",
              "size",
            );
          }
        }
      }
    }
    return resolved;
  }

  /** Called after an ALUA group's state or status changed by itself or by SET TARGET PORT GROUPS (the config layer stores it). */
  onAluaChange?: (so: StorageObject, group: AluaTargetPortGroup) => void;

  /** Called with every storage object created, and again when its device is re-created (APTPL persistence: server/config/aptpl.ts). */
  onStorageObjectCreated?: (so: StorageObject) => void;

  /**
   * Calls `fn` for every LUN created or deleted from now on, after the change (the IO counters
   * follow LUNs this way: engine/index.ts). Returns the unsubscribe function. A listener that
   * throws is ignored: it must not undo a change that has been made.
   */
  onLunChange(fn: (change: LunChange) => void): () => void {
    this.lunListeners.add(fn);
    return () => this.lunListeners.delete(fn);
  }

  private lunChange(type: LunChange["type"], lun: TpgLun): void {
    for (const fn of this.lunListeners) {
      try {
        fn({ type, lun });
      } catch {
        // see onLunChange
      }
    }
  }

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
    if (!["ramdisk", "fileio", "block", "rbd"].includes(spec.plugin)) {
      throw new EngineError(`unknown backstore plugin "${spec.plugin}": use ramdisk, fileio, block or rbd`, "invalid", "plugin");
    }
    const key = `${spec.plugin}/${name}`;
    if (this.storageObjects.has(key)) throw new EngineError(`storage object ${key} already exists`, "exists", "name");
    const blockSize = spec.blockSize ?? 512;
    if (blockSize !== 512 && blockSize !== 4096) {
      throw new EngineError(`block size ${blockSize} is not supported: use 512 or 4096`, "invalid", "blockSize");
    }
    const wwn = spec.wwn ? validateUnitSerial(spec.wwn) : randomUUID();
    const identity = checkIdentity({ vendorId: spec.vendorId, productId: spec.productId, revision: spec.revision });
    const attributes = storageObjectAttributeDefaults(spec.plugin, blockSize);
    if (spec.writeBack) attributes.emulate_write_cache = 1;
    // The same rulebook as set and saveconfig import (core/defaults.ts checkStorageObjectAttributes).
    const checked = checkStorageObjectAttributes(attributes, spec.attributes ?? {}, { mode: "create" });
    if (checked.refusals.length) throw attributeError(checked.refusals[0]);
    const overrides: Record<string, number> = {};
    for (const k of Object.keys(spec.attributes ?? {})) if (k in checked.next && !(k === "block_size" || k === "emulate_write_cache")) overrides[k] = checked.next[k];
    const file = spec.plugin === "fileio" ? await this.checkFileio(key, spec, blockSize) : undefined;
    if (this.storageObjects.has(key)) throw new EngineError(`storage object ${key} already exists`, "exists", "name");
    // fileio opens the resolved real path: what was checked is what is opened.
    const backstore = await this.options.openBackstore({ ...spec, name, blockSize, ...(file ? { dev: file.realPath } : {}) }).catch((err: unknown) => {
      if (err instanceof EngineError) throw err;
      throw new EngineError(`cannot open ${key}: ${(err as Error).message}`, "io", spec.plugin === "ramdisk" ? "size" : "dev");
    });
    try {
      return this.addStorageObject(spec, name, key, wwn, identity, attributes, overrides, backstore, file);
    } catch (err) {
      await backstore.close().catch(() => undefined);
      if (file && !file.exists) await fs.promises.rm(file.realPath, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  private addStorageObject(
    spec: StorageObjectSpec,
    name: string,
    key: string,
    wwn: string,
    identity: StorageObjectIdentity,
    attributes: Record<string, number>,
    overrides: Record<string, number>,
    backstore: Awaited<ReturnType<OpenBackstore>>,
    file: ResolvedFile | undefined,
  ): StorageObject {
    // A new sparse fileio file stays thin only if initiators may UNMAP it: thin provisioning
    // (emulate_tpu, emulate_tpws) is on by default when the file was created sparse here and
    // punch-hole works (issue 10). Explicit attributes win; an existing file keeps LIO's default.
    const thin = spec.plugin === "fileio" && file !== undefined && !file.exists && spec.sparse !== false && backstore.reclaims === true ? { emulate_tpu: 1, emulate_tpws: 1 } : {};
    // Attributes that follow the backstore: block_size and write-back are facts of the backstore.
    Object.assign(attributes, backstore.attributeDefaults, thin, overrides, {
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
      identity.vendorId ?? DEFAULT_VENDOR_ID,
      identity.productId ?? PRODUCT_ID_BY_PLUGIN[spec.plugin],
      identity.revision ?? DEFAULT_REVISION,
    );
    if (file) {
      so.realPath = file.realPath;
      so.fileCreated = !file.exists;
      try {
        so.devIno = devInoOf(fs.statSync(file.realPath));
      } catch {
        so.devIno = file.devIno;
      }
    }
    so.device = this.options.createDevice(so);
    so.onAluaChange = (g) => this.onAluaChange?.(so, g);
    this.storageObjects.set(key, so);
    this.onStorageObjectCreated?.(so);
    return so;
  }

  /**
   * Deletes a storage object (refused while a LUN exports it). With `deleteFile`, a fileio
   * object's backing file is removed too, after the object is closed.
   */
  async deleteStorageObject(plugin: string, name: string, opts: DeleteStorageObjectOptions = {}): Promise<void> {
    const so = this.storageObject(plugin, name);
    if (so.exports.size > 0) {
      throw new EngineError(`storage object ${so.key} is exported by ${exportNames(so)}: delete those LUNs first`, "in_use");
    }
    this.storageObjects.delete(so.key);
    so.device?.close?.();
    await so.backstore.close();
    if (opts.deleteFile && so.plugin === "fileio" && so.realPath) {
      await fs.promises.rm(so.realPath, { force: true }).catch((err: unknown) => {
        throw new EngineError(`${so.key} was closed but its file ${so.realPath} could not be deleted: ${(err as Error).message}`, "io", "deleteFile");
      });
    }
  }

  /**
   * Sets storage object attributes, all or none (lio-model.md §2.1). Refused: unknown or
   * read-only attributes, values out of range, a change LIO refuses while the object is
   * exported (the error names the LUNs), emulate_tpu/tpws/unmap_zeroes_data without UNMAP
   * support (max_unmap_block_desc_count 0). The SCSI layer reads attributes live, so an
   * accepted change applies to the next command.
   */
  async setStorageObjectAttributes(plugin: string, name: string, changes: Record<string, number>): Promise<Record<string, number>> {
    const so = this.storageObject(plugin, name);
    const { next, refusals } = checkStorageObjectAttributes(so.attributes, changes, {
      mode: "set", objectKey: so.key, exportedBy: so.exports.size > 0 ? exportNames(so) : undefined,
    });
    if (refusals.length) throw attributeError(refusals[0]);
    if (next.block_size !== so.attributes.block_size) {
      // A new logical block size means re-opening the backstore with it (not exported: checked above).
      if (so.plugin === "ramdisk") throw new EngineError("a ramdisk's block_size is fixed at creation: re-create it with the block size you want", "invalid", "block_size");
      const reopened = await this.options
        .openBackstore({ plugin: so.plugin, name: so.name, dev: so.realPath ?? so.dev, size: so.sizeBytes, blockSize: next.block_size, writeBack: so.writeBack, readonly: so.backstore.readonly })
        .catch((err: unknown) => {
          throw new EngineError(`cannot re-open ${so.key} with block size ${next.block_size}: ${(err as Error).message}`, "io", "block_size");
        });
      await so.backstore.close();
      so.backstore = reopened;
      next.hw_block_size = reopened.blockSize;
      const hw = storageObjectAttributeDefaults(so.plugin, reopened.blockSize);
      next.hw_max_sectors = hw.hw_max_sectors;
      if (next.optimal_sectors > next.hw_max_sectors) next.optimal_sectors = next.hw_max_sectors;
      // Limits counted in blocks (rbd's UNMAP limits) follow the new block size.
      Object.assign(next, reopened.attributeDefaults);
      so.device = this.options.createDevice(so);
      this.onStorageObjectCreated?.(so);
    }
    Object.assign(so.attributes, next);
    return { ...so.attributes };
  }

  /** Sets the unit serial, vendor, product and revision: refused while exported, as LIO does (target_wwn_*_store). */
  setStorageObjectIdentity(plugin: string, name: string, identity: StorageObjectIdentity): void {
    const so = this.storageObject(plugin, name);
    const checked = checkIdentity(identity);
    const wwn = identity.wwn !== undefined ? validateUnitSerial(identity.wwn) : undefined;
    const field = Object.keys(identity).find((k) => identity[k as keyof StorageObjectIdentity] !== undefined) ?? "wwn";
    if (so.exports.size > 0) {
      throw new EngineError(`the identity of ${so.key} cannot change while it is exported (by ${exportNames(so)}), as in LIO: remove those LUNs first`, "in_use", field);
    }
    if (wwn !== undefined) so.wwn = wwn;
    if (checked.vendorId !== undefined) so.vendorId = checked.vendorId;
    if (checked.revision !== undefined) so.revision = checked.revision;
    if (checked.productId !== undefined) {
      so.productIdBase = checked.productId;
      // An explicit product id wins over the name-as-model alias.
      so.attributes.emulate_model_alias = 0;
    }
  }

  /**
   * Grows a storage object (fileio: the file; ramdisk: its capacity; block: to what the device
   * has grown to, re-read from /sys/class/block/<name>/size, e.g. after `losetup -c` or lvextend).
   * Shrinking is refused: initiators would lose data they wrote. A block object without `sizeBytes`
   * takes the device's whole new size. Every nexus gets CAPACITY DATA HAS CHANGED (2Ah/09h,
   * SBC-3 §4.10) from the SCSI layer on its next command.
   */
  async resizeStorageObject(plugin: string, name: string, sizeBytes?: number): Promise<number> {
    const so = this.storageObject(plugin, name);
    if (sizeBytes !== undefined && (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0)) throw new EngineError("size must be a positive number of bytes", "invalid", "size");
    const bs = so.backstore.blockSize;
    if (so.plugin === "block") {
      if (!so.backstore.deviceSize || !so.backstore.resize) throw new EngineError(`${so.key} cannot be resized`, "invalid", "size");
      const device = await so.backstore.deviceSize().catch((err: unknown) => {
        throw new EngineError(`cannot read the size of ${so.dev}: ${(err as Error).message}`, "io", "size");
      });
      const deviceUsable = device - (device % bs);
      if (deviceUsable <= so.sizeBytes) {
        throw new EngineError(
          `block device ${so.dev} did not grow: it has ${device} bytes and ${so.key} already uses ${so.sizeBytes}. Grow the device first (e.g. truncate the backing file and run losetup -c, or lvextend)`,
          "invalid", "size",
        );
      }
      const wanted = sizeBytes === undefined ? deviceUsable : sizeBytes - (sizeBytes % bs);
      if (wanted > deviceUsable) throw new EngineError(`block device ${so.dev} has only ${device} bytes: ${so.key} cannot grow to ${sizeBytes}`, "invalid", "size");
      if (wanted < so.sizeBytes) {
        throw new EngineError(`${so.key} cannot shrink from ${so.sizeBytes} to ${wanted} bytes: initiators would lose data (only growing is supported)`, "invalid", "size");
      }
      await so.backstore.resize(wanted).catch((err: unknown) => {
        throw new EngineError(`cannot grow ${so.key}: ${(err as Error).message}`, "io", "size");
      });
      return so.sizeBytes;
    }
    if (sizeBytes === undefined) throw new EngineError(`${so.key}: give the new size in bytes`, "invalid", "size");
    const target = sizeBytes - (sizeBytes % bs);
    if (target < so.sizeBytes) {
      throw new EngineError(`${so.key} cannot shrink from ${so.sizeBytes} to ${target} bytes: initiators would lose data (only growing is supported)`, "invalid", "size");
    }
    if (target === so.sizeBytes) return so.sizeBytes;
    if (!so.backstore.resize) throw new EngineError(`${so.key} cannot be resized`, "invalid", "size");
    await so.backstore.resize(target).catch((err: unknown) => {
      throw new EngineError(`cannot grow ${so.key}: ${(err as Error).message}`, "io", "size");
    });
    return so.sizeBytes;
  }

  // ---- ALUA target port groups (lio-model.md §1.3, target_core_alua.c) -----------

  aluaGroup(plugin: string, name: string, groupName: string): AluaTargetPortGroup {
    const so = this.storageObject(plugin, name);
    const g = so.aluaGroups.get(groupName);
    if (!g) throw new EngineError(`${so.key} has no ALUA group ${groupName}`, "not_found", "group");
    return g;
  }

  /**
   * Creates an ALUA target port group (targetcli `alua/ create name tag`): id 1..65535, unique in
   * the storage object, as are names. `attributes` are set as given (restore), without a transition.
   */
  createAluaGroup(plugin: string, name: string, groupName: string, id: number, attributes: Record<string, number> = {}): AluaTargetPortGroup {
    const so = this.storageObject(plugin, name);
    validateAluaGroupName(groupName);
    if (so.aluaGroups.has(groupName)) throw new EngineError(`${so.key} already has ALUA group ${groupName}`, "exists", "name");
    if (!Number.isInteger(id) || id < 1 || id > 65535) throw new EngineError(`ALUA group id ${id} is out of range 1..65535 (0 is default_tg_pt_gp's)`, "invalid", "id");
    const clash = [...so.aluaGroups.values()].find((g) => g.id === id);
    if (clash) throw new EngineError(`ALUA group id ${id} is already used by ${clash.name} of ${so.key}`, "exists", "id");
    const group = new AluaTargetPortGroup(so, groupName, id);
    loadAluaAttributes(group, attributes);
    so.aluaGroups.set(groupName, group);
    return group;
  }

  /** Deletes a group; its member LUNs go back to default_tg_pt_gp (as LIO). default_tg_pt_gp cannot be deleted. */
  deleteAluaGroup(plugin: string, name: string, groupName: string): void {
    const group = this.aluaGroup(plugin, name, groupName);
    if (group.isDefault) throw new EngineError(`${DEFAULT_ALUA_GROUP_NAME} cannot be deleted`, "invalid", "name");
    const members = group.members();
    for (const l of members) l.aluaGroup = group.storageObject.defaultAluaGroup;
    group.storageObject.aluaGroups.delete(groupName);
    if (members.length > 0) group.storageObject.device?.aluaStateChanged?.();
  }

  /** Sets a group's attributes as stored (restore/import): validated, no transition, no unit attention. */
  loadAluaGroupAttributes(plugin: string, name: string, groupName: string, attributes: Record<string, number>): void {
    loadAluaAttributes(this.aluaGroup(plugin, name, groupName), attributes);
  }

  /**
   * Changes group attributes, all valid or none: alua_access_state last, as an implicit transition
   * (Transitioning for trans_delay_msecs, then the state; 2Ah/06h to every I_T nexus). LIO refuses
   * an implicit change when the group's alua_access_type lacks Implicit.
   */
  async setAluaGroupAttributes(plugin: string, name: string, groupName: string, changes: Record<string, number>): Promise<Record<string, number>> {
    const group = this.aluaGroup(plugin, name, groupName);
    const next = { ...group.attributes, ...changes };
    for (const [k, v] of Object.entries(changes)) checkAluaAttribute(k, v, k === "alua_access_state" ? next : group.attributes);
    const state = changes.alua_access_state;
    if (state !== undefined && state !== group.state && !(next.alua_access_type & 1)) {
      throw new EngineError(`ALUA group ${groupName} does not allow implicit state changes (alua_access_type ${next.alua_access_type}): set alua_access_type to 1 or 3 first`, "invalid", "alua_access_state");
    }
    for (const [k, v] of Object.entries(changes)) if (k !== "alua_access_state") group.attributes[k] = v;
    if (state !== undefined) await group.transition(state, { explicit: false });
    return { ...group.attributes };
  }

  /**
   * Cluster ownership (server/cluster/ownership.ts): an implicit transition of a group that is
   * runtime state, decided by which gateway owns the LU, so it is not stored as configuration.
   * Every nexus of the LU gets ASYMMETRIC ACCESS STATE CHANGED (2Ah/06h), as for any transition.
   */
  async setAluaGroupRuntimeState(plugin: string, name: string, groupName: string, state: number): Promise<void> {
    await this.aluaGroup(plugin, name, groupName).transition(state, { explicit: false, transient: true });
  }

  /**
   * Fences a storage object's backstore on this node (a reason: every command on it gets NOT READY,
   * as for an offline image) or lifts that fence (undefined). Backstores without fencing ignore it.
   */
  fenceStorageObject(plugin: string, name: string, reason: string | undefined): void {
    this.storageObject(plugin, name).backstore.fence?.(reason);
  }

  /**
   * Cluster ownership: this node's data commands of the storage object go to `io` (the owner,
   * through the peer link) instead of its own backstore, or back to the backstore (undefined).
   * Backstores that cannot forward ignore it.
   */
  forwardStorageObject(plugin: string, name: string, io: ForwardedIo | undefined): void {
    this.storageObject(plugin, name).backstore.forward?.(io);
  }

  /** Puts a TPG LUN into an ALUA group of its storage object (LIO lun/alua_tg_pt_gp), online; every nexus gets 2Ah/06h. */
  setLunAluaGroup(wwn: string, tag: number, index: number, groupName: string): TpgLun {
    const tpg = this.tpg(wwn, tag);
    const lun = tpg.luns.get(index);
    if (!lun) throw new EngineError(`tpg${tag} of ${wwn} has no lun${index}`, "not_found", "index");
    const group = lun.storageObject.aluaGroups.get(groupName);
    if (!group) {
      throw new EngineError(`${lun.storageObject.key} has no ALUA group ${groupName} (it has ${[...lun.storageObject.aluaGroups.keys()].join(", ")})`, "not_found", "group");
    }
    if (lun.aluaGroup === group && !lun.aluaOffline) return lun;
    lun.aluaGroup = group;
    // A port set Offline by SET TARGET PORT GROUPS comes back online when it is (re)assigned, as re-attaching does in LIO.
    lun.aluaOffline = false;
    lun.storageObject.device?.aluaStateChanged?.();
    return lun;
  }

  // ---- targets and TPGs -------------------------------------------------

  target(wwn: string): Target {
    const t = this.targets.get(wwn.toLowerCase());
    if (!t) throw new EngineError(`target ${wwn} does not exist`, "not_found", "wwn");
    return t;
  }

  tpg(wwn: string, tag: number): Tpg {
    const tpg = this.target(wwn).tpgs.get(tag);
    if (!tpg) throw new EngineError(`target ${wwn} has no tpg${tag}`, "not_found", "tag");
    return tpg;
  }

  createTarget(wwn: string): Target {
    const name = normalizeIscsiName(wwn, "wwn");
    if (this.targets.has(name)) throw new EngineError(`target ${name} already exists`, "exists", "wwn");
    const target = new Target(name);
    this.targets.set(name, target);
    return target;
  }

  async deleteTarget(wwn: string): Promise<void> {
    const target = this.target(wwn);
    for (const tag of [...target.tpgs.keys()]) await this.deleteTpg(target.wwn, tag);
    this.targets.delete(target.wwn);
  }

  createTpg(
    wwn: string,
    tag?: number,
    opts: { enabled?: boolean; attributes?: Record<string, number>; parameters?: Record<string, string>; node?: string } = {},
  ): Tpg {
    const target = this.target(wwn);
    let t = tag;
    if (t === undefined) for (t = 1; target.tpgs.has(t); t++);
    if (!Number.isInteger(t) || t < 1 || t > 65535) throw new EngineError(`TPG tag ${t} is out of range 1..65535`, "invalid", "tag");
    if (target.tpgs.has(t)) throw new EngineError(`target ${wwn} already has tpg${t}`, "exists", "tag");
    const attributes = { ...tpgAttributeDefaults };
    for (const [k, v] of Object.entries(opts.attributes ?? {})) checkTpgAttribute(k, v);
    Object.assign(attributes, opts.attributes ?? {});
    const parameters = { ...tpgParameterDefaults };
    if (attributes.authentication === 1) parameters.AuthMethod = "CHAP";
    for (const [k, v] of Object.entries(opts.parameters ?? {})) checkTpgParameter(k, v);
    Object.assign(parameters, opts.parameters ?? {});
    const node = opts.node === undefined ? undefined : normalizeNodeName(opts.node);
    const tpg = new Tpg(target, t, opts.enabled ?? true, attributes, parameters, this.nextRtpi++);
    tpg.node = node;
    target.tpgs.set(t, tpg);
    return tpg;
  }

  async deleteTpg(wwn: string, tag: number): Promise<void> {
    const tpg = this.tpg(wwn, tag);
    await this.closeTpgSessions(tpg);
    for (const key of [...tpg.portals]) await this.deletePortal(wwn, tag, key);
    const luns = [...tpg.luns.values()];
    for (const lun of luns) lun.storageObject.exports.delete(lun);
    tpg.luns.clear();
    tpg.target.tpgs.delete(tag);
    for (const lun of luns) this.lunChange("deleted", lun);
  }

  async setTpgEnabled(wwn: string, tag: number, enabled: boolean): Promise<void> {
    const tpg = this.tpg(wwn, tag);
    tpg.enabled = enabled;
    tpg.generation++;
    if (!enabled) await this.closeTpgSessions(tpg);
  }

  setTpgAttribute(wwn: string, tag: number, name: string, value: number): void {
    const tpg = this.tpg(wwn, tag);
    checkTpgAttribute(name, value);
    const before = this.lunViews(tpg);
    tpg.attributes[name] = value;
    // LIO iscsit_ta_authentication: authentication=1 removes None from AuthMethod, 0 puts it back.
    if (name === "authentication") tpg.parameters.AuthMethod = value === 1 ? "CHAP" : "CHAP,None";
    // LIO iscsit_ta_generate_node_acls: demo mode needs cached dynamic ACLs.
    if (name === "generate_node_acls" && value === 1) tpg.attributes.cache_dynamic_acls = 1;
    tpg.generation++;
    if (name === "generate_node_acls" || name === "demo_mode_write_protect") this.lunsChanged(tpg, before);
  }

  setTpgParameter(wwn: string, tag: number, name: string, value: string): void {
    const tpg = this.tpg(wwn, tag);
    checkTpgParameter(name, value);
    tpg.parameters[name] = value;
  }

  setTpgAuth(wwn: string, tag: number, chap: ChapCredentials): void {
    this.tpg(wwn, tag).chap = checkChap(chap);
  }

  /** Networks (CIDR) logins to the TPG may come from; [] allows any. All valid, or nothing changes. */
  setTpgAllowedNetworks(wwn: string, tag: number, networks: readonly string[]): string[] {
    const tpg = this.tpg(wwn, tag);
    const parsed = networks.map((n) => {
      try {
        return parseCidr(n);
      } catch (err) {
        throw new EngineError((err as Error).message, "invalid", "allowedNetworks");
      }
    });
    tpg.allowedNetworks = parsed.filter((c, i) => parsed.findIndex((x) => x.text === c.text) === i);
    return tpg.allowedNetworks.map((c) => c.text);
  }

  setNodeAclAuth(wwn: string, tag: number, initiatorName: string, chap: ChapCredentials): void {
    this.nodeAcl(wwn, tag, initiatorName).chap = checkChap(chap);
  }

  setDiscoveryAuth(auth: DiscoveryAuth): void {
    this.discoveryAuth = { ...checkChap(auth), enabled: Boolean(auth.enabled) };
  }

  /** Node ACL attributes (lio-model.md §2.3), all or none. */
  setNodeAclAttributes(wwn: string, tag: number, initiatorName: string, changes: Record<string, number>): Record<string, number> {
    const acl = this.nodeAcl(wwn, tag, initiatorName);
    for (const [k, v] of Object.entries(changes)) checkNodeAclAttribute(k, v);
    Object.assign(acl.attributes, changes);
    return { ...acl.attributes };
  }

  /** cmdsn_depth: the command window new sessions of this initiator get (LIO applies it at the next login). */
  setNodeAclCmdsnDepth(wwn: string, tag: number, initiatorName: string, depth: number): void {
    const acl = this.nodeAcl(wwn, tag, initiatorName);
    acl.cmdsnDepth = checkCmdsnDepth(depth);
  }

  /** ACL tag (targetcli's initiator groups); undefined removes it. */
  setNodeAclTag(wwn: string, tag: number, initiatorName: string, aclTag: string | undefined): void {
    const acl = this.nodeAcl(wwn, tag, initiatorName);
    if (aclTag !== undefined) checkAclTag(aclTag);
    acl.aclTag = aclTag;
  }

  setMappedLunWriteProtect(wwn: string, tag: number, initiatorName: string, index: number, writeProtect: boolean): void {
    const acl = this.nodeAcl(wwn, tag, initiatorName);
    const m = acl.mappedLuns.get(index);
    if (!m) throw new EngineError(`ACL ${acl.initiatorName} has no mapped_lun${index}`, "not_found", "index");
    m.writeProtect = writeProtect;
    acl.tpg.generation++;
  }

  // ---- LUNs ------------------------------------------------------------

  createLun(wwn: string, tag: number, storageObjectRef: string, opts: { index?: number; alias?: string; aluaGroup?: string } = {}): TpgLun {
    const tpg = this.tpg(wwn, tag);
    const so = this.findStorageObject(storageObjectRef);
    const group = so.aluaGroups.get(opts.aluaGroup ?? DEFAULT_ALUA_GROUP_NAME);
    if (!group) throw new EngineError(`${so.key} has no ALUA group ${opts.aluaGroup} (it has ${[...so.aluaGroups.keys()].join(", ")})`, "not_found", "aluaGroup");
    let index = opts.index;
    if (index === undefined) for (index = 0; tpg.luns.has(index); index++);
    if (!Number.isInteger(index) || index < 0 || index > MAX_LUN) throw new EngineError(`LUN ${index} is out of range 0..${MAX_LUN}`, "invalid", "index");
    if (tpg.luns.has(index)) throw new EngineError(`tpg${tag} of ${wwn} already has lun${index}`, "exists", "index");
    for (const l of tpg.luns.values()) {
      if (l.storageObject === so) throw new EngineError(`${so.path} is already exported by lun${l.index} of this TPG`, "exists", "storageObject");
    }
    const before = this.lunViews(tpg);
    const lun = new TpgLun(tpg, index, so, opts.alias ?? randomUUID().slice(-10));
    lun.aluaGroup = group;
    tpg.luns.set(index, lun);
    so.exports.add(lun);
    tpg.generation++;
    this.lunsChanged(tpg, before);
    this.lunChange("created", lun);
    return lun;
  }

  deleteLun(wwn: string, tag: number, index: number): void {
    const tpg = this.tpg(wwn, tag);
    const lun = tpg.luns.get(index);
    if (!lun) throw new EngineError(`tpg${tag} of ${wwn} has no lun${index}`, "not_found", "index");
    const before = this.lunViews(tpg);
    // Mapped LUNs pointing at it go too, as in LIO (the configfs symlinks dangle otherwise).
    for (const acl of tpg.nodeAcls.values()) {
      for (const m of [...acl.mappedLuns.values()]) if (m.tpgLun === index) acl.mappedLuns.delete(m.index);
    }
    tpg.luns.delete(index);
    lun.storageObject.exports.delete(lun);
    tpg.generation++;
    this.lunsChanged(tpg, before);
    this.lunChange("deleted", lun);
  }

  // ---- portals -----------------------------------------------------------

  /** Adds a portal to a TPG and opens its listener; an address in use leaves nothing behind. */
  async createPortal(wwn: string, tag: number, ip: string, port: number): Promise<string> {
    const tpg = this.tpg(wwn, tag);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new EngineError(`port ${port} is out of range 1..65535`, "invalid", "port");
    const key = portalKey(ip, port);
    if (tpg.portals.has(key)) throw new EngineError(`tpg${tag} of ${wwn} already has portal ${key}`, "exists", "ip");
    for (const other of tpg.target.tpgs.values()) {
      if (other.portals.has(key)) throw new EngineError(`TPGs within a target cannot share ${key} (tpg${other.tag} has it)`, "exists", "ip");
    }
    if (this.servesHere(tpg)) await this.retainPortal(key);
    tpg.portals.add(key);
    return key;
  }

  /** Does this process open the TPG's portals (its `node` is unset, is this node, or this is a single appliance)? */
  servesHere(tpg: Tpg): boolean {
    return tpg.node === undefined || this.localNode === undefined || tpg.node === this.localNode;
  }

  /**
   * Moves a TPG to another cluster node (undefined: any). Portals open here when it arrives and
   * close (with its sessions) when it leaves; nothing changes if opening fails.
   */
  async setTpgNode(wwn: string, tag: number, node: string | undefined): Promise<string | undefined> {
    const tpg = this.tpg(wwn, tag);
    const next = node === undefined || node === "" ? undefined : normalizeNodeName(node);
    const before = this.servesHere(tpg);
    const previous = tpg.node;
    tpg.node = next;
    const after = this.servesHere(tpg);
    if (before === after) return next;
    const keys = [...tpg.portals];
    try {
      if (after) {
        const opened: string[] = [];
        try {
          for (const key of keys) {
            await this.retainPortal(key);
            opened.push(key);
          }
        } catch (err) {
          for (const key of opened) await this.releasePortal(key);
          throw err;
        }
      } else {
        await this.closeTpgSessions(tpg);
        for (const key of keys) await this.releasePortal(key);
      }
    } catch (err) {
      tpg.node = previous;
      throw err;
    }
    tpg.generation++;
    return next;
  }

  private async retainPortal(key: string): Promise<void> {
    const refs = this.portalRefs.get(key) ?? 0;
    if (refs === 0 && this.fabric) {
      const sep = key.lastIndexOf(":");
      await this.fabric.openPortal(key.slice(0, sep), Number(key.slice(sep + 1)));
    }
    this.portalRefs.set(key, refs + 1);
  }

  private async releasePortal(key: string): Promise<void> {
    const refs = (this.portalRefs.get(key) ?? 1) - 1;
    if (refs > 0) {
      this.portalRefs.set(key, refs);
      return;
    }
    this.portalRefs.delete(key);
    const sep = key.lastIndexOf(":");
    if (this.fabric) await this.fabric.closePortal(key.slice(0, sep), Number(key.slice(sep + 1)));
  }

  async deletePortal(wwn: string, tag: number, key: string): Promise<void> {
    const tpg = this.tpg(wwn, tag);
    if (!tpg.portals.has(key)) throw new EngineError(`tpg${tag} of ${wwn} has no portal ${key}`, "not_found", "ip");
    tpg.portals.delete(key);
    if (this.servesHere(tpg)) await this.releasePortal(key);
  }

  /** Every portal key in use, and whether its listener is up (set by the fabric). */
  portalKeys(): string[] {
    return [...this.portalRefs.keys()];
  }

  // ---- node ACLs and mapped LUNs -----------------------------------------

  nodeAcl(wwn: string, tag: number, initiatorName: string): NodeAcl {
    const acl = this.tpg(wwn, tag).aclFor(initiatorName);
    if (!acl) throw new EngineError(`tpg${tag} of ${wwn} has no ACL for ${initiatorName}`, "not_found", "initiatorName");
    return acl;
  }

  createNodeAcl(
    wwn: string,
    tag: number,
    initiatorName: string,
    opts: { attributes?: Record<string, number>; aclTag?: string; cmdsnDepth?: number; chap?: ChapCredentials } = {},
  ): NodeAcl {
    const tpg = this.tpg(wwn, tag);
    const name = normalizeIscsiName(initiatorName, "initiatorName");
    if (tpg.nodeAcls.has(name)) throw new EngineError(`tpg${tag} of ${wwn} already has an ACL for ${name}`, "exists", "initiatorName");
    for (const k of Object.keys(opts.attributes ?? {})) {
      if (!(k in nodeAclAttributeDefaults)) throw new EngineError(`unknown node ACL attribute "${k}"`, "invalid", k);
    }
    for (const [k, v] of Object.entries(opts.attributes ?? {})) checkNodeAclAttribute(k, v);
    if (opts.aclTag !== undefined) checkAclTag(opts.aclTag);
    if (opts.cmdsnDepth !== undefined) checkCmdsnDepth(opts.cmdsnDepth);
    const chap = checkChap(opts.chap ?? {});
    const before = this.lunViews(tpg);
    const acl = new NodeAcl(tpg, name, { ...nodeAclAttributeDefaults, ...opts.attributes }, opts.cmdsnDepth ?? tpg.attributes.default_cmdsn_depth);
    acl.aclTag = opts.aclTag;
    acl.chap = chap;
    tpg.nodeAcls.set(name, acl);
    tpg.generation++;
    this.lunsChanged(tpg, before);
    return acl;
  }

  async deleteNodeAcl(wwn: string, tag: number, initiatorName: string): Promise<void> {
    const acl = this.nodeAcl(wwn, tag, initiatorName);
    const before = this.lunViews(acl.tpg);
    acl.tpg.nodeAcls.delete(acl.initiatorName);
    acl.tpg.generation++;
    // In demo mode the initiator stays logged in and falls back to the TPG's LUNs.
    this.lunsChanged(acl.tpg, before);
    if (!acl.tpg.demoMode) {
      await this.fabric?.closeSessions(
        (s) => s.targetName === acl.tpg.target.wwn && s.tpgTag === acl.tpg.tag && s.initiatorName === acl.initiatorName,
      );
    }
  }

  createMappedLun(
    wwn: string,
    tag: number,
    initiatorName: string,
    spec: { index: number; tpgLun: number; writeProtect?: boolean; alias?: string },
  ): MappedLun {
    const acl = this.nodeAcl(wwn, tag, initiatorName);
    if (!Number.isInteger(spec.index) || spec.index < 0 || spec.index > MAX_LUN) {
      throw new EngineError(`mapped LUN ${spec.index} is out of range 0..${MAX_LUN}`, "invalid", "index");
    }
    if (acl.mappedLuns.has(spec.index)) throw new EngineError(`ACL ${acl.initiatorName} already has mapped_lun${spec.index}`, "exists", "index");
    if (!acl.tpg.luns.has(spec.tpgLun)) throw new EngineError(`tpg${tag} of ${wwn} has no lun${spec.tpgLun} to map`, "not_found", "tpgLun");
    const before = this.lunViews(acl.tpg);
    const m = new MappedLun(spec.index, spec.tpgLun, spec.writeProtect ?? false, spec.alias ?? randomUUID().slice(-10));
    acl.mappedLuns.set(spec.index, m);
    acl.tpg.generation++;
    this.lunsChanged(acl.tpg, before);
    return m;
  }

  deleteMappedLun(wwn: string, tag: number, initiatorName: string, index: number): void {
    const acl = this.nodeAcl(wwn, tag, initiatorName);
    const before = this.lunViews(acl.tpg);
    if (!acl.mappedLuns.delete(index)) throw new EngineError(`ACL ${acl.initiatorName} has no mapped_lun${index}`, "not_found", "index");
    acl.tpg.generation++;
    this.lunsChanged(acl.tpg, before);
  }

  // ---- REPORTED LUNS DATA HAS CHANGED --------------------------------------

  /** The nexus keys of a TPG the SCSI devices know, by initiator name. */
  private tpgNexuses(tpg: Tpg): Map<string, Set<string>> {
    const byInitiator = new Map<string, Set<string>>();
    for (const lun of tpg.luns.values()) {
      for (const nexus of lun.storageObject.device?.knownNexuses?.() ?? []) {
        if (nexus.targetName !== tpg.target.wwn || nexus.tpgTag !== tpg.tag) continue;
        let set = byInitiator.get(nexus.initiatorName);
        if (!set) byInitiator.set(nexus.initiatorName, (set = new Set()));
        set.add(nexus.key);
      }
    }
    return byInitiator;
  }

  /** What every initiator with a nexus on this TPG sees now (LUN → TPG LUN, write protect). */
  private lunViews(tpg: Tpg): LunViews {
    const views: LunViews = new Map();
    for (const initiator of this.tpgNexuses(tpg).keys()) views.set(initiator, viewKey(tpg, initiator));
    return views;
  }

  /**
   * After a change to a TPG's LUNs, ACLs or mapped LUNs: every nexus whose LUN inventory
   * changed gets 3Fh/0Eh REPORTED LUNS DATA HAS CHANGED on the LUNs it already had
   * (SPC-4 §5.14; LIO target_luns_data_has_changed skips the new LUN itself).
   */
  private lunsChanged(tpg: Tpg, before: LunViews): void {
    if (before.size === 0) return;
    const nexuses = this.tpgNexuses(tpg);
    for (const [initiator, was] of before) {
      if (viewKey(tpg, initiator) === was) continue;
      const keys = nexuses.get(initiator);
      if (!keys) continue;
      const previous = new Set(JSON.parse(was).map((b: [number, number]) => b[1]));
      for (const b of tpg.bindingsFor(initiator)) {
        if (!previous.has(b.tpgLunIndex)) continue;
        tpg.luns.get(b.tpgLunIndex)?.storageObject.device?.reportedLunsChanged?.((k) => keys.has(k));
      }
    }
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

  /** The enabled TPGs SendTargets may list: this node's, and those of live cluster members. */
  *advertisedTpgs(): Iterable<Tpg> {
    for (const tpg of this.enabledTpgs()) {
      if (this.servesHere(tpg) || this.liveNodes === undefined || this.liveNodes.has(tpg.node!)) yield tpg;
    }
  }

  sessions(): SessionInfo[] {
    return this.fabric?.sessions() ?? [];
  }

  private async closeTpgSessions(tpg: Tpg): Promise<void> {
    await this.fabric?.closeSessions((s) => s.targetName === tpg.target.wwn && s.tpgTag === tpg.tag);
  }

  /** Removes every object (restoreconfig --clear). */
  async clear(): Promise<void> {
    for (const wwn of [...this.targets.keys()]) await this.deleteTarget(wwn);
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

/** The EngineError for the first refusal of checkStorageObjectAttributes. */
function attributeError(r: AttributeRefusal): EngineError {
  return new EngineError(r.message, r.kind === "exported" ? "in_use" : "invalid", r.name);
}

/** Validates every attribute first (the state against the support flags being set with it), then sets them. */
function loadAluaAttributes(group: AluaTargetPortGroup, attributes: Record<string, number>): void {
  const next = { ...group.attributes, ...attributes };
  for (const [k, v] of Object.entries(attributes)) checkAluaAttribute(k, v, next);
  for (const k of ALUA_GROUP_ATTRIBUTES) group.attributes[k] = next[k];
  group.pendingState = undefined;
}

function checkTpgAttribute(name: string, value: number): void {
  const range = tpgAttributeRanges[name];
  if (!range) throw new EngineError(`unknown TPG attribute "${name}"`, "invalid", name);
  if (!Number.isInteger(value) || value < range[0] || value > range[1]) {
    throw new EngineError(`TPG attribute ${name} must be an integer in ${range[0]}..${range[1]}`, "invalid", name);
  }
  const unsupported = unsupportedValue(tpgAttributeSupported, name, value);
  if (unsupported) throw new EngineError(`TPG attribute ${unsupported}`, "invalid", name);
}

/** Validates an iSCSI parameter's value against its RFC 7143 key (core/defaults.ts tpgParameterProblem, from the RFC key table). */
export function checkTpgParameter(name: string, value: string): void {
  const problem = tpgParameterProblem(name, value);
  if (problem) throw new EngineError(problem, "invalid", name);
}

function checkNodeAclAttribute(name: string, value: number): void {
  const range = nodeAclAttributeRanges[name];
  if (!range) throw new EngineError(`unknown node ACL attribute "${name}"`, "invalid", name);
  if (!Number.isInteger(value) || value < range[0] || value > range[1]) {
    throw new EngineError(`node ACL attribute ${name} must be an integer in ${range[0]}..${range[1]}`, "invalid", name);
  }
  const unsupported = unsupportedValue(nodeAclAttributeSupported, name, value);
  if (unsupported) throw new EngineError(`node ACL attribute ${unsupported}`, "invalid", name);
}

/** An ACL tag (rtslib NodeACLGroup): the engine's rule, which saveconfig import calls too. */
export function checkAclTag(aclTag: string): void {
  const reason = aclTagReason(aclTag);
  if (reason) throw new EngineError(`ACL tag "${aclTag}" is invalid: ${reason}`, "invalid", "aclTag");
}

/** A node ACL's cmdsn_depth (LIO's range): the engine's rule, which saveconfig import calls too. */
export function checkCmdsnDepth(depth: unknown): number {
  if (typeof depth !== "number" || !Number.isInteger(depth) || depth < 1 || depth > 512) {
    throw new EngineError(`cmdsn_depth must be an integer in 1..512, got ${JSON.stringify(depth)}`, "invalid", "cmdsnDepth");
  }
  return depth;
}

const CHAP_FIELDS = ["userid", "password", "mutualUserid", "mutualPassword"] as const;

/**
 * CHAP credentials as LIO stores them (auth/ attributes): each at most 255 characters,
 * never the literal NULL (rtslib _set_auth_attr). Messages never include a value.
 */
export function checkChap(chap: ChapCredentials): ChapCredentials {
  const out: ChapCredentials = {};
  for (const f of CHAP_FIELDS) {
    const v = chap[f];
    if (v === undefined || v === "") continue;
    out[f] = checkChapCredential(f, v);
  }
  if ((out.mutualUserid || out.mutualPassword) && !(out.userid && out.password)) {
    throw new EngineError("mutual CHAP needs the initiator's userid and password too", "invalid", "userid");
  }
  return out;
}

/** One CHAP credential: 1 to 255 printable characters, not NULL (saveconfig import checks each with it). */
export function checkChapCredential(field: (typeof CHAP_FIELDS)[number], v: unknown): string {
  if (typeof v !== "string" || v.length === 0 || v.length > 255 || v === "NULL" || /[\x00-\x1f]/.test(v)) {
    throw new EngineError(`CHAP ${field} must be 1 to 255 printable characters (and not NULL)`, "invalid", field);
  }
  return v;
}

/** INQUIRY identity strings: printable ASCII, space padded by the SCSI layer (SPC-4 §6.6.2). */
function checkIdentity(id: { vendorId?: string; productId?: string; revision?: string }): { vendorId?: string; productId?: string; revision?: string } {
  const limits = { vendorId: 8, productId: 16, revision: 4 } as const;
  const out: { vendorId?: string; productId?: string; revision?: string } = {};
  for (const k of ["vendorId", "productId", "revision"] as const) {
    const v = id[k];
    if (v === undefined) continue;
    if (typeof v !== "string" || v.length < 1 || v.length > limits[k] || !/^[\x20-\x7e]+$/.test(v)) {
      throw new EngineError(`${k} must be 1 to ${limits[k]} printable ASCII characters`, "invalid", k);
    }
    out[k] = v;
  }
  return out;
}

function exportNames(so: StorageObject): string {
  return [...so.exports].map((l) => `${l.tpg.target.wwn} tpg${l.tpg.tag} lun${l.index}`).join(", ");
}

function viewKey(tpg: Tpg, initiator: string): string {
  // Write protect is not part of the LUN inventory REPORT LUNS returns.
  return JSON.stringify(tpg.bindingsFor(initiator).map((b) => [b.lun, b.tpgLunIndex]));
}

export type { BackstorePlugin };

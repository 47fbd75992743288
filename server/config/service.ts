/**
 * ConfigService: the only writer of the configuration.
 *
 * Every change runs as one transaction across the database and the engine:
 *   BEGIN IMMEDIATE → engine change and row writes (order per change) → COMMIT.
 * If the engine refuses, the SQL transaction is rolled back (the DB is unchanged);
 * if a row write or the COMMIT fails, the undo steps registered so far put the
 * engine back. Changes are serialized, so at most one transaction is open.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import type { PorticoDb } from "../db";
import type { Engine } from "../engine/core/engine";
import { storageObjectAttributeRules } from "../engine/core/defaults";
import { EngineError } from "../engine/core/errors";
import { normalizeIscsiName, portalKey } from "../engine/core/names";
import { createRbdImage, removeRbdImage } from "../engine/backstores/rbd";
import { parseRbdConfig } from "../engine/backstores/rbd-config";
import type { BackstorePlugin } from "../engine/backstores/backstore";
import { applyAluaGroups, applyConfig, createStorageObjectIn, snapshotStorageObject, snapshotTarget, snapshotTpg, splitPortalKey } from "./apply";
import { ConfigImportError, type ConfigIssue } from "./errors";
import { paths, storageObjectPath, type PorticoConfig, type RestoreWarning, type StorageObjectConfig } from "./model";
import { DEFAULT_MAX_BACKUP_FILES, listBackups, readBackup, saveBackup, type BackupInfo } from "./backup";
import { formatSaveconfig, MIN_CHAP_SECRET, parseSaveconfig, type ExportOptions } from "./saveconfig";
import type { StorageObjectIdentity } from "../engine/core/engine";
import type { Chap, DiscoveryAuthConfig } from "./model";
import * as store from "./store";
import { diffState, type AuditedState } from "./diff";
import { auditScope } from "../history/audit";

/** Appliance settings kept in the settings table (targetcli's global preferences, lio-model.md §3.3). */
export interface ConfigSettings {
  /** targetcli auto_add_mapped_luns: map every TPG LUN into a new ACL, and a new LUN into every ACL. Default true. */
  autoAddMappedLuns: boolean;
  /** targetcli max_backup_files. Default 10. */
  maxBackupFiles: number;
  /** Directories fileio files must be in (empty: anywhere the fixed rules allow; docs/configuration.md). */
  storageRoots: string[];
}

const SETTING_KEYS = { autoAddMappedLuns: "auto_add_mapped_luns", maxBackupFiles: "max_backup_files", storageRoots: "storage_roots" } as const;

export interface ImportResult {
  /** Applied, but worth attention (short CHAP secrets), by name. */
  warnings: string[];
  notHonoured: string[];
  storageObjects: number;
  targets: number;
  cleared: boolean;
}

export interface CreateStorageObjectInput {
  plugin: BackstorePlugin;
  name: string;
  dev?: string;
  size?: number;
  wwn?: string;
  writeBack?: boolean;
  blockSize?: number;
  readonly?: boolean;
  sparse?: boolean;
  attributes?: Record<string, number>;
  vendorId?: string;
  productId?: string;
  revision?: string;
  /** rbd: create the image (of this many bytes) before opening it. */
  createImageSize?: number;
  /** fileio: accept a sparse size beyond the file system's free space. */
  overcommit?: boolean;
}

type Undo = () => unknown;

/** The configuration a cluster keeps the same on every node (server/cluster/config-sync.ts); the rest is node-local. */
export interface ReplicatedState {
  config: PorticoConfig;
  settings: { autoAddMappedLuns: boolean; maxBackupFiles: number };
}

/**
 * Where a cluster member publishes its changes (server/cluster/config-sync.ts). `publish` runs inside the
 * change, after its engine and row writes and before COMMIT: a throw refuses the change, which is then
 * rolled back and undone like any other failure. `committed` gets what `publish` returned, after COMMIT.
 */
export interface ConfigReplica {
  publish(state: ReplicatedState): Promise<unknown>;
  committed(receipt: unknown): void;
}

/** `iqn.2003-01.org.linux-iscsi.<host>.<machine>:sn.<12 hex>` (rtslib generate_wwn, lio-model.md §3.4). */
export function generateTargetWwn(): string {
  const host = os.hostname().split(".")[0].replace(/_/g, "").toLowerCase() || "portico";
  const machine = os.machine().replace(/_/g, "").toLowerCase();
  return `iqn.2003-01.org.linux-iscsi.${host}.${machine}:sn.${randomBytes(6).toString("hex")}`;
}

export class ConfigService {
  /** Objects that failed at the last restore, with the reason. */
  warnings: RestoreWarning[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  /** Set on a cluster member: every change is published there before it commits. */
  replica: ConfigReplica | undefined;

  constructor(
    private readonly db: PorticoDb,
    private readonly sqlite: Database.Database,
    readonly engine: Engine,
  ) {
    // SET TARGET PORT GROUPS and finished transitions change a group's state outside any API call:
    // store it, so the state survives a restart (LIO keeps it in alua_access_state, saveconfig dumps it).
    engine.onAluaChange = (so) => {
      try {
        if (!this.sqlite.open) return;
        store.updateStorageObject(this.db, snapshotStorageObject(so));
      } catch {
        // Not stored yet (an import still building it): its own transaction writes it.
      }
    };
  }

  // ---- reads -------------------------------------------------------------

  /** The stored configuration (including objects that failed to restore). */
  config(): PorticoConfig {
    return store.loadConfig(this.db);
  }

  /** saveconfig.json text; with `secrets: false` the CHAP and discovery passwords are left out. */
  exportSaveconfig(opts: ExportOptions = {}): string {
    return formatSaveconfig(this.config(), opts);
  }

  settings(): ConfigSettings {
    return {
      autoAddMappedLuns: store.getSetting<boolean>(this.db, SETTING_KEYS.autoAddMappedLuns) ?? true,
      maxBackupFiles: store.getSetting<number>(this.db, SETTING_KEYS.maxBackupFiles) ?? DEFAULT_MAX_BACKUP_FILES,
      storageRoots: store.getSetting<string[]>(this.db, SETTING_KEYS.storageRoots) ?? [],
    };
  }

  async setSettings(changes: Partial<ConfigSettings>): Promise<ConfigSettings> {
    if (changes.maxBackupFiles !== undefined && (!Number.isInteger(changes.maxBackupFiles) || changes.maxBackupFiles < 1 || changes.maxBackupFiles > 1000)) {
      throw new EngineError("max_backup_files must be an integer in 1..1000", "invalid", "maxBackupFiles");
    }
    return this.transaction(async (undo) => {
      if (changes.storageRoots !== undefined) {
        // The engine checks the directories and refuses roots that would leave an existing fileio object outside.
        const before = [...this.engine.fileioSettings.storageRoots];
        const roots = await this.engine.setStorageRoots(changes.storageRoots);
        undo(() => this.engine.setStorageRoots(before, { check: false }));
        store.setSetting(this.db, SETTING_KEYS.storageRoots, roots);
      }
      if (changes.autoAddMappedLuns !== undefined) store.setSetting(this.db, SETTING_KEYS.autoAddMappedLuns, Boolean(changes.autoAddMappedLuns));
      if (changes.maxBackupFiles !== undefined) store.setSetting(this.db, SETTING_KEYS.maxBackupFiles, changes.maxBackupFiles);
      return this.settings();
    });
  }

  /** A stored preference by its targetcli name (the shell's `set global`), or undefined when never set. */
  preference<T>(key: string): T | undefined {
    return store.getSetting<T>(this.db, key);
  }

  /** Stores preferences by their targetcli names, all or none. */
  async setPreferences(values: Record<string, unknown>): Promise<void> {
    const max = values.max_backup_files;
    if (max !== undefined && (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > 1000)) {
      throw new EngineError("max_backup_files must be an integer in 1..1000", "invalid", "maxBackupFiles");
    }
    return this.transaction(async () => {
      for (const [k, v] of Object.entries(values)) store.setSetting(this.db, k, v);
    });
  }

  // ---- backups -------------------------------------------------------------------

  /** `<data dir>`: where the database lives (backups go to `<data dir>/backup`). */
  get dataDir(): string | undefined {
    const file = this.sqlite.name;
    return file && file !== ":memory:" ? path.dirname(path.resolve(file)) : undefined;
  }

  listBackups(): BackupInfo[] {
    return this.dataDir ? listBackups(this.dataDir) : [];
  }

  /** A backup's saveconfig.json text (with secrets: it is the file targetcli would restore). */
  readBackup(name: string): string {
    if (!this.dataDir) throw new EngineError("this configuration has no data directory", "not_found", "name");
    return readBackup(this.dataDir, name);
  }

  /** Replaces the configuration with a backup (restoreconfig clear_existing), all-or-nothing. */
  async restoreBackup(name: string): Promise<ImportResult> {
    return this.importSaveconfig(this.readBackup(name), { clear: true });
  }

  /** After every committed change: a new backup when the configuration differs from the newest one. */
  private backup(): void {
    const dir = this.dataDir;
    if (!dir) return;
    try {
      saveBackup(dir, this.exportSaveconfig({ secrets: true }), this.settings().maxBackupFiles);
    } catch (err) {
      process.stderr.write(`portico: could not write a configuration backup in ${dir}/backup: ${messageOf(err)}\n`);
    }
  }

  // ---- restore -------------------------------------------------------------

  /** DB → engine at start-up. Objects that fail are reported in `warnings`; the rest serve. */
  async restore(): Promise<RestoreWarning[]> {
    return this.serialize(async () => {
      const warnings: RestoreWarning[] = [];
      const config = this.config();
      // The storage roots setting applies before any fileio object is opened (a missing root is still a restriction).
      await this.engine.setStorageRoots(this.settings().storageRoots, { check: false });
      await applyConfig(this.engine, config, (object, err) => warnings.push({ object, reason: messageOf(err) }), { restore: true });
      // applyConfig builds objects only; discovery authentication must come back too, or SendTargets is open after a restart.
      applyDiscoveryAuth(this.engine, config.discoveryAuth, (object, err) => warnings.push({ object, reason: messageOf(err) }));
      this.warnings = warnings;
      return warnings;
    });
  }

  // ---- import --------------------------------------------------------------

  /**
   * restoreconfig: applies a saveconfig.json. With `clear`, replaces everything;
   * without, refuses objects that already exist (rtslib). All-or-nothing.
   */
  async importSaveconfig(input: string | unknown, opts: { clear?: boolean; overcommit?: boolean } = {}): Promise<ImportResult> {
    const { config, notHonoured, warnings } = parseSaveconfig(input);
    const clear = opts.clear ?? false;
    return this.transaction(async (undo) => {
      const current = this.config();
      const issues: ConfigIssue[] = [];
      const known = new Set(config.storageObjects.map(storageObjectPath));
      if (!clear) {
        const have = new Set(current.storageObjects.map(storageObjectPath));
        for (const so of config.storageObjects) {
          const p = storageObjectPath(so);
          if (have.has(p)) issues.push({ path: p, message: "storage object already exists (import with clear to replace everything)" });
        }
        for (const t of config.targets) {
          if (current.targets.some((c) => c.wwn === t.wwn)) issues.push({ path: paths.target(t.wwn), message: "target already exists (import with clear to replace everything)" });
        }
        for (const p of have) known.add(p);
      }
      for (const t of config.targets) {
        for (const tpg of t.tpgs) {
          for (const l of tpg.luns) {
            if (!known.has(l.storageObject)) issues.push({ path: paths.lun(t.wwn, tpg.tag, l.index), message: `storage object ${l.storageObject} does not exist` });
          }
        }
      }
      if (issues.length) throw new ConfigImportError(issues);

      if (clear) {
        store.deleteAll(this.db);
        // Undo puts the previous configuration back (ramdisk contents do not survive a clear, as in LIO).
        // Registered before the clear, so a clear that fails part-way is undone too.
        undo(async () => {
          await this.engine.clear();
          const warnings: RestoreWarning[] = [];
          const onError = (object: string, err: unknown) => warnings.push({ object, reason: messageOf(err) });
          await applyConfig(this.engine, current, onError);
          applyDiscoveryAuth(this.engine, current.discoveryAuth, onError);
          this.warnings = warnings;
        });
        await this.engine.clear();
        this.warnings = [];
      }
      for (const so of config.storageObjects) {
        const key = `${so.plugin}/${so.name}`;
        undo(async () => {
          // A file this import created goes with it: a failed import leaves no file behind.
          const live = this.engine.storageObjects.get(key);
          if (live) await this.engine.deleteStorageObject(so.plugin, so.name, { deleteFile: live.fileCreated });
        });
      }
      for (const t of config.targets) {
        undo(async () => {
          if (this.engine.targets.has(t.wwn)) await this.engine.deleteTarget(t.wwn);
        });
      }
      // Undo runs in reverse: targets go before the storage objects they export.
      // Every storage object is tried, so that a refusal names each refused object (paths, sizes), not only the first.
      const refused: ConfigIssue[] = [];
      await applyConfig(
        this.engine,
        { storageObjects: config.storageObjects, targets: [] },
        (object, err) => {
          if (!(err instanceof EngineError)) throw err;
          refused.push({ path: object, message: err.message });
        },
        { overcommit: opts.overcommit },
      );
      if (refused.length) throw new ConfigImportError(refused);
      await applyConfig(this.engine, { storageObjects: [], targets: config.targets }, (object, err) => {
        throw err instanceof EngineError ? new ConfigImportError([{ path: object, message: err.message }]) : err;
      });
      for (const so of config.storageObjects) store.insertStorageObject(this.db, snapshotStorageObject(this.engine.storageObject(so.plugin, so.name)));
      for (const t of config.targets) store.insertTarget(this.db, snapshotTarget(this.engine.target(t.wwn)));
      if (config.discoveryAuth.enabled) {
        const before = { ...this.engine.discoveryAuth };
        this.engine.setDiscoveryAuth(config.discoveryAuth);
        undo(() => this.engine.setDiscoveryAuth(before));
        store.setDiscoveryAuth(this.db, config.discoveryAuth);
      }
      return { warnings, notHonoured, storageObjects: config.storageObjects.length, targets: config.targets.length, cleared: clear };
    });
  }

  // ---- storage objects --------------------------------------------------------

  async createStorageObject(input: CreateStorageObjectInput): Promise<StorageObjectConfig> {
    return this.transaction(async (undo) => {
      if (input.plugin === "rbd" && input.createImageSize !== undefined && input.dev) {
        const cfg = parseRbdConfig(input.dev);
        await createRbdImage(cfg.conf, cfg.id, cfg.pool, cfg.image, input.createImageSize).catch((err: Error) => {
          throw new EngineError(err.message, (err as { code?: string }).code === "EEXIST" ? "exists" : "io", "config");
        });
        undo(() => removeRbdImage(cfg.conf, cfg.id, cfg.pool, cfg.image).catch(() => undefined));
      }
      let dev = input.dev;
      if (input.plugin === "fileio" && !dev) {
        // A file path defaults from the object's name, in the storage directory (made on first use) or the first storage root.
        dev = this.engine.defaultFilePath(input.name);
        if (!dev) throw new EngineError("give the file path (dev): this appliance has no storage directory", "invalid", "dev");
        // A default path names a new file: an existing one (another appliance's, a stale one) is never adopted silently.
        if (fs.existsSync(dev)) throw new EngineError(`${dev} already exists: give its path explicitly to use it, or choose another name`, "exists", "dev");
        const dir = path.dirname(dev);
        if (dir === this.engine.fileioSettings.storageDir) await fs.promises.mkdir(dir, { recursive: true, mode: 0o750 });
      }
      const so = await this.engine.createStorageObject({
        overcommit: input.overcommit,
        plugin: input.plugin,
        name: input.name,
        dev,
        size: input.size,
        wwn: input.wwn,
        writeBack: input.writeBack,
        blockSize: input.blockSize,
        readonly: input.readonly,
        sparse: input.sparse,
        attributes: input.attributes,
        vendorId: input.vendorId,
        productId: input.productId,
        revision: input.revision,
      });
      // An undone create removes the file it made (a failed create leaves no file behind).
      undo(() => this.engine.deleteStorageObject(so.plugin, so.name, { deleteFile: so.fileCreated }));
      const snap = snapshotStorageObject(so);
      store.insertStorageObject(this.db, snap);
      return snap;
    });
  }

  /**
   * Deletes a storage object; with `deleteFile`, a fileio object's file too (never by default, as
   * targetcli). The file goes last, once nothing else can fail but the COMMIT.
   */
  async deleteStorageObject(plugin: BackstorePlugin, name: string, opts: { deleteFile?: boolean } = {}): Promise<{ fileDeleted?: string }> {
    return this.transaction(async (undo) => {
      const key = `${plugin}/${name}`;
      const live = this.engine.storageObjects.get(key);
      // The engine names the LUNs that still export it (the DB's RESTRICT would only say "constraint failed").
      if (live && live.exports.size > 0) await this.engine.deleteStorageObject(plugin, name);
      const rows = this.dbWrite(() => store.deleteStorageObjectRow(this.db, plugin, name));
      if (opts.deleteFile && plugin !== "fileio") throw new EngineError("only a fileio storage object has a file to delete", "invalid", "deleteFile");
      if (opts.deleteFile && !live) {
        throw new EngineError(`${key} is not open (it failed to restore): delete it without its file, then remove the file by hand`, "invalid", "deleteFile");
      }
      let fileDeleted: string | undefined;
      if (live) {
        const snap = snapshotStorageObject(live);
        await this.engine.deleteStorageObject(plugin, name, { deleteFile: opts.deleteFile });
        if (opts.deleteFile) fileDeleted = live.realPath;
        // Best effort: a ramdisk's contents are gone once it is closed (and so is a deleted file's).
        else {
          undo(async () => {
            await createStorageObjectIn(this.engine, snap);
            applyAluaGroups(this.engine, snap);
          });
        }
      } else if (rows === 0) throw new EngineError(`storage object ${key} does not exist`, "not_found", "name");
      this.dropWarnings(storageObjectPath({ plugin, name }));
      return fileDeleted ? { fileDeleted } : {};
    });
  }

  /** Storage object attributes, all or none (refusals name the LUNs when LIO refuses "while exported"). */
  async setStorageObjectAttributes(plugin: BackstorePlugin, name: string, attributes: Record<string, number>): Promise<Record<string, number>> {
    return this.transaction(async (undo) => {
      const so = this.engine.storageObject(plugin, name);
      const before = { ...so.attributes };
      const result = await this.engine.setStorageObjectAttributes(plugin, name, attributes);
      undo(() => restoreStorageObjectAttributes(this.engine, plugin, name, before));
      this.dbWrite(() => store.updateStorageObject(this.db, snapshotStorageObject(so)));
      return result;
    });
  }

  /** Unit serial (VPD 0x80/0x83), vendor, product, revision: refused while exported, as LIO does. */
  async setStorageObjectIdentity(plugin: BackstorePlugin, name: string, identity: StorageObjectIdentity): Promise<StorageObjectConfig> {
    return this.transaction(async (undo) => {
      const so = this.engine.storageObject(plugin, name);
      const before = { wwn: so.wwn, vendorId: so.vendorId, productIdBase: so.productIdBase, revision: so.revision, alias: so.attributes.emulate_model_alias };
      this.engine.setStorageObjectIdentity(plugin, name, identity);
      undo(async () => {
        this.engine.setStorageObjectIdentity(plugin, name, { wwn: before.wwn, vendorId: before.vendorId, productId: before.productIdBase, revision: before.revision });
        await this.engine.setStorageObjectAttributes(plugin, name, { emulate_model_alias: before.alias });
      });
      const snap = snapshotStorageObject(so);
      this.dbWrite(() => store.updateStorageObject(this.db, snap));
      return snap;
    });
  }

  /**
   * Grows a storage object (block: to its device's new size, re-read; `size` optional);
   * initiators get CAPACITY DATA HAS CHANGED.
   * The grown file cannot be shrunk back, so this change is not undone if the DB write failed
   * (the next start re-reads the file's size).
   */
  async resizeStorageObject(plugin: BackstorePlugin, name: string, size?: number): Promise<{ size: number }> {
    return this.transaction(async () => {
      const so = this.engine.storageObject(plugin, name);
      const bytes = await this.engine.resizeStorageObject(plugin, name, size);
      this.dbWrite(() => store.updateStorageObject(this.db, snapshotStorageObject(so)));
      return { size: bytes };
    });
  }

  // ---- ALUA target port groups ------------------------------------------------

  /** targetcli `alua/ create name tag`: a new group (Active/Optimized, LIO's defaults unless `attributes`). */
  async createAluaGroup(plugin: BackstorePlugin, name: string, group: string, id: number, attributes: Record<string, number> = {}): Promise<StorageObjectConfig> {
    return this.transaction(async (undo) => {
      this.engine.createAluaGroup(plugin, name, group, id, attributes);
      undo(() => this.engine.deleteAluaGroup(plugin, name, group));
      const snap = snapshotStorageObject(this.engine.storageObject(plugin, name));
      this.dbWrite(() => store.updateStorageObject(this.db, snap));
      return snap;
    });
  }

  /** Deletes a group; its LUNs go back to default_tg_pt_gp (as LIO). */
  async deleteAluaGroup(plugin: BackstorePlugin, name: string, group: string): Promise<void> {
    return this.transaction(async (undo) => {
      const so = this.engine.storageObject(plugin, name);
      const live = this.engine.aluaGroup(plugin, name, group);
      const members = live.members();
      const before = { id: live.id, attributes: { ...live.attributes } };
      this.engine.deleteAluaGroup(plugin, name, group);
      undo(() => {
        this.engine.createAluaGroup(plugin, name, group, before.id, before.attributes);
        for (const l of members) this.engine.setLunAluaGroup(l.tpg.target.wwn, l.tpg.tag, l.index, group);
      });
      this.dbWrite(() => {
        store.updateStorageObject(this.db, snapshotStorageObject(so));
        for (const l of members) store.updateLunAluaGroup(this.db, l.tpg.target.wwn, l.tpg.tag, l.index, undefined);
      });
    });
  }

  /**
   * Group attributes, all valid or none. A new alua_access_state is an implicit transition (through
   * Transitioning for trans_delay_msecs; every session of the LU gets 2Ah/06h); resolves once it holds.
   */
  async setAluaGroupAttributes(plugin: BackstorePlugin, name: string, group: string, attributes: Record<string, number>): Promise<Record<string, number>> {
    return this.transaction(async (undo) => {
      const live = this.engine.aluaGroup(plugin, name, group);
      const before = { ...live.attributes, alua_access_state: live.persistentState };
      const result = await this.engine.setAluaGroupAttributes(plugin, name, group, attributes);
      undo(() => this.engine.loadAluaGroupAttributes(plugin, name, group, before));
      this.dbWrite(() => store.updateStorageObject(this.db, snapshotStorageObject(live.storageObject)));
      return result;
    });
  }

  /** Moves a TPG LUN (a target port of its storage object) into one of the object's ALUA groups. */
  async setLunAluaGroup(wwn: string, tag: number, index: number, group: string): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const lun = this.engine.tpg(iqn, tag).luns.get(index);
      const previous = lun?.aluaGroup.name;
      const moved = this.engine.setLunAluaGroup(iqn, tag, index, group);
      if (previous !== undefined) undo(() => this.engine.setLunAluaGroup(iqn, tag, index, previous));
      this.dbWrite(() => store.updateLunAluaGroup(this.db, iqn, tag, index, moved.aluaGroup.isDefault ? undefined : moved.aluaGroup.name));
    });
  }

  // ---- targets and TPGs ------------------------------------------------------

  /** Creates a target (IQN generated when absent) with tpg1, enabled, as targetcli does. */
  async createTarget(input: { wwn?: string; tpg?: boolean } = {}): Promise<{ wwn: string }> {
    return this.transaction(async (undo) => {
      const target = this.engine.createTarget(input.wwn ?? generateTargetWwn());
      undo(() => this.engine.deleteTarget(target.wwn));
      if (input.tpg ?? true) this.engine.createTpg(target.wwn, 1, { enabled: true });
      store.insertTarget(this.db, snapshotTarget(target));
      return { wwn: target.wwn };
    });
  }

  async deleteTarget(wwn: string): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const live = this.engine.targets.get(iqn);
      const rows = this.dbWrite(() => store.deleteTargetRow(this.db, iqn));
      if (live) {
        const snap = snapshotTarget(live);
        await this.engine.deleteTarget(iqn);
        undo(() => applyConfig(this.engine, { storageObjects: [], targets: [snap] }, () => undefined));
      } else if (rows === 0) throw new EngineError(`target ${iqn} does not exist`, "not_found", "wwn");
      this.dropWarnings(paths.target(iqn));
    });
  }

  async createTpg(wwn: string, tag?: number): Promise<{ tag: number }> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const tpg = this.engine.createTpg(iqn, tag, { enabled: true });
      undo(() => this.engine.deleteTpg(iqn, tpg.tag));
      this.dbWrite(() => store.insertTpg(this.db, iqn, snapshotTpg(tpg)));
      return { tag: tpg.tag };
    });
  }

  async deleteTpg(wwn: string, tag: number): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const live = this.engine.targets.get(iqn)?.tpgs.get(tag);
      const rows = this.dbWrite(() => store.deleteTpgRow(this.db, iqn, tag));
      if (live) {
        const snap = snapshotTpg(live);
        await this.engine.deleteTpg(iqn, tag);
        undo(() => rebuildTpg(this.engine, iqn, snap));
      } else if (rows === 0) throw new EngineError(`target ${iqn} has no tpg${tag}`, "not_found", "tag");
      this.dropWarnings(paths.tpg(iqn, tag));
    });
  }

  async setTpgEnabled(wwn: string, tag: number, enabled: boolean): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const tpg = this.engine.tpg(iqn, tag);
      const before = tpg.enabled;
      this.dbWrite(() => store.updateTpg(this.db, iqn, tag, { enabled }));
      await this.engine.setTpgEnabled(iqn, tag, enabled);
      undo(() => this.engine.setTpgEnabled(iqn, tag, before));
    });
  }

  /** Sets several TPG attributes at once: all are validated by the engine, or none is applied. */
  async setTpgAttributes(wwn: string, tag: number, attributes: Record<string, number>): Promise<Record<string, number>> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const tpg = this.engine.tpg(iqn, tag);
      const before = { ...tpg.attributes };
      const params = { ...tpg.parameters };
      // Through the engine, so what a setting does besides (AuthMethod follows authentication; demo mode
      // changes the LUNs initiators see and raises REPORTED LUNS DATA HAS CHANGED) is undone the same way.
      undo(() => {
        for (const [k, v] of Object.entries(before)) if (tpg.attributes[k] !== v) this.engine.setTpgAttribute(iqn, tag, k, v);
        for (const [k, v] of Object.entries(params)) if (tpg.parameters[k] !== v) this.engine.setTpgParameter(iqn, tag, k, v);
      });
      // Validate everything before changing anything (the engine checks each as it goes).
      for (const [k, v] of Object.entries(attributes)) this.engine.setTpgAttribute(iqn, tag, k, v);
      this.dbWrite(() => store.updateTpg(this.db, iqn, tag, { attributes: { ...tpg.attributes }, parameters: { ...tpg.parameters } }));
      return { ...tpg.attributes };
    });
  }

  /** iSCSI parameters of a TPG (the target's side of login negotiation), all or none. */
  async setTpgParameters(wwn: string, tag: number, parameters: Record<string, string>): Promise<Record<string, string>> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const tpg = this.engine.tpg(iqn, tag);
      const before = { ...tpg.parameters };
      undo(() => {
        for (const [k, v] of Object.entries(before)) if (tpg.parameters[k] !== v) this.engine.setTpgParameter(iqn, tag, k, v);
      });
      for (const [k, v] of Object.entries(parameters)) this.engine.setTpgParameter(iqn, tag, k, v);
      this.dbWrite(() => store.updateTpg(this.db, iqn, tag, { parameters: { ...tpg.parameters } }));
      return { ...tpg.parameters };
    });
  }

  /** Networks (CIDR) logins to the TPG may come from; [] allows any. Returns them normalised. */
  async setTpgAllowedNetworks(wwn: string, tag: number, networks: string[]): Promise<string[]> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const tpg = this.engine.tpg(iqn, tag);
      const before = tpg.allowedNetworks.map((c) => c.text);
      undo(() => this.engine.setTpgAllowedNetworks(iqn, tag, before));
      const list = this.engine.setTpgAllowedNetworks(iqn, tag, networks);
      this.dbWrite(() => store.updateTpg(this.db, iqn, tag, { allowedNetworks: list }));
      return list;
    });
  }

  /**
   * The cluster node that serves the TPG (undefined: any). Its portals open on that node only;
   * on a node that stops serving it they close, with their sessions.
   */
  async setTpgNode(wwn: string, tag: number, node: string | undefined): Promise<string | undefined> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const before = this.engine.tpg(iqn, tag).node;
      const after = await this.engine.setTpgNode(iqn, tag, node);
      undo(async () => void (await this.engine.setTpgNode(iqn, tag, before)));
      this.dbWrite(() => store.updateTpg(this.db, iqn, tag, { node: after ?? null }));
      return after;
    });
  }

  /** TPG CHAP credentials (used in demo mode, generate_node_acls=1). */
  async setTpgAuth(wwn: string, tag: number, chap: Chap, opts: { requireChap?: boolean } = {}): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    checkNewSecrets(chap);
    return this.transaction(async (undo) => {
      const tpg = this.engine.tpg(iqn, tag);
      const before = { ...tpg.chap };
      this.engine.setTpgAuth(iqn, tag, chap);
      undo(() => this.engine.setTpgAuth(iqn, tag, before));
      this.dbWrite(() => store.updateTpgChap(this.db, iqn, tag, tpg.chap));
      if (opts.requireChap && chap.userid) this.requireChap(iqn, tag, undo);
    });
  }

  /**
   * Sets authentication=1 on a TPG inside a change (credentials saved with "require CHAP"):
   * CHAP that is set is then CHAP that is enforced, in the same all-or-nothing change.
   */
  private requireChap(iqn: string, tag: number, undo: (step: Undo) => void): void {
    const tpg = this.engine.tpg(iqn, tag);
    if (tpg.attributes.authentication === 1) return;
    const before = tpg.attributes.authentication;
    const authMethod = tpg.parameters.AuthMethod;
    undo(() => {
      this.engine.setTpgAttribute(iqn, tag, "authentication", before);
      this.engine.setTpgParameter(iqn, tag, "AuthMethod", authMethod);
    });
    this.engine.setTpgAttribute(iqn, tag, "authentication", 1);
    this.dbWrite(() => store.updateTpg(this.db, iqn, tag, { attributes: { ...tpg.attributes } }));
  }

  /** Discovery authentication (targetcli `/iscsi set discovery_auth`). */
  async setDiscoveryAuth(auth: DiscoveryAuthConfig): Promise<void> {
    checkNewSecrets(auth);
    if (auth.enabled && !(auth.userid && auth.password)) throw new EngineError("discovery authentication needs a userid and a password", "invalid", "userid");
    return this.transaction(async (undo) => {
      const before = { ...this.engine.discoveryAuth };
      this.engine.setDiscoveryAuth(auth);
      undo(() => this.engine.setDiscoveryAuth(before));
      this.dbWrite(() => store.setDiscoveryAuth(this.db, { ...this.engine.discoveryAuth }));
    });
  }

  // ---- LUNs ------------------------------------------------------------------

  async createLun(
    wwn: string,
    tag: number,
    storageObject: string,
    opts: { index?: number; alias?: string; addMappedLuns?: boolean; aluaGroup?: string } = {},
  ): Promise<{ index: number; alias: string; mapped: { initiatorName: string; index: number }[] }> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const lun = this.engine.createLun(iqn, tag, storageObject, opts);
      undo(() => this.engine.deleteLun(iqn, tag, lun.index));
      const group = lun.aluaGroup.isDefault ? undefined : lun.aluaGroup.name;
      this.dbWrite(() => store.insertLun(this.db, iqn, tag, lun.index, lun.storageObject.path, lun.alias, undefined, group));
      const mapped: { initiatorName: string; index: number }[] = [];
      if (opts.addMappedLuns ?? this.settings().autoAddMappedLuns) {
        // targetcli UILUNs: into every ACL at the LUN's own index, or the lowest free one if taken.
        for (const acl of this.engine.tpg(iqn, tag).nodeAcls.values()) {
          let index = lun.index;
          if (acl.mappedLuns.has(index)) for (index = 0; acl.mappedLuns.has(index); index++);
          const m = this.engine.createMappedLun(iqn, tag, acl.initiatorName, { index, tpgLun: lun.index });
          undo(() => acl.mappedLuns.has(m.index) && this.engine.deleteMappedLun(iqn, tag, acl.initiatorName, m.index));
          this.dbWrite(() => store.insertMappedLun(this.db, iqn, tag, acl.initiatorName, m.index, m.tpgLun, m.writeProtect, m.alias));
          mapped.push({ initiatorName: acl.initiatorName, index: m.index });
        }
      }
      return { index: lun.index, alias: lun.alias, mapped };
    });
  }

  async deleteLun(wwn: string, tag: number, index: number): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const tpg = this.engine.targets.get(iqn)?.tpgs.get(tag);
      const live = tpg?.luns.get(index);
      const rows = this.dbWrite(() => store.deleteLunRow(this.db, iqn, tag, index));
      if (tpg && live) {
        const dependants = [...tpg.nodeAcls.values()].flatMap((a) =>
          [...a.mappedLuns.values()].filter((m) => m.tpgLun === index).map((m) => ({ acl: a.initiatorName, m })),
        );
        this.engine.deleteLun(iqn, tag, index);
        undo(() => {
          this.engine.createLun(iqn, tag, live.storageObject.path, { index, alias: live.alias, aluaGroup: live.aluaGroup.name });
          for (const { acl, m } of dependants) this.engine.createMappedLun(iqn, tag, acl, { index: m.index, tpgLun: m.tpgLun, writeProtect: m.writeProtect, alias: m.alias });
        });
      } else if (rows === 0) throw new EngineError(`tpg${tag} of ${iqn} has no lun${index}`, "not_found", "index");
      this.dropWarnings(paths.lun(iqn, tag, index));
    });
  }

  // ---- portals ---------------------------------------------------------------

  async createPortal(wwn: string, tag: number, ip: string, port = 3260): Promise<{ key: string }> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    return this.transaction(async (undo) => {
      const key = await this.engine.createPortal(iqn, tag, ip, port);
      undo(() => this.engine.deletePortal(iqn, tag, key));
      const p = splitPortalKey(key);
      this.dbWrite(() => store.insertPortal(this.db, iqn, tag, p.ip, p.port));
      return { key };
    });
  }

  async deletePortal(wwn: string, tag: number, ip: string, port = 3260): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    const key = portalKey(ip, port);
    const p = splitPortalKey(key);
    return this.transaction(async (undo) => {
      const live = this.engine.targets.get(iqn)?.tpgs.get(tag)?.portals.has(key) ?? false;
      let rows = this.dbWrite(() => store.deletePortalRow(this.db, iqn, tag, p.ip, p.port));
      if (rows === 0 && p.ip !== ip) rows = this.dbWrite(() => store.deletePortalRow(this.db, iqn, tag, ip, port));
      if (live) {
        await this.engine.deletePortal(iqn, tag, key);
        undo(() => this.engine.createPortal(iqn, tag, p.ip, p.port));
      } else if (rows === 0) throw new EngineError(`tpg${tag} of ${iqn} has no portal ${key}`, "not_found", "ip");
      this.dropWarnings(paths.portal(iqn, tag, key));
    });
  }

  // ---- node ACLs and mapped LUNs ---------------------------------------------

  async createNodeAcl(
    wwn: string,
    tag: number,
    initiatorName: string,
    opts: { aclTag?: string; cmdsnDepth?: number; attributes?: Record<string, number>; chap?: Chap; addMappedLuns?: boolean; requireChap?: boolean } = {},
  ): Promise<{ initiatorName: string; mappedLuns: number[] }> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    if (opts.chap) checkNewSecrets(opts.chap);
    return this.transaction(async (undo) => {
      const acl = this.engine.createNodeAcl(iqn, tag, initiatorName, { aclTag: opts.aclTag, cmdsnDepth: opts.cmdsnDepth, attributes: opts.attributes, chap: opts.chap });
      undo(() => this.engine.deleteNodeAcl(iqn, tag, acl.initiatorName));
      if (opts.addMappedLuns ?? this.settings().autoAddMappedLuns) {
        // targetcli UINodeACLs: every TPG LUN at its own index, read-write.
        for (const lun of [...acl.tpg.luns.values()].sort((a, b) => a.index - b.index)) {
          this.engine.createMappedLun(iqn, tag, acl.initiatorName, { index: lun.index, tpgLun: lun.index });
        }
      }
      this.dbWrite(() =>
        store.insertNodeAcl(this.db, iqn, tag, {
          initiatorName: acl.initiatorName,
          aclTag: acl.aclTag,
          cmdsnDepth: acl.cmdsnDepth,
          attributes: { ...acl.attributes },
          chap: { ...acl.chap },
          mappedLuns: [...acl.mappedLuns.values()].map((m) => ({ index: m.index, tpgLun: m.tpgLun, writeProtect: m.writeProtect, alias: m.alias })),
        }),
      );
      if (opts.requireChap && opts.chap?.userid) this.requireChap(iqn, tag, undo);
      return { initiatorName: acl.initiatorName, mappedLuns: [...acl.mappedLuns.keys()] };
    });
  }

  /** ACL tag (initiator group), cmdsn_depth and attributes (nopin timeouts...), all or none. */
  async updateNodeAcl(
    wwn: string,
    tag: number,
    initiatorName: string,
    changes: { aclTag?: string | null; cmdsnDepth?: number; attributes?: Record<string, number> },
  ): Promise<NodeAclView> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    const name = normalizeIscsiName(initiatorName, "initiatorName");
    return this.transaction(async (undo) => {
      const acl = this.engine.nodeAcl(iqn, tag, name);
      const before = { aclTag: acl.aclTag, cmdsnDepth: acl.cmdsnDepth, attributes: { ...acl.attributes } };
      undo(() => {
        this.engine.setNodeAclTag(iqn, tag, name, before.aclTag);
        this.engine.setNodeAclCmdsnDepth(iqn, tag, name, before.cmdsnDepth);
        this.engine.setNodeAclAttributes(iqn, tag, name, before.attributes);
      });
      if (changes.aclTag !== undefined) this.engine.setNodeAclTag(iqn, tag, name, changes.aclTag ?? undefined);
      if (changes.cmdsnDepth !== undefined) this.engine.setNodeAclCmdsnDepth(iqn, tag, name, changes.cmdsnDepth);
      if (changes.attributes) this.engine.setNodeAclAttributes(iqn, tag, name, changes.attributes);
      this.dbWrite(() => store.updateNodeAcl(this.db, iqn, tag, name, { aclTag: acl.aclTag ?? null, cmdsnDepth: acl.cmdsnDepth, attributes: { ...acl.attributes } }));
      return { initiatorName: acl.initiatorName, aclTag: acl.aclTag ?? null, cmdsnDepth: acl.cmdsnDepth, attributes: { ...acl.attributes } };
    });
  }

  /** Per-ACL CHAP (used when the TPG's authentication=1, or when the initiator asks for CHAP). */
  async setNodeAclAuth(wwn: string, tag: number, initiatorName: string, chap: Chap, opts: { requireChap?: boolean } = {}): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    const name = normalizeIscsiName(initiatorName, "initiatorName");
    checkNewSecrets(chap);
    return this.transaction(async (undo) => {
      const acl = this.engine.nodeAcl(iqn, tag, name);
      const before = { ...acl.chap };
      this.engine.setNodeAclAuth(iqn, tag, name, chap);
      undo(() => this.engine.setNodeAclAuth(iqn, tag, name, before));
      this.dbWrite(() => store.updateNodeAcl(this.db, iqn, tag, name, { chap: { ...acl.chap } }));
      if (opts.requireChap && chap.userid) this.requireChap(iqn, tag, undo);
    });
  }

  async setMappedLunWriteProtect(wwn: string, tag: number, initiatorName: string, index: number, writeProtect: boolean): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    const name = normalizeIscsiName(initiatorName, "initiatorName");
    return this.transaction(async (undo) => {
      const before = this.engine.nodeAcl(iqn, tag, name).mappedLuns.get(index)?.writeProtect;
      this.engine.setMappedLunWriteProtect(iqn, tag, name, index, writeProtect);
      undo(() => this.engine.setMappedLunWriteProtect(iqn, tag, name, index, before ?? false));
      this.dbWrite(() => store.updateMappedLun(this.db, iqn, tag, name, index, writeProtect));
    });
  }

  async deleteNodeAcl(wwn: string, tag: number, initiatorName: string): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    const name = normalizeIscsiName(initiatorName, "initiatorName");
    return this.transaction(async (undo) => {
      const tpg = this.engine.targets.get(iqn)?.tpgs.get(tag);
      const live = tpg?.aclFor(name);
      const rows = this.dbWrite(() => store.deleteNodeAclRow(this.db, iqn, tag, name));
      if (tpg && live) {
        const snap = snapshotTpg(tpg).nodeAcls.find((a) => a.initiatorName === name)!;
        await this.engine.deleteNodeAcl(iqn, tag, name);
        undo(() => applyNodeAclSnapshot(this.engine, iqn, tag, snap));
      } else if (rows === 0) throw new EngineError(`tpg${tag} of ${iqn} has no ACL for ${name}`, "not_found", "initiatorName");
      this.dropWarnings(paths.acl(iqn, tag, name));
    });
  }

  async createMappedLun(
    wwn: string,
    tag: number,
    initiatorName: string,
    spec: { index: number; tpgLun: number; writeProtect?: boolean; alias?: string },
  ): Promise<{ index: number; alias: string }> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    const name = normalizeIscsiName(initiatorName, "initiatorName");
    return this.transaction(async (undo) => {
      const m = this.engine.createMappedLun(iqn, tag, name, spec);
      undo(() => this.engine.deleteMappedLun(iqn, tag, name, m.index));
      this.dbWrite(() => store.insertMappedLun(this.db, iqn, tag, name, m.index, m.tpgLun, m.writeProtect, m.alias));
      return { index: m.index, alias: m.alias };
    });
  }

  async deleteMappedLun(wwn: string, tag: number, initiatorName: string, index: number): Promise<void> {
    const iqn = normalizeIscsiName(wwn, "wwn");
    const name = normalizeIscsiName(initiatorName, "initiatorName");
    return this.transaction(async (undo) => {
      const live = this.engine.targets.get(iqn)?.tpgs.get(tag)?.aclFor(name)?.mappedLuns.get(index);
      const rows = this.dbWrite(() => store.deleteMappedLunRow(this.db, iqn, tag, name, index));
      if (live) {
        this.engine.deleteMappedLun(iqn, tag, name, index);
        undo(() => this.engine.createMappedLun(iqn, tag, name, { index, tpgLun: live.tpgLun, writeProtect: live.writeProtect, alias: live.alias }));
      } else if (rows === 0) throw new EngineError(`ACL ${name} has no mapped_lun${index}`, "not_found", "index");
      this.dropWarnings(paths.mappedLun(iqn, tag, name, index));
    });
  }

  // ---- machinery -------------------------------------------------------------

  /** Runs changes one at a time, in arrival order. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The configuration and settings as the audit log compares them (diff.ts). */
  auditedState(): AuditedState {
    return { config: this.config(), settings: store.auditedSettings(this.db) };
  }

  /** What a cluster replicates: the configuration and the cluster-wide settings (storage roots stay per node). */
  replicatedState(): ReplicatedState {
    const s = this.settings();
    return { config: this.config(), settings: { autoAddMappedLuns: s.autoAddMappedLuns, maxBackupFiles: s.maxBackupFiles } };
  }

  /**
   * A cluster member taking the cluster's configuration: one change that is not published again.
   * `converge` brings the engine from the stored state to the new one and returns the objects that
   * failed here (warnings, as at a restore: the cluster's configuration is not refused by one node);
   * the rows then hold the new state as it is. `converge` returning undefined changes nothing.
   */
  async applyReplicated(
    converge: (current: ReplicatedState) => Promise<{ state: ReplicatedState; warnings: RestoreWarning[] } | undefined>,
  ): Promise<RestoreWarning[] | undefined> {
    return this.transaction(
      async () => {
        const r = await converge(this.replicatedState());
        if (!r) return undefined;
        store.deleteAll(this.db);
        store.insertConfig(this.db, r.state.config);
        store.setSetting(this.db, SETTING_KEYS.autoAddMappedLuns, r.state.settings.autoAddMappedLuns);
        store.setSetting(this.db, SETTING_KEYS.maxBackupFiles, r.state.settings.maxBackupFiles);
        this.warnings = r.warnings;
        return r.warnings;
      },
      { publish: false },
    );
  }

  private transaction<T>(fn: (undo: (step: Undo) => void) => Promise<T>, opts: { publish?: boolean } = {}): Promise<T> {
    return this.serialize(async () => {
      const steps: Undo[] = [];
      // Inside an audited action (a mutation, a CLI command): note what this change changes, before → after.
      const scope = auditScope();
      const before = scope ? this.safeAuditedState() : undefined;
      this.sqlite.exec("BEGIN IMMEDIATE");
      try {
        const result = await fn((step) => steps.push(step));
        // A cluster member: the change goes to the cluster first (refused there → rolled back here).
        const replica = opts.publish === false ? undefined : this.replica;
        const receipt = replica ? await replica.publish(this.replicatedState()) : undefined;
        this.sqlite.exec("COMMIT");
        replica?.committed(receipt);
        if (scope && before) {
          scope.transactions++;
          const after = this.safeAuditedState();
          if (after) scope.changes.push(...diffState(before, after));
        }
        this.backup();
        return result;
      } catch (err) {
        if (this.sqlite.inTransaction) this.sqlite.exec("ROLLBACK");
        for (const step of steps.reverse()) {
          try {
            await step();
          } catch (undoErr) {
            process.stderr.write(`portico: could not undo part of a failed change: ${messageOf(undoErr)}\n`);
          }
        }
        throw err;
      }
    });
  }

  /** The audit log must never break a change: a state it cannot read is left out. */
  private safeAuditedState(): AuditedState | undefined {
    try {
      return this.auditedState();
    } catch (err) {
      process.stderr.write(`portico: audit: ${messageOf(err)}\n`);
      return undefined;
    }
  }

  /** Row writes: a constraint the engine did not catch becomes a clear EngineError. */
  private dbWrite<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: string }).code ?? "";
      if (code.startsWith("SQLITE_CONSTRAINT")) throw new EngineError(`the stored configuration refused the change: ${(err as Error).message}`, "exists");
      throw err;
    }
  }

  private dropWarnings(prefix: string): void {
    this.warnings = this.warnings.filter((w) => w.object !== prefix && !w.object.startsWith(`${prefix}/`));
  }
}

/** Discovery authentication from the stored configuration into the engine (lenient: a refusal is reported). */
function applyDiscoveryAuth(engine: Engine, auth: DiscoveryAuthConfig, onError: (object: string, err: unknown) => void): void {
  if (!auth.enabled) return;
  try {
    engine.setDiscoveryAuth(auth);
  } catch (err) {
    engine.discoveryAuth = { enabled: true }; // fail closed: required, with no credentials nobody passes
    onError("/iscsi/discovery_auth", err);
  }
}

async function rebuildTpg(engine: Engine, iqn: string, snap: ReturnType<typeof snapshotTpg>): Promise<void> {
  engine.createTpg(iqn, snap.tag, { enabled: false, attributes: snap.attributes, parameters: snap.parameters });
  if (Object.keys(snap.chap).length) engine.setTpgAuth(iqn, snap.tag, snap.chap);
  for (const l of snap.luns) engine.createLun(iqn, snap.tag, l.storageObject, { index: l.index, alias: l.alias, aluaGroup: l.aluaGroup });
  for (const p of snap.portals) await engine.createPortal(iqn, snap.tag, p.ip, p.port).catch(() => undefined);
  for (const a of snap.nodeAcls) applyNodeAclSnapshot(engine, iqn, snap.tag, a);
  if (snap.enabled) await engine.setTpgEnabled(iqn, snap.tag, true);
}

function applyNodeAclSnapshot(engine: Engine, iqn: string, tag: number, a: ReturnType<typeof snapshotTpg>["nodeAcls"][number]): void {
  engine.createNodeAcl(iqn, tag, a.initiatorName, { attributes: a.attributes, aclTag: a.aclTag, cmdsnDepth: a.cmdsnDepth, chap: a.chap });
  for (const m of a.mappedLuns) engine.createMappedLun(iqn, tag, a.initiatorName, { index: m.index, tpgLun: m.tpgLun, writeProtect: m.writeProtect, alias: m.alias });
}

export interface NodeAclView {
  initiatorName: string;
  aclTag: string | null;
  cmdsnDepth: number;
  attributes: Record<string, number>;
}

/**
 * New CHAP secrets set through the API: 12..255 characters (RFC 7143 §12.1.3 recommends
 * at least 96 bits; LIO stores up to 255), and the two directions must differ (a target
 * that reuses the initiator's secret invites reflection attacks). Imports only warn.
 * Messages never include a secret.
 */
export function checkNewSecrets(chap: Chap): void {
  for (const f of ["password", "mutualPassword"] as const) {
    const v = chap[f];
    if (v === undefined || v === "") continue;
    if (v.length < MIN_CHAP_SECRET || v.length > 255) {
      throw new EngineError(`CHAP ${f === "password" ? "password" : "mutual password"} must be ${MIN_CHAP_SECRET} to 255 characters (RFC 7143 recommends at least ${MIN_CHAP_SECRET})`, "invalid", f);
    }
  }
  if (chap.password && chap.mutualPassword && chap.password === chap.mutualPassword) {
    throw new EngineError("the mutual CHAP password must differ from the initiator's password", "invalid", "mutualPassword");
  }
  if (chap.userid !== undefined && chap.userid.length > 255) throw new EngineError("CHAP userid must be at most 255 characters", "invalid", "userid");
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Puts a storage object's attributes back as they were (an undo step), through the engine: block_size
 * first, alone (re-opening the backstore recomputes hw_block_size/hw_max_sectors and rbd's UNMAP
 * limits), then every other settable attribute that differs. Read-only attributes follow the backstore.
 */
async function restoreStorageObjectAttributes(engine: Engine, plugin: BackstorePlugin, name: string, before: Record<string, number>): Promise<void> {
  const so = engine.storageObject(plugin, name);
  if (so.attributes.block_size !== before.block_size) await engine.setStorageObjectAttributes(plugin, name, { block_size: before.block_size });
  const changed = Object.fromEntries(
    Object.entries(before).filter(([k, v]) => so.attributes[k] !== v && !storageObjectAttributeRules[k]?.readOnly),
  );
  if (Object.keys(changed).length) await engine.setStorageObjectAttributes(plugin, name, changed);
}

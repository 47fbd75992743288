/**
 * Builds configuration into an Engine, and reads it back out. Restore at start-up
 * is lenient (an object that fails becomes a warning, the rest still serve);
 * import is strict (the first failure throws, the caller undoes what was made).
 */
import fs from "node:fs";
import type { Engine } from "../engine/core/engine";
import { EngineError } from "../engine/core/errors";
import type { StorageObject, Target, Tpg } from "../engine/core/model";
import { DEFAULT_REVISION, DEFAULT_VENDOR_ID, PRODUCT_ID_BY_PLUGIN } from "../engine/core/defaults";
import { READ_ONLY_SO_ATTRIBUTES } from "./capabilities";
import { ALUA_GROUP_ATTRIBUTES, DEFAULT_ALUA_GROUP_NAME, aluaGroupDefaults } from "../engine/core/alua";
import { paths, type AluaGroupConfig, type NodeAclConfig, type PortalConfig, type StorageObjectConfig, type TargetConfig, type TpgConfig } from "./model";

/** Called for a failed object in lenient mode; strict mode (no handler) rethrows. */
export type OnApplyError = (object: string, err: unknown) => void;

function attempt<T>(object: string, onError: OnApplyError | undefined, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (!onError) throw err;
    onError(object, err);
    return undefined;
  }
}

async function attemptAsync<T>(object: string, onError: OnApplyError | undefined, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (!onError) throw err;
    onError(object, err);
    return undefined;
  }
}

export function createStorageObjectIn(engine: Engine, so: StorageObjectConfig, extra: { overcommit?: boolean } = {}): Promise<StorageObject> {
  return engine.createStorageObject({
    overcommit: extra.overcommit,
    plugin: so.plugin,
    name: so.name,
    dev: so.dev,
    size: so.size,
    wwn: so.wwn,
    blockSize: so.blockSize,
    writeBack: so.writeBack,
    readonly: so.plugin === "block" ? so.readonly : undefined,
    attributes: so.attributes,
    vendorId: so.vendorId,
    productId: so.productId,
    revision: so.revision,
  });
}

export async function applyStorageObject(
  engine: Engine,
  so: StorageObjectConfig,
  onError?: OnApplyError,
  opts: { restore?: boolean; overcommit?: boolean } = {},
): Promise<StorageObject | undefined> {
  return attemptAsync(paths.storageObject(so), onError, async () => {
    // At restore a fileio file must still be there: re-creating it empty (as a first create with a size would) hides data loss.
    if (opts.restore && so.plugin === "fileio" && so.dev && !fs.existsSync(so.dev)) {
      throw new EngineError(`backing file ${so.dev} is missing (not re-created: bring it back or delete the storage object)`, "io", "dev");
    }
    const created = await createStorageObjectIn(engine, so, { overcommit: opts.overcommit });
    try {
      applyAluaGroups(engine, so);
    } catch (err) {
      await engine.deleteStorageObject(so.plugin, so.name, { deleteFile: created.fileCreated }).catch(() => undefined);
      throw err;
    }
    return created;
  });
}

/** A storage object's ALUA groups, as stored: default_tg_pt_gp's attributes, then the others. */
export function applyAluaGroups(engine: Engine, so: StorageObjectConfig): void {
  for (const g of so.aluaGroups ?? []) {
    if (g.name === DEFAULT_ALUA_GROUP_NAME) engine.loadAluaGroupAttributes(so.plugin, so.name, g.name, g.attributes);
    else engine.createAluaGroup(so.plugin, so.name, g.name, g.id, g.attributes);
  }
}

/** Creates a target and everything under it. TPGs are enabled last, as rtslib does (TPG.setup). */
export async function applyTarget(engine: Engine, t: TargetConfig, onError?: OnApplyError): Promise<Target | undefined> {
  const target = attempt(paths.target(t.wwn), onError, () => engine.createTarget(t.wwn));
  if (!target) return undefined;
  for (const tpg of t.tpgs) await applyTpg(engine, target.wwn, tpg, onError);
  return target;
}

export async function applyTpg(engine: Engine, iqn: string, tpg: TpgConfig, onError?: OnApplyError): Promise<Tpg | undefined> {
  const created = attempt(paths.tpg(iqn, tpg.tag), onError, () =>
    engine.createTpg(iqn, tpg.tag, { enabled: false, attributes: tpg.attributes, parameters: tpg.parameters, node: tpg.node }),
  );
  if (!created) return undefined;
  if (Object.keys(tpg.chap).length) engine.setTpgAuth(iqn, tpg.tag, tpg.chap);
  if (tpg.allowedNetworks?.length) engine.setTpgAllowedNetworks(iqn, tpg.tag, tpg.allowedNetworks);
  for (const l of tpg.luns) {
    attempt(paths.lun(iqn, tpg.tag, l.index), onError, () => engine.createLun(iqn, tpg.tag, l.storageObject, { index: l.index, alias: l.alias, aluaGroup: l.aluaGroup }));
  }
  for (const p of tpg.portals) await applyPortal(engine, iqn, tpg.tag, p, onError);
  for (const a of tpg.nodeAcls) applyNodeAcl(engine, iqn, tpg.tag, a, onError);
  if (tpg.enabled) await engine.setTpgEnabled(iqn, tpg.tag, true);
  return created;
}

export async function applyPortal(engine: Engine, iqn: string, tag: number, p: PortalConfig, onError?: OnApplyError): Promise<void> {
  await attemptAsync(paths.portal(iqn, tag, `${p.ip}:${p.port}`), onError, () => engine.createPortal(iqn, tag, p.ip, p.port));
}

export function applyNodeAcl(engine: Engine, iqn: string, tag: number, a: NodeAclConfig, onError?: OnApplyError): void {
  const acl = attempt(paths.acl(iqn, tag, a.initiatorName), onError, () =>
    engine.createNodeAcl(iqn, tag, a.initiatorName, { attributes: a.attributes, aclTag: a.aclTag, cmdsnDepth: a.cmdsnDepth, chap: a.chap }),
  );
  if (!acl) return;
  for (const m of a.mappedLuns) {
    attempt(paths.mappedLun(iqn, tag, acl.initiatorName, m.index), onError, () =>
      engine.createMappedLun(iqn, tag, acl.initiatorName, { index: m.index, tpgLun: m.tpgLun, writeProtect: m.writeProtect, alias: m.alias }),
    );
  }
}

// ---- engine → configuration -------------------------------------------------

export function splitPortalKey(key: string): PortalConfig {
  const sep = key.lastIndexOf(":");
  return { ip: key.slice(0, sep), port: Number(key.slice(sep + 1)) };
}

/**
 * A storage object's ALUA groups for the configuration: every group, in order, with the state a
 * running transition is heading for; undefined when only default_tg_pt_gp exists with LIO's defaults.
 */
export function snapshotAluaGroups(so: StorageObject): AluaGroupConfig[] | undefined {
  const groups = [...so.aluaGroups.values()].map((g) => {
    const attributes: Record<string, number> = {};
    for (const k of ALUA_GROUP_ATTRIBUTES) attributes[k] = g.attributes[k];
    attributes.alua_access_state = g.persistentState;
    return { name: g.name, id: g.id, attributes };
  });
  const defaults = aluaGroupDefaults();
  const trivial = groups.length === 1 && ALUA_GROUP_ATTRIBUTES.every((k) => groups[0].attributes[k] === defaults[k]);
  return trivial ? undefined : groups;
}

export function snapshotStorageObject(so: StorageObject): StorageObjectConfig {
  const attributes = { ...so.attributes };
  for (const k of READ_ONLY_SO_ATTRIBUTES) delete attributes[k];
  const aluaGroups = snapshotAluaGroups(so);
  return {
    plugin: so.plugin,
    name: so.name,
    dev: so.dev,
    size: so.sizeBytes,
    wwn: so.wwn,
    writeBack: so.writeBack,
    blockSize: so.backstore.blockSize,
    readonly: so.plugin === "block" ? Boolean((so.backstore as { readonly?: boolean }).readonly) : false,
    attributes,
    ...(aluaGroups ? { aluaGroups } : {}),
    ...(so.vendorId !== DEFAULT_VENDOR_ID ? { vendorId: so.vendorId } : {}),
    ...(so.productIdBase !== PRODUCT_ID_BY_PLUGIN[so.plugin] ? { productId: so.productIdBase } : {}),
    ...(so.revision !== DEFAULT_REVISION ? { revision: so.revision } : {}),
  };
}

export function snapshotTpg(tpg: Tpg): TpgConfig {
  return {
    tag: tpg.tag,
    enabled: tpg.enabled,
    attributes: { ...tpg.attributes },
    parameters: { ...tpg.parameters },
    chap: { ...tpg.chap },
    ...(tpg.allowedNetworks.length ? { allowedNetworks: tpg.allowedNetworks.map((c) => c.text) } : {}),
    ...(tpg.node ? { node: tpg.node } : {}),
    luns: [...tpg.luns.values()]
      .sort((a, b) => a.index - b.index)
      .map((l) => ({ index: l.index, storageObject: l.storageObject.path, alias: l.alias, ...(l.aluaGroup.isDefault ? {} : { aluaGroup: l.aluaGroup.name }) })),
    portals: [...tpg.portals].map(splitPortalKey),
    nodeAcls: [...tpg.nodeAcls.values()].map((a) => ({
      initiatorName: a.initiatorName,
      aclTag: a.aclTag,
      cmdsnDepth: a.cmdsnDepth,
      attributes: { ...a.attributes },
      chap: { ...a.chap },
      mappedLuns: [...a.mappedLuns.values()]
        .sort((x, y) => x.index - y.index)
        .map((m) => ({ index: m.index, tpgLun: m.tpgLun, writeProtect: m.writeProtect, alias: m.alias })),
    })),
  };
}

export function snapshotTarget(t: Target): TargetConfig {
  return { wwn: t.wwn, tpgs: [...t.tpgs.values()].sort((a, b) => a.tag - b.tag).map(snapshotTpg) };
}

/**
 * Builds a whole configuration into the engine, level by level: storage objects →
 * targets → TPGs → LUNs → portals → node ACLs → mapped LUNs, then enables TPGs (so no
 * initiator logs in to a half-built TPG). With `onError`, a failed object is reported
 * and its children skipped; without, the first failure throws.
 */
export async function applyConfig(
  engine: Engine,
  config: { storageObjects: StorageObjectConfig[]; targets: TargetConfig[] },
  onError?: OnApplyError,
  opts: { restore?: boolean; overcommit?: boolean } = {},
): Promise<void> {
  for (const so of config.storageObjects) await applyStorageObject(engine, so, onError, opts);
  const targets = config.targets.filter((t) => attempt(paths.target(t.wwn), onError, () => engine.createTarget(t.wwn)));
  const tpgs: { iqn: string; tpg: TpgConfig }[] = [];
  for (const t of targets) {
    for (const tpg of t.tpgs) {
      const ok = attempt(paths.tpg(t.wwn, tpg.tag), onError, () => {
        engine.createTpg(t.wwn, tpg.tag, { enabled: false, attributes: tpg.attributes, parameters: tpg.parameters, node: tpg.node });
        if (Object.keys(tpg.chap).length) engine.setTpgAuth(t.wwn, tpg.tag, tpg.chap);
        if (tpg.allowedNetworks?.length) engine.setTpgAllowedNetworks(t.wwn, tpg.tag, tpg.allowedNetworks);
        return true;
      });
      if (ok) tpgs.push({ iqn: t.wwn, tpg });
    }
  }
  for (const { iqn, tpg } of tpgs) {
    for (const l of tpg.luns) {
      attempt(paths.lun(iqn, tpg.tag, l.index), onError, () => engine.createLun(iqn, tpg.tag, l.storageObject, { index: l.index, alias: l.alias, aluaGroup: l.aluaGroup }));
    }
  }
  for (const { iqn, tpg } of tpgs) for (const p of tpg.portals) await applyPortal(engine, iqn, tpg.tag, p, onError);
  const acls: { iqn: string; tag: number; acl: NodeAclConfig; name: string }[] = [];
  for (const { iqn, tpg } of tpgs) {
    for (const a of tpg.nodeAcls) {
      const acl = attempt(paths.acl(iqn, tpg.tag, a.initiatorName), onError, () =>
        engine.createNodeAcl(iqn, tpg.tag, a.initiatorName, { attributes: a.attributes, aclTag: a.aclTag, cmdsnDepth: a.cmdsnDepth, chap: a.chap }),
      );
      if (acl) acls.push({ iqn, tag: tpg.tag, acl: a, name: acl.initiatorName });
    }
  }
  for (const { iqn, tag, acl, name } of acls) {
    for (const m of acl.mappedLuns) {
      attempt(paths.mappedLun(iqn, tag, name, m.index), onError, () =>
        engine.createMappedLun(iqn, tag, name, { index: m.index, tpgLun: m.tpgLun, writeProtect: m.writeProtect, alias: m.alias }),
      );
    }
  }
  for (const { iqn, tpg } of tpgs) if (tpg.enabled) await engine.setTpgEnabled(iqn, tpg.tag, true);
}

/**
 * Reads and writes the configuration tree in SQLite. Synchronous (better-sqlite3):
 * ConfigService calls these inside its own transaction.
 */
import { and, asc, eq } from "drizzle-orm";
import type { PorticoDb } from "../db";
import { discoveryAuth, luns, mappedLuns, nodeAcls, portals, settings, storageObjects, targets, tpgs } from "../db/schema";
import { storageObjectPath, type Chap, type NodeAclConfig, type PorticoConfig, type StorageObjectConfig, type TargetConfig, type TpgConfig } from "./model";

const chapOf = (row: { chapUserid: string | null; chapPassword: string | null; chapMutualUserid: string | null; chapMutualPassword: string | null }): Chap => {
  const c: Chap = {};
  if (row.chapUserid) c.userid = row.chapUserid;
  if (row.chapPassword) c.password = row.chapPassword;
  if (row.chapMutualUserid) c.mutualUserid = row.chapMutualUserid;
  if (row.chapMutualPassword) c.mutualPassword = row.chapMutualPassword;
  return c;
};
const chapColumns = (c: Chap) => ({
  chapUserid: c.userid ?? null,
  chapPassword: c.password ?? null,
  chapMutualUserid: c.mutualUserid ?? null,
  chapMutualPassword: c.mutualPassword ?? null,
});
/** A storage object's columns that can change after it is made (its snapshot rewrites them: attributes, identity, size, block size). */
const storageObjectChangeable = (so: StorageObjectConfig) => ({
  size: so.size ?? 0,
  wwn: required(so.wwn, "wwn for the storage object"),
  blockSize: so.blockSize,
  attributes: so.attributes,
  aluaTpgs: so.aluaGroups ?? [],
  vendorId: so.vendorId ?? null,
  productId: so.productId ?? null,
  revision: so.revision ?? null,
});

/** The whole stored configuration, in a stable order (plugin/name, wwn, tag, index). */
export function loadConfig(db: PorticoDb): PorticoConfig {
  const soRows = db.select().from(storageObjects).orderBy(asc(storageObjects.id)).all();
  const soPathById = new Map(soRows.map((r) => [r.id, storageObjectPath(r)]));
  const lunRows = db.select().from(luns).orderBy(asc(luns.index)).all();
  const lunIndexById = new Map(lunRows.map((l) => [l.id, l.index]));
  const portalRows = db.select().from(portals).orderBy(asc(portals.id)).all();
  const aclRows = db.select().from(nodeAcls).orderBy(asc(nodeAcls.id)).all();
  const mappedRows = db.select().from(mappedLuns).orderBy(asc(mappedLuns.index)).all();
  const tpgRows = db.select().from(tpgs).orderBy(asc(tpgs.tag)).all();
  const targetRows = db.select().from(targets).orderBy(asc(targets.id)).all();
  const da = db.select().from(discoveryAuth).where(eq(discoveryAuth.fabric, "iscsi")).get();

  const acl = (a: (typeof aclRows)[number]): NodeAclConfig => ({
    initiatorName: a.initiatorName,
    aclTag: a.aclTag ?? undefined,
    cmdsnDepth: a.cmdsnDepth,
    attributes: a.attributes,
    chap: chapOf(a),
    mappedLuns: mappedRows
      .filter((m) => m.nodeAclId === a.id)
      .map((m) => ({ index: m.index, tpgLun: lunIndexById.get(m.lunId)!, writeProtect: m.writeProtect, alias: m.alias })),
  });
  const tpg = (t: (typeof tpgRows)[number]): TpgConfig => ({
    tag: t.tag,
    enabled: t.enabled,
    attributes: t.attributes,
    parameters: t.parameters,
    chap: chapOf(t),
    ...(t.allowedNetworks.length ? { allowedNetworks: t.allowedNetworks } : {}),
    ...(t.node ? { node: t.node } : {}),
    luns: lunRows
      .filter((l) => l.tpgId === t.id)
      .map((l) => ({ index: l.index, storageObject: soPathById.get(l.storageObjectId)!, alias: l.alias, ...(l.aluaTgPtGpName ? { aluaGroup: l.aluaTgPtGpName } : {}) })),
    portals: portalRows.filter((p) => p.tpgId === t.id).map((p) => ({ ip: p.ip, port: p.port })),
    nodeAcls: aclRows.filter((a) => a.tpgId === t.id).map(acl),
  });
  return {
    storageObjects: soRows.map((r) => ({
      plugin: r.plugin,
      name: r.name,
      dev: r.dev ?? undefined,
      size: r.size,
      wwn: r.wwn,
      writeBack: r.writeBack,
      blockSize: r.blockSize,
      readonly: r.readonly,
      attributes: r.attributes,
      ...(r.aluaTpgs.length ? { aluaGroups: r.aluaTpgs } : {}),
      ...(r.vendorId ? { vendorId: r.vendorId } : {}),
      ...(r.productId ? { productId: r.productId } : {}),
      ...(r.revision ? { revision: r.revision } : {}),
    })),
    targets: targetRows.map((t) => ({ wwn: t.wwn, tpgs: tpgRows.filter((g) => g.targetId === t.id).map(tpg) })),
    discoveryAuth: da ? { enabled: da.enabled, ...chapOf(da) } : { enabled: false },
  };
}

// ---- lookups ---------------------------------------------------------------

function targetId(db: PorticoDb, wwn: string): number | undefined {
  return db.select({ id: targets.id }).from(targets).where(eq(targets.wwn, wwn)).get()?.id;
}
function tpgId(db: PorticoDb, wwn: string, tag: number): number | undefined {
  const t = targetId(db, wwn);
  if (t === undefined) return undefined;
  return db.select({ id: tpgs.id }).from(tpgs).where(and(eq(tpgs.targetId, t), eq(tpgs.tag, tag))).get()?.id;
}
function aclId(db: PorticoDb, wwn: string, tag: number, initiatorName: string): number | undefined {
  const g = tpgId(db, wwn, tag);
  if (g === undefined) return undefined;
  return db.select({ id: nodeAcls.id }).from(nodeAcls).where(and(eq(nodeAcls.tpgId, g), eq(nodeAcls.initiatorName, initiatorName))).get()?.id;
}
function storageObjectId(db: PorticoDb, path: string): number | undefined {
  const m = /^\/backstores\/([^/]+)\/(.+)$/.exec(path);
  if (!m) return undefined;
  return db
    .select({ id: storageObjects.id })
    .from(storageObjects)
    .where(and(eq(storageObjects.plugin, m[1] as StorageObjectConfig["plugin"]), eq(storageObjects.name, m[2])))
    .get()?.id;
}

function required<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`database has no ${what}`);
  return v;
}

// ---- writes ----------------------------------------------------------------

export function insertStorageObject(db: PorticoDb, so: StorageObjectConfig): void {
  db.insert(storageObjects)
    .values({
      plugin: so.plugin,
      name: so.name,
      dev: so.dev ?? null,
      writeBack: so.writeBack,
      readonly: so.readonly,
      ...storageObjectChangeable(so),
    })
    .run();
}

/** Rewrites a storage object's row from its snapshot (attributes, identity, size, block size). */
export function updateStorageObject(db: PorticoDb, so: StorageObjectConfig): void {
  const changes = db
    .update(storageObjects)
    .set(storageObjectChangeable(so))
    .where(and(eq(storageObjects.plugin, so.plugin), eq(storageObjects.name, so.name)))
    .run().changes;
  if (changes === 0) throw new Error(`database has no storage object ${so.plugin}/${so.name}`);
}

export function updateTpgChap(db: PorticoDb, wwn: string, tag: number, chap: Chap): void {
  const id = required(tpgId(db, wwn, tag), `tpg${tag} of ${wwn}`);
  db.update(tpgs).set(chapColumns(chap)).where(eq(tpgs.id, id)).run();
}

export function updateNodeAcl(
  db: PorticoDb,
  wwn: string,
  tag: number,
  initiatorName: string,
  values: Partial<{ aclTag: string | null; cmdsnDepth: number; attributes: Record<string, number>; chap: Chap }>,
): void {
  const id = required(aclId(db, wwn, tag, initiatorName), `ACL ${initiatorName}`);
  const { chap, ...rest } = values;
  db.update(nodeAcls)
    .set({ ...rest, ...(chap ? chapColumns(chap) : {}) })
    .where(eq(nodeAcls.id, id))
    .run();
}

export function updateMappedLun(db: PorticoDb, wwn: string, tag: number, initiatorName: string, index: number, writeProtect: boolean): void {
  const a = required(aclId(db, wwn, tag, initiatorName), `ACL ${initiatorName}`);
  db.update(mappedLuns).set({ writeProtect }).where(and(eq(mappedLuns.nodeAclId, a), eq(mappedLuns.index, index))).run();
}

export function deleteStorageObjectRow(db: PorticoDb, plugin: string, name: string): number {
  return db
    .delete(storageObjects)
    .where(and(eq(storageObjects.plugin, plugin as StorageObjectConfig["plugin"]), eq(storageObjects.name, name)))
    .run().changes;
}

export function insertTarget(db: PorticoDb, t: TargetConfig): void {
  db.insert(targets).values({ wwn: t.wwn }).run();
  for (const tpg of t.tpgs) insertTpg(db, t.wwn, tpg);
}

export function deleteTargetRow(db: PorticoDb, wwn: string): number {
  return db.delete(targets).where(eq(targets.wwn, wwn)).run().changes;
}

export function insertTpg(db: PorticoDb, wwn: string, tpg: TpgConfig): void {
  const id = db
    .insert(tpgs)
    .values({
      targetId: required(targetId(db, wwn), `target ${wwn}`),
      tag: tpg.tag,
      enabled: tpg.enabled,
      attributes: tpg.attributes,
      parameters: tpg.parameters,
      allowedNetworks: tpg.allowedNetworks ?? [],
      node: tpg.node ?? null,
      ...chapColumns(tpg.chap),
    })
    .returning({ id: tpgs.id })
    .get().id;
  for (const l of tpg.luns) insertLun(db, wwn, tpg.tag, l.index, l.storageObject, required(l.alias, "LUN alias"), id, l.aluaGroup);
  for (const p of tpg.portals) db.insert(portals).values({ tpgId: id, ip: p.ip, port: p.port }).run();
  for (const a of tpg.nodeAcls) insertNodeAcl(db, wwn, tpg.tag, a, id);
}

export function deleteTpgRow(db: PorticoDb, wwn: string, tag: number): number {
  const id = tpgId(db, wwn, tag);
  return id === undefined ? 0 : db.delete(tpgs).where(eq(tpgs.id, id)).run().changes;
}

export function updateTpg(db: PorticoDb, wwn: string, tag: number, values: Partial<{ enabled: boolean; attributes: Record<string, number>; parameters: Record<string, string>; allowedNetworks: string[]; node: string | null }>): void {
  const id = required(tpgId(db, wwn, tag), `tpg${tag} of ${wwn}`);
  db.update(tpgs).set(values).where(eq(tpgs.id, id)).run();
}

export function insertLun(db: PorticoDb, wwn: string, tag: number, index: number, storageObject: string, alias: string, knownTpgId?: number, aluaGroup?: string): void {
  db.insert(luns)
    .values({
      tpgId: knownTpgId ?? required(tpgId(db, wwn, tag), `tpg${tag} of ${wwn}`),
      index,
      storageObjectId: required(storageObjectId(db, storageObject), `storage object ${storageObject}`),
      alias,
      aluaTgPtGpName: aluaGroup ?? null,
    })
    .run();
}

/** Sets a LUN's ALUA group (undefined: default_tg_pt_gp). */
export function updateLunAluaGroup(db: PorticoDb, wwn: string, tag: number, index: number, aluaGroup: string | undefined): void {
  const g = required(tpgId(db, wwn, tag), `tpg${tag} of ${wwn}`);
  const changes = db.update(luns).set({ aluaTgPtGpName: aluaGroup ?? null }).where(and(eq(luns.tpgId, g), eq(luns.index, index))).run().changes;
  if (changes === 0) throw new Error(`database has no lun${index} of tpg${tag} of ${wwn}`);
}

export function deleteLunRow(db: PorticoDb, wwn: string, tag: number, index: number): number {
  const g = tpgId(db, wwn, tag);
  return g === undefined ? 0 : db.delete(luns).where(and(eq(luns.tpgId, g), eq(luns.index, index))).run().changes;
}

export function insertPortal(db: PorticoDb, wwn: string, tag: number, ip: string, port: number): void {
  db.insert(portals).values({ tpgId: required(tpgId(db, wwn, tag), `tpg${tag} of ${wwn}`), ip, port }).run();
}

export function deletePortalRow(db: PorticoDb, wwn: string, tag: number, ip: string, port: number): number {
  const g = tpgId(db, wwn, tag);
  return g === undefined ? 0 : db.delete(portals).where(and(eq(portals.tpgId, g), eq(portals.ip, ip), eq(portals.port, port))).run().changes;
}

export function insertNodeAcl(db: PorticoDb, wwn: string, tag: number, a: NodeAclConfig, knownTpgId?: number): void {
  const g = knownTpgId ?? required(tpgId(db, wwn, tag), `tpg${tag} of ${wwn}`);
  const id = db
    .insert(nodeAcls)
    .values({
      tpgId: g,
      initiatorName: a.initiatorName,
      aclTag: a.aclTag ?? null,
      cmdsnDepth: a.cmdsnDepth ?? 64,
      attributes: a.attributes,
      ...chapColumns(a.chap),
    })
    .returning({ id: nodeAcls.id })
    .get().id;
  for (const m of a.mappedLuns) insertMappedLun(db, wwn, tag, a.initiatorName, m.index, m.tpgLun, m.writeProtect, required(m.alias, "mapped LUN alias"), id, g);
}

export function deleteNodeAclRow(db: PorticoDb, wwn: string, tag: number, initiatorName: string): number {
  const id = aclId(db, wwn, tag, initiatorName);
  return id === undefined ? 0 : db.delete(nodeAcls).where(eq(nodeAcls.id, id)).run().changes;
}

export function insertMappedLun(
  db: PorticoDb,
  wwn: string,
  tag: number,
  initiatorName: string,
  index: number,
  tpgLun: number,
  writeProtect: boolean,
  alias: string,
  knownAclId?: number,
  knownTpgId?: number,
): void {
  const g = knownTpgId ?? required(tpgId(db, wwn, tag), `tpg${tag} of ${wwn}`);
  const lun = required(db.select({ id: luns.id }).from(luns).where(and(eq(luns.tpgId, g), eq(luns.index, tpgLun))).get()?.id, `lun${tpgLun} of tpg${tag}`);
  db.insert(mappedLuns)
    .values({ nodeAclId: knownAclId ?? required(aclId(db, wwn, tag, initiatorName), `ACL ${initiatorName}`), index, lunId: lun, writeProtect, alias })
    .run();
}

export function deleteMappedLunRow(db: PorticoDb, wwn: string, tag: number, initiatorName: string, index: number): number {
  const a = aclId(db, wwn, tag, initiatorName);
  return a === undefined ? 0 : db.delete(mappedLuns).where(and(eq(mappedLuns.nodeAclId, a), eq(mappedLuns.index, index))).run().changes;
}

export function setDiscoveryAuth(db: PorticoDb, da: PorticoConfig["discoveryAuth"]): void {
  db.insert(discoveryAuth)
    .values({ fabric: "iscsi", enabled: da.enabled, ...chapColumns(da) })
    .onConflictDoUpdate({ target: discoveryAuth.fabric, set: { enabled: da.enabled, ...chapColumns(da) } })
    .run();
}

/** Deletes every object (restoreconfig with clear). Order respects the RESTRICT on storage objects. */
export function deleteAll(db: PorticoDb): void {
  db.delete(targets).run(); // cascades to TPGs, LUNs, portals, ACLs, mapped LUNs
  db.delete(storageObjects).run();
  db.delete(discoveryAuth).run();
}

/** Inserts a whole tree (storage objects first: LUNs reference them). */
export function insertConfig(db: PorticoDb, config: PorticoConfig): void {
  for (const so of config.storageObjects) insertStorageObject(db, so);
  for (const t of config.targets) insertTarget(db, t);
  if (config.discoveryAuth.enabled) setDiscoveryAuth(db, config.discoveryAuth);
}

export function getSetting<T>(db: PorticoDb, key: string): T | undefined {
  const row = db.select().from(settings).where(eq(settings.key, key)).get();
  return row ? (JSON.parse(row.value) as T) : undefined;
}

export function setSetting(db: PorticoDb, key: string, value: unknown): void {
  const v = JSON.stringify(value);
  db.insert(settings).values({ key, value: v }).onConflictDoUpdate({ target: settings.key, set: { value: v } }).run();
}

/**
 * Every setting (key → value) an administrator sets, for the audit log's before → after. Leaves out
 * what initiators change (APTPL reservation state, `aptpl:*`) and what is no setting (timestamps).
 */
export function auditedSettings(db: PorticoDb): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const row of db.select().from(settings).all()) {
    if (row.key.startsWith("aptpl:") || row.key.endsWith("At")) continue;
    try {
      out[row.key] = JSON.parse(row.value) as unknown;
    } catch {
      out[row.key] = row.value;
    }
  }
  return out;
}

/**
 * Brings a node's engine from the configuration it stores to the cluster's (issue 14, step 2),
 * changing only what differs: an ACL added on another node adds that ACL here, and sessions on
 * everything else go on undisturbed (a restoreconfig with clear would drop them all).
 *
 * What changed is decided by comparing the two stored configurations (both written by the same
 * code, so equal objects compare equal); whether an object exists is asked of the engine, so an
 * object that failed here before (a missing file, a port in use) is tried again. Lenient, as a
 * restore at start-up: an object that fails is a warning and the rest is applied, because the
 * cluster's configuration is not one node's to refuse.
 *
 * Order: removals top-down (mapped LUNs, ACLs, portals, LUNs, TPGs, targets, then storage
 * objects), additions and changes bottom-up (storage objects, targets, TPGs, LUNs, portals, ACLs,
 * mapped LUNs), TPGs enabled last, as apply.ts builds a configuration.
 */
import type { Engine } from "../engine/core/engine";
import { DEFAULT_ALUA_GROUP_NAME } from "../engine/core/alua";
import { portalKey } from "../engine/core/names";
import { applyAluaGroups, applyNodeAcl, applyStorageObject, applyTpg, type OnApplyError } from "../config/apply";
import { paths, storageObjectPath, type NodeAclConfig, type PorticoConfig, type RestoreWarning, type StorageObjectConfig, type TpgConfig } from "../config/model";
import { stableJson } from "./config-doc";

const same = (a: unknown, b: unknown) => stableJson(a) === stableJson(b);
const portalKeyOf = (p: { ip: string; port: number }) => portalKey(p.ip, p.port);

/** What may change on a live storage object without closing it: attributes and ALUA groups (and a larger size). */
function inPlace(a: StorageObjectConfig, b: StorageObjectConfig): boolean {
  const strip = (s: StorageObjectConfig) => ({ ...s, attributes: undefined, aluaGroups: undefined, size: undefined });
  return same(strip(a), strip(b)) && (a.size === b.size || (a.size !== undefined && b.size !== undefined && b.size > a.size));
}

export async function convergeEngine(engine: Engine, from: PorticoConfig, to: PorticoConfig): Promise<RestoreWarning[]> {
  const warnings: RestoreWarning[] = [];
  const onError: OnApplyError = (object, err) => warnings.push({ object, reason: err instanceof Error ? err.message : String(err) });
  const attempt = async (object: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      onError(object, err);
    }
  };

  const fromSo = new Map(from.storageObjects.map((s) => [storageObjectPath(s), s]));
  const toSo = new Map(to.storageObjects.map((s) => [storageObjectPath(s), s]));
  // Storage objects that go, or change in a way that needs them closed and opened again.
  const replaced = new Set<string>();
  for (const [p, s] of fromSo) {
    const next = toSo.get(p);
    if (!next || !inPlace(s, next)) replaced.add(p);
  }
  const fromTargets = new Map(from.targets.map((t) => [t.wwn, t]));

  // ---- removals, top-down ---------------------------------------------------
  for (const [iqn, live] of [...engine.targets]) {
    const next = to.targets.find((t) => t.wwn === iqn);
    if (!next) {
      await attempt(paths.target(iqn), () => engine.deleteTarget(iqn));
      continue;
    }
    const before = fromTargets.get(iqn);
    for (const [tag, tpg] of [...live.tpgs]) {
      const want = next.tpgs.find((g) => g.tag === tag);
      if (!want) {
        await attempt(paths.tpg(iqn, tag), () => engine.deleteTpg(iqn, tag));
        continue;
      }
      const had = before?.tpgs.find((g) => g.tag === tag);
      // LUNs that go, change what they export, or export a storage object that is replaced.
      for (const [index, lun] of [...tpg.luns]) {
        const w = want.luns.find((l) => l.index === index);
        const h = had?.luns.find((l) => l.index === index);
        if (!w || replaced.has(lun.storageObject.path) || w.storageObject !== lun.storageObject.path || (h && (h.alias ?? "") !== (w.alias ?? ""))) {
          await attempt(paths.lun(iqn, tag, index), () => engine.deleteLun(iqn, tag, index));
        }
      }
      for (const [name, acl] of [...tpg.nodeAcls]) {
        const w = want.nodeAcls.find((a) => a.initiatorName.toLowerCase() === name);
        if (!w) {
          await attempt(paths.acl(iqn, tag, name), () => engine.deleteNodeAcl(iqn, tag, name));
          continue;
        }
        const h = had?.nodeAcls.find((a) => a.initiatorName.toLowerCase() === name);
        for (const [index, m] of [...acl.mappedLuns]) {
          const wm = w.mappedLuns.find((x) => x.index === index);
          const hm = h?.mappedLuns.find((x) => x.index === index);
          if (!wm || wm.tpgLun !== m.tpgLun || !tpg.luns.has(m.tpgLun) || (hm && (hm.alias ?? "") !== (wm.alias ?? ""))) {
            await attempt(paths.mappedLun(iqn, tag, name, index), () => engine.deleteMappedLun(iqn, tag, name, index));
          }
        }
      }
      const wantPortals = new Set(want.portals.map(portalKeyOf));
      for (const key of [...tpg.portals]) {
        if (!wantPortals.has(key)) await attempt(paths.portal(iqn, tag, key), () => engine.deletePortal(iqn, tag, key));
      }
    }
  }
  for (const p of replaced) {
    const live = engine.storageObjects.get(p.slice("/backstores/".length));
    if (!live) continue;
    // A LUN of a target this configuration no longer has, or that failed above, still exports it.
    for (const lun of [...live.exports]) await attempt(paths.lun(lun.tpg.target.wwn, lun.tpg.tag, lun.index), () => engine.deleteLun(lun.tpg.target.wwn, lun.tpg.tag, lun.index));
    await attempt(p, () => engine.deleteStorageObject(live.plugin, live.name));
  }

  // ---- additions and changes, bottom-up -----------------------------------------
  for (const [p, so] of toSo) {
    const live = engine.storageObjects.get(p.slice("/backstores/".length));
    if (!live) {
      await applyStorageObject(engine, so, onError);
      continue;
    }
    const had = fromSo.get(p);
    if (!had || same(had, so)) continue;
    await attempt(p, async () => {
      if (so.size !== undefined && had.size !== undefined && so.size > had.size) await engine.resizeStorageObject(so.plugin, so.name, so.size);
      const changed: Record<string, number> = {};
      for (const [k, v] of Object.entries(so.attributes)) if (had.attributes[k] !== v) changed[k] = v;
      if (Object.keys(changed).length) await engine.setStorageObjectAttributes(so.plugin, so.name, changed);
      if (!same(had.aluaGroups, so.aluaGroups)) convergeAluaGroups(engine, so);
    });
  }

  for (const t of to.targets) {
    if (!engine.targets.has(t.wwn)) {
      const ok = await attemptValue(paths.target(t.wwn), onError, () => engine.createTarget(t.wwn));
      if (!ok) continue;
    }
    const before = fromTargets.get(t.wwn);
    for (const want of t.tpgs) {
      const live = engine.targets.get(t.wwn)?.tpgs.get(want.tag);
      if (!live) {
        await applyTpg(engine, t.wwn, want, onError);
        continue;
      }
      await convergeTpg(engine, t.wwn, want, before?.tpgs.find((g) => g.tag === want.tag), onError);
    }
  }

  if (!same(from.discoveryAuth, to.discoveryAuth) || engine.discoveryAuth.enabled !== to.discoveryAuth.enabled) {
    await attempt("/iscsi/discovery_auth", () => engine.setDiscoveryAuth(to.discoveryAuth));
  }
  return warnings;
}

async function attemptValue<T>(object: string, onError: OnApplyError, fn: () => T): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    onError(object, err);
    return undefined;
  }
}

/** A live storage object's ALUA groups to the wanted ones: groups that go, new groups, attributes. */
function convergeAluaGroups(engine: Engine, so: StorageObjectConfig): void {
  const live = engine.storageObject(so.plugin, so.name);
  const wanted = so.aluaGroups ?? [];
  for (const name of [...live.aluaGroups.keys()]) {
    if (name !== DEFAULT_ALUA_GROUP_NAME && !wanted.some((g) => g.name === name)) engine.deleteAluaGroup(so.plugin, so.name, name);
  }
  const fresh = wanted.filter((g) => g.name === DEFAULT_ALUA_GROUP_NAME || !live.aluaGroups.has(g.name));
  for (const g of wanted) if (!fresh.includes(g)) engine.loadAluaGroupAttributes(so.plugin, so.name, g.name, g.attributes);
  applyAluaGroups(engine, { ...so, aluaGroups: fresh });
}

async function convergeTpg(engine: Engine, iqn: string, want: TpgConfig, had: TpgConfig | undefined, onError: OnApplyError): Promise<void> {
  const tag = want.tag;
  const tpg = engine.tpg(iqn, tag);
  const attempt = async (object: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      onError(object, err);
    }
  };
  const here = paths.tpg(iqn, tag);
  if (had?.enabled && !want.enabled) await attempt(here, () => engine.setTpgEnabled(iqn, tag, false));
  if (!same(had?.attributes, want.attributes)) {
    await attempt(here, () => {
      for (const [k, v] of Object.entries(want.attributes)) if (tpg.attributes[k] !== v) engine.setTpgAttribute(iqn, tag, k, v);
    });
  }
  if (!same(had?.parameters, want.parameters)) {
    await attempt(here, () => {
      for (const [k, v] of Object.entries(want.parameters)) if (tpg.parameters[k] !== v) engine.setTpgParameter(iqn, tag, k, v);
    });
  }
  if (!same(had?.chap, want.chap)) await attempt(here, () => engine.setTpgAuth(iqn, tag, want.chap));
  if (!same(had?.allowedNetworks ?? [], want.allowedNetworks ?? [])) await attempt(here, () => engine.setTpgAllowedNetworks(iqn, tag, want.allowedNetworks ?? []));
  if ((tpg.node ?? null) !== (want.node ?? null)) await attempt(here, () => engine.setTpgNode(iqn, tag, want.node));

  for (const l of want.luns) {
    const live = tpg.luns.get(l.index);
    if (!live) {
      await attempt(paths.lun(iqn, tag, l.index), () => engine.createLun(iqn, tag, l.storageObject, { index: l.index, alias: l.alias, aluaGroup: l.aluaGroup }));
    } else if ((live.aluaGroup.isDefault ? undefined : live.aluaGroup.name) !== l.aluaGroup) {
      await attempt(paths.lun(iqn, tag, l.index), () => engine.setLunAluaGroup(iqn, tag, l.index, l.aluaGroup ?? DEFAULT_ALUA_GROUP_NAME));
    }
  }
  for (const p of want.portals) {
    if (!tpg.portals.has(portalKeyOf(p))) await attempt(paths.portal(iqn, tag, portalKeyOf(p)), () => engine.createPortal(iqn, tag, p.ip, p.port));
  }
  for (const a of want.nodeAcls) {
    const live = tpg.aclFor(a.initiatorName);
    if (!live) {
      applyNodeAcl(engine, iqn, tag, a, onError);
      continue;
    }
    await convergeNodeAcl(engine, iqn, tag, a, had?.nodeAcls.find((x) => x.initiatorName.toLowerCase() === a.initiatorName.toLowerCase()), onError);
  }
  if (want.enabled && !tpg.enabled) await attempt(here, () => engine.setTpgEnabled(iqn, tag, true));
}

async function convergeNodeAcl(engine: Engine, iqn: string, tag: number, want: NodeAclConfig, had: NodeAclConfig | undefined, onError: OnApplyError): Promise<void> {
  const name = want.initiatorName;
  const object = paths.acl(iqn, tag, name);
  try {
    const acl = engine.nodeAcl(iqn, tag, name);
    if ((had?.aclTag ?? null) !== (want.aclTag ?? null)) engine.setNodeAclTag(iqn, tag, name, want.aclTag);
    if (want.cmdsnDepth !== undefined && acl.cmdsnDepth !== want.cmdsnDepth) engine.setNodeAclCmdsnDepth(iqn, tag, name, want.cmdsnDepth);
    if (!same(had?.attributes, want.attributes)) engine.setNodeAclAttributes(iqn, tag, name, want.attributes);
    if (!same(had?.chap, want.chap)) engine.setNodeAclAuth(iqn, tag, name, want.chap);
    for (const m of want.mappedLuns) {
      const live = acl.mappedLuns.get(m.index);
      try {
        if (!live) engine.createMappedLun(iqn, tag, name, { index: m.index, tpgLun: m.tpgLun, writeProtect: m.writeProtect, alias: m.alias });
        else if (live.writeProtect !== m.writeProtect) engine.setMappedLunWriteProtect(iqn, tag, name, m.index, m.writeProtect);
      } catch (err) {
        onError(paths.mappedLun(iqn, tag, name, m.index), err);
      }
    }
  } catch (err) {
    onError(object, err);
  }
}

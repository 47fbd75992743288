/**
 * The read model the console shows: the stored configuration annotated with what
 * is live in the engine (an object that failed to restore is stored but not live).
 */
import type { RestoreWarning } from "../config/model";
import { storageObjectPath } from "../config/model";
import type { ConfigService } from "../config/service";
import type { SessionInfo } from "../engine/core/engine";
import { portalKey } from "../engine/core/names";
import { processHealth } from "../health";
import { getCluster } from "../cluster";

export interface PortalView {
  ip: string;
  port: number;
  key: string;
  listening: boolean;
  error?: string;
  /** The cluster node that opens it, when that is another node (the TPG's `node`). */
  servedBy?: string;
}

export function configTree(service: ConfigService) {
  const engine = service.engine;
  const config = service.config();
  const warnings = service.warnings;
  const warningFor = (object: string) => warnings.find((w) => w.object === object)?.reason;
  const usedBy = new Map<string, { wwn: string; tag: number; lun: number }[]>();
  for (const t of config.targets) {
    for (const g of t.tpgs) {
      for (const l of g.luns) {
        const list = usedBy.get(l.storageObject) ?? [];
        list.push({ wwn: t.wwn, tag: g.tag, lun: l.index });
        usedBy.set(l.storageObject, list);
      }
    }
  }
  const listening = new Set(engine.fabric ? engine.portalKeys() : []);
  return {
    storageObjects: config.storageObjects.map((so) => {
      const path = storageObjectPath(so);
      const live = engine.storageObjects.get(`${so.plugin}/${so.name}`);
      return {
        path,
        plugin: so.plugin,
        name: so.name,
        dev: so.dev ?? null,
        size: live?.sizeBytes ?? so.size ?? 0,
        wwn: so.wwn ?? "",
        writeBack: so.writeBack,
        blockSize: so.blockSize,
        // A storage object whose backing storage went away (rbd image removed, client blocklisted) is offline.
        live: Boolean(live) && !live?.backstore.offline,
        error: live?.backstore.offline ? `offline: ${live.backstore.offline}` : warningFor(path),
        usedBy: usedBy.get(path) ?? [],
      };
    }),
    targets: config.targets.map((t) => {
      const target = engine.targets.get(t.wwn);
      return {
        wwn: t.wwn,
        live: Boolean(target),
        tpgs: t.tpgs.map((g) => {
          const tpg = target?.tpgs.get(g.tag);
          const base = `/iscsi/${t.wwn}/tpg${g.tag}`;
          return {
            tag: g.tag,
            enabled: tpg?.enabled ?? g.enabled,
            live: Boolean(tpg),
            demoMode: (g.attributes.generate_node_acls ?? 0) === 1,
            /**
             * CHAP credentials that the TPG does not require (authentication=0): initiators that do
             * not offer CHAP log in without them. The console shows a warning badge.
             */
            chapNotRequired:
              (g.attributes.authentication ?? 0) !== 1 &&
              (g.nodeAcls.some((a) => Boolean(a.chap.userid && a.chap.password)) || ((g.attributes.generate_node_acls ?? 0) === 1 && Boolean(g.chap.userid && g.chap.password))),
            allowedNetworks: g.allowedNetworks ?? [],
            node: g.node ?? null,
            attributes: g.attributes,
            luns: g.luns.map((l) => ({ ...l, live: Boolean(tpg?.luns.has(l.index)), error: warningFor(`${base}/luns/lun${l.index}`) })),
            portals: g.portals.map((p): PortalView => {
              const key = portalKey(p.ip, p.port);
              const here = !tpg || engine.servesHere(tpg);
              return {
                ip: p.ip, port: p.port, key,
                listening: here && listening.has(key) && Boolean(tpg?.portals.has(key)),
                error: warningFor(`${base}/portals/${p.ip}:${p.port}`),
                ...(here ? {} : { servedBy: tpg!.node }),
              };
            }),
            nodeAcls: g.nodeAcls.map((a) => ({
              initiatorName: a.initiatorName,
              aclTag: a.aclTag ?? null,
              cmdsnDepth: a.cmdsnDepth ?? null,
              live: Boolean(tpg?.aclFor(a.initiatorName)),
              mappedLuns: a.mappedLuns,
            })),
          };
        }),
      };
    }),
  };
}

export type ConfigTree = ReturnType<typeof configTree>;

export function engineStatus(service: ConfigService, app: { version: string; startedAt: number; url?: string }) {
  const tree = configTree(service);
  const sessions: SessionInfo[] = service.engine.sessions();
  const tpgs = tree.targets.flatMap((t) => t.tpgs);
  const portals = tree.targets.flatMap((t) => t.tpgs.flatMap((g) => g.portals.map((p) => ({ ...p, wwn: t.wwn, tag: g.tag }))));
  const warnings: RestoreWarning[] = service.warnings;
  return {
    version: app.version,
    url: app.url ?? null,
    startedAt: app.startedAt,
    uptimeSeconds: Math.floor((Date.now() - app.startedAt) / 1000),
    fabric: Boolean(service.engine.fabric),
    /** Why the fabric did not load, and errors that escaped every handler (server/health.ts). */
    health: processHealth(),
    /** Cluster membership (null on a single appliance). */
    cluster: getCluster()?.status() ?? null,
    counts: {
      storageObjects: tree.storageObjects.length,
      targets: tree.targets.length,
      tpgs: tpgs.length,
      luns: tpgs.reduce((n, g) => n + g.luns.length, 0),
      portals: portals.length,
      portalsListening: portals.filter((p) => p.listening).length,
      /** Portals of TPGs another cluster node serves (not opened here by design). */
      portalsElsewhere: portals.filter((p) => p.servedBy).length,
      nodeAcls: tpgs.reduce((n, g) => n + g.nodeAcls.length, 0),
      sessions: sessions.filter((s) => s.sessionType === "Normal").length,
    },
    portals,
    sessions,
    warnings,
  };
}

export type EngineStatus = ReturnType<typeof engineStatus>;

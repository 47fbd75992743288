/**
 * What importing a saveconfig.json would do, without doing it: every object in the
 * file, whether it is new, already exists (refused unless "replace everything"), or
 * cannot be opened here (a missing backing file or device), and what the file holds
 * that Portico does not honour. Import itself stays all-or-nothing (ConfigService).
 */
import { ConfigImportError, type ConfigIssue } from "../config/errors";
import { storageObjectPath } from "../config/model";
import { parseSaveconfig } from "../config/saveconfig";
import type { ConfigService } from "../config/service";
import { EngineError } from "../engine/core/errors";
import { addresses, blockProblem, fileioProblem } from "./host";

export type PreviewState = "new" | "exists" | "replaces" | "removed";

export interface ImportPreview {
  ok: boolean;
  issues: ConfigIssue[];
  notHonoured: string[];
  storageObjects: { path: string; plugin: string; name: string; dev: string | null; size: number | null; state: PreviewState; problem?: string }[];
  targets: {
    wwn: string;
    state: PreviewState;
    tpgs: { tag: number; enabled: boolean; luns: string[]; portals: string[]; acls: string[]; demoMode: boolean }[];
  }[];
  discoveryAuth: boolean;
}

export async function previewImport(service: ConfigService, input: string | Record<string, unknown>, clear: boolean, overcommit = false): Promise<ImportPreview> {
  let parsed: ReturnType<typeof parseSaveconfig>;
  try {
    parsed = parseSaveconfig(input);
  } catch (err) {
    if (err instanceof ConfigImportError) return { ok: false, issues: err.issues, notHonoured: [], storageObjects: [], targets: [], discoveryAuth: false };
    throw err;
  }
  const { config, notHonoured } = parsed;
  const current = service.config();
  const have = new Set(current.storageObjects.map(storageObjectPath));
  const haveTargets = new Set(current.targets.map((t) => t.wwn));
  const issues: ConfigIssue[] = [];
  // The engine's fileio rules (system and appliance files, storage roots, over-commit; files in use unless everything is replaced).
  const policyProblems = new Map<string, string>();
  for (const so of config.storageObjects) {
    if (so.plugin !== "fileio" || !so.dev) continue;
    await service.engine.checkFileioSpec({ name: so.name, dev: so.dev, size: so.size, blockSize: so.blockSize, overcommit }, { ignoreInUse: clear }).catch((err: unknown) => {
      if (err instanceof EngineError) policyProblems.set(storageObjectPath(so), err.message);
    });
  }
  const storageObjects: ImportPreview["storageObjects"] = config.storageObjects.map((so) => {
    const p = storageObjectPath(so);
    const state: PreviewState = have.has(p) ? (clear ? "replaces" : "exists") : "new";
    let problem: string | undefined;
    if (so.plugin === "fileio" && so.dev) problem = fileioProblem(so.dev, so.size)?.message ?? policyProblems.get(p);
    if (so.plugin === "block" && so.dev) problem = blockProblem(so.dev)?.message;
    if (problem) issues.push({ path: p, message: problem });
    if (state === "exists") issues.push({ path: p, message: "already exists (choose “replace everything” to replace it)" });
    return { path: p, plugin: so.plugin, name: so.name, dev: so.dev ?? null, size: so.size ?? null, state, problem };
  });
  const mine = new Set(addresses().map((a) => a.address.toLowerCase()));
  const wildcard = new Set(["0.0.0.0", "::", "::0", "[::]", "[::0]"]);
  const targets: ImportPreview["targets"] = config.targets.map((t) => {
    for (const g of t.tpgs) {
      for (const p of g.portals) {
        const bare = p.ip.replace(/^\[|\]$/g, "").toLowerCase();
        if (!wildcard.has(p.ip) && !mine.has(bare)) issues.push({ path: `/iscsi/${t.wwn}/tpg${g.tag}/portals/${p.ip}:${p.port}`, message: `${p.ip} is not an address of this machine` });
      }
    }
    const state: PreviewState = haveTargets.has(t.wwn) ? (clear ? "replaces" : "exists") : "new";
    if (state === "exists") issues.push({ path: `/iscsi/${t.wwn}`, message: "already exists (choose “replace everything” to replace it)" });
    return {
      wwn: t.wwn,
      state,
      tpgs: t.tpgs.map((g) => ({
        tag: g.tag,
        enabled: g.enabled,
        luns: g.luns.map((l) => `lun${l.index} → ${l.storageObject}`),
        portals: g.portals.map((p) => `${p.ip}:${p.port}`),
        acls: g.nodeAcls.map((a) => a.initiatorName),
        demoMode: g.attributes.generate_node_acls === 1,
      })),
    };
  });
  if (clear) {
    const inFile = new Set(config.storageObjects.map(storageObjectPath));
    for (const so of current.storageObjects) {
      const p = storageObjectPath(so);
      if (!inFile.has(p)) storageObjects.push({ path: p, plugin: so.plugin, name: so.name, dev: so.dev ?? null, size: so.size ?? null, state: "removed" });
    }
    const tInFile = new Set(config.targets.map((t) => t.wwn));
    for (const t of current.targets) if (!tInFile.has(t.wwn)) targets.push({ wwn: t.wwn, state: "removed", tpgs: [] });
  }
  return { ok: issues.length === 0, issues, notHonoured, storageObjects, targets, discoveryAuth: config.discoveryAuth.enabled };
}

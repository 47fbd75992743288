/**
 * Onboarding: turns the wizard's answers into one saveconfig-shaped model and
 * imports it through ConfigService (one transaction: everything is made, or a
 * failure rolls back what was made), then creates the admin and signs them in.
 */
import { capabilities } from "../config/capabilities";
import { ConfigImportError } from "../config/errors";
import type { ConfigService } from "../config/service";
import { EngineError } from "../engine/core/errors";
import { FieldError } from "./errors";
import { blockProblem, fileioProblem } from "./host";
import { ALLOWED_NETWORKS_KEY } from "../config/saveconfig";
import { TARGET_PRESETS, type OnboardingAccess, type OnboardingInput, type OnboardingStorage, type TargetStorage, type TargetWizardInput } from "./schemas";

/** targetcli's ip_address form: IPv6 in brackets. */
export function saveconfigIp(ip: string): string {
  const v = ip.trim();
  return v.includes(":") && !v.startsWith("[") ? `[${v}]` : v;
}

/** Problems the storage step can know before anything is created (same checks the create runs). */
export async function storageProblems(service: ConfigService, storage: OnboardingStorage): Promise<FieldError | undefined> {
  if (storage.kind === "none") return undefined;
  const exists = service.config().storageObjects.some((s) => s.plugin === storage.kind && s.name === storage.name);
  if (exists) return new FieldError(`a ${storage.kind} storage object named ${storage.name} already exists`, "storage.name", "CONFLICT");
  if (storage.kind === "fileio") {
    const p = fileioProblem(storage.dev, storage.size);
    if (p) return new FieldError(p.message, `storage.${p.field}`);
    // The engine's own rules (system and appliance files, storage roots, files in use, over-commit), as the create will apply them.
    try {
      await service.engine.checkFileioSpec({ name: storage.name, dev: storage.dev, size: storage.size, overcommit: storage.overcommit });
    } catch (err) {
      if (!(err instanceof EngineError)) throw err;
      return new FieldError(err.message, `storage.${err.field ?? "dev"}`, err.code === "in_use" ? "CONFLICT" : "BAD_REQUEST", err.code);
    }
  }
  if (storage.kind === "block") {
    const p = blockProblem(storage.dev);
    if (p) return new FieldError(p.message, "storage.dev");
    if (service.config().storageObjects.some((s) => s.plugin === "block" && s.dev === storage.dev)) {
      return new FieldError(`${storage.dev} is already a block storage object`, "storage.dev", "CONFLICT");
    }
  }
  return undefined;
}

export function buildSaveconfig(input: Pick<OnboardingInput, "storage" | "target" | "access"> & Partial<OnboardingInput>): Record<string, unknown> {
  const s = input.storage;
  if (s.kind === "none" || !input.target || !input.access) return { storage_objects: [], targets: [] };
  const so: Record<string, unknown> = { plugin: s.kind, name: s.name };
  if (s.kind === "ramdisk") so.size = s.size;
  if (s.kind === "fileio") Object.assign(so, { dev: s.dev, write_back: false, ...(s.size !== undefined ? { size: s.size } : {}) });
  if (s.kind === "block") Object.assign(so, { dev: s.dev, write_back: false });
  const soPath = `/backstores/${s.kind}/${s.name}`;
  const access: OnboardingAccess = input.access;
  const open = access.mode === "open";
  const anyChap = access.mode === "acls" && access.initiators.some((i) => i.auth !== "none");
  const tpg = {
    tag: 1,
    enable: true,
    // Demo mode (lio-model.md §2.2): any initiator logs in and gets the TPG's LUNs, writable.
    attributes: open ? { authentication: 0, generate_node_acls: 1, demo_mode_write_protect: 0, cache_dynamic_acls: 1 } : { authentication: anyChap ? 1 : 0, generate_node_acls: 0 },
    luns: [{ index: 0, storage_object: soPath }],
    portals: [{ ip_address: saveconfigIp(input.target.ip), port: input.target.port }],
    node_acls:
      access.mode === "acls"
        ? access.initiators.map((i) => ({
            node_wwn: i.name.trim().toLowerCase(),
            mapped_luns: [{ index: 0, tpg_lun: 0, write_protect: false }],
            ...(i.auth !== "none" ? { chap_userid: i.userid, chap_password: i.password } : {}),
            ...(i.auth === "mutual" ? { chap_mutual_userid: i.mutualUserid, chap_mutual_password: i.mutualPassword } : {}),
          }))
        : [],
  };
  return { storage_objects: [so], targets: [{ fabric: "iscsi", wwn: input.target.wwn.trim().toLowerCase(), tpgs: [tpg] }] };
}

/** Which wizard field an import refusal concerns, from its path in the model. */
export function fieldForIssue(issuePath: string, message: string, input: OnboardingInput): string {
  const p = issuePath;
  if (/portals|ip_address|\bport\b/.test(p)) return /address|ip/i.test(message) && !/in use/i.test(message) ? "target.ip" : "target.port";
  const acl = /acls\/([^/]+)/.exec(p) ?? /node_acls\[(\d+)\]/.exec(p);
  if (acl && input.access?.mode === "acls") {
    const i = /^\d+$/.test(acl[1]) ? Number(acl[1]) : input.access.initiators.findIndex((x) => x.name.trim().toLowerCase() === acl[1]);
    return `access.initiators.${Math.max(0, i)}.name`;
  }
  if (p.startsWith("/backstores/") || p.startsWith("storage_objects")) {
    if (/already exists/.test(message)) return "storage.name";
    if (input.storage.kind === "ramdisk" || /size/.test(message)) return "storage.size";
    return "storage.dev";
  }
  if (p.startsWith("/iscsi/") || p.startsWith("targets")) return "target.wwn";
  return "";
}

/** Creates the storage, target, portal and access in one import; on failure nothing stays and the error names the field. */
export async function createInitialConfig(service: ConfigService, input: OnboardingInput): Promise<{ notHonoured: string[] }> {
  const problem = await storageProblems(service, input.storage);
  if (problem) throw problem;
  if (input.access?.mode === "acls" && !capabilities.chap) {
    const i = input.access.initiators.findIndex((x) => x.auth !== "none");
    if (i >= 0) throw new FieldError("this engine does not enforce CHAP yet: choose no authentication for now", `access.initiators.${i}.auth`);
  }
  if (input.target && service.config().targets.some((t) => t.wwn === input.target!.wwn.trim().toLowerCase())) {
    throw new FieldError(`target ${input.target.wwn} already exists`, "target.wwn", "CONFLICT");
  }
  const doc = buildSaveconfig(input);
  if (!(doc.storage_objects as unknown[]).length) return { notHonoured: [] };
  try {
    const r = await service.importSaveconfig(doc, { clear: false, overcommit: input.storage.kind === "fileio" && input.storage.overcommit === true });
    return { notHonoured: r.notHonoured };
  } catch (err) {
    if (err instanceof ConfigImportError) {
      const first = err.issues[0];
      const field = fieldForIssue(first?.path ?? "", first?.message ?? "", input);
      throw new FieldError(`nothing was created: ${first?.message ?? err.message}`, field || "form");
    }
    if (err instanceof EngineError) throw new FieldError(`nothing was created: ${err.message}`, fieldForIssue(`/${err.field ?? ""}`, err.message, input) || "form");
    throw err;
  }
}

// ---- New target wizard ------------------------------------------------------------------------

/** The storage step's checks for the New target wizard: a new object as in onboarding, or one that exists. */
export async function targetStorageProblems(service: ConfigService, storage: TargetStorage): Promise<FieldError | undefined> {
  if (storage.kind !== "existing") return storageProblems(service, storage);
  const exists = service.config().storageObjects.some((s) => `/backstores/${s.plugin}/${s.name}` === storage.path);
  return exists ? undefined : new FieldError(`${storage.path} does not exist`, "storage.path", "NOT_FOUND");
}

/** The wizard's answers as one saveconfig-shaped document: onboarding's, plus preset, existing storage, ACL tag and allowed networks. */
export function buildTargetSaveconfig(input: TargetWizardInput): Record<string, unknown> {
  const storage: OnboardingStorage = input.storage.kind === "existing" ? { kind: "ramdisk", name: "x", size: 1 << 20 } : input.storage;
  const doc = buildSaveconfig({ storage, target: input.target, access: input.access }) as {
    storage_objects: Record<string, unknown>[];
    targets: { tpgs: { luns: { storage_object: string }[]; node_acls: Record<string, unknown>[]; [k: string]: unknown }[] }[];
  };
  const tpg = doc.targets[0].tpgs[0];
  if (input.storage.kind === "existing") {
    doc.storage_objects = [];
    tpg.luns[0].storage_object = input.storage.path;
  } else {
    const attributes = { ...TARGET_PRESETS[input.preset].attributes };
    if (Object.keys(attributes).length) doc.storage_objects[0].attributes = attributes;
  }
  // saveconfig.json's key for the ACL tag is LIO's `tag`.
  if (input.aclTag) for (const acl of tpg.node_acls) acl.tag = input.aclTag;
  if (input.allowedNetworks.length) tpg[ALLOWED_NETWORKS_KEY] = input.allowedNetworks;
  return doc;
}

/** Creates a target with its storage (new or existing), portal and access in one import: all of it, or nothing. */
export async function createTargetFromWizard(service: ConfigService, input: TargetWizardInput): Promise<{ notHonoured: string[]; wwn: string }> {
  const problem = await targetStorageProblems(service, input.storage);
  if (problem) throw problem;
  const wwn = input.target.wwn.trim().toLowerCase();
  if (service.config().targets.some((t) => t.wwn === wwn)) throw new FieldError(`target ${input.target.wwn} already exists`, "target.wwn", "CONFLICT");
  const doc = buildTargetSaveconfig(input);
  const onboardingShape = { ...input, storage: input.storage.kind === "existing" ? ({ kind: "none" } as const) : input.storage } as unknown as OnboardingInput;
  try {
    const r = await service.importSaveconfig(doc, { clear: false, overcommit: input.storage.kind === "fileio" && input.storage.overcommit === true });
    return { notHonoured: r.notHonoured, wwn };
  } catch (err) {
    if (err instanceof ConfigImportError) {
      const first = err.issues[0];
      let field = fieldForIssue(first?.path ?? "", first?.message ?? "", onboardingShape);
      if (/allowed_networks/.test(first?.path ?? "")) field = "allowedNetworks";
      if (input.storage.kind === "existing" && field.startsWith("storage.")) field = "storage.path";
      throw new FieldError(`nothing was created: ${first?.message ?? err.message}`, field || "form");
    }
    if (err instanceof EngineError) throw new FieldError(`nothing was created: ${err.message}`, fieldForIssue(`/${err.field ?? ""}`, err.message, onboardingShape) || "form");
    throw err;
  }
}

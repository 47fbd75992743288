/**
 * The cluster's configuration as one etcd value (issue 14, step 2): the whole model in the
 * shape ConfigService stores (PorticoConfig, the same objects saveconfig.json is made from, so
 * generated WWNs, unit serials and tags are identical on every node), the settings that are
 * cluster-wide, and who wrote it. Pure: encode, decode (checked: a value written by something
 * else is refused by name, never applied half-understood), compare.
 */
import type { PorticoConfig } from "../config/model";
import type { ReplicatedState } from "../config/service";

export const CONFIG_KEY = "/portico/v1/config";
export const DOC_FORMAT = 1;
/**
 * etcd refuses a request larger than --max-request-bytes (1.5 MiB by default); the document
 * stays below with room for the transaction around it. A change that would pass it is refused
 * before anything is sent (docs/cluster.md, limits).
 */
export const MAX_DOC_BYTES = 1_400_000;

export interface ConfigDoc extends ReplicatedState {
  format: number;
  /** The node whose change wrote this document. */
  node: string;
  /** When (ISO 8601). */
  at: string;
  /** A random id of the change, to recognise a write of ours whose answer was lost. */
  change?: string;
}

export class ConfigDocError extends Error {}

/**
 * The ACL tag is `aclTag` in the document (one word per concept, issue 9 item 7); the code before
 * that rename wrote and reads `tag` on each node ACL. Each ACL's tag is written under both names
 * while such nodes may still be members (a rolling upgrade): a node on the old code then keeps
 * the tags it reads and writes back. Read: `aclTag`, or `tag` from a document such a node wrote.
 */
type AclInDoc = { aclTag?: unknown; tag?: unknown };

function eachAcl(config: unknown, fn: (acl: AclInDoc) => void): void {
  const targets = (config as { targets?: unknown } | undefined)?.targets;
  if (!Array.isArray(targets)) return;
  for (const t of targets) {
    const tpgs = (t as { tpgs?: unknown } | null)?.tpgs;
    if (!Array.isArray(tpgs)) continue;
    for (const g of tpgs) {
      const acls = (g as { nodeAcls?: unknown } | null)?.nodeAcls;
      if (Array.isArray(acls)) for (const a of acls) if (a && typeof a === "object") fn(a as AclInDoc);
    }
  }
}

export function encodeDoc(doc: ConfigDoc): string {
  return JSON.stringify(doc, (key, value: unknown) => {
    if (key !== "nodeAcls" || !Array.isArray(value)) return value;
    return value.map((a: AclInDoc) => (typeof a?.aclTag === "string" ? { ...a, tag: a.aclTag } : a));
  });
}

/** Parses a stored document; throws ConfigDocError naming what is wrong. */
export function decodeDoc(text: string): ConfigDoc {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ConfigDocError(`${CONFIG_KEY} is not JSON: ${(err as Error).message}`);
  }
  const d = v as Partial<ConfigDoc> | null;
  if (!d || typeof d !== "object") throw new ConfigDocError(`${CONFIG_KEY} is not an object`);
  if (d.format !== DOC_FORMAT) throw new ConfigDocError(`${CONFIG_KEY} has format ${String(d.format)}; this Portico reads format ${DOC_FORMAT} (a newer node wrote it?)`);
  if (typeof d.node !== "string" || typeof d.at !== "string") throw new ConfigDocError(`${CONFIG_KEY} has no writer (node, at)`);
  const c = d.config as Partial<PorticoConfig> | undefined;
  if (!c || !Array.isArray(c.storageObjects) || !Array.isArray(c.targets) || !c.discoveryAuth || typeof c.discoveryAuth.enabled !== "boolean") {
    throw new ConfigDocError(`${CONFIG_KEY} has no configuration (storageObjects, targets, discoveryAuth)`);
  }
  const s = d.settings as Partial<ReplicatedState["settings"]> | undefined;
  if (!s || typeof s.autoAddMappedLuns !== "boolean" || typeof s.maxBackupFiles !== "number") throw new ConfigDocError(`${CONFIG_KEY} has no settings`);
  eachAcl(c, (a) => {
    if (a.aclTag === undefined && typeof a.tag === "string") a.aclTag = a.tag;
    delete a.tag;
  });
  return d as ConfigDoc;
}

/** JSON with object keys sorted and undefined left out, so equal content gives equal text. */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? "null" : stableJson(x))).join(",")}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(",")}}`;
}

const byKey = <T>(key: (x: T) => string | number) => (a: T, b: T) => {
  const x = key(a);
  const y = key(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * The configuration with every list in a fixed order (objects are identified by name, index or
 * address, never by position): two nodes that hold the same objects give the same text.
 */
export function canonicalConfig(c: PorticoConfig): PorticoConfig {
  return {
    storageObjects: [...c.storageObjects].sort(byKey((s) => `${s.plugin}/${s.name}`)),
    targets: [...c.targets].sort(byKey((t) => t.wwn)).map((t) => ({
      wwn: t.wwn,
      tpgs: [...t.tpgs].sort(byKey((g) => g.tag)).map((g) => ({
        ...g,
        luns: [...g.luns].sort(byKey((l) => l.index)),
        portals: [...g.portals].sort(byKey((p) => `${p.ip}:${p.port}`)),
        nodeAcls: [...g.nodeAcls].sort(byKey((a) => a.initiatorName)).map((a) => ({ ...a, mappedLuns: [...a.mappedLuns].sort(byKey((m) => m.index)) })),
      })),
    })),
    discoveryAuth: c.discoveryAuth,
  };
}

/** The replicated part of a state as comparable text (writer and time left out). */
export function stateText(s: ReplicatedState): string {
  return stableJson({ config: canonicalConfig(s.config), settings: s.settings });
}

export function sameState(a: ReplicatedState, b: ReplicatedState): boolean {
  return stateText(a) === stateText(b);
}

/** What a node does with a document the watch (or a read) delivers. */
export type RemoteDecision = "ignore" | "record" | "apply";

/**
 * A document at `revision` (its key's mod_revision), against the revision this node applied or
 * wrote last: older or the same → ignore (our own write coming back, or a replay); newer with
 * the same content → record the revision only; newer and different → apply.
 */
export function decideRemote(revision: bigint, applied: bigint | undefined, same: boolean): RemoteDecision {
  if (applied !== undefined && revision <= applied) return "ignore";
  return same ? "record" : "apply";
}

/** The message for a change refused because another node's change got in first. */
export function conflictMessage(other: { node?: string; revision?: string } | undefined, self: string): string {
  const who = other?.node ? (other.node === self ? "this node (by another change)" : `node ${other.node}`) : "another node";
  return `the configuration was changed on ${who} meanwhile${other?.revision ? ` (cluster revision ${other.revision})` : ""}: nothing was changed here; reload and retry`;
}

export function sizeMessage(bytes: number): string {
  return `the cluster configuration would be ${Math.ceil(bytes / 1024)} KiB, over the ${Math.floor(MAX_DOC_BYTES / 1024)} KiB etcd holds in one value: the change is refused (see docs/cluster.md, limits)`;
}

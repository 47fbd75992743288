/**
 * What a configuration change changed, for the audit log: the stored configuration before and
 * after, flattened into objects named by their targetcli paths (/backstores/fileio/disk1,
 * /iscsi/<wwn>/tpg1/acls/<initiator>) with their fields, and compared. Secrets (CHAP passwords) are
 * masked: the log says a secret was set, changed or cleared, never what it is.
 *
 * Pure. Generic over the model (model.ts): arrays of objects become child objects keyed by their
 * identifying field, so a field added to the model is audited without a change here.
 */
import type { PorticoConfig } from "./model";

export interface FieldChange {
  field: string;
  /** undefined: the field was absent. Secrets: "••••" when set. */
  before?: unknown;
  after?: unknown;
  /** A secret: before/after are masked. */
  secret?: true;
}

export interface ObjectChange {
  /** The object's path, e.g. `/iscsi/<wwn>/tpg1/acls/<initiator>`. */
  object: string;
  action: "created" | "deleted" | "changed";
  /** The fields that differ (for "created": the fields it was created with). */
  fields: FieldChange[];
}

/** Everything audited: the configuration tree plus the appliance settings (key → value). */
export interface AuditedState {
  config: PorticoConfig;
  settings?: Record<string, unknown>;
}

export const MASK = "••••";
const SECRET_FIELD = /password|secret/i;

type Flat = Map<string, Map<string, unknown>>;

/** Path segment of an array element by the array's property (targetcli's names where it has them). */
function childSegment(prop: string, item: Record<string, unknown>): string {
  switch (prop) {
    case "storageObjects":
      return `backstores/${String(item.plugin)}/${String(item.name)}`;
    case "targets":
      return `iscsi/${String(item.wwn)}`;
    case "tpgs":
      return `tpg${String(item.tag)}`;
    case "luns":
      return `luns/lun${String(item.index)}`;
    case "portals":
      return `portals/${String(item.ip)}:${String(item.port)}`;
    case "nodeAcls":
      return `acls/${String(item.initiatorName)}`;
    case "mappedLuns":
      return `mapped_lun${String(item.index)}`;
    case "aluaGroups":
      return `alua/${String(item.name)}`;
  }
  const key = ["name", "wwn", "initiatorName", "tag", "index", "id"].find((k) => item[k] !== undefined && item[k] !== null);
  return `${prop}/${key ? String(item[key]) : "?"}`;
}

/** Fields of one object: scalars, and nested plain objects as dotted names (attributes.x, chap.password). */
function flattenObject(path: string, obj: Record<string, unknown>, out: Flat): void {
  const fields = new Map<string, unknown>();
  out.set(path, fields);
  const walk = (prefix: string, o: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(o)) {
      if (v === undefined) continue;
      const name = prefix ? `${prefix}.${k}` : k;
      if (Array.isArray(v)) {
        if (!v.length) continue; // no children, or an empty list (absent and empty read the same)
        if (v.every((x) => x !== null && typeof x === "object" && !Array.isArray(x))) {
          for (const item of v as Record<string, unknown>[]) flattenObject(`${path === "/" ? "" : path}/${childSegment(k, item)}`, item, out);
        } else fields.set(name, v.map(String).join(", "));
      } else if (v !== null && typeof v === "object") walk(name, v as Record<string, unknown>);
      else fields.set(name, v);
    }
  };
  walk("", obj);
}

export function flattenState(s: AuditedState): Flat {
  const out: Flat = new Map();
  const { storageObjects, targets, discoveryAuth, ...rest } = s.config;
  flattenObject("/", { ...rest, storageObjects, targets }, out);
  if (discoveryAuth) flattenObject("/iscsi/discovery_auth", discoveryAuth as unknown as Record<string, unknown>, out);
  if (s.settings) flattenObject("/settings", s.settings, out);
  // The root carries nothing of its own once its children are out.
  if (out.get("/")?.size === 0) out.delete("/");
  return out;
}

function masked(field: string, v: unknown): unknown {
  if (!SECRET_FIELD.test(field)) return v;
  return v === undefined || v === null || v === "" ? undefined : MASK;
}

function same(a: unknown, b: unknown): boolean {
  return a === b || (a !== null && b !== null && typeof a === "object" && JSON.stringify(a) === JSON.stringify(b));
}

/** The objects created, deleted and changed between two states, in path order. */
export function diffState(before: AuditedState, after: AuditedState): ObjectChange[] {
  const a = flattenState(before);
  const b = flattenState(after);
  const out: ObjectChange[] = [];
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const object of paths) {
    const fa = a.get(object);
    const fb = b.get(object);
    const fields: FieldChange[] = [];
    const names = [...new Set([...(fa?.keys() ?? []), ...(fb?.keys() ?? [])])].sort();
    for (const field of names) {
      const x = fa?.get(field);
      const y = fb?.get(field);
      if (fa && fb && same(x, y)) continue;
      if (!fa && y === undefined) continue;
      const secret = SECRET_FIELD.test(field);
      const change: FieldChange = { field, before: masked(field, x), after: masked(field, y) };
      if (secret) change.secret = true;
      fields.push(change);
    }
    if (!fa) out.push({ object, action: "created", fields });
    else if (!fb) out.push({ object, action: "deleted", fields: [] });
    else if (fields.length) out.push({ object, action: "changed", fields });
  }
  return out;
}

/** One line per object, for logs and the CLI: `changed /iscsi/…/tpg1: attributes.authentication 0 → 1`. */
export function describeChange(c: ObjectChange): string {
  const v = (x: unknown) => (x === undefined ? "(none)" : typeof x === "string" ? JSON.stringify(x) : String(x));
  const fields = c.fields.map((f) => (c.action === "created" ? `${f.field}=${v(f.after)}` : `${f.field} ${v(f.before)} → ${v(f.after)}${f.secret && f.before !== undefined && f.after !== undefined ? " (changed)" : ""}`));
  return `${c.action} ${c.object}${fields.length && c.action !== "deleted" ? `: ${fields.join(", ")}` : ""}`;
}

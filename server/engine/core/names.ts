/**
 * WWN and name rules, after rtslib's normalize_wwn (lio-model.md §1.4).
 */
import { EngineError } from "./errors";

const IQN_RE = /^iqn\.[0-9]{4}-[0-1][0-9]\.[^\s_]+$/;
const NAA_RE = /^naa\.[125c-f][0-9a-f]{15}$/;
const EUI_RE = /^eui\.[0-9a-f]{16}$/;

/** Normalizes (trim, lowercase) and validates an iSCSI name: iqn., naa. or eui. */
export function normalizeIscsiName(raw: string, field = "wwn"): string {
  const name = raw.trim().toLowerCase();
  if (name.length > 223) throw new EngineError(`iSCSI name is longer than 223 bytes: ${name.slice(0, 40)}…`, "invalid", field);
  if (IQN_RE.test(name) && name.split(".").length >= 3) return name;
  if (NAA_RE.test(name) || EUI_RE.test(name)) return name;
  throw new EngineError(
    `"${raw}" is not a valid iSCSI name: expected iqn.YYYY-MM.reversed.domain[:identifier], naa.<16 hex> or eui.<16 hex>`,
    "invalid",
    field,
  );
}

export function isValidIscsiName(raw: string): boolean {
  try {
    normalizeIscsiName(raw);
    return true;
  } catch {
    return false;
  }
}

/** Storage object names: no '/', whitespace; 1..64 chars (rtslib tcm.py). */
export function validateStorageObjectName(name: string): string {
  if (!/^[^\s/]{1,64}$/.test(name)) {
    throw new EngineError(`"${name}" is not a valid storage object name: use 1 to 64 characters, no spaces or '/'`, "invalid", "name");
  }
  return name;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export function validateUnitSerial(wwn: string): string {
  const v = wwn.trim().toLowerCase();
  if (!UUID_RE.test(v)) throw new EngineError(`"${wwn}" is not a valid unit serial: expected a UUID`, "invalid", "wwn");
  return v;
}

/** Portal address as LIO writes it: IPv6 in brackets. */
export function portalKey(ip: string, port: number): string {
  const addr = ip.includes(":") && !ip.startsWith("[") ? `[${ip}]` : ip;
  return `${addr}:${port}`;
}

/** Strips the brackets from an IPv6 portal address for net.Server.listen(). */
export function listenAddress(ip: string): string {
  return ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
}

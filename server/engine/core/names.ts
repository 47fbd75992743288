/**
 * WWN and name rules, after rtslib's normalize_wwn (lio-model.md §1.4).
 */
import { EngineError } from "./errors";

const IQN_RE = /^iqn\.[0-9]{4}-[0-1][0-9]\.[^\s_]+$/;
const NAA_RE = /^naa\.[125c-f][0-9a-f]{15}$/;
const EUI_RE = /^eui\.[0-9a-f]{16}$/;

export const ISCSI_NAME_HINT = "expected iqn.YYYY-MM.reversed.domain[:identifier], naa.<16 hex> or eui.<16 hex>";

/**
 * How strictly iscsiNameProblem() reads a name. Two on purpose, one function:
 * - "config": names the administrator configures (a target's wwn, an ACL's node_wwn, API, console
 *   and saveconfig import) follow rtslib's normalize_wwn, so that every saveconfig.json targetcli
 *   wrote imports here: after `iqn.YYYY-MM.` any character but blanks and '_', naa. in its 16-digit
 *   IEEE forms; plus RFC 7143 §4.2.7.2's year-month, which rtslib lets through as 13-19. The name
 *   is trimmed, and the reason is worded for a form field.
 * - "login": names a peer sends at login (InitiatorName) follow RFC 7143 §4.2.7.1–§4.2.7.4 (after
 *   RFC 3720 §3.2.6.2 and RFC 3722's stringprep profile) to the letter: of ASCII only '-', '.',
 *   ':', a–z and 0–9, eui. 16 hex digits, naa. 16 or 32, no empty label in an iqn. naming
 *   authority; nothing is trimmed, and the reason never repeats the name (it may be anything).
 * Both: at most 223 bytes of UTF-8, compared lowercased.
 */
export type IscsiNameStrictness = "config" | "login";

/** Why `raw` is not an iSCSI name under `strictness`, or undefined when it is one. */
export function iscsiNameProblem(raw: string, strictness: IscsiNameStrictness): string | undefined {
  const name = strictness === "config" ? raw.trim().toLowerCase() : raw.toLowerCase();
  if (name.length === 0) return strictness === "config" ? ISCSI_NAME_HINT : "the name is empty";
  if (Buffer.byteLength(name, "utf8") > 223) return "the name is longer than 223 bytes";
  return strictness === "config" ? configNameProblem(name) : loginNameProblem(name);
}

function configNameProblem(name: string): string | undefined {
  if (IQN_RE.test(name) && name.split(".").length >= 3) {
    const month = Number(name.slice(9, 11));
    if (month < 1 || month > 12) return `the month in iqn.YYYY-MM must be 01 to 12 (not ${name.slice(9, 11)})`;
    return undefined;
  }
  if (NAA_RE.test(name) || EUI_RE.test(name)) return undefined;
  return ISCSI_NAME_HINT;
}

function loginNameProblem(name: string): string | undefined {
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80 ? !/[a-z0-9.:-]/.test(ch) : c < 0xa0 || /\s/u.test(ch)) {
      return "the name holds a character iSCSI names may not contain (of ASCII only a-z, 0-9, '-', '.' and ':')";
    }
  }
  if (name.startsWith("iqn.")) {
    const m = /^iqn\.(\d{4})-(\d{2})\.([^:]+)/.exec(name);
    if (!m) return "an iqn. name is iqn.YYYY-MM.<reversed domain>[:<identifier>]";
    const month = Number(m[2]);
    if (month < 1 || month > 12) return "the month in an iqn. name must be 01 to 12";
    if (m[3]!.split(".").some((part) => part === "")) return "the naming authority of an iqn. name has an empty label";
    return undefined;
  }
  if (name.startsWith("eui.")) return /^eui\.[0-9a-f]{16}$/.test(name) ? undefined : "an eui. name is eui. and 16 hexadecimal digits";
  if (name.startsWith("naa.")) return /^naa\.([0-9a-f]{16}|[0-9a-f]{32})$/.test(name) ? undefined : "a naa. name is naa. and 16 or 32 hexadecimal digits";
  return "an iSCSI name starts with iqn., eui. or naa.";
}

/**
 * Why a configured name (target wwn, ACL initiator name) is not valid, or undefined: the one
 * rule the engine, the API's schemas and the console's forms share, so they say the same
 * (iscsiNameProblem at "config" strictness).
 */
export function iscsiNameReason(raw: string): string | undefined {
  return iscsiNameProblem(raw, "config");
}

/** Normalizes (trim, lowercase) and validates a configured iSCSI name: iqn., naa. or eui. */
export function normalizeIscsiName(raw: string, field = "wwn"): string {
  const reason = iscsiNameReason(raw);
  if (reason) throw new EngineError(`"${raw.length > 64 ? `${raw.slice(0, 40)}…` : raw}" is not a valid iSCSI name: ${reason}`, "invalid", field);
  return raw.trim().toLowerCase();
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

const NODE_NAME_RULE = "use 1 to 63 letters, digits and '-' (a host name label)";

/** Why a cluster node name (TPG `node`, PORTICO_NODE) is not valid, or undefined: shared by the engine and the API's schema. */
export function nodeNameReason(raw: string): string | undefined {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(raw.trim().toLowerCase()) ? undefined : NODE_NAME_RULE;
}

/** A node name as TPG `node` takes it: a host name label, lowercased (as PORTICO_NODE). */
export function normalizeNodeName(raw: string): string {
  const reason = nodeNameReason(raw);
  if (reason) throw new EngineError(`"${raw}" is not a valid node name: ${reason}`, "invalid", "node");
  return raw.trim().toLowerCase();
}

/**
 * Why an ACL tag (targetcli's initiator groups, rtslib NodeACLGroup) is not valid, or undefined:
 * the engine's rule (checkAclTag), which the API's and the console's schemas share.
 */
export function aclTagReason(raw: string): string | undefined {
  return /^[^.\s]{1,64}$/.test(raw) ? undefined : "1 to 64 characters, no '.' or spaces";
}

/**
 * Text key negotiation (RFC 7143 §6, §13), target side, driven by a key table.
 *
 * The table says how each key is negotiated; `Negotiation.respond()` answers one
 * batch of keys as the acceptor: list → first of the initiator's values we support,
 * numeric min/max, boolean AND/OR, declarative keys recorded. Unknown and X- keys
 * get NotUnderstood, out-of-range values Reject, keys that do not apply to a
 * discovery session Irrelevant (RFC 7143 §13: "Irrelevant when SessionType=Discovery").
 * Target values come from the TPG's `parameters` (LIO defaults, core/defaults.ts).
 */
import type { ParameterMap } from "../core/defaults";
import type { TextPairs } from "./text";

export type KeyKind = "list" | "min" | "max" | "and" | "or" | "declarative" | "number-declarative" | "reject";

export interface KeyDef {
  kind: KeyKind;
  /** Who may send it (RFC 7143 "Who:" line). */
  sender: "initiator" | "target" | "both";
  /** Login-only (LO): may not be renegotiated in full feature phase. */
  loginOnly: boolean;
  /** Security stage only (AuthMethod, CHAP_*). */
  security?: boolean;
  /** Legal range of a numeric key. */
  range?: [number, number];
  /** Legal values of a list key (a value outside them is never chosen). */
  values?: string[];
  /** RFC 7143 default, in force when the key is not negotiated. */
  rfcDefault?: string;
  /** Answered Irrelevant in a discovery session. */
  irrelevantInDiscovery?: boolean;
}

const MAX_24 = 16777215;

/** RFC 7143 §12–13 keys. The table is the specification; the code below only interprets it. */
export const KEY_TABLE: Readonly<Record<string, KeyDef>> = {
  AuthMethod: { kind: "list", sender: "both", loginOnly: true, security: true, values: ["CHAP", "None"], rfcDefault: "None" },
  HeaderDigest: { kind: "list", sender: "both", loginOnly: true, values: ["CRC32C", "None"], rfcDefault: "None" },
  DataDigest: { kind: "list", sender: "both", loginOnly: true, values: ["CRC32C", "None"], rfcDefault: "None" },
  MaxConnections: { kind: "min", sender: "both", loginOnly: true, range: [1, 65535], rfcDefault: "1", irrelevantInDiscovery: true },
  SendTargets: { kind: "declarative", sender: "initiator", loginOnly: false },
  TargetName: { kind: "declarative", sender: "both", loginOnly: true },
  InitiatorName: { kind: "declarative", sender: "initiator", loginOnly: true },
  TargetAlias: { kind: "declarative", sender: "target", loginOnly: false },
  InitiatorAlias: { kind: "declarative", sender: "initiator", loginOnly: false },
  TargetAddress: { kind: "declarative", sender: "target", loginOnly: false },
  TargetPortalGroupTag: { kind: "declarative", sender: "target", loginOnly: true },
  InitialR2T: { kind: "or", sender: "both", loginOnly: true, rfcDefault: "Yes", irrelevantInDiscovery: true },
  ImmediateData: { kind: "and", sender: "both", loginOnly: true, rfcDefault: "Yes", irrelevantInDiscovery: true },
  // Declarative per direction (RFC 7143 §13.12): the initiator's value bounds what *we* send.
  MaxRecvDataSegmentLength: { kind: "number-declarative", sender: "both", loginOnly: false, range: [512, MAX_24], rfcDefault: "8192" },
  MaxBurstLength: { kind: "min", sender: "both", loginOnly: true, range: [512, MAX_24], rfcDefault: "262144", irrelevantInDiscovery: true },
  FirstBurstLength: { kind: "min", sender: "both", loginOnly: true, range: [512, MAX_24], rfcDefault: "65536", irrelevantInDiscovery: true },
  DefaultTime2Wait: { kind: "max", sender: "both", loginOnly: true, range: [0, 3600], rfcDefault: "2", irrelevantInDiscovery: true },
  DefaultTime2Retain: { kind: "min", sender: "both", loginOnly: true, range: [0, 3600], rfcDefault: "20", irrelevantInDiscovery: true },
  MaxOutstandingR2T: { kind: "min", sender: "both", loginOnly: true, range: [1, 65535], rfcDefault: "1", irrelevantInDiscovery: true },
  DataPDUInOrder: { kind: "or", sender: "both", loginOnly: true, rfcDefault: "Yes", irrelevantInDiscovery: true },
  DataSequenceInOrder: { kind: "or", sender: "both", loginOnly: true, rfcDefault: "Yes", irrelevantInDiscovery: true },
  ErrorRecoveryLevel: { kind: "min", sender: "both", loginOnly: true, range: [0, 2], rfcDefault: "0", irrelevantInDiscovery: true },
  SessionType: { kind: "declarative", sender: "initiator", loginOnly: true, values: ["Discovery", "Normal"], rfcDefault: "Normal" },
  // Markers are obsolete (RFC 7143 §13.25 keeps them only for compatibility): AND with our No.
  IFMarker: { kind: "and", sender: "both", loginOnly: true, rfcDefault: "No", irrelevantInDiscovery: true },
  OFMarker: { kind: "and", sender: "both", loginOnly: true, rfcDefault: "No", irrelevantInDiscovery: true },
  IFMarkInt: { kind: "reject", sender: "both", loginOnly: true, irrelevantInDiscovery: true },
  OFMarkInt: { kind: "reject", sender: "both", loginOnly: true, irrelevantInDiscovery: true },
};

/** KEY_TABLE as a Map: a login looks up ~15 keys, and a keyed load on the object literal goes megamorphic. */
const KEY_DEFS: ReadonlyMap<string, KeyDef> = new Map(Object.entries(KEY_TABLE));

/** Operational keys reported in SessionInfo.parameters. */
export const OPERATIONAL_KEYS = [
  "HeaderDigest", "DataDigest", "MaxConnections", "InitialR2T", "ImmediateData", "MaxRecvDataSegmentLength",
  "MaxBurstLength", "FirstBurstLength", "DefaultTime2Wait", "DefaultTime2Retain", "MaxOutstandingR2T",
  "DataPDUInOrder", "DataSequenceInOrder", "ErrorRecoveryLevel", "IFMarker", "OFMarker",
] as const;

/** The negotiated values a connection and its session run with. */
export interface SessionParams {
  headerDigest: boolean;
  dataDigest: boolean;
  maxConnections: number;
  initialR2T: boolean;
  immediateData: boolean;
  /** What we accept in one PDU (our declaration). */
  maxRecvDataSegmentLength: number;
  /** What we may send in one PDU (the initiator's declaration). */
  maxXmitDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  maxOutstandingR2T: number;
  dataPduInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
}

/**
 * RFC 7143 §11.12.5: numbers are decimal (1–10 digits) or 0x-prefixed hex (1–8 digits).
 * A character loop rather than two regular expressions: every login parses about a dozen.
 */
export function parseNumber(v: string): number | undefined {
  const n = v.length;
  if (n === 0) return undefined;
  if (n > 2 && v.charCodeAt(0) === 0x30 && (v.charCodeAt(1) | 0x20) === 0x78) {
    if (n > 10) return undefined;
    let x = 0;
    for (let i = 2; i < n; i++) {
      const c = v.charCodeAt(i);
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;
      if (d < 0) return undefined;
      x = x * 16 + d;
    }
    return x;
  }
  if (n > 10) return undefined;
  let x = 0;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
    x = x * 10 + (c - 0x30);
  }
  return x;
}

export interface NegotiationContext {
  /** "login" during the login phase, "ffp" for Text requests in full feature phase. */
  phase: "login" | "ffp";
  discovery: boolean;
  /** The TPG's parameters (target side of every key). */
  target: ParameterMap;
}

export interface NegotiationResult {
  responses: TextPairs;
  /** A protocol error: the login fails with 0x0200 (initiator error). */
  error?: string;
}

/**
 * Negotiation state of one connection's login (and its Text renegotiations).
 * Keys the initiator sends are answered once; a key sent twice is a protocol error
 * (RFC 7143 §6.2: "neither side should attempt to declare or negotiate a parameter more than once").
 */
export class Negotiation {
  /** Negotiated values (key → result), for SessionInfo and SessionParams. */
  readonly values = new Map<string, string>();
  /** Declarative values the initiator sent (InitiatorName, InitiatorAlias, SessionType...). */
  readonly declared = new Map<string, string>();
  private readonly seen = new Set<string>();
  private ourMrdslDeclared = false;
  /** The TPG's MaxXmitDataSegmentLength: the most Portico puts in one PDU, whatever the initiator declares (LIO caps it too). */
  private xmitCap = Infinity;

  /**
   * Answers keys (excluding security keys, which the login's auth step handles).
   * `keys` must already be free of duplicates within the PDU (text.ts checks that).
   */
  respond(keys: TextPairs, ctx: NegotiationContext): NegotiationResult {
    const responses: TextPairs = [];
    for (const [key, value] of keys) {
      if (ctx.phase === "login") {
        if (this.seen.has(key)) return { responses, error: `key ${key} negotiated twice` };
        this.seen.add(key);
      }
      const def = KEY_DEFS.get(key);
      if (!def) {
        // Unknown and vendor (X-, X#) keys: NotUnderstood (RFC 7143 §6.2); never an error.
        responses.push([key, "NotUnderstood"]);
        continue;
      }
      if (def.security) {
        responses.push([key, "Irrelevant"]);
        continue;
      }
      if (value === "NotUnderstood" || value === "Irrelevant" || value === "Reject") {
        // The initiator answers something we never proposed: nothing to do.
        continue;
      }
      if (ctx.phase === "ffp" && def.loginOnly) {
        responses.push([key, "Reject"]);
        continue;
      }
      if (ctx.discovery && def.irrelevantInDiscovery) {
        responses.push([key, "Irrelevant"]);
        continue;
      }
      if (def.sender === "target") {
        responses.push([key, "Irrelevant"]);
        continue;
      }
      const answer = this.negotiateOne(key, value, def, ctx);
      if (answer !== undefined) responses.push([key, answer]);
    }
    return { responses };
  }

  private negotiateOne(key: string, value: string, def: KeyDef, ctx: NegotiationContext): string | undefined {
    const ours = ctx.target[key] ?? def.rfcDefault ?? "";
    switch (def.kind) {
      case "list": {
        const pick = firstSupported(value, ours, def.values);
        if (pick === undefined) return "Reject";
        this.values.set(key, pick);
        return pick;
      }
      case "min":
      case "max": {
        const n = parseNumber(value);
        const [lo, hi] = def.range!;
        if (n === undefined || n < lo || n > hi) return "Reject";
        const mine = parseNumber(ours) ?? n;
        const result = def.kind === "min" ? Math.min(n, mine) : Math.max(n, mine);
        this.values.set(key, String(result));
        return String(result);
      }
      case "and":
      case "or": {
        if (value !== "Yes" && value !== "No") return "Reject";
        const mine = ours === "Yes";
        const result = def.kind === "and" ? value === "Yes" && mine : value === "Yes" || mine;
        const s = result ? "Yes" : "No";
        this.values.set(key, s);
        return s;
      }
      case "number-declarative": {
        const n = parseNumber(value);
        const [lo, hi] = def.range!;
        if (n === undefined || n < lo || n > hi) return "Reject";
        this.declared.set(key, String(n));
        this.xmitCap = parseNumber(ctx.target.MaxXmitDataSegmentLength ?? "") ?? Infinity;
        // Answer with our own declaration once (the initiator learns what it may send us).
        if (this.ourMrdslDeclared) return undefined;
        this.ourMrdslDeclared = true;
        this.values.set(key, ours);
        return ours;
      }
      case "reject":
        return "Reject";
      case "declarative":
        if (def.values && !def.values.includes(value)) return "Reject";
        this.declared.set(key, value);
        return undefined;
    }
  }

  /** Resolves the values in force: negotiated, or the RFC default (RFC 7143 §13), plus integrity rules. */
  params(): SessionParams {
    const maxBurstLength = this.num("MaxBurstLength");
    return {
      headerDigest: this.get("HeaderDigest") === "CRC32C",
      dataDigest: this.get("DataDigest") === "CRC32C",
      maxConnections: this.num("MaxConnections"),
      initialR2T: this.get("InitialR2T") === "Yes",
      immediateData: this.get("ImmediateData") === "Yes",
      maxRecvDataSegmentLength: this.num("MaxRecvDataSegmentLength"),
      maxXmitDataSegmentLength: this.xmitLength(),
      maxBurstLength,
      // RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength.
      firstBurstLength: Math.min(this.num("FirstBurstLength"), maxBurstLength),
      defaultTime2Wait: this.num("DefaultTime2Wait"),
      defaultTime2Retain: this.num("DefaultTime2Retain"),
      maxOutstandingR2T: this.num("MaxOutstandingR2T"),
      dataPduInOrder: this.get("DataPDUInOrder") === "Yes",
      dataSequenceInOrder: this.get("DataSequenceInOrder") === "Yes",
      errorRecoveryLevel: this.num("ErrorRecoveryLevel"),
    };
  }

  /** A key's value in force: negotiated, or its RFC 7143 default. */
  private get(key: string): string {
    return this.values.get(key) ?? KEY_DEFS.get(key)!.rfcDefault!;
  }

  private num(key: string): number {
    return parseNumber(this.get(key)) ?? 0;
  }

  /** What Portico may send per PDU: the initiator's declared MaxRecvDataSegmentLength, at most the TPG's MaxXmitDataSegmentLength. */
  xmitLength(): number {
    const declared = parseNumber(this.declared.get("MaxRecvDataSegmentLength") ?? "8192") ?? 8192;
    return Math.min(declared, this.xmitCap);
  }

  /** key=value strings of the parameters in force (SessionInfo.parameters). */
  report(): Record<string, string> {
    const p = this.params();
    const out: Record<string, string> = {};
    for (const k of OPERATIONAL_KEYS) out[k] = this.get(k);
    out.MaxRecvDataSegmentLength = String(p.maxRecvDataSegmentLength);
    out.MaxXmitDataSegmentLength = String(p.maxXmitDataSegmentLength);
    out.FirstBurstLength = String(p.firstBurstLength);
    return out;
  }
}

/**
 * A list key's answer (RFC 7143 §6.2.1): the first of the initiator's values (comma-separated,
 * in its order of preference) that the target's value list also has and, when the key defines
 * its legal values, is one of them; undefined when none is. No arrays or closures: a login
 * answers HeaderDigest and DataDigest this way.
 */
function firstSupported(offered: string, ours: string, legal: readonly string[] | undefined): string | undefined {
  let start = 0;
  while (start <= offered.length) {
    let end = offered.indexOf(",", start);
    if (end < 0) end = offered.length;
    const v = offered.slice(start, end);
    if (inList(ours, v) && (!legal || legal.includes(v))) return v;
    start = end + 1;
  }
  return undefined;
}

/** Is `v` one of the comma-separated values of `list` (an exact match, as split(",").includes)? */
function inList(list: string, v: string): boolean {
  if (v.length === 0) return list === "" || list.startsWith(",") || list.endsWith(",") || list.includes(",,");
  let from = 0;
  for (;;) {
    const i = list.indexOf(v, from);
    if (i < 0) return false;
    const end = i + v.length;
    if ((i === 0 || list.charCodeAt(i - 1) === 0x2c) && (end === list.length || list.charCodeAt(end) === 0x2c)) return true;
    from = i + 1;
  }
}

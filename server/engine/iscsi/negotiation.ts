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

/** RFC 7143 §11.12.5: numbers are decimal or 0x-prefixed hex. */
export function parseNumber(v: string): number | undefined {
  if (/^[0-9]{1,10}$/.test(v)) return Number(v);
  if (/^0[xX][0-9a-fA-F]{1,8}$/.test(v)) return parseInt(v.slice(2), 16);
  return undefined;
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
      const def = KEY_TABLE[key];
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
        const offered = value.split(",");
        const supported = ours.split(",");
        const pick = offered.find((v) => supported.includes(v) && (!def.values || def.values.includes(v)));
        if (!pick) return "Reject";
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
    const get = (k: string) => this.values.get(k) ?? KEY_TABLE[k].rfcDefault!;
    const num = (k: string) => parseNumber(get(k)) ?? 0;
    const maxBurstLength = num("MaxBurstLength");
    return {
      headerDigest: get("HeaderDigest") === "CRC32C",
      dataDigest: get("DataDigest") === "CRC32C",
      maxConnections: num("MaxConnections"),
      initialR2T: get("InitialR2T") === "Yes",
      immediateData: get("ImmediateData") === "Yes",
      maxRecvDataSegmentLength: num("MaxRecvDataSegmentLength"),
      maxXmitDataSegmentLength: this.xmitLength(),
      maxBurstLength,
      // RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength.
      firstBurstLength: Math.min(num("FirstBurstLength"), maxBurstLength),
      defaultTime2Wait: num("DefaultTime2Wait"),
      defaultTime2Retain: num("DefaultTime2Retain"),
      maxOutstandingR2T: num("MaxOutstandingR2T"),
      dataPduInOrder: get("DataPDUInOrder") === "Yes",
      dataSequenceInOrder: get("DataSequenceInOrder") === "Yes",
      errorRecoveryLevel: num("ErrorRecoveryLevel"),
    };
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
    for (const k of OPERATIONAL_KEYS) out[k] = this.values.get(k) ?? KEY_TABLE[k].rfcDefault!;
    out.MaxRecvDataSegmentLength = String(p.maxRecvDataSegmentLength);
    out.MaxXmitDataSegmentLength = String(p.maxXmitDataSegmentLength);
    out.FirstBurstLength = String(p.firstBurstLength);
    return out;
  }
}

/**
 * The login phase of one connection (RFC 7143 §6.3, §11.12–11.13), as a state
 * machine fed one Login Request at a time. It reads top to bottom:
 *
 *   checkRequest → gather continuation (C bit) → decode keys → identify (first PDU)
 *   → security stage (AuthMethod, CHAP) → operational stage (negotiation) → transit.
 *
 * Pure apart from the lookups in `LoginEnv`: no sockets, no timers. The fabric turns
 * a "complete" outcome into a session (TSIH, reinstatement) and writes the response.
 */
import { iscsiNameProblem } from "../core/names";
import type { ChapCredentials, Tpg } from "../core/model";
import type { LoginRequestHeader } from "./pdu";
import { Negotiation, type SessionParams } from "./negotiation";
import { decodeText, type TextPairs } from "./text";

/** Login status (class << 8 | detail), RFC 7143 §11.13.5. */
export const LoginStatus = {
  SUCCESS: 0x0000,
  TARGET_MOVED_TEMP: 0x0101,
  INITIATOR_ERROR: 0x0200,
  AUTH_FAILURE: 0x0201,
  AUTHORIZATION_FAILURE: 0x0202,
  NOT_FOUND: 0x0203,
  TARGET_REMOVED: 0x0204,
  UNSUPPORTED_VERSION: 0x0205,
  TOO_MANY_CONNECTIONS: 0x0206,
  MISSING_PARAMETER: 0x0207,
  CANT_INCLUDE_IN_SESSION: 0x0208,
  SESSION_TYPE_NOT_SUPPORTED: 0x0209,
  SESSION_DOES_NOT_EXIST: 0x020a,
  INVALID_DURING_LOGIN: 0x020b,
  TARGET_ERROR: 0x0300,
  SERVICE_UNAVAILABLE: 0x0301,
  OUT_OF_RESOURCES: 0x0302,
} as const;

export const Stage = { SECURITY: 0, OPERATIONAL: 1, FULL_FEATURE: 3 } as const;

/** Why the login machine refused a login, in words for the log and events (core/stats.ts LoginFailureReason is the metrics label derived from the status). */
export type LoginRefusalReason =
  | "unknown target"
  | "unknown initiator"
  | "ACL denied"
  | "network not allowed"
  | "bad secret"
  | "authentication required"
  | "TPG disabled"
  | "missing parameter"
  | "invalid initiator name"
  | "protocol error"
  | "session does not exist"
  | "too many connections"
  | "login timeout"
  | "too many failures";

export interface LoginFailure {
  status: number;
  reason: LoginRefusalReason;
  /** For the log; never contains a secret. */
  message: string;
}

/** A CHAP (or other) exchange run by the security stage. */
export interface AuthExchange {
  /** Handles the security keys (minus AuthMethod) of one Login Request. */
  step(keys: Map<string, string>): { keys: TextPairs; done: boolean; failure?: LoginFailure };
}

export interface LoginEnv {
  /** portalKey of the listener that accepted the connection. */
  listenerKey: string;
  /** The initiator's address (for the TPG's allowed networks). */
  remoteAddress?: string;
  findTpg(targetName: string): Tpg | undefined;
  /** Discovery sessions: is CHAP required, and with which credentials. */
  discoveryAuth(): { required: boolean; credentials?: ChapCredentials };
  /** Starts a CHAP exchange with these credentials (phase 2: chap.ts). */
  startChap?(credentials: ChapCredentials, initiatorName: string): AuthExchange;
}

export interface LoginReply {
  transit: boolean;
  csg: number;
  nsg: number;
  keys: TextPairs;
  outcome: "continue" | "complete" | "fail";
  failure?: LoginFailure;
}

/** Largest login text we gather across C-bit continuations. */
const MAX_LOGIN_TEXT = 64 * 1024;

export class LoginMachine {
  /** Stage the target is in; -1 before the first PDU (which may start at CSG 0 or 1). */
  stage = -1;
  first: LoginRequestHeader | undefined;
  initiatorName = "";
  initiatorAlias: string | undefined;
  targetName: string | undefined;
  sessionType: "Normal" | "Discovery" = "Normal";
  tpg: Tpg | undefined;
  /** The TPG the login asked for, also when it then refused the login (no ACL, network): for the event log. */
  requestedTpg: Tpg | undefined;
  authMethod: "None" | "CHAP" | undefined;
  authenticated = false;
  readonly negotiation = new Negotiation();
  private auth: AuthExchange | undefined;
  private pending: Buffer[] = [];
  private pendingLength = 0;

  constructor(private readonly env: LoginEnv) {}

  /** Handles one Login Request and says what to answer. */
  handle(h: LoginRequestHeader, data: Buffer): LoginReply {
    const bad = this.checkRequest(h);
    if (bad) return this.fail(h, bad);

    // C bit: the text continues in the next PDU; answer with an empty response (RFC 7143 §11.12.3).
    if (h.cont) {
      if (this.pendingLength + data.length > MAX_LOGIN_TEXT) return this.fail(h, protocolError("login text too long"));
      this.pending.push(Buffer.from(data));
      this.pendingLength += data.length;
      return { transit: false, csg: h.csg, nsg: 0, keys: [], outcome: "continue" };
    }
    const text = this.pending.length ? Buffer.concat([...this.pending, data]) : data;
    this.pending = [];
    this.pendingLength = 0;
    const decoded = decodeText(text);
    if (!decoded.ok) return this.fail(h, protocolError(decoded.error));
    const keys = decoded.pairs;

    const out: TextPairs = [];
    if (!this.first) {
      this.first = h;
      const refused = this.identify(keys);
      if (refused) return this.fail(h, refused);
      if (this.tpg) {
        // RFC 7143 §13.9: the first response of a Normal session carries TargetPortalGroupTag.
        out.push(["TargetPortalGroupTag", String(this.tpg.tag)]);
        const alias = this.tpg.parameters.TargetAlias;
        if (alias) out.push(["TargetAlias", alias]);
      }
      this.stage = h.csg;
    }

    // One pass: security keys for the auth step, the rest (less the identity keys) for negotiation.
    const security: TextPairs = [];
    const operational: TextPairs = [];
    for (const pair of keys) {
      const k = pair[0];
      if (k === "AuthMethod" || k.startsWith("CHAP_")) security.push(pair);
      else if (!IDENTITY_KEYS.has(k)) operational.push(pair);
    }

    if (this.stage === Stage.SECURITY) {
      const r = this.securityStep(new Map(security));
      if (r.failure) return this.fail(h, r.failure);
      out.push(...r.keys);
    } else {
      if (security.length) return this.fail(h, protocolError("security keys outside the security stage"));
      // Skipping the security stage is only allowed when no authentication is required.
      if (!this.authenticated) {
        if (this.authRequired()) return this.fail(h, authRequired(this.initiatorName));
        this.authenticated = true;
        this.authMethod = "None";
      }
    }

    const neg = this.negotiation.respond(operational, {
      phase: "login",
      discovery: this.sessionType === "Discovery",
      target: this.tpg?.parameters ?? {},
    });
    if (neg.error) return this.fail(h, protocolError(neg.error));
    out.push(...neg.responses);

    // Transit only when asked, and only out of security once authenticated (RFC 7143 §11.13.1).
    if (h.transit && (this.stage !== Stage.SECURITY || this.authenticated)) {
      this.stage = h.nsg;
      if (h.nsg === Stage.FULL_FEATURE) {
        return { transit: true, csg: h.csg, nsg: h.nsg, keys: out, outcome: "complete" };
      }
      return { transit: true, csg: h.csg, nsg: h.nsg, keys: out, outcome: "continue" };
    }
    return { transit: false, csg: h.csg, nsg: 0, keys: out, outcome: "continue" };
  }

  /** The values the session runs with once login completes. */
  params(): SessionParams {
    return this.negotiation.params();
  }

  // ---- steps ---------------------------------------------------------------------------

  /** Header rules of RFC 7143 §11.12 (checked on every Login Request). */
  private checkRequest(h: LoginRequestHeader): LoginFailure | undefined {
    if (h.versionMin > 0) return { status: LoginStatus.UNSUPPORTED_VERSION, reason: "protocol error", message: `Version-min ${h.versionMin} is not supported` };
    if (h.transit && h.cont) return protocolError("T and C both set");
    if (h.csg === 2 || h.csg === 3) return protocolError(`CSG ${h.csg} is not a login stage`);
    if (h.transit && (h.nsg === 2 || h.nsg <= h.csg)) return protocolError(`NSG ${h.nsg} does not follow CSG ${h.csg}`);
    if (this.first) {
      if (h.csg !== this.stage) return protocolError(`CSG ${h.csg} while the target is in stage ${this.stage}`);
      if (h.isid !== this.first.isid || h.tsih !== this.first.tsih || h.cid !== this.first.cid) {
        return protocolError("ISID, TSIH or CID changed during login");
      }
    }
    return undefined;
  }

  /**
   * First PDU: who is logging in, to what (RFC 7143 §6.3: InitiatorName always, TargetName for Normal).
   * The four identity keys are looked up in the decoded pairs (keyValue), not through a Map of every key:
   * a Map per login was 1.7 KB of the login's heap for four lookups.
   */
  private identify(keys: TextPairs): LoginFailure | undefined {
    const initiator = keyValue(keys, "InitiatorName");
    if (!initiator) return { status: LoginStatus.MISSING_PARAMETER, reason: "missing parameter", message: "InitiatorName missing" };
    // Refused before the name reaches an ACL lookup, a log line or a database row (RFC 7143 §4.2.7:
    // an initiator error, status 0x0200, as for any malformed login request).
    const problem = validInitiatorNames.has(initiator) ? undefined : iscsiNameProblem(initiator, "login");
    if (problem === undefined) rememberValidName(initiator);
    if (problem) return { status: LoginStatus.INITIATOR_ERROR, reason: "invalid initiator name", message: `InitiatorName is not a valid iSCSI name: ${problem}` };
    this.initiatorName = initiator.toLowerCase();
    this.initiatorAlias = keyValue(keys, "InitiatorAlias");
    const type = keyValue(keys, "SessionType") ?? "Normal";
    if (type !== "Normal" && type !== "Discovery") {
      return { status: LoginStatus.SESSION_TYPE_NOT_SUPPORTED, reason: "protocol error", message: `SessionType ${type} is not supported` };
    }
    this.sessionType = type;
    if (type === "Discovery") return undefined;
    const target = keyValue(keys, "TargetName");
    if (!target) return { status: LoginStatus.MISSING_PARAMETER, reason: "missing parameter", message: "TargetName missing" };
    this.targetName = target.toLowerCase();
    const tpg = this.env.findTpg(this.targetName);
    this.requestedTpg = tpg;
    if (!tpg) return { status: LoginStatus.NOT_FOUND, reason: "unknown target", message: `no target ${this.targetName} on portal ${this.env.listenerKey}` };
    if (!tpg.enabled) return { status: LoginStatus.SERVICE_UNAVAILABLE, reason: "TPG disabled", message: `tpg${tpg.tag} of ${tpg.target.wwn} is disabled` };
    if (!tpg.admits(this.initiatorName)) {
      return { status: LoginStatus.AUTHORIZATION_FAILURE, reason: "ACL denied", message: `${this.initiatorName} has no node ACL on tpg${tpg.tag} of ${tpg.target.wwn}` };
    }
    // The address is asked for only when the TPG restricts it (reading it is a getpeername(2) before the answer).
    if (tpg.allowedNetworks.length > 0 && this.env.remoteAddress !== undefined && !tpg.admitsAddress(this.env.remoteAddress)) {
      return { status: LoginStatus.AUTHORIZATION_FAILURE, reason: "network not allowed", message: `${this.env.remoteAddress} is not in the allowed networks of tpg${tpg.tag} of ${tpg.target.wwn}` };
    }
    this.tpg = tpg;
    return undefined;
  }

  /** Is authentication required for this login (TPG attribute authentication, or discovery auth)? */
  private authRequired(): boolean {
    if (this.sessionType === "Discovery") return this.env.discoveryAuth().required;
    return this.tpg?.attributes.authentication === 1;
  }

  /** CHAP credentials that apply: the node ACL's, or the TPG's in demo mode (LIO). */
  private credentials(): ChapCredentials | undefined {
    if (this.sessionType === "Discovery") return this.env.discoveryAuth().credentials;
    const tpg = this.tpg!;
    const acl = tpg.aclFor(this.initiatorName);
    const c = acl ? acl.chap : tpg.demoMode ? tpg.chap : undefined;
    return c && c.userid && c.password ? c : undefined;
  }

  /** Security stage: choose AuthMethod, then run the exchange until it completes. */
  private securityStep(keys: Map<string, string>): { keys: TextPairs; failure?: LoginFailure } {
    const out: TextPairs = [];
    const offered = keys.get("AuthMethod");
    keys.delete("AuthMethod");
    if (this.authMethod === undefined) {
      const required = this.authRequired();
      const creds = this.credentials();
      const list = offered ? offered.split(",") : [];
      // With authentication=1 only CHAP is acceptable. Otherwise the target takes the first
      // method in the initiator's list that it supports (RFC 7143 §6.2.1: the list is in order of
      // preference): None, and CHAP when credentials apply. So an initiator that offers
      // "CHAP,None" (open-iscsi, libiscsi with a user) against an ACL with credentials does CHAP
      // and its response is verified, as LIO does; a wrong secret fails instead of falling back
      // to None.
      let choice: "None" | "CHAP" | undefined;
      if (required) choice = list.includes("CHAP") ? "CHAP" : undefined;
      else if (!offered) choice = "None";
      else choice = list.find((m): m is "None" | "CHAP" => m === "None" || (m === "CHAP" && creds !== undefined));
      if (!choice) {
        return {
          keys: [["AuthMethod", "Reject"]],
          failure: required ? authRequired(this.initiatorName) : { status: LoginStatus.AUTH_FAILURE, reason: "protocol error", message: `AuthMethod ${offered} not acceptable` },
        };
      }
      if (choice === "CHAP") {
        if (!creds) return { keys: [], failure: { status: LoginStatus.AUTH_FAILURE, reason: "unknown initiator", message: `no CHAP credentials for ${this.initiatorName}` } };
        if (!this.env.startChap) return { keys: [], failure: { status: LoginStatus.AUTH_FAILURE, reason: "authentication required", message: "CHAP is not available" } };
        this.auth = this.env.startChap(creds, this.initiatorName);
      }
      this.authMethod = choice;
      if (offered) out.push(["AuthMethod", choice]);
      if (choice === "None") this.authenticated = true;
      // The first CHAP step (CHAP_A) may come in the same PDU as AuthMethod; if not, wait for it.
      if (choice === "CHAP" && keys.size === 0) return { keys: out };
    } else if (offered) {
      return { keys: out, failure: protocolError("AuthMethod negotiated twice") };
    }
    if (this.auth && !this.authenticated) {
      const r = this.auth.step(keys);
      out.push(...r.keys);
      if (r.failure) return { keys: out, failure: r.failure };
      if (r.done) this.authenticated = true;
    } else if (keys.size) {
      return { keys: out, failure: protocolError(`unexpected security keys ${[...keys.keys()].join(",")}`) };
    }
    return { keys: out };
  }

  private fail(h: LoginRequestHeader, failure: LoginFailure): LoginReply {
    return { transit: false, csg: h.csg, nsg: 0, keys: [], outcome: "fail", failure };
  }
}

/**
 * InitiatorNames that passed iscsiNameProblem: an initiator logs in again and again under one
 * name, so the check (a pass over every character) runs once per name, not once per login.
 * Bounded: when full it starts over.
 */
const validInitiatorNames = new Set<string>();
const MAX_REMEMBERED_NAMES = 4096;

function rememberValidName(name: string): void {
  if (validInitiatorNames.size >= MAX_REMEMBERED_NAMES) validInitiatorNames.clear();
  validInitiatorNames.add(name);
}

/** A key's value in decoded pairs (decodeText has refused duplicates), or undefined. */
function keyValue(pairs: TextPairs, key: string): string | undefined {
  for (let i = 0; i < pairs.length; i++) if (pairs[i][0] === key) return pairs[i][1];
  return undefined;
}

/** Declarative keys consumed by identify(); they need no answer. */
const IDENTITY_KEYS = new Set(["InitiatorName", "TargetName", "SessionType", "InitiatorAlias"]);

/**
 * Sequence numbers on a Login Request after the first (as FreeBSD ctld's login_receive):
 * Login Requests are immediate, so CmdSN stays the first request's (RFC 7143 §11.12.6), and
 * ExpStatSN must acknowledge the last Login Response, whose StatSN was `nextStatSN` - 1
 * (RFC 7143 §11.12.7). A mismatch is a protocol error, refused as an initiator error.
 */
export function loginSequenceProblem(h: Pick<LoginRequestHeader, "cmdSN" | "expStatSN">, first: Pick<LoginRequestHeader, "cmdSN">, nextStatSN: number): string | undefined {
  if (h.cmdSN !== first.cmdSN) return `Login Request with CmdSN ${h.cmdSN}, expected ${first.cmdSN}`;
  if (h.expStatSN !== nextStatSN) return `Login Request with ExpStatSN ${h.expStatSN}, expected ${nextStatSN}`;
  return undefined;
}

export function protocolError(message: string): LoginFailure {
  return { status: LoginStatus.INITIATOR_ERROR, reason: "protocol error", message };
}

function authRequired(initiator: string): LoginFailure {
  return { status: LoginStatus.AUTH_FAILURE, reason: "authentication required", message: `${initiator} must authenticate with CHAP` };
}

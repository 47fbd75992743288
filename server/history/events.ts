/**
 * The event log's front door for the rest of the server: `recordEvent()` appends an
 * event (a configuration change and who made it, a disconnect...) to history.db.
 * Before the monitor starts (unit tests, the CLI) it does nothing.
 *
 * Two logs: the audit log (AUDIT_TYPES: what administrators did, and sign-ins) and the
 * activity log (everything initiators and the engine cause). They have separate tables and
 * retention, so that no flood of refused iSCSI logins can push the audit trail out.
 */
import { describeChange, type ObjectChange } from "../config/diff";
import { processSlot } from "../process-slot";


/** Event types that belong to the audit log (table audit_events). */
export const AUDIT_TYPES: ReadonlySet<string> = new Set([
  "config", // a configuration change: the procedure, the objects it changed (before → after)
  "signin", // a console sign-in
  "signin_failed", // a refused console sign-in (aggregated per user, reason and address per minute)
  "signout",
  "password_changed",
  "onboarding", // the first administrator created
  "appliance_start",
  "appliance_stop",
]);

/** Event types stored aggregated: one row per initiator/user, reason and source per minute, with a count. */
export const AGGREGATED_TYPES: ReadonlySet<string> = new Set(["login_failed", "signin_failed"]);

export interface EventInput {
  /** Wall-clock ms (default now). */
  at?: number;
  /** login | logout | login_failed | reset | unit_attention | config | ... */
  type: string;
  targetName?: string;
  tpgTag?: number;
  initiatorName?: string;
  sessionId?: string;
  remote?: string;
  lun?: number;
  /** Who did it: the console user name, "cli", "console". */
  actor?: string;
  reason?: string;
  message?: string;
  detail?: Record<string, unknown>;
  /** How many occurrences this event stands for (aggregated events; default 1). */
  count?: number;
}

const eventSink = processSlot<(e: EventInput) => void>("portico.eventSink");

/** Set by the monitor (server/history/monitor.ts). */
export function setEventSink(sink: ((e: EventInput) => void) | undefined): void {
  eventSink.set(sink);
}

/** Appends an event; never throws. */
export function recordEvent(e: EventInput): void {
  try {
    eventSink.get()?.(e);
  } catch {
    // the event log must never break what it observes
  }
}

/** Who made an audited change and from where, beyond the actor's name. */
export interface AuditOrigin {
  /** The client address ("127.0.0.1"), or "local" for a command run on this machine without the API. */
  remote?: string;
  /** How: "console", "cli" (the portico command through the running appliance), "cli-offline" (on a stopped appliance's data directory). */
  via?: string;
  /** For the CLI: the operating-system user who ran it. */
  osUser?: string;
  userAgent?: string;
}

/** At most this many changed objects are stored per event (an import of a large file lists the first ones and the total). */
const MAX_CHANGES = 100;

/**
 * An administrative action ran (a tRPC mutation, a CLI command): `path` is the procedure
 * ("targets.create") or the command, `input` its input (secrets are removed here), `ok` whether it
 * succeeded, `changes` what it changed in the configuration (before → after, secrets masked:
 * server/config/diff.ts), `origin` who and from where.
 */
export function recordConfigChange(path: string, actor: string, ok: boolean, input?: unknown, error?: string, changes: ObjectChange[] = [], origin: AuditOrigin = {}): void {
  if (path.startsWith("auth.")) return; // sign-ins are recorded by the auth router (signin, signin_failed, signout), never with passwords
  const kept = changes.slice(0, MAX_CHANGES);
  // The target it changed, when it changed one (the Events page's target filter finds it).
  const targets = new Set(changes.map((c) => /^\/iscsi\/(iqn\.[^/]+|eui\.[^/]+|naa\.[^/]+)/.exec(c.object)?.[1]));
  const targetName = targets.size === 1 ? [...targets][0] : undefined;
  recordEvent({
    type: "config",
    actor,
    remote: origin.remote,
    targetName,
    reason: path,
    message: ok ? summarize(changes) : (error ?? "failed"),
    detail: {
      ok,
      input: redact(input),
      ...(changes.length ? { changes: kept, ...(changes.length > kept.length ? { moreChanges: changes.length - kept.length } : {}) } : {}),
      ...(origin.via ? { via: origin.via } : {}),
      ...(origin.osUser ? { osUser: origin.osUser } : {}),
      ...(origin.userAgent ? { userAgent: origin.userAgent.slice(0, 200) } : {}),
    },
  });
}

/** The event's one-line message: the first change, and how many more. */
function summarize(changes: ObjectChange[]): string | undefined {
  if (!changes.length) return undefined;
  const first = describeChange(changes[0]);
  const line = first.length > 300 ? `${first.slice(0, 299)}…` : first;
  return changes.length > 1 ? `${line} (and ${changes.length - 1} more)` : line;
}

const SECRET = /password|secret|token/i;

/** Input without secrets (CHAP passwords, tokens), and bounded in size. */
export function redact(v: unknown, depth = 0): unknown {
  if (v === null || v === undefined || typeof v === "number" || typeof v === "boolean") return v;
  // A long string is a document (e.g. an imported saveconfig.json) that may carry CHAP secrets
  // anywhere in it, so only its size is logged; so is any string that mentions a secret.
  if (typeof v === "string") return v.length > 200 || /passw|secret|chap_/i.test(v) ? `‹${v.length} characters, not logged›` : v;
  if (depth > 4) return "…";
  if (Array.isArray(v)) return v.slice(0, 20).map((x) => redact(x, depth + 1));
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>).slice(0, 40)) out[k] = SECRET.test(k) ? "••••" : redact(x, depth + 1);
    return out;
  }
  return String(v);
}

/**
 * What a unit attention's ASC/ASCQ means (SPC-4 Annex D), for the event log: the ones
 * LIO and this engine raise, named as in the standard's table.
 */
const ASC_MEANINGS: Record<string, string> = {
  "29/00": "power on, reset, or bus device reset occurred",
  "29/01": "power on occurred",
  "29/02": "SCSI bus reset occurred",
  "29/03": "bus device reset function occurred",
  "29/04": "device internal reset",
  "29/07": "I_T nexus loss occurred",
  "2a/01": "mode parameters changed",
  "2a/02": "log parameters changed",
  "2a/03": "reservations preempted",
  "2a/04": "reservations released",
  "2a/05": "registrations preempted",
  "2a/06": "asymmetric access state changed",
  "2a/09": "capacity data has changed",
  "2a/10": "timestamp changed",
  "2f/00": "commands cleared by another initiator",
  "2f/01": "commands cleared by power loss notification",
  "2f/02": "commands cleared by device server",
  "38/07": "thin provisioning soft threshold reached",
  "3f/01": "microcode has been changed",
  "3f/03": "inquiry data has changed",
  "3f/0e": "reported LUNs data has changed",
};

export function ascMeaning(asc: unknown, ascq: unknown): string | undefined {
  if (typeof asc !== "number" || typeof ascq !== "number") return undefined;
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return ASC_MEANINGS[`${hex(asc)}/${hex(ascq)}`];
}

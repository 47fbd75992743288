/**
 * The alert rules as pure functions: facts about the appliance (gathered by
 * server/alerts/facts.ts) and the settings in, the alerts that hold now out.
 * An alert is identified by rule and object, so the service can tell when one
 * starts firing and when it resolves.
 */
import type { AlertRule, AlertSettings } from "./schemas";

export interface StorageFact {
  /** `<plugin>/<name>` */
  key: string;
  plugin: string;
  name: string;
  dev?: string;
  sizeBytes: number;
  /** Why the storage cannot serve IO, if it cannot (file deleted, device gone, failed to restore). */
  offline?: string;
  /** fileio: the filesystem that holds the file. */
  fs?: { freeBytes: number; totalBytes: number };
  /** fileio: bytes the file really occupies (less than its size when sparse). */
  allocatedBytes?: number;
}

export interface PortalFact {
  wwn: string;
  tag: number;
  key: string;
  listening: boolean;
  /** Why it is not listening (a restore warning), if known. */
  reason?: string;
}

export interface LoginFailureFact {
  initiator: string;
  target: string;
  count: number;
  lastReason?: string;
  lastRemote?: string;
}

export interface LatencyFact {
  /** LUN key (`<target>/<tpg>/<lun>`) */
  key: string;
  storageObject: string;
  /** Mean of the per-second p99 over the seconds with IO in the last minute, in µs. */
  p99Us: number;
  secondsWithIo: number;
}

export interface AlertFacts {
  storage: StorageFact[];
  portals: PortalFact[];
  loginFailures: LoginFailureFact[];
  latency: LatencyFact[];
}

export interface Alert {
  /** `<rule>:<object>`: the same alert across evaluations. */
  id: string;
  rule: AlertRule;
  severity: "critical" | "warning";
  object: string;
  summary: string;
  description: string;
}

/** Seconds with IO a LUN needs in the last minute before its latency can fire (one slow command is not a trend). */
export const LATENCY_MIN_SECONDS = 5;

const pct = (n: number) => `${Math.round(n * 10) / 10} %`;
const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 10 * 2 ** 30 ? 2 : 1)} GiB`;

export function evaluateRules(facts: AlertFacts, settings: AlertSettings): Alert[] {
  const r = settings.rules;
  const out: Alert[] = [];
  const add = (a: Omit<Alert, "id">) => out.push({ ...a, id: `${a.rule}:${a.object}` });

  if (r.storage_offline.enabled) {
    for (const s of facts.storage) {
      if (!s.offline) continue;
      add({
        rule: "storage_offline",
        severity: "critical",
        object: `/backstores/${s.key}`,
        summary: `Storage ${s.key} is offline`,
        description: `${s.offline.charAt(0).toUpperCase()}${s.offline.slice(1)}${s.dev ? ` (${s.dev})` : ""}. Initiators using its LUNs get errors or stale data.`,
      });
    }
  }

  if (r.storage_full.enabled) {
    for (const s of facts.storage) {
      if (s.offline || !s.fs || s.fs.totalBytes <= 0) continue;
      const freePct = (100 * s.fs.freeBytes) / s.fs.totalBytes;
      const sparse = s.allocatedBytes !== undefined && s.allocatedBytes < s.sizeBytes;
      // A thin file can still grow by (size - allocated); it is at risk when the filesystem cannot hold that growth.
      const growth = sparse ? s.sizeBytes - (s.allocatedBytes ?? 0) : 0;
      if (freePct < r.storage_full.freePercent || (sparse && growth > s.fs.freeBytes)) {
        add({
          rule: "storage_full",
          severity: freePct < 2 ? "critical" : "warning",
          object: `/backstores/${s.key}`,
          summary: `Filesystem of ${s.key} is nearly full`,
          description:
            `${gib(s.fs.freeBytes)} free of ${gib(s.fs.totalBytes)} (${pct(freePct)}) on the filesystem of ${s.dev ?? s.key}` +
            (sparse && growth > s.fs.freeBytes ? `; the thin file can still grow by ${gib(growth)}, more than is free: writes will fail with a space allocation error` : ""),
        });
      }
      if (sparse && s.sizeBytes > 0) {
        const usedPct = (100 * (s.allocatedBytes ?? 0)) / s.sizeBytes;
        if (usedPct >= r.storage_full.thinUsedPercent) {
          add({
            rule: "storage_full",
            severity: "warning",
            object: `/backstores/${s.key}#thin`,
            summary: `Thin LUN ${s.key} is ${pct(usedPct)} allocated`,
            description: `${gib(s.allocatedBytes ?? 0)} of ${gib(s.sizeBytes)} written; at ${r.storage_full.thinUsedPercent} % the initiator's filesystem is nearly full (or it never UNMAPs).`,
          });
        }
      }
    }
  }

  if (r.portal_down.enabled) {
    for (const p of facts.portals) {
      if (p.listening) continue;
      add({
        rule: "portal_down",
        severity: "critical",
        object: `/iscsi/${p.wwn}/tpg${p.tag}/portals/${p.key}`,
        summary: `Portal ${p.key} of ${p.wwn} is not listening`,
        description: p.reason ? `It failed to open: ${p.reason}.` : "It is configured but the appliance could not open it (address gone, port taken, or the TPG is disabled).",
      });
    }
  }

  if (r.login_failures.enabled) {
    for (const f of facts.loginFailures) {
      if (f.count < r.login_failures.count) continue;
      add({
        rule: "login_failures",
        severity: "warning",
        object: `${f.initiator || "(no initiator name)"} → ${f.target || "(discovery)"}`,
        summary: `${f.count} login failures from ${f.initiator || "an unnamed initiator"} in ${r.login_failures.windowMinutes} min`,
        description: `Refused logins to ${f.target || "discovery"}${f.lastRemote ? ` from ${f.lastRemote}` : ""}${f.lastReason ? `; last reason: ${f.lastReason}` : ""}.`,
      });
    }
  }

  if (r.high_latency.enabled) {
    for (const l of facts.latency) {
      if (l.secondsWithIo < LATENCY_MIN_SECONDS || l.p99Us < r.high_latency.p99Ms * 1000) continue;
      add({
        rule: "high_latency",
        severity: "warning",
        object: `lun ${l.key}`,
        summary: `High latency on LUN ${l.key} (${l.storageObject})`,
        description: `p99 ${(l.p99Us / 1000).toFixed(1)} ms over the last minute (threshold ${r.high_latency.p99Ms} ms, ${l.secondsWithIo} s with IO).`,
      });
    }
  }
  return out;
}

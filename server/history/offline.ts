/**
 * The audit log when the appliance is stopped: the CLI changes the data directory's configuration
 * itself (server/cli.ts), so it appends the audit events to history.db itself, as the monitor would
 * (same tables, one id sequence for both logs).
 */
import { openHistory } from "./db";
import { AUDIT_TYPES, recordConfigChange, setEventSink, type AuditOrigin, type EventInput } from "./events";
import { runAudited } from "./audit";

/** Appends events to `<dataDir>/history.db`; a failure is reported on stderr, never thrown. */
export function recordOffline(dataDir: string, list: EventInput[]): void {
  if (!list.length) return;
  let h: ReturnType<typeof openHistory> | undefined;
  try {
    h = openHistory(dataDir);
    const s = h.sqlite;
    const max = s.prepare("SELECT max(coalesce((SELECT max(id) FROM events), 0), coalesce((SELECT max(id) FROM audit_events), 0)) AS n").get() as { n: number };
    let id = max.n + 1;
    const insert = (table: string) =>
      s.prepare(
        `INSERT INTO ${table} (id, at, type, target_name, tpg_tag, initiator_name, session_id, remote, lun, actor, reason, message, detail, count)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
    const audit = insert("audit_events");
    const activity = insert("events");
    s.transaction(() => {
      for (const e of list) {
        (AUDIT_TYPES.has(e.type) ? audit : activity).run(
          id++, e.at ?? Date.now(), e.type, e.targetName ?? null, e.tpgTag ?? null, e.initiatorName ?? null, e.sessionId ?? null, e.remote ?? null,
          e.lun ?? null, e.actor ?? null, e.reason ?? null, e.message ?? null, e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : null, e.count ?? 1,
        );
      }
    })();
  } catch (err) {
    process.stderr.write(`portico: could not write the audit log: ${(err as Error).message}\n`);
  } finally {
    h?.close();
  }
}

/**
 * Runs a configuration command on a stopped appliance's data directory and records it in the audit
 * log with what it changed: `path` names the command ("shell.run", "config.import"), `input` its input
 * (secrets are removed), `succeeded` says whether its result counts as success.
 */
export async function auditedOffline<T>(
  dataDir: string,
  path: string,
  actor: string,
  origin: AuditOrigin,
  input: unknown,
  fn: () => Promise<T>,
  succeeded: (r: T) => boolean = () => true,
): Promise<T> {
  const { scope, result, error } = await runAudited(fn);
  const captured: EventInput[] = [];
  setEventSink((e) => captured.push(e));
  try {
    const ok = error === undefined && succeeded(result as T);
    const failure = error !== undefined ? (error instanceof Error ? error.message : String(error)) : ok ? undefined : "failed";
    recordConfigChange(path, actor, ok, input, failure, scope.changes, origin);
  } finally {
    setEventSink(undefined);
  }
  recordOffline(dataDir, captured);
  if (error !== undefined) throw error;
  return result as T;
}

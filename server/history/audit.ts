/**
 * The audit scope of one administrative action (a tRPC mutation, a CLI command on a stopped
 * appliance): who acts, and the configuration changes the action made. ConfigService's
 * transactions add what they changed (server/config/diff.ts) to the scope they run in; the
 * caller that opened the scope records one audit event with them (events.ts recordConfigChange).
 *
 * AsyncLocalStorage carries the scope through the service's queue (its promise callbacks run in
 * the context of the call that queued them), so concurrent requests never mix their changes.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ObjectChange } from "../config/diff";

export interface AuditScope {
  /** What the configuration transactions of this action changed, in order. */
  changes: ObjectChange[];
  /** How many configuration transactions committed in this action. */
  transactions: number;
}

const storage = new AsyncLocalStorage<AuditScope>();

/** Runs `fn` in a new audit scope; the scope is returned with the result (or the error). */
export async function runAudited<T>(fn: () => Promise<T>): Promise<{ scope: AuditScope; result?: T; error?: unknown }> {
  const scope: AuditScope = { changes: [], transactions: 0 };
  try {
    return { scope, result: await storage.run(scope, fn) };
  } catch (error) {
    return { scope, error };
  }
}

/** The scope of the action running now, if any (ConfigService adds its changes to it). */
export function auditScope(): AuditScope | undefined {
  return storage.getStore();
}

/**
 * The process's own health, for `portico status`, the console and GET /metrics: whether
 * the iSCSI fabric loaded (and why not), and errors that escaped every handler. A failure
 * here must speak: an appliance that runs silently without iSCSI, or swallows an
 * exception, looks healthy while initiators cannot connect.
 */
import { recordEvent } from "./history/events";
import { processSlot } from "./process-slot";

export interface ProcessHealth {
  fabric: { loaded: boolean; error: string | null };
  /** Errors that reached process.on('uncaughtException' | 'unhandledRejection'). */
  uncaught: { exceptions: number; rejections: number; last: { at: number; message: string } | null };
}

const health = processSlot<ProcessHealth>("portico.health");

function fresh(): ProcessHealth {
  return { fabric: { loaded: true, error: null }, uncaught: { exceptions: 0, rejections: 0, last: null } };
}

export function processHealth(): ProcessHealth {
  let h = health.get();
  if (!h) health.set((h = fresh()));
  return h;
}

/** For tests: forget what was noted. */
export function resetProcessHealth(): void {
  health.set(fresh());
}

/** Noted while the engine is made, before the event log is open: logFabricFailure() records it once it is. */
export function noteFabricFailure(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  processHealth().fabric = { loaded: false, error: message };
  fabricStack = stackOf(err);
}
let fabricStack: string | undefined;

/** The fabric failure, if any, as a process_error event (call once the event log is open). */
export function logFabricFailure(): void {
  const f = processHealth().fabric;
  if (f.loaded) return;
  recordEvent({ type: "process_error", reason: "fabric_not_loaded", message: `the iSCSI fabric could not be loaded: ${f.error}`, detail: { stack: fabricStack } });
}

/** An error no handler caught: counted, and logged as an event with its stack. Never throws. */
export function noteUncaught(kind: "exception" | "rejection", err: unknown): void {
  const h = processHealth().uncaught;
  if (kind === "exception") h.exceptions++;
  else h.rejections++;
  const message = err instanceof Error ? err.message : String(err);
  h.last = { at: Date.now(), message };
  recordEvent({ type: "process_error", reason: kind === "exception" ? "uncaught_exception" : "unhandled_rejection", message, detail: { stack: stackOf(err) } });
}

function stackOf(err: unknown): string | undefined {
  return err instanceof Error && err.stack ? err.stack.split("\n").slice(0, 20).join("\n") : undefined;
}

/** The Prometheus families for GET /metrics. */
export function healthMetrics(h: ProcessHealth = processHealth()): string {
  return [
    "# HELP portico_iscsi_fabric_up 1 when the iSCSI fabric is loaded; 0 when the appliance runs without iSCSI.",
    "# TYPE portico_iscsi_fabric_up gauge",
    `portico_iscsi_fabric_up ${h.fabric.loaded ? 1 : 0}`,
    "# HELP portico_uncaught_errors_total Errors that escaped every handler (logged as process_error events).",
    "# TYPE portico_uncaught_errors_total counter",
    `portico_uncaught_errors_total{kind="exception"} ${h.uncaught.exceptions}`,
    `portico_uncaught_errors_total{kind="rejection"} ${h.uncaught.rejections}`,
    "",
  ].join("\n");
}

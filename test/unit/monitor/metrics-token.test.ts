/**
 * The /metrics token is kept hashed (issue 15 item 7): history.db holds `sha256:<hex>`, the
 * token itself still opens /metrics to another host, and the stored hash does not.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../../server/engine";
import { openHistory } from "../../../server/history/db";
import { hashMetricsToken, Monitor } from "../../../server/history/monitor";
import { monitorSettings } from "../../../server/history/schema";

let dir: string;
let monitor: Monitor;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "portico-metrics-token-"));
  monitor = new Monitor(createEngine(), openHistory(dir));
});
afterAll(() => {
  monitor.close();
  rmSync(dir, { recursive: true, force: true });
});

/** GET /metrics as a host on the LAN (192.0.2.7) would send it; the status code. */
function scrapeFromLan(authorization?: string): number {
  let status = 0;
  const req = { url: "/metrics", method: "GET", headers: { host: "192.0.2.10:3000", ...(authorization ? { authorization } : {}) }, socket: { remoteAddress: "192.0.2.7" } } as unknown as http.IncomingMessage;
  const res = {
    writeHead(code: number) {
      status = code;
      return this;
    },
    end() {
      return this;
    },
  } as unknown as http.ServerResponse;
  expect(monitor.handleHttp(req, res)).toBe(true);
  return status;
}

const stored = () => monitor.history.db.select().from(monitorSettings).all();

describe("the /metrics token", () => {
  it("is stored as its SHA-256 and still opens /metrics; the hash itself does not", () => {
    const token = "tok-" + "x".repeat(28);
    monitor.setMetricsToken(token);
    const rows = stored();
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows.find((r) => r.key === "metrics_token")?.value).toBe(hashMetricsToken(token));
    expect(hashMetricsToken(token)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(scrapeFromLan()).toBe(401);
    expect(scrapeFromLan(`Bearer ${token}x`)).toBe(401);
    expect(scrapeFromLan(`Bearer ${hashMetricsToken(token)}`)).toBe(401);
    expect(scrapeFromLan(`Bearer ${token}`)).toBe(200);
  });

  it("a token an older version stored in clear is hashed on first use and keeps working", () => {
    const db = monitor.history.db;
    db.update(monitorSettings).set({ value: "legacy-clear-token-123" }).run();
    expect(scrapeFromLan("Bearer legacy-clear-token-123")).toBe(200);
    expect(JSON.stringify(stored())).not.toContain("legacy-clear-token-123");
    expect(scrapeFromLan("Bearer legacy-clear-token-123")).toBe(200);
  });
});

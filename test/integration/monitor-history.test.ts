/**
 * History survives a restart: minute aggregates (the "minute" shortened to 2 s with
 * PORTICO_HISTORY_MINUTE_MS) and the event log are in history.db, and the 1 h range
 * reads them back after the appliance restarts.
 */
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemo } from "../support/demo";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, removeDir, startPortico, stopAndRemove, type PorticoProcess } from "../support/portico";
import { IQN, apiClient, connect, oneLun, read10, waitFor, write10 } from "./monitor-support";

const env = { PORTICO_HISTORY_MINUTE_MS: "2000" };
const LUN_KEY = `${IQN}|1|0`;
let dataDir: string;
let port: number;
let server: PorticoProcess | undefined;

beforeAll(async () => {
  dataDir = makeDataDir("portico-hist-");
  port = await freePort();
});

afterAll(() => stopAndRemove(server, dataDir));

describe("history", () => {
  it("keeps minute aggregates and events in history.db across a restart", async () => {
    server = await startDemo(dataDir, oneLun(port), { env });
    let api = apiClient(server.url, dataDir);
    expect(existsSync(path.join(dataDir, "history.db"))).toBe(true);

    const { client } = await connect(port, "iqn.2024-01.org.portico.test:history");
    const READS = 40;
    for (let i = 0; i < READS; i++) expect((await client.command(read10(i, 16), { lun: 0, readLength: 8192 })).status).toBe(0);
    for (let i = 0; i < 10; i++) expect((await client.command(write10(i, 1), { lun: 0, write: Buffer.alloc(512, 7) })).status).toBe(0);
    await client.logout();
    client.close();

    // Wait until the minutes holding that IO are stored (the sampler closes a "minute" every 2 s).
    const stored = await waitFor(async () => {
      const h = await api.monitor.history.query({ scope: "lun", key: LUN_KEY, range: "1h" });
      if (h.source !== "stored") return false;
      const reads = h.points.reduce((n, p) => n + p.readIops, 0);
      return reads > 0 && h.points.reduce((n, p) => n + p.writeIops, 0) > 0 ? h : false;
    }, 15_000, 500);
    expect(stored.bucketMs).toBe(60_000);
    const beforeRestart = await api.monitor.history.query({ scope: "appliance", key: "appliance", range: "24h" });
    expect(beforeRestart.source).toBe("stored");

    // The live 15-minute range comes from the sampler's rings.
    const live = await api.monitor.history.query({ scope: "lun", key: LUN_KEY, range: "15m" });
    expect(live.source).toBe("live");
    if (live.source === "live") expect(live.live!.t.length).toBeGreaterThan(0);

    await server.stop();
    server = await startPortico({ dataDir, env });
    await waitForPort(port);
    api = apiClient(server.url, dataDir);

    const after = await api.monitor.history.query({ scope: "lun", key: LUN_KEY, range: "1h" });
    expect(after.source).toBe("stored");
    if (after.source !== "stored" || stored.source !== "stored") return;
    const sum = (pts: typeof after.points, f: "readIops" | "writeIops") => pts.reduce((n, p) => n + p[f], 0);
    expect(sum(after.points, "readIops")).toBeGreaterThanOrEqual(sum(stored.points, "readIops") - 1e-9);
    expect(sum(after.points, "writeIops")).toBeGreaterThan(0);
    const events = await api.events.list.query({ initiator: "portico.test:history" });
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["login", "logout"]));
  });

  it("writes the minute in progress when the appliance is stopped (SIGTERM)", async () => {
    const dir = makeDataDir("portico-hist-term-");
    const p = await freePort();
    // The real 60 s minute: without the flush at shutdown, IO of the current minute is lost.
    const s = await startDemo(dir, oneLun(p));
    try {
      const { client } = await connect(p, "iqn.2024-01.org.portico.test:flush");
      const minute = Math.floor(Date.now() / 60_000) * 60_000;
      for (let i = 0; i < 20; i++) expect((await client.command(write10(i, 1), { lun: 0, write: Buffer.alloc(512, 9) })).status).toBe(0);
      await client.logout();
      client.close();
      await new Promise((r) => setTimeout(r, 1_200)); // at least one 1 s sample in this minute
      expect(await s.stop()).toBe(0);
      const db = new Database(path.join(dir, "history.db"), { readonly: true });
      try {
        const rows = db.prepare("SELECT minute, samples, write_commands AS w FROM minute_stats WHERE scope = 'lun' ORDER BY minute").all() as { minute: number; samples: number; w: number }[];
        expect(rows.reduce((n, r) => n + r.w, 0)).toBe(20);
        // Normally all in the minute of the IO, stored as a partial minute at SIGTERM (unless a minute ended meanwhile).
        const last = rows[rows.length - 1];
        expect(last.minute).toBeGreaterThanOrEqual(minute);
        expect(last.samples).toBeLessThan(60);
      } finally {
        db.close();
      }
    } finally {
      s.kill();
      removeDir(dir);
    }
  });
});

/**
 * Live monitoring against the real appliance: /metrics counts exactly the IO that was
 * done; the Sessions API lists a live session and forgets it within 5 s of the client
 * going away; "disconnect" sends Async Message AsyncEvent 1 and ends the session
 * (by the initiator's logout, or by a drop after the timeout); the event log records it.
 */
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsyncMessage, Opcode } from "../../server/engine/iscsi/pdu";
import { startDemo } from "../support/demo";
import { freePort } from "../support/ports";
import { makeDataDir, stopAndRemove, type PorticoProcess } from "../support/portico";
import { IQN, apiClient, connect, metric, oneLun, read10, scrape, waitFor, write10 } from "./monitor-support";

let dataDir: string;
let port: number;
let server: PorticoProcess;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  dataDir = makeDataDir("portico-mon-");
  port = await freePort();
  server = await startDemo(dataDir, oneLun(port));
  api = apiClient(server.url, dataDir);
});

afterAll(() => stopAndRemove(server, dataDir));

describe("GET /metrics", () => {
  it("counts exactly the reads and writes that were done, labelled by target, TPG, LUN and storage object", async () => {
    const lunLabels = { target: IQN, tpg: "1", lun: "0", storage_object: "mon0", backstore: "ramdisk" };
    const before = await scrape(server.url);
    // The LUN is there from configuration, before any IO.
    const r0 = metric(before, "portico_lun_read_commands_total", lunLabels) ?? -1;
    const w0 = metric(before, "portico_lun_write_commands_total", lunLabels) ?? -1;
    const rb0 = metric(before, "portico_lun_read_bytes_total", lunLabels) ?? -1;
    const wb0 = metric(before, "portico_lun_write_bytes_total", lunLabels) ?? -1;
    expect(r0).toBeGreaterThanOrEqual(0);

    const { client } = await connect(port, "iqn.2024-01.org.portico.test:metrics");
    const READS = 25;
    const WRITES = 7;
    for (let i = 0; i < READS; i++) {
      const r = await client.command(read10(i * 8, 8), { lun: 0, readLength: 4096 });
      expect(r.status).toBe(0);
      expect(r.data.length).toBe(4096);
    }
    for (let i = 0; i < WRITES; i++) {
      const r = await client.command(write10(i * 4, 4), { lun: 0, write: Buffer.alloc(2048, i) });
      expect(r.status).toBe(0);
    }

    const after = await scrape(server.url);
    expect(metric(after, "portico_lun_read_commands_total", lunLabels)! - r0).toBe(READS);
    expect(metric(after, "portico_lun_write_commands_total", lunLabels)! - w0).toBe(WRITES);
    expect(metric(after, "portico_lun_read_bytes_total", lunLabels)! - rb0).toBe(READS * 4096);
    expect(metric(after, "portico_lun_write_bytes_total", lunLabels)! - wb0).toBe(WRITES * 2048);
    expect(metric(after, "portico_lun_inflight_commands", lunLabels)).toBe(0);
    // The histogram's count agrees with the counter.
    expect(metric(after, "portico_lun_io_latency_seconds_count", { ...lunLabels, op: "read" })).toBe(metric(after, "portico_lun_read_commands_total", lunLabels));
    expect(metric(after, "portico_lun_io_latency_seconds_bucket", { ...lunLabels, op: "read", le: "+Inf" })).toBe(metric(after, "portico_lun_read_commands_total", lunLabels));
    expect(metric(after, "portico_sessions", { target: IQN, tpg: "1", session_type: "Normal" })).toBe(1);
    expect(metric(after, "portico_login_successes_total", { target: IQN, tpg: "1" })).toBeGreaterThanOrEqual(1);
    expect(metric(after, "portico_stats_enabled")).toBe(1);

    // The Sessions API shows it with its rates and totals.
    const sessions = await api.sessions.list.query();
    const mine = sessions.find((s) => s.initiatorName === "iqn.2024-01.org.portico.test:metrics");
    expect(mine).toBeDefined();
    expect(mine!.targetName).toBe(IQN);
    expect(mine!.tpgTag).toBe(1);
    expect(mine!.authenticated).toBe(false);
    expect(mine!.connections[0].remoteAddress).toContain("127.0.0.1");
    expect(mine!.totals.readCommands).toBe(READS);
    expect(mine!.totals.readBytes).toBe(READS * 4096);
    expect(mine!.parameters.MaxRecvDataSegmentLength).toBeDefined();

    await client.logout();
    client.close();
  });

  it("counts a refused login by reason", async () => {
    const { IscsiClient } = await import("../support/iscsi-client");
    const c = await IscsiClient.connect(port);
    const r = await c.login({ initiatorName: "iqn.2024-01.org.portico.test:lost", targetName: "iqn.2024-01.org.nowhere:none" });
    expect(r.statusClass).toBe(2);
    c.close();
    const m = await scrape(server.url);
    expect(metric(m, "portico_login_failures_total", { target: "", tpg: "", reason: "target_not_found" })).toBeGreaterThanOrEqual(1);
  });
});

describe("sessions", () => {
  it("a session disappears within 5 s after its client goes away", async () => {
    const { client } = await connect(port, "iqn.2024-01.org.portico.test:vanish");
    const listed = async () => (await api.sessions.list.query()).find((s) => s.initiatorName === "iqn.2024-01.org.portico.test:vanish");
    expect(await listed()).toBeDefined();
    const t0 = Date.now();
    client.close(); // no logout: the socket just goes away
    await waitFor(async () => !(await listed()), 5_000, 100);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("disconnect asks the initiator to log out (AsyncEvent 1) and the session ends when it does", async () => {
    const { client } = await connect(port, "iqn.2024-01.org.portico.test:polite");
    const s = (await api.sessions.list.query()).find((x) => x.initiatorName === "iqn.2024-01.org.portico.test:polite")!;
    const pending = api.sessions.disconnect.mutate({ id: s.id, timeoutMs: 10_000 });
    const msg = await client.nextUnsolicited(5_000);
    expect(msg?.opcode).toBe(Opcode.ASYNC_MESSAGE);
    const h = AsyncMessage.decode(msg!.bhs);
    expect(h.asyncEvent).toBe(1);
    expect(h.parameter3).toBe(10);
    expect(await client.logout()).toBe(0);
    expect(await pending).toEqual({ id: s.id, outcome: "logout" });
    expect((await api.sessions.list.query()).some((x) => x.id === s.id)).toBe(false);
  });

  it("disconnect drops a session whose initiator ignores the request", async () => {
    const { client } = await connect(port, "iqn.2024-01.org.portico.test:stubborn");
    const s = (await api.sessions.list.query()).find((x) => x.initiatorName === "iqn.2024-01.org.portico.test:stubborn")!;
    const t0 = Date.now();
    const res = await api.sessions.disconnect.mutate({ id: s.id, timeoutMs: 1_000 });
    expect(res.outcome).toBe("dropped");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(await client.closesWithin(2_000)).toBe(true);
    expect((await api.sessions.list.query()).some((x) => x.id === s.id)).toBe(false);
  });

  it("disconnecting an unknown session is NOT_FOUND", async () => {
    await expect(api.sessions.disconnect.mutate({ id: "s999-000000000000", timeoutMs: 0 })).rejects.toThrow(/no session/);
  });
});

describe("event log", () => {
  it("records logins, logouts with reasons, refused logins and who disconnected", async () => {
    const list = await api.events.list.query({ limit: 500 });
    const of = (type: string, initiator: string) => list.filter((e) => e.type === type && e.initiatorName === initiator);
    expect(of("login", "iqn.2024-01.org.portico.test:metrics").length).toBeGreaterThanOrEqual(1);
    expect(of("logout", "iqn.2024-01.org.portico.test:metrics")[0]?.reason).toBe("logout");
    expect(of("logout", "iqn.2024-01.org.portico.test:stubborn")[0]?.reason).toBe("disconnected by the administrator");
    expect(of("login_failed", "iqn.2024-01.org.portico.test:lost")[0]?.reason).toBe("target_not_found");
    const disconnects = list.filter((e) => e.type === "config" && e.reason === "sessions.disconnect");
    expect(disconnects.length).toBeGreaterThanOrEqual(2);
    expect(disconnects[0].actor).toBe("cli");
    // Filters: by type and by initiator.
    const onlyFailed = await api.events.list.query({ types: ["login_failed"] });
    expect(onlyFailed.length).toBeGreaterThan(0);
    expect(onlyFailed.every((e) => e.type === "login_failed")).toBe(true);
    const byInitiator = await api.events.list.query({ initiator: "portico.test:polite" });
    expect(byInitiator.length).toBeGreaterThan(0);
    expect(byInitiator.every((e) => e.initiatorName === "iqn.2024-01.org.portico.test:polite")).toBe(true);
  });
});

describe("/metrics access", () => {
  it("is served to localhost, and a token can be set and cleared (the token is never shown again)", async () => {
    const set = await api.monitor.setMetricsToken.mutate({ action: "generate" });
    expect(set.token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect((await api.monitor.metricsSettings.query()).tokenSet).toBe(true);
    // Localhost still needs no token.
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    // history.db keeps only the token's SHA-256 (issue 15 item 7)…
    const db = new Database(path.join(dataDir, "history.db"), { readonly: true });
    const stored = (db.prepare("select value from monitor_settings where key = 'metrics_token'").get() as { value: string }).value;
    db.close();
    expect(stored).not.toContain(set.token!);
    expect(stored).toBe(`sha256:${createHash("sha256").update(set.token!).digest("hex")}`);
    const cleared = await api.monitor.setMetricsToken.mutate({ action: "clear" });
    expect(cleared.token).toBeNull();
    expect((await api.monitor.metricsSettings.query()).tokenSet).toBe(false);
    // The audit log keeps the path but not the token.
    const ev = await api.events.list.query({ types: ["config"] });
    expect(JSON.stringify(ev)).not.toContain(set.token!);
  });
});

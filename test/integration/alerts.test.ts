/**
 * Alerts against the real appliance: a fileio storage object whose file is deleted
 * fires "storage offline", and the alert reaches a local webhook receiver and a local
 * SMTP sink (with AUTH) through the appliance's own evaluation loop; when the object
 * is removed the alert resolves and both receivers hear that too.
 */
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restoreDemo } from "../support/demo";
import { IscsiClient } from "../support/iscsi-client";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, removeDir, root, startPortico, type PorticoProcess } from "../support/portico";
import { startSmtpSink, startWebhookSink, type SmtpSink, type WebhookSink } from "../support/sinks";
import { apiClient, metric, scrape } from "./monitor-support";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.alerts000001";
let dataDir: string;
let fileDir: string;
let server: PorticoProcess;
let api: ReturnType<typeof apiClient>;
let smtp: SmtpSink;
let hook: WebhookSink;
let iscsiPort: number;
let busyPort: number;
let blocker: net.Server;

type HookBody = { status: string; alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[] };
const hookHas = (status: string, id: string) => (b: unknown) => (b as HookBody).alerts?.some((a) => a.status === status && `${a.labels.alertname}:${a.labels.object}` === id);

beforeAll(async () => {
  dataDir = makeDataDir("portico-alerts-");
  fileDir = mkdtempSync(path.join(os.tmpdir(), "portico-alert-files-"));
  const port = await freePort();
  iscsiPort = port;
  // A second portal whose port something else holds when the appliance starts: it fails to open.
  busyPort = await freePort();
  blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(busyPort, "127.0.0.1", resolve));
  restoreDemo(dataDir, {
    iqn: IQN,
    storageObjects: [{ name: "alert0", plugin: "fileio", dev: path.join(fileDir, "alert0.img"), size: 16 * 1024 * 1024 }],
    unexported: [{ name: "alert1", plugin: "fileio", dev: path.join(fileDir, "alert1.img"), size: 16 * 1024 * 1024 }],
    ports: [port, busyPort],
  });
  [smtp, hook] = await Promise.all([startSmtpSink({ requireAuth: { user: "alerts", password: "sink-password-1" } }), startWebhookSink()]);
  server = await startPortico({ dataDir });
  await waitForPort(port);
  api = apiClient(server.url, dataDir);
});

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  await smtp?.close();
  await hook?.close();
  await new Promise((resolve) => blocker?.close(resolve));
  removeDir(dataDir);
  rmSync(fileDir, { recursive: true, force: true });
});

describe("alerts", () => {
  it("refuses settings that cannot deliver, next to the field", async () => {
    const s = await api.alerts.settings.query();
    const bad = { ...s, email: { ...s.email, enabled: true, host: "", from: "not an address", to: "" } };
    const err = await api.alerts.save.mutate(bad as never).catch((e: { data?: { field?: string }; message: string }) => e);
    expect((err as { data?: { field?: string } }).data?.field).toMatch(/^email\./);
  });

  it("a test delivery to a receiver that is down says why", async () => {
    const s = await api.alerts.settings.query();
    const closed = await freePort();
    const err = await api.alerts.test
      .mutate({ channel: "webhook", settings: { ...s, email: { ...s.email, password: undefined }, webhook: { enabled: true, url: `http://127.0.0.1:${closed}/x` } } })
      .catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(/not delivered: cannot reach/);
  });

  it("a portal that failed to open and repeated login failures fire", async () => {
    for (let i = 0; i < 5; i++) {
      const c = await IscsiClient.connect(iscsiPort);
      expect((await c.login({ initiatorName: "iqn.2024-01.org.example:prober", targetName: "iqn.2003-01.org.example:nothing" })).statusClass).toBe(2);
      c.close();
    }
    const r = await api.alerts.evaluate.mutate();
    expect(r.started).toEqual(
      expect.arrayContaining([`portal_down:/iscsi/${IQN}/tpg1/portals/127.0.0.1:${busyPort}`, "login_failures:iqn.2024-01.org.example:prober → iqn.2003-01.org.example:nothing"]),
    );
    expect(r.started.filter((id) => id.startsWith("portal_down:") && id.endsWith(`:${iscsiPort}`))).toEqual([]);
  });

  it("a deleted fileio file reaches the webhook and the SMTP sink, and its resolution too", async () => {
    const s = await api.alerts.settings.query();
    await api.alerts.save.mutate({
      ...s,
      checkEverySeconds: 5,
      webhook: { enabled: true, url: hook.url },
      email: { enabled: true, host: "127.0.0.1", port: smtp.port, security: "none", username: "alerts", password: "sink-password-1", from: "portico@appliance.test", to: "ops@example.test, oncall@example.test" },
    });
    const saved = await api.alerts.settings.query();
    expect(saved.email.passwordSet).toBe(true);
    expect(JSON.stringify(saved)).not.toContain("sink-password-1");

    // Healthy storage: nothing about it fires.
    const first = await api.alerts.evaluate.mutate();
    expect(first.started.filter((id) => id.startsWith("storage_offline:"))).toEqual([]);
    expect(metric(await scrape(server.url), "portico_storage_object_up", { storage_object: "alert0", backstore: "fileio" })).toBe(1);

    unlinkSync(path.join(fileDir, "alert0.img"));
    unlinkSync(path.join(fileDir, "alert1.img"));
    // No "evaluate" call: the appliance's own 5 s loop must find it and deliver.
    const body = (await hook.waitFor(hookHas("firing", "storage_offline:/backstores/fileio/alert0"), 30_000)) as HookBody;
    const a = body.alerts.find((x) => x.labels.object === "/backstores/fileio/alert0")!;
    expect(a.labels.severity).toBe("critical");
    expect(a.annotations.summary).toBe("Storage fileio/alert0 is offline");
    expect(a.annotations.description).toContain("deleted");

    const mail = await smtp.waitFor((m) => m.data.includes("Storage fileio/alert0 is offline"), 30_000);
    expect(mail.auth).toEqual({ user: "alerts", password: "sink-password-1" });
    expect(mail.from).toBe("portico@appliance.test");
    expect(mail.to).toEqual(["ops@example.test", "oncall@example.test"]);
    expect(mail.data).toMatch(/^Subject: .*CRITICAL/m);
    expect(mail.data).toContain(path.join(fileDir, "alert0.img"));

    // The sink has the mail once it said 250; the appliance records the delivery right after (QUIT).
    let status = await api.alerts.status.query();
    for (let i = 0; i < 50 && !status.recent.some((d) => d.channel === "email" && d.ok); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await api.alerts.status.query();
    }
    expect(status.active.map((x) => x.id)).toEqual(expect.arrayContaining(["storage_offline:/backstores/fileio/alert0", "storage_offline:/backstores/fileio/alert1"]));
    expect(status.recent.some((d) => d.channel === "email" && d.ok)).toBe(true);
    const events = await api.events.list.query({ types: ["alert"] });
    expect(events.some((e) => e.message === "Storage fileio/alert0 is offline")).toBe(true);

    // The same facts on /metrics, for Prometheus' own rules (docs/prometheus-alerts.yml).
    const samples = await scrape(server.url);
    expect(metric(samples, "portico_storage_object_up", { storage_object: "alert0", backstore: "fileio" })).toBe(0);
    expect(metric(samples, "portico_alerts_firing", { alertname: "storage_offline", object: "/backstores/fileio/alert0" })).toBe(1);

    // Every series docs/prometheus-alerts.yml uses is a family /metrics declares.
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const used = new Set(readFileSync(path.join(root, "docs", "prometheus-alerts.yml"), "utf8").match(/portico_[a-z_]+/g));
    expect(used.size).toBeGreaterThanOrEqual(7);
    for (const name of used) expect(text, name).toMatch(new RegExp(`^# TYPE ${name.replace(/_bucket$/, "")} `, "m"));

    // Removing the object resolves its alert, on both channels.
    await api.storage.delete.mutate({ plugin: "fileio", name: "alert1" });
    const r = await api.alerts.evaluate.mutate();
    expect(r.resolved).toContain("storage_offline:/backstores/fileio/alert1");
    await hook.waitFor(hookHas("resolved", "storage_offline:/backstores/fileio/alert1"), 10_000);
    await smtp.waitFor((m) => /^Subject: .*RESOLVED: Storage fileio\/alert1 is offline/m.test(m.data), 10_000);
  });
});

/**
 * The alert service: evaluates the rules every `checkEverySeconds`, keeps which alerts
 * fire, and delivers each change (firing, resolved) to the webhook and by e-mail. A
 * delivery that fails stays in that channel's outbox and is retried at the next
 * evaluation, so an SMTP server that is down for a while still gets the alert later.
 * Every change is also written to the event log (type `alert`).
 *
 * server/main.ts starts it; the alerts router finds it with getAlertService().
 */
import os from "node:os";
import type { AuthStore } from "../auth/store";
import type { ConfigService } from "../config/service";
import { recordEvent } from "../history/events";
import { escapeLabelValue } from "../engine/core/metrics";
import { getMonitor, setExtraMetrics } from "../history/monitor";
import { processSlot } from "../process-slot";
import { FactGatherer } from "./facts";
import { evaluateRules, type Alert, type AlertFacts } from "./rules";
import { alertSettingsSchema, DEFAULT_ALERT_SETTINGS, splitAddresses, type AlertSettings } from "./schemas";
import { sendMail } from "./smtp";

const SETTINGS_KEY = "alerts";
const OUTBOX_MAX = 200;
const RECENT_MAX = 20;

export type Channel = "webhook" | "email";
export interface Notice {
  status: "firing" | "resolved";
  alert: Alert;
  startsAt: number;
  endsAt?: number;
}
export interface Delivery {
  at: number;
  channel: Channel;
  ok: boolean;
  notices: number;
  error?: string;
  test?: boolean;
}

/** The webhook body: the shape of Alertmanager's webhook (version 4), so receivers written for it read ours. */
export function webhookBody(notices: Notice[], appliance: string, test = false) {
  const firing = notices.filter((n) => n.status === "firing").length;
  return {
    version: "4",
    receiver: "portico",
    status: firing > 0 ? "firing" : "resolved",
    groupLabels: { appliance },
    commonLabels: { appliance },
    externalURL: "",
    test,
    alerts: notices.map((n) => ({
      status: n.status,
      labels: { alertname: n.alert.rule, severity: n.alert.severity, object: n.alert.object, appliance },
      annotations: { summary: n.alert.summary, description: n.alert.description },
      startsAt: new Date(n.startsAt).toISOString(),
      endsAt: n.endsAt ? new Date(n.endsAt).toISOString() : "0001-01-01T00:00:00Z",
      fingerprint: n.alert.id,
    })),
  };
}

export function emailText(notices: Notice[], appliance: string): { subject: string; text: string } {
  const firing = notices.filter((n) => n.status === "firing");
  const first = notices[0];
  const subject =
    notices.length === 1
      ? `[${appliance}] ${first.status === "firing" ? (first.alert.severity === "critical" ? "CRITICAL" : "WARNING") : "RESOLVED"}: ${first.alert.summary}`
      : `[${appliance}] ${firing.some((n) => n.alert.severity === "critical") ? "CRITICAL" : firing.length ? "WARNING" : "RESOLVED"}: ${firing.length} firing, ${notices.length - firing.length} resolved: ${(firing[0] ?? first).alert.summary}${notices.length > 1 ? ` (+${notices.length - 1} more)` : ""}`;
  const lines = notices.map((n) =>
    [
      `${n.status === "firing" ? n.alert.severity.toUpperCase() : "RESOLVED"}: ${n.alert.summary}`,
      `  ${n.alert.description}`,
      `  object: ${n.alert.object}`,
      `  since: ${new Date(n.startsAt).toISOString()}${n.endsAt ? `, resolved ${new Date(n.endsAt).toISOString()}` : ""}`,
    ].join("\n"),
  );
  return { subject, text: `${lines.join("\n\n")}\n\n-- \nPortico appliance ${appliance}\n` };
}

export class AlertService {
  private readonly facts: FactGatherer;
  private readonly firing = new Map<string, { alert: Alert; startsAt: number }>();
  private readonly outbox: Record<Channel, Map<string, Notice>> = { webhook: new Map(), email: new Map() };
  readonly recent: Delivery[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  lastEvaluatedAt: number | undefined;
  private lastFacts: AlertFacts | undefined;
  stopped = false;

  constructor(
    service: ConfigService,
    private readonly auth: AuthStore,
    private readonly appliance: () => string = () => os.hostname(),
  ) {
    this.facts = new FactGatherer(service, getMonitor);
  }

  settings(): AlertSettings {
    const stored = this.auth.getSetting<Partial<AlertSettings>>(SETTINGS_KEY);
    const merged = {
      ...DEFAULT_ALERT_SETTINGS,
      ...stored,
      rules: { ...DEFAULT_ALERT_SETTINGS.rules, ...stored?.rules },
      webhook: { ...DEFAULT_ALERT_SETTINGS.webhook, ...stored?.webhook },
      email: { ...DEFAULT_ALERT_SETTINGS.email, ...stored?.email },
    };
    const r = alertSettingsSchema.safeParse(merged);
    return r.success ? r.data : DEFAULT_ALERT_SETTINGS;
  }

  /** The settings for the console: the SMTP password replaced by whether one is stored. */
  publicSettings(): Omit<AlertSettings, "email"> & { email: Omit<AlertSettings["email"], "password"> & { passwordSet: boolean } } {
    const s = this.settings();
    const { password, ...email } = s.email;
    return { ...s, email: { ...email, passwordSet: Boolean(password) } };
  }

  /** Saves settings; an absent SMTP password keeps the stored one. Re-arms the timer. */
  save(input: AlertSettings): void {
    const cur = this.settings();
    const email = { ...input.email, password: input.email.password === undefined ? cur.email.password : input.email.password || undefined };
    this.auth.setSetting(SETTINGS_KEY, { ...input, email });
    if (!input.webhook.enabled) this.outbox.webhook.clear();
    if (!input.email.enabled) this.outbox.email.clear();
    this.schedule();
  }

  start(): void {
    this.stopped = false;
    this.schedule(5_000);
  }

  stop(): void {
    this.stopped = true;
    setExtraMetrics(undefined);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(firstMs?: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.evaluate()
        .catch((err: unknown) => process.stderr.write(`portico: alerts: ${(err as Error).message}\n`))
        .finally(() => this.schedule());
    }, firstMs ?? this.settings().checkEverySeconds * 1000);
    this.timer.unref();
  }

  /**
   * Gauges for GET /metrics from the last evaluation, so Alertmanager users can write the same
   * rules (docs/prometheus-alerts.yml): storage up, filesystem free bytes, allocated bytes, portals listening.
   */
  metrics(): string {
    const f = this.lastFacts;
    if (!f) return "";
    const l = (pairs: Record<string, string | number>) => Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabelValue(String(v))}"`).join(",");
    const out: string[] = [];
    const family = (name: string, help: string, rows: [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...rows.map(([labels, v]) => `${name}{${labels}} ${v}`));
    };
    const so = (s: AlertFacts["storage"][number]) => l({ storage_object: s.name, backstore: s.plugin });
    family("portico_storage_object_up", "1 when the storage object can serve IO (its file or device is there), 0 when offline.", f.storage.map((s) => [so(s), s.offline ? 0 : 1]));
    family("portico_storage_object_size_bytes", "Size of the storage object as initiators see it.", f.storage.map((s) => [so(s), s.sizeBytes]));
    family("portico_storage_object_allocated_bytes", "fileio: bytes the file occupies on disk (less than its size when sparse).", f.storage.filter((s) => s.allocatedBytes !== undefined).map((s) => [so(s), s.allocatedBytes!]));
    family("portico_storage_fs_free_bytes", "fileio: free bytes (for unprivileged users) on the filesystem holding the file.", f.storage.filter((s) => s.fs).map((s) => [so(s), s.fs!.freeBytes]));
    family("portico_storage_fs_size_bytes", "fileio: size of the filesystem holding the file.", f.storage.filter((s) => s.fs).map((s) => [so(s), s.fs!.totalBytes]));
    family("portico_portal_listening", "1 when an enabled TPG's portal is open, 0 when it failed to open.", f.portals.map((p) => [l({ target: p.wwn, tpg: p.tag, portal: p.key }), p.listening ? 1 : 0]));
    family("portico_alerts_firing", "Alerts the appliance's own rules fire now (Settings › Alerts).", this.active().map((a) => [l({ alertname: a.alert.rule, severity: a.alert.severity, object: a.alert.object }), 1]));
    return `${out.join("\n")}\n`;
  }

  /**
   * What needs attention now, for the Overview: every rule evaluated on fresh facts with the
   * configured thresholds, whether or not the rule is enabled for delivery.
   */
  attention(now = Date.now()): Alert[] {
    const s = this.settings();
    const all = { ...s, rules: Object.fromEntries(Object.entries(s.rules).map(([k, v]) => [k, { ...v, enabled: true }])) as AlertSettings["rules"] };
    return evaluateRules(this.facts.gather(all, now), all);
  }

  /** The alerts firing now, oldest first. */
  active(): { alert: Alert; startsAt: number }[] {
    return [...this.firing.values()].sort((a, b) => a.startsAt - b.startsAt);
  }

  /** Evaluates the rules now, records and delivers what changed. One evaluation at a time. */
  async evaluate(now = Date.now()): Promise<{ firing: Alert[]; started: Alert[]; resolved: Alert[] }> {
    while (this.running) await this.running.catch(() => undefined);
    const run = this.evaluateOnce(now);
    this.running = run;
    try {
      return await run;
    } finally {
      this.running = undefined;
    }
  }

  private async evaluateOnce(now: number) {
    const settings = this.settings();
    const facts = this.facts.gather(settings, now);
    this.lastFacts = facts;
    const current = evaluateRules(facts, settings);
    const ids = new Set(current.map((a) => a.id));
    const started: Alert[] = [];
    const resolved: Alert[] = [];
    for (const a of current) {
      const f = this.firing.get(a.id);
      if (f) {
        f.alert = a; // descriptions carry live figures
        continue;
      }
      this.firing.set(a.id, { alert: a, startsAt: now });
      started.push(a);
      this.enqueue(settings, { status: "firing", alert: a, startsAt: now });
      recordEvent({ at: now, type: "alert", reason: a.rule, message: a.summary, detail: { status: "firing", severity: a.severity, object: a.object, description: a.description } });
    }
    for (const [id, f] of [...this.firing]) {
      if (ids.has(id)) continue;
      this.firing.delete(id);
      resolved.push(f.alert);
      this.enqueue(settings, { status: "resolved", alert: f.alert, startsAt: f.startsAt, endsAt: now });
      recordEvent({ at: now, type: "alert", reason: f.alert.rule, message: `Resolved: ${f.alert.summary}`, detail: { status: "resolved", severity: f.alert.severity, object: f.alert.object } });
    }
    this.lastEvaluatedAt = now;
    await this.flush(settings);
    return { firing: current, started, resolved };
  }

  private enqueue(settings: AlertSettings, n: Notice): void {
    for (const ch of ["webhook", "email"] as const) {
      if (!settings[ch].enabled) continue;
      const box = this.outbox[ch];
      box.delete(n.alert.id); // a newer state of the same alert replaces an undelivered older one
      box.set(n.alert.id, n);
      while (box.size > OUTBOX_MAX) box.delete(box.keys().next().value as string);
    }
  }

  private async flush(settings: AlertSettings): Promise<void> {
    for (const ch of ["webhook", "email"] as const) {
      const box = this.outbox[ch];
      if (!settings[ch].enabled || box.size === 0) continue;
      const notices = [...box.values()];
      const d = await this.deliver(ch, settings, notices);
      if (d.ok) for (const n of notices) if (box.get(n.alert.id) === n) box.delete(n.alert.id);
    }
  }

  private note(d: Delivery): Delivery {
    this.recent.unshift(d);
    this.recent.length = Math.min(this.recent.length, RECENT_MAX);
    if (!d.ok) recordEvent({ at: d.at, type: "alert_delivery_failed", reason: d.channel, message: d.error });
    return d;
  }

  /** Sends notices on one channel now; never throws (the result says how it went). */
  async deliver(channel: Channel, settings: AlertSettings, notices: Notice[], test = false): Promise<Delivery> {
    const at = Date.now();
    try {
      if (channel === "webhook") await postWebhook(settings.webhook.url, webhookBody(notices, this.appliance(), test));
      else {
        const e = settings.email;
        const { subject, text } = emailText(notices, this.appliance());
        await sendMail(
          { host: e.host, port: e.port, security: e.security, username: e.username || undefined, password: e.password },
          { from: e.from, to: splitAddresses(e.to), subject: test ? `[test] ${subject}` : subject, text },
        );
      }
      return this.note({ at, channel, ok: true, notices: notices.length, test });
    } catch (err) {
      return this.note({ at, channel, ok: false, notices: notices.length, error: (err as Error).message, test });
    }
  }

  /** A test notification on one channel with the given (unsaved) settings. */
  async test(channel: Channel, input: AlertSettings): Promise<Delivery> {
    const cur = this.settings();
    const settings = { ...input, email: { ...input.email, password: input.email.password === undefined ? cur.email.password : input.email.password } };
    const alert: Alert = { id: "test:portico", rule: "storage_offline", severity: "warning", object: "test", summary: "Test alert from Portico", description: "Sent from Settings › Alerts to check delivery; nothing is wrong." };
    return this.deliver(channel, settings, [{ status: "firing", alert, startsAt: Date.now() }], true);
  }
}

async function postWebhook(url: string, body: unknown): Promise<void> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": "Portico-alerts" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
    redirect: "error",
  }).catch((err: Error) => {
    throw new Error(`cannot reach ${url}: ${(err.cause as Error | undefined)?.message ?? err.message}`);
  });
  if (r.status < 200 || r.status >= 300) throw new Error(`${url} answered ${r.status} ${r.statusText}`);
}

const alertService = processSlot<AlertService>("portico.alerts");

export function getAlertService(): AlertService | undefined {
  return alertService.get();
}

/** For server/main.ts: starts evaluating the alert rules. */
export function startAlerts(service: ConfigService, auth: AuthStore, appliance: () => string): AlertService {
  const a = new AlertService(service, auth, appliance);
  alertService.set(a);
  setExtraMetrics(() => a.metrics());
  a.start();
  return a;
}

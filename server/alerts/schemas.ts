/**
 * Alert settings (browser-safe): which rules run with which thresholds, and where a
 * firing or resolved alert is delivered (a webhook, e-mail through an SMTP server).
 * The same schema validates the Settings › Alerts form and the API.
 */
import { z } from "zod";

export const ALERT_RULES = ["storage_offline", "storage_full", "portal_down", "login_failures", "high_latency"] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

/** What each rule watches, for the console and the docs. */
export const ALERT_RULE_TITLES: Record<AlertRule, string> = {
  storage_offline: "Storage offline (a fileio file or block device gone, or storage that failed to restore)",
  storage_full: "Storage full (free space of a fileio file's filesystem, thin LUNs near capacity)",
  portal_down: "Portal failed to open",
  login_failures: "Repeated login failures",
  high_latency: "High latency",
};

const whole = (min: number, max: number, what: string) =>
  z.number({ message: `enter ${what}` }).int("a whole number").min(min, `${min} to ${max}`).max(max, `${min} to ${max}`);

const emailList = z
  .string()
  .trim()
  .refine((v) => v === "" || v.split(/[,;\s]+/).filter(Boolean).every((a) => /^[^\s@<>]+@[^\s@<>]+$/.test(a)), { message: "e-mail addresses, separated by commas" });

export const webhookSettingsSchema = z
  .object({
    enabled: z.boolean(),
    url: z.string().trim().max(2000, "at most 2000 characters"),
  })
  .superRefine((v, ctx) => {
    if (!v.enabled && v.url === "") return;
    let u: URL | undefined;
    try {
      u = new URL(v.url);
    } catch {
      /* below */
    }
    if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) ctx.addIssue({ code: "custom", path: ["url"], message: "an http:// or https:// URL" });
  });

export const emailSettingsSchema = z
  .object({
    enabled: z.boolean(),
    host: z.string().trim().max(255, "at most 255 characters"),
    port: whole(1, 65535, "a port"),
    /** none: plain SMTP (a relay on the LAN); starttls: upgrade on port 587/25; tls: TLS from the start (465). */
    security: z.enum(["none", "starttls", "tls"]),
    username: z.string().trim().max(255, "at most 255 characters"),
    /** Absent: keep the stored password. Never read back. */
    password: z.string().max(255, "at most 255 characters").optional(),
    from: emailList,
    to: emailList,
  })
  .superRefine((v, ctx) => {
    if (!v.enabled) return;
    if (!v.host) ctx.addIssue({ code: "custom", path: ["host"], message: "required to send e-mail" });
    if (!v.from) ctx.addIssue({ code: "custom", path: ["from"], message: "required to send e-mail" });
    else if (v.from.split(/[,;\s]+/).filter(Boolean).length > 1) ctx.addIssue({ code: "custom", path: ["from"], message: "one address" });
    if (!v.to) ctx.addIssue({ code: "custom", path: ["to"], message: "at least one recipient" });
  });

export const alertRulesSchema = z.object({
  storage_offline: z.object({ enabled: z.boolean() }),
  storage_full: z.object({
    enabled: z.boolean(),
    /** Fire when the filesystem holding a fileio file has less free space than this (percent of its size). */
    freePercent: whole(1, 90, "a percentage"),
    /** Fire when a sparse (thin) fileio file has this much of its size allocated. */
    thinUsedPercent: whole(50, 100, "a percentage"),
  }),
  portal_down: z.object({ enabled: z.boolean() }),
  login_failures: z.object({ enabled: z.boolean(), count: whole(1, 10_000, "a count"), windowMinutes: whole(1, 1440, "minutes") }),
  high_latency: z.object({ enabled: z.boolean(), p99Ms: whole(1, 60_000, "milliseconds") }),
});

export const alertSettingsSchema = z.object({
  rules: alertRulesSchema,
  /** How often the rules are evaluated. */
  checkEverySeconds: whole(5, 3600, "seconds"),
  webhook: webhookSettingsSchema,
  email: emailSettingsSchema,
});
export type AlertSettings = z.infer<typeof alertSettingsSchema>;

export const DEFAULT_ALERT_SETTINGS: AlertSettings = {
  rules: {
    storage_offline: { enabled: true },
    storage_full: { enabled: true, freePercent: 10, thinUsedPercent: 90 },
    portal_down: { enabled: true },
    login_failures: { enabled: true, count: 5, windowMinutes: 10 },
    high_latency: { enabled: true, p99Ms: 500 },
  },
  checkEverySeconds: 30,
  webhook: { enabled: false, url: "" },
  email: { enabled: false, host: "", port: 587, security: "starttls", username: "", password: undefined, from: "", to: "" },
};

export function splitAddresses(list: string): string[] {
  return list.split(/[,;\s]+/).filter(Boolean);
}

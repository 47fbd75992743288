/**
 * Console access settings (Settings › HTTPS and console access): the certificate upload and
 * the allowed host names / trusted proxies. The same schemas check the form and the API.
 */
import { z } from "zod";
import { allowedHostProblem, proxyEntryProblem } from "../../http/entries";

const PEM_MAX = 64 * 1024;

export const certificateUploadSchema = z.object({
  cert: z.string().trim().min(1, "paste the certificate (PEM), the server's own first, then its chain").max(PEM_MAX, "at most 64 KiB of PEM text"),
  // Named so the event log's redaction (server/history/events.ts: /password|secret|token/) masks it.
  secretKey: z.string().trim().min(1, "paste the private key (PEM, without a passphrase)").max(PEM_MAX, "at most 64 KiB of PEM text"),
});

const list = (check: (entry: string) => string | undefined, what: string) =>
  z
    .array(z.string().trim().min(1).max(253))
    .max(64, `at most 64 ${what}`)
    .superRefine((entries, ctx) => {
      for (const e of entries) {
        const problem = check(e);
        if (problem) {
          ctx.addIssue({ code: "custom", message: problem });
          return;
        }
      }
    });

export const accessSettingsSchema = z.object({
  allowedHosts: list(allowedHostProblem, "host names"),
  trustedProxies: list(proxyEntryProblem, "proxies"),
});

/** One entry per line or comma (the form's text areas). */
export function splitEntries(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

import { describe, expect, it } from "vitest";
import { evaluateRules, LATENCY_MIN_SECONDS, type AlertFacts } from "../../../server/alerts/rules";
import { DEFAULT_ALERT_SETTINGS, alertSettingsSchema } from "../../../server/alerts/schemas";

const GiB = 2 ** 30;
const none: AlertFacts = { storage: [], portals: [], loginFailures: [], latency: [] };

describe("alert rules", () => {
  it("a healthy appliance fires nothing", () => {
    const facts: AlertFacts = {
      storage: [{ key: "fileio/a", plugin: "fileio", name: "a", dev: "/srv/a.img", sizeBytes: 10 * GiB, allocatedBytes: 1 * GiB, fs: { freeBytes: 500 * GiB, totalBytes: 1000 * GiB } }],
      portals: [{ wwn: "iqn.x", tag: 1, key: "0.0.0.0:3260", listening: true }],
      loginFailures: [{ initiator: "iqn.i", target: "iqn.x", count: 4 }],
      latency: [{ key: "iqn.x/1/0", storageObject: "a", p99Us: 499_000, secondsWithIo: 60 }],
    };
    expect(evaluateRules(facts, DEFAULT_ALERT_SETTINGS)).toEqual([]);
  });

  it("offline storage fires critical, and not also as full", () => {
    const a = evaluateRules({ ...none, storage: [{ key: "fileio/a", plugin: "fileio", name: "a", dev: "/srv/a.img", sizeBytes: GiB, offline: "its file was deleted", fs: { freeBytes: 0, totalBytes: 1 } }] }, DEFAULT_ALERT_SETTINGS);
    expect(a.map((x) => [x.id, x.severity])).toEqual([["storage_offline:/backstores/fileio/a", "critical"]]);
  });

  it("full filesystem, over-committed thin file, and a thin file near capacity", () => {
    const low = evaluateRules({ ...none, storage: [{ key: "fileio/a", plugin: "fileio", name: "a", sizeBytes: GiB, allocatedBytes: GiB, fs: { freeBytes: 5 * GiB, totalBytes: 100 * GiB } }] }, DEFAULT_ALERT_SETTINGS);
    expect(low.map((x) => x.id)).toEqual(["storage_full:/backstores/fileio/a"]);
    // 50 % free, but the sparse file could still grow by 90 GiB with 50 free.
    const over = evaluateRules({ ...none, storage: [{ key: "fileio/b", plugin: "fileio", name: "b", sizeBytes: 100 * GiB, allocatedBytes: 10 * GiB, fs: { freeBytes: 50 * GiB, totalBytes: 100 * GiB } }] }, DEFAULT_ALERT_SETTINGS);
    expect(over.map((x) => x.id)).toEqual(["storage_full:/backstores/fileio/b"]);
    expect(over[0].description).toContain("can still grow by 90.0 GiB");
    const thin = evaluateRules({ ...none, storage: [{ key: "fileio/c", plugin: "fileio", name: "c", sizeBytes: 10 * GiB, allocatedBytes: 9.5 * GiB, fs: { freeBytes: 500 * GiB, totalBytes: 1000 * GiB } }] }, DEFAULT_ALERT_SETTINGS);
    expect(thin.map((x) => x.id)).toEqual(["storage_full:/backstores/fileio/c#thin"]);
    expect(thin[0].summary).toBe("Thin LUN fileio/c is 95 % allocated");
  });

  it("portals, login failures and latency at their thresholds", () => {
    const facts: AlertFacts = {
      storage: [],
      portals: [{ wwn: "iqn.x", tag: 1, key: "10.0.0.9:3260", listening: false, reason: "address not available" }],
      loginFailures: [{ initiator: "iqn.i", target: "iqn.x", count: 5, lastReason: "authentication_failed", lastRemote: "10.0.0.7" }],
      latency: [
        { key: "iqn.x/1/0", storageObject: "a", p99Us: 500_000, secondsWithIo: LATENCY_MIN_SECONDS },
        { key: "iqn.x/1/1", storageObject: "b", p99Us: 900_000, secondsWithIo: LATENCY_MIN_SECONDS - 1 },
      ],
    };
    const ids = evaluateRules(facts, DEFAULT_ALERT_SETTINGS).map((x) => x.id);
    expect(ids).toEqual(["portal_down:/iscsi/iqn.x/tpg1/portals/10.0.0.9:3260", "login_failures:iqn.i → iqn.x", "high_latency:lun iqn.x/1/0"]);
    const off = structuredClone(DEFAULT_ALERT_SETTINGS);
    for (const r of Object.values(off.rules)) r.enabled = false;
    expect(evaluateRules(facts, off)).toEqual([]);
  });

  it("settings: e-mail needs a host, one sender and recipients only when enabled; webhook needs an http(s) URL", () => {
    const ok = alertSettingsSchema.safeParse(DEFAULT_ALERT_SETTINGS);
    expect(ok.success).toBe(true);
    const bad = alertSettingsSchema.safeParse({ ...DEFAULT_ALERT_SETTINGS, email: { ...DEFAULT_ALERT_SETTINGS.email, enabled: true, from: "a@b.c, d@e.f" }, webhook: { enabled: true, url: "ftp://x" } });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["email.host", "email.from", "email.to", "webhook.url"]));
  });
});

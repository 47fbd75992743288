/**
 * Nothing an initiator does can erase the audit trail (issue 15 item 6: 108 000 refused iSCSI
 * logins in 52 s pushed every configuration audit event out of the 100 000-row event cap).
 *
 * 1. Real logins over TCP, with the default login throttle: 100 000 refused logins from one address
 *    (the first ones evaluated and refused for want of an ACL, the rest refused unheard by the
 *    throttle, as a flood meets it), driven as fast as a raw client can. They reach the monitor
 *    through the fabric's event stream and are stored aggregated (one row per initiator, reason and
 *    address per minute, with the count); every configuration audit event is still there.
 *    That is the "Done when" figure: about 50 s on an idle 2-core machine, several minutes on
 *    a busy one (PORTICO_AUDIT_FLOOD=20000 shortens it while developing).
 * 2. The store when nothing aggregates: 100 000 refused logins from 100 000 different initiator
 *    names, recorded exactly as the fabric reports them, fill the activity log to its cap while
 *    every configuration audit event stays (the audit log has its own table and retention).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../../server/engine";
import type { Engine } from "../../../server/engine/core/engine";
import { openHistory } from "../../../server/history/db";
import { recordConfigChange, recordEvent } from "../../../server/history/events";
import { EVENT_MAX_ROWS, Monitor } from "../../../server/history/monitor";
import { freePort } from "../../support/iscsi-client";
import { loginNormal, RawConnection } from "../../support/raw-iscsi";

const IQN = "iqn.2003-01.org.example:audit";
const CONFIG_EVENTS = 200;
let dir: string;
let engine: Engine;
let monitor: Monitor;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "portico-audit-unit-"));
  engine = createEngine(); // the default login throttle
  await engine.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 1024 * 1024 });
  engine.createTarget(IQN);
  engine.createTpg(IQN, 1, { attributes: { generate_node_acls: 0 } }); // no ACL: every login is refused (0202)
  engine.createLun(IQN, 1, "/backstores/ramdisk/rd0", { index: 0 });
  port = await freePort();
  await engine.createPortal(IQN, 1, "127.0.0.1", port);
  monitor = new Monitor(engine, openHistory(dir));
  monitor.sampler.stop();
  for (let i = 0; i < CONFIG_EVENTS; i++) {
    recordConfigChange("targets.setAttributes", "alice", true, { wwn: IQN, tag: 1, attributes: { login_timeout: 10 + i } });
  }
  recordEvent({ type: "signin", actor: "alice", remote: "192.0.2.7" });
});

afterAll(async () => {
  monitor?.close();
  await engine?.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

const configEvents = () => monitor.events({ log: "audit", types: ["config"], limit: 1000 });

describe("the audit trail under a login flood", () => {
  it("100 000 real refused logins are stored aggregated, and the audit events all stay", async () => {
    const LOGINS = Number(process.env.PORTICO_AUDIT_FLOOD ?? 100_000);
    const PARALLEL = 16;
    let done = 0;
    const worker = async () => {
      while (done < LOGINS) {
        done++;
        const c = await RawConnection.connect(port);
        try {
          const r = await loginNormal(c, IQN, "iqn.2024-01.org.example:flood");
          // 0202 authorization failure (no ACL) until the throttle refuses the address: 0301 service unavailable.
          expect([(r.bhs[36] << 8) | r.bhs[37]]).toContain(r.bhs[36] === 2 ? 0x0202 : 0x0301);
        } finally {
          c.close();
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    // Every refusal reached the log, as counts on a handful of rows (one per minute the flood spanned).
    await expect.poll(() => monitor.events({ types: ["login_failed"], limit: 1000 }).reduce((n, e) => n + e.count, 0), { timeout: 10_000 }).toBe(LOGINS);
    const rows = monitor.events({ types: ["login_failed"], limit: 1000 });
    // Two reasons (authorization_failed with the initiator's name, throttled before any name is read), per minute spanned.
    expect(rows.length).toBeLessThanOrEqual(2 * 10);
    const denied = rows.filter((e) => e.reason === "authorization_failed").reduce((n, e) => n + e.count, 0);
    // DEFAULT_LOGIN_THROTTLE.failures (10) are evaluated, then the address is refused unheard; each time a refusal
    // period ends one more is evaluated (and refused), and the next period is twice as long: a handful in all.
    expect(denied).toBeGreaterThanOrEqual(10);
    expect(denied).toBeLessThanOrEqual(25);
    expect(rows.find((e) => e.reason === "authorization_failed")).toMatchObject({ log: "activity", initiatorName: "iqn.2024-01.org.example:flood", remote: expect.stringMatching(/^127\.0\.0\.1:/) });
    // The TPG asked for and why, so the console can offer "Allow this initiator" (ACL form filled in).
    expect(rows.find((e) => e.reason === "authorization_failed")).toMatchObject({ targetName: IQN, tpgTag: 1, detail: { cause: "ACL denied" } });
    expect(rows.find((e) => e.reason === "throttled")?.message).toMatch(/failed logins from 127\.0\.0\.1: refused for \d+ more seconds?/);
    expect(rows.every((e) => e.lastAt === null || e.lastAt >= e.at)).toBe(true);
    expect(monitor.history.sqlite.prepare("SELECT count(*) AS n FROM events").get()).toEqual({ n: rows.length });
    expect(configEvents()).toHaveLength(CONFIG_EVENTS);
  }, 600_000);

  it("100 000 refused logins that cannot aggregate fill the activity log to its cap; the audit events all stay", () => {
    const t0 = Date.now();
    for (let i = 0; i < 100_000; i++) {
      // What IscsiFabric.countLoginFailure emits (the monitor's fabric listener adds nothing else).
      monitor.record({ type: "login_failed", at: t0 + i, initiatorName: `iqn.2024-01.org.example:n${i}`, targetName: IQN, tpgTag: 1, remote: `127.0.0.1:${1024 + (i % 60000)}`, reason: "authorization_failed", message: "no ACL" });
    }
    monitor.prune();
    const activity = monitor.history.sqlite.prepare("SELECT count(*) AS n FROM events").get() as { n: number };
    expect(activity.n).toBe(EVENT_MAX_ROWS);
    const config = configEvents();
    expect(config).toHaveLength(CONFIG_EVENTS);
    // Oldest to newest, exactly as recorded.
    expect(config.map((e) => (e.detail?.input as { attributes: { login_timeout: number } }).attributes.login_timeout).reverse()).toEqual(
      Array.from({ length: CONFIG_EVENTS }, (_, i) => 10 + i),
    );
    expect(monitor.events({ log: "audit", types: ["signin"] })).toHaveLength(1);
    // Both logs, merged newest first: the flood's rows come first, and the audit log is still reachable by filter.
    expect(monitor.events({ limit: 5 }).every((e) => e.log === "activity")).toBe(true);
  }, 900_000);
});

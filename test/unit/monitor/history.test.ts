/**
 * The monitor's history.db side without a network: minute aggregates stored and read
 * back as bucketed rates, retention (7 d minutes, 30 d / 100k events), event filters,
 * secrets kept out of the audit log, LUNs registered from configuration.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEngine } from "../../../server/engine";
import type { Engine } from "../../../server/engine/core/engine";
import { recordConfigChange, recordEvent, redact } from "../../../server/history/events";
import { openHistory } from "../../../server/history/db";
import { EVENT_RETENTION_MS, MINUTE_RETENTION_MS, Monitor } from "../../../server/history/monitor";

let dir: string;
let engine: Engine;
let monitor: Monitor;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "portico-mon-unit-"));
  engine = createEngine();
  await engine.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 1024 * 1024 });
  engine.createTarget("iqn.2003-01.org.example:t1");
  engine.createTpg("iqn.2003-01.org.example:t1", 1);
  engine.createLun("iqn.2003-01.org.example:t1", 1, "/backstores/ramdisk/rd0", { index: 0 });
  monitor = new Monitor(engine, openHistory(dir));
  monitor.sampler.stop(); // ticks are driven by hand
});

afterEach(async () => {
  monitor.close();
  await engine.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe("Monitor", () => {
  it("LUN counters follow the engine's LUN events: created before any IO, gone with the LUN, TPG or target", async () => {
    expect([...monitor.stats.luns.keys()]).toEqual(["iqn.2003-01.org.example:t1|1|0"]);
    engine.deleteLun("iqn.2003-01.org.example:t1", 1, 0);
    expect(monitor.stats.luns.size).toBe(0); // at once: no polling
    engine.createLun("iqn.2003-01.org.example:t1", 1, "/backstores/ramdisk/rd0", { index: 7 });
    expect([...monitor.stats.luns.keys()]).toEqual(["iqn.2003-01.org.example:t1|1|7"]);
    expect(monitor.luns().map((l) => l.lun)).toEqual([7]);
    await engine.deleteTarget("iqn.2003-01.org.example:t1");
    expect(monitor.stats.luns.size).toBe(0);
  });

  it("stores minute aggregates and reads them back as rates per bucket", () => {
    const now = Date.now();
    const base = Math.floor(now / 60_000) * 60_000 - 10 * 60_000;
    const lun = [...monitor.stats.luns.values()][0];
    const s = monitor.sampler;
    s.baseline(base);
    for (let sec = 1; sec <= 120; sec++) {
      lun.c[0] += 100; // READ_COMMANDS
      lun.c[3] += 100 * 4096; // READ_BYTES
      s.tick(base + sec * 1000);
    }
    s.tick(base + 121_000);
    const rows = monitor.minutes("lun", lun.key);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    // 60 one-second samples: the one ending exactly on the minute boundary belongs to the minute it closes.
    expect(rows[0].readCommands).toBe(6000);
    expect(rows[0].samples).toBe(60);
    const h = monitor.seriesHistory("lun", lun.key, "1h", now);
    expect(h.source).toBe("stored");
    if (h.source !== "stored") return;
    expect(h.points.length).toBeGreaterThanOrEqual(2);
    for (const p of h.points) {
      expect(p.readIops).toBeCloseTo(100, 5);
      expect(p.readMBps).toBeCloseTo(0.4096, 5);
    }
  });

  it("writes the minute in progress when it closes (shutdown), as a partial minute", () => {
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000;
    const lun = [...monitor.stats.luns.values()][0];
    const s = monitor.sampler;
    s.baseline(base);
    for (let sec = 1; sec <= 20; sec++) {
      lun.c[1] += 50; // WRITE_COMMANDS
      s.tick(base + sec * 1000);
    }
    lun.c[1] += 7; // after the last tick: still counted
    expect(monitor.minutes("lun", lun.key)).toHaveLength(0);
    monitor.close();
    const again = openHistory(dir);
    try {
      const rows = again.sqlite.prepare("SELECT minute, samples, write_commands AS w FROM minute_stats WHERE scope = 'lun' AND key = ?").all(lun.key) as { minute: number; samples: number; w: number }[];
      expect(rows).toEqual([{ minute: base, samples: 20, w: 1007 }]);
      expect(again.sqlite.prepare("SELECT count(*) AS n FROM minute_stats WHERE scope = 'appliance'").get()).toEqual({ n: 1 });
    } finally {
      again.close();
    }
  });

  it("logs unit attentions the SCSI layer raises, with the LUN and what the ASC/ASCQ means", () => {
    monitor.fabric.events.emit("event", {
      type: "unit_attention_raised", at: Date.now(), initiatorName: "iqn.1993-08.org.debian:01:a", targetName: "iqn.2003-01.org.example:t1", tpgTag: 1, lun: 0,
      detail: { asc: 0x2a, ascq: 0x09, storageObject: "ramdisk/rd0" },
    });
    monitor.fabric.events.emit("event", { type: "unit_attention", at: Date.now(), lun: 0, detail: { asc: 0x3f, ascq: 0x0e } });
    const [reported, raised] = monitor.events({ types: ["unit_attention_raised", "unit_attention"] });
    expect(raised).toMatchObject({ type: "unit_attention_raised", lun: 0, targetName: "iqn.2003-01.org.example:t1", message: "capacity data has changed", detail: { asc: 0x2a, ascq: 0x09, storageObject: "ramdisk/rd0" } });
    expect(reported).toMatchObject({ type: "unit_attention", message: "reported LUNs data has changed" });
  });

  it("prunes minutes after 7 days and events after 30 days", () => {
    const now = Date.now();
    const ins = monitor.history.sqlite.prepare(
      "INSERT INTO minute_stats (minute, scope, key, samples, read_commands, write_commands, other_commands, read_bytes, write_bytes, errors, read_p50_us, read_p99_us, read_max_us, write_p50_us, write_p99_us, write_max_us, avg_in_flight, max_in_flight) VALUES (?, 'appliance', 'appliance', 60, 1,0,0,0,0,0,0,0,0,0,0,0,0,0)",
    );
    ins.run(now - MINUTE_RETENTION_MS - 60_000);
    ins.run(now - 60_000);
    monitor.record({ type: "login", at: now - EVENT_RETENTION_MS - 1, initiatorName: "old" });
    monitor.record({ type: "login", at: now, initiatorName: "new" });
    monitor.prune(now);
    expect(monitor.minutes("appliance", "appliance").length).toBe(1);
    expect(monitor.events().map((e) => e.initiatorName)).toEqual(["new"]);
  });

  it("filters events by type, target, initiator and time, newest first", () => {
    const t = Date.now();
    monitor.record({ type: "login", at: t - 3000, initiatorName: "iqn.a:one", targetName: "iqn.t:x" });
    monitor.record({ type: "login_failed", at: t - 2000, initiatorName: "iqn.b:two", reason: "authentication_failed" });
    monitor.record({ type: "logout", at: t - 1000, initiatorName: "iqn.a:one", targetName: "iqn.t:x", reason: "logout" });
    expect(monitor.events().map((e) => e.type)).toEqual(["logout", "login_failed", "login"]);
    expect(monitor.events({ types: ["login_failed"] }).map((e) => e.reason)).toEqual(["authentication_failed"]);
    expect(monitor.events({ initiator: "a:one" }).length).toBe(2);
    expect(monitor.events({ target: "iqn.t:x", types: ["login"] }).length).toBe(1);
    expect(monitor.events({ from: t - 1500 }).map((e) => e.type)).toEqual(["logout"]);
    expect(monitor.eventFacets().initiators).toEqual(["iqn.a:one", "iqn.b:two"]);
  });

  it("records configuration changes through recordEvent with the actor, never a secret", () => {
    recordConfigChange("targets.setAuth", "alice", true, { wwn: "iqn.t:x", chap: { userid: "u", password: "s3cret-value" } });
    recordEvent({ type: "reset", lun: 0 });
    const [reset, change] = monitor.events();
    expect(reset.type).toBe("reset");
    expect(change).toMatchObject({ type: "config", actor: "alice", reason: "targets.setAuth" });
    expect(JSON.stringify(change)).not.toContain("s3cret-value");
    expect(redact({ token: "x", nested: { mutual_password: "y", name: "n" } })).toEqual({ token: "••••", nested: { mutual_password: "••••", name: "n" } });
  });
});

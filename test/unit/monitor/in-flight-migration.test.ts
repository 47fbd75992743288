/**
 * One word per concept (issue 9 item 7): the in-flight gauge is `inFlight` (history columns
 * avg_in_flight / max_in_flight), apart from the storage object's `queue_depth` attribute (the
 * configured limit). The migration renames the columns of a history.db made by the previous
 * schema and keeps its recorded minutes.
 */
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { historyMigrationsFolder, openHistory } from "@/server/history/db";
import { SAMPLE_FIELDS } from "@/server/engine/core/sampler";
import { migrationsBefore } from "../../support/migrations";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("the in-flight gauge", () => {
  it("is named inFlight in the sampler (not queueDepth, the attribute's word)", () => {
    expect(SAMPLE_FIELDS).toContain("inFlight");
    expect(SAMPLE_FIELDS).toContain("avgInFlight");
    expect(SAMPLE_FIELDS.join()).not.toMatch(/queueDepth/i);
  });

  it("history.db of the previous schema: columns renamed, recorded minutes kept", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-history-mig-"));
    dirs.push(dir);
    const old = new Database(path.join(dir, "history.db"));
    migrate(drizzle(old), { migrationsFolder: migrationsBefore(historyMigrationsFolder, "0002_in_flight_gauge", dir) });
    old
      .prepare(
        "INSERT INTO minute_stats (minute, scope, key, samples, read_commands, write_commands, other_commands, read_bytes, write_bytes, errors, read_p50_us, read_p99_us, read_max_us, write_p50_us, write_p99_us, write_max_us, avg_queue_depth, max_queue_depth) VALUES (?, 'appliance', 'appliance', 60, 7,0,0,0,0,0,0,0,0,0,0,0,2.5,31)",
      )
      .run(Date.now() - 120_000);
    old.close();

    const h = openHistory(dir);
    try {
      const cols = (h.sqlite.prepare("PRAGMA table_info(minute_stats)").all() as { name: string }[]).map((c) => c.name);
      expect(cols).toContain("avg_in_flight");
      expect(cols).toContain("max_in_flight");
      expect(cols.filter((c) => c.includes("queue_depth"))).toEqual([]);
      expect(h.sqlite.prepare("SELECT read_commands, avg_in_flight, max_in_flight FROM minute_stats").all()).toEqual([{ read_commands: 7, avg_in_flight: 2.5, max_in_flight: 31 }]);
    } finally {
      h.close();
    }
  });
});

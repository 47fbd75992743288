/**
 * Shared setup for the config and API unit tests: a real SQLite file in a temp
 * dir with the migrations applied, a real Engine with the real ramdisk/fileio
 * backstores (block is simulated by a regular file: tests cannot create block
 * devices), and no fabric (portals are bookkeeping only).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { expect } from "vitest";
import { openDatabase, type OpenedDatabase } from "@/server/db";
import { openBackstore } from "@/server/engine/backstores";
import type { OpenBackstore } from "@/server/engine/backstores/backstore";
import { Engine } from "@/server/engine/core/engine";
import { ConfigService } from "@/server/config/service";
import { offlineDevice } from "@/server/config/probe";

export const testOpenBackstore: OpenBackstore = async (spec) => {
  if (spec.plugin !== "block") return openBackstore(spec);
  if (!spec.dev || !fs.existsSync(spec.dev)) throw new Error(`block device ${spec.dev} does not exist`);
  return openBackstore({ ...spec, plugin: "fileio", size: undefined });
};

export function makeEngine(): Engine {
  return new Engine({ openBackstore: testOpenBackstore, createDevice: offlineDevice });
}

export interface Fixture {
  dir: string;
  db: OpenedDatabase;
  engine: Engine;
  service: ConfigService;
  /** Re-opens DB, engine and service on the same data dir (a restart). */
  restart(): Promise<Fixture>;
  cleanup(): Promise<void>;
}

export function tempDir(prefix = "portico-unit-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function makeFixture(dir = tempDir()): Fixture {
  const db = openDatabase(dir);
  const engine = makeEngine();
  const service = new ConfigService(db.db, db.sqlite, engine);
  const fx: Fixture = {
    dir,
    db,
    engine,
    service,
    async restart() {
      await engine.shutdown();
      db.close();
      return makeFixture(dir);
    },
    async cleanup() {
      await engine.shutdown().catch(() => undefined);
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return fx;
}

/**
 * The error a tRPC call rejected with, as a client sees it (the errorFormatter's shape, with the
 * field and engine code in `cause`); the test fails here if the call resolved or threw anything else.
 */
export async function rejection(p: Promise<unknown>): Promise<TRPCError & { cause?: { field?: string; code?: string; engineCode?: string } }> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TRPCError);
  return err as TRPCError;
}

/** Row counts of every config table. */
export function tableCounts(db: OpenedDatabase): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ["storage_objects", "targets", "tpgs", "luns", "portals", "node_acls", "mapped_luns", "discovery_auth"]) {
    out[t] = (db.sqlite.prepare(`select count(*) as n from ${t}`).get() as { n: number }).n;
  }
  return out;
}

/** lio-model.md §1.5, with backing paths pointing into `dir`. */
export function lioExample(dir: string): Record<string, unknown> {
  const vm01 = path.join(dir, "vm01.img");
  const db01 = path.join(dir, "db01.dev");
  fs.writeFileSync(db01, Buffer.alloc(0));
  fs.truncateSync(db01, 64 * 1024 * 1024);
  const doc = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "lio-example.json"), "utf8"));
  doc.storage_objects[0].dev = vm01;
  doc.storage_objects[0].size = 32 * 1024 * 1024;
  doc.storage_objects[1].dev = db01;
  doc.storage_objects[2].size = 16 * 1024 * 1024;
  return doc;
}

/**
 * The fileio path rules through the API procedures (createCaller on a real engine whose policy
 * knows the data directory): the import preview names refused paths, the storage step of the
 * wizards answers with the engine's refusal and its over-commit code, and a create refused after
 * the engine made its file (the row insert fails) leaves no file behind.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createCaller } from "@/server/api/root";
import { ConfigService } from "@/server/config/service";
import { offlineDevice } from "@/server/config/probe";
import { openDatabase, type OpenedDatabase } from "@/server/db";
import { Engine } from "@/server/engine/core/engine";
import { rejection, tempDir, testOpenBackstore } from "../config/helpers";

let root: string;
let dataDir: string;
let files: string;
let db: OpenedDatabase;
let engine: Engine;
let api: ReturnType<typeof createCaller>;
beforeEach(() => {
  root = fs.realpathSync(tempDir("portico-fileio-api-"));
  dataDir = path.join(root, "data");
  files = path.join(root, "files");
  fs.mkdirSync(files);
  db = openDatabase(dataDir);
  engine = new Engine({ openBackstore: testOpenBackstore, createDevice: offlineDevice, fileio: { dataDir, storageDir: path.join(root, "data-storage") } });
  const service = new ConfigService(db.db, db.sqlite, engine);
  api = createCaller({ service, engine, app: { version: "test", startedAt: Date.now(), dataDir }, actor: "internal" });
});
afterEach(async () => {
  await engine.shutdown();
  db.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe("fileio path rules through the API", () => {
  it("the import preview names each refused fileio path", async () => {
    const doc = {
      storage_objects: [
        { plugin: "fileio", name: "db", dev: path.join(dataDir, "portico.db"), attributes: {} },
        { plugin: "fileio", name: "passwd", dev: "/etc/passwd", attributes: {} },
        { plugin: "fileio", name: "ok", dev: path.join(files, "ok.img"), size: 1 << 20, attributes: {} },
      ],
      targets: [],
    };
    const p = await api.host.previewImport({ config: doc, clear: false });
    expect(p.ok).toBe(false);
    expect(p.issues.map((i) => i.path).sort()).toEqual(["/backstores/fileio/db", "/backstores/fileio/passwd"]);
    expect(p.issues.find((i) => i.path.endsWith("/db"))?.message).toMatch(/data directory/);
    expect(p.issues.find((i) => i.path.endsWith("/passwd"))?.message).toMatch(/system directory/);
  });

  it("the wizards' storage step answers with the engine's refusal, field and over-commit code", async () => {
    const db = await rejection(api.onboarding.checkStorage({ kind: "fileio", name: "d0", dev: path.join(dataDir, "portico.db") }));
    expect(db.message).toMatch(/fileio\/d0 refused: .*data directory/);
    expect(db.cause?.field).toBe("storage.dev");
    const st = fs.statfsSync(files);
    const huge = Math.ceil((st.bavail * st.bsize + 2 ** 40) / 4096) * 4096;
    const big = await rejection(api.onboarding.checkStorage({ kind: "fileio", name: "d0", dev: path.join(files, "d0.img"), size: huge }));
    expect(big.cause?.field).toBe("storage.size");
    expect(big.cause?.engineCode).toBe("overcommit");
    expect(await api.onboarding.checkStorage({ kind: "fileio", name: "d0", dev: path.join(files, "d0.img"), size: huge, overcommit: true })).toEqual({ ok: true });
    expect(fs.existsSync(path.join(files, "d0.img"))).toBe(false);
  });

  it("a create that fails after the engine made its file leaves no file (the row insert conflicts)", async () => {
    // A row the engine does not know (an object that failed to restore): the engine creates, the insert fails, undo runs.
    db.sqlite.prepare("insert into storage_objects (plugin, name, dev, size, wwn, write_back, attributes) values ('fileio', 'ghost', '/nowhere/ghost.img', 1048576, '3f6c2a1e-7b4d-4c8a-9e51-0d2b7a6c9f11', 0, '{}')").run();
    const file = path.join(files, "ghost.img");
    const err = await rejection(api.storage.create({ plugin: "fileio", name: "ghost", dev: file, size: 1 << 20 }));
    expect(err.message).toMatch(/UNIQUE constraint failed: storage_objects/);
    expect(fs.existsSync(file)).toBe(false);
    expect(engine.storageObjects.size).toBe(0);
  });
});

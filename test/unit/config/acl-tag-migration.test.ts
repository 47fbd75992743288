/**
 * One word per concept (issue 9 item 7): the ACL's tag (initiator group) is `aclTag` in the
 * engine, the service and the API and `acl_tag` in portico.db, apart from the TPG's tag.
 * drizzle/0005_acl_tag.sql renames the column of a portico.db made by the previous schema and
 * keeps every ACL's tag; saveconfig.json keeps LIO's key `tag`.
 */
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { databaseFile, migrationsFolder } from "@/server/db";
import { toSaveconfig } from "@/server/config/saveconfig";
import { makeFixture, tempDir, type Fixture } from "./helpers";
import { migrationsBefore } from "../../support/migrations";

const TARGET = "iqn.2003-01.org.example:acltag";
const WEB = "iqn.1994-05.com.example:web1";
const PLAIN = "iqn.1994-05.com.example:plain";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function aclColumns(sqlite: Database.Database): string[] {
  return (sqlite.prepare("PRAGMA table_info(node_acls)").all() as { name: string }[]).map((c) => c.name);
}

describe("the ACL tag", () => {
  it("portico.db of the previous schema: node_acls.tag renamed acl_tag, every ACL's tag kept, the engine and saveconfig.json get it", async () => {
    const dir = tempDir("portico-acl-tag-mig-");
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const old = new Database(databaseFile(dir));
    migrate(drizzle(old), { migrationsFolder: migrationsBefore(migrationsFolder, "0005_acl_tag", dir) });
    expect(aclColumns(old)).toContain("tag");
    const target = old.prepare("INSERT INTO targets (wwn) VALUES (?)").run(TARGET).lastInsertRowid;
    const tpg = old.prepare("INSERT INTO tpgs (target_id, tag) VALUES (?, 1)").run(target).lastInsertRowid;
    old.prepare("INSERT INTO node_acls (tpg_id, initiator_name, tag, cmdsn_depth) VALUES (?, ?, 'web', 32)").run(tpg, WEB);
    old.prepare("INSERT INTO node_acls (tpg_id, initiator_name) VALUES (?, ?)").run(tpg, PLAIN);
    old.close();

    const fx: Fixture = makeFixture(dir);
    cleanups.push(() => fx.cleanup());
    const cols = aclColumns(fx.db.sqlite);
    expect(cols).toContain("acl_tag");
    expect(cols).not.toContain("tag");
    expect(fx.db.sqlite.prepare("SELECT initiator_name, acl_tag, cmdsn_depth FROM node_acls ORDER BY id").all()).toEqual([
      { initiator_name: WEB, acl_tag: "web", cmdsn_depth: 32 },
      { initiator_name: PLAIN, acl_tag: null, cmdsn_depth: 64 },
    ]);

    expect(await fx.service.restore()).toEqual([]);
    expect(fx.engine.nodeAcl(TARGET, 1, WEB).aclTag).toBe("web");
    expect(fx.engine.nodeAcl(TARGET, 1, PLAIN).aclTag).toBeUndefined();
    const acls = fx.service.config().targets[0]!.tpgs[0]!.nodeAcls;
    expect(acls.map((a) => [a.initiatorName, a.aclTag])).toEqual([
      [WEB, "web"],
      [PLAIN, undefined],
    ]);

    // saveconfig.json is LIO's format: the ACL's key stays `tag` (and no aclTag leaks into it).
    const doc = toSaveconfig(fx.service.config()) as { targets: { tpgs: { node_acls: Record<string, unknown>[] }[] }[] };
    const out = doc.targets[0]!.tpgs[0]!.node_acls;
    expect(out.find((a) => a.node_wwn === WEB)).toMatchObject({ tag: "web" });
    expect(out.find((a) => a.node_wwn === PLAIN)).not.toHaveProperty("tag");
    expect(JSON.stringify(doc)).not.toMatch(/aclTag|acl_tag/);

    // A change through the service lands in the renamed column.
    await fx.service.updateNodeAcl(TARGET, 1, PLAIN, { aclTag: "db" });
    expect(fx.db.sqlite.prepare("SELECT acl_tag FROM node_acls WHERE initiator_name = ?").get(PLAIN)).toEqual({ acl_tag: "db" });
  });

  it("an invalid ACL tag is refused at the aclTag field (the engine's rule), the TPG's tag untouched", async () => {
    const fx = makeFixture();
    cleanups.push(() => fx.cleanup());
    await fx.service.createTarget({ wwn: TARGET });
    await fx.service.createNodeAcl(TARGET, 1, WEB, { aclTag: "web" });
    await expect(fx.service.updateNodeAcl(TARGET, 1, WEB, { aclTag: "a.b" })).rejects.toMatchObject({ field: "aclTag" });
    expect(fx.engine.nodeAcl(TARGET, 1, WEB).aclTag).toBe("web");
    expect(fx.engine.tpg(TARGET, 1).tag).toBe(1);
  });
});

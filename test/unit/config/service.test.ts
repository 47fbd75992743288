import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigImportError } from "@/server/config/errors";
import { parseSaveconfig } from "@/server/config/saveconfig";
import { lioExample, makeFixture, tableCounts, type Fixture } from "./helpers";

const TARGET = "iqn.2003-01.org.linux-iscsi.storage1.x8664:sn.8a3f5c21d9e0";
const ESX = "iqn.1998-01.com.vmware:esx01-4f2a9c1e";

let fx: Fixture;
beforeEach(() => {
  fx = makeFixture();
});
afterEach(async () => {
  await fx.cleanup();
});

function engineSummary(fx: Fixture) {
  return {
    storageObjects: [...fx.engine.storageObjects.keys()].sort(),
    targets: [...fx.engine.targets.values()].map((t) => ({
      iqn: t.wwn,
      tpgs: [...t.tpgs.values()].map((g) => ({
        tag: g.tag,
        enabled: g.enabled,
        luns: [...g.luns.values()].map((l) => `${l.index}:${l.storageObject.path}:${l.alias}`),
        portals: [...g.portals],
        acls: [...g.nodeAcls.values()].map((a) => ({ name: a.initiatorName, aclTag: a.aclTag, mapped: [...a.mappedLuns.values()].map((m) => `${m.index}->${m.tpgLun}:${m.writeProtect}:${m.alias}`) })),
      })),
    })),
  };
}

describe("importing the lio-model §1.5 example", () => {
  it("applies every object, reports what is not honoured by name, and exports the same objects back", async () => {
    const doc = lioExample(fx.dir);
    const result = await fx.service.importSaveconfig(JSON.stringify(doc));

    expect(result.storageObjects).toBe(3);
    expect(result.targets).toBe(1);
    expect(result.notHonoured).toEqual(
      expect.arrayContaining(["targets[0].parameters.cmd_completion_affinity ignored"]),
    );
    // ALUA groups are honoured now (issue 13).
    expect(result.notHonoured.filter((s) => s.includes("alua"))).toEqual([]);
    // CHAP is enforced by the fabric now: nothing about it is reported as not honoured.
    expect(result.notHonoured.filter((s) => /chap|discovery|authentication/.test(s))).toEqual([]);

    // Engine
    expect([...fx.engine.storageObjects.keys()].sort()).toEqual(["block/db01", "fileio/vm01", "ramdisk/scratch"]);
    const tpg = fx.engine.tpg(TARGET, 1);
    expect(tpg.enabled).toBe(true);
    expect([...tpg.luns.keys()]).toEqual([0, 1, 2]);
    expect(tpg.luns.get(1)!.alias).toBe("f3b20a6e51");
    expect([...tpg.portals].sort()).toEqual(["192.168.10.5:3260", "192.168.20.5:3260"]);
    const backup = fx.engine.nodeAcl(TARGET, 1, "iqn.1994-05.com.redhat:backup01");
    expect(backup.aclTag).toBe("backupgrp");
    expect(backup.mappedLuns.get(0)).toMatchObject({ tpgLun: 1, writeProtect: true, alias: "6e2d9b0c47" });
    expect(fx.engine.storageObject("fileio", "vm01").wwn).toBe("3f6c2a1e-7b4d-4c8a-9e51-0d2b7a6c9f10");
    expect(fx.engine.storageObject("fileio", "vm01").writeBack).toBe(true);

    // DB
    expect(tableCounts(fx.db)).toMatchObject({ storage_objects: 3, targets: 1, tpgs: 1, luns: 3, portals: 2, node_acls: 2, mapped_luns: 4 });

    // Export: the same objects, identifiers and settings
    const exported = JSON.parse(fx.service.exportSaveconfig());
    const original = doc as any;
    expect(exported.storage_objects.map((s: any) => [s.plugin, s.name, s.wwn, s.size, s.dev ?? null])).toEqual(
      original.storage_objects.map((s: any) => [s.plugin, s.name, s.wwn, s.size, s.dev ?? null]),
    );
    expect(exported.storage_objects.map((s: any) => s.alua_tpgs)).toEqual(original.storage_objects.map((s: any) => s.alua_tpgs));
    expect(exported.storage_objects[0].write_back).toBe(true);
    expect(exported.storage_objects[1].write_back).toBe(false);
    expect(exported.storage_objects[1].attributes.emulate_tpu).toBe(1);
    const et = exported.targets[0];
    const ot = original.targets[0];
    expect(et.wwn).toBe(ot.wwn);
    expect(et.fabric).toBe("iscsi");
    expect(et.tpgs[0].tag).toBe(1);
    expect(et.tpgs[0].enable).toBe(true);
    expect(et.tpgs[0].luns).toEqual(ot.tpgs[0].luns);
    expect(et.tpgs[0].portals).toEqual(ot.tpgs[0].portals);
    expect(et.tpgs[0].attributes).toEqual(ot.tpgs[0].attributes);
    expect(et.tpgs[0].parameters).toEqual(ot.tpgs[0].parameters);
    expect(et.tpgs[0].node_acls).toEqual(ot.tpgs[0].node_acls);
    expect(exported.fabric_modules).toEqual(original.fabric_modules);

    // Exporting what was exported round-trips exactly, and reports nothing.
    const reparsed = parseSaveconfig(fx.service.exportSaveconfig());
    expect(reparsed.notHonoured).toEqual([]);
  });

  it("writes the file in targetcli's format: sorted keys, indent 2, trailing newline", async () => {
    await fx.service.importSaveconfig(lioExample(fx.dir));
    const text = fx.service.exportSaveconfig();
    expect(text.endsWith("}\n")).toBe(true);
    expect(text.startsWith('{\n  "fabric_modules": [\n    {\n      "discovery_enable_auth": true,\n')).toBe(true);
    const keys = Object.keys(JSON.parse(text).storage_objects[0]);
    expect(keys).toEqual([...keys].sort());
    expect(keys).toEqual(["aio", "alua_tpgs", "attributes", "dev", "name", "plugin", "size", "write_back", "wwn"]);
    expect(text).not.toContain("hw_block_size");
  });
});

describe("a failed import changes nothing", () => {
  async function seed() {
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "keep", size: 1 << 20 });
    const { wwn } = await fx.service.createTarget({ wwn: "iqn.2024-01.com.example:keep" });
    await fx.service.createLun(wwn, 1, "/backstores/ramdisk/keep", { index: 0 });
  }

  it("refuses a LUN that points at a storage object that does not exist", async () => {
    await seed();
    const before = { db: tableCounts(fx.db), dump: fx.service.exportSaveconfig(), engine: engineSummary(fx) };
    const doc = lioExample(fx.dir) as any;
    doc.targets[0].tpgs[0].luns[2].storage_object = "/backstores/ramdisk/nope";
    const err = await fx.service.importSaveconfig(doc).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigImportError);
    expect(err.message).toContain("/backstores/ramdisk/nope");
    expect(tableCounts(fx.db)).toEqual(before.db);
    expect(fx.service.exportSaveconfig()).toBe(before.dump);
    expect(engineSummary(fx)).toEqual(before.engine);
    expect(fs.existsSync(path.join(fx.dir, "vm01.img"))).toBe(false);
  });

  it("refuses an invalid IQN, naming where it is", async () => {
    await seed();
    const before = { db: tableCounts(fx.db), engine: engineSummary(fx) };
    const doc = lioExample(fx.dir) as any;
    doc.targets[0].tpgs[0].node_acls[1].node_wwn = "iqn.bogus name";
    const err = await fx.service.importSaveconfig(doc, { clear: true }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigImportError);
    expect(err.issues[0].path).toBe("targets[0].tpgs[0].node_acls[1].node_wwn");
    expect(tableCounts(fx.db)).toEqual(before.db);
    expect(engineSummary(fx)).toEqual(before.engine);
  });

  it("undoes engine changes when the engine fails midway (missing backing file), even with clear", async () => {
    await seed();
    const before = { db: tableCounts(fx.db), dump: fx.service.exportSaveconfig(), engine: engineSummary(fx) };
    const doc = lioExample(fx.dir) as any;
    doc.storage_objects[1].dev = path.join(fx.dir, "missing.dev");
    const err = await fx.service.importSaveconfig(doc, { clear: true }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigImportError);
    expect(err.message).toContain("missing.dev");
    expect(tableCounts(fx.db)).toEqual(before.db);
    expect(fx.service.exportSaveconfig()).toBe(before.dump);
    expect(engineSummary(fx)).toEqual(before.engine);
  });

  it("without clear refuses objects that already exist; with clear replaces everything", async () => {
    await fx.service.importSaveconfig(lioExample(fx.dir));
    const err = await fx.service.importSaveconfig(lioExample(fx.dir)).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigImportError);
    expect(err.message).toContain("already exists");
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "extra", size: 1 << 20 });
    await fx.service.importSaveconfig(lioExample(fx.dir), { clear: true });
    expect(fx.engine.storageObjects.has("ramdisk/extra")).toBe(false);
    expect(tableCounts(fx.db).storage_objects).toBe(3);
  });
});

describe("restore at start-up", () => {
  it("reports a missing backing file and restores the rest", async () => {
    await fx.service.importSaveconfig(lioExample(fx.dir));
    fs.rmSync(path.join(fx.dir, "vm01.img"));
    fx = await fx.restart();
    const warnings = await fx.service.restore();
    expect(warnings.map((w) => w.object)).toEqual(["/backstores/fileio/vm01", `/iscsi/${TARGET}/tpg1/luns/lun0`, `/iscsi/${TARGET}/tpg1/acls/${ESX}/mapped_lun0`]);
    expect(warnings[0].reason).toContain("vm01.img");
    expect([...fx.engine.storageObjects.keys()].sort()).toEqual(["block/db01", "ramdisk/scratch"]);
    expect([...fx.engine.tpg(TARGET, 1).luns.keys()]).toEqual([1, 2]);
    expect(fx.engine.tpg(TARGET, 1).enabled).toBe(true);
    // The stored configuration keeps the object, so it comes back once the file does.
    expect(tableCounts(fx.db).storage_objects).toBe(3);
    expect(fx.service.exportSaveconfig()).toContain("vm01.img");
  });
});

describe("single changes", () => {
  it("keeps the engine unchanged when the DB write fails", async () => {
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "r0", size: 1 << 20 });
    const { wwn } = await fx.service.createTarget({ wwn: "iqn.2024-01.com.example:t1" });
    fx.db.sqlite.exec("CREATE TRIGGER fail_luns BEFORE INSERT ON luns BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END");
    await expect(fx.service.createLun(wwn, 1, "/backstores/ramdisk/r0")).rejects.toThrow(/simulated disk failure/);
    expect(fx.engine.tpg(wwn, 1).luns.size).toBe(0);
    expect(fx.engine.storageObject("ramdisk", "r0").exports.size).toBe(0);
    fx.db.sqlite.exec("DROP TRIGGER fail_luns");
    await fx.service.createLun(wwn, 1, "/backstores/ramdisk/r0");
    expect(fx.engine.tpg(wwn, 1).luns.size).toBe(1);
  });

  it("keeps the DB unchanged when the engine refuses (storage object in use)", async () => {
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "r0", size: 1 << 20 });
    const { wwn } = await fx.service.createTarget({ wwn: "iqn.2024-01.com.example:t1" });
    await fx.service.createLun(wwn, 1, "r0");
    const before = tableCounts(fx.db);
    await expect(fx.service.deleteStorageObject("ramdisk", "r0")).rejects.toThrow(/exported by/);
    expect(tableCounts(fx.db)).toEqual(before);
    expect(fx.engine.storageObjects.has("ramdisk/r0")).toBe(true);
  });

  it("mirrors LIO's cascades: deleting a LUN drops its mapped LUNs, deleting a target drops everything below", async () => {
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "r0", size: 1 << 20 });
    const { wwn } = await fx.service.createTarget({ wwn: "iqn.2024-01.com.example:t1" });
    await fx.service.createLun(wwn, 1, "r0", { index: 3 });
    await fx.service.createNodeAcl(wwn, 1, "iqn.1994-05.com.redhat:client", { addMappedLuns: false });
    await fx.service.createMappedLun(wwn, 1, "iqn.1994-05.com.redhat:client", { index: 0, tpgLun: 3 });
    await fx.service.createPortal(wwn, 1, "127.0.0.1", 3260);
    expect(tableCounts(fx.db)).toMatchObject({ luns: 1, mapped_luns: 1, portals: 1, node_acls: 1 });
    await fx.service.deleteLun(wwn, 1, 3);
    expect(tableCounts(fx.db)).toMatchObject({ luns: 0, mapped_luns: 0, node_acls: 1 });
    expect(fx.engine.nodeAcl(wwn, 1, "iqn.1994-05.com.redhat:client").mappedLuns.size).toBe(0);
    await fx.service.deleteTarget(wwn);
    expect(tableCounts(fx.db)).toMatchObject({ targets: 0, tpgs: 0, portals: 0, node_acls: 0 });
    expect(fx.engine.targets.size).toBe(0);
    expect(fx.engine.portalKeys()).toEqual([]);
  });

  it("persists across a restart", async () => {
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "r0", size: 1 << 20 });
    const { wwn } = await fx.service.createTarget({});
    expect(wwn).toMatch(/^iqn\.2003-01\.org\.linux-iscsi\.[^.]+\.[^.]+:sn\.[0-9a-f]{12}$/);
    await fx.service.createLun(wwn, 1, "r0");
    await fx.service.setTpgAttributes(wwn, 1, { generate_node_acls: 1, demo_mode_write_protect: 0 });
    await fx.service.setTpgEnabled(wwn, 1, false);
    const dump = fx.service.exportSaveconfig();
    fx = await fx.restart();
    expect(await fx.service.restore()).toEqual([]);
    expect(fx.service.exportSaveconfig()).toBe(dump);
    const tpg = fx.engine.tpg(wwn, 1);
    expect(tpg.attributes.generate_node_acls).toBe(1);
    expect(tpg.enabled).toBe(false);
    expect(tpg.luns.get(0)!.storageObject.name).toBe("r0");
  });

  it("refuses a TPG attribute out of range without changing anything", async () => {
    const { wwn } = await fx.service.createTarget({ wwn: "iqn.2024-01.com.example:t1" });
    await expect(fx.service.setTpgAttributes(wwn, 1, { generate_node_acls: 1, login_timeout: 99 })).rejects.toThrow(/login_timeout/);
    expect(fx.engine.tpg(wwn, 1).attributes.generate_node_acls).toBe(0);
    expect(JSON.parse(fx.service.exportSaveconfig()).targets[0].tpgs[0].attributes.generate_node_acls).toBe(0);
  });
});

describe("restore with a portal address in use", () => {
  it("reports the portal and still serves the rest of the TPG", async () => {
    const { EngineError } = await import("@/server/engine/core/errors");
    const opened: string[] = [];
    const fabric = {
      async openPortal(ip: string, port: number) {
        if (port === 3999) throw new EngineError(`address ${ip}:${port} is already in use`, "in_use", "port");
        opened.push(`${ip}:${port}`);
      },
      async closePortal() {},
      sessions: () => [],
      async closeSessions() {},
      async shutdown() {},
    };
    const { wwn } = await fx.service.createTarget({ wwn: "iqn.2024-01.com.example:t1" });
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "r0", size: 1 << 20 });
    await fx.service.createLun(wwn, 1, "r0");
    await fx.service.createPortal(wwn, 1, "127.0.0.1", 3998);
    await fx.service.createPortal(wwn, 1, "127.0.0.1", 3999);
    fx = await fx.restart();
    fx.engine.attachFabric(fabric);
    const warnings = await fx.service.restore();
    expect(warnings).toEqual([{ object: `/iscsi/${wwn}/tpg1/portals/127.0.0.1:3999`, reason: "address 127.0.0.1:3999 is already in use" }]);
    expect(opened).toEqual(["127.0.0.1:3998"]);
    expect(fx.engine.tpg(wwn, 1).luns.size).toBe(1);
    expect(fx.engine.tpg(wwn, 1).enabled).toBe(true);
    const { configTree } = await import("@/server/api/tree");
    const portals = configTree(fx.service).targets[0].tpgs[0].portals;
    expect(portals.map((p) => [p.key, p.listening, p.error ?? null])).toEqual([
      ["127.0.0.1:3998", true, null],
      ["127.0.0.1:3999", false, "address 127.0.0.1:3999 is already in use"],
    ]);
  });
});

/**
 * ALUA target port groups through the configuration (issue 13): saveconfig.json's
 * `alua_tpgs` and LUN `alua_tg_pt_gp_name` restore, persist across a restart and export
 * back unchanged; ConfigService creates, deletes, changes and moves with all-or-nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigImportError } from "@/server/config/errors";
import { stringifySaveconfig } from "@/server/config/saveconfig";
import { AluaState } from "@/server/engine/scsi/alua";
import { makeFixture, type Fixture } from "./helpers";

const WWN = "iqn.2003-01.org.linux-iscsi.alua.x8664:sn.0123456789ab";

let fx: Fixture;
beforeEach(() => {
  fx = makeFixture();
});
afterEach(async () => {
  await fx.cleanup();
});

const defaultGroup = (over: Record<string, unknown> = {}) => ({
  alua_access_state: 0,
  alua_access_status: 0,
  alua_access_type: 3,
  alua_support_active_nonoptimized: 1,
  alua_support_active_optimized: 1,
  alua_support_offline: 1,
  alua_support_standby: 1,
  alua_support_transitioning: 1,
  alua_support_unavailable: 1,
  alua_write_metadata: 0,
  implicit_trans_secs: 0,
  name: "default_tg_pt_gp",
  nonop_delay_msecs: 100,
  preferred: 0,
  tg_pt_gp_id: 0,
  trans_delay_msecs: 0,
  ...over,
});

/** A file as targetcli writes it after `alua/ create ao 1`, `create sb 2`, states set, LUNs moved. */
function aluaDoc() {
  return {
    fabric_modules: [],
    storage_objects: [
      {
        alua_tpgs: [
          defaultGroup(),
          defaultGroup({ name: "ao", tg_pt_gp_id: 1, preferred: 1, implicit_trans_secs: 10, alua_access_status: 2 }),
          defaultGroup({ name: "sb", tg_pt_gp_id: 2, alua_access_state: 2, alua_access_status: 1, nonop_delay_msecs: 0, trans_delay_msecs: 50, alua_support_offline: 0 }),
        ],
        attributes: { block_size: 512 },
        name: "lu0",
        plugin: "ramdisk",
        size: 1048576,
        wwn: "6b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
      },
    ],
    targets: [
      {
        fabric: "iscsi",
        tpgs: [1, 2].map((tag) => ({
          attributes: { authentication: 0, generate_node_acls: 1 },
          enable: true,
          luns: [{ alias: `alias0000${tag}`, alua_tg_pt_gp_name: tag === 1 ? "ao" : "sb", index: 0, storage_object: "/backstores/ramdisk/lu0" }],
          node_acls: [],
          parameters: {},
          portals: [],
          tag,
        })),
        wwn: WWN,
      },
    ],
  };
}

describe("alua_tpgs in saveconfig.json", () => {
  it("restores the groups, states and LUN memberships, keeps them across a restart and exports them unchanged", async () => {
    const doc = aluaDoc();
    const result = await fx.service.importSaveconfig(JSON.stringify(doc));
    expect(result.notHonoured.filter((s) => s.includes("alua"))).toEqual([]);

    const so = fx.engine.storageObject("ramdisk", "lu0");
    expect([...so.aluaGroups.keys()]).toEqual(["default_tg_pt_gp", "ao", "sb"]);
    expect(so.aluaGroups.get("sb")!.attributes).toMatchObject({ alua_access_state: AluaState.STANDBY, trans_delay_msecs: 50, alua_support_offline: 0 });
    expect(fx.engine.tpg(WWN, 1).luns.get(0)!.aluaGroup.name).toBe("ao");
    expect(fx.engine.tpg(WWN, 2).luns.get(0)!.aluaGroup.name).toBe("sb");
    expect(so.aluaGroups.get("sb")!.memberPorts()).toEqual([fx.engine.tpg(WWN, 2).relativeTargetPortId]);

    const exported = JSON.parse(fx.service.exportSaveconfig());
    expect(exported.storage_objects[0].alua_tpgs).toEqual(doc.storage_objects[0].alua_tpgs);
    expect(exported.targets[0].tpgs.map((t: { luns: unknown }) => t.luns)).toEqual(doc.targets[0].tpgs.map((t) => t.luns));

    fx = await fx.restart();
    await fx.service.restore();
    expect(fx.service.warnings).toEqual([]);
    const again = JSON.parse(fx.service.exportSaveconfig());
    expect(again.storage_objects[0].alua_tpgs).toEqual(doc.storage_objects[0].alua_tpgs);
    expect(fx.engine.tpg(WWN, 2).luns.get(0)!.aluaGroup.state).toBe(AluaState.STANDBY);
    expect(stringifySaveconfig(again)).toBe(fx.service.exportSaveconfig());
  });

  it("writes default_tg_pt_gp for every storage object and each LUN's group, as targetcli does", async () => {
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "plain", size: 1 << 20 });
    const exported = JSON.parse(fx.service.exportSaveconfig());
    expect(exported.storage_objects[0].alua_tpgs).toEqual([defaultGroup()]);
  });

  it("refuses bad groups with every problem named, and imports nothing", async () => {
    const doc = aluaDoc();
    doc.storage_objects[0].alua_tpgs[2].tg_pt_gp_id = 1; // clashes with ao
    Object.assign(doc.storage_objects[0].alua_tpgs[1], { alua_access_state: 14, alua_support_offline: 0 }); // Offline, unsupported
    doc.targets[0].tpgs[0].luns[0].alua_tg_pt_gp_name = "nosuch";
    const err = await fx.service.importSaveconfig(JSON.stringify(doc)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigImportError);
    const text = (err as ConfigImportError).issues.map((i) => `${i.path}: ${i.message}`).join("\n");
    expect(text).toContain("storage_objects[0].alua_tpgs[2].tg_pt_gp_id: ALUA group id 1 appears twice");
    expect(text).toContain("storage_objects[0].alua_tpgs[1].alua_access_state: ALUA state Offline is not supported");
    expect(text).toMatch(/tpg1\/luns\/lun0\.alua_tg_pt_gp_name: .*has no ALUA group nosuch/);
    expect(fx.engine.storageObjects.size).toBe(0);
  });
});

describe("ConfigService ALUA changes", () => {
  async function seed() {
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "lu0", size: 1 << 20 });
    await fx.service.createTarget({ wwn: WWN });
    await fx.service.createLun(WWN, 1, "/backstores/ramdisk/lu0", { index: 0 });
  }

  it("creates a group, moves a LUN into it, changes its state; all of it is stored", async () => {
    await seed();
    await fx.service.createAluaGroup("ramdisk", "lu0", "sb", 7);
    await fx.service.setLunAluaGroup(WWN, 1, 0, "sb");
    await fx.service.setAluaGroupAttributes("ramdisk", "lu0", "sb", { alua_access_state: AluaState.STANDBY, preferred: 1 });
    const g = fx.engine.aluaGroup("ramdisk", "lu0", "sb");
    expect(g.attributes).toMatchObject({ alua_access_state: 2, alua_access_status: 2, preferred: 1 });

    const stored = fx.service.config();
    expect(stored.storageObjects[0].aluaGroups!.map((x) => [x.name, x.id, x.attributes.alua_access_state])).toEqual([
      ["default_tg_pt_gp", 0, 0],
      ["sb", 7, 2],
    ]);
    expect(stored.targets[0].tpgs[0].luns[0].aluaGroup).toBe("sb");

    // Deleting the group puts its LUN back into default_tg_pt_gp, in the engine and the DB.
    await fx.service.deleteAluaGroup("ramdisk", "lu0", "sb");
    expect(fx.engine.tpg(WWN, 1).luns.get(0)!.aluaGroup.name).toBe("default_tg_pt_gp");
    expect(fx.service.config().targets[0].tpgs[0].luns[0].aluaGroup).toBeUndefined();
    expect(fx.service.config().storageObjects[0].aluaGroups).toBeUndefined();
  });

  it("refuses what LIO refuses and leaves everything as it was", async () => {
    await seed();
    await fx.service.createAluaGroup("ramdisk", "lu0", "g1", 1);
    const reject = (p: Promise<unknown>) => p.then(() => "resolved", (e: Error) => e.message);
    expect(await reject(fx.service.createAluaGroup("ramdisk", "lu0", "g2", 1))).toContain("already used by g1");
    expect(await reject(fx.service.createAluaGroup("ramdisk", "lu0", "g2", 0))).toContain("out of range 1..65535");
    expect(await reject(fx.service.createAluaGroup("ramdisk", "lu0", "g1", 2))).toContain("already has ALUA group g1");
    expect(await reject(fx.service.deleteAluaGroup("ramdisk", "lu0", "default_tg_pt_gp"))).toContain("cannot be deleted");
    expect(await reject(fx.service.setAluaGroupAttributes("ramdisk", "lu0", "g1", { preferred: 1, nonop_delay_msecs: 10001 }))).toContain("0..10000");
    expect(await reject(fx.service.setAluaGroupAttributes("ramdisk", "lu0", "g1", { alua_access_state: 4 }))).toContain("LBA Dependent");
    expect(await reject(fx.service.setAluaGroupAttributes("ramdisk", "lu0", "g1", { alua_support_standby: 0, alua_access_state: 2 }))).toContain("not supported");
    expect(await reject(fx.service.setAluaGroupAttributes("ramdisk", "lu0", "g1", { alua_access_type: 2, alua_access_state: 2 }))).toContain("implicit");
    expect(await reject(fx.service.setLunAluaGroup(WWN, 1, 0, "nosuch"))).toContain("has no ALUA group nosuch");
    const g1 = fx.engine.aluaGroup("ramdisk", "lu0", "g1");
    expect(g1.attributes).toMatchObject({ preferred: 0, alua_support_standby: 1, alua_access_type: 3, alua_access_state: 0 });
    expect(fx.service.config().storageObjects[0].aluaGroups!.map((g) => g.name)).toEqual(["default_tg_pt_gp", "g1"]);
  });

  it("honours trans_delay_msecs: Transitioning first, then the new state", async () => {
    await seed();
    await fx.service.setAluaGroupAttributes("ramdisk", "lu0", "default_tg_pt_gp", { trans_delay_msecs: 150 });
    const g = fx.engine.aluaGroup("ramdisk", "lu0", "default_tg_pt_gp");
    const change = fx.service.setAluaGroupAttributes("ramdisk", "lu0", "default_tg_pt_gp", { alua_access_state: AluaState.ACTIVE_NON_OPTIMIZED });
    await new Promise((r) => setTimeout(r, 30));
    expect(g.state).toBe(AluaState.TRANSITIONING);
    await change;
    expect(g.state).toBe(AluaState.ACTIVE_NON_OPTIMIZED);
    expect(fx.service.config().storageObjects[0].aluaGroups![0].attributes.alua_access_state).toBe(AluaState.ACTIVE_NON_OPTIMIZED);
  });
});

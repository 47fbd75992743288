/**
 * targetcli's ALUA commands in the shell (issue 13): `<so>/alua create name tag`, `delete name`,
 * `set alua ...` on a group (a state change is an implicit transition), `set alua
 * alua_tg_pt_gp_name=` on a LUN, and what ls shows; against a real ConfigService and engine.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AluaState } from "@/server/engine/scsi/alua";
import { makeFixture, type Fixture } from "../config/helpers";
import { shellSession } from "./session";

const WWN = "iqn.2003-01.com.example:alua";
let fx: Fixture;
let run: ReturnType<typeof shellSession>;

beforeEach(async () => {
  fx = makeFixture();
  run = shellSession(fx);
  for (const line of [
    "set global auto_add_default_portal=false",
    "/backstores/ramdisk create r1 1M",
    `/iscsi create ${WWN}`,
    `/iscsi/${WWN} create 2`,
    `/iscsi/${WWN}/tpg1/luns create /backstores/ramdisk/r1`,
    `/iscsi/${WWN}/tpg2/luns create /backstores/ramdisk/r1`,
  ]) {
    const r = await run(line);
    expect(r.stderr, line).toBe("");
  }
});
afterEach(async () => {
  await fx.cleanup();
});

describe("the alua/ node", () => {
  it("create, set, move a LUN, ls and delete, with targetcli's messages", async () => {
    expect((await run("/backstores/ramdisk/r1/alua create sb 2")).stdout).toBe("Created ALUA TPG sb.\n");
    const ls = (await run("ls /backstores/ramdisk/r1")).stdout;
    expect(ls).toMatch(/o- alua \.+ \[ALUA Groups: 2\]/);
    expect(ls).toMatch(/o- default_tg_pt_gp \.+ \[ALUA state: Active\/optimized\]/);
    expect(ls).toMatch(/o- sb \.+ \[ALUA state: Active\/optimized\]/);

    const set = await run("/backstores/ramdisk/r1/alua/sb set alua alua_access_state=2 preferred=1");
    expect(set.stderr).toBe("");
    expect(fx.engine.aluaGroup("ramdisk", "r1", "sb").attributes).toMatchObject({ alua_access_state: AluaState.STANDBY, preferred: 1, alua_access_status: 2 });
    expect((await run("/backstores/ramdisk/r1/alua/sb get alua alua_access_state tg_pt_gp_id")).stderr).not.toBe("");
    expect((await run("/backstores/ramdisk/r1/alua/sb get alua alua_access_state")).stdout).toBe("alua_access_state=2 \n");
    expect((await run("ls /backstores/ramdisk/r1/alua")).stdout).toMatch(/o- sb \.+ \[ALUA state: Standby\]/);

    expect((await run(`/iscsi/${WWN}/tpg2/luns/lun0 set alua alua_tg_pt_gp_name=sb`)).stderr).toBe("");
    expect((await run(`/iscsi/${WWN}/tpg2/luns/lun0 get alua alua_tg_pt_gp_name`)).stdout).toBe("alua_tg_pt_gp_name=sb \n");
    expect((await run(`ls /iscsi/${WWN}/tpg2/luns`)).stdout).toMatch(/o- lun0 \.+ \[ramdisk\/r1 \(sb\)\]/);
    expect((await run(`ls /iscsi/${WWN}/tpg1/luns`)).stdout).toMatch(/o- lun0 \.+ \[ramdisk\/r1 \(default_tg_pt_gp\)\]/);
    expect(fx.engine.tpg(WWN, 2).luns.get(0)!.aluaGroup.name).toBe("sb");
    // Stored: the next shell (a new command) and a restart see it.
    const saved = JSON.parse(fx.service.exportSaveconfig());
    expect(saved.storage_objects[0].alua_tpgs.map((g: { name: string; alua_access_state: number }) => [g.name, g.alua_access_state])).toEqual([
      ["default_tg_pt_gp", 0],
      ["sb", 2],
    ]);
    expect(saved.targets[0].tpgs[1].luns[0].alua_tg_pt_gp_name).toBe("sb");

    expect((await run("/backstores/ramdisk/r1/alua delete sb")).stdout).toBe("Deleted ALUA TPG sb.\n");
    expect(fx.engine.tpg(WWN, 2).luns.get(0)!.aluaGroup.name).toBe("default_tg_pt_gp");
    expect((await run("ls /backstores/ramdisk/r1")).stdout).toMatch(/\[ALUA Groups: 1\]/);
  });

  it("refuses what LIO refuses, with the reason", async () => {
    await run("/backstores/ramdisk/r1/alua create g1 1");
    expect((await run("/backstores/ramdisk/r1/alua create g2 1")).stderr).toContain("already used by g1");
    expect((await run("/backstores/ramdisk/r1/alua create g3 0")).stderr).toContain("1..65535");
    expect((await run("/backstores/ramdisk/r1/alua create g3 x")).stderr).toContain("Invalid tag x");
    expect((await run("/backstores/ramdisk/r1/alua delete default_tg_pt_gp")).stderr).toContain("cannot be deleted");
    expect((await run("/backstores/ramdisk/r1/alua delete nosuch")).stderr).toContain("Invalid ALUA group name");
    expect((await run("/backstores/ramdisk/r1/alua/g1 set alua alua_access_state=4")).stderr).toContain("LBA Dependent");
    expect((await run("/backstores/ramdisk/r1/alua/g1 set alua trans_delay_msecs=30001")).stderr).toContain("0..30000");
    expect((await run(`/iscsi/${WWN}/tpg1/luns/lun0 set alua alua_tg_pt_gp_name=nosuch`)).stderr).toContain("has no ALUA group nosuch");
    expect(fx.engine.aluaGroup("ramdisk", "r1", "g1").attributes).toMatchObject({ alua_access_state: 0, trans_delay_msecs: 0 });
  });
});

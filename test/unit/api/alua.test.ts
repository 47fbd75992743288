/**
 * The alua router (issue 13): list (states, members, sessions), create, setState, setLunGroup,
 * setAttributes, delete; zod refusals before anything changes, engine refusals with their field.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createCaller } from "@/server/api/root";
import { createAluaGroupSchema } from "@/server/api/schemas/alua";
import { makeFixture, rejection, type Fixture } from "../config/helpers";

const WWN = "iqn.2024-01.com.example:alua";
const SO = { plugin: "ramdisk" as const, name: "r0" };
let fx: Fixture;
let api: ReturnType<typeof createCaller>;
beforeEach(async () => {
  fx = makeFixture();
  api = createCaller({ service: fx.service, engine: fx.engine, app: { version: "test", startedAt: Date.now() - 5_000, dataDir: fx.dir }, actor: "internal" });
  await api.storage.create({ ...SO, size: 1 << 20 });
  await api.targets.create({ wwn: WWN });
  await api.targets.tpgs.create({ wwn: WWN, tag: 2 });
  for (const tag of [1, 2]) await api.targets.luns.create({ wwn: WWN, tag, storageObject: "/backstores/ramdisk/r0", index: 0 });
});
afterEach(async () => {
  await fx.cleanup();
});

describe("alua router", () => {
  it("lists default_tg_pt_gp with both ports; a new group gets a LUN and a state; delete puts it back", async () => {
    const first = await api.alua.list(SO);
    expect(first.sessions).toEqual([]);
    expect(first.groups.map((g) => [g.name, g.id, g.state, g.accessType, g.members.map((m) => m.tag)])).toEqual([["default_tg_pt_gp", 0, "Active/Optimized", "Implicit and Explicit", [1, 2]]]);

    await api.alua.create({ ...SO, group: "second", id: 2 });
    await api.alua.setLunGroup({ wwn: WWN, tag: 2, lun: 0, group: "second" });
    await api.alua.setState({ ...SO, group: "second", state: 2 });
    await api.alua.setAttributes({ ...SO, group: "second", attributes: { preferred: 1, implicit_trans_secs: 30 } });
    const after = await api.alua.list(SO);
    expect(after.groups.map((g) => [g.name, g.state, g.status, g.members.map((m) => m.tag)])).toEqual([
      ["default_tg_pt_gp", "Active/Optimized", "None", [1]],
      ["second", "Standby", "Altered by Implicit ALUA", [2]],
    ]);
    expect(after.groups[1].attributes).toMatchObject({ preferred: 1, implicit_trans_secs: 30 });

    await api.alua.delete({ ...SO, group: "second" });
    expect((await api.alua.list(SO)).groups.map((g) => [g.name, g.members.length])).toEqual([["default_tg_pt_gp", 2]]);
  });

  it("refuses bad input at its field and changes nothing", async () => {
    const zod = await rejection(api.alua.create({ ...SO, group: "g", id: 0 }));
    expect(zod.code).toBe("BAD_REQUEST");
    expect(createAluaGroupSchema.safeParse({ ...SO, group: "has space", id: 1 }).error?.issues[0].path).toEqual(["group"]);
    expect((await rejection(api.alua.setAttributes({ ...SO, group: "default_tg_pt_gp", attributes: { bogus: 1 } as never }))).code).toBe("BAD_REQUEST");
    const range = await rejection(api.alua.setAttributes({ ...SO, group: "default_tg_pt_gp", attributes: { trans_delay_msecs: 40000 } }));
    expect(range.message).toContain("0..30000");
    expect((range.cause as { field?: string }).field).toBe("trans_delay_msecs");
    const missing = await rejection(api.alua.setLunGroup({ wwn: WWN, tag: 1, lun: 0, group: "nosuch" }));
    expect(missing.code).toBe("NOT_FOUND");
    expect((await rejection(api.alua.delete({ ...SO, group: "default_tg_pt_gp" }))).message).toContain("cannot be deleted");
    expect((await api.alua.list(SO)).groups).toHaveLength(1);
  });
});

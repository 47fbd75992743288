/** CHAP that is set is CHAP that is enforced: requireChap sets authentication=1 in the same change; the tree flags TPGs that do not require the CHAP they have. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createCaller } from "@/server/api/root";
import { makeFixture, type Fixture } from "../config/helpers";

const T = "iqn.2024-01.com.example:chap";
const A = "iqn.2024-01.com.example:host-a";
const B = "iqn.2024-01.com.example:host-b";
let fx: Fixture;
let api: ReturnType<typeof createCaller>;

beforeEach(async () => {
  fx = makeFixture();
  api = createCaller({ service: fx.service, engine: fx.engine, app: { version: "test", startedAt: Date.now(), dataDir: fx.dir }, actor: "internal" });
  await api.targets.create({ wwn: T });
  await api.targets.acls.create({ wwn: T, tag: 1, initiatorName: A });
});
afterEach(async () => {
  await fx.cleanup();
});

const tpgOf = async () => (await api.targets.list()).find((t) => t.wwn === T)!.tpgs[0];

describe("require CHAP with the credentials", () => {
  it("credentials alone leave authentication=0 and the TPG flagged; requireChap enforces them in the same change, and survives a restart", async () => {
    expect((await tpgOf()).chapNotRequired).toBe(false);
    await api.targets.acls.setAuth({ wwn: T, tag: 1, initiatorName: A, chap: { userid: "a", password: "asecret123456" } });
    expect(fx.engine.tpg(T, 1).attributes.authentication).toBe(0);
    expect((await tpgOf()).chapNotRequired).toBe(true);

    await api.targets.acls.setAuth({ wwn: T, tag: 1, initiatorName: A, chap: { userid: "a", password: "asecret123456" }, requireChap: true });
    expect(fx.engine.tpg(T, 1).attributes.authentication).toBe(1);
    expect((await tpgOf()).chapNotRequired).toBe(false);
    fx = await fx.restart();
    await fx.service.restore();
    expect(fx.engine.tpg(T, 1).attributes.authentication).toBe(1);
    expect(fx.service.config().targets[0].tpgs[0].attributes.authentication).toBe(1);
  });

  it("a refused change applies neither the credentials nor authentication=1", async () => {
    const bad = api.targets.acls.setAuth({ wwn: T, tag: 1, initiatorName: B, chap: { userid: "b", password: "bsecret123456" }, requireChap: true });
    await expect(bad).rejects.toThrow(/no ACL|does not exist|not found/i);
    expect(fx.engine.tpg(T, 1).attributes.authentication).toBe(0);
    expect(fx.service.config().targets[0].tpgs[0].attributes.authentication ?? 0).toBe(0);
  });

  it("a new ACL with credentials and requireChap, and TPG (demo mode) credentials", async () => {
    await api.targets.acls.create({ wwn: T, tag: 1, initiatorName: B, chap: { userid: "b", password: "bsecret123456" }, requireChap: true });
    expect(fx.engine.tpg(T, 1).attributes.authentication).toBe(1);
    await api.targets.tpgs.setAttributes({ wwn: T, tag: 1, attributes: { authentication: 0, generate_node_acls: 1 } });
    await api.targets.acls.setAuth({ wwn: T, tag: 1, initiatorName: B, chap: {} });
    expect((await tpgOf()).chapNotRequired).toBe(false);
    await api.targets.tpgs.setAuth({ wwn: T, tag: 1, chap: { userid: "d", password: "dsecret123456" } });
    expect((await tpgOf()).chapNotRequired).toBe(true);
    await api.targets.tpgs.setAuth({ wwn: T, tag: 1, chap: { userid: "d", password: "dsecret123456" }, requireChap: true });
    expect(fx.engine.tpg(T, 1).attributes.authentication).toBe(1);
    // Clearing credentials with requireChap does not require CHAP.
    await api.targets.tpgs.setAttributes({ wwn: T, tag: 1, attributes: { authentication: 0 } });
    await api.targets.tpgs.setAuth({ wwn: T, tag: 1, chap: {}, requireChap: true });
    expect(fx.engine.tpg(T, 1).attributes.authentication).toBe(0);
  });
});

/**
 * The configuration service's undo steps go through engine methods, not field writes (issue 9
 * item 5): a change whose DB write fails is put back by the same engine methods that validate it
 * and carry its side effects (AuthMethod following authentication, demo mode's LUN views, a
 * backstore re-opened for block_size). Before, storage object attributes/identity and TPG
 * attributes/parameters were undone by writing the engine's fields directly.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeFixture, type Fixture } from "./helpers";

let fx: Fixture;
beforeEach(() => {
  fx = makeFixture();
});
afterEach(async () => {
  await fx.cleanup();
});

const fail = (table: string) => fx.db.sqlite.exec(`CREATE TRIGGER fail_${table} BEFORE UPDATE ON ${table} BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END`);

describe("undo steps go through the engine", () => {
  it("TPG attributes and parameters: a failed DB write puts both back by Engine.setTpgAttribute/setTpgParameter", async () => {
    const { wwn } = await fx.service.createTarget({ wwn: "iqn.2024-01.com.example:undo" });
    const tpg = fx.engine.tpg(wwn, 1);
    const attributes = { ...tpg.attributes };
    const parameters = { ...tpg.parameters };
    fail("tpgs");
    const setAttribute = vi.spyOn(fx.engine, "setTpgAttribute");
    const setParameter = vi.spyOn(fx.engine, "setTpgParameter");
    // authentication=1 also turns AuthMethod to CHAP (LIO iscsit_ta_authentication); generate_node_acls=1 sets cache_dynamic_acls.
    await expect(fx.service.setTpgAttributes(wwn, 1, { authentication: 1, generate_node_acls: 1, cache_dynamic_acls: 0 })).rejects.toThrow(/simulated disk failure/);
    expect(tpg.attributes).toEqual(attributes);
    expect(tpg.parameters).toEqual(parameters);
    // The undo: each changed attribute back through the engine; authentication=0 puts AuthMethod back itself.
    expect(setAttribute.mock.calls.slice(3).map((c) => c[2]).sort()).toEqual(["authentication", "generate_node_acls"]);
    expect(setParameter).not.toHaveBeenCalled();

    setParameter.mockClear();
    await expect(fx.service.setTpgParameters(wwn, 1, { MaxBurstLength: "524288", ImmediateData: "No" })).rejects.toThrow(/simulated disk failure/);
    expect(tpg.parameters).toEqual(parameters);
    expect(setParameter.mock.calls.slice(2).map((c) => [c[2], c[3]]).sort()).toEqual([["ImmediateData", "Yes"], ["MaxBurstLength", "262144"]]);
  });

  it("storage object attributes and identity: put back by Engine.setStorageObjectAttributes/setStorageObjectIdentity", async () => {
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "r0", size: 1 << 20 });
    const so = fx.engine.storageObject("ramdisk", "r0");
    const attributes = { ...so.attributes };
    const identity = { wwn: so.wwn, vendorId: so.vendorId, productIdBase: so.productIdBase, revision: so.revision };
    fail("storage_objects");
    const setAttributes = vi.spyOn(fx.engine, "setStorageObjectAttributes");
    const setIdentity = vi.spyOn(fx.engine, "setStorageObjectIdentity");

    await expect(fx.service.setStorageObjectAttributes("ramdisk", "r0", { emulate_tpu: 1, queue_depth: 64 })).rejects.toThrow(/simulated disk failure/);
    expect(so.attributes).toEqual(attributes);
    expect(setAttributes.mock.calls.map((c) => c[2])).toEqual([{ emulate_tpu: 1, queue_depth: 64 }, { emulate_tpu: 0, queue_depth: attributes.queue_depth }]);

    setAttributes.mockClear();
    fx.engine.storageObject("ramdisk", "r0").attributes.emulate_model_alias = 1;
    await expect(fx.service.setStorageObjectIdentity("ramdisk", "r0", { wwn: "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f", vendorId: "ACME", productId: "DISK9", revision: "9.9" })).rejects.toThrow(/simulated disk failure/);
    expect({ wwn: so.wwn, vendorId: so.vendorId, productIdBase: so.productIdBase, revision: so.revision }).toEqual(identity);
    expect(so.attributes.emulate_model_alias).toBe(1);
    expect(setIdentity).toHaveBeenCalledTimes(2);
    expect(setAttributes.mock.calls.map((c) => c[2])).toEqual([{ emulate_model_alias: 1 }]);
  });
});

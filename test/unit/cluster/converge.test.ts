/**
 * Two nodes' copies without etcd in between: node A's ConfigService publishes every change to a
 * replica (the hook ConfigSync implements), node B applies each published state with
 * convergeEngine through applyReplicated. After every change both hold the same state, B's engine
 * serves it, and objects that did not change are the same live objects (so their sessions go on).
 * A replica that refuses a change leaves nothing of it on A.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { convergeEngine } from "@/server/cluster/converge";
import { decodeDoc, DOC_FORMAT, encodeDoc, stateText } from "@/server/cluster/config-doc";
import { snapshotTarget } from "@/server/config/apply";
import { EngineError } from "@/server/engine/core/errors";
import type { ReplicatedState } from "@/server/config/service";
import { makeFixture, tableCounts, type Fixture } from "../config/helpers";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.converge0001";
const INIT = "iqn.2024-01.org.example:host1";
let a: Fixture;
let b: Fixture;
let published: ReplicatedState[];
let refuse: string | undefined;

beforeEach(async () => {
  a = makeFixture();
  b = makeFixture();
  published = [];
  refuse = undefined;
  a.service.replica = {
    async publish(state) {
      if (refuse) throw new EngineError(refuse, "in_use");
      published.push(state);
      return state;
    },
    committed() {},
  };
});
afterEach(async () => {
  await a.cleanup();
  await b.cleanup();
});

/** B takes A's last published state, as the watch would deliver it. */
async function sync(): Promise<void> {
  const state = published.at(-1)!;
  const warnings = await b.service.applyReplicated(async (local) => ({ state, warnings: await convergeEngine(b.engine, local.config, state.config) }));
  expect(warnings).toEqual([]);
  expect(stateText(b.service.replicatedState())).toBe(stateText(a.service.replicatedState()));
  // B's engine serves what B stores (as A's serves what A stores).
  expect(b.service.config().targets.map((t) => JSON.stringify(t))).toEqual([...b.engine.targets.values()].map((t) => JSON.stringify(snapshotTarget(t))));
}

describe("converging a node's engine to the cluster's configuration", () => {
  it("follows every kind of change and keeps unchanged objects live", async () => {
    await a.service.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 4 << 20 });
    await a.service.createStorageObject({ plugin: "ramdisk", name: "rd1", size: 4 << 20 });
    await a.service.createTarget({ wwn: IQN });
    await a.service.createLun(IQN, 1, "/backstores/ramdisk/rd0");
    await a.service.createPortal(IQN, 1, "127.0.0.1", 3299);
    await sync();
    // The same LU identity on both nodes (unit serial generated once, on A).
    expect(b.engine.storageObject("ramdisk", "rd0").wwn).toBe(a.engine.storageObject("ramdisk", "rd0").wwn);
    const so0 = b.engine.storageObject("ramdisk", "rd0");
    const tpg1 = b.engine.tpg(IQN, 1);
    const lun0 = tpg1.luns.get(0);

    await a.service.createNodeAcl(IQN, 1, INIT, { chap: { userid: "u", password: "secret-secret1" } });
    await a.service.createLun(IQN, 1, "/backstores/ramdisk/rd1");
    await a.service.setTpgAttributes(IQN, 1, { authentication: 1 });
    await a.service.setTpgParameters(IQN, 1, { MaxBurstLength: "131072" });
    await a.service.setNodeAclAuth(IQN, 1, INIT, { userid: "u2", password: "secret-secret2" });
    await a.service.updateNodeAcl(IQN, 1, INIT, { aclTag: "hosts", cmdsnDepth: 32, attributes: { dataout_timeout: 5 } });
    await a.service.setMappedLunWriteProtect(IQN, 1, INIT, 1, true);
    await a.service.setStorageObjectAttributes("ramdisk", "rd0", { emulate_tpu: 1 });
    await a.service.createAluaGroup("ramdisk", "rd1", "gw_a", 10);
    await a.service.setLunAluaGroup(IQN, 1, 1, "gw_a");
    await a.service.createTpg(IQN, 2);
    await a.service.setTpgNode(IQN, 2, "gw-b");
    await a.service.setDiscoveryAuth({ enabled: true, userid: "disc", password: "discovery-secret" });
    await a.service.setSettings({ autoAddMappedLuns: false });
    await sync();
    expect(b.engine.nodeAcl(IQN, 1, INIT).chap.userid).toBe("u2");
    expect(b.engine.nodeAcl(IQN, 1, INIT).mappedLuns.get(1)?.writeProtect).toBe(true);
    expect(b.engine.tpg(IQN, 1).parameters.AuthMethod).toBe("CHAP");
    expect(b.engine.tpg(IQN, 2).node).toBe("gw-b");
    expect(b.engine.discoveryAuth).toMatchObject({ enabled: true, userid: "disc" });
    expect(b.service.settings().autoAddMappedLuns).toBe(false);
    // Nothing unchanged was rebuilt: the same storage object, TPG and LUN objects serve on.
    expect(b.engine.storageObject("ramdisk", "rd0")).toBe(so0);
    expect(b.engine.tpg(IQN, 1)).toBe(tpg1);
    expect(b.engine.tpg(IQN, 1).luns.get(0)).toBe(lun0);

    await a.service.deleteMappedLun(IQN, 1, INIT, 1);
    await a.service.deleteLun(IQN, 1, 1);
    await a.service.deleteAluaGroup("ramdisk", "rd1", "gw_a");
    await a.service.deletePortal(IQN, 1, "127.0.0.1", 3299);
    await a.service.deleteTpg(IQN, 2);
    await a.service.setDiscoveryAuth({ enabled: false });
    await sync();
    expect(b.engine.tpg(IQN, 1).luns.has(1)).toBe(false);
    expect(b.engine.tpg(IQN, 1)).toBe(tpg1);

    await a.service.deleteNodeAcl(IQN, 1, INIT);
    await a.service.deleteTarget(IQN);
    await a.service.deleteStorageObject("ramdisk", "rd1");
    await sync();
    expect(b.engine.targets.size).toBe(0);
    expect([...b.engine.storageObjects.keys()]).toEqual(["ramdisk/rd0"]);
  });

  it("a storage object replaced under the same name is closed and opened again, with its LUNs", async () => {
    await a.service.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 4 << 20 });
    await a.service.createTarget({ wwn: IQN });
    await a.service.createLun(IQN, 1, "/backstores/ramdisk/rd0");
    await sync();
    const before = b.engine.storageObject("ramdisk", "rd0");
    const doc = JSON.parse(a.service.exportSaveconfig({ secrets: true }));
    doc.storage_objects[0].size = 8 << 20; // a ramdisk cannot grow in place
    doc.storage_objects[0].wwn = "5a5a5a5a-1111-4222-8333-444455556666";
    await a.service.importSaveconfig(doc, { clear: true });
    await sync();
    const after = b.engine.storageObject("ramdisk", "rd0");
    expect(after).not.toBe(before);
    expect(after.wwn).toBe("5a5a5a5a-1111-4222-8333-444455556666");
    expect(b.engine.tpg(IQN, 1).luns.get(0)?.storageObject).toBe(after);
  });

  it("a change the replica refuses leaves nothing on the node that made it", async () => {
    await a.service.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 4 << 20 });
    await a.service.createTarget({ wwn: IQN });
    const rows = tableCounts(a.db);
    const text = stateText(a.service.replicatedState());
    refuse = "the configuration was changed on node gw-b meanwhile (cluster revision 7): nothing was changed here; reload and retry";
    await expect(a.service.createLun(IQN, 1, "/backstores/ramdisk/rd0")).rejects.toThrow(/changed on node gw-b meanwhile/);
    await expect(a.service.createNodeAcl(IQN, 1, INIT)).rejects.toThrow(/changed on node gw-b meanwhile/);
    expect(tableCounts(a.db)).toEqual(rows);
    expect(stateText(a.service.replicatedState())).toBe(text);
    expect(a.engine.tpg(IQN, 1).luns.size).toBe(0);
    expect(a.engine.tpg(IQN, 1).nodeAcls.size).toBe(0);
  });

  it("an object that fails on the applying node is a warning; the rest is applied, and stored as the cluster has it", async () => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    // B may keep fileio files only under its own storage root (a node-local setting, never published).
    const rootB = path.join(b.dir, "root");
    fs.mkdirSync(rootB);
    await b.service.setSettings({ storageRoots: [rootB] });
    await a.service.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 4 << 20 });
    await a.service.createStorageObject({ plugin: "fileio", name: "f0", dev: path.join(a.dir, "f0.img"), size: 1 << 20 });
    await a.service.createTarget({ wwn: IQN });
    await a.service.createLun(IQN, 1, "/backstores/ramdisk/rd0");
    await a.service.createLun(IQN, 1, "/backstores/fileio/f0");
    const state = published.at(-1)!;
    const warnings = await b.service.applyReplicated(async (local) => ({ state, warnings: await convergeEngine(b.engine, local.config, state.config) }));
    expect(warnings!.map((w) => w.object)).toEqual(["/backstores/fileio/f0", `/iscsi/${IQN}/tpg1/luns/lun1`]);
    expect(warnings![0]!.reason).toMatch(/storage root|outside/i);
    expect(b.service.warnings).toEqual(warnings);
    expect(b.engine.tpg(IQN, 1).luns.size).toBe(1);
    expect(b.engine.storageObjects.has("fileio/f0")).toBe(false);
    // Stored as the cluster has it (a later document, or a restart, tries the object again).
    expect(stateText(b.service.replicatedState())).toBe(stateText(a.service.replicatedState()));
    // B's own setting stayed B's.
    expect(b.service.settings().storageRoots).toEqual([rootB]);
  });

  it("the ACL tag: a document from a node on the code before the rename (`tag` on the ACL) applies with its tags; this node writes aclTag and, for such nodes, tag", async () => {
    await a.service.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 4 << 20 });
    await a.service.createTarget({ wwn: IQN });
    await a.service.createLun(IQN, 1, "/backstores/ramdisk/rd0");
    await a.service.createNodeAcl(IQN, 1, INIT, { aclTag: "hosts" });
    await a.service.createNodeAcl(IQN, 1, "iqn.2024-01.org.example:host2");
    const state = published.at(-1)!;
    const written = JSON.parse(encodeDoc({ format: DOC_FORMAT, node: "gw-a", at: "2026-12-03T07:00:00.000Z", ...state }));
    const tpg = written.config.targets[0].tpgs[0];
    expect(tpg.tag).toBe(1); // the TPG's tag is the TPG's
    expect(tpg.nodeAcls.map((x: Record<string, unknown>) => [x.aclTag, x.tag])).toEqual([
      ["hosts", "hosts"],
      [undefined, undefined],
    ]);
    // What the previous code wrote: the ACL's tag under `tag` only.
    for (const x of tpg.nodeAcls) delete x.aclTag;
    const old = decodeDoc(JSON.stringify(written));
    expect(old.config.targets[0]!.tpgs[0]!.nodeAcls.map((x) => x.aclTag)).toEqual(["hosts", undefined]);
    expect(JSON.stringify(old.config)).not.toMatch(/"tag":"hosts"/);
    expect(stateText(old)).toBe(stateText(state));
    const warnings = await b.service.applyReplicated(async (local) => ({ state: old, warnings: await convergeEngine(b.engine, local.config, old.config) }));
    expect(warnings).toEqual([]);
    expect(b.engine.nodeAcl(IQN, 1, INIT).aclTag).toBe("hosts");
    expect(b.service.config().targets[0]!.tpgs[0]!.nodeAcls[0]!.aclTag).toBe("hosts");
    expect(stateText(b.service.replicatedState())).toBe(stateText(a.service.replicatedState()));
  });
});

/**
 * Ownership's pure rules (server/cluster/ownership.ts) on a real engine: which ALUA groups belong
 * to which node (all member ports in that node's TPGs), the state each node's groups report for an
 * owner record, and the engine's runtime state change (2Ah/06h raised, not handed to onAluaChange
 * to be stored) and fence hook.
 */
import { afterEach, describe, expect, it } from "vitest";
import { desiredState, groupsByNode, type OwnerRecord } from "@/server/cluster/ownership";
import { AluaState } from "@/server/engine/scsi/alua";
import { makeEngine } from "../config/helpers";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.ownership01";
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function twoNodeEngine() {
  const engine = makeEngine();
  cleanup = () => engine.shutdown();
  await engine.createStorageObject({ plugin: "ramdisk", name: "lu0", size: 1 << 20 });
  engine.createAluaGroup("ramdisk", "lu0", "gw-a", 1);
  engine.createAluaGroup("ramdisk", "lu0", "gw-b", 2);
  engine.createAluaGroup("ramdisk", "lu0", "mixed", 3);
  engine.createTarget(IQN);
  engine.createTpg(IQN, 1, { node: "gw-a" });
  engine.createTpg(IQN, 2, { node: "gw-b" });
  engine.createTpg(IQN, 3, { node: "gw-a" });
  engine.createTpg(IQN, 4);
  engine.createLun(IQN, 1, "ramdisk/lu0", { aluaGroup: "gw-a" });
  engine.createLun(IQN, 2, "ramdisk/lu0", { aluaGroup: "gw-b" });
  engine.createLun(IQN, 3, "ramdisk/lu0", { aluaGroup: "gw-a" });
  engine.createLun(IQN, 4, "ramdisk/lu0", { aluaGroup: "mixed" });
  return { engine, so: engine.storageObject("ramdisk", "lu0") };
}

const rec = (node: string, phase: OwnerRecord["phase"]): OwnerRecord => ({ node, phase, addr: null, since: "", pid: 1, peer: "127.0.0.1:1", token: "t" });

describe("ownership rules", () => {
  it("a group belongs to a node when every member port is in that node's TPGs; empty, mixed and node-less groups belong to none", async () => {
    const { so } = await twoNodeEngine();
    const m = groupsByNode(so);
    expect([...m.keys()].sort()).toEqual(["gw-a", "gw-b"]);
    expect(m.get("gw-a")!.map((g) => g.name)).toEqual(["gw-a"]);
    expect(m.get("gw-a")![0]!.memberPorts()).toHaveLength(2);
    expect(m.get("gw-b")!.map((g) => g.name)).toEqual(["gw-b"]);
  });

  it("the owner's group is Active/Optimized once active, Transitioning while it takes or hands over; the others Active/Non-optimized (forwarding), Transitioning while no owner is active", () => {
    // Seen from gw-b, gw-a owning (its owner key names its peer link).
    expect(desiredState("gw-a", "gw-b", rec("gw-a", "active"), false, false)).toBe(AluaState.ACTIVE_OPTIMIZED);
    expect(desiredState("gw-a", "gw-b", rec("gw-a", "acquiring"), false, false)).toBe(AluaState.TRANSITIONING);
    expect(desiredState("gw-a", "gw-b", rec("gw-a", "releasing"), false, false)).toBe(AluaState.TRANSITIONING);
    expect(desiredState("gw-a", "gw-b", rec("gw-a", "released"), false, false)).toBe(AluaState.TRANSITIONING);
    expect(desiredState("gw-b", "gw-b", rec("gw-a", "active"), false, false)).toBe(AluaState.ACTIVE_NON_OPTIMIZED);
    expect(desiredState("gw-c", "gw-b", rec("gw-a", "active"), false, false)).toBe(AluaState.ACTIVE_NON_OPTIMIZED);
    expect(desiredState("gw-b", "gw-b", rec("gw-a", "acquiring"), false, false)).toBe(AluaState.TRANSITIONING);
    expect(desiredState("gw-c", "gw-b", rec("gw-a", "releasing"), false, false)).toBe(AluaState.TRANSITIONING);
    // No owner at all (an election under way): every group Transitioning, retried on the same path.
    expect(desiredState("gw-a", "gw-b", null, false, false)).toBe(AluaState.TRANSITIONING);
    expect(desiredState("gw-b", "gw-b", null, false, false)).toBe(AluaState.TRANSITIONING);
    // An owner without a peer link (it could not listen): nothing to forward to, Standby as before.
    const noPeer = { ...rec("gw-a", "active"), peer: null };
    expect(desiredState("gw-b", "gw-b", noPeer, false, false)).toBe(AluaState.STANDBY);
    expect(desiredState("gw-a", "gw-b", noPeer, false, false)).toBe(AluaState.ACTIVE_OPTIMIZED);
    // This node may not forward (fenced, no lease, checking whether it was blocklisted): Standby.
    expect(desiredState("gw-b", "gw-b", rec("gw-a", "active"), false, false, false)).toBe(AluaState.STANDBY);
    expect(desiredState("gw-b", "gw-b", null, false, false, false)).toBe(AluaState.STANDBY);
    // This node's own groups follow what it really does, not a record naming it (a stale one after a lost lease).
    expect(desiredState("gw-b", "gw-b", rec("gw-b", "active"), false, false)).toBe(AluaState.TRANSITIONING);
    expect(desiredState("gw-b", "gw-b", rec("gw-b", "active"), false, false, false)).toBe(AluaState.STANDBY);
    expect(desiredState("gw-b", "gw-b", rec("gw-b", "active"), true, false)).toBe(AluaState.ACTIVE_OPTIMIZED);
    expect(desiredState("gw-b", "gw-b", rec("gw-b", "acquiring"), false, true)).toBe(AluaState.TRANSITIONING);
  });

  it("runtime state changes raise the unit attention path but are not handed to onAluaChange (not configuration)", async () => {
    const { engine, so } = await twoNodeEngine();
    const stored: string[] = [];
    engine.onAluaChange = (_so, g) => stored.push(g.name);
    await engine.setAluaGroupRuntimeState("ramdisk", "lu0", "gw-b", AluaState.STANDBY);
    expect(so.aluaGroups.get("gw-b")!.state).toBe(AluaState.STANDBY);
    expect(so.aluaGroups.get("gw-b")!.attributes.alua_access_status).toBe(2); // altered by implicit ALUA
    expect(stored).toEqual([]);
    await engine.setAluaGroupAttributes("ramdisk", "lu0", "gw-a", { alua_access_state: AluaState.STANDBY });
    expect(stored).toEqual(["gw-a"]);
    await expect(engine.setAluaGroupRuntimeState("ramdisk", "lu0", "nope", AluaState.STANDBY)).rejects.toThrow(/nope/);
    // Backstores without fencing ignore the fence hook.
    expect(() => engine.fenceStorageObject("ramdisk", "lu0", "test")).not.toThrow();
    expect(() => engine.forwardStorageObject("ramdisk", "lu0", undefined)).not.toThrow();
  });
});

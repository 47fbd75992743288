/**
 * "Configuration you can trust": a value Portico cannot honour is refused with a clear
 * reason at the API (service → engine) and reported by name at saveconfig import; values
 * that are accepted change what the engine does (prod_mode_write_protect, demo_mode_discovery,
 * MaxXmitDataSegmentLength).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sendTargets } from "@/server/engine/iscsi/discovery";
import { Negotiation } from "@/server/engine/iscsi/negotiation";
import { itNexus } from "@/server/engine/scsi/types";
import { makeFixture, type Fixture } from "./helpers";

const TARGET = "iqn.2024-01.com.example:honoured";
const INITIATOR = "iqn.2024-01.com.example:host1";
const OTHER = "iqn.2024-01.com.example:host2";

let fx: Fixture;
beforeEach(async () => {
  fx = makeFixture();
  await fx.service.createTarget({ wwn: TARGET });
});
afterEach(async () => {
  await fx.cleanup();
});

describe("refused at the API with the attribute and the reason", () => {
  it.each([
    ["random_r2t_offsets", 1, /random_r2t_offsets=1 is not supported: Portico sends R2Ts in order \(DataSequenceInOrder=Yes\)/],
    ["random_datain_pdu_offsets", 1, /random_datain_pdu_offsets=1 is not supported: .*DataPDUInOrder=Yes/],
    ["random_datain_seq_offsets", 1, /random_datain_seq_offsets=1 is not supported: .*DataSequenceInOrder=Yes/],
    ["default_erl", 1, /default_erl=1 is not supported: Portico implements ErrorRecoveryLevel 0 only/],
  ])("node ACL %s=%i", async (name, value, message) => {
    await expect(fx.service.createNodeAcl(TARGET, 1, INITIATOR, { attributes: { [name]: value } })).rejects.toThrow(message);
    expect(fx.engine.tpg(TARGET, 1).aclFor(INITIATOR)).toBeUndefined();
    await fx.service.createNodeAcl(TARGET, 1, INITIATOR);
    await expect(fx.service.updateNodeAcl(TARGET, 1, INITIATOR, { attributes: { nopin_timeout: 20, [name]: value } })).rejects.toThrow(message);
    // All or none: the valid change in the same request is not applied either.
    expect(fx.engine.nodeAcl(TARGET, 1, INITIATOR).attributes.nopin_timeout).toBe(15);
    expect(fx.engine.nodeAcl(TARGET, 1, INITIATOR).attributes[name]).toBe(0);
  });

  it.each([
    ["default_erl", 2, /default_erl=2 is not supported: Portico implements ErrorRecoveryLevel 0 only/],
    ["t10_pi", 1, /t10_pi=1 is not supported: T10 protection information/],
    ["fabric_prot_type", 3, /fabric_prot_type=3 is not supported: T10 protection information/],
    ["login_keys_workaround", 0, /login_keys_workaround=0 is not supported/],
  ])("TPG attribute %s=%i", async (name, value, message) => {
    await expect(fx.service.setTpgAttributes(TARGET, 1, { [name]: value })).rejects.toThrow(message);
    expect(fx.engine.tpg(TARGET, 1).attributes[name]).not.toBe(value);
  });

  it.each([
    ["ErrorRecoveryLevel", "1", /ErrorRecoveryLevel can only be 0/],
    ["DataPDUInOrder", "No", /DataPDUInOrder can only be Yes: Portico accepts Data-Out PDUs only in order/],
    ["DataSequenceInOrder", "No", /DataSequenceInOrder can only be Yes/],
    ["MaxConnections", "2", /MaxConnections can only be 1/],
    ["IFMarker", "Yes", /IFMarker can only be No/],
  ])("TPG parameter %s=%s", async (name, value, message) => {
    await expect(fx.service.setTpgParameters(TARGET, 1, { [name]: value })).rejects.toThrow(message);
  });

  it("accepts the values Portico runs with", async () => {
    await fx.service.createNodeAcl(TARGET, 1, INITIATOR, { attributes: { random_r2t_offsets: 0, default_erl: 0, dataout_timeout: 10 } });
    expect(fx.engine.nodeAcl(TARGET, 1, INITIATOR).attributes.dataout_timeout).toBe(10);
    await fx.service.setTpgAttributes(TARGET, 1, { default_erl: 0, t10_pi: 0, netif_timeout: 5 });
    expect(fx.engine.tpg(TARGET, 1).attributes.netif_timeout).toBe(5);
  });
});

describe("saveconfig import", () => {
  it("reports unsupported values by name as not honoured and imports the rest", async () => {
    const doc = {
      storage_objects: [],
      targets: [{
        wwn: "iqn.2024-01.com.example:imported", fabric: "iscsi",
        tpgs: [{
          tag: 1, enable: true,
          attributes: { default_erl: 1, t10_pi: 1, login_timeout: 20 },
          parameters: { ErrorRecoveryLevel: "2", DataSequenceInOrder: "No", MaxBurstLength: "131072" },
          luns: [], portals: [],
          node_acls: [{ node_wwn: INITIATOR, attributes: { random_r2t_offsets: 1, default_erl: 2, nopin_timeout: 20 }, mapped_luns: [] }],
        }],
      }],
    };
    const result = await fx.service.importSaveconfig(JSON.stringify(doc), { clear: true });
    expect(result.notHonoured).toEqual(expect.arrayContaining([
      "targets[0].tpgs[0].attributes.default_erl=1 not honoured: Portico implements ErrorRecoveryLevel 0 only (no SNACK, no connection recovery) (0 is used)",
      "targets[0].tpgs[0].attributes.t10_pi=1 not honoured: T10 protection information is not supported (0 is used)",
      "targets[0].tpgs[0].parameters.ErrorRecoveryLevel=2 not honoured: only ErrorRecoveryLevel 0 is implemented (0 is used)",
      "targets[0].tpgs[0].parameters.DataSequenceInOrder=No not honoured: Portico sends R2Ts and accepts Data-Out sequences only in order (Yes is used)",
      "targets[0].tpgs[0].node_acls[0].attributes.random_r2t_offsets=1 not honoured: Portico sends R2Ts in order (DataSequenceInOrder=Yes) (0 is used)",
      "targets[0].tpgs[0].node_acls[0].attributes.default_erl=2 not honoured: Portico implements ErrorRecoveryLevel 0 only (no SNACK, no connection recovery) (0 is used)",
    ]));
    const tpg = fx.engine.tpg("iqn.2024-01.com.example:imported", 1);
    expect(tpg.attributes).toMatchObject({ default_erl: 0, t10_pi: 0, login_timeout: 20 });
    expect(tpg.parameters).toMatchObject({ ErrorRecoveryLevel: "0", DataSequenceInOrder: "Yes", MaxBurstLength: "131072" });
    expect(tpg.aclFor(INITIATOR)!.attributes).toMatchObject({ random_r2t_offsets: 0, default_erl: 0, nopin_timeout: 20 });
  });
});

describe("accepted values change what the engine does", () => {
  it("prod_mode_write_protect=1 write-protects every mapped LUN of every ACL, live", async () => {
    await fx.service.createStorageObject({ plugin: "ramdisk", name: "r0", size: 1024 * 1024 });
    await fx.service.createLun(TARGET, 1, "/backstores/ramdisk/r0", { index: 0 });
    await fx.service.createNodeAcl(TARGET, 1, INITIATOR, { addMappedLuns: true });
    const tpg = fx.engine.tpg(TARGET, 1);
    const view = tpg.nexusView(itNexus(INITIATOR, "400001370000", TARGET, 1));
    expect(view.resolve(0)?.binding.writeProtect).toBe(false);
    await fx.service.setTpgAttributes(TARGET, 1, { prod_mode_write_protect: 1 });
    expect(view.resolve(0)?.binding.writeProtect).toBe(true);
    await fx.service.setTpgAttributes(TARGET, 1, { prod_mode_write_protect: 0 });
    expect(view.resolve(0)?.binding.writeProtect).toBe(false);
  });

  it("demo_mode_discovery=0 hides a demo-mode TPG from initiators without an ACL in SendTargets", async () => {
    await fx.service.createPortal(TARGET, 1, "127.0.0.1", 3999);
    await fx.service.setTpgAttributes(TARGET, 1, { generate_node_acls: 1 });
    await fx.service.createNodeAcl(TARGET, 1, INITIATOR);
    const names = (initiator: string) =>
      sendTargets(fx.engine.enabledTpgs(), initiator, "All", "127.0.0.1").filter(([k]) => k === "TargetName").map(([, v]) => v);
    expect(names(OTHER)).toEqual([TARGET]);
    await fx.service.setTpgAttributes(TARGET, 1, { demo_mode_discovery: 0 });
    expect(names(OTHER)).toEqual([]);
    expect(names(INITIATOR)).toEqual([TARGET]);
    // Discovery only: the initiator may still log in (demo mode admits it).
    expect(fx.engine.tpg(TARGET, 1).admits(OTHER)).toBe(true);
  });

  it("MaxXmitDataSegmentLength caps the Data-In PDU size whatever the initiator declares", () => {
    const n = new Negotiation();
    n.respond([["MaxRecvDataSegmentLength", "262144"]], { phase: "login", discovery: false, target: { MaxXmitDataSegmentLength: "65536", MaxRecvDataSegmentLength: "8192" } });
    expect(n.params().maxXmitDataSegmentLength).toBe(65536);
    const m = new Negotiation();
    m.respond([["MaxRecvDataSegmentLength", "16384"]], { phase: "login", discovery: false, target: { MaxXmitDataSegmentLength: "65536", MaxRecvDataSegmentLength: "8192" } });
    expect(m.params().maxXmitDataSegmentLength).toBe(16384);
  });
});

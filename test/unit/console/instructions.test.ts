/** Connection instructions built from the configuration (server/console/instructions.ts). */
import { describe, expect, it } from "vitest";
import { buildInstructions, MASK, shellQuote, type InstructionsModel } from "../../../server/console/instructions";

const T = "iqn.2003-01.org.example:t1";
const HOST1 = "iqn.2024-01.org.example:host1";
const HOST2 = "iqn.2024-01.org.example:host2";

function model(over: Partial<InstructionsModel["tpg"]> = {}, discoveryAuth: InstructionsModel["discoveryAuth"] = { enabled: false }): InstructionsModel {
  return {
    target: T,
    discoveryAuth,
    tpg: {
      tag: 1,
      enabled: true,
      attributes: { generate_node_acls: 1, authentication: 0 },
      chap: {},
      luns: [{ index: 0 }, { index: 1 }],
      portals: [{ ip: "192.0.2.10", port: 3260 }],
      nodeAcls: [],
      ...over,
    },
  };
}

const acl = (initiatorName: string, chap = {}, mappedLuns = [{ index: 0, tpgLun: 0 }]) => ({ initiatorName, chap, mappedLuns });

describe("connection instructions", () => {
  it("demo mode without CHAP: any initiator, plain URL, no name to set, no auth lines", () => {
    const r = buildInstructions(model(), { wildcardHost: "h" });
    expect([r.access, r.chapRequired, r.portal?.address, r.warnings]).toEqual(["demo", false, "192.0.2.10:3260", []]);
    expect(r.initiators).toHaveLength(1);
    const i = r.initiators[0];
    expect([i.initiatorName, i.chap, i.problem, i.luns]).toEqual([null, null, null, [0, 1]]);
    expect(i.url).toBe(`iscsi://192.0.2.10:3260/${T}/0`);
    expect(i.linux).not.toContain("node.session.auth");
    expect(i.linux).not.toContain("initiatorname.iscsi");
    expect(i.libiscsi.split("\n").filter((l) => !l.startsWith("#"))).toEqual([`iscsi-ls iscsi://192.0.2.10:3260`, `iscsi-inq iscsi://192.0.2.10:3260/${T}/0`]);
    expect(i.qemu.split("\n")[0]).toBe(`qemu-img info iscsi://192.0.2.10:3260/${T}/0`);
  });

  it("ACL without CHAP: lists the allowed names and how each initiator sets its own", () => {
    const r = buildInstructions(model({ attributes: { generate_node_acls: 0 }, nodeAcls: [acl(HOST1), acl(HOST2, {}, [{ index: 3, tpgLun: 1 }])] }), { wildcardHost: "h" });
    expect(r.access).toBe("acl");
    expect(r.allowedInitiators).toEqual([HOST1, HOST2]);
    expect(r.initiators.map((i) => i.initiatorName)).toEqual([HOST1, HOST2]);
    const [a, b] = r.initiators;
    expect(a.linux).toContain(`echo 'InitiatorName=${HOST1}' | sudo tee /etc/iscsi/initiatorname.iscsi`);
    expect(a.libiscsi).toContain(`iscsi-inq -i ${HOST1} iscsi://192.0.2.10:3260/${T}/0`);
    expect(a.qemu).toContain(`initiator-name=${HOST1}`);
    expect(a.qemu).toContain(`-iscsi initiator-name=${HOST1}`);
    expect(a.windows.join("\n")).toContain(`\`${HOST1}\``);
    expect(a.esxi.join("\n")).toContain(`\`${HOST1}\``);
    // host2 sees its mapped LUN 3 (TPG LUN 1): the URL uses the LUN number the initiator sees.
    expect([b.luns, b.url]).toEqual([[3], `iscsi://192.0.2.10:3260/${T}/3`]);
  });

  it("ACL with CHAP: node.session.auth lines, user%secret in the URL, masked until revealed", () => {
    const m = model({ attributes: { generate_node_acls: 0, authentication: 1 }, nodeAcls: [acl(HOST1, { userid: "alice", password: "alicesecret12" })] });
    const masked = buildInstructions(m, { wildcardHost: "h" }).initiators[0];
    expect(JSON.stringify(masked)).not.toContain("alicesecret12");
    expect(masked.url).toBe(`iscsi://alice%${MASK}@192.0.2.10:3260/${T}/0`);
    expect(masked.chap).toEqual({ userid: "alice", secret: MASK, mutualUserid: null, mutualSecret: null });
    const r = buildInstructions(m, { wildcardHost: "h", reveal: true });
    expect([r.masked, r.chapRequired, r.warnings]).toEqual([false, true, []]);
    const i = r.initiators[0];
    expect(i.url).toBe(`iscsi://alice%alicesecret12@192.0.2.10:3260/${T}/0`);
    const node = `sudo iscsiadm -m node -T ${T} -p 192.0.2.10:3260`;
    expect(i.linux.split("\n")).toEqual(
      expect.arrayContaining([`${node} -o update -n node.session.auth.authmethod -v CHAP`, `${node} -o update -n node.session.auth.username -v alice`, `${node} -o update -n node.session.auth.password -v alicesecret12`]),
    );
    expect(i.linux).not.toContain("username_in");
    expect(i.qemu).toContain(`--object secret,id=chap0,data=alicesecret12 --image-opts driver=iscsi,transport=tcp,portal=192.0.2.10:3260,target=${T},lun=0,initiator-name=${HOST1},user=alice,password-secret=chap0`);
    expect(i.windows.join("\n")).toContain("name `alice`, target secret `alicesecret12`");
    expect(i.esxi.join("\n")).toContain("**Use CHAP**, name `alice`, secret `alicesecret12`");
  });

  it("mutual CHAP: username_in/password_in, target_user/target_password, Windows and ESXi mutual fields", () => {
    const chap = { userid: "alice", password: "alicesecret12", mutualUserid: "tgt", mutualPassword: "targetsecret12" };
    const i = buildInstructions(model({ attributes: { generate_node_acls: 0, authentication: 1 }, nodeAcls: [acl(HOST1, chap)] }), { wildcardHost: "h", reveal: true }).initiators[0];
    expect(i.linux).toContain("node.session.auth.username_in -v tgt");
    expect(i.linux).toContain("node.session.auth.password_in -v targetsecret12");
    expect(i.url).toBe(`iscsi://alice%alicesecret12@192.0.2.10:3260/${T}/0?target_user=tgt&target_password=targetsecret12`);
    // The ? and & need quoting in a shell.
    expect(i.libiscsi).toContain(`iscsi-inq -i ${HOST1} '${i.url}'`);
    expect(i.windows.join("\n")).toContain("**Perform mutual authentication**");
    expect(i.windows.join("\n")).toContain("`targetsecret12` as the initiator CHAP secret");
    expect(i.esxi.join("\n")).toContain("**Mutual CHAP authentication**: **Use CHAP**, name `tgt`, secret `targetsecret12`");
    expect(i.qemu).toContain("QEMU does one-way CHAP only");
  });

  it("warns when credentials are set but not required, and when required credentials are missing", () => {
    const unenforced = buildInstructions(model({ attributes: { generate_node_acls: 0, authentication: 0 }, nodeAcls: [acl(HOST1, { userid: "a", password: "alicesecret12" })] }), { wildcardHost: "h" });
    expect(unenforced.warnings.join("\n")).toMatch(/does not require CHAP \(authentication=0\)/);
    // The instructions still configure CHAP: an initiator that offers it is verified.
    expect(unenforced.initiators[0].chap?.userid).toBe("a");
    const missing = buildInstructions(model({ attributes: { generate_node_acls: 0, authentication: 1 }, nodeAcls: [acl(HOST1)] }), { wildcardHost: "h" });
    expect(missing.initiators[0].problem).toMatch(/CHAP is required but the ACL of .*host1 has no CHAP credentials/);
    const nothing = buildInstructions(model({ attributes: { generate_node_acls: 0 }, portals: [], enabled: false }), { wildcardHost: "h" });
    expect(nothing.warnings).toEqual([
      "tpg1 has no portal: add one before an initiator can connect",
      "tpg1 is disabled: logins are refused until it is enabled",
      "tpg1 has no node ACL and is not in demo mode: no initiator may log in. Add an ACL with the initiator's name.",
    ]);
    const noLun = buildInstructions(model({ attributes: { generate_node_acls: 0 }, nodeAcls: [acl(HOST1, {}, [])] }), { wildcardHost: "h" });
    expect(noLun.initiators[0].problem).toMatch(/No LUN is mapped/);
  });

  it("wildcard and IPv6 portals, other portals for multipath", () => {
    const r = buildInstructions(model({ portals: [{ ip: "0.0.0.0", port: 3260 }, { ip: "[2001:db8::1]", port: 3261 }] }), { wildcardHost: "nas.example" });
    expect(r.portal).toEqual({ host: "nas.example", port: 3260, address: "nas.example:3260" });
    expect(r.otherPortals).toEqual(["[2001:db8::1]:3261"]);
    const v6 = buildInstructions(model({ portals: [{ ip: "[2001:db8::1]", port: 3261 }] }), { wildcardHost: "h" });
    expect(v6.initiators[0].url).toBe(`iscsi://[2001:db8::1]:3261/${T}/0`);
  });

  it("credentials libiscsi's URL parser cannot carry go in LIBISCSI_CHAP_* variables, quoted for the shell", () => {
    const i = buildInstructions(model({ attributes: { generate_node_acls: 0, authentication: 1 }, nodeAcls: [acl(HOST1, { userid: "a@b", password: "it's%secret@1" })] }), { wildcardHost: "h", reveal: true }).initiators[0];
    expect(i.url).toBe(`iscsi://192.0.2.10:3260/${T}/0`);
    expect(i.libiscsi).toContain(`LIBISCSI_CHAP_USERNAME=a@b LIBISCSI_CHAP_PASSWORD='it'\\''s%secret@1' iscsi-inq -i ${HOST1}`);
    expect(i.linux).toContain(`node.session.auth.password -v 'it'\\''s%secret@1'`);
    expect(shellQuote("plain.word:1")).toBe("plain.word:1");
  });

  it("one initiator for a session's detail: its ACL, or demo mode's entry with its own name", () => {
    const m = model({ nodeAcls: [acl(HOST1, { userid: "alice", password: "alicesecret12" })], chap: { userid: "demo", password: "demosecret123" } });
    const own = buildInstructions(m, { wildcardHost: "h", initiatorName: HOST1.toUpperCase() });
    expect(own.initiators.map((i) => [i.initiatorName, i.chap?.userid])).toEqual([[HOST1, "alice"]]);
    const other = buildInstructions(m, { wildcardHost: "h", initiatorName: HOST2 });
    expect(other.initiators.map((i) => [i.initiatorName, i.chap?.userid])).toEqual([[HOST2, "demo"]]);
    const none = buildInstructions(model({ attributes: { generate_node_acls: 0 }, nodeAcls: [acl(HOST1)] }), { wildcardHost: "h", initiatorName: HOST2 });
    expect(none.initiators).toEqual([]);
  });

  it("discovery authentication adds the discoverydb lines", () => {
    const i = buildInstructions(model({}, { enabled: true, userid: "disc", password: "discsecret123" }), { wildcardHost: "h", reveal: true }).initiators[0];
    expect(i.linux).toContain("discovery.sendtargets.auth.username -v disc");
    expect(i.linux).toContain("sudo iscsiadm -m discoverydb -t sendtargets -p 192.0.2.10:3260 --discover");
    // iscsi-ls is a discovery session: it authenticates with the discovery credentials.
    expect(i.libiscsi).toContain("iscsi-ls iscsi://disc%discsecret123@192.0.2.10:3260");
  });
});

import { describe, expect, it } from "vitest";
import { Engine } from "../../../server/engine/core/engine";
import { ChapExchange, chapResponse } from "../../../server/engine/iscsi/chap";
import { LoginMachine, type LoginEnv } from "../../../server/engine/iscsi/login";
import type { LoginRequestHeader } from "../../../server/engine/iscsi/pdu";
import { encodeText } from "../../../server/engine/iscsi/text";

const T = "iqn.2024-01.org.portico.test:t";
const I = "iqn.2024-01.org.portico.test:i";

function setup(attributes: Record<string, number> = { generate_node_acls: 1 }) {
  const engine = new Engine({ openBackstore: async () => { throw new Error("unused"); }, createDevice: () => ({ execute: async () => ({ status: 0 }) }) });
  engine.createTarget(T);
  const tpg = engine.createTpg(T, 1, { attributes });
  tpg.portals.add("127.0.0.1:3260");
  const env: LoginEnv = {
    listenerKey: "127.0.0.1:3260",
    findTpg: (name) => engine.tpgForLogin(name, "127.0.0.1:3260"),
    discoveryAuth: () => ({ required: engine.discoveryAuth.enabled, credentials: engine.discoveryAuth.userid ? engine.discoveryAuth : undefined }),
    startChap: (c) => new ChapExchange(c, { random: (n) => Buffer.alloc(n, 7) }),
  };
  return { engine, tpg, env };
}

function req(over: Partial<LoginRequestHeader> = {}): LoginRequestHeader {
  return { immediate: true, transit: true, cont: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0, isid: "400001370000", tsih: 0, itt: 1, cid: 0, cmdSN: 1, expStatSN: 0, ...over };
}
const keys = (o: Record<string, string>) => encodeText(Object.entries(o));
const asMap = (pairs: [string, string][]) => Object.fromEntries(pairs);

describe("login state machine", () => {
  it("completes a one-PDU operational login and answers TargetPortalGroupTag", () => {
    const { env } = setup();
    const m = new LoginMachine(env);
    const r = m.handle(req(), keys({ InitiatorName: I, TargetName: T, HeaderDigest: "CRC32C,None" }));
    expect(r.outcome).toBe("complete");
    expect(asMap(r.keys)).toMatchObject({ TargetPortalGroupTag: "1", HeaderDigest: "CRC32C" });
    expect(m.params().headerDigest).toBe(true);
  });

  it("security stage with AuthMethod=None, then operational", () => {
    const { env } = setup();
    const m = new LoginMachine(env);
    const r1 = m.handle(req({ csg: 0, nsg: 1 }), keys({ InitiatorName: I, TargetName: T, AuthMethod: "None" }));
    expect([r1.outcome, r1.transit, r1.nsg, asMap(r1.keys).AuthMethod]).toEqual(["continue", true, 1, "None"]);
    const r2 = m.handle(req({ csg: 1, nsg: 3 }), keys({ MaxBurstLength: "65536" }));
    expect(r2.outcome).toBe("complete");
  });

  it("status details: missing parameter, not found, forbidden, disabled, version", () => {
    const { env, engine } = setup({ generate_node_acls: 0 });
    const st = (h: LoginRequestHeader, o: Record<string, string>) => new LoginMachine(env).handle(h, keys(o)).failure?.status;
    expect(st(req(), { TargetName: T })).toBe(0x0207);
    expect(st(req(), { InitiatorName: I })).toBe(0x0207);
    expect(st(req(), { InitiatorName: I, TargetName: "iqn.2024-01.org.nowhere:x" })).toBe(0x0203);
    expect(st(req(), { InitiatorName: I, TargetName: T })).toBe(0x0202);
    expect(st(req({ versionMin: 2 }), { InitiatorName: I, TargetName: T })).toBe(0x0205);
    expect(st(req(), { InitiatorName: I, TargetName: T, SessionType: "Weird" })).toBe(0x0209);
    engine.createNodeAcl(T, 1, I);
    expect(st(req(), { InitiatorName: I, TargetName: T })).toBeUndefined();
    engine.tpg(T, 1).enabled = false;
    expect(st(req(), { InitiatorName: I, TargetName: T })).toBe(0x0301);
  });

  it("enforces CSG/NSG/T/C rules", () => {
    const { env } = setup();
    const id = { InitiatorName: I, TargetName: T };
    expect(new LoginMachine(env).handle(req({ transit: true, cont: true }), keys(id)).failure?.status).toBe(0x0200);
    expect(new LoginMachine(env).handle(req({ csg: 2 }), keys(id)).failure?.status).toBe(0x0200);
    expect(new LoginMachine(env).handle(req({ csg: 1, nsg: 1 }), keys(id)).failure?.status).toBe(0x0200);
    expect(new LoginMachine(env).handle(req({ csg: 1, nsg: 2 }), keys(id)).failure?.status).toBe(0x0200);
    const m = new LoginMachine(env);
    expect(m.handle(req({ csg: 0, nsg: 1, transit: false }), keys({ ...id, AuthMethod: "None" })).outcome).toBe("continue");
    // Jumping to CSG=1 while the target is still in the security stage.
    expect(m.handle(req({ csg: 1, nsg: 3 }), keys({})).failure?.status).toBe(0x0200);
    const m2 = new LoginMachine(env);
    m2.handle(req({ transit: false }), keys(id));
    expect(m2.handle(req({ isid: "400001370001" }), keys({})).failure?.status).toBe(0x0200);
  });

  it("gathers text continued with the C bit", () => {
    const { env } = setup();
    const m = new LoginMachine(env);
    const all = keys({ InitiatorName: I, TargetName: T, MaxBurstLength: "65536" });
    const r1 = m.handle(req({ transit: false, cont: true }), all.subarray(0, 10));
    expect([r1.outcome, r1.keys.length]).toEqual(["continue", 0]);
    const r2 = m.handle(req(), all.subarray(10));
    expect(r2.outcome).toBe("complete");
    expect(asMap(r2.keys).MaxBurstLength).toBe("65536");
  });

  it("a key sent twice across PDUs is a protocol error", () => {
    const { env } = setup();
    const m = new LoginMachine(env);
    m.handle(req({ transit: false }), keys({ InitiatorName: I, TargetName: T, MaxBurstLength: "65536" }));
    expect(m.handle(req(), keys({ MaxBurstLength: "65536" })).failure?.status).toBe(0x0200);
  });

  it("authentication=1 refuses AuthMethod=None and skipping the security stage (0x0201)", () => {
    const { env } = setup({ generate_node_acls: 1, authentication: 1 });
    expect(new LoginMachine(env).handle(req({ csg: 0, nsg: 1 }), keys({ InitiatorName: I, TargetName: T, AuthMethod: "None" })).failure?.status).toBe(0x0201);
    expect(new LoginMachine(env).handle(req(), keys({ InitiatorName: I, TargetName: T })).failure?.status).toBe(0x0201);
  });

  it("runs CHAP in the security stage with TPG credentials in demo mode", () => {
    const { env, engine } = setup({ generate_node_acls: 1, authentication: 1 });
    engine.setTpgAuth(T, 1, { userid: "u", password: "secret123456" });
    const m = new LoginMachine(env);
    const r1 = m.handle(req({ csg: 0, nsg: 1 }), keys({ InitiatorName: I, TargetName: T, AuthMethod: "CHAP,None" }));
    expect([r1.transit, asMap(r1.keys).AuthMethod]).toEqual([false, "CHAP"]);
    const r2 = asMap(m.handle(req({ csg: 0, nsg: 1, transit: false }), keys({ CHAP_A: "5,7" })).keys);
    expect(r2.CHAP_A).toBe("7");
    const resp = chapResponse("7", Number(r2.CHAP_I), "secret123456", Buffer.from(r2.CHAP_C.slice(2), "hex"));
    const r3 = m.handle(req({ csg: 0, nsg: 1 }), keys({ CHAP_N: "u", CHAP_R: `0x${resp.toString("hex")}` }));
    expect([r3.outcome, r3.transit, r3.nsg]).toEqual(["continue", true, 1]);
    expect(m.authMethod).toBe("CHAP");
    const bad = new LoginMachine(env);
    bad.handle(req({ csg: 0, nsg: 1 }), keys({ InitiatorName: I, TargetName: T, AuthMethod: "CHAP" }));
    bad.handle(req({ csg: 0, nsg: 1, transit: false }), keys({ CHAP_A: "5" }));
    const f = bad.handle(req({ csg: 0, nsg: 1 }), keys({ CHAP_N: "u", CHAP_R: `0x${"00".repeat(16)}` }));
    expect([f.failure?.status, f.failure?.reason]).toEqual([0x0201, "bad secret"]);
    expect(f.failure?.message).not.toContain("secret123456");
  });

  it("authentication=0: CHAP offered first against an ACL with credentials is run and verified (RFC 7143 §6.2.1, LIO)", () => {
    const { env, engine } = setup({ generate_node_acls: 0, authentication: 0 });
    engine.createNodeAcl(T, 1, I, { chap: { userid: "u", password: "secret123456" } });
    const start = (offer: string) => {
      const m = new LoginMachine(env);
      return { m, r: m.handle(req({ csg: 0, nsg: 1 }), keys({ InitiatorName: I, TargetName: T, AuthMethod: offer })) };
    };
    // A wrong secret fails: the target picked CHAP, so it does not fall back to None.
    const bad = start("CHAP,None");
    expect([bad.r.failure, asMap(bad.r.keys).AuthMethod]).toEqual([undefined, "CHAP"]);
    const c = asMap(bad.m.handle(req({ csg: 0, nsg: 1, transit: false }), keys({ CHAP_A: "5" })).keys);
    const wrong = chapResponse("5", Number(c.CHAP_I), "wrongsecret1", Buffer.from(c.CHAP_C.slice(2), "hex"));
    const f = bad.m.handle(req({ csg: 0, nsg: 1 }), keys({ CHAP_N: "u", CHAP_R: `0x${wrong.toString("hex")}` }));
    expect([f.outcome, f.failure?.status, f.failure?.reason]).toEqual(["fail", 0x0201, "bad secret"]);
    // The right secret logs in with CHAP.
    const good = start("CHAP,None");
    const g = asMap(good.m.handle(req({ csg: 0, nsg: 1, transit: false }), keys({ CHAP_A: "5" })).keys);
    const right = chapResponse("5", Number(g.CHAP_I), "secret123456", Buffer.from(g.CHAP_C.slice(2), "hex"));
    expect(good.m.handle(req({ csg: 0, nsg: 1 }), keys({ CHAP_N: "u", CHAP_R: `0x${right.toString("hex")}` })).outcome).toBe("continue");
    expect([good.m.authMethod, good.m.authenticated]).toEqual(["CHAP", true]);
    // An initiator that prefers None still gets None (authentication is not required).
    const none = start("None,CHAP");
    expect([none.r.failure, asMap(none.r.keys).AuthMethod, none.m.authenticated]).toEqual([undefined, "None", true]);
    // Without credentials on the ACL, CHAP is not supported and None is chosen.
    engine.createNodeAcl(T, 1, "iqn.2024-01.org.portico.test:nocreds", {});
    const m = new LoginMachine(env);
    const r = m.handle(req({ csg: 0, nsg: 1 }), keys({ InitiatorName: "iqn.2024-01.org.portico.test:nocreds", TargetName: T, AuthMethod: "CHAP,None" }));
    expect([r.failure, asMap(r.keys).AuthMethod]).toEqual([undefined, "None"]);
  });

  it("discovery needs no TargetName and answers Irrelevant for session keys", () => {
    const { env } = setup();
    const m = new LoginMachine(env);
    const r = m.handle(req(), keys({ InitiatorName: I, SessionType: "Discovery", MaxBurstLength: "4096" }));
    expect(r.outcome).toBe("complete");
    expect(asMap(r.keys).MaxBurstLength).toBe("Irrelevant");
  });
});

/** CHAP through the real fabric: ACL credentials, mutual CHAP, discovery auth, loginStats. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IscsiClient } from "../../support/iscsi-client";
import { TARGET, startTarget, type Harness } from "./harness";

const ALICE = "iqn.2024-01.org.portico.test:alice";
let h: Harness;
const clients: IscsiClient[] = [];

async function login(opts: Parameters<IscsiClient["login"]>[0]) {
  const c = await IscsiClient.connect(h.port);
  clients.push(c);
  return { c, r: await c.login({ targetName: TARGET, ...opts }) };
}

beforeAll(async () => {
  h = await startTarget({}, { generate_node_acls: 0, authentication: 1 });
  h.engine.createNodeAcl(TARGET, 1, ALICE, { chap: { userid: "alice", password: "alicesecret12", mutualUserid: "tgt", mutualPassword: "targetsecret12" } });
  h.engine.createMappedLun(TARGET, 1, ALICE, { index: 0, tpgLun: 0 });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await h.close();
});

describe("CHAP login", () => {
  it("logs in with one-way CHAP (SHA-256 preferred) and does IO", async () => {
    const { c, r } = await login({ initiatorName: ALICE, chap: { user: "alice", secret: "alicesecret12", algorithms: "5,7" } });
    expect(r.statusClass).toBe(0);
    expect(r.keys.CHAP_A).toBe("7");
    expect((await c.read10(0, 1)).status).toBe(0);
    expect(h.fabric.sessions().find((s) => s.tsih === r.tsih)?.authenticated).toBe(true);
  });

  it("accepts base64 responses and MD5", async () => {
    const { r } = await login({ initiatorName: ALICE, isid: "400001000002", chap: { user: "alice", secret: "alicesecret12", algorithms: "5", base64: true } });
    expect([r.statusClass, r.keys.CHAP_A]).toEqual([0, "5"]);
  });

  it("does mutual CHAP", async () => {
    const { r } = await login({ initiatorName: ALICE, isid: "400001000003", chap: { user: "alice", secret: "alicesecret12", mutual: { user: "tgt", secret: "targetsecret12" } } });
    expect(r.statusClass).toBe(0);
  });

  it("refuses a wrong secret, AuthMethod=None, a reflected challenge; counts the failures", async () => {
    const before = h.fabric.loginStats().failures.length;
    const bad = await login({ initiatorName: ALICE, isid: "400001000004", chap: { user: "alice", secret: "wrongsecret12" } });
    expect([bad.r.statusClass, bad.r.statusDetail]).toEqual([2, 1]);
    expect(await bad.c.closesWithin(3000)).toBe(true);
    const none = await login({ initiatorName: ALICE, isid: "400001000005", securityStage: true });
    expect([none.r.statusClass, none.r.statusDetail]).toEqual([2, 1]);
    const skip = await login({ initiatorName: ALICE, isid: "400001000006" });
    expect([skip.r.statusClass, skip.r.statusDetail]).toEqual([2, 1]);
    const stranger = await login({ initiatorName: "iqn.2024-01.org.portico.test:bob", chap: { user: "alice", secret: "alicesecret12" } });
    expect([stranger.r.statusClass, stranger.r.statusDetail]).toEqual([2, 2]);
    const stats = h.fabric.loginStats();
    const reasons = stats.failures.slice(before).map((f) => f.cause);
    expect(reasons).toEqual(["bad secret", "authentication required", "authentication required", "ACL denied"]);
    expect(stats.failures.at(-1)?.initiatorName).toBe("iqn.2024-01.org.portico.test:bob");
    expect(stats.successes).toBeGreaterThan(0);
    expect(h.logs.join("\n")).not.toContain("alicesecret12");
    expect(h.logs.join("\n")).not.toContain("wrongsecret12");
  });

  it("refuses a mutual CHAP challenge that reflects the target's own (0x0201)", async () => {
    const { c, r } = await login({ initiatorName: ALICE, isid: "400001000007", chap: { user: "alice", secret: "alicesecret12", reflect: true } });
    expect([r.statusClass, r.statusDetail]).toEqual([2, 1]);
    expect(await c.closesWithin(3000)).toBe(true);
    const { r: ok } = await login({ initiatorName: ALICE, isid: "400001000008", chap: { user: "alice", secret: "alicesecret12", forceChallenge: Buffer.alloc(16, 1), mutual: { user: "tgt", secret: "targetsecret12" } } });
    expect(ok.statusClass).toBe(0);
  });

  it("enforces discovery authentication when enabled", async () => {
    h.engine.discoveryAuth = { enabled: true, userid: "disc", password: "discsecret123" };
    try {
      const c1 = await IscsiClient.connect(h.port);
      clients.push(c1);
      const r1 = await c1.login({ discovery: true, initiatorName: ALICE });
      expect([r1.statusClass, r1.statusDetail]).toEqual([2, 1]);
      const c2 = await IscsiClient.connect(h.port);
      clients.push(c2);
      const r2 = await c2.login({ discovery: true, initiatorName: ALICE, chap: { user: "disc", secret: "discsecret123" } });
      expect(r2.statusClass).toBe(0);
      expect((await c2.sendTargets()).map((t) => t.name)).toEqual([TARGET]);
    } finally {
      h.engine.discoveryAuth = { enabled: false };
    }
  });
});

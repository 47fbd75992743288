/**
 * Login throttling per source address (issue 15 item 6): the pure rules of LoginThrottle, then
 * the real fabric over TCP: after the allowed failures an address is refused (0301) before its
 * login is evaluated (so the right credentials do not get in either: no guess is checked), while
 * another address (127.0.0.2, a second loopback source) and an established session carry on, and
 * the address gets in again once its refusal period ends.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoginThrottle } from "../../../server/engine/iscsi/throttle";
import { IscsiClient } from "../../support/iscsi-client";
import { TARGET, startTarget, type Harness } from "./harness";

describe("LoginThrottle", () => {
  const opts = { failures: 3, baseDelayMs: 1000, maxDelayMs: 8000, forgetAfterMs: 60_000, maxAddresses: 3 };

  it("refuses an address after N failures, doubling the period up to the maximum", () => {
    const t = new LoginThrottle(opts);
    expect([t.failed("10.0.0.1", 0), t.failed("10.0.0.1", 1)]).toEqual([0, 0]);
    expect(t.refusal("10.0.0.1", 2)).toBeUndefined();
    expect(t.failed("10.0.0.1", 2)).toBe(1000);
    expect(t.refusal("10.0.0.1", 3)).toEqual({ address: "10.0.0.1", failures: 3, retryAfterMs: 999 });
    expect(t.refusal("10.0.0.1", 1002)).toBeUndefined();
    expect([t.failed("10.0.0.1", 1100), t.failed("10.0.0.1", 1200), t.failed("10.0.0.1", 1300), t.failed("10.0.0.1", 1400)]).toEqual([2000, 4000, 8000, 8000]);
    expect(t.refusal("10.0.0.1", 9000)?.retryAfterMs).toBe(400);
  });

  it("judges each address alone and forgets a quiet one", () => {
    const t = new LoginThrottle(opts);
    for (let i = 0; i < 3; i++) t.failed("10.0.0.1", i);
    expect(t.refusal("10.0.0.1", 10)).toBeDefined();
    expect(t.refusal("10.0.0.2", 10)).toBeUndefined();
    expect(t.failed("10.0.0.2", 10)).toBe(0);
    // After forgetAfterMs without a failure the count starts again.
    expect(t.failed("10.0.0.1", 70_000)).toBe(0);
    expect(t.refusal("10.0.0.1", 70_001)).toBeUndefined();
  });

  it("remembers a bounded number of addresses, forgetting the least recently failed", () => {
    const t = new LoginThrottle(opts);
    for (const a of ["a", "b", "c"]) for (let i = 0; i < 3; i++) t.failed(a, i);
    t.failed("a", 5); // a is now the most recent
    t.failed("d", 6); // evicts b
    expect(t.blocked(7).map((r) => r.address).sort()).toEqual(["a", "c"]);
  });
});

describe("login throttling in the fabric", () => {
  const GOOD = "iqn.2024-01.org.portico.test:good";
  const STRANGER = "iqn.2024-01.org.portico.test:stranger";
  const DELAY = 1500;
  let h: Harness;
  const clients: IscsiClient[] = [];
  const connect = async (localAddress?: string) => {
    const c = await IscsiClient.connect(h.port, "127.0.0.1", localAddress);
    clients.push(c);
    return c;
  };
  const login = async (initiatorName: string, localAddress?: string, isid?: string) => {
    const c = await connect(localAddress);
    const r = await c.login({ initiatorName, targetName: TARGET, ...(isid ? { isid } : {}) });
    return { c, status: [r.statusClass, r.statusDetail] };
  };

  beforeAll(async () => {
    h = await startTarget({ loginThrottle: { failures: 5, baseDelayMs: DELAY } }, { generate_node_acls: 0 });
    h.engine.createNodeAcl(TARGET, 1, GOOD, {});
    h.engine.createMappedLun(TARGET, 1, GOOD, { index: 0, tpgLun: 0 });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await h.close();
  });

  it("refuses an address after repeated failures, without disturbing other addresses or sessions", async () => {
    const established = await login(GOOD, undefined, "400001000001");
    expect(established.status).toEqual([0, 0]);

    for (let i = 0; i < 5; i++) expect((await login(STRANGER)).status).toEqual([2, 2]); // Authorization Failure: no ACL
    // Refused unheard: even the initiator that has an ACL, from that address (Service Unavailable, RFC 7143 §11.13.5).
    const refused = await login(GOOD, undefined, "400001000002");
    expect(refused.status).toEqual([3, 1]);
    expect(await refused.c.closed.then(() => true)).toBe(true);
    const reasons = h.fabric.loginStats().failures.map((f) => f.cause);
    expect(reasons.slice(-6)).toEqual([...Array(5).fill("ACL denied"), "too many failures"]);

    // Another source address logs in; the established session still does IO.
    expect((await login(GOOD, "127.0.0.2", "400001000003")).status).toEqual([0, 0]);
    expect((await established.c.read10(0, 1)).status).toBe(0);
    expect(h.fabric.sessions().length).toBe(2);

    // Once the refusal period ends, logins are evaluated again; the next failure refuses for twice as long.
    const until = h.fabric.loginThrottle!.refusal("127.0.0.1", Date.now());
    expect(until).toBeDefined();
    await new Promise((r) => setTimeout(r, until!.retryAfterMs + 50));
    expect((await login(GOOD, undefined, "400001000004")).status).toEqual([0, 0]);
    const t0 = Date.now();
    expect((await login(STRANGER)).status).toEqual([2, 2]);
    const now = Date.now();
    const again = h.fabric.loginThrottle!.refusal("127.0.0.1", now);
    // Set to 2 × DELAY at the failure, somewhere between t0 and now (robust to a slow machine).
    expect(again!.retryAfterMs + (now - t0)).toBeGreaterThanOrEqual(2 * DELAY);
    expect(again!.retryAfterMs).toBeLessThanOrEqual(2 * DELAY);
    expect(h.logs.some((l) => l.includes("iSCSI logins from 127.0.0.1 refused"))).toBe(true);
  });
});

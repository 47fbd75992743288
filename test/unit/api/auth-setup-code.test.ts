/**
 * The one-time onboarding setup code (server/auth/setup-code.ts): the pure check, the
 * file start-up writes, and onboarding over HTTP through the real context factory.
 * A request from the network is simulated by rewriting the context's client address in
 * this test's createContext wrapper only; the appliance has no such switch. Loopback needs
 * the code as much as the network does (issue 15 item 3).
 */
import { createHTTPServer } from "@trpc/server/adapters/standalone";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appRouter } from "@/server/api/root";
import { httpContextFactory } from "@/server/auth/context";
import { LoginRateLimiter } from "@/server/auth/rate-limit";
import { isLoopback, newSetupCode, SETUP_CODE_FILE, SETUP_CODE_HEADER, SetupCode, setupCodeRefusal } from "@/server/auth/setup-code";
import { AuthStore } from "@/server/auth/store";
import { makeFixture, type Fixture } from "../config/helpers";

describe("the check", () => {
  it("makes readable codes, different each time", () => {
    const a = newSetupCode();
    expect(a).toMatch(/^[A-HJKMNP-Z2-9]{4}(-[A-HJKMNP-Z2-9]{4}){3}$/);
    expect(newSetupCode()).not.toBe(a);
  });

  it("knows loopback addresses", () => {
    for (const ip of ["127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"]) expect(isLoopback(ip), ip).toBe(true);
    for (const ip of ["192.0.2.7", "::ffff:192.0.2.7", "10.0.0.1", "fe80::1", "0.0.0.0", "", undefined]) expect(isLoopback(ip), String(ip)).toBe(false);
  });

  it("refuses without the right code, from loopback too (a local user is not the admin)", () => {
    const code = "ABCD-EFGH-JKMN-PQRS";
    expect(setupCodeRefusal({ code, ip: "127.0.0.1", presented: undefined })).toMatch(/enter the setup code/);
    expect(setupCodeRefusal({ code, ip: "::1", presented: "AAAA-BBBB-CCCC-DDDD" })).toMatch(/not the setup code/);
    expect(setupCodeRefusal({ code, ip: "127.0.0.1", presented: code })).toBeUndefined();
    expect(setupCodeRefusal({ code, ip: "192.0.2.7", presented: undefined })).toMatch(/enter the setup code/);
    expect(setupCodeRefusal({ code, ip: "192.0.2.7", presented: "ABCD-EFGH-JKMN-PQRT" })).toMatch(/not the setup code/);
    expect(setupCodeRefusal({ code, ip: "192.0.2.7", presented: "short" })).toMatch(/not the setup code/);
    expect(setupCodeRefusal({ code, ip: "192.0.2.7", presented: "abcd efgh jkmn pqrs" })).toBeUndefined();
    // No code in force (an admin exists): nothing to check.
    expect(setupCodeRefusal({ code: undefined, ip: "192.0.2.7", presented: undefined })).toBeUndefined();
  });
});

describe("over HTTP", () => {
  let fx: Fixture;
  let auth: AuthStore;
  let server: ReturnType<typeof createHTTPServer>;
  let base: string;
  /** The client address the context sees; undefined keeps the real one (127.0.0.1). */
  let fakeIp: string | undefined;

  beforeEach(async () => {
    fx = makeFixture();
    auth = new AuthStore(fx.db.db);
    auth.setupCode = SetupCode.start(fx.dir, auth.hasAdmin());
    const factory = httpContextFactory({ service: fx.service, engine: fx.engine, app: { version: "test", startedAt: Date.now(), dataDir: fx.dir }, auth, limiter: new LoginRateLimiter(), token: "t" });
    fakeIp = undefined;
    server = createHTTPServer({
      router: appRouter,
      createContext: (opts) => {
        const ctx = factory(opts);
        if (fakeIp && ctx.http) ctx.http.ip = fakeIp;
        return ctx;
      },
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterEach(async () => {
    server.close();
    await fx.cleanup();
  });

  async function call(kind: "query" | "mutation", p: string, input?: unknown, headers: Record<string, string> = {}) {
    const res =
      kind === "query"
        ? await fetch(`${base}/${p}`, { headers })
        : await fetch(`${base}/${p}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ json: input ?? null }) });
    return { status: res.status, body: (await res.json()) as { result?: { data: { json: Record<string, unknown> } }; error?: { json: { message: string; data: { field?: string } } } } };
  }
  const onboarding = { admin: { username: "admin", password: "correct horse battery", confirm: "correct horse battery" }, appliance: { name: "lab", iqnPrefix: "iqn.2003-01.org.linux-iscsi.lab.x8664" }, storage: { kind: "none" } };

  it("writes the code to <data dir>/setup-code, readable by the owner only", () => {
    const file = path.join(fx.dir, SETUP_CODE_FILE);
    expect(auth.setupCode?.code).toMatch(/^\w{4}-\w{4}-\w{4}-\w{4}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("loopback needs the code too; with it onboarding completes and the code is dropped", async () => {
    const code = auth.setupCode!.code!;
    const st = await call("query", "onboarding.status");
    expect(st.body.result?.data.json).toEqual({ onboarded: false, setupCodeRequired: true });
    expect((await call("query", "onboarding.defaults")).status).toBe(403);
    const bare = await call("mutation", "onboarding.complete", onboarding);
    expect(bare.status).toBe(403);
    expect(bare.body.error?.json.data.field).toBe("setupCode");
    expect(auth.hasAdmin()).toBe(false);
    const done = await call("mutation", "onboarding.complete", onboarding, { [SETUP_CODE_HEADER]: code });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(auth.setupCode?.code).toBeUndefined();
    expect(existsSync(path.join(fx.dir, SETUP_CODE_FILE))).toBe(false);
  });

  it("two simultaneous onboardings: one admin, the other refused and creating nothing; Settings lists the admin", async () => {
    const code = auth.setupCode!.code!;
    const second = { ...onboarding, admin: { username: "intruder", password: "another long password", confirm: "another long password" }, appliance: { name: "other", iqnPrefix: "iqn.2003-01.org.linux-iscsi.other.x8664" } };
    const raw = (input: unknown) =>
      fetch(`${base}/onboarding.complete`, { method: "POST", headers: { "content-type": "application/json", [SETUP_CODE_HEADER]: code }, body: JSON.stringify({ json: input }) });
    const [a, b] = await Promise.all([raw(onboarding), raw(second)]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const winner = a.status === 200 ? a : b;
    const loser = a.status === 200 ? b : a;
    expect(loser.headers.get("set-cookie")).toBeNull();
    const rows = fx.db.sqlite.prepare("select username from admin_users").all() as { username: string }[];
    expect(rows).toHaveLength(1);
    const cookie = /portico_session=[^;]*/.exec(winner.headers.get("set-cookie") ?? "")![0];
    const admins = await call("query", "auth.admins", undefined, { cookie });
    expect(admins.status).toBe(200);
    const list = admins.body.result!.data.json as unknown as { username: string; you: boolean; sessions: number }[];
    expect(list).toEqual([expect.objectContaining({ username: rows[0].username, you: true, sessions: 1 })]);
    expect((await call("query", "auth.admins")).status).toBe(401);
  });

  it("an onboarding whose configuration fails takes its admin back", async () => {
    const code = auth.setupCode!.code!;
    const bad = await call("mutation", "onboarding.complete", { ...onboarding, storage: { kind: "fileio", name: "f0", dev: `${fx.dir}/missing/dir/f0.img`, size: 8 << 20 } }, { [SETUP_CODE_HEADER]: code });
    expect(bad.status).toBe(400);
    expect(auth.hasAdmin()).toBe(false);
    expect(auth.setupCode?.code).toBe(code);
    expect((await call("mutation", "onboarding.complete", onboarding, { [SETUP_CODE_HEADER]: code })).status).toBe(200);
  });

  it("a browser on the network is refused without the code, with a wrong one, and let in with the right one", async () => {
    fakeIp = "192.0.2.7";
    const code = auth.setupCode!.code!;
    expect((await call("query", "onboarding.status")).body.result?.data.json).toEqual({ onboarded: false, setupCodeRequired: true });

    const bare = await call("mutation", "onboarding.complete", onboarding);
    expect(bare.status).toBe(403);
    expect(bare.body.error?.json.data.field).toBe("setupCode");
    expect(auth.hasAdmin()).toBe(false);
    expect((await call("query", "onboarding.defaults")).status).toBe(403);
    expect((await call("mutation", "onboarding.checkStorage", { kind: "none" })).status).toBe(403);

    const wrong = await call("mutation", "onboarding.checkSetupCode", { code: "AAAA-BBBB-CCCC-DDDD" });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error?.json.message).toMatch(/not the setup code/);
    expect((await call("mutation", "onboarding.complete", onboarding, { [SETUP_CODE_HEADER]: "AAAA-BBBB-CCCC-DDDD" })).status).toBe(403);
    expect(auth.hasAdmin()).toBe(false);

    expect((await call("mutation", "onboarding.checkSetupCode", { code: code.toLowerCase() })).status).toBe(200);
    expect((await call("query", "onboarding.defaults", undefined, { [SETUP_CODE_HEADER]: code })).status).toBe(200);
    const ok = await call("mutation", "onboarding.complete", onboarding, { [SETUP_CODE_HEADER]: code });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(auth.hasAdmin()).toBe(true);
    expect(existsSync(path.join(fx.dir, SETUP_CODE_FILE))).toBe(false);
    // Used up: a second onboarding is refused as before (already set up).
    expect((await call("mutation", "onboarding.complete", onboarding, { [SETUP_CODE_HEADER]: code })).status).toBe(409);
  });

  it("a restart with an admin has no code and removes a stale file", () => {
    expect(existsSync(path.join(fx.dir, SETUP_CODE_FILE))).toBe(true);
    const again = SetupCode.start(fx.dir, true);
    expect(again.code).toBeUndefined();
    expect(existsSync(path.join(fx.dir, SETUP_CODE_FILE))).toBe(false);
  });
});

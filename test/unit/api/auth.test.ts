/**
 * Admin access over HTTP, through the same context factory server/main.ts uses:
 * onboarding, session cookie, refusal without a session, login rate limit, logout,
 * password change, and the CLI token.
 */
import { createHTTPServer } from "@trpc/server/adapters/standalone";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appRouter } from "@/server/api/root";
import { httpContextFactory } from "@/server/auth/context";
import { hashPassword, PasswordBusyError, PasswordHasher, verifyPassword } from "@/server/auth/password";
import { LoginRateLimiter } from "@/server/auth/rate-limit";
import { AuthStore } from "@/server/auth/store";
import { buildSaveconfig } from "@/server/console/onboarding";
import { makeFixture, tableCounts, type Fixture } from "../config/helpers";

const TOKEN = "cli-token-123";
let fx: Fixture;
let auth: AuthStore;
let server: ReturnType<typeof createHTTPServer>;
let base: string;

beforeEach(async () => {
  fx = makeFixture();
  auth = new AuthStore(fx.db.db);
  server = createHTTPServer({
    router: appRouter,
    createContext: httpContextFactory({ service: fx.service, engine: fx.engine, app: { version: "test", startedAt: Date.now(), dataDir: fx.dir }, auth, limiter: new LoginRateLimiter(), token: TOKEN }),
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterEach(async () => {
  server.close();
  await fx.cleanup();
});

interface Reply {
  status: number;
  cookie: string | null;
  body: { result?: { data: { json: unknown } }; error?: { json: { message: string; data: { code: string; field?: string } } } };
}
async function call(kind: "query" | "mutation", path: string, input?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res =
    kind === "query"
      ? await fetch(`${base}/${path}${input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`}`, { headers })
      : await fetch(`${base}/${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ json: input ?? null }) });
  return { status: res.status, cookie: res.headers.get("set-cookie"), body: (await res.json()) as Reply["body"] };
}
const cookieOf = (r: Reply) => /portico_session=([^;]*)/.exec(r.cookie ?? "")?.[1] ?? "";

const onboarding = (over: Record<string, unknown> = {}) => ({
  admin: { username: "admin", password: "correct horse battery", confirm: "correct horse battery" },
  appliance: { name: "lab", iqnPrefix: "iqn.2003-01.org.linux-iscsi.lab.x8664" },
  storage: { kind: "ramdisk", name: "disk0", size: 8 << 20 },
  target: { wwn: "iqn.2003-01.org.linux-iscsi.lab.x8664:sn.0123456789ab", ip: "127.0.0.1", port: 3260 },
  access: { mode: "open" },
  ...over,
});

describe("passwords", () => {
  it("scrypt hashes verify, differ per salt, and reject a wrong password", async () => {
    const a = await hashPassword("s3cret-password");
    const b = await hashPassword("s3cret-password");
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword("s3cret-password", a)).toBe(true);
    expect(await verifyPassword("s3cret-passwore", a)).toBe(false);
  });

  it("the limiter locks an address after 5 failures and a success clears it", () => {
    let now = 0;
    const l = new LoginRateLimiter(() => now);
    for (let i = 0; i < 4; i++) l.fail("a");
    expect(l.retryAfter("a")).toBe(0);
    l.fail("a");
    expect(l.retryAfter("a")).toBe(30_000);
    l.fail("a");
    expect(l.retryAfter("a")).toBe(60_000);
    expect(l.retryAfter("b")).toBe(0);
    now += 60_000;
    expect(l.retryAfter("a")).toBe(0);
    l.succeed("a");
    l.fail("a");
    expect(l.retryAfter("a")).toBe(0);
  });
});

describe("password hashing off the IO thread pool", () => {
  it("runs at most `concurrency` hashes, queues up to `queueLimit` and refuses the rest at once", async () => {
    const hasher = new PasswordHasher(1, 2);
    const job = { password: "guess", salt: Buffer.alloc(16, 1), keyLen: 32, N: 1 << 14, r: 8, p: 1 };
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => hasher.derive(job)));
    const ok = results.filter((r) => r.status === "fulfilled");
    const busy = results.filter((r) => r.status === "rejected" && r.reason instanceof PasswordBusyError);
    expect(ok).toHaveLength(3); // one running + two waiting
    expect(busy).toHaveLength(3);
    // Same key as node:crypto's own scrypt: the worker computes the real thing.
    const { scryptSync } = await import("node:crypto");
    expect((ok[0] as PromiseFulfilledResult<Buffer>).value.equals(scryptSync("guess", job.salt, 32, { N: 1 << 14, r: 8, p: 1 }))).toBe(true);
    expect(hasher.load).toBe(0);
    // Once the queue drained, it accepts work again.
    await expect(hasher.derive(job)).resolves.toHaveLength(32);
  });

  it("the limiter counts an attempt when it starts, so parallel attempts cannot all pass", () => {
    const l = new LoginRateLimiter(() => 0);
    // Five attempts start before any of them finished: the sixth is refused.
    const waits = Array.from({ length: 8 }, () => l.attempt("a"));
    expect(waits.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(waits.slice(5).every((w) => w > 0)).toBe(true);
    // A success takes the address's count back.
    l.succeed("b");
    expect(l.attempt("b")).toBe(0);
    l.succeed("b");
    for (let i = 0; i < 4; i++) expect(l.attempt("b")).toBe(0);
  });
});

describe("onboarding and sessions over HTTP", () => {
  it("before onboarding only the public procedures answer; after it, a session or the CLI token is needed", async () => {
    expect((await call("query", "auth.status")).body.result!.data.json).toMatchObject({ onboarded: false, signedIn: false });
    const refused = await call("query", "config.tree");
    expect(refused.status).toBe(401);
    expect(refused.body.error!.json.data.code).toBe("UNAUTHORIZED");

    const done = await call("mutation", "onboarding.complete", onboarding());
    expect(done.status).toBe(200);
    expect(done.cookie).toMatch(/portico_session=[A-Za-z0-9_-]{40,}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+/);
    const cookie = `portico_session=${cookieOf(done)}`;
    expect(fx.engine.targets.has("iqn.2003-01.org.linux-iscsi.lab.x8664:sn.0123456789ab")).toBe(true);
    const tpg = fx.service.config().targets[0].tpgs[0];
    expect(tpg.attributes).toMatchObject({ generate_node_acls: 1, demo_mode_write_protect: 0 });

    expect((await call("query", "config.tree", undefined, { cookie })).status).toBe(200);
    expect((await call("query", "config.tree")).status).toBe(401);
    expect((await call("query", "config.tree", undefined, { cookie: "portico_session=forged" })).status).toBe(401);
    expect((await call("query", "config.tree", undefined, { "x-portico-token": TOKEN })).status).toBe(200);
    expect((await call("query", "config.tree", undefined, { "x-portico-token": "wrong" })).status).toBe(401);
    // Onboarding cannot run twice, and its helpers now need a session.
    expect((await call("mutation", "onboarding.complete", onboarding())).status).toBe(409);
    expect((await call("query", "onboarding.defaults")).status).toBe(401);
    // Only the hash of the token is stored.
    const row = fx.db.sqlite.prepare("select token_hash from admin_sessions").get() as { token_hash: string };
    expect(row.token_hash).not.toContain(cookieOf(done));

    const out = await call("mutation", "auth.logout", undefined, { cookie });
    expect(out.cookie).toContain("Max-Age=0");
    expect((await call("query", "config.tree", undefined, { cookie })).status).toBe(401);
  });

  it("a failed create leaves nothing behind and names the field; no admin is created", async () => {
    const bad = await call("mutation", "onboarding.complete", onboarding({ storage: { kind: "fileio", name: "f0", dev: `${fx.dir}/missing/dir/f0.img`, size: 8 << 20 } }));
    expect(bad.status).toBe(400);
    expect(bad.body.error!.json.data.field).toBe("storage.dev");
    expect(auth.hasAdmin()).toBe(false);
    expect(tableCounts(fx.db).storage_objects + tableCounts(fx.db).targets).toBe(0);
    const badIqn = await call("mutation", "onboarding.complete", onboarding({ target: { wwn: "iqn.nope", ip: "127.0.0.1", port: 3260 } }));
    expect(badIqn.status).toBe(400);
    expect(badIqn.body.error!.json.data.field).toBe("target.wwn");
  });

  it("login: wrong password at the password field, rate limited per address, then a session", async () => {
    await call("mutation", "onboarding.complete", onboarding({ storage: { kind: "none" }, target: undefined, access: undefined }));
    const wrong = await call("mutation", "auth.login", { username: "admin", password: "nope" });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error!.json.data.field).toBe("password");
    expect(wrong.cookie).toBeNull();
    for (let i = 0; i < 4; i++) await call("mutation", "auth.login", { username: "admin", password: "nope" });
    const limited = await call("mutation", "auth.login", { username: "admin", password: "correct horse battery" });
    expect(limited.status).toBe(429);
    expect(limited.body.error!.json.message).toMatch(/try again in \d+ s/);
  });

  it("a batch of 40 guesses (the right one last) and 20 parallel guesses get no session; at most 5 are evaluated", async () => {
    await call("mutation", "onboarding.complete", onboarding({ storage: { kind: "none" }, target: undefined, access: undefined }));
    const guesses = [...Array.from({ length: 39 }, (_, i) => ({ username: "admin", password: `guess-${i}` })), { username: "admin", password: "correct horse battery" }];
    const body: Record<string, unknown> = {};
    guesses.forEach((g, i) => (body[i] = { json: g }));
    const res = await fetch(`${base}/${guesses.map(() => "auth.login").join(",")}?batch=1`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect(res.headers.get("set-cookie")).toBeNull();
    const items = (await res.json()) as { result?: unknown; error?: { json: { message: string } } }[];
    expect(items).toHaveLength(40);
    expect(items.every((i) => i.error && !i.result)).toBe(true);
    expect(items[39].error!.json.message).toMatch(/cannot be batched/);

    // 20 single requests at once: five are evaluated, the rest refused before any hashing.
    const parallel = await Promise.all(Array.from({ length: 20 }, (_, i) => call("mutation", "auth.login", { username: "admin", password: `parallel-${i}` })));
    expect(parallel.filter((r) => r.status === 400)).toHaveLength(5);
    expect(parallel.filter((r) => r.status === 429)).toHaveLength(15);
    const right = await call("mutation", "auth.login", { username: "admin", password: "correct horse battery" });
    expect(right.status).toBe(429);
    expect(right.cookie).toBeNull();
  });

  it("a batch longer than the server's limit is refused whole", async () => {
    const limited = createHTTPServer({
      router: appRouter,
      maxBatchSize: 4,
      createContext: httpContextFactory({ service: fx.service, engine: fx.engine, app: { version: "test", startedAt: Date.now(), dataDir: fx.dir }, auth, limiter: new LoginRateLimiter(), token: TOKEN }),
    });
    await new Promise<void>((resolve) => limited.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(limited.address() as { port: number }).port}`;
      const five = await fetch(`${url}/${Array(5).fill("auth.status").join(",")}?batch=1`);
      expect(five.status).toBe(400);
      expect(await five.text()).toMatch(/Batch call exceeds maximum size/);
      expect((await fetch(`${url}/${Array(4).fill("auth.status").join(",")}?batch=1`)).status).toBe(200);
    } finally {
      limited.close();
    }
  });

  it("password change needs the current password and ends other sessions", async () => {
    const done = await call("mutation", "onboarding.complete", onboarding({ storage: { kind: "none" }, target: undefined, access: undefined }));
    const mine = `portico_session=${cookieOf(done)}`;
    const other = `portico_session=${cookieOf(await call("mutation", "auth.login", { username: "admin", password: "correct horse battery" }))}`;
    const wrong = await call("mutation", "auth.changePassword", { current: "nope", password: "a new long password", confirm: "a new long password" }, { cookie: mine });
    expect(wrong.body.error!.json.data.field).toBe("current");
    const mismatch = await call("mutation", "auth.changePassword", { current: "correct horse battery", password: "a new long password", confirm: "different" }, { cookie: mine });
    expect(mismatch.body.error!.json.data.field).toBe("confirm");
    const ok = await call("mutation", "auth.changePassword", { current: "correct horse battery", password: "a new long password", confirm: "a new long password" }, { cookie: mine });
    expect(ok.status).toBe(200);
    expect((await call("query", "config.tree", undefined, { cookie: mine })).status).toBe(200);
    expect((await call("query", "config.tree", undefined, { cookie: other })).status).toBe(401);
    expect((await call("mutation", "auth.login", { username: "admin", password: "a new long password" })).status).toBe(200);
  });
});

describe("the onboarding model", () => {
  it("specific initiators get an ACL with LUN 0 mapped, CHAP and mutual CHAP credentials, and authentication on", () => {
    const doc = buildSaveconfig({
      admin: { username: "admin", password: "x".repeat(10), confirm: "x".repeat(10) },
      appliance: { name: "lab", iqnPrefix: "iqn.2003-01.org.example" },
      storage: { kind: "ramdisk", name: "d", size: 1 << 20 },
      target: { wwn: "iqn.2003-01.org.example:sn.1", ip: "::0", port: 3260 },
      access: { mode: "acls", initiators: [{ name: "iqn.1994-05.com.redhat:a", auth: "mutual", userid: "u", password: "p".repeat(12), mutualUserid: "t", mutualPassword: "q".repeat(12) }] },
    }) as { targets: { tpgs: { attributes: Record<string, number>; portals: { ip_address: string }[]; node_acls: Record<string, unknown>[] }[] }[] };
    const tpg = doc.targets[0].tpgs[0];
    expect(tpg.attributes).toMatchObject({ authentication: 1, generate_node_acls: 0 });
    expect(tpg.portals[0].ip_address).toBe("[::0]");
    expect(tpg.node_acls[0]).toMatchObject({ node_wwn: "iqn.1994-05.com.redhat:a", chap_userid: "u", chap_mutual_userid: "t", mapped_luns: [{ index: 0, tpg_lun: 0 }] });
  });
});

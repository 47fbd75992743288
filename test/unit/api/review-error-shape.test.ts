/** Error replies over HTTP never carry a server stack trace (file paths, internals); tRPC adds one unless NODE_ENV=production (vitest: "test"). */
import { createHTTPServer } from "@trpc/server/adapters/standalone";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appRouter } from "@/server/api/root";
import { httpContextFactory } from "@/server/auth/context";
import { LoginRateLimiter } from "@/server/auth/rate-limit";
import { AuthStore } from "@/server/auth/store";
import { makeFixture, type Fixture } from "../config/helpers";

let fx: Fixture;
let server: ReturnType<typeof createHTTPServer>;
let base: string;

beforeEach(async () => {
  fx = makeFixture();
  const auth = new AuthStore(fx.db.db);
  server = createHTTPServer({
    router: appRouter,
    createContext: httpContextFactory({ service: fx.service, engine: fx.engine, app: { version: "test", startedAt: Date.now(), dataDir: fx.dir }, auth, limiter: new LoginRateLimiter(), token: "t0ken" }),
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterEach(async () => {
  server.close();
  await fx.cleanup();
});

describe("error replies", () => {
  it("an unauthenticated call and an engine refusal carry no stack", async () => {
    const anon = await fetch(`${base}/system.status`);
    expect(anon.status).toBe(401);
    const a = await anon.text();
    expect(a).not.toMatch(/"stack"/);

    const refused = await fetch(`${base}/storage.get?input=${encodeURIComponent(JSON.stringify({ json: { plugin: "ramdisk", name: "nope" } }))}`, { headers: { "x-portico-token": "t0ken" } });
    expect(refused.status).toBe(404);
    const b = await refused.text();
    expect(b).toMatch(/does not exist/);
    expect(b).not.toMatch(/"stack"/);
  });
});

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createCaller } from "@/server/api/root";
import { createStorageObjectSchema } from "@/server/api/schemas/storage";
import { createTargetSchema } from "@/server/api/schemas/targets";
import { lioExample, makeFixture, rejection, tableCounts, type Fixture } from "../config/helpers";

let fx: Fixture;
let api: ReturnType<typeof createCaller>;
beforeEach(() => {
  fx = makeFixture();
  api = createCaller({ service: fx.service, engine: fx.engine, app: { version: "test", startedAt: Date.now() - 5_000, dataDir: fx.dir }, actor: "internal" });
});
afterEach(async () => {
  await fx.cleanup();
});

describe("zod input validation", () => {
  it("rejects an invalid target IQN before anything changes", async () => {
    const err = await rejection(api.targets.create({ wwn: "iqn.not valid" }));
    expect(err.code).toBe("BAD_REQUEST");
    expect(err.message).toContain("not a valid iSCSI name");
    expect(fx.engine.targets.size).toBe(0);
    expect(tableCounts(fx.db).targets).toBe(0);
  });

  it("rejects an invalid initiator name for an ACL", async () => {
    const { wwn } = await api.targets.create({ wwn: "iqn.2024-01.com.example:t1" });
    const err = await rejection(api.targets.acls.create({ wwn, tag: 1, initiatorName: "bogus" }));
    expect(err.code).toBe("BAD_REQUEST");
    expect(tableCounts(fx.db).node_acls).toBe(0);
  });

  it("the UI can reuse the same schemas", () => {
    expect(createTargetSchema.safeParse({ wwn: "IQN.2024-01.com.example:T1 " }).success).toBe(true);
    expect(createTargetSchema.safeParse({ wwn: "eui.123" }).success).toBe(false);
    const r = createStorageObjectSchema.safeParse({ plugin: "ramdisk", name: "has space", size: 1 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].path).toEqual(["name"]);
  });
});

describe("engine refusals become typed tRPC errors with the field", () => {
  it("a duplicate target is CONFLICT on field wwn", async () => {
    await api.targets.create({ wwn: "iqn.2024-01.com.example:t1" });
    const err = await rejection(api.targets.create({ wwn: "iqn.2024-01.com.example:t1" }));
    expect(err.code).toBe("CONFLICT");
    expect((err.cause as { field?: string }).field).toBe("wwn");
  });

  it("a missing backing file is BAD_REQUEST on field dev and changes nothing", async () => {
    const err = await rejection(api.storage.create({ plugin: "fileio", name: "f0", dev: `${fx.dir}/no/such/dir/f0.img`, size: 1 << 20 }));
    expect(err.code).toBe("BAD_REQUEST");
    expect(err.message).toContain("does not exist");
    expect((err.cause as { field?: string }).field).toBe("dev");
    expect(tableCounts(fx.db).storage_objects).toBe(0);
  });

  it("a LUN on a missing storage object is NOT_FOUND", async () => {
    const { wwn } = await api.targets.create({ wwn: "iqn.2024-01.com.example:t1" });
    const err = await rejection(api.targets.luns.create({ wwn, tag: 1, storageObject: "nope" }));
    expect(err.code).toBe("NOT_FOUND");
  });
});

describe("procedures", () => {
  it("builds a target end to end and reads it back as a tree and a status", async () => {
    await api.storage.create({ plugin: "ramdisk", name: "r0", size: 4 << 20 });
    const { wwn } = await api.targets.create({ wwn: "iqn.2024-01.com.example:t1" });
    const lun = await api.targets.luns.create({ wwn, tag: 1, storageObject: "/backstores/ramdisk/r0" });
    await api.targets.portals.create({ wwn, tag: 1, ip: "127.0.0.1", port: 3260 });
    await api.targets.acls.create({ wwn, tag: 1, initiatorName: "iqn.1994-05.com.redhat:client", aclTag: "web", addMappedLuns: false });
    await api.targets.mappedLuns.create({ wwn, tag: 1, initiatorName: "iqn.1994-05.com.redhat:client", index: 0, tpgLun: lun.index, writeProtect: true });
    await api.targets.tpgs.setAttributes({ wwn, tag: 1, attributes: { default_cmdsn_depth: 128 } });
    await api.targets.tpgs.setEnabled({ wwn, tag: 1, enabled: false });

    const tree = await api.config.tree();
    expect(tree.storageObjects).toMatchObject([{ path: "/backstores/ramdisk/r0", size: 4 << 20, live: true, usedBy: [{ wwn, tag: 1, lun: 0 }] }]);
    const tpg = tree.targets[0].tpgs[0];
    expect(tpg).toMatchObject({ tag: 1, enabled: false, live: true });
    expect(tpg.attributes.default_cmdsn_depth).toBe(128);
    expect(tpg.luns).toMatchObject([{ index: 0, storageObject: "/backstores/ramdisk/r0", live: true }]);
    expect(tpg.portals).toMatchObject([{ key: "127.0.0.1:3260", listening: false }]); // no fabric in unit tests
    expect(tpg.nodeAcls).toMatchObject([{ initiatorName: "iqn.1994-05.com.redhat:client", aclTag: "web", mappedLuns: [{ index: 0, tpgLun: 0, writeProtect: true }] }]);

    const status = await api.system.status();
    expect(status.version).toBe("test");
    expect(status.uptimeSeconds).toBeGreaterThanOrEqual(5);
    expect(status.counts).toMatchObject({ storageObjects: 1, targets: 1, tpgs: 1, luns: 1, portals: 1, nodeAcls: 1, sessions: 0 });

    await api.targets.mappedLuns.delete({ wwn, tag: 1, initiatorName: "iqn.1994-05.com.redhat:client", index: 0 });
    await api.targets.acls.delete({ wwn, tag: 1, initiatorName: "iqn.1994-05.com.redhat:client" });
    await api.targets.portals.delete({ wwn, tag: 1, ip: "127.0.0.1", port: 3260 });
    await api.targets.luns.delete({ wwn, tag: 1, index: 0 });
    await api.targets.tpgs.delete({ wwn, tag: 1 });
    await api.targets.delete({ wwn });
    await api.storage.delete({ plugin: "ramdisk", name: "r0" });
    expect(Object.values(tableCounts(fx.db)).every((n) => n === 0)).toBe(true);
    expect(fx.engine.targets.size + fx.engine.storageObjects.size).toBe(0);
  });

  it("config.import reports what is not honoured and config.export returns the saveconfig text", async () => {
    const result = await api.config.import({ config: lioExample(fx.dir), clear: false });
    expect(result.notHonoured).toContain("targets[0].parameters.cmd_completion_affinity ignored");
    const text = await api.config.export();
    expect(JSON.parse(text).targets[0].wwn).toBe("iqn.2003-01.org.linux-iscsi.storage1.x8664:sn.8a3f5c21d9e0");
    const err = await rejection(api.config.import({ config: "{ not json", clear: true }));
    expect(err.code).toBe("BAD_REQUEST");
    expect((err.cause as { issues?: unknown[] }).issues).toHaveLength(1);
    expect(tableCounts(fx.db).targets).toBe(1);
  });
});

describe("over HTTP (the adapter server/main.ts uses)", () => {
  it("puts the field of a refusal in error.data so the console can show it next to the input", async () => {
    const { createHTTPServer } = await import("@trpc/server/adapters/standalone");
    const { appRouter } = await import("@/server/api/root");
    const { AuthStore } = await import("@/server/auth/store");
    const { LoginRateLimiter } = await import("@/server/auth/rate-limit");
    const { httpContextFactory } = await import("@/server/auth/context");
    // The console's context, as server/main.ts builds it, signed in as an admin.
    const auth = new AuthStore(fx.db.db);
    const session = auth.createSession(await auth.createAdmin("admin", "correct horse battery"));
    const server = createHTTPServer({
      router: appRouter,
      createContext: httpContextFactory({ service: fx.service, engine: fx.engine, app: { version: "test", startedAt: Date.now(), dataDir: fx.dir }, auth, limiter: new LoginRateLimiter(), token: "t" }),
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    try {
      const post = async (path: string, input: unknown) => {
        const res = await fetch(`http://127.0.0.1:${port}/${path}`, { method: "POST", headers: { "content-type": "application/json", cookie: `portico_session=${session.token}` }, body: JSON.stringify({ json: input }) });
        return { status: res.status, body: (await res.json()) as { error?: { json: { message: string; data: { field?: string; code: string } } } } };
      };
      const bad = await post("targets.create", { wwn: "iqn.bad name" });
      expect(bad.status).toBe(400);
      expect(bad.body.error!.json.data.field).toBe("wwn");
      await post("targets.create", { wwn: "iqn.2024-01.com.example:t1" });
      const dup = await post("targets.create", { wwn: "iqn.2024-01.com.example:t1" });
      expect(dup.status).toBe(409);
      expect(dup.body.error!.json.data).toMatchObject({ code: "CONFLICT", field: "wwn" });
    } finally {
      server.close();
    }
  });
});

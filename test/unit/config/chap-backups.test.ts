/**
 * CHAP through the API (secret rules, write-only passwords, export only on request) and
 * targetcli-style rotating backups (list, restore, download, rotation, CLI).
 */
import fs from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { TRPCError } from "@trpc/server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createCaller } from "@/server/api/root";
import { ConfigImportError } from "@/server/config/errors";
import { parseSaveconfig } from "@/server/config/saveconfig";
import { lioExample, makeFixture, rejection, type Fixture } from "./helpers";

const T = "iqn.2024-01.com.example:chap";
const A = "iqn.1994-05.com.redhat:alpha";
const SECRET = "alphaSecret-0123";
const MUTUAL = "targetSecret-4567";

let fx: Fixture;
let api: ReturnType<typeof createCaller>;
beforeEach(async () => {
  fx = makeFixture();
  api = createCaller({ service: fx.service, engine: fx.engine, app: { version: "test", startedAt: Date.now(), dataDir: fx.dir }, actor: "internal" } as never);
  await api.storage.create({ plugin: "ramdisk", name: "r0", size: 1 << 20 });
  await api.targets.create({ wwn: T });
  await api.targets.luns.create({ wwn: T, tag: 1, storageObject: "r0" });
});
afterEach(async () => {
  await fx.cleanup();
});

describe("CHAP through the API", () => {
  it("per-ACL credentials reach the engine and the DB; the API never returns a password", async () => {
    await api.targets.acls.create({ wwn: T, tag: 1, initiatorName: A, chap: { userid: "alpha", password: SECRET } });
    expect(fx.engine.nodeAcl(T, 1, A).chap).toEqual({ userid: "alpha", password: SECRET });
    await api.targets.acls.setAuth({ wwn: T, tag: 1, initiatorName: A, chap: { userid: "alpha", password: SECRET, mutualUserid: "target", mutualPassword: MUTUAL } });
    expect(fx.engine.nodeAcl(T, 1, A).chap.mutualPassword).toBe(MUTUAL);
    expect(fx.service.config().targets[0].tpgs[0].nodeAcls[0].chap).toEqual({ userid: "alpha", password: SECRET, mutualUserid: "target", mutualPassword: MUTUAL });

    const got = await api.targets.acls.get({ wwn: T, tag: 1, initiatorName: A });
    expect(got.chap).toEqual({ userid: "alpha", passwordSet: true, mutualUserid: "target", mutualPasswordSet: true });
    for (const view of [got, await api.config.tree(), await api.targets.list(), await api.targets.tpgs.get({ wwn: T, tag: 1 }), await api.system.status()]) {
      expect(JSON.stringify(view)).not.toContain(SECRET);
      expect(JSON.stringify(view)).not.toContain(MUTUAL);
    }
    const plain = await api.config.export();
    expect(plain).not.toContain(SECRET);
    expect(JSON.parse(plain).targets[0].tpgs[0].node_acls[0]).toMatchObject({ chap_userid: "alpha", chap_mutual_userid: "target" });
    const full = JSON.parse(await api.config.export({ secrets: true }));
    expect(full.targets[0].tpgs[0].node_acls[0]).toMatchObject({ chap_password: SECRET, chap_mutual_password: MUTUAL });
  });

  it("refuses short, overlong and reused secrets with the rule in the message and never the secret", async () => {
    await api.targets.acls.create({ wwn: T, tag: 1, initiatorName: A });
    const short = await rejection(api.targets.acls.setAuth({ wwn: T, tag: 1, initiatorName: A, chap: { userid: "alpha", password: "short1" } }));
    expect(short.code).toBe("BAD_REQUEST");
    expect(short.message).toContain("12 to 255");
    expect(short.message).not.toContain("short1");
    const long = await rejection(api.targets.tpgs.setAuth({ wwn: T, tag: 1, chap: { userid: "u", password: "x".repeat(256) } }));
    expect(long.message).toContain("12 to 255");
    const same = await rejection(api.targets.acls.setAuth({ wwn: T, tag: 1, initiatorName: A, chap: { userid: "a", password: SECRET, mutualUserid: "t", mutualPassword: SECRET } }));
    expect(same.message).toMatch(/differ/);
    expect(same.message).not.toContain(SECRET);
    // The service applies the same rule to callers that bypass zod.
    await expect(fx.service.setNodeAclAuth(T, 1, A, { userid: "alpha", password: "tooShort" })).rejects.toThrow(/12 to 255/);
    expect(fx.engine.nodeAcl(T, 1, A).chap).toEqual({});
    expect(fx.service.config().targets[0].tpgs[0].nodeAcls[0].chap).toEqual({});
  });

  it("discovery auth and TPG (demo mode) credentials are stored, applied and exported in fabric_modules", async () => {
    await api.config.setDiscoveryAuth({ enabled: true, chap: { userid: "disc", password: "discSecret123" } });
    expect(fx.engine.discoveryAuth).toEqual({ enabled: true, userid: "disc", password: "discSecret123" });
    expect(await api.config.discoveryAuth()).toEqual({ enabled: true, userid: "disc", passwordSet: true, mutualUserid: null, mutualPasswordSet: false });
    await api.targets.tpgs.setAuth({ wwn: T, tag: 1, chap: { userid: "demo", password: "demoSecret123" } });
    expect(fx.engine.tpg(T, 1).chap).toEqual({ userid: "demo", password: "demoSecret123" });
    const full = JSON.parse(await api.config.export({ secrets: true }));
    expect(full.fabric_modules).toEqual([{ name: "iscsi", discovery_enable_auth: true, discovery_userid: "disc", discovery_password: "discSecret123" }]);
    expect(full.targets[0].tpgs[0]).toMatchObject({ chap_userid: "demo", chap_password: "demoSecret123" });
    // After a restart the engine has them again.
    fx = await fx.restart();
    await fx.service.restore();
    expect(fx.engine.tpg(T, 1).chap).toEqual({ userid: "demo", password: "demoSecret123" });
  });

  it("import refuses a secret shorter than 12 characters and a mutual secret equal to the one-way secret, naming the key and never the secret", async () => {
    const doc = lioExample(fx.dir) as any;
    doc.targets[0].tpgs[0].node_acls[1].chap_password = "tooShort";
    doc.targets[0].tpgs[0].chap_password = "sameSecret-0123";
    doc.targets[0].tpgs[0].chap_mutual_password = "sameSecret-0123";
    doc.fabric_modules[0].discovery_password = "short1";
    const err = (() => {
      try {
        parseSaveconfig(doc);
      } catch (e) {
        return e as ConfigImportError;
      }
      throw new Error("accepted");
    })();
    expect(err).toBeInstanceOf(ConfigImportError);
    const paths = err.issues.map((i) => i.path).sort();
    expect(paths).toEqual(["fabric_modules[0].discovery_password", "targets[0].tpgs[0].chap_mutual_password", "targets[0].tpgs[0].node_acls[1].chap_password"]);
    expect(err.issues.find((i) => i.path.endsWith("node_acls[1].chap_password"))!.message).toMatch(/at least 12 characters/);
    expect(err.issues.find((i) => i.path.endsWith("chap_mutual_password"))!.message).toMatch(/must differ from chap_password/);
    const text = JSON.stringify(err.issues) + err.message;
    for (const s of ["tooShort", "sameSecret-0123", "short1"]) expect(text).not.toContain(s);
    // Through the service (API, shell and CLI import alike): refused, nothing applied.
    const before = fx.service.config();
    await expect(fx.service.importSaveconfig(doc)).rejects.toBeInstanceOf(ConfigImportError);
    expect(fx.service.config()).toEqual(before);
  });

  it("an import with a JSON syntax error says where, and never echoes the text", async () => {
    const text = '{"targets": [{"tpgs": [{"chap_password": "partialSecret-4242" oops}]}]}';
    const err = await api.config.import({ config: text }).then(() => undefined, (e: unknown) => e as TRPCError);
    expect(err).toBeInstanceOf(TRPCError);
    expect(err!.message).toMatch(/not valid JSON \(line 1, column \d+\)$/);
    expect(err!.message).not.toContain("partialSecret");
    const bare = await api.config.import({ config: "partialSecret-4242 is not json" }).then(() => undefined, (e: unknown) => e as TRPCError);
    expect(bare!.message).not.toContain("partialSecret");
  });

  it("a backup downloads without CHAP secrets unless they are asked for", async () => {
    await api.targets.acls.create({ wwn: T, tag: 1, initiatorName: A, chap: { userid: "alpha", password: SECRET, mutualUserid: "target", mutualPassword: MUTUAL } });
    const name = (await api.config.backups.list())[0].name;
    const plain = await api.config.backups.download({ name });
    expect(plain).not.toContain(SECRET);
    expect(plain).not.toContain(MUTUAL);
    expect(plain).toBe(await api.config.export());
    const full = await api.config.backups.download({ name, secrets: true });
    expect(full).toContain(SECRET);
    expect(full).toBe(await api.config.export({ secrets: true }));
  });
});

describe("backups", () => {
  it("each change writes a gzip backup (0600) only when the content differs; rotation keeps max_backup_files", async () => {
    const dir = path.join(fx.dir, "backup");
    const list = await api.config.backups.list();
    expect(list.length).toBeGreaterThanOrEqual(3); // storage object, target, LUN
    for (const b of list) {
      expect(b.name).toMatch(/^saveconfig-\d{8}-\d{2}:\d{2}:\d{2}(\.\d+)?-json\.gz$/);
      expect(fs.statSync(path.join(dir, b.name)).mode & 0o777).toBe(0o600);
    }
    const newest = list[0].name;
    expect(gunzipSync(fs.readFileSync(path.join(dir, newest))).toString()).toBe(await api.config.export({ secrets: true }));
    // A change that changes nothing in the file makes no backup.
    await api.targets.tpgs.setAttributes({ wwn: T, tag: 1, attributes: { login_timeout: 15 } });
    expect((await api.config.backups.list()).length).toBe(list.length);

    await api.config.setSettings({ maxBackupFiles: 3 });
    for (let i = 0; i < 4; i++) await api.storage.create({ plugin: "ramdisk", name: `x${i}`, size: 1 << 20 });
    const after = await api.config.backups.list();
    expect(after.length).toBe(3);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith(".gz")).length).toBe(3);
  });

  it("restores any backup (all-or-nothing, replacing the configuration) and downloads it", async () => {
    const before = await api.config.export({ secrets: true });
    const name = (await api.config.backups.list())[0].name;
    await api.storage.create({ plugin: "ramdisk", name: "later", size: 1 << 20 });
    expect(await api.config.backups.download({ name, secrets: true })).toBe(before);
    await api.config.backups.restore({ name });
    expect(fx.engine.storageObjects.has("ramdisk/later")).toBe(false);
    expect(await api.config.export({ secrets: true })).toBe(before);
    const bad = await rejection(api.config.backups.restore({ name: "../../etc/passwd" }));
    expect(bad.code).toBe("BAD_REQUEST");
    const missing = await rejection(api.config.backups.download({ name: "saveconfig-20000101-00:00:00-json.gz" }));
    expect(missing.code).toBe("NOT_FOUND");
  });
});

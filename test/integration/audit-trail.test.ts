/**
 * An audit log an auditor can use (issue 10 item 7), against the real appliance process:
 * onboarding, console sign-ins and refused sign-ins (aggregated, with the source address),
 * console changes that name their object and what changed (before → after, CHAP secrets
 * masked), CLI changes with the operating-system user (through the running appliance, and on
 * the stopped appliance's data directory), and the appliance's stops and starts.
 *
 * Sources: every 127.0.0.0/8 address reaches the server on 127.0.0.1, so a client bound to
 * 127.0.1.x is "another machine".
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./monitor-support";
import { httpRequest, makeDataDir, portico, removeDir, startPortico, type PorticoProcess } from "../support/portico";

const IQN = "iqn.2003-01.org.example:audit";
const INIT = "iqn.2024-01.org.example:auditor";
const PASSWORD = "correct horse battery";
const SECRET1 = "first-chap-secret-1";
const SECRET2 = "second-chap-secret-2";

let dataDir: string;
let server: PorticoProcess;
let cookie = "";

/** One HTTP request from a chosen loopback source address, with the console's Origin. */
const request = (opts: Parameters<typeof httpRequest>[1]) => httpRequest(server, { ...opts, headers: { origin: server.url, ...opts.headers } });

/** A console mutation with the signed-in admin's cookie, from 127.0.1.6. */
async function consoleMutation(procedure: string, input: unknown): Promise<void> {
  const r = await request({ path: `/api/trpc/${procedure}`, body: { json: input }, from: "127.0.1.6", headers: { cookie } });
  expect(r.status, r.body).toBe(200);
}

const api = () => apiClient(server.url, dataDir);
type Row = Awaited<ReturnType<ReturnType<typeof api>["events"]["list"]["query"]>>[number];
type Change = { object: string; action: string; fields: { field: string; before?: unknown; after?: unknown; secret?: boolean }[] };
const changesOf = (e: Row | undefined) => ((e?.detail?.changes ?? []) as Change[]);

beforeAll(async () => {
  dataDir = makeDataDir("portico-audit-");
  server = await startPortico({ dataDir });
});

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

describe("the audit log", () => {
  it("records onboarding, sign-ins and refused sign-ins with who and from where, never a password", async () => {
    const setupCode = readFileSync(path.join(dataDir, "setup-code"), "utf8").trim();
    const done = await request({
      path: "/api/trpc/onboarding.complete",
      headers: { "x-portico-setup-code": setupCode },
      body: { json: { admin: { username: "admin", password: PASSWORD, confirm: PASSWORD }, appliance: { name: "audit", iqnPrefix: "iqn.2003-01.org.linux-iscsi.audit.x8664" }, storage: { kind: "none" } } },
    });
    expect(done.status, done.body).toBe(200);
    for (const guess of ["wrong-guess-1", "wrong-guess-2"]) {
      const r = await request({ path: "/api/trpc/auth.login", body: { json: { username: "admin", password: guess } }, from: "127.0.1.5" });
      expect(r.status).not.toBe(200);
    }
    const ok = await request({ path: "/api/trpc/auth.login", body: { json: { username: "admin", password: PASSWORD } }, from: "127.0.1.6", headers: { "user-agent": "AuditTest/1.0" } });
    expect(ok.status, ok.body).toBe(200);
    cookie = ok.cookie!.split(";")[0];

    const log = await api().events.list.query({ log: "audit" });
    expect(log.every((e) => e.log === "audit")).toBe(true);
    const onboarding = log.find((e) => e.type === "onboarding");
    expect(onboarding).toMatchObject({ actor: "admin", remote: "127.0.0.1" });
    expect(onboarding?.message).toContain("administrator admin created");
    const failed = log.filter((e) => e.type === "signin_failed");
    // Two refusals in the same minute from the same address: one row, counted.
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ actor: "admin", remote: "127.0.1.5", reason: "wrong_password", count: 2 });
    expect(log.find((e) => e.type === "signin")).toMatchObject({ actor: "admin", remote: "127.0.1.6", detail: { userAgent: "AuditTest/1.0" } });
    expect(JSON.stringify(log)).not.toMatch(/wrong-guess|correct horse/);
  });

  it("names the object of every console change and what changed, before → after, secrets masked", async () => {
    await consoleMutation("targets.create", { wwn: IQN });
    await consoleMutation("targets.tpgs.setAttributes", { wwn: IQN, tag: 1, attributes: { login_timeout: 9 } });
    await consoleMutation("targets.acls.create", { wwn: IQN, tag: 1, initiatorName: INIT, chap: { userid: "auditor", password: SECRET1 } });
    await consoleMutation("targets.acls.setAuth", { wwn: IQN, tag: 1, initiatorName: INIT, chap: { userid: "auditor", password: SECRET2 } });

    const log = await api().events.list.query({ log: "audit", types: ["config"] });
    const by = (reason: string) => log.find((e) => e.reason === reason);
    for (const e of log) expect(e).toMatchObject({ actor: "admin", remote: "127.0.1.6", detail: { ok: true, via: "console" } });

    expect(changesOf(by("targets.create")).map((c) => [c.action, c.object])).toEqual(expect.arrayContaining([["created", `/iscsi/${IQN}`], ["created", `/iscsi/${IQN}/tpg1`]]));
    const attrs = changesOf(by("targets.tpgs.setAttributes"));
    expect(attrs).toHaveLength(1);
    expect(attrs[0]).toMatchObject({ object: `/iscsi/${IQN}/tpg1`, action: "changed" });
    expect(attrs[0].fields).toContainEqual(expect.objectContaining({ field: "attributes.login_timeout", after: 9 }));
    expect(attrs[0].fields.find((f) => f.field === "attributes.login_timeout")?.before).not.toBe(9);
    expect(by("targets.tpgs.setAttributes")?.message).toContain(`/iscsi/${IQN}/tpg1: attributes.login_timeout`);

    const acl = changesOf(by("targets.acls.create")).find((c) => c.object === `/iscsi/${IQN}/tpg1/acls/${INIT}`);
    expect(acl?.action).toBe("created");
    expect(acl?.fields).toContainEqual({ field: "chap.password", after: "••••", secret: true });
    expect(acl?.fields).toContainEqual({ field: "chap.userid", after: "auditor" });
    const auth = changesOf(by("targets.acls.setAuth"));
    expect(auth).toEqual([{ object: `/iscsi/${IQN}/tpg1/acls/${INIT}`, action: "changed", fields: [{ field: "chap.password", before: "••••", after: "••••", secret: true }] }]);
    const all = JSON.stringify(await api().events.list.query({ limit: 1000 }));
    expect(all).not.toContain(SECRET1);
    expect(all).not.toContain(SECRET2);
  });

  it("records CLI changes with the operating-system user, online and on the stopped appliance, and stops and starts", async () => {
    const me = os.userInfo().username;
    const online = portico(dataDir, ["/backstores/ramdisk", "create", "audit1", "1M"]);
    expect(online.status, online.stderr).toBe(0);
    let log = await api().events.list.query({ log: "audit", types: ["config"] });
    const shell = log.find((e) => e.reason === "shell.run");
    expect(shell).toMatchObject({ actor: "cli", remote: "127.0.0.1", detail: { via: "cli", osUser: expect.stringContaining(me), input: { line: "/backstores/ramdisk create audit1 1M" } } });
    expect(changesOf(shell).map((c) => [c.action, c.object])).toEqual([["created", "/backstores/ramdisk/audit1"]]);

    expect(await server.stop()).toBe(0);
    const offline = portico(dataDir, ["/backstores/ramdisk", "create", "audit2", "1M"]);
    expect(offline.status, offline.stderr).toBe(0);
    server = await startPortico({ dataDir });

    log = await api().events.list.query({ log: "audit" });
    const cliOffline = log.find((e) => e.type === "config" && e.detail?.via === "cli-offline");
    expect(cliOffline).toMatchObject({ actor: "cli", remote: "local", reason: "shell.run", detail: { osUser: expect.stringContaining(me), ok: true } });
    expect(changesOf(cliOffline).map((c) => [c.action, c.object])).toEqual([["created", "/backstores/ramdisk/audit2"]]);
    const life = log.filter((e) => e.type === "appliance_start" || e.type === "appliance_stop").map((e) => [e.type, e.reason]);
    // Newest first: this start (the previous run stopped cleanly), the SIGTERM stop, the first start.
    expect(life).toEqual([["appliance_start", null], ["appliance_stop", "SIGTERM"], ["appliance_start", null]]);
    // The offline change sits between the stop and this start.
    const ids = (t: string) => log.filter((e) => e.type === t).map((e) => e.id);
    expect(cliOffline!.id).toBeLessThan(ids("appliance_start")[0]);
    expect(cliOffline!.id).toBeGreaterThan(ids("appliance_stop")[0]);
  }, 240_000);
});

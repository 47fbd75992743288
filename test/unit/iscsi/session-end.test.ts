/**
 * What a login and a logout leave behind and how the connection ends (issue 16 item 4): the target
 * closes at once after a Logout Response or a refused login (FIN after the answer, no RST, no wait
 * for the initiator's FIN); the event log gets one row per login and one per logout, whatever the
 * number of LUNs (their power-on unit attentions are in the login's row); a refused login is
 * recorded once; session reinstatement still finds the old session of the nexus.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine, type Engine } from "../../../server/engine";
import { openHistory } from "../../../server/history/db";
import { Monitor } from "../../../server/history/monitor";
import { IscsiClient, freePort } from "../../support/iscsi-client";

const TARGET = "iqn.2024-01.org.portico.test:session-end";
const INITIATOR = "iqn.2024-01.org.portico.test:session-end-host";

let dir: string;
let engine: Engine;
let monitor: Monitor;
let port: number;
const clients: IscsiClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "portico-session-end-"));
  engine = createEngine({ log: () => undefined, statsEnabled: false });
  for (const name of ["se0", "se1", "se2", "se3"]) await engine.createStorageObject({ plugin: "ramdisk", name, size: 1024 * 1024 });
  engine.createTarget(TARGET);
  engine.createTpg(TARGET, 1, { attributes: { generate_node_acls: 1, demo_mode_write_protect: 0 } });
  for (const [i, name] of ["se0", "se1", "se2"].entries()) engine.createLun(TARGET, 1, `ramdisk/${name}`, { index: i });
  port = await freePort();
  await engine.createPortal(TARGET, 1, "127.0.0.1", port);
  monitor = new Monitor(engine, openHistory(dir));
  monitor.sampler.stop();
});

afterAll(async () => {
  for (const c of clients) c.close();
  monitor.close();
  await engine.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

/** A client whose socket does not close its own side when the target's FIN arrives. */
async function halfOpenClient(): Promise<{ c: IscsiClient; ended: Promise<"fin" | "error"> }> {
  const c = await IscsiClient.connect(port);
  clients.push(c);
  c.socket.allowHalfOpen = true;
  const ended = new Promise<"fin" | "error">((resolve) => {
    c.socket.once("end", () => resolve("fin"));
    c.socket.once("error", () => resolve("error"));
  });
  return { c, ended };
}

const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms))]);

describe("the end of a session", () => {
  it("closes at once after the Logout Response: FIN, not RST, and the session is gone before the initiator closes its side", async () => {
    const isid = "400001000f01";
    const { c, ended } = await halfOpenClient();
    expect((await c.login({ targetName: TARGET, initiatorName: INITIATOR, isid })).statusClass).toBe(0);
    expect(engine.sessions().some((s) => s.isid === isid)).toBe(true);
    expect(await c.logout()).toBe(0);
    // The target's FIN follows its answer (a half-closed target would wait up to 2 s for ours).
    expect(await within(ended, 1000)).toBe("fin");
    expect(c.socket.writable).toBe(true); // our side is still open: the target did not wait for it
    await new Promise((r) => setImmediate(r));
    expect(engine.sessions().some((s) => s.isid === isid)).toBe(false);
    c.close();
  });

  it("closes at once after a refused login, and records the refusal once", async () => {
    const { c, ended } = await halfOpenClient();
    const before = monitor.events({ types: ["login_failed"] }).reduce((n, e) => n + e.count, 0);
    const r = await c.login({ targetName: `${TARGET}-missing`, initiatorName: INITIATOR, isid: "400001000f02" });
    expect(r.statusClass).toBe(2);
    expect(await within(ended, 1000)).toBe("fin");
    expect(await c.closesWithin(1000)).toBe(false); // still half-open on our side: nothing else closed it
    c.close();
    await c.closed;
    await new Promise((r) => setTimeout(r, 20));
    const after = monitor.events({ types: ["login_failed"] }).reduce((n, e) => n + e.count, 0);
    expect(after - before).toBe(1);
  });

  it("leaves one event-log row per login and one per logout, the LUNs' power-on unit attentions in the login's row", async () => {
    const isid = "400001000f03";
    const c = await IscsiClient.connect(port);
    clients.push(c);
    expect((await c.login({ targetName: TARGET, initiatorName: INITIATOR, isid })).statusClass).toBe(0);
    const sessionId = engine.sessions().find((s) => s.isid === isid)!.id;
    expect(await c.logout()).toBe(0);
    expect(await c.closesWithin(2000)).toBe(true);
    await new Promise((r) => setImmediate(r));
    const rows = monitor.events({ limit: 1000 }).filter((e) => e.sessionId === sessionId);
    expect(rows.map((e) => e.type).sort()).toEqual(["login", "logout"]);
    const login = rows.find((e) => e.type === "login")!;
    expect(login.detail).toMatchObject({
      sessionType: "Normal", isid, chap: false,
      unitAttentions: [0, 1, 2].map((lun) => ({ lun, asc: 0x29, ascq: 0, storageObject: `ramdisk/se${lun}` })),
    });
    expect(rows.find((e) => e.type === "logout")).toMatchObject({ reason: "logout", initiatorName: INITIATOR, targetName: TARGET });
    // No unit_attention_raised rows for this login's nexus.
    expect(monitor.events({ types: ["unit_attention_raised"], limit: 1000 }).filter((e) => e.detail?.isid === isid)).toEqual([]);
  });

  it("reinstates a session logging in again with the same ISID (TSIH 0): the old one ends with reason 'reinstated'", async () => {
    const isid = "400001000f04";
    const a = await IscsiClient.connect(port);
    clients.push(a);
    expect((await a.login({ targetName: TARGET, initiatorName: INITIATOR, isid })).statusClass).toBe(0);
    const first = engine.sessions().find((s) => s.isid === isid)!;
    const b = await IscsiClient.connect(port);
    clients.push(b);
    expect((await b.login({ targetName: TARGET, initiatorName: INITIATOR, isid })).statusClass).toBe(0);
    expect(await a.closesWithin(2000)).toBe(true);
    const now = engine.sessions().filter((s) => s.isid === isid);
    expect(now).toHaveLength(1);
    expect(now[0].id).not.toBe(first.id);
    await new Promise((r) => setImmediate(r));
    expect(monitor.events({ types: ["logout"], limit: 1000 }).find((e) => e.sessionId === first.id)?.reason).toBe("reinstated");
    // The new session's nexus is the one unit attentions find: a LUN change raises one event naming it.
    engine.createLun(TARGET, 1, "ramdisk/se3", { index: 9 });
    await new Promise((r) => setImmediate(r));
    const raised = monitor.events({ types: ["unit_attention_raised"], limit: 1000 }).filter((e) => e.detail?.isid === isid && e.detail?.asc === 0x3f);
    expect(raised.length).toBeGreaterThan(0);
    expect(raised.every((e) => e.sessionId === now[0].id)).toBe(true);
    engine.deleteLun(TARGET, 1, 9);
    expect(await b.logout()).toBe(0);
  });
});

/**
 * Unit attentions reach fabric.events when the SCSI layer raises them ('unit_attention_raised',
 * one per nexus), not only when a command delivers them ('unit_attention').
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine, engineMonitor, type Engine } from "../../../server/engine";
import type { FabricEvent } from "../../../server/engine/iscsi/fabric";
import { IscsiClient, freePort } from "../../support/iscsi-client";

const TARGET = "iqn.2024-01.org.portico.test:ua-events";
const INITIATOR = "iqn.2024-01.org.portico.test:ua-host";

let engine: Engine;
let port: number;
const events: FabricEvent[] = [];
const clients: IscsiClient[] = [];

beforeAll(async () => {
  engine = createEngine({ log: () => undefined, statsEnabled: false });
  engineMonitor(engine)!.fabric.events.on("event", (e: FabricEvent) => events.push(e));
  await engine.createStorageObject({ plugin: "ramdisk", name: "ua0", size: 1024 * 1024 });
  await engine.createStorageObject({ plugin: "ramdisk", name: "ua1", size: 1024 * 1024 });
  engine.createTarget(TARGET);
  engine.createTpg(TARGET, 1, { attributes: { generate_node_acls: 1, demo_mode_write_protect: 0 } });
  engine.createLun(TARGET, 1, "ramdisk/ua0", { index: 0 });
  port = await freePort();
  await engine.createPortal(TARGET, 1, "127.0.0.1", port);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await engine.shutdown();
});

describe("unit_attention_raised", () => {
  it("reports the power-on UA in the login's event and a LUN inventory change at once, separately from delivery", async () => {
    const c = await IscsiClient.connect(port);
    clients.push(c);
    expect((await c.login({ targetName: TARGET, initiatorName: INITIATOR, isid: "400001000e01" })).statusClass).toBe(0);
    // The login's events are emitted on the next tick, after its response.
    await new Promise((r) => setImmediate(r));
    const raised = () => events.filter((e) => e.type === "unit_attention_raised");
    // The power-on UA of the new nexus is in its login event, not an event (an event-log row) of its own per LUN.
    expect(raised()).toHaveLength(0);
    const logins = events.filter((e) => e.type === "login");
    expect(logins).toHaveLength(1);
    expect(logins[0]).toMatchObject({
      initiatorName: INITIATOR, targetName: TARGET, tpgTag: 1, sessionId: engine.sessions()[0].id,
      detail: { isid: "400001000e01", unitAttentions: [{ lun: 0, asc: 0x29, ascq: 0x00, storageObject: "ramdisk/ua0" }] },
    });
    expect(events.some((e) => e.type === "unit_attention")).toBe(false); // not delivered yet

    // A new LUN changes the inventory: 3Fh/0Eh raised on the LUN the nexus already has, right away.
    engine.createLun(TARGET, 1, "ramdisk/ua1", { index: 1 });
    expect(raised().map((e) => [e.detail?.asc, e.detail?.ascq, e.detail?.storageObject])).toContainEqual([0x3f, 0x0e, "ramdisk/ua0"]);
    // Raised on a live nexus: the event names its session and LUN.
    expect(raised()[0]).toMatchObject({ initiatorName: INITIATOR, lun: 0, sessionId: engine.sessions()[0].id, detail: { isid: "400001000e01" } });

    // Delivery is the other event, on the next command.
    const r = await c.command(Buffer.from([0, 0, 0, 0, 0, 0]));
    expect(r.status).toBe(0x02);
    expect(events.filter((e) => e.type === "unit_attention")).toHaveLength(1);
    // Only the power-on UA was delivered; 3Fh/0Eh is still pending, so changing the inventory
    // again raises nothing new (a UA already pending is not raised twice).
    const n = raised().length;
    engine.deleteLun(TARGET, 1, 1);
    expect(raised().length).toBe(n);
    // Once delivered, the next change raises it again.
    expect((await c.command(Buffer.from([0, 0, 0, 0, 0, 0]))).sense?.[12]).toBe(0x3f);
    engine.createLun(TARGET, 1, "ramdisk/ua1", { index: 1 });
    expect(raised().length).toBe(n + 1);
  });
});

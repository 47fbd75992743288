/**
 * Node ACL timeouts reach the fabric: nopin_timeout / nopin_response_timeout drive the
 * NOP-In keepalive, dataout_timeout fails a connection whose Data-Out never comes (ERL 0,
 * as LIO's iscsit_handle_dataout_timeout). attributeSecondMs shortens the attribute's
 * "second" so the tests run in milliseconds; the values still come from the attributes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IscsiClient } from "../../support/iscsi-client";
import { Opcode, R2T, ScsiCommand } from "../../../server/engine/iscsi/pdu";
import { TARGET, startTarget, type Harness } from "./harness";

const SECOND = 20; // ms per attribute second
const ACL_INITIATOR = "iqn.2024-01.org.portico.test:acl-timeouts";

let h: Harness;
const clients: IscsiClient[] = [];

beforeAll(async () => {
  h = await startTarget({ attributeSecondMs: SECOND });
  h.engine.createNodeAcl(TARGET, 1, ACL_INITIATOR, { attributes: { nopin_timeout: 3, nopin_response_timeout: 3 } });
  h.engine.createMappedLun(TARGET, 1, ACL_INITIATOR, { index: 0, tpgLun: 0 });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await h.close();
});

async function login(initiatorName: string | undefined, isid: string): Promise<IscsiClient> {
  const c = await IscsiClient.connect(h.port);
  clients.push(c);
  const r = await c.login({ targetName: TARGET, isid, ...(initiatorName ? { initiatorName } : {}) });
  expect(r.statusClass).toBe(0);
  return c;
}

/** Time until the next unsolicited NOP-In ping (ms), or undefined if none within `within`. */
async function nextPing(c: IscsiClient, within: number): Promise<number | undefined> {
  const t0 = Date.now();
  for (;;) {
    const left = within - (Date.now() - t0);
    if (left <= 0) return undefined;
    const p = await c.nextUnsolicited(left);
    if (!p) return undefined;
    if (p.opcode === Opcode.NOP_IN) return Date.now() - t0;
  }
}

describe("NOP-In keepalive from node ACL attributes", () => {
  it("pings after the ACL's nopin_timeout and drops after its nopin_response_timeout", async () => {
    const c = await login(ACL_INITIATOR, "400001000001");
    c.autoNopReply = false;
    const at = await nextPing(c, 1000);
    expect(at).toBeDefined();
    expect(at!).toBeLessThan(3 * SECOND * 4); // 60 ms nominal, not the 15 s default
    // No answer: the connection ends after nopin_response_timeout (3 × 20 ms).
    expect(await c.closesWithin(1000)).toBe(true);
  });

  it("reads nopin_timeout live: a change applies to the next ping", async () => {
    const c = await login(ACL_INITIATOR, "400001000002");
    c.autoNopReply = false;
    h.engine.setNodeAclAttributes(TARGET, 1, ACL_INITIATOR, { nopin_timeout: 60, nopin_response_timeout: 60 });
    try {
      // A PDU from the initiator re-arms the idle timer with the new value: 60 × 20 ms = 1.2 s.
      expect((await c.read10(0, 1)).status).toBe(0);
      expect(await nextPing(c, 600)).toBeUndefined();
      expect(await nextPing(c, 2000)).toBeDefined();
    } finally {
      h.engine.setNodeAclAttributes(TARGET, 1, ACL_INITIATOR, { nopin_timeout: 3, nopin_response_timeout: 3 });
    }
  });

  it("demo mode uses LIO's defaults (nopin_timeout 15)", async () => {
    const c = await login(undefined, "400001000003");
    c.autoNopReply = false;
    // 15 × 20 ms = 300 ms: none at 150 ms, one by 1 s.
    expect(await nextPing(c, 150)).toBeUndefined();
    expect(await nextPing(c, 1000)).toBeDefined();
  });
});

describe("dataout_timeout", () => {
  it("drops the connection when solicited Data-Out does not come (ERL 0, as LIO)", async () => {
    h.engine.setNodeAclAttributes(TARGET, 1, ACL_INITIATOR, { nopin_timeout: 60, dataout_timeout: 2 });
    try {
      const c = await login(ACL_INITIATOR, "400001000004");
      const cdb = Buffer.alloc(16);
      cdb[0] = 0x2a;
      cdb.writeUInt16BE(8, 7);
      // WRITE(10) of 4 KiB, no immediate data: the target answers with an R2T, we send nothing.
      c.sendPdu(ScsiCommand, { immediate: false, final: true, read: false, write: true, attr: 1, lun: 0, itt: 77, edtl: 4096, cmdSN: c.cmdSN++, expStatSN: c.expStatSN, cdb });
      const r2t = await c.nextUnsolicited(1000);
      expect(r2t?.opcode).toBe(Opcode.R2T);
      expect(R2T.decode(r2t!.bhs).desiredLength).toBe(4096);
      const t0 = Date.now();
      expect(await c.closesWithin(2000)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2 * SECOND - 5);
      expect(h.logs.some((l) => l.includes("Data-Out timeout"))).toBe(true);
    } finally {
      h.engine.setNodeAclAttributes(TARGET, 1, ACL_INITIATOR, { nopin_timeout: 3, dataout_timeout: 3 });
    }
  });

  it("keeps a connection whose Data-Out arrives in time", async () => {
    h.engine.setNodeAclAttributes(TARGET, 1, ACL_INITIATOR, { nopin_timeout: 60, dataout_timeout: 2 });
    try {
      const c = await login(ACL_INITIATOR, "400001000005");
      for (let i = 0; i < 5; i++) {
        expect((await c.write10(0, Buffer.alloc(64 * 1024, i), 512, 0, { noImmediateData: true })).status).toBe(0);
        await new Promise((r) => setTimeout(r, 2 * SECOND)); // idle between commands is not a Data-Out wait
      }
      expect(c.isClosed).toBe(false);
    } finally {
      h.engine.setNodeAclAttributes(TARGET, 1, ACL_INITIATOR, { nopin_timeout: 3, dataout_timeout: 3 });
    }
  });
});

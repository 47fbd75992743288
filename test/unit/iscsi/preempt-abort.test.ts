/**
 * PERSISTENT RESERVE OUT / PREEMPT AND ABORT through the fabric (SPC-4 §5.12.11.2.6): two
 * sessions on one LU (the real ScsiDisk over a backstore whose reads are slow); the preempted
 * nexus's READ in flight ends with TASK ABORTED (TAS=1), the PR OUT itself completes GOOD.
 * Plain PREEMPT leaves the other nexus's tasks alone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RamdiskBackstore } from "../../../server/engine/backstores/ramdisk";
import type { Backstore } from "../../../server/engine/backstores/backstore";
import { Engine } from "../../../server/engine/core/engine";
import { IscsiFabric } from "../../../server/engine/iscsi/fabric";
import { ScsiDisk } from "../../../server/engine/scsi/disk";
import { IscsiClient, freePort } from "../../support/iscsi-client";

const TARGET = "iqn.2024-01.org.portico.test:pr-abort";
const SLOW_MS = 400;

let engine: Engine;
let fabric: IscsiFabric;
let port: number;
const slow = { reads: 0 };
const clients: IscsiClient[] = [];

/** Reads of LBA ≥ 1000 take SLOW_MS: long enough to be in flight when the PR OUT arrives. */
function slowRamdisk(size: number): Backstore {
  const inner = new RamdiskBackstore(512, size);
  return {
    plugin: "ramdisk", blockSize: 512, writeBack: false,
    get sizeBytes() { return inner.sizeBytes; },
    async read(off, len) {
      if (off >= 1000 * 512) {
        slow.reads++;
        await new Promise((r) => setTimeout(r, SLOW_MS));
      }
      return inner.read(off, len);
    },
    write: (off, data, fua) => inner.write(off, data, fua),
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
}

beforeAll(async () => {
  engine = new Engine({ openBackstore: async (s) => slowRamdisk(s.size ?? 4 * 1024 * 1024), createDevice: (info) => new ScsiDisk(info) });
  fabric = new IscsiFabric(engine, { log: () => undefined });
  engine.attachFabric(fabric);
  await engine.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 4 * 1024 * 1024 });
  engine.createTarget(TARGET);
  engine.createTpg(TARGET, 1, { attributes: { generate_node_acls: 1, demo_mode_write_protect: 0 } });
  engine.createLun(TARGET, 1, "rd0");
  port = await freePort();
  await engine.createPortal(TARGET, 1, "127.0.0.1", port);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await fabric.shutdown();
});

async function session(initiatorName: string, isid: string): Promise<IscsiClient> {
  const c = await IscsiClient.connect(port);
  clients.push(c);
  expect((await c.login({ targetName: TARGET, initiatorName, isid })).statusClass).toBe(0);
  await c.command(Buffer.from([0, 0, 0, 0, 0, 0])); // TEST UNIT READY: takes the power-on unit attention
  return c;
}

function prOut(c: IscsiClient, serviceAction: number, key: bigint, sark: bigint, type = 0): Promise<{ status: number }> {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x5f;
  cdb[1] = serviceAction;
  cdb[2] = type;
  cdb.writeUInt32BE(24, 5);
  const params = Buffer.alloc(24);
  params.writeBigUInt64BE(key, 0);
  params.writeBigUInt64BE(sark, 8);
  return c.command(cdb, { write: params });
}

function slowRead(c: IscsiClient): Promise<{ status: number }> {
  return c.read10(1000, 8);
}

async function untilSlowRead(count: number): Promise<void> {
  while (slow.reads < count) await new Promise((r) => setTimeout(r, 5));
}

describe("PREEMPT AND ABORT", () => {
  it("aborts the preempted nexus's tasks (TASK ABORTED) and completes the PR OUT", async () => {
    const a = await session("iqn.2024-01.org.portico.test:host-a", "400001000a01");
    const b = await session("iqn.2024-01.org.portico.test:host-b", "400001000b01");
    expect((await prOut(a, 0x00, 0n, 0xaan)).status).toBe(0); // REGISTER
    expect((await prOut(b, 0x00, 0n, 0xbbn)).status).toBe(0);
    const before = slow.reads;
    const inFlight = slowRead(b);
    await untilSlowRead(before + 1);
    const t0 = Date.now();
    expect((await prOut(a, 0x05, 0xaan, 0xbbn, 0x01)).status).toBe(0); // PREEMPT AND ABORT, type WRITE EXCLUSIVE
    expect((await inFlight).status).toBe(0x40); // TASK ABORTED
    // The PR OUT waited for the aborted READ to be quiet.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(SLOW_MS / 2);
    // B is told why, as for PREEMPT: REGISTRATIONS PREEMPTED.
    const ua = await b.command(Buffer.from([0, 0, 0, 0, 0, 0]));
    expect(ua.status).toBe(0x02);
    expect([ua.sense![12], ua.sense![13]]).toEqual([0x2a, 0x05]);
    // A's own commands are untouched.
    expect((await a.read10(0, 1)).status).toBe(0);
  });

  it("plain PREEMPT leaves the preempted nexus's tasks running", async () => {
    const a = await session("iqn.2024-01.org.portico.test:host-c", "400001000c01");
    const b = await session("iqn.2024-01.org.portico.test:host-d", "400001000d01");
    // The previous test left a reservation held by 0xaa: clear it with a key of our own.
    expect((await prOut(a, 0x00, 0n, 0xccn)).status).toBe(0);
    expect((await prOut(a, 0x03, 0xccn, 0n)).status).toBe(0); // CLEAR
    await a.command(Buffer.from([0, 0, 0, 0, 0, 0])); // RESERVATIONS PREEMPTED UA, if any
    await b.command(Buffer.from([0, 0, 0, 0, 0, 0]));
    expect((await prOut(a, 0x00, 0n, 0xccn)).status).toBe(0);
    expect((await prOut(b, 0x00, 0n, 0xddn)).status).toBe(0);
    const before = slow.reads;
    const inFlight = slowRead(b);
    await untilSlowRead(before + 1);
    expect((await prOut(a, 0x04, 0xccn, 0xddn, 0x01)).status).toBe(0); // PREEMPT
    expect((await inFlight).status).toBe(0);
  });
});

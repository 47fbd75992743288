/**
 * In-process target: Engine + IscsiFabric on 127.0.0.1, driven by the test client
 * through discovery, login, writes and reads (immediate data, R2T, digests), task
 * management, logout, and bad PDUs while another session keeps working.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { IscsiClient } from "../../support/iscsi-client";
import { INITIATOR, SLOW_OPCODE, TARGET, startTarget, type Harness } from "./harness";
import { EngineError } from "../../../server/engine/core/errors";
import { Opcode } from "../../../server/engine/iscsi/pdu";

let h: Harness;
const clients: IscsiClient[] = [];

async function connect(): Promise<IscsiClient> {
  const c = await IscsiClient.connect(h.port);
  clients.push(c);
  return c;
}

async function session(opts: Parameters<IscsiClient["login"]>[0] = {}): Promise<IscsiClient> {
  const c = await connect();
  const r = await c.login({ targetName: TARGET, isid: randomBytes(6).toString("hex"), ...opts });
  expect(r.statusClass, `login ${JSON.stringify(r)}`).toBe(0);
  return c;
}

beforeAll(async () => {
  h = await startTarget();
});

afterAll(async () => {
  for (const c of clients) c.close();
  await h.close();
});

describe("discovery", () => {
  it("lists the target with its portal and tag", async () => {
    const c = await connect();
    const r = await c.login({ discovery: true });
    expect(r.statusClass).toBe(0);
    const targets = await c.sendTargets();
    expect(targets).toEqual([{ name: TARGET, addresses: [`127.0.0.1:${h.port},1`] }]);
    expect(await c.logout()).toBe(0);
    expect(await c.closesWithin(3000)).toBe(true);
  });

  it("splits a long SendTargets answer with continuation", async () => {
    for (let i = 0; i < 60; i++) {
      h.engine.createTarget(`iqn.2024-01.org.portico.test:many-${String(i).padStart(3, "0")}-${"x".repeat(60)}`);
      h.engine.createTpg(`iqn.2024-01.org.portico.test:many-${String(i).padStart(3, "0")}-${"x".repeat(60)}`, 1, { attributes: { generate_node_acls: 1 } });
    }
    try {
      const c = await connect();
      expect((await c.login({ discovery: true, maxRecvDataSegmentLength: 512 })).statusClass).toBe(0);
      const targets = await c.sendTargets();
      expect(targets.length).toBe(61);
      expect(targets.filter((t) => t.name.includes("many-059")).length).toBe(1);
      c.close();
    } finally {
      for (let i = 0; i < 60; i++) await h.engine.deleteTarget(`iqn.2024-01.org.portico.test:many-${String(i).padStart(3, "0")}-${"x".repeat(60)}`);
    }
  });
});

describe("login", () => {
  it("refuses an unknown target with 0x0203", async () => {
    const c = await connect();
    const r = await c.login({ targetName: "iqn.2024-01.org.nowhere:none" });
    expect([r.statusClass, r.statusDetail]).toEqual([2, 3]);
    expect(await c.closesWithin(3000)).toBe(true);
    expect(h.fabric.loginStats().failures.at(-1)?.cause).toBe("unknown target");
  });

  it("refuses a missing InitiatorName with 0x0207", async () => {
    const c = await connect();
    const r = await c.login({ targetName: TARGET, initiatorName: "" });
    expect([r.statusClass, r.statusDetail]).toEqual([2, 7]);
  });

  it("answers TargetPortalGroupTag and declares our MaxRecvDataSegmentLength", async () => {
    const c = await connect();
    const r = await c.login({ targetName: TARGET, securityStage: true, keys: { "X-com.example.foo": "bar", MaxBurstLength: "100" } });
    expect(r.statusClass).toBe(0);
    expect(r.keys.TargetPortalGroupTag).toBe("1");
    expect(r.keys.MaxRecvDataSegmentLength).toBe("8192");
    expect(r.keys["X-com.example.foo"]).toBe("NotUnderstood");
    expect(r.keys.MaxBurstLength).toBe("Reject");
    expect(r.tsih).toBeGreaterThan(0);
    const info = h.fabric.sessions().find((s) => s.tsih === r.tsih)!;
    expect(info.initiatorName).toBe(INITIATOR);
    expect(info.parameters.MaxBurstLength).toBe("262144");
    c.close();
  });

  it("reinstates a session that logs in again with the same ISID", async () => {
    const isid = "400001aa0001";
    const a = await session({ isid });
    const b = await session({ isid });
    expect(await a.closesWithin(3000)).toBe(true);
    expect((await b.read10(0, 1)).status).toBe(0);
    expect(h.fabric.sessions().filter((s) => s.isid === isid).length).toBe(1);
  });

  it("refuses an initiator without a node ACL outside demo mode (0x0202)", async () => {
    h.engine.setTpgAttribute(TARGET, 1, "generate_node_acls", 0);
    try {
      const c = await connect();
      const r = await c.login({ targetName: TARGET, initiatorName: "iqn.2024-01.org.portico.test:stranger" });
      expect([r.statusClass, r.statusDetail]).toEqual([2, 2]);
      h.engine.createNodeAcl(TARGET, 1, "iqn.2024-01.org.portico.test:friend");
      h.engine.createMappedLun(TARGET, 1, "iqn.2024-01.org.portico.test:friend", { index: 0, tpgLun: 0 });
      const d = await session({ initiatorName: "iqn.2024-01.org.portico.test:friend" });
      expect((await d.read10(0, 1)).status).toBe(0);
      d.close();
    } finally {
      h.engine.setTpgAttribute(TARGET, 1, "generate_node_acls", 1);
    }
  });

  it("drops a login that does not finish within the login timeout", async () => {
    const t = await startTarget({ loginTimeoutMs: 200 });
    try {
      const s = net.connect(t.port, "127.0.0.1");
      const closed = await new Promise<boolean>((resolve) => {
        s.on("close", () => resolve(true));
        s.on("error", () => undefined);
        setTimeout(() => resolve(false), 3000);
      });
      expect(closed).toBe(true);
    } finally {
      await t.close();
    }
  });
});

describe("full feature phase", () => {
  it("writes with immediate data and R2T, reads back split Data-In", async () => {
    const c = await session({ maxRecvDataSegmentLength: 4096 });
    const small = randomBytes(4096);
    expect((await c.write10(8, small)).status).toBe(0);
    const big = randomBytes(300 * 1024); // beyond FirstBurstLength and MaxBurstLength: several R2Ts
    expect((await c.write10(100, big)).status).toBe(0);
    const r = await c.read10(100, big.length / 512);
    expect(r.status).toBe(0);
    expect(r.dataInPdus).toBe(big.length / 4096);
    expect(r.data.equals(big)).toBe(true);
    expect((await c.read10(8, 8)).data.equals(small)).toBe(true);
    const noImm = randomBytes(8192);
    expect((await c.write10(50, noImm, 512, 0, { noImmediateData: true })).status).toBe(0);
    expect((await c.read10(50, 16)).data.equals(noImm)).toBe(true);
    // No immediate data, several Data-Out PDUs (the first no longer carries it all): gathered at their offsets.
    const noImmBig = randomBytes(64 * 1024);
    expect((await c.write10(200, noImmBig, 512, 0, { noImmediateData: true })).status).toBe(0);
    expect((await c.read10(200, noImmBig.length / 512)).data.equals(noImmBig)).toBe(true);
    expect((await c.read10(50, 16)).data.equals(noImm)).toBe(true);
  });

  it("gives each read's buffer back once its Data-In is written, and reuses gather buffers safely", async () => {
    const c = await session({ maxRecvDataSegmentLength: 8192 });
    const disk = h.disk();
    const before = disk.released.length;
    // Large writes (pooled gather buffers, given back when the command finishes), each read back at once.
    const blocks = [randomBytes(256 * 1024), randomBytes(256 * 1024), randomBytes(256 * 1024)];
    for (const [i, b] of blocks.entries()) {
      expect((await c.write10(1000 + i * 512, b, 512, 0, { noImmediateData: true })).status).toBe(0);
    }
    for (const [i, b] of blocks.entries()) expect((await c.read10(1000 + i * 512, 512)).data.equals(b)).toBe(true);
    await expect.poll(() => disk.released.length - before).toBe(blocks.length);
    expect(disk.released.slice(before).every((own) => own)).toBe(true);
  });

  it("writes with unsolicited Data-Out when InitialR2T=No", async () => {
    const c = await session({ keys: { InitialR2T: "No" } });
    const data = randomBytes(128 * 1024);
    expect((await c.write10(300, data)).status).toBe(0);
    expect((await c.read10(300, data.length / 512)).data.equals(data)).toBe(true);
  });

  it("works with HeaderDigest and DataDigest CRC32C", async () => {
    const c = await session({ headerDigest: true, dataDigest: true });
    const data = randomBytes(64 * 1024 + 3 * 512);
    expect((await c.write10(700, data)).status).toBe(0);
    expect((await c.read10(700, data.length / 512)).data.equals(data)).toBe(true);
    const info = h.fabric.sessions().find((s) => s.tsih === c.tsih)!;
    expect([info.parameters.HeaderDigest, info.parameters.DataDigest]).toEqual(["CRC32C", "CRC32C"]);
    expect((await c.nop(Buffer.from("ping!"))).toString()).toBe("ping!");
  });

  it("sets residual underflow and overflow", async () => {
    const c = await session();
    // READ(10) of 2 blocks with EDTL 512: overflow of 512, Data-In truncated.
    const cdb = Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0]);
    const over = await c.command(cdb, { readLength: 512 });
    expect([over.status, over.overflow, over.residual, over.data.length]).toEqual([0, true, 512, 512]);
    // EDTL 2048 for 2 blocks: underflow of 1024.
    const under = await c.command(cdb, { readLength: 2048 });
    expect([under.status, under.underflow, under.residual, under.data.length]).toEqual([0, true, 1024, 1024]);
    // CHECK CONDITION carries sense in a SCSI Response.
    const bad = await c.command(Buffer.from([0xee, 0, 0, 0, 0, 0]), {});
    expect(bad.status).toBe(2);
    expect(bad.sense?.[2]).toBe(5);
  });

  it("answers NOP-Out, executes commands in CmdSN order and drops those outside the window", async () => {
    const c = await session();
    expect((await c.nop()).length).toBe(0);
    // A command far outside the window: silently ignored; the next in-order one still works.
    c.cmdSN += 1000;
    const lost = c.read10(0, 1).then(() => "answered", () => "lost");
    c.cmdSN -= 1001;
    expect((await c.read10(0, 1)).status).toBe(0);
    c.close();
    expect(await lost).toBe("lost");
  });

  it("aborts a task (ABORT TASK) and answers LUN RESET; unknown LUN gets 'LUN does not exist'", async () => {
    const c = await session();
    const itt = c.itt;
    const slow = c.command(Buffer.from([SLOW_OPCODE, 0, 0, 0, 0, 0]), {}).then(() => "answered", () => "no answer");
    await new Promise((r) => setTimeout(r, 100));
    expect(await c.taskManagement(1, 0, itt, c.cmdSN - 1)).toBe(0);
    expect(await c.taskManagement(1, 0, 0x12345, (c.cmdSN - 100) >>> 0)).toBe(1);
    expect(await c.taskManagement(5, 0)).toBe(0);
    expect(h.disk().events).toContain("tmf:lun_reset");
    expect(await c.taskManagement(5, 77)).toBe(2);
    expect(await c.taskManagement(3, 0)).toBe(5); // CLEAR ACA: not supported
    expect(await c.taskManagement(8, 0)).toBe(4); // TASK REASSIGN at ERL 0
    c.close();
    expect(await slow).toBe("no answer");
  });

  it("logs out and calls nexusCreated / nexusLost", async () => {
    const name = "iqn.2024-01.org.portico.test:hooks";
    const c = await session({ initiatorName: name });
    expect(h.disk().events).toContain(`created:${name}`);
    expect(await c.logout()).toBe(0);
    expect(await c.closesWithin(3000)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(h.disk().events).toContain(`lost:${name}`);
  });

  it("closeSessions ends matching sessions", async () => {
    const name = "iqn.2024-01.org.portico.test:closeme";
    const c = await session({ initiatorName: name });
    await h.fabric.closeSessions((s) => s.initiatorName === name);
    expect(await c.closesWithin(3000)).toBe(true);
    expect(h.fabric.sessions().some((s) => s.initiatorName === name)).toBe(false);
  });

  it("pings with NOP-In and drops a connection that does not answer", async () => {
    const t = await startTarget({ nopInIntervalMs: 100, nopInTimeoutMs: 200 });
    try {
      const quiet = await IscsiClient.connect(t.port);
      quiet.autoNopReply = false;
      expect((await quiet.login({ targetName: TARGET })).statusClass).toBe(0);
      const alive = await IscsiClient.connect(t.port);
      expect((await alive.login({ targetName: TARGET, isid: "400001000099" })).statusClass).toBe(0);
      expect(await quiet.closesWithin(3000)).toBe(true);
      expect((await alive.read10(0, 1)).status).toBe(0);
      alive.close();
    } finally {
      await t.close();
    }
  });
});

describe("bad input", () => {
  it("rejects an unknown opcode and keeps the session", async () => {
    const c = await session();
    const bhs = Buffer.alloc(48);
    bhs[0] = 0x0f;
    bhs[1] = 0x80;
    c.sendBytes(bhs);
    const rej = await c.nextUnsolicited();
    expect(rej?.opcode).toBe(Opcode.REJECT);
    expect(IscsiClient.rejectInfo(rej!)).toEqual({ reason: 0x05, opcode: 0x0f });
    expect((await c.read10(0, 1)).status).toBe(0);
  });

  it("drops garbage, truncated and oversized PDUs while another session keeps working", async () => {
    const good = await session();
    const io = (async () => {
      for (let i = 0; i < 30; i++) expect((await good.read10(i, 4)).status).toBe(0);
    })();
    const garbage = await connect();
    const junk = randomBytes(4096);
    junk[0] = 0x3b;
    garbage.sendBytes(junk);
    const trunc = await connect();
    trunc.socket.end(Buffer.alloc(20, 3));
    const big = await connect();
    const hdr = Buffer.alloc(48);
    hdr[0] = 0x43;
    hdr[1] = 0x87;
    hdr.writeUIntBE(16 * 1024 * 1024 - 1, 5, 3);
    big.sendBytes(hdr);
    const bigAnswer = await big.nextUnsolicited(3000);
    if (bigAnswer) expect(bigAnswer.bhs[36]).not.toBe(0);
    expect(await garbage.closesWithin(3000)).toBe(true);
    expect(await trunc.closesWithin(3000)).toBe(true);
    expect(await big.closesWithin(3000)).toBe(true);
    // In full feature phase, an oversized data segment gets a Reject and a drop.
    const ffp = await session();
    const over = Buffer.alloc(48);
    over[0] = 0x01 | 0x40;
    over[1] = 0xa1;
    over.writeUIntBE(9000, 5, 3);
    ffp.sendBytes(over);
    const rej = await ffp.nextUnsolicited(3000);
    expect(rej?.opcode).toBe(Opcode.REJECT);
    expect(await ffp.closesWithin(3000)).toBe(true);
    await io;
    expect((await good.read10(0, 1)).status).toBe(0);
  });

  it("survives random PDUs after login", async () => {
    const good = await session();
    for (let i = 0; i < 10; i++) {
      const c = await session();
      const b = randomBytes(48 * 4);
      for (let k = 0; k < 4; k++) b.fill(0, k * 48 + 4, k * 48 + 8);
      c.sendBytes(b);
      setTimeout(() => c.close(), 100);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect((await good.read10(0, 1)).status).toBe(0);
  });
});

describe("portals", () => {
  it("refuses a port in use with an EngineError and leaves nothing listening", async () => {
    const err = await h.fabric.openPortal("127.0.0.1", h.port + 0).then(() => undefined, (e) => e);
    // Already ours: opening twice is a no-op.
    expect(err).toBeUndefined();
    const blocker = net.createServer();
    const port = await new Promise<number>((r) => blocker.listen(0, "127.0.0.1", () => r((blocker.address() as net.AddressInfo).port)));
    try {
      const e = await h.fabric.openPortal("127.0.0.1", port).then(() => undefined, (x) => x);
      expect(e).toBeInstanceOf(EngineError);
      expect(e.message).toBe(`portal 127.0.0.1:${port}: address already in use`);
      expect([e.code, e.field]).toEqual(["in_use", "port"]);
    } finally {
      blocker.close();
    }
  });
});

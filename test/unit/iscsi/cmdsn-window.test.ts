/**
 * Issue 9 point 3 and 4, the iSCSI side: the CmdSN window is checked once, where full
 * feature PDUs are dispatched (handlers/dispatch.ts); StatSN, ExpCmdSN and MaxCmdSN are
 * stamped in one place (session.ts stampSequence, called by Connection.send only); opcode
 * handlers reach the connection through ConnectionPort and write none of its fields.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import type { FabricEvent } from "../../../server/engine/iscsi/fabric";
import {
  LogoutRequest, NopIn, NopOut, Opcode, RESERVED_TAG, ScsiCommand, TaskMgmtRequest, TextRequest,
} from "../../../server/engine/iscsi/pdu";
import { StatSNUse, stampSequence } from "../../../server/engine/iscsi/session";
import { IscsiClient } from "../../support/iscsi-client";
import { TARGET, startTarget, type Harness } from "./harness";

let h: Harness;
const events: FabricEvent[] = [];

beforeAll(async () => {
  h = await startTarget();
  h.fabric.events.on("event", (e: FabricEvent) => events.push(e));
});

afterAll(async () => {
  await h.close();
});

describe("the CmdSN window, checked once at dispatch", () => {
  it("drops an out-of-window PDU of every command opcode before its handler sees it, and the window does not move", async () => {
    const c = await IscsiClient.connect(h.port);
    try {
      expect((await c.login({ targetName: TARGET, isid: randomBytes(6).toString("hex") })).statusClass).toBe(0);
      await c.nop(); // immediate: ExpCmdSN unchanged
      const far = (c.cmdSN + 1000) >>> 0;
      const common = { immediate: false, final: true, cmdSN: far, expStatSN: c.expStatSN };
      // Each non-immediate, 1000 ahead of ExpCmdSN (the window is the TPG's default_cmdsn_depth wide).
      c.sendPdu(NopOut, { ...common, lun: 0, itt: 0x1001, ttt: RESERVED_TAG }, Buffer.from("ping"));
      const cdb = Buffer.alloc(16);
      cdb[0] = 0x00; // TEST UNIT READY
      c.sendPdu(ScsiCommand, { ...common, read: false, write: false, attr: 1, lun: 0, itt: 0x1002, edtl: 0, cdb });
      c.sendPdu(TaskMgmtRequest, { ...common, function: 5, lun: 0, itt: 0x1003, refTaskTag: RESERVED_TAG, refCmdSN: 0, expDataSN: 0 });
      c.sendPdu(TextRequest, { ...common, cont: false, lun: 0, itt: 0x1004, ttt: RESERVED_TAG }, Buffer.from("SendTargets=All\0"));
      c.sendPdu(LogoutRequest, { ...common, reason: 0, cid: 0, itt: 0x1005 });
      // None is answered, none is rejected: all are ignored (RFC 7143 §4.2.2.1).
      expect(await c.nextUnsolicited(400)).toBeUndefined();
      for (const name of ["NOP_OUT", "SCSI_COMMAND", "TASK_MGMT_REQUEST", "TEXT_REQUEST", "LOGOUT_REQUEST"]) {
        expect(h.logs, name).toContain(`info: iSCSI ${name} outside the CmdSN window dropped`);
      }
      // The LUN RESET never reached its handler: not noticed as a reset.
      expect(events.filter((e) => e.type === "reset")).toEqual([]);
      // ExpCmdSN did not move (an immediate NOP-Out's answer shows the window), and the session goes on.
      c.sendPdu(NopOut, { immediate: true, final: true, lun: 0, itt: 0x1010, ttt: RESERVED_TAG, cmdSN: c.cmdSN, expStatSN: c.expStatSN });
      const nopIn = await c.nextUnsolicited(3000);
      expect(nopIn?.opcode).toBe(Opcode.NOP_IN);
      expect(NopIn.decode(nopIn!.bhs).expCmdSN).toBe(c.cmdSN);
      expect((await c.read10(0, 1)).status).toBe(0);
      expect(c.isClosed).toBe(false);
    } finally {
      c.close();
    }
  });

  it("holds a command ahead of ExpCmdSN until the gap fills, then runs both in order", async () => {
    const c = await IscsiClient.connect(h.port);
    try {
      expect((await c.login({ targetName: TARGET, isid: randomBytes(6).toString("hex") })).statusClass).toBe(0);
      const first = c.cmdSN;
      // A non-immediate NOP-Out one ahead: held, not answered yet.
      c.sendPdu(NopOut, { immediate: false, final: true, lun: 0, itt: 0x2001, ttt: RESERVED_TAG, cmdSN: (first + 1) >>> 0, expStatSN: c.expStatSN });
      expect(await c.nextUnsolicited(300)).toBeUndefined();
      // The gap: a non-immediate NOP-Out at ExpCmdSN. Both are answered, in CmdSN order.
      c.sendPdu(NopOut, { immediate: false, final: true, lun: 0, itt: 0x2000, ttt: RESERVED_TAG, cmdSN: first, expStatSN: c.expStatSN });
      const a = await c.nextUnsolicited(3000);
      const b = await c.nextUnsolicited(3000);
      expect([a?.opcode, b?.opcode]).toEqual([Opcode.NOP_IN, Opcode.NOP_IN]);
      expect([a!.bhs.readUInt32BE(16), b!.bhs.readUInt32BE(16)]).toEqual([0x2000, 0x2001]);
      const [ha, hb] = [NopIn.decode(a!.bhs), NopIn.decode(b!.bhs)];
      // Each answer advances StatSN by one; the second carries the window past both commands.
      expect(hb.statSN).toBe((ha.statSN + 1) >>> 0);
      expect(ha.expCmdSN).toBe((first + 1) >>> 0);
      expect(hb.expCmdSN).toBe((first + 2) >>> 0);
    } finally {
      c.close();
    }
  });
});

describe("stampSequence, the one place sequence numbers are written", () => {
  const window = { expCmdSN: 41, maxCmdSN: 72 };

  it("gives a response the next StatSN and advances it, wrapping at 2^32", () => {
    const h: Record<string, number> = {};
    expect(stampSequence(h, StatSNUse.ADVANCE, 7, window)).toBe(8);
    expect(h).toEqual({ statSN: 7, expCmdSN: 41, maxCmdSN: 72 });
    expect(stampSequence(h, StatSNUse.ADVANCE, 0xffffffff, window)).toBe(0);
    expect(h.statSN).toBe(0xffffffff);
  });

  it("lets R2T and an unsolicited NOP-In carry the current StatSN without advancing it", () => {
    const h: Record<string, number> = {};
    expect(stampSequence(h, StatSNUse.CURRENT, 9, window)).toBe(9);
    expect(h).toEqual({ statSN: 9, expCmdSN: 41, maxCmdSN: 72 });
  });

  it("leaves StatSN reserved (0) in a Data-In without status, and still carries the window", () => {
    const h: Record<string, number> = { statSN: 5, expCmdSN: 0, maxCmdSN: 0 };
    expect(stampSequence(h, StatSNUse.RESERVED, 9, window)).toBe(9);
    expect(h).toEqual({ statSN: 0, expCmdSN: 41, maxCmdSN: 72 });
  });
});

describe("the handlers' side of it (source check)", () => {
  const dir = path.join(__dirname, "../../../server/engine/iscsi/handlers");
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
  const strip = (src: string) => src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");

  it("only dispatch.ts asks the CmdSN window", () => {
    for (const f of files) {
      if (f === "dispatch.ts") continue;
      const src = strip(readFileSync(path.join(dir, f), "utf8"));
      expect(src, f).not.toMatch(/\.(sequence|admits|advance|hold|drainHeld)\(/);
    }
  });

  it("no handler writes StatSN, ExpCmdSN or MaxCmdSN, nor any field of its connection", () => {
    for (const f of files) {
      const src = strip(readFileSync(path.join(dir, f), "utf8"));
      // port.ts declares the interface (readonly statSN); every other file only uses it.
      if (f !== "port.ts") expect(src, f).not.toMatch(/\b(statSN|expCmdSN|maxCmdSN)\s*[:=](?!=)/);
      expect(src, f).not.toMatch(/\bc\.\w+\s*(=|\+=|-=|\+\+)(?!=)/);
      // Handlers know the connection only as a ConnectionPort.
      expect(src, f).not.toMatch(/import[^;]*\bConnection\b[^;]*from "\.\.\/connection"/);
    }
  });
});

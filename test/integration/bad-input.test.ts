/**
 * Bad input against the real server: garbage bytes, a truncated PDU, an oversized
 * DataSegmentLength, a login to an unknown target and an unknown opcode each get
 * the RFC 7143 answer (a Login Response status, a Reject, or a clean drop of that
 * connection), while another initiator (iscsi-perf) keeps working throughout.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemo } from "../support/demo";
import { freePort } from "../support/ports";
import { makeDataDir, stopAndRemove, type PorticoProcess } from "../support/portico";
import { Opcode, RawConnection, TargetOpcode, loginNormal, loginRequest, pdu } from "../support/raw-iscsi";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.badinput0001";
let dataDir: string;
let port: number;
let server: PorticoProcess;

beforeAll(async () => {
  dataDir = makeDataDir();
  port = await freePort();
  server = await startDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "rd", plugin: "ramdisk", size: 64 * 1024 * 1024 }], ports: [port] });
});

afterAll(() => stopAndRemove(server, dataDir));

describe("bad input", () => {
  it("answers a login to an unknown target with status 0x0203 (Not found)", async () => {
    const c = await RawConnection.connect(port);
    c.send(loginRequest({ InitiatorName: "iqn.2024-01.org.portico.test:bad", TargetName: "iqn.2024-01.org.nowhere:none", SessionType: "Normal" }));
    const r = await c.next();
    expect(r?.opcode).toBe(TargetOpcode.LOGIN_RESPONSE);
    expect([r!.bhs[36], r!.bhs[37]]).toEqual([0x02, 0x03]);
    expect(await c.closesWithin(5000)).toBe(true);
  });

  it("drops a connection that sends garbage bytes", async () => {
    const c = await RawConnection.connect(port);
    const junk = randomBytes(4096);
    junk[0] = 0x3b; // not an initiator opcode
    junk.fill(0, 4, 8); // no AHS / data: the header alone is the garbage
    c.send(junk);
    expect(await c.closesWithin(5000)).toBe(true);
  });

  it("drops a connection whose PDU is truncated by EOF", async () => {
    const c = await RawConnection.connect(port);
    c.socket.end(loginRequest({ InitiatorName: "iqn.2024-01.org.portico.test:trunc", TargetName: IQN }).subarray(0, 20));
    expect(await c.closesWithin(5000)).toBe(true);
  });

  it("refuses a login PDU whose DataSegmentLength exceeds the 8192-byte login limit", async () => {
    const c = await RawConnection.connect(port);
    c.send(loginRequest({ InitiatorName: "iqn.2024-01.org.portico.test:big", TargetName: IQN }, { dsl: 16 * 1024 * 1024 - 1 }));
    const r = await c.next(5000);
    if (r) {
      // If the target answers rather than dropping, it must be a failed login (RFC 7143 §11.13.5).
      expect(r.opcode).toBe(TargetOpcode.LOGIN_RESPONSE);
      expect(r.bhs[36]).not.toBe(0);
    }
    expect(await c.closesWithin(5000)).toBe(true);
  });

  it("rejects an unknown opcode in full feature phase and keeps the session", async () => {
    const c = await RawConnection.connect(port);
    const login = await loginNormal(c, IQN);
    expect(login.bhs[36]).toBe(0);
    const expStatSn = login.bhs.readUInt32BE(24) + 1;
    c.send(pdu(0x0f, 0x80, (b) => b.writeUInt32BE(7, 16)));
    const rej = await c.next();
    expect(rej?.opcode).toBe(TargetOpcode.REJECT);
    expect(rej!.bhs[2]).toBe(0x05); // Command not supported (RFC 7143 §11.17.1)
    // The session still works: a NOP-Out with a real ITT gets its NOP-In.
    c.send(
      pdu(Opcode.NOP_OUT | 0x40, 0x80, (b) => {
        b.writeUInt32BE(9, 16);
        b.writeUInt32BE(0xffffffff, 20);
        b.writeUInt32BE(1, 24);
        b.writeUInt32BE(expStatSn + 1, 28);
      }),
    );
    const nop = await c.next();
    expect(nop?.opcode).toBe(TargetOpcode.NOP_IN);
    expect(nop!.bhs.readUInt32BE(16)).toBe(9);
    c.close();
  });

  it("keeps another initiator's IO running while bad connections come and go", async () => {
    const url = `iscsi://127.0.0.1:${port}/${IQN}/0`;
    const perf = spawn("iscsi-perf", ["-t", "8", "-m", "8", "-b", "8", "-r", url], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    perf.stdout.on("data", (d) => (out += d));
    perf.stderr.on("data", (d) => (out += d));
    const done = new Promise<number | null>((resolve) => perf.on("exit", resolve));
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < 20; i++) {
      const c = await RawConnection.connect(port);
      const junk = randomBytes(64 + i * 37);
      if (i % 3 === 0) junk[0] = 0x03; // a Login Request header with random lengths
      c.send(junk);
      if (i % 2) c.socket.end();
      setTimeout(() => c.close(), 300);
    }
    const code = await done;
    expect(code, out).toBe(0);
    expect(out).toMatch(/iops/i);
    expect(out).not.toMatch(/error|fail/i);
  });
});

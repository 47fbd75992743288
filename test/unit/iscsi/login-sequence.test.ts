/**
 * Sequence numbers during login (as FreeBSD ctld checks them): after the first Login
 * Request, CmdSN must stay the same (Login Requests are immediate) and ExpStatSN must
 * acknowledge the target's last Login Response; otherwise the login fails with Initiator Error.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginSequenceProblem } from "../../../server/engine/iscsi/login";
import { loginRequest, RawConnection, TargetOpcode } from "../../support/raw-iscsi";
import { INITIATOR, startTarget, TARGET, type Harness } from "./harness";

describe("loginSequenceProblem", () => {
  it("accepts the first CmdSN and the next StatSN, refuses anything else", () => {
    expect(loginSequenceProblem({ cmdSN: 7, expStatSN: 3 }, { cmdSN: 7 }, 3)).toBeUndefined();
    expect(loginSequenceProblem({ cmdSN: 8, expStatSN: 3 }, { cmdSN: 7 }, 3)).toMatch(/CmdSN 8, expected 7/);
    expect(loginSequenceProblem({ cmdSN: 7, expStatSN: 2 }, { cmdSN: 7 }, 3)).toMatch(/ExpStatSN 2, expected 3/);
  });
});

describe("a two-step login on the wire", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startTarget();
  });
  afterAll(() => h.close());

  /** Security stage (AuthMethod=None), then operational with the given sequence numbers. */
  async function twoSteps(second: (statSN: number) => { cmdSn: number; expStatSn: number }): Promise<{ status: number; closed: boolean }> {
    const c = await RawConnection.connect(h.port);
    try {
      c.send(loginRequest({ InitiatorName: INITIATOR, TargetName: TARGET, SessionType: "Normal", AuthMethod: "None" }, { csg: 0, nsg: 1, cmdSn: 5, expStatSn: 40 }));
      const r1 = await c.next();
      expect(r1?.opcode).toBe(TargetOpcode.LOGIN_RESPONSE);
      expect(r1!.bhs.readUInt16BE(36)).toBe(0);
      const statSN = r1!.bhs.readUInt32BE(24);
      expect(statSN).toBe(40); // the first response's StatSN is the initiator's ExpStatSN
      c.send(loginRequest({ HeaderDigest: "None", DataDigest: "None" }, { csg: 1, nsg: 3, ...second(statSN) }));
      const r2 = await c.next();
      return { status: r2 ? r2.bhs.readUInt16BE(36) : -1, closed: await c.closesWithin(2000) };
    } finally {
      c.close();
    }
  }

  it("completes when CmdSN stays and ExpStatSN acknowledges the last response", async () => {
    const r = await twoSteps((statSN) => ({ cmdSn: 5, expStatSn: statSN + 1 }));
    expect(r.status).toBe(0);
    expect(r.closed).toBe(false);
  });

  it("fails with 0x0200 and closes when CmdSN moves", async () => {
    expect(await twoSteps((statSN) => ({ cmdSn: 6, expStatSn: statSN + 1 }))).toEqual({ status: 0x0200, closed: true });
  });

  it("fails with 0x0200 and closes when ExpStatSN does not acknowledge the last response", async () => {
    expect(await twoSteps((statSN) => ({ cmdSn: 5, expStatSn: statSN }))).toEqual({ status: 0x0200, closed: true });
  });
});

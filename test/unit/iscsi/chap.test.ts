import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { ChapExchange, chapResponse, chooseAlgorithm, decodeBinary } from "../../../server/engine/iscsi/chap";

const fixed = (n: number) => Buffer.alloc(n, 0x11);
const creds = { userid: "alice", password: "alicesecret12", mutualUserid: "target", mutualPassword: "targetsecret12" };

function start(alg = "5") {
  const ex = new ChapExchange(creds, { random: fixed });
  const r = Object.fromEntries(ex.step(new Map([["CHAP_A", alg]])).keys);
  return { ex, r };
}

describe("CHAP", () => {
  it("computes H(id‖secret‖challenge) for MD5, SHA-1, SHA-256, SHA3-256", () => {
    const ch = Buffer.from("0123456789abcdef", "hex");
    // RFC 1994 construction checked against an independent concatenation.
    for (const [alg, hash] of [["5", "md5"], ["6", "sha1"], ["7", "sha256"], ["8", "sha3-256"]]) {
      const expected = createHash(hash).update(Buffer.concat([Buffer.from([9]), Buffer.from("pw"), ch])).digest("hex");
      expect(chapResponse(alg, 9, "pw", ch).toString("hex")).toBe(expected);
    }
    // A published MD5 vector: MD5(0x00 ‖ "secret" ‖ 16×0x00).
    expect(chapResponse("5", 0, "secret", Buffer.alloc(16)).toString("hex")).toBe(createHash("md5").update(Buffer.concat([Buffer.alloc(1), Buffer.from("secret"), Buffer.alloc(16)])).digest("hex"));
  });

  it("chooses the strongest algorithm offered, by exact match", () => {
    expect(chooseAlgorithm("5,6,7,8")).toBe("8");
    expect(chooseAlgorithm("5,7")).toBe("7");
    expect(chooseAlgorithm("55")).toBeUndefined();
    expect(chooseAlgorithm("5")).toBe("5");
  });

  it("decodes hex (0x) and base64 (0b), refusing malformed values", () => {
    expect(decodeBinary("0x0a0B")).toEqual(Buffer.from([10, 11]));
    expect(decodeBinary("0bAAEC")).toEqual(Buffer.from([0, 1, 2]));
    expect(decodeBinary("0x123")).toBeUndefined();
    expect(decodeBinary("0xzz")).toBeUndefined();
    expect(decodeBinary("0bA")).toBeUndefined();
    expect(decodeBinary("0bAB==")).toBeUndefined(); // non-canonical trailing bits
    expect(decodeBinary("1234")).toBeUndefined();
  });

  it("challenge length equals the digest size", () => {
    for (const [alg, size] of [["5", 16], ["6", 20], ["7", 32], ["8", 32]] as const) {
      const { r } = start(alg);
      expect(decodeBinary(r.CHAP_C)!.length).toBe(size);
    }
  });

  it("accepts a correct response in hex or base64 and rejects wrong length, user or secret", () => {
    for (const enc of ["hex", "base64"] as const) {
      const { ex, r } = start("7");
      const d = chapResponse("7", Number(r.CHAP_I), creds.password, decodeBinary(r.CHAP_C)!);
      const value = enc === "hex" ? `0x${d.toString("hex")}` : `0b${d.toString("base64")}`;
      expect(ex.step(new Map([["CHAP_N", "alice"], ["CHAP_R", value]]))).toEqual({ keys: [], done: true });
    }
    const try1 = (n: string, rv: (d: Buffer) => string) => {
      const { ex, r } = start("5");
      const d = chapResponse("5", Number(r.CHAP_I), creds.password, decodeBinary(r.CHAP_C)!);
      return ex.step(new Map([["CHAP_N", n], ["CHAP_R", rv(d)]])).failure?.reason;
    };
    expect(try1("alice", (d) => `0x${d.toString("hex")}00`)).toBe("bad secret");
    expect(try1("alice", (d) => `0b${Buffer.concat([d, Buffer.alloc(1)]).toString("base64")}`)).toBe("bad secret");
    expect(try1("mallory", (d) => `0x${d.toString("hex")}`)).toBe("unknown initiator");
    expect(try1("alice", () => `0x${"ab".repeat(16)}`)).toBe("bad secret");
  });

  it("answers mutual CHAP and refuses a reflected challenge", () => {
    const { ex, r } = start("6");
    const d = chapResponse("6", Number(r.CHAP_I), creds.password, decodeBinary(r.CHAP_C)!);
    const myChallenge = Buffer.alloc(20, 0x42);
    const out = Object.fromEntries(ex.step(new Map([["CHAP_N", "alice"], ["CHAP_R", `0x${d.toString("hex")}`], ["CHAP_I", "9"], ["CHAP_C", `0x${myChallenge.toString("hex")}`]])).keys);
    expect(out.CHAP_N).toBe("target");
    expect(out.CHAP_R).toBe(`0x${chapResponse("6", 9, creds.mutualPassword, myChallenge).toString("hex")}`);

    const again = start("6");
    const d2 = chapResponse("6", Number(again.r.CHAP_I), creds.password, decodeBinary(again.r.CHAP_C)!);
    const refl = again.ex.step(new Map([["CHAP_N", "alice"], ["CHAP_R", `0x${d2.toString("hex")}`], ["CHAP_I", again.r.CHAP_I], ["CHAP_C", again.r.CHAP_C]]));
    expect(refl.failure?.message).toMatch(/reflected/);
  });

  it("never puts a secret in a failure message", () => {
    const { ex } = start("5");
    const f = ex.step(new Map([["CHAP_N", "alice"], ["CHAP_R", "0x00"]]));
    expect(JSON.stringify(f)).not.toContain(creds.password);
  });
});

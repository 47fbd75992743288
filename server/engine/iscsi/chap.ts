/**
 * CHAP for iSCSI login (RFC 7143 §12.1.3, RFC 1994), target side. Pure apart
 * from the random source, which callers (tests) may replace.
 *
 *   I→T  CHAP_A=<algorithms>
 *   T→I  CHAP_A=<chosen> CHAP_I=<id> CHAP_C=<challenge>
 *   I→T  CHAP_N=<user> CHAP_R=<H(id‖secret‖challenge)> [CHAP_I CHAP_C: mutual]
 *   T→I  [CHAP_N=<target user> CHAP_R=<H(I id‖mutual secret‖I challenge)>]
 *
 * Secrets never leave this module: messages name the user, never a password.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ChapCredentials } from "../core/model";
import { LoginStatus, type AuthExchange, type LoginFailure } from "./login";
import type { TextPairs } from "./text";

/** CHAP_A values (IANA PPP authentication algorithms): number → Node hash and digest size. */
export const CHAP_ALGORITHMS: Readonly<Record<string, { hash: string; size: number; name: string }>> = {
  "5": { hash: "md5", size: 16, name: "MD5" },
  "6": { hash: "sha1", size: 20, name: "SHA-1" },
  "7": { hash: "sha256", size: 32, name: "SHA-256" },
  "8": { hash: "sha3-256", size: 32, name: "SHA3-256" },
};

/** Strongest first: the target picks the strongest algorithm the initiator offers. */
const PREFERENCE = ["8", "7", "6", "5"];

/** RFC 7143 §12.1.3: an initiator's challenge is at most 1024 bytes. */
const MAX_CHALLENGE = 1024;

/** Picks the strongest algorithm in a CHAP_A list (exact string match: "55" is not MD5). */
export function chooseAlgorithm(offered: string): string | undefined {
  const list = offered.split(",").map((s) => s.trim());
  return PREFERENCE.find((a) => list.includes(a));
}

/** H(id ‖ secret ‖ challenge) (RFC 1994 §4.1). */
export function chapResponse(algorithm: string, id: number, secret: string, challenge: Buffer): Buffer {
  const alg = CHAP_ALGORITHMS[algorithm];
  if (!alg) throw new Error(`unsupported CHAP algorithm ${algorithm}`);
  return createHash(alg.hash).update(Buffer.from([id & 0xff])).update(Buffer.from(secret, "utf8")).update(challenge).digest();
}

/**
 * Decodes a binary value: `0x` + hex or `0b` + base64 (RFC 7143 §6.1). Returns
 * undefined for anything malformed (odd hex, bad base64 characters, wrong padding).
 */
export function decodeBinary(value: string): Buffer | undefined {
  if (/^0[xX]/.test(value)) {
    const hex = value.slice(2);
    if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) return undefined;
    return Buffer.from(hex, "hex");
  }
  if (/^0[bB]/.test(value)) {
    const b64 = value.slice(2);
    if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
    const buf = Buffer.from(b64, "base64");
    // Re-encoding must give back the input: rejects non-canonical trailing bits.
    if (buf.toString("base64") !== b64) return undefined;
    return buf;
  }
  return undefined;
}

export function encodeHex(buf: Buffer): string {
  return `0x${buf.toString("hex")}`;
}

/** CHAP_I: decimal or hex number 0..255. */
function parseId(v: string): number | undefined {
  let n: number;
  if (/^[0-9]{1,3}$/.test(v)) n = Number(v);
  else if (/^0[xX][0-9a-fA-F]{1,2}$/.test(v)) n = parseInt(v.slice(2), 16);
  else return undefined;
  return n <= 255 ? n : undefined;
}

export interface ChapOptions {
  random?: (n: number) => Buffer;
}

function failure(reason: LoginFailure["reason"], message: string): LoginFailure {
  return { status: LoginStatus.AUTH_FAILURE, reason, message };
}

/** A target-side CHAP exchange for one login, with the credentials that apply. */
export class ChapExchange implements AuthExchange {
  private state: "await_a" | "await_r" | "done" = "await_a";
  algorithm = "";
  private id = 0;
  private challenge: Buffer = Buffer.alloc(0);
  private readonly random: (n: number) => Buffer;

  constructor(
    private readonly creds: ChapCredentials,
    opts: ChapOptions = {},
  ) {
    this.random = opts.random ?? randomBytes;
  }

  step(keys: Map<string, string>): { keys: TextPairs; done: boolean; failure?: LoginFailure } {
    if (this.state === "await_a") return this.onAlgorithms(keys);
    if (this.state === "await_r") return this.onResponse(keys);
    return { keys: [], done: true, failure: failure("protocol error", "CHAP keys after authentication") };
  }

  private onAlgorithms(keys: Map<string, string>) {
    const offered = keys.get("CHAP_A");
    if (offered === undefined || keys.size !== 1) {
      return { keys: [], done: false, failure: failure("protocol error", "expected CHAP_A alone") };
    }
    const alg = chooseAlgorithm(offered);
    if (!alg) return { keys: [["CHAP_A", "Reject"]] as TextPairs, done: false, failure: failure("protocol error", `no supported CHAP algorithm in ${offered.slice(0, 40)}`) };
    this.algorithm = alg;
    this.id = this.random(1)[0];
    // Challenge length = digest size (kernel chap_server_open), never reused.
    this.challenge = this.random(CHAP_ALGORITHMS[alg].size);
    this.state = "await_r";
    return {
      keys: [["CHAP_A", alg], ["CHAP_I", String(this.id)], ["CHAP_C", encodeHex(this.challenge)]] as TextPairs,
      done: false,
    };
  }

  private onResponse(keys: Map<string, string>) {
    const name = keys.get("CHAP_N");
    const r = keys.get("CHAP_R");
    if (name === undefined || r === undefined) return { keys: [], done: false, failure: failure("protocol error", "CHAP_N and CHAP_R required") };
    const size = CHAP_ALGORITHMS[this.algorithm].size;
    // Exact length: 2 + 2×size hex digits, or base64 decoding to exactly `size` bytes (CVE-2018-14633).
    if (/^0[xX]/.test(r) && r.length !== 2 + 2 * size) return { keys: [], done: false, failure: failure("bad secret", "CHAP_R has the wrong length") };
    const got = decodeBinary(r);
    if (!got || got.length !== size) return { keys: [], done: false, failure: failure("bad secret", "CHAP_R is malformed") };
    const expected = chapResponse(this.algorithm, this.id, this.creds.password ?? "", this.challenge);
    const nameOk = name === (this.creds.userid ?? "");
    // Compare both in constant time; the name check does not short-circuit the digest compare.
    const digestOk = timingSafeEqual(got, expected);
    if (!nameOk) return { keys: [], done: false, failure: failure("unknown initiator", `CHAP_N "${name.slice(0, 64)}" is not the configured user`) };
    if (!digestOk) return { keys: [], done: false, failure: failure("bad secret", `CHAP response of user "${name.slice(0, 64)}" does not match`) };

    const ii = keys.get("CHAP_I");
    const ic = keys.get("CHAP_C");
    if (ii === undefined && ic === undefined) {
      this.state = "done";
      return { keys: [], done: true };
    }
    // Mutual CHAP: the initiator authenticates us.
    if (ii === undefined || ic === undefined) return { keys: [], done: false, failure: failure("protocol error", "mutual CHAP needs both CHAP_I and CHAP_C") };
    if (!this.creds.mutualUserid || !this.creds.mutualPassword) {
      return { keys: [], done: false, failure: failure("ACL denied", "initiator asked for mutual CHAP, none is configured") };
    }
    const id = parseId(ii);
    const challenge = decodeBinary(ic);
    if (id === undefined || !challenge || challenge.length === 0 || challenge.length > MAX_CHALLENGE) {
      return { keys: [], done: false, failure: failure("protocol error", "mutual CHAP_I or CHAP_C is malformed") };
    }
    // Reflection attack (RFC 7143 §12.1.3): our own challenge coming back must fail.
    if (challenge.equals(this.challenge)) return { keys: [], done: false, failure: failure("protocol error", "initiator reflected the target's CHAP challenge") };
    const answer = chapResponse(this.algorithm, id, this.creds.mutualPassword, challenge);
    this.state = "done";
    return { keys: [["CHAP_N", this.creds.mutualUserid], ["CHAP_R", encodeHex(answer)]] as TextPairs, done: true };
  }
}

export function startChap(credentials: ChapCredentials, opts?: ChapOptions): AuthExchange {
  return new ChapExchange(credentials, opts);
}

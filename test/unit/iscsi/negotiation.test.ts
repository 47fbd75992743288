import { describe, expect, it } from "vitest";
import { tpgParameterDefaults } from "../../../server/engine/core/defaults";
import { Negotiation, parseNumber, type NegotiationContext } from "../../../server/engine/iscsi/negotiation";
import { decodeText, encodeText } from "../../../server/engine/iscsi/text";

const normal: NegotiationContext = { phase: "login", discovery: false, target: { ...tpgParameterDefaults } };
const answer = (pairs: [string, string][], ctx = normal, n = new Negotiation()) => Object.fromEntries(n.respond(pairs, ctx).responses);

describe("text codec", () => {
  it("round-trips key=value pairs", () => {
    const pairs: [string, string][] = [["InitiatorName", "iqn.x"], ["HeaderDigest", "CRC32C,None"]];
    const d = decodeText(encodeText(pairs));
    expect(d).toEqual({ ok: true, pairs });
  });
  it("accepts a missing final NUL, refuses a key without '='", () => {
    expect(decodeText(Buffer.from("A=1\0B=2"))).toEqual({ ok: true, pairs: [["A", "1"], ["B", "2"]] });
    expect(decodeText(Buffer.from("A\0")).ok).toBe(false);
  });
  it("bounds key and value length", () => {
    expect(decodeText(Buffer.from(`${"K".repeat(64)}=1\0`)).ok).toBe(false);
    expect(decodeText(Buffer.from(`${"K".repeat(63)}=1\0`)).ok).toBe(true);
    expect(decodeText(Buffer.from(`X-a=${"v".repeat(256)}\0`)).ok).toBe(false);
    expect(decodeText(Buffer.from(`CHAP_C=0x${"a".repeat(1024)}\0`)).ok).toBe(true);
  });
  it("treats a duplicate key as a protocol error", () => {
    const d = decodeText(Buffer.from("MaxBurstLength=512\0MaxBurstLength=1024\0"));
    expect(d.ok).toBe(false);
  });
  it("finds a duplicate wherever it is in a long segment, and none among distinct keys (the check scans up to 32 keys, then keeps a set)", () => {
    const keys = Array.from({ length: 100 }, (_, i) => `X-k${i}`);
    const text = (ks: string[]) => Buffer.from(ks.map((k) => `${k}=v\0`).join(""));
    const distinct = decodeText(text(keys));
    expect(distinct.ok && distinct.pairs.length).toBe(100);
    // The repeated key is early, at the switch to the set (pair 33), and late; its first use before and after the switch.
    for (const [first, again] of [[0, 1], [5, 31], [31, 32], [0, 33], [10, 60], [40, 99], [98, 99]]) {
      const ks = [...keys];
      ks[again] = keys[first];
      const d = decodeText(text(ks));
      expect(d.ok ? "accepted" : d.error).toBe(`key ${keys[first]} sent twice`);
    }
    // With allowDuplicates every pair is kept, repeats included.
    const repeated = decodeText(text([...keys, ...keys]), { allowDuplicates: true });
    expect(repeated.ok && repeated.pairs.length).toBe(200);
  });
  it("decodes an ASCII segment (one string) and a UTF-8 one (per item) with the same results and errors", () => {
    // The same text with and without a UTF-8 item at the end takes the two paths of decodeText.
    const utf8Tail = "InitiatorAlias=h\u00f4te\0";
    const cases = ["A=1\0B=2\0", "=1\0", "A\0", "A=1\0A=2\0", "K y=1\0", `${"K".repeat(64)}=1\0`, `X-a=${"v".repeat(256)}\0`, "A=b=c\0\0\0B=\0"];
    for (const c of cases) {
      const ascii = decodeText(Buffer.from(c));
      const mixed = decodeText(Buffer.from(c + utf8Tail));
      if (ascii.ok) expect(mixed).toEqual({ ok: true, pairs: [...ascii.pairs, ["InitiatorAlias", "h\u00f4te"]] });
      else expect(mixed).toEqual(ascii);
    }
    expect(decodeText(Buffer.from("A=b=c\0\0\0B=\0"))).toEqual({ ok: true, pairs: [["A", "b=c"], ["B", ""]] });
    // A value's UTF-8 length is what counts: 128 two-byte characters are 256 bytes.
    expect(decodeText(Buffer.from(`X-a=${"\u00e9".repeat(128)}\0`)).ok).toBe(false);
    expect(decodeText(Buffer.from(`X-a=${"\u00e9".repeat(127)}\0`)).ok).toBe(true);
  });
});

describe("negotiation", () => {
  it("list: picks the first of the initiator's values we support, Reject if none", () => {
    expect(answer([["HeaderDigest", "CRC32C,None"]]).HeaderDigest).toBe("CRC32C");
    expect(answer([["DataDigest", "None,CRC32C"]]).DataDigest).toBe("None");
    expect(answer([["HeaderDigest", "MD5"]]).HeaderDigest).toBe("Reject");
    expect(answer([["HeaderDigest", "CRC32C"]], { ...normal, target: { ...normal.target, HeaderDigest: "None" } }).HeaderDigest).toBe("Reject");
  });
  it("numeric min/max with range checks", () => {
    expect(answer([["MaxBurstLength", "1048576"]]).MaxBurstLength).toBe("262144");
    expect(answer([["MaxBurstLength", "4096"]]).MaxBurstLength).toBe("4096");
    expect(answer([["MaxBurstLength", "100"]]).MaxBurstLength).toBe("Reject");
    expect(answer([["MaxBurstLength", "abc"]]).MaxBurstLength).toBe("Reject");
    expect(answer([["DefaultTime2Wait", "0"]]).DefaultTime2Wait).toBe("2");
    expect(answer([["DefaultTime2Wait", "9"]]).DefaultTime2Wait).toBe("9");
    expect(answer([["ErrorRecoveryLevel", "2"]]).ErrorRecoveryLevel).toBe("0");
    expect(answer([["ErrorRecoveryLevel", "3"]]).ErrorRecoveryLevel).toBe("Reject");
    expect(answer([["MaxConnections", "0x10"]]).MaxConnections).toBe("1");
    expect(parseNumber("0x1F")).toBe(31);
    // RFC 7143 §11.12.5: up to 10 decimal or 8 hex digits, nothing else.
    for (const [v, n] of [["0", 0], ["007", 7], ["4294967295", 4294967295], ["9999999999", 9999999999], ["0Xff", 255], ["0xFFFFFFFF", 4294967295]] as const) expect(parseNumber(v)).toBe(n);
    for (const v of ["", "0x", "12345678901", "0x123456789", "-1", "+1", " 1", "1.0", "0x1g", "1e3"]) expect(parseNumber(v)).toBeUndefined();
  });
  it("list: values match whole, not as substrings", () => {
    expect(answer([["HeaderDigest", "CRC,None"]]).HeaderDigest).toBe("None");
    expect(answer([["HeaderDigest", "CRC32C"]], { ...normal, target: { ...normal.target, HeaderDigest: "xCRC32C,None" } }).HeaderDigest).toBe("Reject");
    expect(answer([["HeaderDigest", ",None"]]).HeaderDigest).toBe("None");
  });
  it("boolean OR and AND", () => {
    expect(answer([["InitialR2T", "No"]]).InitialR2T).toBe("Yes");
    expect(answer([["InitialR2T", "No"]], { ...normal, target: { ...normal.target, InitialR2T: "No" } }).InitialR2T).toBe("No");
    expect(answer([["ImmediateData", "Yes"]]).ImmediateData).toBe("Yes");
    expect(answer([["ImmediateData", "No"]]).ImmediateData).toBe("No");
    expect(answer([["IFMarker", "Yes"]]).IFMarker).toBe("No");
    expect(answer([["DataPDUInOrder", "maybe"]]).DataPDUInOrder).toBe("Reject");
    expect(answer([["OFMarkInt", "1~65535"]]).OFMarkInt).toBe("Reject");
  });
  it("declarative MaxRecvDataSegmentLength per direction", () => {
    const n = new Negotiation();
    const a = answer([["MaxRecvDataSegmentLength", "65536"]], normal, n);
    expect(a.MaxRecvDataSegmentLength).toBe("8192");
    const p = n.params();
    expect(p.maxXmitDataSegmentLength).toBe(65536);
    expect(p.maxRecvDataSegmentLength).toBe(8192);
    expect(answer([["MaxRecvDataSegmentLength", "100"]]).MaxRecvDataSegmentLength).toBe("Reject");
  });
  it("NotUnderstood for unknown and X- keys, Irrelevant for target-only keys", () => {
    const a = answer([["X-com.example.thing", "1"], ["Bogus", "1"], ["TargetAlias", "me"]]);
    expect(a).toEqual({ "X-com.example.thing": "NotUnderstood", Bogus: "NotUnderstood", TargetAlias: "Irrelevant" });
  });
  it("Irrelevant for session keys in a discovery session", () => {
    const a = answer([["MaxBurstLength", "4096"], ["InitialR2T", "No"], ["HeaderDigest", "CRC32C"], ["ErrorRecoveryLevel", "0"]], { ...normal, discovery: true });
    expect(a).toEqual({ MaxBurstLength: "Irrelevant", InitialR2T: "Irrelevant", HeaderDigest: "CRC32C", ErrorRecoveryLevel: "Irrelevant" });
  });
  it("a key negotiated twice is a protocol error; login-only keys are refused in full feature phase", () => {
    const n = new Negotiation();
    expect(n.respond([["MaxBurstLength", "4096"]], normal).error).toBeUndefined();
    expect(n.respond([["MaxBurstLength", "4096"]], normal).error).toMatch(/twice/);
    expect(answer([["MaxBurstLength", "4096"]], { ...normal, phase: "ffp" }).MaxBurstLength).toBe("Reject");
  });
  it("resolves defaults and FirstBurstLength ≤ MaxBurstLength", () => {
    const n = new Negotiation();
    n.respond([["MaxBurstLength", "16384"]], normal);
    const p = n.params();
    expect(p.firstBurstLength).toBe(16384);
    expect(p.immediateData).toBe(true);
    expect(p.initialR2T).toBe(true);
    expect(p.headerDigest).toBe(false);
    expect(n.report().MaxBurstLength).toBe("16384");
  });
});

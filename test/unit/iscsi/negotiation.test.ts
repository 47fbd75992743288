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

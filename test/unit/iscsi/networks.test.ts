import { describe, expect, it } from "vitest";
import { addressAllowed, cidrContains, parseCidr } from "../../../server/engine/core/networks";

describe("allowed networks (CIDR)", () => {
  it("parses and normalises IPv4 and IPv6 blocks, bare addresses as hosts", () => {
    expect(parseCidr("192.168.1.77/24").text).toBe("192.168.1.0/24");
    expect(parseCidr(" 10.0.0.5 ").text).toBe("10.0.0.5/32");
    expect(parseCidr("fd00:1:2:3::9/64").text).toBe("fd00:1:2:3::/64");
    expect(parseCidr("::1").text).toBe("::1/128");
    expect(parseCidr("0.0.0.0/0").text).toBe("0.0.0.0/0");
  });

  it("refuses what is not a network, with a sentence", () => {
    expect(() => parseCidr("10.0.0.0/33")).toThrow("prefix length must be 0 to 32");
    expect(() => parseCidr("256.1.1.1/8")).toThrow(/not a network/);
    expect(() => parseCidr("lan")).toThrow(/like 192.168.1.0\/24/);
    expect(() => parseCidr("10.0.0.0/8/8")).toThrow(/one '\/'/);
    expect(() => parseCidr("fd00::/129")).toThrow("0 to 128");
  });

  it("matches socket addresses, IPv4-mapped IPv6 included", () => {
    const lan = parseCidr("192.168.1.0/24");
    expect(cidrContains(lan, "192.168.1.200")).toBe(true);
    expect(cidrContains(lan, "192.168.2.1")).toBe(false);
    expect(cidrContains(lan, "::ffff:192.168.1.9")).toBe(true);
    expect(cidrContains(parseCidr("fd00::/8"), "fd12::1")).toBe(true);
    expect(cidrContains(parseCidr("fd00::/8"), "fe80::1")).toBe(false);
    expect(cidrContains(parseCidr("10.1.0.0/17"), "10.1.127.255")).toBe(true);
    expect(cidrContains(parseCidr("10.1.0.0/17"), "10.1.128.0")).toBe(false);
    expect(addressAllowed([], "203.0.113.9")).toBe(true);
    expect(addressAllowed([parseCidr("127.0.0.0/8"), parseCidr("::1")], "::1")).toBe(true);
    expect(addressAllowed([parseCidr("10.0.0.0/8")], "127.0.0.1")).toBe(false);
  });
});

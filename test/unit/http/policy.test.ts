import { describe, expect, it } from "vitest";
import {
  allowedHostProblem,
  clientOf,
  contentSecurityPolicy,
  decide,
  hostAllowed,
  hostnameOf,
  mutationRefusal,
  proxyEntryProblem,
  proxyMatcher,
  securityHeaders,
  type PolicyOptions,
  type RequestFacts,
} from "../../../server/http/policy";
import { ipFamily } from "../../../server/http/entries";

const hostNames = { names: new Set(["portico", "192.0.2.2", "fd00::2"]) };
const opts = (o: Partial<PolicyOptions> = {}): PolicyOptions => ({ access: { allowedHosts: [], trustedProxies: [] }, hostNames, httpsEnabled: true, hsts: false, ...o });
const req = (o: Partial<RequestFacts> & { headers?: Record<string, string> } = {}): RequestFacts => ({
  method: "GET",
  url: "/",
  remoteAddress: "127.0.0.1",
  encrypted: false,
  ...o,
  headers: { host: "127.0.0.1:3000", ...o.headers },
});
const json = { "content-type": "application/json" };

describe("Host check (DNS rebinding)", () => {
  it("parses Host headers", () => {
    expect(hostnameOf("Portico.:3000")).toBe("portico");
    expect(hostnameOf("[::1]:3000")).toBe("::1");
    expect(hostnameOf("[::1")).toBeUndefined();
    expect(hostnameOf("a b")).toBeUndefined();
    expect(hostnameOf("")).toBeUndefined();
    expect(hostnameOf("x:y:z")).toBeUndefined();
  });
  it("answers to loopback, its own names and addresses, and the configured list", () => {
    for (const h of ["localhost:3000", "127.0.0.1", "127.3.4.5:1", "[::1]:3000", "portico:3000", "192.0.2.2:3000", "[fd00::2]:3000", "app.localhost"]) expect(hostAllowed(h, hostNames, []), h).toBe(true);
    for (const h of ["evil.example", "192.0.2.3:3000", "portico.evil.example", "", "[fd00::3]"]) expect(hostAllowed(h, hostNames, []), h).toBe(false);
    expect(hostAllowed("nas.example.com", hostNames, ["NAS.example.com."])).toBe(true);
    expect(hostAllowed("a.nas.example.com:443", hostNames, ["*.nas.example.com"])).toBe(true);
    expect(hostAllowed("nas.example.com", hostNames, ["*.nas.example.com"])).toBe(false);
    expect(hostAllowed("anything.example", hostNames, ["*"])).toBe(true);
  });
  it("refuses a foreign Host with 421 before anything else, even from loopback", () => {
    const v = decide(req({ headers: { host: "rebind.evil.example:3000" }, url: "/metrics" }), opts());
    expect(v.action).toBe("refuse");
    expect(v.action === "refuse" && v.status).toBe(421);
    expect(v.action === "refuse" && v.message).toContain('"rebind.evil.example"');
  });
  it("validates allowed-host entries", () => {
    for (const e of ["nas.example.com", "*.example.com", "*", "10.0.0.1", "[fd00::1]", "nas"]) expect(allowedHostProblem(e), e).toBeUndefined();
    for (const e of ["a b", "http://x", "x/y", "*.", "-bad-.com"]) expect(allowedHostProblem(e), e).toBeDefined();
  });
});

describe("clients and trusted proxies", () => {
  it("ignores forwarding headers from an untrusted peer, and such a request is not local", () => {
    const c = clientOf(req({ headers: { "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https" } }), proxyMatcher([]));
    expect(c).toMatchObject({ ip: "127.0.0.1", local: false, secure: false, proxied: false });
    expect(clientOf(req(), proxyMatcher([]))).toMatchObject({ ip: "127.0.0.1", local: true });
    expect(clientOf(req({ remoteAddress: "::ffff:127.0.0.1" }), proxyMatcher([]))).toMatchObject({ ip: "127.0.0.1", local: true });
    expect(clientOf(req({ remoteAddress: "192.0.2.7" }), proxyMatcher([]))).toMatchObject({ ip: "192.0.2.7", local: false });
  });
  it("takes the client from X-Forwarded-For of a trusted proxy: the right-most untrusted hop", () => {
    const trusted = proxyMatcher(["127.0.0.1", "10.0.0.0/8"]);
    const c = clientOf(req({ headers: { "x-forwarded-for": "1.2.3.4, 203.0.113.9, 10.1.1.1", "x-forwarded-proto": "https", "x-forwarded-host": "nas.example.com" } }), trusted);
    expect(c).toMatchObject({ ip: "203.0.113.9", secure: true, local: false, host: "nas.example.com", proxied: true });
    // A browser on the proxy's machine itself is local.
    expect(clientOf(req({ headers: { "x-forwarded-for": "127.0.0.1" } }), trusted)).toMatchObject({ ip: "127.0.0.1", local: true });
    // Each LAN client is its own: one guesser does not lock out everyone behind the proxy.
    const a = clientOf(req({ headers: { "x-forwarded-for": "192.0.2.10" } }), trusted);
    const b = clientOf(req({ headers: { "x-forwarded-for": "192.0.2.11" } }), trusted);
    expect(a.ip).not.toBe(b.ip);
  });
  it("tells IP literals the same way in the browser (no node:net in the Settings form)", () => {
    expect(ipFamily("10.0.0.1")).toBe(4);
    expect(ipFamily("256.0.0.1")).toBe(0);
    expect(ipFamily("01.2.3.4")).toBe(0);
    expect(ipFamily("::1")).toBe(6);
    expect(ipFamily("fd00::2")).toBe(6);
    expect(ipFamily("::ffff:10.0.0.1")).toBe(6);
    expect(ipFamily("1:2:3:4:5:6:7:8:9")).toBe(0);
    expect(ipFamily("nas")).toBe(0);
    expect(ipFamily("fe80::1%eth0")).toBe(0);
  });
  it("parses trusted-proxy entries", () => {
    expect(proxyEntryProblem("10.0.0.0/8")).toBeUndefined();
    expect(proxyEntryProblem("fd00::/8")).toBeUndefined();
    expect(proxyEntryProblem("::1")).toBeUndefined();
    expect(proxyEntryProblem("10.0.0.0/33")).toBeDefined();
    expect(proxyEntryProblem("proxy.example")).toBeDefined();
    const m = proxyMatcher(["10.0.0.0/8", "::1"]);
    expect(m("10.200.0.1")).toBe(true);
    expect(m("::ffff:10.0.0.1")).toBe(true);
    expect(m("11.0.0.1")).toBe(false);
    expect(m("::1")).toBe(true);
    expect(m("garbage")).toBe(false);
  });
});

describe("HTTPS redirect", () => {
  it("sends plain HTTP from the network to HTTPS on the same host and port, keeping path and query", () => {
    const v = decide(req({ remoteAddress: "192.0.2.7", url: "/targets?x=1", headers: { host: "192.0.2.2:3000" } }), opts());
    expect(v).toMatchObject({ action: "redirect", status: 308, location: "https://192.0.2.2:3000/targets?x=1" });
  });
  it("keeps plain HTTP for loopback, and everything when HTTPS is off", () => {
    expect(decide(req(), opts()).action).toBe("serve");
    expect(decide(req({ remoteAddress: "192.0.2.7", headers: { host: "192.0.2.2:3000" } }), opts({ httpsEnabled: false })).action).toBe("serve");
  });
  it("does not redirect the CLI (its token), which may reach a LAN bind address in plain HTTP", () => {
    const isCli = (h: Record<string, unknown>) => h["x-portico-token"] === "t0k";
    const lanReq = (token: string) => req({ method: "POST", remoteAddress: "192.0.2.2", headers: { host: "192.0.2.2:3000", "x-portico-token": token, ...json } });
    expect(decide(lanReq("t0k"), opts({ isCli })).action).toBe("serve");
    expect(decide(lanReq("wrong"), opts({ isCli })).action).toBe("redirect");
  });
  it("serves TLS connections from the network", () => {
    expect(decide(req({ remoteAddress: "192.0.2.7", encrypted: true, headers: { host: "192.0.2.2:3000" } }), opts()).action).toBe("serve");
  });
  it("redirects a loopback request forwarded by an undeclared proxy (it is not local)", () => {
    expect(decide(req({ headers: { "x-forwarded-for": "192.0.2.7" } }), opts()).action).toBe("redirect");
  });
  it("trusts a declared proxy's X-Forwarded-Proto", () => {
    const access = { allowedHosts: ["nas.example.com"], trustedProxies: ["127.0.0.1"] };
    expect(decide(req({ headers: { "x-forwarded-for": "192.0.2.7", "x-forwarded-proto": "https", "x-forwarded-host": "nas.example.com" } }), opts({ access })).action).toBe("serve");
    expect(decide(req({ headers: { "x-forwarded-for": "192.0.2.7", "x-forwarded-proto": "http", "x-forwarded-host": "nas.example.com" } }), opts({ access }))).toMatchObject({
      action: "redirect",
      location: "https://nas.example.com/",
    });
  });
});

describe("changes: JSON only, same origin only", () => {
  const client = clientOf(req(), proxyMatcher([]));
  it("refuses a form post (multipart, urlencoded, text/plain, none) with 415", () => {
    for (const type of ["multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "text/plain", undefined]) {
      const r = mutationRefusal(req({ method: "POST", headers: type ? { "content-type": type } : {} }), client);
      expect(r?.status, String(type)).toBe(415);
    }
    expect(mutationRefusal(req({ method: "POST", headers: { "content-type": "Application/JSON; charset=utf-8" } }), client)).toBeUndefined();
  });
  it("lets reads through whatever their headers", () => {
    expect(mutationRefusal(req({ headers: { "sec-fetch-site": "cross-site", origin: "http://evil.example" } }), client)).toBeUndefined();
  });
  it("refuses cross-site and same-site requests by Sec-Fetch-Site", () => {
    for (const site of ["cross-site", "same-site"]) expect(mutationRefusal(req({ method: "POST", headers: { ...json, "sec-fetch-site": site } }), client)?.status).toBe(403);
    expect(mutationRefusal(req({ method: "POST", headers: { ...json, "sec-fetch-site": "same-origin" } }), client)).toBeUndefined();
  });
  it("refuses a foreign or null Origin, and the right host with the wrong scheme or port", () => {
    for (const origin of ["http://evil.example", "null", "https://127.0.0.1:3000", "http://127.0.0.1:3001", "garbage"]) {
      expect(mutationRefusal(req({ method: "POST", headers: { ...json, origin } }), client)?.status, origin).toBe(403);
    }
    expect(mutationRefusal(req({ method: "POST", headers: { ...json, origin: "http://127.0.0.1:3000" } }), client)).toBeUndefined();
    const tlsClient = clientOf(req({ encrypted: true, headers: { host: "portico" } }), proxyMatcher([]));
    expect(mutationRefusal(req({ method: "POST", headers: { ...json, host: "portico", origin: "https://portico:443" } }), tlsClient)).toBeUndefined();
  });
  it("decide: a cross-site multipart post to a mutation is refused", () => {
    const v = decide(req({ method: "POST", url: "/api/trpc/config.setSettings", headers: { "content-type": "multipart/form-data; boundary=x" } }), opts());
    expect(v).toMatchObject({ action: "refuse", status: 415 });
  });
});

describe("security headers", () => {
  it("forbids framing and sniffing on every response", () => {
    const h = securityHeaders({ secure: false, hsts: false });
    expect(h["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(h["x-frame-options"]).toBe("DENY");
    expect(h["x-content-type-options"]).toBe("nosniff");
    expect(h["referrer-policy"]).toBe("same-origin");
    expect(h["strict-transport-security"]).toBeUndefined();
  });
  it("sends HSTS only over HTTPS with a real certificate", () => {
    expect(securityHeaders({ secure: true, hsts: false })["strict-transport-security"]).toBeUndefined();
    expect(securityHeaders({ secure: false, hsts: true })["strict-transport-security"]).toBeUndefined();
    expect(securityHeaders({ secure: true, hsts: true })["strict-transport-security"]).toMatch(/^max-age=\d+/);
  });
  it("allows eval and websockets only in dev", () => {
    expect(contentSecurityPolicy(false)).not.toContain("unsafe-eval");
    expect(contentSecurityPolicy(true)).toContain("unsafe-eval");
    expect(contentSecurityPolicy(false)).toContain("object-src 'none'");
  });
  it("every verdict carries the headers", () => {
    expect(decide(req({ headers: { host: "evil" } }), opts()).headers["x-frame-options"]).toBe("DENY");
    expect(decide(req({ remoteAddress: "192.0.2.7", headers: { host: "portico" } }), opts()).headers["x-frame-options"]).toBe("DENY");
  });
});

/**
 * What the console's HTTP front door does with a request before any handler sees it:
 * who the client is (behind a trusted reverse proxy or not), whether the Host header
 * names this appliance (DNS rebinding), whether plain HTTP must go to HTTPS, whether a
 * state-changing request is acceptable (JSON only, same origin), and the security
 * headers every response carries. Pure: no sockets, files or clocks; server/main.ts
 * feeds it the request's facts and acts on the verdict.
 */
import type { IncomingHttpHeaders } from "node:http";
import { BlockList, isIP } from "node:net";
import { proxyEntryProblem } from "./entries";

export { allowedHostProblem, proxyEntryProblem } from "./entries";

/** Settings an admin can change (Settings › Console access, or the environment). */
export interface AccessConfig {
  /** Host names (or addresses) the console answers to besides the built-in ones: exact, `*.example.com`, or `*` for any. */
  allowedHosts: readonly string[];
  /** Addresses or CIDR ranges of reverse proxies whose X-Forwarded-For/-Proto/-Host are believed. */
  trustedProxies: readonly string[];
}

/** What the appliance answers to by itself: loopback names, its host name and its interface addresses. */
export interface HostNames {
  names: ReadonlySet<string>;
}

/** The facts of one request the policy looks at. */
export interface RequestFacts {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The TCP peer (req.socket.remoteAddress). */
  remoteAddress: string | undefined;
  /** The connection is TLS (req.socket.encrypted). */
  encrypted: boolean;
}

/** Who is calling, as the console should see it. */
export interface Client {
  /** The client's address: the TCP peer, or the forwarded client when the peer is a trusted proxy. */
  ip: string;
  /** The browser reached the console over HTTPS (directly, or to a trusted proxy that says so). */
  secure: boolean;
  /** On this machine: a loopback address and not forwarded by anything we do not trust. */
  local: boolean;
  /** `host[:port]` as the client wrote it (Host, or X-Forwarded-Host from a trusted proxy). */
  host: string;
  /** The request came through a trusted proxy. */
  proxied: boolean;
}

export type Verdict =
  | { action: "serve"; client: Client; headers: Record<string, string> }
  | { action: "redirect"; client: Client; status: 308; location: string; headers: Record<string, string> }
  | { action: "refuse"; client: Client; status: 400 | 403 | 415 | 421; message: string; headers: Record<string, string> };

export interface PolicyOptions {
  access: AccessConfig;
  hostNames: HostNames;
  /** HTTPS is served on the console port (not PORTICO_HTTPS=off). */
  httpsEnabled: boolean;
  /** An uploaded (real) certificate is installed: only then is HSTS sent. */
  hsts: boolean;
  /** `next dev`: its hot reload needs eval and websockets. */
  dev?: boolean;
  /**
   * The request bears the CLI's runtime-file token: the `portico` CLI on this machine, which
   * reaches the appliance at its bind address (a LAN address when PORTICO_HTTP_HOST is one)
   * over plain HTTP: not redirected.
   */
  isCli?: (headers: IncomingHttpHeaders) => boolean;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const FORWARDING_HEADERS = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded", "x-real-ip"] as const;
export const HSTS_VALUE = "max-age=31536000";

/** `::ffff:10.0.0.1` → `10.0.0.1`; anything else unchanged. */
export function normalizeIp(ip: string): string {
  const v = ip.trim();
  return v.toLowerCase().startsWith("::ffff:") && isIP(v.slice(7)) === 4 ? v.slice(7) : v;
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackIp(ip: string | undefined): boolean {
  if (!ip) return false;
  const v = normalizeIp(ip);
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v) || v === "::1";
}

/** A matcher for the trusted proxies (invalid entries are ignored: the settings schema refuses them). */
export function proxyMatcher(entries: readonly string[]): (ip: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const e of entries) {
    if (proxyEntryProblem(e)) continue;
    const [addr, bits] = e.trim().split("/") as [string, string | undefined];
    const type = isIP(addr) === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return (ip) => {
    const v = normalizeIp(ip);
    const family = isIP(v);
    return family !== 0 && list.check(v, family === 6 ? "ipv6" : "ipv4");
  };
}

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Splits a comma-separated header (possibly repeated) into trimmed, non-empty items. */
function headerList(headers: IncomingHttpHeaders, name: string): string[] {
  const v = headers[name];
  const all = Array.isArray(v) ? v.join(",") : (v ?? "");
  return all
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Who is calling. Forwarding headers are believed only from a trusted proxy: then the
 * client is the right-most address in X-Forwarded-For that is not itself a trusted proxy
 * (the left part of the list is whatever the client wrote). A request that carries
 * forwarding headers from an untrusted peer on loopback is not local: a reverse proxy on
 * this machine that nobody declared must not make every browser "this machine".
 */
export function clientOf(facts: RequestFacts, isTrustedProxy: (ip: string) => boolean): Client {
  const peer = normalizeIp(facts.remoteAddress ?? "");
  const host = (firstHeader(facts.headers, "host") ?? "").trim();
  if (peer && isTrustedProxy(peer)) {
    const chain = [...headerList(facts.headers, "x-forwarded-for").map(normalizeIp), peer];
    let ip = peer;
    for (let i = chain.length - 1; i >= 0; i--) {
      const hop = chain[i]!;
      if (!isIP(hop)) break; // garbage: stop at the last address we could read
      ip = hop;
      if (!isTrustedProxy(hop)) break;
    }
    const proto = headerList(facts.headers, "x-forwarded-proto")[0]?.toLowerCase();
    const fwdHost = headerList(facts.headers, "x-forwarded-host")[0];
    return { ip, secure: facts.encrypted || proto === "https", local: isLoopbackIp(ip), host: fwdHost || host, proxied: true };
  }
  const forwarded = FORWARDING_HEADERS.some((h) => facts.headers[h] !== undefined);
  return { ip: peer || "unknown", secure: facts.encrypted, local: isLoopbackIp(peer) && !forwarded, host, proxied: false };
}

/** `Host` → lower-case host name without port, brackets or trailing dot; undefined when malformed. */
export function hostnameOf(host: string): string | undefined {
  const h = host.trim().toLowerCase();
  if (!h) return undefined;
  let name: string;
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    if (end < 0) return undefined;
    name = h.slice(1, end);
    const rest = h.slice(end + 1);
    if (rest && !/^:\d{1,5}$/.test(rest)) return undefined;
    if (isIP(name) !== 6) return undefined;
    return name;
  }
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(h);
  if (!m) return undefined;
  name = m[1]!.replace(/\.$/, "");
  if (!/^[a-z0-9_.-]+$/.test(name)) return undefined;
  return name;
}

/** Does the appliance answer to this Host header? Built-in names, loopback addresses, and the configured list. */
export function hostAllowed(host: string, hostNames: HostNames, allowedHosts: readonly string[]): boolean {
  const name = hostnameOf(host);
  if (!name) return false;
  if (isLoopbackIp(name) || name === "localhost" || name.endsWith(".localhost")) return true;
  if (hostNames.names.has(name)) return true;
  for (const raw of allowedHosts) {
    const entry = raw.trim().toLowerCase().replace(/\.$/, "").replace(/^\[(.*)\]$/, "$1");
    if (!entry) continue;
    if (entry === "*" || entry === name) return true;
    if (entry.startsWith("*.") && name.endsWith(entry.slice(1)) && name.length > entry.length - 1) return true;
  }
  return false;
}

/** The Content-Security-Policy of every console response. */
export function contentSecurityPolicy(dev = false): string {
  // Next's App Router streams its page data as inline <script> tags (self.__next_f.push),
  // so scripts need 'unsafe-inline' (nonces would force every page to render dynamically).
  // What the policy is for here: no framing, no plugins, no foreign origins for anything.
  return [
    "default-src 'self'",
    `script-src 'self' 'unsafe-inline'${dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self'${dev ? " ws: wss:" : ""}`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Headers every console response carries (HSTS only over HTTPS with a real certificate). */
export function securityHeaders(opts: { secure: boolean; hsts: boolean; dev?: boolean }): Record<string, string> {
  return {
    "content-security-policy": contentSecurityPolicy(opts.dev),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), usb=(), payment=()",
    ...(opts.secure && opts.hsts ? { "strict-transport-security": HSTS_VALUE } : {}),
  };
}

/** `application/json; charset=utf-8` → `application/json`. */
function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Why a state-changing request (anything but GET/HEAD/OPTIONS) must be refused, if it must.
 * Only JSON bodies: an HTML form (urlencoded, multipart, text/plain) can be posted cross-site
 * without a preflight, JSON cannot. From a browser, only the console's own origin: Sec-Fetch-Site
 * must be same-origin (or none: typed by the user) and Origin, when sent, must be this origin.
 * Clients that are not browsers (the CLI, curl) send neither header.
 */
export function mutationRefusal(facts: RequestFacts, client: Client): { status: 403 | 415; message: string } | undefined {
  if (SAFE_METHODS.has(facts.method.toUpperCase())) return undefined;
  const site = firstHeader(facts.headers, "sec-fetch-site")?.toLowerCase();
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    return { status: 403, message: `cross-site request refused (Sec-Fetch-Site: ${site}): changes are accepted from the console's own pages only` };
  }
  const origin = firstHeader(facts.headers, "origin");
  if (origin !== undefined) {
    const own = ownOrigin(client);
    let theirs: string | undefined;
    try {
      theirs = origin === "null" ? undefined : new URL(origin).origin;
    } catch {
      theirs = undefined;
    }
    if (!own || theirs !== own) return { status: 403, message: `cross-origin request refused (Origin: ${origin}): changes are accepted from the console's own pages only` };
  }
  const type = mediaType(firstHeader(facts.headers, "content-type"));
  if (type !== "application/json") {
    return { status: 415, message: `unsupported content type ${type ? `"${type}"` : "(none)"}: send application/json` };
  }
  return undefined;
}

/** `https://host:port` as the client sees the console, or undefined when Host is unusable. */
export function ownOrigin(client: Client): string | undefined {
  if (!hostnameOf(client.host)) return undefined;
  try {
    return new URL(`${client.secure ? "https" : "http"}://${client.host}`).origin;
  } catch {
    return undefined;
  }
}

/**
 * The verdict on one request, in order: the Host must name this appliance (421, so a
 * DNS-rebinding page gets nothing, not even a redirect); plain HTTP from anywhere but this
 * machine goes to HTTPS on the same port (308 keeps the method and body); a change must
 * be JSON from the console's own origin (415, 403); everything else is served with the
 * security headers.
 */
export function decide(facts: RequestFacts, opts: PolicyOptions): Verdict {
  const client = clientOf(facts, proxyMatcher(opts.access.trustedProxies));
  const headers = securityHeaders({ secure: client.secure, hsts: opts.hsts, dev: opts.dev });
  if (!hostAllowed(client.host, opts.hostNames, opts.access.allowedHosts)) {
    const name = hostnameOf(client.host);
    return {
      action: "refuse",
      client,
      status: 421,
      headers,
      message: name
        ? `This appliance does not answer to the host name "${name}" (protection against DNS rebinding). Use its address, or add the name to the allowed host names (Settings › Console access, or PORTICO_HTTP_ALLOWED_HOSTS).`
        : "The Host header is missing or malformed.",
    };
  }
  // A trusted proxy that says nothing about the scheme is left alone: redirecting it could loop.
  const proxyWithoutProto = client.proxied && headerList(facts.headers, "x-forwarded-proto").length === 0;
  if (opts.httpsEnabled && !client.secure && !client.local && !proxyWithoutProto && !opts.isCli?.(facts.headers)) {
    return { action: "redirect", client, status: 308, location: `https://${client.host}${facts.url.startsWith("/") ? facts.url : "/"}`, headers };
  }
  const refusal = mutationRefusal(facts, client);
  if (refusal) return { action: "refuse", client, ...refusal, headers };
  return { action: "serve", client, headers };
}

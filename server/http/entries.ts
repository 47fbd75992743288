/**
 * Checks for the console-access settings' entries (allowed host names, trusted proxies).
 * No Node imports: the Settings form runs the same checks in the browser (server/api/schemas/https.ts).
 */

/** 4 or 6 for an IP address literal (no brackets, no zone), else 0. */
export function ipFamily(s: string): 0 | 4 | 6 {
  if (/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s)) return 4;
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return 0;
  try {
    new URL(`http://[${s}]/`); // the WHATWG parser validates IPv6 (and embedded IPv4) the same in Node and browsers
    return 6;
  } catch {
    return 0;
  }
}

/** Checks a trusted-proxy entry (`10.0.0.1`, `10.0.0.0/8`, `fd00::/8`): an error message, or undefined when valid. */
export function proxyEntryProblem(entry: string): string | undefined {
  const [addr, bits, extra] = entry.trim().split("/");
  if (extra !== undefined || !addr) return `"${entry}" is not an address or a CIDR range`;
  const family = ipFamily(addr);
  if (!family) return `"${addr}" is not an IP address`;
  if (bits === undefined) return undefined;
  const n = Number(bits);
  if (!/^\d{1,3}$/.test(bits) || n > (family === 4 ? 32 : 128)) return `"/${bits}" is not a prefix length for ${family === 4 ? "IPv4" : "IPv6"}`;
  return undefined;
}

/** Checks an allowed-host entry: an error message, or undefined when valid. */
export function allowedHostProblem(entry: string): string | undefined {
  const e = entry.trim();
  if (e === "*") return undefined;
  const name = e.startsWith("*.") ? e.slice(2) : e;
  if (ipFamily(name.replace(/^\[(.*)\]$/, "$1"))) return undefined;
  if (!/^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i.test(name)) return `"${entry}" is not a host name, an address, *.domain or *`;
  return undefined;
}

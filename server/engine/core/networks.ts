/**
 * Allowed networks of a TPG (CIDR blocks, as TrueNAS' "Authorized Networks"): a login
 * from an address outside every block is refused with Authorization Failure (RFC 7143
 * §11.13.5, status 0202). Pure: parsing and matching only.
 */
import net from "node:net";

export interface Cidr {
  /** The block as written back (normalised: `10.0.0.0/8`, `fd00::/8`). */
  text: string;
  family: 4 | 6;
  /** The address as 4 or 16 bytes, host bits cleared. */
  bytes: Uint8Array;
  prefix: number;
}

function v4Bytes(a: string): Uint8Array {
  return Uint8Array.from(a.split(".").map(Number));
}

function v6Bytes(a: string): Uint8Array {
  let s = a;
  // An embedded IPv4 tail (::ffff:10.1.2.3) becomes two groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tail) {
    const b = v4Bytes(tail[1]);
    s = `${s.slice(0, -tail[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, rest] = s.split("::");
  const h = head ? head.split(":") : [];
  const r = rest !== undefined ? (rest ? rest.split(":") : []) : [];
  const groups = rest !== undefined ? [...h, ...Array<string>(8 - h.length - r.length).fill("0"), ...r] : h;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g || "0", 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

function formatBytes(b: Uint8Array, family: 4 | 6): string {
  if (family === 4) return [...b].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  // Longest run of zero groups becomes "::" (RFC 5952).
  let best = [-1, 0];
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best[1] && j - i > 1) best = [i, j - i];
    i = j;
  }
  if (best[0] < 0) return groups.join(":");
  return `${groups.slice(0, best[0]).join(":")}::${groups.slice(best[0] + best[1]).join(":")}`;
}

/** Parses `a.b.c.d/n`, an IPv6 block, or a bare address (a /32 or /128). Throws with a sentence on bad input. */
export function parseCidr(input: string): Cidr {
  const v = input.trim();
  const [addr, len, extra] = v.split("/");
  if (extra !== undefined) throw new Error(`${v} is not a network: one '/' at most`);
  const family = net.isIPv4(addr) ? 4 : net.isIPv6(addr) ? 6 : 0;
  if (!family) throw new Error(`${v} is not a network: expected an address with a prefix length, like 192.168.1.0/24 or fd00::/64`);
  const max = family === 4 ? 32 : 128;
  const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : Number.NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new Error(`${v}: the prefix length must be 0 to ${max}`);
  const bytes = mask(family === 4 ? v4Bytes(addr) : v6Bytes(addr), prefix);
  return { text: `${formatBytes(bytes, family)}/${prefix}`, family, bytes, prefix };
}

/** Is this remote address (as a socket reports it: IPv4, IPv6, or IPv4-mapped IPv6) inside the block? */
export function cidrContains(c: Cidr, address: string): boolean {
  let a = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped && c.family === 4) a = mapped[1];
  const family = net.isIPv4(a) ? 4 : net.isIPv6(a) ? 6 : 0;
  if (family !== c.family) return false;
  const bytes = mask(family === 4 ? v4Bytes(a) : v6Bytes(a), c.prefix);
  return bytes.every((b, i) => b === c.bytes[i]);
}

/** Empty list: every address is allowed. */
export function addressAllowed(networks: readonly Cidr[], address: string): boolean {
  return networks.length === 0 || networks.some((c) => cidrContains(c, address));
}

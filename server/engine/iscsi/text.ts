/**
 * Text key codec (RFC 7143 §6.1): `key=value` pairs, each terminated by a NUL.
 * Pure; bounds are checked here so the negotiation never sees an oversized key.
 */
import { isAscii } from "node:buffer";

/** RFC 7143 §6.1: key names up to 63 bytes; values up to 255 unless a key says otherwise. */
export const MAX_KEY_LENGTH = 63;
export const MAX_VALUE_LENGTH = 255;
/** Binary CHAP values (CHAP_C/CHAP_R) may be long: 1024-byte challenges as hex, RFC 7143 §12.1.3. */
const LONG_VALUE_KEYS = new Set(["CHAP_C", "CHAP_R", "CHAP_N", "TargetAddress"]);
export const MAX_LONG_VALUE_LENGTH = 2 + 2 * 1024;

const KEY_RE = /^[A-Za-z0-9.\-+@_]+$/;

export type TextPairs = [string, string][];

export type DecodeResult = { ok: true; pairs: TextPairs } | { ok: false; error: string };

/**
 * Parses a text data segment. A trailing segment without NUL is accepted (some
 * initiators omit the last terminator); empty segments between NULs are skipped.
 * Duplicate keys are a protocol error (RFC 7143 §6.2) and reported as such.
 *
 * The segment is decoded once: an ASCII one (every login's) as one string, so splitting it
 * costs no call into the Buffer binding per key; otherwise each item as UTF-8, as before.
 */
export function decodeText(data: Buffer, opts: { allowDuplicates?: boolean } = {}): DecodeResult {
  if (!isAscii(data)) return decodeItems(data, opts);
  // ASCII: latin1 and UTF-8 decode alike, and a character is a byte.
  const text = data.toString("latin1");
  const pairs: TextPairs = [];
  const seen: Seen = { set: undefined };
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\0", start);
    if (end < 0) end = text.length;
    if (end > start) {
      const eq = text.indexOf("=", start);
      if (eq <= start || eq >= end) return { ok: false, error: `malformed text key "${clip(text.slice(start, end))}"` };
      const value = text.slice(eq + 1, end);
      const problem = addPair(pairs, seen, opts, text.slice(start, eq), value, value.length);
      if (problem) return { ok: false, error: problem };
    }
    start = end + 1;
  }
  return { ok: true, pairs };
}

/** The general decoder: each NUL-terminated item decoded as UTF-8 on its own. */
function decodeItems(data: Buffer, opts: { allowDuplicates?: boolean }): DecodeResult {
  const pairs: TextPairs = [];
  const seen: Seen = { set: undefined };
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0, start);
    if (end < 0) end = data.length;
    if (end > start) {
      const item = data.toString("utf8", start, end);
      const eq = item.indexOf("=");
      if (eq <= 0) return { ok: false, error: `malformed text key "${clip(item)}"` };
      const value = item.slice(eq + 1);
      const problem = addPair(pairs, seen, opts, item.slice(0, eq), value, Buffer.byteLength(value));
      if (problem) return { ok: false, error: problem };
    }
    start = end + 1;
  }
  return { ok: true, pairs };
}

/**
 * The keys already decoded, for the duplicate check: a scan of the pairs while there are few (a
 * login has ~17; a Set per login was 1.2 KB of its heap), a Set once there are more than
 * SCAN_PAIRS, so a long segment stays linear.
 */
interface Seen {
  set: Set<string> | undefined;
}
const SCAN_PAIRS = 32;

function seenBefore(pairs: TextPairs, seen: Seen, key: string): boolean {
  if (seen.set) return seen.set.has(key);
  for (let i = 0; i < pairs.length; i++) if (pairs[i][0] === key) return true;
  return false;
}

/** Checks one decoded pair (key bounds and characters, value bytes, duplicates) and keeps it; else says what is wrong. */
function addPair(pairs: TextPairs, seen: Seen, opts: { allowDuplicates?: boolean }, key: string, value: string, valueBytes: number): string | undefined {
  const problem = keyProblem(key) ?? valueProblem(key, valueBytes);
  if (problem) return problem;
  if (!opts.allowDuplicates) {
    if (seenBefore(pairs, seen, key)) return `key ${key} sent twice`;
    if (seen.set) seen.set.add(key);
    else if (pairs.length === SCAN_PAIRS) {
      seen.set = new Set<string>();
      for (const p of pairs) seen.set.add(p[0]);
      seen.set.add(key);
    }
  }
  pairs.push([key, value]);
  return undefined;
}

function keyProblem(key: string): string | undefined {
  if (key.length > MAX_KEY_LENGTH) return `key "${clip(key)}" is longer than ${MAX_KEY_LENGTH} bytes`;
  if (!KEY_RE.test(key)) return `key "${clip(key)}" has characters outside RFC 7143 §6.1`;
  return undefined;
}

function valueProblem(key: string, valueBytes: number): string | undefined {
  const max = LONG_VALUE_KEYS.has(key) ? MAX_LONG_VALUE_LENGTH : MAX_VALUE_LENGTH;
  return valueBytes > max ? `value of ${key} is longer than ${max} bytes` : undefined;
}

export function encodeText(pairs: TextPairs): Buffer {
  if (pairs.length === 0) return Buffer.alloc(0);
  let text = "";
  for (const [k, v] of pairs) text += `${k}=${v}\0`;
  return Buffer.from(text, "utf8");
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

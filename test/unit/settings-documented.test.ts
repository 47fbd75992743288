/**
 * Every PORTICO_* variable the appliance reads is documented: in the README's Settings table
 * (what a user sets) or in a docs/ table or list (the switches for measuring and testing in
 * docs/performance.md, the cluster's in docs/cluster.md); and every one documented there is
 * still read somewhere (no setting that does nothing).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(__dirname, "..", "..");

function files(dir: string, ext: RegExp): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "build" || e.name === "node_modules" ? [] : files(p, ext);
    return ext.test(e.name) ? [p] : [];
  });
}

/** The variables read: process.env.X, env.X, env["X"], envNumber("X", …), envSwitch("X", …), getenv("X") in the addon. */
function readByCode(): Map<string, string> {
  const reads = [/process\.env\.(PORTICO_[A-Z0-9_]+)/g, /\benv\.(PORTICO_[A-Z0-9_]+)/g, /\benv\[\s*["'](PORTICO_[A-Z0-9_]+)["']\s*\]/g, /env(?:Number|Switch)\(\s*"(PORTICO_[A-Z0-9_]+)"/g, /getenv\("(PORTICO_[A-Z0-9_]+)"\)/g];
  const found = new Map<string, string>();
  const sources = [...files(path.join(root, "server"), /\.tsx?$/), ...files(path.join(root, "native"), /\.(c|cc)$/)];
  for (const f of sources) {
    const text = fs.readFileSync(f, "utf8");
    for (const re of reads) for (const m of text.matchAll(re)) if (!found.has(m[1])) found.set(m[1], path.relative(root, f));
  }
  return found;
}

const row = /^\| `(PORTICO_[A-Z0-9_]+)`/gm;
const item = /^- `(PORTICO_[A-Z0-9_]+)`/gm;

function documented(): Map<string, string> {
  const out = new Map<string, string>();
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
  const settings = readme.slice(readme.indexOf("\n## Settings"), readme.indexOf("\n## ", readme.indexOf("\n## Settings") + 1));
  for (const m of settings.matchAll(row)) out.set(m[1], "README.md");
  for (const f of files(path.join(root, "docs"), /\.md$/)) {
    const text = fs.readFileSync(f, "utf8");
    for (const re of [row, item]) for (const m of text.matchAll(re)) if (!out.has(m[1])) out.set(m[1], path.relative(root, f));
  }
  return out;
}

describe("PORTICO_* settings", () => {
  it("every variable the code reads is in the README's Settings table or a docs/ table or list", () => {
    const code = readByCode();
    expect(code.size).toBeGreaterThan(20);
    expect(code.get("PORTICO_POLL_US")).toBe(path.join("server", "engine", "iscsi", "poll-window.ts"));
    const docs = documented();
    const missing = [...code].filter(([v]) => !docs.has(v)).map(([v, f]) => `${v} (read in ${f})`);
    expect(missing).toEqual([]);
  });

  it("every variable documented there is read by the code", () => {
    const code = readByCode();
    const stale = [...documented()].filter(([v]) => !code.has(v)).map(([v, f]) => `${v} (in ${f})`);
    expect(stale).toEqual([]);
  });
});

/**
 * Every engine module loads when it is the first thing a process imports (issue 9,
 * item 4): no import cycle that only works in one import order. Each module is
 * imported alone in a fresh `node --import tsx` process, as an embedder or a
 * test importing just that file would.
 */
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(__dirname, "..", "..");
const engine = path.join(root, "server", "engine");

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? modules(path.join(dir, e.name)) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [path.join(dir, e.name)] : [],
  );
}

function importAlone(file: string): Promise<{ file: string; error?: string }> {
  const code = `await import(${JSON.stringify(pathToFileURL(file).href)});`;
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { cwd: root, timeout: 60_000 }, (err, _out, stderr) =>
      resolve({ file: path.relative(root, file), error: err ? `${err.message}\n${stderr}`.slice(0, 2000) : undefined }),
    );
  });
}

describe("engine modules", () => {
  it("each loads alone in a fresh process", async () => {
    const files = modules(engine);
    expect(files.length).toBeGreaterThan(40);
    expect(files.map((f) => path.relative(engine, f))).toContain(path.join("scsi", "commands-sbc.ts"));
    const results: { file: string; error?: string }[] = [];
    const queue = [...files];
    // A few at a time: the machine is shared.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let f = queue.shift(); f; f = queue.shift()) results.push(await importAlone(f));
      }),
    );
    const failed = results.filter((r) => r.error);
    expect(failed, failed.map((r) => `${r.file}: ${r.error}`).join("\n\n")).toEqual([]);
  }, 300_000);
});

/**
 * A second appliance on the same data directory is refused even while the first is still
 * starting (before it has written its runtime file), whatever HTTP port it is given.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../support/ports";
import { makeDataDir, removeDir, root } from "../support/portico";

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});

function launch(dataDir: string, port: number) {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "server", "main.ts")], {
    cwd: root,
    env: { ...process.env, PORTICO_DATA_DIR: dataDir, PORTICO_HTTP_HOST: "127.0.0.1", PORTICO_HTTP_PORT: String(port), NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const ready = new Promise<void>((resolve) => child.stdout!.on("data", () => /ready:/.test(out) && resolve()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, ready, exited, output: () => out };
}

describe("second instance", () => {
  it("started at the same moment on another port, exactly one serves and the other exits 1 saying why", async () => {
    const dir = makeDataDir();
    try {
      const a = launch(dir, await freePort());
      const b = launch(dir, await freePort());
      const outcome = (p: ReturnType<typeof launch>) => Promise.race([p.ready.then(() => "ready" as const), p.exited.then((c) => c)]);
      const [ra, rb] = await Promise.all([outcome(a), outcome(b)]);
      expect([ra, rb].sort()).toEqual([1, "ready"].sort());
      const loser = ra === 1 ? a : b;
      expect(loser.output()).toMatch(/already running/);
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 1500));
      removeDir(dir);
    }
  });
});

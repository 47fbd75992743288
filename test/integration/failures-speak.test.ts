/**
 * Failures that speak (issue 9 item 8), in the real process: an error that escapes every
 * handler is counted in /metrics, logged as a process_error event with its stack and shown
 * by `portico status`, and the appliance keeps serving; when the iSCSI fabric cannot be
 * loaded, status, the API and /metrics say so instead of running silently without iSCSI.
 * The faults are injected from outside the product: a preload module (NODE_OPTIONS=--import)
 * that throws on SIGUSR2, and a module-resolution hook that makes the fabric's module fail to load.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { restoreDemo } from "../support/demo";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, type PorticoProcess } from "../support/portico";
import { apiClient, parseMetrics } from "./monitor-support";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.failspeak01";
const hooks = mkdtempSync(path.join(tmpdir(), "portico-faults-"));
const throwOnSignal = path.join(hooks, "throw-on-signal.mjs");
writeFileSync(
  throwOnSignal,
  `process.on("SIGUSR2", () => {
  setImmediate(() => { throw new Error("injected uncaught exception"); });
  setImmediate(() => { Promise.reject(new Error("injected unhandled rejection")); });
});\n`,
);
const breakFabric = path.join(hooks, "break-fabric.mjs");
const breakFabricHook = path.join(hooks, "break-fabric-hook.mjs");
writeFileSync(breakFabric, `import { register } from "node:module";\nregister(${JSON.stringify("file://" + breakFabricHook)});\n`);
writeFileSync(
  breakFabricHook,
  `export async function resolve(specifier, context, next) {
  if (/\\/engine\\/index(\\.ts)?$/.test(specifier) && /\\/server\\/main\\.ts$/.test(context.parentURL ?? "")) throw new Error("injected: the fabric module is missing");
  return next(specifier, context);
}\n`,
);

const started: { server: PorticoProcess; dataDir: string }[] = [];
afterAll(async () => {
  for (const s of started) {
    await s.server.stop().catch(() => s.server.kill());
    removeDir(s.dataDir);
  }
  removeDir(hooks);
});

async function start(preload: string) {
  const dataDir = makeDataDir("portico-faults-");
  const port = await freePort();
  restoreDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "faults0", plugin: "ramdisk", size: 4 * 1024 * 1024 }], ports: [port] });
  const server = await startPortico({ dataDir, env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${preload}`.trim() } });
  started.push({ server, dataDir });
  return { server, dataDir, port, api: apiClient(server.url, dataDir) };
}

async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return parseMetrics(text).find((m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v))?.value;
}

describe("failures that speak", () => {
  it("an uncaught exception and an unhandled rejection are counted, logged with their stack, shown by status; serving goes on", async () => {
    const { server, dataDir, port, api } = await start(throwOnSignal);
    await waitForPort(port);
    expect(await metric(server.url, "portico_uncaught_errors_total", { kind: "exception" })).toBe(0);
    server.child.kill("SIGUSR2");
    let events: Awaited<ReturnType<typeof api.events.list.query>> = [];
    for (let i = 0; i < 100; i++) {
      events = await api.events.list.query({ types: ["process_error"] });
      if (events.length >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const exception = events.find((e) => e.reason === "uncaught_exception");
    expect(exception?.message).toBe("injected uncaught exception");
    expect(JSON.stringify(exception?.detail)).toContain("throw-on-signal.mjs");
    expect(events.find((e) => e.reason === "unhandled_rejection")?.message).toBe("injected unhandled rejection");
    expect(await metric(server.url, "portico_uncaught_errors_total", { kind: "exception" })).toBe(1);
    expect(await metric(server.url, "portico_uncaught_errors_total", { kind: "rejection" })).toBe(1);
    const status = portico(dataDir, ["status"]);
    expect(status.stdout).toMatch(/uncaught errors: 2 \(last: injected/);
    // Still serving storage.
    const inq = sh("iscsi-inq", ["-i", "iqn.2024-01.org.portico.test:faults", `iscsi://127.0.0.1:${port}/${IQN}/0`], 30_000);
    expect(inq.status, inq.stderr).toBe(0);
    expect(await metric(server.url, "portico_iscsi_fabric_up")).toBe(1);
  });

  it("a fabric that cannot load is reported by status, the API and /metrics", async () => {
    const { server, dataDir, api } = await start(breakFabric);
    const s = await api.system.status.query();
    expect(s.fabric).toBe(false);
    expect(s.health.fabric).toEqual({ loaded: false, error: expect.stringContaining("injected: the fabric module is missing") });
    expect(await metric(server.url, "portico_iscsi_fabric_up")).toBe(0);
    const status = portico(dataDir, ["status"]);
    expect(status.stdout).toMatch(/iSCSI fabric: NOT LOADED \(.*injected: the fabric module is missing/);
    // Without the fabric there is no monitor, hence no event log: the reason is on stderr as well.
    expect(server.output()).toMatch(/WARNING: the iSCSI fabric could not be loaded \(.*injected/);
  });
});

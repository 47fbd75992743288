import fs from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createFrontDoor, type FrontDoor } from "../../../server/http/front-door";

const dirs: string[] = [];
let door: FrontDoor | undefined;
afterEach(() => {
  door?.listener.closeAllConnections();
  door?.listener.server.close();
  door = undefined;
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function memorySettings() {
  const m = new Map<string, unknown>();
  return { getSetting: <T>(k: string) => m.get(k) as T | undefined, setSetting: (k: string, v: unknown) => void m.set(k, v), map: m };
}

async function start(env: Record<string, string>) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-door-"));
  dirs.push(dataDir);
  const settings = memorySettings();
  door = createFrontDoor({ dataDir, bindHost: "127.0.0.1", dev: false, settings, handler: (_req, res) => res.end("served"), env: env as NodeJS.ProcessEnv });
  await new Promise<void>((r) => door!.listener.server.listen(0, "127.0.0.1", r));
  const port = (door.listener.server.address() as net.AddressInfo).port;
  const get = (host: string) =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: "127.0.0.1", port, path: "/", headers: { host }, agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on("error", reject);
    });
  return { dataDir, settings, get, door };
}

describe("front door", () => {
  it("adds PORTICO_HTTP_ALLOWED_HOSTS to the stored list, and stores only what Settings sets", async () => {
    const { get, settings, door } = await start({ PORTICO_HTTP_ALLOWED_HOSTS: " nas.env.test , *.lab.test", PORTICO_HTTP_TRUSTED_PROXIES: "10.0.0.0/8" });
    expect(await get("nas.env.test")).toBe(200);
    expect(await get("a.lab.test:3000")).toBe(200);
    expect(await get("other.test")).toBe(421);
    expect(door.control.status()).toMatchObject({ enabled: true, hsts: false, fromEnvironment: { allowedHosts: ["nas.env.test", "*.lab.test"], trustedProxies: ["10.0.0.0/8"] }, access: { allowedHosts: [], trustedProxies: [] } });
    door.control.setAccess({ allowedHosts: ["other.test"], trustedProxies: [] });
    expect(await get("other.test")).toBe(200);
    expect(await get("nas.env.test")).toBe(200); // the environment's entries stay
    expect(settings.map.get("http.access")).toEqual({ allowedHosts: ["other.test"], trustedProxies: [] });
  });

  it("PORTICO_HTTPS=off: no certificate, and no certificate to change", async () => {
    const { dataDir, door } = await start({ PORTICO_HTTPS: "off" });
    expect(door.scheme).toBe("http");
    expect(door.certificate).toBeUndefined();
    expect(fs.existsSync(path.join(dataDir, "tls"))).toBe(false);
    expect(() => door.control.useSelfSigned()).toThrow(/HTTPS is off/);
  });
});

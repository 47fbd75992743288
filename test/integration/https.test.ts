/**
 * The console's front door against the real process, with curl: HTTPS on the console port
 * with the self-signed certificate made at first start, plain HTTP from the LAN address
 * redirected to HTTPS (the client really is not on loopback: curl connects to this machine's
 * LAN address, so the appliance sees that address as the peer), plain HTTP kept for loopback
 * (CLI, /metrics), security headers, the 415/403/421 refusals, the __Host- session cookie,
 * certificate upload (HSTS on) and back, allowed host names and a trusted proxy.
 */
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSelfSigned } from "../../server/http/certificate";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, root, sh, startPortico, type PorticoProcess } from "../support/portico";

const lan = Object.values(os.networkInterfaces())
  .flat()
  .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
const PASSWORD = "correct horse battery";
let dataDir: string;
let server: PorticoProcess;
let port: number;
let token: string;

interface Reply {
  status: number;
  headers: Record<string, string[]>;
  body: string;
}

/** curl with headers captured; never follows redirects unless asked. */
function curl(url: string, args: string[] = []): Reply {
  const r = sh("curl", ["-sS", "--max-time", "30", "-D", "-", ...args, url], 60_000);
  if (r.status !== 0) throw new Error(`curl ${url} failed (${r.status}): ${r.stderr}`);
  // With -L there are several header blocks: keep the last.
  const blocks = r.stdout.split(/\r\n\r\n/);
  let i = 0;
  while (i + 1 < blocks.length && /^HTTP\/[\d.]+ \d{3}/.test(blocks[i + 1]!)) i++;
  const [statusLine, ...lines] = blocks[i]!.split("\r\n");
  const headers: Record<string, string[]> = {};
  for (const l of lines) {
    const c = l.indexOf(":");
    if (c > 0) (headers[l.slice(0, c).toLowerCase()] ??= []).push(l.slice(c + 1).trim());
  }
  return { status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(statusLine!)?.[1]), headers, body: blocks.slice(i + 1).join("\r\n\r\n") };
}
const h = (r: Reply, name: string) => r.headers[name]?.join(", ");
const https = (p: string) => `https://127.0.0.1:${port}${p}`;
const plain = (p: string) => `http://127.0.0.1:${port}${p}`;
const json = (input: unknown) => ["-H", "content-type: application/json", "--data-binary", JSON.stringify({ json: input })];
const cli = () => ["-H", `x-portico-token: ${token}`];
const tlsFile = (f: string) => path.join(dataDir, "tls", f);
const served = (): string => {
  // The certificate the server presents right now, as openssl s_client sees it (retried: a loaded machine may time a handshake out).
  let out = "";
  for (let i = 0; i < 3 && !out; i++) {
    const r = sh("bash", ["-c", `openssl s_client -connect 127.0.0.1:${port} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`]);
    out = r.stdout.trim().replace(/^.*Fingerprint=/i, "");
  }
  return out;
};

/** The ready line (printed just after the runtime file startPortico waits for is written: poll for it). */
async function readyLine(proc: PorticoProcess): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const line = proc.output().split("\n").find((l) => l.includes(" ready: console "));
    if (line) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ready line:\n${proc.output()}`);
}

beforeAll(async () => {
  dataDir = makeDataDir("portico-it-https-");
  server = await startPortico({ dataDir, env: { PORTICO_HTTP_HOST: "0.0.0.0" } });
  port = server.httpPort;
  token = (JSON.parse(readFileSync(path.join(dataDir, "portico.runtime.json"), "utf8")) as { token: string }).token;
});

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  if (dataDir) removeDir(dataDir);
});

describe("HTTPS by default", () => {
  it("makes a self-signed certificate at first start, 0600 in <data>/tls, its fingerprint in the ready line", async () => {
    for (const f of ["self-signed.crt", "self-signed.key"]) expect(statSync(tlsFile(f)).mode & 0o777, f).toBe(0o600);
    expect(statSync(path.join(dataDir, "tls")).mode & 0o777).toBe(0o700);
    const fp = new X509Certificate(readFileSync(tlsFile("self-signed.crt"))).fingerprint256;
    expect(await readyLine(server)).toMatch(new RegExp(`ready: console https://0\\.0\\.0\\.0:${port} \\(self-signed certificate, SHA-256 ${fp}`));
    expect(served()).toBe(fp);
  });

  it("curl -k https://127.0.0.1:<port>/ serves the console, with the security headers", () => {
    const r = curl(https("/"), ["-k", "-L"]);
    const built = existsSync(path.join(root, ".next", "BUILD_ID"));
    expect(r.status, r.body).toBe(built ? 200 : 503);
    if (built) expect(r.body).toContain("<html");
    else expect(r.body).toContain("not built");
    expect(h(r, "content-security-policy")).toContain("frame-ancestors 'none'");
    expect(h(r, "x-frame-options")).toBe("DENY");
    expect(h(r, "x-content-type-options")).toBe("nosniff");
    expect(h(r, "referrer-policy")).toBe("same-origin");
    expect(h(r, "strict-transport-security")).toBeUndefined(); // not with a self-signed certificate
    const api = curl(https("/api/trpc/onboarding.status"), ["-k"]);
    expect(api.status).toBe(200);
    expect(JSON.parse(api.body).result.data.json.onboarded).toBe(false);
  });

  it("verifies against its own certificate for the LAN address (the SAN lists it)", () => {
    if (!lan) return void console.warn("no LAN address: skipped");
    const r = curl(`https://${lan}:${port}/api/trpc/onboarding.status`, ["--cacert", tlsFile("self-signed.crt")]);
    expect(r.status).toBe(200);
  });

  it("redirects plain HTTP from the LAN to HTTPS on the same port; loopback keeps plain HTTP", () => {
    if (!lan) return void console.warn("no LAN address: skipped");
    const r = curl(`http://${lan}:${port}/settings?tab=1`);
    expect(r.status).toBe(308);
    expect(h(r, "location")).toBe(`https://${lan}:${port}/settings?tab=1`);
    const followed = curl(`http://${lan}:${port}/api/trpc/onboarding.status`, ["-k", "-L"]);
    expect(followed.status).toBe(200);
    // Over HTTPS the LAN client is still not "this machine": /metrics needs a token.
    expect(curl(`https://${lan}:${port}/metrics`, ["-k"]).status).toBe(403);
    // Loopback: plain HTTP serves /metrics and the CLI.
    expect(curl(plain("/metrics")).status).toBe(200);
    const ls = portico(dataDir, ["ls"]);
    expect(ls.status, ls.stderr).toBe(0);
    expect(ls.stdout).toContain("backstores");
  });
});

describe("request checks", () => {
  let cookie = "";
  it("onboarding over HTTPS sets the __Host- cookie, Secure; it counts over HTTPS only", () => {
    // The setup code is needed from loopback too (issue 15 item 3): read from the data directory, as root would.
    const code = readFileSync(path.join(dataDir, "setup-code"), "utf8").trim();
    const r = curl(https("/api/trpc/onboarding.complete"), [
      "-k",
      "-H",
      `x-portico-setup-code: ${code}`,
      ...json({ admin: { username: "admin", password: PASSWORD, confirm: PASSWORD }, appliance: { name: "it", iqnPrefix: "iqn.2003-01.org.linux-iscsi.it.x8664" }, storage: { kind: "none" } }),
    ]);
    expect(r.status, r.body).toBe(200);
    const set = h(r, "set-cookie") ?? "";
    expect(set).toMatch(/^__Host-portico_session=[A-Za-z0-9_-]{40,}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
    const value = /^__Host-portico_session=([^;]+)/.exec(set)![1]!;
    cookie = `__Host-portico_session=${value}`;
    expect(curl(https("/api/trpc/config.settings"), ["-k", "-H", `cookie: ${cookie}`]).status).toBe(200);
    // The same token under the plain name, or over plain HTTP, is no session.
    expect(curl(https("/api/trpc/config.settings"), ["-k", "-H", `cookie: portico_session=${value}`]).status).toBe(401);
    expect(curl(plain("/api/trpc/config.settings"), ["-H", `cookie: ${cookie}`]).status).toBe(401);
    // Signing in over loopback plain HTTP gives the plain cookie, without Secure.
    const login = curl(plain("/api/trpc/auth.login"), json({ username: "admin", password: PASSWORD }));
    expect(login.status, login.body).toBe(200);
    expect(h(login, "set-cookie")).toMatch(/^portico_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  });

  it("refuses a multipart POST to a mutation with 415, and nothing changes", () => {
    const read = curl(https("/api/trpc/config.settings"), ["-k", "-H", `cookie: ${cookie}`]);
    expect(read.status).toBe(200);
    const before = read.body;
    const r = curl(https("/api/trpc/config.setSettings"), ["-k", "-H", `cookie: ${cookie}`, "-F", "autoAddMappedLuns=false", "-F", "maxBackupFiles=1"]);
    expect(r.status).toBe(415);
    expect(r.body).toContain("application/json");
    const urlencoded = curl(https("/api/trpc/auth.logout"), ["-k", "-H", `cookie: ${cookie}`, "--data", "x=1"]);
    expect(urlencoded.status).toBe(415);
    expect(curl(https("/api/trpc/config.settings"), ["-k", "-H", `cookie: ${cookie}`]).body).toBe(before); // and still signed in
  });

  it("refuses a cross-site Origin or Sec-Fetch-Site on mutations with 403; the console's own origin passes", () => {
    const input = json({ autoAddMappedLuns: true, maxBackupFiles: 10 });
    const evil = curl(https("/api/trpc/config.setSettings"), ["-k", "-H", `cookie: ${cookie}`, "-H", "origin: https://evil.example", ...input]);
    expect(evil.status).toBe(403);
    expect(evil.body).toContain("cross-origin");
    const site = curl(https("/api/trpc/config.setSettings"), ["-k", "-H", `cookie: ${cookie}`, "-H", "sec-fetch-site: cross-site", ...input]);
    expect(site.status).toBe(403);
    const own = curl(https("/api/trpc/config.setSettings"), ["-k", "-H", `cookie: ${cookie}`, "-H", `origin: https://127.0.0.1:${port}`, "-H", "sec-fetch-site: same-origin", ...input]);
    expect(own.status, own.body).toBe(200);
  });

  it("answers 421 to a Host it is not (DNS rebinding), from loopback too", () => {
    const r = curl(plain("/metrics"), ["-H", "Host: rebind.evil.example"]);
    expect(r.status).toBe(421);
    expect(r.body).toContain("rebind.evil.example");
    expect(curl(https("/api/trpc/onboarding.status"), ["-k", "-H", `Host: rebind.evil.example:${port}`]).status).toBe(421);
    expect(curl(plain("/metrics"), ["-H", `Host: localhost:${port}`]).status).toBe(200);
    expect(curl(plain("/metrics"), ["-H", `Host: ${os.hostname()}:${port}`]).status).toBe(200);
  });

  it("a forwarded request is not local unless its proxy is trusted; allowed host names and trusted proxies are settings", () => {
    // An undeclared proxy on this machine does not make its clients local.
    expect(curl(plain("/metrics"), ["-H", "x-forwarded-for: 203.0.113.5"]).status).toBe(308);
    expect(curl(https("/metrics"), ["-k", "-H", "x-forwarded-for: 203.0.113.5"]).status).toBe(403);
    const set = curl(https("/api/trpc/https.setAccess"), ["-k", ...cli(), ...json({ allowedHosts: ["nas.example.test"], trustedProxies: ["127.0.0.1"] })]);
    expect(set.status, set.body).toBe(200);
    expect(curl(plain("/metrics"), ["-H", `Host: nas.example.test:${port}`]).status).toBe(200);
    // Through the trusted proxy: TLS ended at the proxy → served; plain → sent to HTTPS at the name the browser used.
    const viaTls = curl(plain("/api/trpc/onboarding.status"), ["-H", "x-forwarded-for: 203.0.113.5", "-H", "x-forwarded-proto: https", "-H", "x-forwarded-host: nas.example.test"]);
    expect(viaTls.status).toBe(200);
    const viaPlain = curl(plain("/settings"), ["-H", "x-forwarded-for: 203.0.113.5", "-H", "x-forwarded-proto: http", "-H", "x-forwarded-host: nas.example.test"]);
    expect(viaPlain.status).toBe(308);
    expect(h(viaPlain, "location")).toBe("https://nas.example.test/settings");
    const bad = curl(https("/api/trpc/https.setAccess"), ["-k", ...cli(), ...json({ allowedHosts: ["http://x/"], trustedProxies: [] })]);
    expect(bad.status).toBe(400);
    const status = JSON.parse(curl(https("/api/trpc/https.status"), ["-k", ...cli()]).body).result.data.json;
    expect(status.access).toEqual({ allowedHosts: ["nas.example.test"], trustedProxies: ["127.0.0.1"] });
    expect(curl(https("/api/trpc/https.setAccess"), ["-k", ...cli(), ...json({ allowedHosts: [], trustedProxies: [] })]).status).toBe(200);
    expect(curl(plain("/metrics"), ["-H", `Host: nas.example.test:${port}`]).status).toBe(421);
  });

  it("installs an uploaded certificate (served at once, HSTS on, key 0600), refuses a wrong key, and goes back to self-signed", () => {
    const selfFp = new X509Certificate(readFileSync(tlsFile("self-signed.crt"))).fingerprint256;
    const mine = generateSelfSigned({ dns: ["localhost", "nas.example.test"], ips: ["127.0.0.1", ...(lan ? [lan] : [])] }, 90);
    const other = generateSelfSigned({ dns: ["localhost"], ips: [] }, 90);
    const wrong = curl(https("/api/trpc/https.installCertificate"), ["-k", ...cli(), ...json({ cert: mine.cert, secretKey: other.key })]);
    expect(wrong.status).toBe(400);
    expect(JSON.parse(wrong.body).error.json.data.field).toBe("secretKey");
    expect(existsSync(tlsFile("uploaded.crt"))).toBe(false);

    const ok = curl(https("/api/trpc/https.installCertificate"), ["-k", ...cli(), ...json({ cert: mine.cert, secretKey: mine.key })]);
    expect(ok.status, ok.body).toBe(200);
    const fp = new X509Certificate(mine.cert).fingerprint256;
    expect(JSON.parse(ok.body).result.data.json.certificate).toMatchObject({ kind: "uploaded", fingerprint256: fp });
    expect(statSync(tlsFile("uploaded.key")).mode & 0o777).toBe(0o600);
    expect(served()).toBe(fp);
    const ca = path.join(dataDir, "mine.pem");
    writeFileSync(ca, mine.cert);
    const trusted = curl(https("/api/trpc/onboarding.status"), ["--cacert", ca]);
    expect(trusted.status).toBe(200);
    expect(h(trusted, "strict-transport-security")).toMatch(/^max-age=\d+$/);
    expect(h(curl(plain("/api/trpc/onboarding.status")), "strict-transport-security")).toBeUndefined(); // never over plain HTTP

    // The audit log names the change and keeps the key (and the PEM text) out.
    const events = curl(https(`/api/trpc/events.list?input=${encodeURIComponent(JSON.stringify({ json: { log: "audit", limit: 50 } }))}`), ["-k", ...cli()]);
    expect(events.status, events.body).toBe(200);
    expect(events.body).toContain("https.installCertificate");
    expect(events.body).not.toContain("PRIVATE KEY");
    expect(events.body).not.toContain(mine.key.split("\n")[1]!);

    const back = curl(https("/api/trpc/https.useSelfSigned"), ["-k", ...cli(), "-H", "content-type: application/json", "--data", "{}"]);
    expect(back.status, back.body).toBe(200);
    expect(served()).toBe(selfFp);
    expect(h(curl(https("/api/trpc/onboarding.status"), ["-k"]), "strict-transport-security")).toBeUndefined();
    expect(existsSync(tlsFile("uploaded.key"))).toBe(false);
  });

  it("keeps the self-signed certificate across a restart", async () => {
    const before = new X509Certificate(readFileSync(tlsFile("self-signed.crt"))).fingerprint256;
    await server.stop(30_000).catch(() => server.kill()); // how it stops is not this test's business
    server = await startPortico({ dataDir, httpPort: port, env: { PORTICO_HTTP_HOST: "0.0.0.0" } });
    expect(served()).toBe(before);
    expect(await readyLine(server)).toContain(before);
  });
});

describe("bound to the LAN address only", () => {
  it("the CLI still reaches it in plain HTTP (its token is not redirected); a browser there is redirected", async () => {
    if (!lan) return void console.warn("no LAN address: skipped");
    const dir = makeDataDir("portico-it-https-lan-");
    const port2 = await freePort();
    // startPortico waits on 127.0.0.1: this one listens on the LAN address only, so wait for its runtime file.
    const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "server", "main.ts")], {
      cwd: root,
      env: { ...process.env, PORTICO_DATA_DIR: dir, PORTICO_HTTP_HOST: lan, PORTICO_HTTP_PORT: String(port2), NEXT_TELEMETRY_DISABLED: "1" },
      stdio: "ignore",
    });
    try {
      await waitForPort(port2, lan, 90_000);
      for (let i = 0; i < 100 && !existsSync(path.join(dir, "portico.runtime.json")); i++) await new Promise((r) => setTimeout(r, 100));
      const ls = portico(dir, ["ls"]);
      expect(ls.status, ls.stderr).toBe(0);
      expect(ls.stdout).toContain("backstores");
      expect(curl(`http://${lan}:${port2}/api/trpc/onboarding.status`).status).toBe(308);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
      removeDir(dir);
    }
  });
});

describe("PORTICO_HTTPS=off", () => {
  it("serves plain HTTP to everyone, makes no certificate, and keeps the checks and headers", async () => {
    if (!lan) return void console.warn("no LAN address: skipped");
    const dir = makeDataDir("portico-it-https-off-");
    const off = await startPortico({ dataDir: dir, env: { PORTICO_HTTP_HOST: "0.0.0.0", PORTICO_HTTPS: "off" } });
    try {
      expect(await readyLine(off)).toMatch(new RegExp(`ready: console http://0\\.0\\.0\\.0:${off.httpPort} — `));
      expect(existsSync(path.join(dir, "tls"))).toBe(false);
      const r = curl(`http://${lan}:${off.httpPort}/api/trpc/onboarding.status`);
      expect(r.status).toBe(200);
      expect(h(r, "x-frame-options")).toBe("DENY");
      expect(curl(`http://127.0.0.1:${off.httpPort}/metrics`, ["-H", "Host: rebind.evil.example"]).status).toBe(421);
      expect(sh("curl", ["-sS", "-k", "--max-time", "10", `https://127.0.0.1:${off.httpPort}/`]).status).not.toBe(0); // no TLS
    } finally {
      await off.stop().catch(() => off.kill());
      removeDir(dir);
    }
  });
});

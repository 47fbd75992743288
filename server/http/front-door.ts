/**
 * The console's front door (wired by server/main.ts): one port serving HTTPS (the
 * certificate from server/http/certificate.ts) and plain HTTP, every request judged by
 * server/http/policy.ts before a handler sees it, and the controls Settings uses to
 * upload a certificate or change the allowed host names and trusted proxies.
 *
 * Environment: PORTICO_HTTPS=off serves plain HTTP only (as before HTTPS existed);
 * PORTICO_HTTP_ALLOWED_HOSTS and PORTICO_HTTP_TRUSTED_PROXIES (comma-separated) add to
 * what Settings stores, so an admin locked out by a name can get back in from the shell.
 */
import type { IncomingHttpHeaders } from "node:http";
import os from "node:os";
import { envSwitch } from "../engine/core/env";
import { CertificateStore, machineNames, type CertificateInfo } from "./certificate";
import { rememberClient } from "./client";
import { createDualListener, type DualListener, type Handler, type UpgradeHandler } from "./listener";
import { decide, hostnameOf, type AccessConfig, type HostNames } from "./policy";

export interface SettingsStore {
  getSetting<T>(key: string): T | undefined;
  setSetting(key: string, value: unknown): void;
}

export interface HttpsStatus {
  /** HTTPS is served on the console port. */
  enabled: boolean;
  certificate?: CertificateInfo;
  /** Strict-Transport-Security is sent (an uploaded certificate is installed). */
  hsts: boolean;
  /** The access settings as stored (without the environment's additions). */
  access: AccessConfig;
  /** Added by PORTICO_HTTP_ALLOWED_HOSTS / PORTICO_HTTP_TRUSTED_PROXIES (not editable in Settings). */
  fromEnvironment: AccessConfig;
  /** Names and addresses answered to without configuration. */
  builtInHosts: string[];
}

/** What the `https` API router may do (server/api/routers/https.ts). */
export interface HttpsControl {
  status(): HttpsStatus;
  installCertificate(cert: string, key: string): HttpsStatus;
  useSelfSigned(): HttpsStatus;
  setAccess(access: AccessConfig): HttpsStatus;
}

const ACCESS_KEY = "http.access";
const HOST_NAMES_TTL_MS = 30_000;

function envList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export function httpsEnabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return envSwitch("PORTICO_HTTPS", { default: true, env });
}

/** The names and addresses this machine answers to by itself (refreshed: addresses come and go). */
function currentHostNames(bindHost: string): HostNames {
  const { dns, ips } = machineNames();
  const names = new Set<string>([...dns, ...ips.map((ip) => ip.toLowerCase())]);
  const h = os.hostname().toLowerCase();
  names.add(h);
  const bound = hostnameOf(bindHost.includes(":") && !bindHost.startsWith("[") ? `[${bindHost}]` : bindHost);
  if (bound && bound !== "0.0.0.0" && bound !== "::") names.add(bound);
  return { names };
}

export interface FrontDoor {
  listener: DualListener;
  control: HttpsControl;
  /** For the ready line: `https` or `http`, and the certificate's fingerprint. */
  scheme: "https" | "http";
  certificate?: CertificateInfo;
}

export function createFrontDoor(opts: {
  dataDir: string;
  bindHost: string;
  dev: boolean;
  settings: SettingsStore;
  handler: Handler;
  upgrade?: UpgradeHandler;
  env?: NodeJS.ProcessEnv;
  warn?: (message: string) => void;
  /** The request bears the CLI's token (policy.ts: not redirected to HTTPS). */
  isCli?: (headers: IncomingHttpHeaders) => boolean;
}): FrontDoor {
  const env = opts.env ?? process.env;
  const warn = opts.warn ?? (() => {});
  const enabled = httpsEnabledByEnv(env);
  const store = new CertificateStore(opts.dataDir);
  let active = enabled ? store.active(new Date(), warn) : undefined;
  const fromEnvironment: AccessConfig = { allowedHosts: envList(env.PORTICO_HTTP_ALLOWED_HOSTS), trustedProxies: envList(env.PORTICO_HTTP_TRUSTED_PROXIES) };
  const stored = (): AccessConfig => {
    const v = opts.settings.getSetting<Partial<AccessConfig>>(ACCESS_KEY);
    return { allowedHosts: Array.isArray(v?.allowedHosts) ? v.allowedHosts : [], trustedProxies: Array.isArray(v?.trustedProxies) ? v.trustedProxies : [] };
  };
  let access: AccessConfig = { allowedHosts: [], trustedProxies: [] };
  const refreshAccess = () => {
    const s = stored();
    access = { allowedHosts: [...s.allowedHosts, ...fromEnvironment.allowedHosts], trustedProxies: [...s.trustedProxies, ...fromEnvironment.trustedProxies] };
  };
  refreshAccess();
  let hostNames = currentHostNames(opts.bindHost);
  let hostNamesAt = Date.now();

  const handler: Handler = (req, res) => {
    if (Date.now() - hostNamesAt > HOST_NAMES_TTL_MS) {
      hostNames = currentHostNames(opts.bindHost);
      hostNamesAt = Date.now();
    }
    const verdict = decide(
      { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, remoteAddress: req.socket.remoteAddress, encrypted: Boolean((req.socket as { encrypted?: boolean }).encrypted) },
      { access, hostNames, httpsEnabled: enabled, hsts: active?.info.kind === "uploaded", dev: opts.dev, isCli: opts.isCli },
    );
    rememberClient(req, verdict.client);
    for (const [k, v] of Object.entries(verdict.headers)) res.setHeader(k, v);
    if (verdict.action === "redirect") {
      res.writeHead(verdict.status, { location: verdict.location, "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }).end(`The console is served over HTTPS: ${verdict.location}\n`);
      return;
    }
    if (verdict.action === "refuse") {
      // Drain what the client sent, so the refusal is read rather than reset mid-upload.
      req.resume();
      res.writeHead(verdict.status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", connection: "close" }).end(`${verdict.message}\n`);
      return;
    }
    opts.handler(req, res);
  };

  // Upgrades (Next's dev websocket) pass the same Host check; anything else on them is Next's.
  const upgrade: UpgradeHandler | undefined = opts.upgrade
    ? (req, socket, head) => {
        const verdict = decide(
          { method: "GET", url: req.url ?? "/", headers: req.headers, remoteAddress: req.socket.remoteAddress, encrypted: Boolean((req.socket as { encrypted?: boolean }).encrypted) },
          { access, hostNames, httpsEnabled: false, hsts: false, dev: opts.dev },
        );
        if (verdict.action !== "serve") return void socket.destroy();
        opts.upgrade!(req, socket, head);
      }
    : undefined;

  const listener = createDualListener({ handler, upgrade, tls: active ? { cert: active.cert, key: active.key } : undefined });

  const status = (): HttpsStatus => ({
    enabled,
    certificate: active?.info,
    hsts: active?.info.kind === "uploaded",
    access: stored(),
    fromEnvironment,
    builtInHosts: [...hostNames.names].sort(),
  });
  const needEnabled = () => {
    if (!enabled) throw new Error("HTTPS is off (PORTICO_HTTPS=off): there is no certificate to change");
  };
  const control: HttpsControl = {
    status,
    installCertificate(cert, key) {
      needEnabled();
      const installed = store.install(cert, key);
      listener.setCertificate(installed.cert, installed.key);
      active = installed;
      return status();
    },
    useSelfSigned() {
      needEnabled();
      store.removeUploaded();
      active = store.active(new Date(), warn);
      listener.setCertificate(active.cert, active.key);
      return status();
    },
    setAccess(next) {
      opts.settings.setSetting(ACCESS_KEY, { allowedHosts: [...next.allowedHosts], trustedProxies: [...next.trustedProxies] });
      refreshAccess();
      return status();
    },
  };
  return { listener, control, scheme: enabled ? "https" : "http", certificate: active?.info };
}

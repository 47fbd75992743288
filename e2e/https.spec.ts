/**
 * HTTPS in Chromium: the console over https://127.0.0.1 with its self-signed certificate
 * (accepted, as an admin does after comparing fingerprints), pages that hydrate and work
 * under the Content-Security-Policy (no violation reported), the __Host- session cookie,
 * a page that cannot be framed, Settings › HTTPS showing the fingerprint of the ready line,
 * a wrong key refused at its field, a real certificate installed (HSTS) and removed.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { generateSelfSigned } from "../server/http/certificate";
import { makeDataDir, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { signedIn } from "./admin";
import { ADMIN_PASSWORD, fieldError, onboardViaApi, shot } from "./helpers";

let dataDir: string;
let server: PorticoProcess;
let url: string;

test.use({ ignoreHTTPSErrors: true });

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-https-");
  server = await startPortico({ dataDir });
  url = `https://127.0.0.1:${server.httpPort}`;
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  if (dataDir) removeDir(dataDir);
});

/** Collects Content-Security-Policy violations the page reports (console messages and securitypolicyviolation events). */
async function watchCsp(page: Page): Promise<string[]> {
  const seen: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to (execute|load|apply|connect)/i.test(m.text())) seen.push(m.text());
  });
  await page.exposeFunction("__cspViolation", (v: string) => seen.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      (window as unknown as { __cspViolation(v: string): void }).__cspViolation(`${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`),
    );
  });
  return seen;
}

test("the console over HTTPS works under its CSP, with a __Host- cookie, and cannot be framed", async ({ page, context }, testInfo) => {
  const violations = await watchCsp(page);
  const first = await page.goto(url);
  expect(first?.url()).toMatch(/\/onboarding$/);
  const headers = first!.headers();
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(headers["x-frame-options"]).toBe("DENY");
  await onboardViaApi(page, { url, dataDir });
  const cookie = (await context.cookies()).find((c) => c.name === "__Host-portico_session");
  expect(cookie, "the session cookie is __Host- prefixed over HTTPS").toBeTruthy();
  expect(cookie!.secure).toBe(true);
  expect((await context.cookies()).some((c) => c.name === "portico_session")).toBe(false);

  // Client-side navigation works: React hydrated despite the policy.
  await page.goto(url);
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible({ timeout: 30_000 });
  await page.getByRole("link", { name: "Settings", exact: true }).first().click();
  await expect(page).toHaveURL(/\/settings$/);
  await expect(page.getByTestId("https-settings")).toBeVisible({ timeout: 30_000 });
  const fp = new X509Certificate(readFileSync(path.join(dataDir, "tls", "self-signed.crt"))).fingerprint256;
  await expect(page.getByTestId("https-fingerprint")).toHaveText(fp);
  await expect.poll(() => server.output()).toContain(fp);
  await expect(page.getByTestId("https-kind")).toHaveText("self-signed");
  await shot(page, testInfo, "settings-https-self-signed");

  // A page of another origin cannot frame the console (frame-ancestors 'none', X-Frame-Options DENY).
  const framer = await context.newPage();
  const framerViolations: string[] = [];
  framer.on("console", (m) => framerViolations.push(m.text()));
  await framer.setContent(`<iframe id="f" src="${url}/settings"></iframe>`);
  await expect.poll(() => framerViolations.some((t) => /frame-ancestors|X-Frame-Options|Refused to (display|frame)/i.test(t)), { timeout: 15_000 }).toBe(true);
  const inner = framer.frames().find((f) => f !== framer.mainFrame());
  expect(await inner?.locator("[data-testid=https-settings]").count().catch(() => 0)).toBe(0);
  await framer.close();

  expect(violations, violations.join("\n")).toEqual([]);
});

test("signing in through the login form over HTTPS: the browser's own POST passes the origin checks, no CSP violation", async ({ browser }) => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const violations = await watchCsp(page);
  const posts: { url: string; status: number; origin?: string; site?: string }[] = [];
  page.on("response", async (r) => {
    if (r.request().method() === "POST") {
      const h = await r.request().allHeaders();
      posts.push({ url: r.url(), status: r.status(), origin: h.origin, site: h["sec-fetch-site"] });
    }
  });
  await page.goto(`${url}/settings`);
  await expect(page).toHaveURL(/\/login\?next=%2Fsettings$/);
  await page.getByLabel("User name").fill("admin");
  await page.getByLabel("Password").fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/settings$/, { timeout: 30_000 });
  await expect(page.getByTestId("https-settings")).toBeVisible({ timeout: 30_000 });
  const login = posts.find((p) => p.url.includes("auth.login"));
  expect(login).toMatchObject({ status: 200, origin: url, site: "same-origin" });
  expect(violations, violations.join("\n")).toEqual([]);
  await context.close();
});

test("installing a certificate in Settings: a wrong key is refused at its field; the right pair is served with HSTS; back to self-signed", async ({ page }, testInfo) => {
  const violations = await watchCsp(page);
  await signedIn(page, { url, dataDir }); // onboards first when this test runs alone
  const mine = generateSelfSigned({ dns: ["localhost"], ips: ["127.0.0.1"] }, 30);
  const other = generateSelfSigned({ dns: ["localhost"], ips: [] }, 30);
  await page.goto(`${url}/settings`);
  const card = page.getByTestId("https-settings");
  await expect(card).toBeVisible({ timeout: 30_000 });

  await card.getByLabel("Certificate (PEM)").fill(mine.cert);
  await card.getByLabel("Private key (PEM)").fill(other.key);
  await card.getByTestId("https-install").click();
  await expect(await fieldError(page, card.getByLabel("Private key (PEM)"))).toContainText("does not belong");
  await shot(page, testInfo, "settings-https-wrong-key");

  await card.getByLabel("Private key (PEM)").fill(mine.key);
  await card.getByTestId("https-install").click();
  await expect(card.getByTestId("https-kind")).toHaveText("installed certificate");
  await expect(card.getByTestId("https-fingerprint")).toHaveText(new X509Certificate(mine.cert).fingerprint256);
  const after = await page.request.get(`${url}/api/trpc/onboarding.status`);
  expect(after.headers()["strict-transport-security"]).toMatch(/^max-age=\d+$/);
  await shot(page, testInfo, "settings-https-installed");

  await card.getByTestId("https-self-signed").click();
  await page.getByRole("button", { name: "Use self-signed" }).click();
  await expect(card.getByTestId("https-kind")).toHaveText("self-signed");
  const back = await page.request.get(`${url}/api/trpc/onboarding.status`);
  expect(back.headers()["strict-transport-security"]).toBeUndefined();

  // Allowed host names: a bad entry is refused at its field, a good one is saved.
  const hosts = card.getByLabel("Allowed host names");
  await hosts.fill("http://bad/");
  await card.getByTestId("access-save").click();
  await expect(await fieldError(page, hosts)).toContainText("not a host name");
  await hosts.fill("nas.example.test");
  await card.getByTestId("access-save").click();
  await expect(card.getByRole("status")).toHaveText("Saved.");
  const named = await page.request.get(`${url}/api/trpc/onboarding.status`, { headers: { host: `nas.example.test:${server.httpPort}` } });
  expect(named.status()).toBe(200);
  expect(violations, violations.join("\n")).toEqual([]);
});

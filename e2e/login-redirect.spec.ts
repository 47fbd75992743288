/**
 * Issue 15 items 4 and 3 in Chromium against the real appliance: signing in from
 * `/login?next=…` never leaves the console's origin (the issue's `/%5C…` and `/%09/…`
 * probes sent the browser to 127.0.0.1:9999), a same-site `next` is honoured, and
 * Settings lists the administrators.
 */
import { expect, test } from "@playwright/test";
import { makeDataDir, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { ADMIN_PASSWORD, onboardViaApi, shot } from "./helpers";

let dataDir: string;
let server: PorticoProcess;

test.beforeAll(async ({ browser }) => {
  dataDir = makeDataDir("portico-e2e-next-");
  server = await startPortico({ dataDir });
  const page = await browser.newPage();
  await onboardViaApi(page, server);
  await page.close();
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

async function signIn(page: import("@playwright/test").Page) {
  await page.getByLabel("Password", { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
}

for (const next of ["/%5C127.0.0.1:9999/phish.html", "/%09/127.0.0.1:9999/phish.html", "//127.0.0.1:9999/phish.html"]) {
  test(`next=${next} stays on the console after sign-in`, async ({ browser }) => {
    const context = await browser.newContext(); // no session
    const page = await context.newPage();
    const left: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(server.url)) left.push(r.url());
    });
    await page.goto(`${server.url}/login?next=${next}`);
    await signIn(page);
    await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible({ timeout: 30_000 });
    expect(new URL(page.url()).origin).toBe(server.url);
    expect(left).toEqual([]);
    await context.close();
  });
}

test("a next on the console is honoured, and Settings lists the administrators", async ({ browser }, testInfo) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.url}/settings`);
  await expect(page).toHaveURL(/\/login\?next=%2Fsettings$/);
  await signIn(page);
  await expect(page).toHaveURL(`${server.url}/settings`, { timeout: 30_000 });
  const rows = page.getByTestId("admin-row");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("admin");
  await expect(rows.first()).toContainText("you");
  await shot(page, testInfo, "settings-administrators");
  await context.close();
});

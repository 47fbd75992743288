/**
 * The one-time onboarding setup code, from a browser that is really not on loopback:
 * the appliance listens on every address and the browser uses this machine's LAN
 * address. Without the code nothing but the wizard's first step answers; a wrong code
 * is shown at the field; the code from <data dir>/setup-code lets onboarding finish,
 * and then the file is gone. (Loopback needs the code as well: the other console specs
 * read it from the data directory, e2e/helpers.ts.) From the LAN the console is HTTPS with its
 * self-signed certificate (plain HTTP is redirected), so this browser accepts that certificate.
 */
import { expect, test } from "@playwright/test";
import { existsSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { makeDataDir, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { ADMIN_PASSWORD, fieldError, shot } from "./helpers";

const lan = Object.values(os.networkInterfaces())
  .flat()
  .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
let dataDir: string;
let server: PorticoProcess;

test.use({ ignoreHTTPSErrors: true });

test.beforeAll(async () => {
  test.skip(!lan, "this machine has no non-loopback IPv4 address");
  dataDir = makeDataDir("portico-e2e-setup-");
  server = await startPortico({ dataDir, env: { PORTICO_HTTP_HOST: "0.0.0.0" } });
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  if (dataDir) removeDir(dataDir);
});

test("a browser on the LAN must enter the setup code before onboarding; the code then goes away", async ({ page }, testInfo) => {
  const file = path.join(dataDir, "setup-code");
  const code = readFileSync(file, "utf8").trim();
  expect(statSync(file).mode & 0o777).toBe(0o600);
  // stdout is a pipe here, not a terminal: the ready line names the file, never the code.
  expect(server.output()).toContain(`onboarding setup code in ${file}`);
  expect(server.output()).not.toContain(code);
  const url = `https://${lan}:${server.httpPort}`;
  // Plain HTTP from the LAN goes to HTTPS.
  const redirected = await page.request.get(`http://${lan}:${server.httpPort}/onboarding`, { maxRedirects: 0 });
  expect(redirected.status()).toBe(308);
  expect(redirected.headers().location).toBe(`${url}/onboarding`);

  // The API refuses the network without the code.
  const bare = await page.request.post(`${url}/api/trpc/onboarding.complete`, {
    data: { json: { admin: { username: "admin", password: ADMIN_PASSWORD, confirm: ADMIN_PASSWORD }, appliance: { name: "x", iqnPrefix: "iqn.2003-01.org.linux-iscsi.e2e.x8664" }, storage: { kind: "none" } } },
  });
  expect(bare.status()).toBe(403);

  await page.goto(`${url}/storage`);
  await expect(page).toHaveURL(/\/onboarding/);
  await expect(page.getByTestId("setup-code-box")).toBeVisible({ timeout: 30_000 });
  await page.getByLabel("Password", { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByLabel("Confirm password").fill(ADMIN_PASSWORD);
  await page.getByTestId("wizard-next").click();
  await expect(await fieldError(page, page.getByLabel("Setup code"))).toContainText("required");
  await page.getByLabel("Setup code").fill("AAAA-BBBB-CCCC-DDDD");
  await page.getByTestId("wizard-next").click();
  await expect(await fieldError(page, page.getByLabel("Setup code"))).toContainText("not the setup code");
  await shot(page, testInfo, "onboarding-setup-code-wrong");

  await page.getByLabel("Setup code").fill(code.toLowerCase());
  await page.getByTestId("wizard-next").click();
  await expect(page).toHaveURL(/step=2/);
  await page.getByLabel("Appliance name").fill("lan-e2e");
  await page.getByLabel("IQN prefix for new targets").fill("iqn.2003-01.org.linux-iscsi.e2e.x8664");
  await page.getByTestId("wizard-next").click();
  await page.getByRole("radio", { name: /^Not now/ }).check();
  await page.getByTestId("wizard-next").click();
  await expect(page).toHaveURL(/step=6/);
  await page.getByTestId("wizard-next").click();
  await expect(page).toHaveURL(/step=8/, { timeout: 30_000 });
  expect(existsSync(file)).toBe(false);
  await shot(page, testInfo, "onboarding-setup-code-done");
});

/**
 * Settings › Alerts in Chromium against the real appliance: a bad SMTP setting is shown
 * at its field, a test webhook and a test e-mail reach local receivers, and deleting a
 * fileio file makes a "storage offline" alert that shows under Firing now and reaches
 * both the webhook receiver and the SMTP sink.
 */
import { mkdtempSync, rmSync, unlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { restoreDemo } from "../test/support/demo";
import { freePort } from "../test/support/ports";
import { makeDataDir, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { startSmtpSink, startWebhookSink, type SmtpSink, type WebhookSink } from "../test/support/sinks";
import { signedIn } from "./admin";
import { fieldError, shot } from "./helpers";

test.describe.configure({ mode: "serial" });

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2ealerts001";
let dataDir: string;
let fileDir: string;
let server: PorticoProcess;
let smtp: SmtpSink;
let hook: WebhookSink;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-alerts-");
  fileDir = mkdtempSync(path.join(os.tmpdir(), "portico-e2e-alert-files-"));
  restoreDemo(dataDir, {
    iqn: IQN,
    storageObjects: [{ name: "vmstore", plugin: "fileio", dev: path.join(fileDir, "vmstore.img"), size: 16 * 1024 * 1024 }],
    ports: [await freePort()],
  });
  [smtp, hook] = await Promise.all([startSmtpSink(), startWebhookSink()]);
  server = await startPortico({ dataDir });
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  await smtp?.close();
  await hook?.close();
  removeDir(dataDir);
  rmSync(fileDir, { recursive: true, force: true });
});

test("alerts: field errors, test deliveries, and a deleted fileio file reaching the webhook and the SMTP sink", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await page.goto(`${server.url}/settings`);
  await page.getByRole("link", { name: /Alert rules, webhook and e-mail/ }).click();
  await expect(page.getByRole("heading", { name: "Settings · Alerts" })).toBeVisible({ timeout: 30_000 });
  await expect(page.getByText("No alerts")).toBeVisible();

  // E-mail on without a server: the error sits at the field.
  await page.getByLabel("Send alerts by e-mail").check();
  await page.getByTestId("alerts-save").click();
  await expect(await fieldError(page, page.getByLabel("SMTP server", { exact: true }))).toHaveText("required to send e-mail");

  await page.getByLabel("SMTP server", { exact: true }).fill("127.0.0.1");
  await page.getByLabel("Port", { exact: true }).fill(String(smtp.port));
  await page.getByLabel("Security", { exact: true }).selectOption("none");
  await page.getByLabel("From", { exact: true }).fill("portico@appliance.test");
  await page.getByLabel("To", { exact: true }).fill("ops@example.test");
  await page.getByTestId("alerts-test-email").click();
  await expect(page.getByTestId("alerts-note")).toContainText("Test e-mail delivered");
  expect(smtp.mails.some((m) => m.data.includes("[test]"))).toBe(true);

  await page.getByLabel("Send alerts to a webhook").check();
  await page.getByLabel("URL", { exact: true }).fill(hook.url);
  await page.getByTestId("alerts-test-webhook").click();
  await expect(page.getByTestId("alerts-note")).toContainText("Test webhook call delivered");
  expect(hook.bodies.some((b) => (b as { test?: boolean }).test === true)).toBe(true);

  await page.getByLabel("Check every (seconds)").fill("5");
  await page.getByTestId("alerts-save").click();
  await expect(page.getByTestId("alerts-note")).toContainText("Saved.");
  await shot(page, testInfo, "alerts-settings");

  unlinkSync(path.join(fileDir, "vmstore.img"));
  await page.getByTestId("alerts-check").click();
  const row = page.getByTestId("alert-row").filter({ hasText: "Storage fileio/vmstore is offline" });
  await expect(row).toBeVisible({ timeout: 15_000 });
  await expect(row).toContainText("critical");
  await shot(page, testInfo, "alerts-firing");

  await hook.waitFor((b) => (b as { alerts?: { labels: { object: string }; status: string }[] }).alerts?.some((a) => a.labels.object === "/backstores/fileio/vmstore" && a.status === "firing") ?? false, 15_000);
  const mail = await smtp.waitFor((m) => m.data.includes("Storage fileio/vmstore is offline"), 15_000);
  expect(mail.to).toEqual(["ops@example.test"]);
});

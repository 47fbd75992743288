/**
 * The console against the production build: a target that `portico restoreconfig`
 * created shows on the overview and the targets page once the admin is set up.
 */
import { expect, test } from "@playwright/test";
import { restoreDemo } from "../test/support/demo";
import { freePort } from "../test/support/ports";
import { makeDataDir, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { onboardViaApi, shot } from "./helpers";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2econsole01";
let dataDir: string;
let server: PorticoProcess;
let iscsiPort: number;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-");
  iscsiPort = await freePort();
  restoreDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "e2edisk", plugin: "ramdisk", size: 16 * 1024 * 1024 }], ports: [iscsiPort] });
  server = await startPortico({ dataDir });
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

test("the overview shows the live configuration and engine status once the admin exists", async ({ page }, testInfo) => {
  await page.goto(server.url);
  await expect(page).toHaveURL(/\/onboarding$/);
  await onboardViaApi(page, server);
  await page.goto(server.url);
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible({ timeout: 30_000 });
  await expect(page.getByText(IQN).first()).toBeVisible();
  await expect(page.getByTestId("count-storage")).toHaveText("1");
  await expect(page.getByTestId("count-portals")).toHaveText("1 / 1");
  await shot(page, testInfo, "overview");
  await page.getByRole("link", { name: "Targets", exact: true }).first().click();
  await expect(page.getByTestId("target-iqn")).toHaveText(IQN);
  await page.getByTestId("target-iqn").click();
  await expect(page.getByText("/backstores/ramdisk/e2edisk")).toBeVisible();
  await page.getByRole("link", { name: /Portals/ }).click();
  await expect(page.getByTestId("portal")).toHaveAttribute("data-key", `127.0.0.1:${iscsiPort}`);
});

/**
 * ALUA on the storage detail page (issue 13) against the production build: the groups with
 * their states and paths, a bad group id at its field, a new group, a LUN moved into it and the
 * group set to Standby, each confirmed in a dialog that names the logged-in session; the
 * initiator then sees 2Ah/06h and NOT READY 04h/0Bh.
 */
import { expect, test, type Page } from "@playwright/test";
import { restoreDemo } from "../test/support/demo";
import { IscsiClient } from "../test/support/iscsi-client";
import { freePort, waitForPort } from "../test/support/ports";
import { makeDataDir, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { signedIn } from "./admin";
import { fieldError, shot } from "./helpers";

test.describe.configure({ mode: "serial" });

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2ealua00001";
const INITIATOR = "iqn.2024-01.org.portico.test:e2e-alua";
let dataDir: string;
let server: PorticoProcess;
let iscsiPort: number;
let client: IscsiClient;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-alua-");
  iscsiPort = await freePort();
  restoreDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "multi", plugin: "ramdisk", size: 8 * 1024 * 1024 }], ports: [iscsiPort] });
  server = await startPortico({ dataDir });
  await waitForPort(iscsiPort);
  client = await IscsiClient.connect(iscsiPort);
  const r = await client.login({ initiatorName: INITIATOR, targetName: IQN });
  expect([r.statusClass, r.statusDetail]).toEqual([0, 0]);
  await client.command(Buffer.from([0, 0, 0, 0, 0, 0])); // consumes POWER ON, RESET
});

test.afterAll(async () => {
  client?.close();
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

async function open(page: Page) {
  await page.goto(`${server.url}/storage/ramdisk/multi`);
  await expect(page.getByRole("heading", { name: "ALUA target port groups" })).toBeVisible({ timeout: 30_000 });
}

const group = (page: Page, name: string) => page.locator(`[data-testid="alua-group"][data-name="${name}"]`);
const ascOf = (r: { status: number; sense?: Buffer }) => (r.sense ? [r.sense[2] & 0x0f, r.sense[12], r.sense[13]] : [r.status]);

test("groups, a new group, a LUN moved and a state changed with a confirmation naming the session", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await open(page);
  await expect(group(page, "default_tg_pt_gp").getByTestId("alua-state")).toHaveText("Active/Optimized");
  await expect(group(page, "default_tg_pt_gp").getByTestId("alua-member")).toContainText(`lun0 of ${IQN} tpg1`);

  // id 0 is default_tg_pt_gp's: refused at the field by the shared schema
  await page.getByTestId("alua-new-name").fill("second");
  await page.getByTestId("alua-new-id").fill("0");
  await page.getByTestId("alua-create").click();
  await expect(await fieldError(page, page.getByTestId("alua-new-id"))).toContainText("0 is default_tg_pt_gp's");
  await page.getByTestId("alua-new-id").fill("2");
  await page.getByTestId("alua-create").click();
  await expect(group(page, "second")).toBeVisible();
  await expect(group(page, "second")).toContainText("id 2");

  // move lun0 into "second": the dialog names the session
  await group(page, "default_tg_pt_gp").getByLabel("Group of lun0 tpg1").selectOption("second");
  await group(page, "default_tg_pt_gp").getByTestId("alua-move").click();
  const dialog = page.getByRole("dialog");
  await expect(dialog.getByTestId("alua-sessions")).toContainText(INITIATOR);
  await shot(page, testInfo, "alua-move-confirm");
  await dialog.getByTestId("confirm-button").click();
  await expect(group(page, "second").getByTestId("alua-member")).toContainText(`lun0 of ${IQN} tpg1`);
  expect(ascOf(await client.read10(0, 1))).toEqual([0x6, 0x2a, 0x06]);

  // set "second" to Standby
  await group(page, "second").getByTestId("alua-state-select").selectOption("2");
  await group(page, "second").getByTestId("alua-set-state").click();
  await expect(dialog).toContainText("Set second to Standby?");
  await expect(dialog.getByTestId("alua-sessions")).toContainText(INITIATOR);
  await dialog.getByTestId("confirm-button").click();
  await expect(group(page, "second").getByTestId("alua-state")).toHaveText("Standby");
  await shot(page, testInfo, "alua-standby");
  expect(ascOf(await client.read10(0, 1))).toEqual([0x6, 0x2a, 0x06]);
  expect(ascOf(await client.read10(0, 1))).toEqual([0x2, 0x04, 0x0b]);
});

/**
 * Storage detail editors against the production build: attributes (a bad value and a
 * refusal while exported shown at the field, a change saved), growing with units
 * (shrinking refused with the reason), and identity (too long at the field, refused while
 * exported, saved). Screenshots of each state go to the test output directory.
 */
import { expect, test, type Page } from "@playwright/test";
import path from "node:path";
import { restoreDemo } from "../test/support/demo";
import { freePort } from "../test/support/ports";
import { makeDataDir, removeDir, startPortico, storageDirOf, type PorticoProcess } from "../test/support/portico";
import { signedIn } from "./admin";
import { fieldError, shot } from "./helpers";

test.describe.configure({ mode: "serial" });

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2estorage01";
let dataDir: string;
let server: PorticoProcess;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-so-");
  const iscsiPort = await freePort();
  restoreDemo(dataDir, {
    iqn: IQN,
    storageObjects: [{ name: "exported", plugin: "ramdisk", size: 16 * 1024 * 1024 }],
    unexported: [{ name: "spare", plugin: "fileio", dev: path.join(storageDirOf(dataDir), "spare.img"), size: 16 * 1024 * 1024, write_back: false }],
    ports: [iscsiPort],
  });
  server = await startPortico({ dataDir });
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

async function open(page: Page, plugin: string, name: string) {
  await page.goto(`${server.url}/storage/${plugin}/${name}`);
  await expect(page.getByRole("heading", { name: "Attributes" })).toBeVisible({ timeout: 30_000 });
}

test("attributes: a non-integer and an out-of-range value at their fields, a refusal while exported names the LUN, a change is saved", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await open(page, "ramdisk", "exported");
  await shot(page, testInfo, "storage-detail-exported");
  const save = page.getByTestId("save-attributes");

  // not a whole number: the shared schema says so at the field
  await page.getByLabel("max_write_same_len").fill("1.5");
  await save.click();
  await expect(await fieldError(page, page.getByLabel("max_write_same_len"))).toHaveText("attributes are integers");

  // out of range: the engine's refusal at the field
  await page.getByLabel("max_write_same_len").fill("99999999999");
  await save.click();
  await expect(await fieldError(page, page.getByLabel("max_write_same_len"))).toContainText("0..4294967295");
  await shot(page, testInfo, "storage-attribute-out-of-range");

  // locked while exported: shown locked before Save (a disabled switch with the lock badge)
  await page.getByRole("button", { name: "Discard" }).click();
  const tas = page.getByRole("switch", { name: "emulate_tas" });
  await expect(tas).toHaveAttribute("aria-checked", "true");
  await expect(tas).toBeDisabled();
  await expect(page.locator('[data-testid="so-attribute"][data-name="emulate_tas"]').getByTestId("attribute-locked")).toBeVisible();
  await shot(page, testInfo, "storage-attribute-locked-while-exported");

  // a boolean attribute is a switch
  const nonrot = page.getByRole("switch", { name: "is_nonrot" });
  const before = await nonrot.getAttribute("aria-checked");
  await nonrot.click();
  await save.click();
  await expect(page.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
  await page.reload();
  await expect(page.getByRole("switch", { name: "is_nonrot" })).toHaveAttribute("aria-checked", before === "true" ? "false" : "true");

  // happy path: a change allowed while exported
  await page.getByLabel("max_write_same_len").fill("2048");
  await save.click();
  await expect(page.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
  await page.reload();
  await expect(page.getByLabel("max_write_same_len")).toHaveValue("2048");
});

test("resize: shrinking and zero are refused at the field, growing with units works", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await open(page, "fileio", "spare");
  const card = page.getByTestId("so-resize");
  await expect(card).toContainText("16 MiB");
  const size = card.getByRole("textbox", { name: "New size" });

  await size.fill("8");
  await card.getByLabel("unit").selectOption("MiB");
  await page.getByTestId("resize-submit").click();
  const shrink = await fieldError(page, size);
  await expect(shrink).toContainText("cannot shrink");
  await expect(shrink).toContainText("only growing is supported");
  await shot(page, testInfo, "storage-resize-shrink-refused");

  await size.fill("0");
  await page.getByTestId("resize-submit").click();
  await expect(await fieldError(page, size)).toHaveText("size must be more than 0");

  await size.fill("32");
  await page.getByTestId("resize-submit").click();
  await expect(card.getByRole("status")).toHaveText("Now 32 MiB.");
  await expect(card).toContainText((32 * 1024 * 1024).toLocaleString("en-US"));
  await shot(page, testInfo, "storage-resized");
});

test("identity: too long at the field, refused while exported, saved when not exported; phone width", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await open(page, "fileio", "spare");
  const card = page.getByTestId("so-identity");
  await card.getByLabel("Vendor").fill("MUCHTOOLONG");
  await page.getByTestId("identity-submit").click();
  await expect(await fieldError(page, card.getByLabel("Vendor"))).toHaveText("at most 8 characters");
  await card.getByLabel("Vendor").fill("ACME");
  await card.getByLabel("Revision").fill("2.1");
  await page.getByTestId("identity-submit").click();
  await expect(card.getByRole("status")).toHaveText("Saved.");
  await page.reload();
  await expect(page.getByTestId("so-identity").getByLabel("Vendor")).toHaveValue("ACME");
  await shot(page, testInfo, "storage-identity-saved");

  await open(page, "ramdisk", "exported");
  const exp = page.getByTestId("so-identity");
  await expect(page.getByTestId("identity-exported")).toContainText(IQN);
  await exp.getByLabel("Revision").fill("9.9");
  await page.getByTestId("identity-submit").click();
  await expect(await fieldError(page, exp.getByLabel("Revision"))).toContainText("cannot change while it is exported");
  await shot(page, testInfo, "storage-identity-refused-while-exported");

  await page.setViewportSize({ width: 390, height: 844 });
  await open(page, "fileio", "spare");
  await shot(page, testInfo, "storage-detail-phone");
});

/**
 * Storage never touches the system's own files, in the console (issue 15 item 2, issue 10 item 3),
 * against the production build and the real appliance: the New storage wizard's file path
 * defaults from the name in the storage directory; the appliance's database, a system file and a
 * file another object uses are refused at the File path field (naming the rule or the other
 * object); a size beyond the free space shows an over-commit checkbox with the error and is
 * created once it is ticked; the delete dialog offers to delete the file (unticked by default);
 * Settings keeps the storage roots (a missing directory refused at the field).
 */
import { expect, test, type Page } from "@playwright/test";
import fs from "node:fs";
import path from "node:path";
import { restoreDemo } from "../test/support/demo";
import { freePort } from "../test/support/ports";
import { makeDataDir, removeDir, startPortico, storageDirOf, type PorticoProcess } from "../test/support/portico";
import { signedIn } from "./admin";
import { fieldError, shot } from "./helpers";

test.describe.configure({ mode: "serial" });

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2efileio01";
let dataDir: string;
let server: PorticoProcess;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-fileio-");
  restoreDemo(dataDir, {
    iqn: IQN,
    storageObjects: [{ name: "r0", plugin: "ramdisk", size: 16 * 1024 * 1024 }],
    unexported: [{ name: "spare", plugin: "fileio", dev: path.join(storageDirOf(dataDir), "spare.img"), size: 16 * 1024 * 1024, write_back: false }],
    ports: [await freePort()],
  });
  server = await startPortico({ dataDir });
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

async function detailsStep(page: Page) {
  await page.goto(`${server.url}/storage/new`);
  await page.getByRole("radio", { name: /^File \(fileio\)/ }).check();
  await page.getByTestId("wizard-next").click();
  await expect(page.getByLabel("File path")).toBeVisible({ timeout: 30_000 });
}

test("the wizard's path follows the name; system and appliance files and a file in use are refused at the field", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await detailsStep(page);
  const storageDir = storageDirOf(dataDir);
  await page.getByLabel("Name").fill("vm1");
  await expect(page.getByLabel("File path")).toHaveValue(path.join(storageDir, "vm1.img"));
  await page.getByRole("radio", { name: /^Use an existing file/ }).check();

  await page.getByLabel("File path").fill(path.join(dataDir, "portico.db"));
  await page.getByTestId("wizard-next").click();
  await expect(await fieldError(page, page.getByLabel("File path"))).toContainText("inside the appliance's data directory");
  await shot(page, testInfo, "fileio-refused-data-dir");

  await page.getByLabel("File path").fill("/etc/passwd");
  await page.getByTestId("wizard-next").click();
  await expect(await fieldError(page, page.getByLabel("File path"))).toContainText("/etc, a system directory");

  await page.getByLabel("File path").fill(path.join(storageDir, "spare.img"));
  await page.getByTestId("wizard-next").click();
  await expect(await fieldError(page, page.getByLabel("File path"))).toContainText("already backs storage object fileio/spare");
  await shot(page, testInfo, "fileio-refused-in-use");
});

test("a size beyond the free space shows the over-commit checkbox with the error; ticked, the file is created; delete can take the file", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await detailsStep(page);
  await page.getByLabel("Name").fill("thin1");
  const file = path.join(storageDirOf(dataDir), "thin1.img");
  await expect(page.getByLabel("File path")).toHaveValue(file);
  await page.getByRole("textbox", { name: "Size" }).fill("8");
  await page.getByLabel("unit").selectOption("TiB");
  const overcommit = page.getByRole("checkbox", { name: /Over-commit/ });
  await expect(overcommit).toHaveCount(0);
  await page.getByTestId("wizard-next").click();
  await expect(await fieldError(page, page.getByRole("textbox", { name: "Size" }))).toContainText("confirm over-commit");
  await expect(overcommit).not.toBeChecked();
  await shot(page, testInfo, "fileio-overcommit-offered");
  await overcommit.check();
  await page.getByTestId("wizard-next").click();
  await expect(page.getByTestId("review")).toContainText("(over-committed)");
  await page.getByTestId("wizard-next").click();
  await expect(page).toHaveURL(/\/storage\/fileio\/thin1$/, { timeout: 30_000 });
  expect(fs.statSync(file).size).toBe(8 * 1024 ** 4);
  expect(fs.existsSync(path.join(dataDir, "thin1.img"))).toBe(false);

  // Delete: the file stays unless the (unticked) box is ticked.
  await page.getByRole("button", { name: "Delete thin1" }).click();
  const box = page.getByRole("checkbox", { name: /Also delete the file/ });
  await expect(box).not.toBeChecked();
  await box.check();
  await expect(page.getByRole("dialog")).toContainText("is deleted with it");
  await shot(page, testInfo, "fileio-delete-with-file");
  await page.getByTestId("confirm-button").click();
  await expect(page).toHaveURL(/\/storage$/, { timeout: 30_000 });
  expect(fs.existsSync(file)).toBe(false);
});

test("Settings: storage roots, a missing directory refused at the field", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await page.goto(`${server.url}/settings`);
  const roots = page.getByLabel("Allowed directories");
  await expect(roots).toBeVisible({ timeout: 30_000 });
  await roots.fill(path.join(dataDir, "..", "no-such-root-dir-for-portico"));
  await page.getByTestId("storage-roots-save").click();
  await expect(await fieldError(page, roots)).toContainText("not an existing directory");
  await roots.fill(storageDirOf(dataDir));
  await page.getByTestId("storage-roots-save").click();
  await expect(page.getByRole("region", { name: "Storage roots" }).getByRole("status")).toHaveText("Saved.");
  await shot(page, testInfo, "settings-storage-roots");
  const r = await page.request.get(`${server.url}/api/trpc/config.settings`);
  expect(JSON.stringify(await r.json())).toContain(storageDirOf(dataDir));
});

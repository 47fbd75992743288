/**
 * Ceph RBD in the console, in Chromium against the real appliance and a real single-node
 * Ceph (test/support/ceph.ts): the storage wizard connects to the cluster (health shown),
 * picks the pool, serves an image made with `rbd create`, and creates a new one of a given
 * size; the storage detail page shows the image card (provisioned, features, lock).
 */
import { expect, test } from "@playwright/test";
import { startCeph, type Ceph } from "../test/support/ceph";
import { restoreDemo } from "../test/support/demo";
import { freePort } from "../test/support/ports";
import { makeDataDir, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { signedIn } from "./admin";
import { fieldError, shot } from "./helpers";

test.describe.configure({ mode: "serial" });

let ceph: Ceph;
let dataDir: string;
let server: PorticoProcess;

test.beforeAll(async () => {
  test.setTimeout(180_000);
  ceph = await startCeph();
  ceph.rbd("create", "--size", "32M", "rbd/existing1");
  dataDir = makeDataDir("portico-e2e-rbd-");
  restoreDemo(dataDir, {
    iqn: "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2erbd000001",
    storageObjects: [{ name: "demo0", plugin: "ramdisk", size: 8 * 1024 * 1024 }],
    ports: [await freePort()],
  });
  server = await startPortico({ dataDir });
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  if (dataDir) removeDir(dataDir);
  await ceph?.stop();
});

test("the storage wizard serves an existing rbd image, then creates a new one; detail shows the image", async ({ page }, testInfo) => {
  test.setTimeout(150_000);
  await signedIn(page, server);
  await page.goto(`${server.url}/storage/new`);
  await page.getByRole("radio", { name: /^Ceph RBD/ }).check();
  await page.getByTestId("wizard-next").click();

  await page.getByLabel("Name", { exact: true }).fill("cephdisk");
  await page.getByLabel("Ceph configuration").fill(ceph.conf);
  await expect(page.getByLabel("Client id")).toHaveValue("admin");
  await page.getByTestId("rbd-connect").click();
  await expect(page.getByTestId("rbd-cluster")).toContainText(/HEALTH_(OK|WARN)/, { timeout: 30_000 });
  // Next without a pool: the error is next to the pool field.
  await page.getByTestId("wizard-next").click();
  await expect(await fieldError(page, page.getByRole("combobox", { name: "Pool" }))).toContainText("pick a pool");
  await page.getByRole("combobox", { name: "Pool" }).selectOption("rbd");
  await expect(page.getByRole("combobox", { name: "Image" }).locator("option", { hasText: "existing1" })).toHaveCount(1, { timeout: 20_000 });
  await page.getByRole("combobox", { name: "Image" }).selectOption("existing1");
  await page.getByTestId("wizard-next").click();
  await expect(page.getByTestId("review")).toContainText(`rbd/rbd/existing1;conf=${ceph.conf}`);
  await page.getByTestId("wizard-next").click();
  await page.waitForURL(/\/storage\/rbd\/cephdisk$/, { timeout: 30_000 });
  const card = page.getByTestId("rbd-image");
  await expect(card).toContainText("rbd/existing1", { timeout: 20_000 });
  await expect(card).toContainText("32 MiB");
  await expect(card).toContainText("exclusive-lock");
  await shot(page, testInfo, "rbd-detail");

  // A new image of a given size.
  await page.goto(`${server.url}/storage/new`);
  await page.getByRole("radio", { name: /^Ceph RBD/ }).check();
  await page.getByTestId("wizard-next").click();
  await page.getByLabel("Name", { exact: true }).fill("cephnew");
  await page.getByLabel("Ceph configuration").fill(ceph.conf);
  await page.getByTestId("rbd-connect").click();
  await page.getByRole("combobox", { name: "Pool" }).selectOption("rbd", { timeout: 30_000 });
  await page.getByRole("radio", { name: /^Create a new image/ }).check();
  await page.getByLabel("New image name").fill("new1");
  await page.getByRole("textbox", { name: "Size" }).fill("16");
  await page.getByLabel("unit").selectOption("MiB");
  await page.getByTestId("wizard-next").click();
  await expect(page.getByTestId("review")).toContainText("16 MiB (new image)");
  await page.getByTestId("wizard-next").click();
  await page.waitForURL(/\/storage\/rbd\/cephnew$/, { timeout: 30_000 });
  await expect(page.getByTestId("rbd-image")).toContainText("rbd/new1", { timeout: 20_000 });
  expect(ceph.rbd("ls", "rbd").split("\n")).toContain("new1");
});

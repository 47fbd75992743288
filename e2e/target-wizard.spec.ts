/**
 * New target wizard in Chromium against the real appliance: the onboarding flow for a
 * second target with the VMware ESXi preset (its attributes set on the new storage), an
 * initiator group (ACL tag) and allowed networks; libiscsi from 127.0.0.1 is refused
 * (Authorization Failure, a login_failed event) until 127.0.0.0/8 is allowed on the
 * target's page. A second run reuses an existing storage object, and a taken IQN is
 * refused at its field.
 */
import { expect, test, type Page } from "@playwright/test";
import { restoreDemo } from "../test/support/demo";
import { freePort } from "../test/support/ports";
import { makeDataDir, removeDir, sh, startPortico, type PorticoProcess } from "../test/support/portico";
import { signedIn } from "./admin";
import { fieldError, shot } from "./helpers";

test.describe.configure({ mode: "serial" });

const DEMO = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2ewizard001";
const ESXI = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2ewizardes1";
const INITIATOR = "iqn.1998-01.com.vmware:esx-e2e-01";
let dataDir: string;
let server: PorticoProcess;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-wiz-");
  restoreDemo(dataDir, {
    iqn: DEMO,
    storageObjects: [{ name: "demo0", plugin: "ramdisk", size: 8 * 1024 * 1024 }],
    unexported: [{ name: "shared0", plugin: "ramdisk", size: 16 * 1024 * 1024 }],
    ports: [await freePort()],
  });
  server = await startPortico({ dataDir });
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

async function query<T>(page: Page, proc: string, input: unknown): Promise<T> {
  const r = await page.request.get(`${server.url}/api/trpc/${proc}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`);
  expect(r.status(), await r.text()).toBe(200);
  return ((await r.json()) as { result: { data: { json: T } } }).result.data.json;
}
const next = (page: Page) => page.getByTestId("wizard-next").click();

test("a second target through the wizard: ESXi preset, initiator group, allowed networks enforced at login", async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  const port = await freePort();
  await signedIn(page, server);
  await page.goto(`${server.url}/targets`);
  await page.getByRole("link", { name: "New target" }).click();
  await expect(page.getByTestId("wizard-step-title")).toHaveText("1. Storage", { timeout: 30_000 });

  await page.getByRole("radio", { name: /^VMware ESXi/ }).check();
  await page.getByRole("radio", { name: /^RAM disk/ }).check();
  await expect(page.getByLabel("Storage object name")).toHaveValue("disk0");
  await page.getByLabel("Storage object name").fill("esx0");
  await page.getByRole("textbox", { name: "Size" }).fill("64");
  await page.getByLabel("unit").selectOption("MiB");
  await shot(page, testInfo, "wizard-1-storage");
  await next(page);

  await expect(page.getByTestId("wizard-step-title")).toHaveText("2. Target and portal");
  await expect(page.getByLabel("Target IQN")).toHaveValue(/:sn\.[0-9a-f]{12}$/);
  await page.getByLabel("Target IQN").fill(DEMO);
  await page.getByLabel("Portal address").selectOption("127.0.0.1");
  await page.getByLabel("Port", { exact: true }).fill(String(port));
  await next(page);
  await expect(await fieldError(page, page.getByLabel("Target IQN"))).toContainText("already exists");
  await page.getByLabel("Target IQN").fill(ESXI);
  await next(page);

  await expect(page.getByTestId("wizard-step-title")).toHaveText("3. Access");
  await page.getByRole("radio", { name: /^Only these initiators/ }).check();
  await page.getByLabel("Initiator IQN").fill(INITIATOR);
  await page.getByLabel("Initiator group").fill("esxi cluster");
  await page.getByLabel("Allowed networks").fill("10.0.0.0/8\nlan");
  await next(page);
  await expect(await fieldError(page, page.getByLabel("Initiator group"))).toContainText("no '.' or spaces");
  await expect(await fieldError(page, page.getByLabel("Allowed networks"))).toContainText("lan is not a network");
  await page.getByLabel("Initiator group").fill("esxi-cluster");
  await page.getByLabel("Allowed networks").fill("10.0.0.0/8");
  await shot(page, testInfo, "wizard-3-access");
  await next(page);

  const review = page.getByTestId("review");
  await expect(review).toContainText("VMware ESXi");
  await expect(review).toContainText("group esxi-cluster");
  await expect(review).toContainText("10.0.0.0/8");
  await shot(page, testInfo, "wizard-4-review");
  await next(page);
  await expect(page.getByTestId("onboarding-done")).toContainText("The target is ready", { timeout: 30_000 });
  await shot(page, testInfo, "wizard-6-connect");

  // What the preset, the group and the networks set, as the API reads them back.
  const so = await query<{ attributes: Record<string, number> }>(page, "storage.get", { plugin: "ramdisk", name: "esx0" });
  expect([so.attributes.emulate_caw, so.attributes.emulate_3pc, so.attributes.emulate_tpu, so.attributes.emulate_tpws]).toEqual([1, 1, 1, 1]);
  const targets = await query<{ wwn: string; tpgs: { allowedNetworks: string[]; nodeAcls: { initiatorName: string; aclTag: string | null }[] }[] }[]>(page, "targets.list", undefined);
  const esxi = targets.find((t) => t.wwn === ESXI)!;
  expect(esxi.tpgs[0].allowedNetworks).toEqual(["10.0.0.0/8"]);
  expect(esxi.tpgs[0].nodeAcls).toEqual([expect.objectContaining({ initiatorName: INITIATOR, aclTag: "esxi-cluster" })]);

  // libiscsi from 127.0.0.1: refused, and the event says why.
  const url = `iscsi://127.0.0.1:${port}/${ESXI}/0`;
  expect(sh("iscsi-inq", ["-i", INITIATOR, url], 30_000).status).not.toBe(0);
  const events = await query<{ type: string; message: string | null; initiatorName: string | null }[]>(page, "events.list", { types: ["login_failed"] });
  expect(events.find((e) => e.initiatorName === INITIATOR)?.message).toBe(`127.0.0.1 is not in the allowed networks of tpg1 of ${ESXI}`);

  // Allow this machine on the target's page (a bad network first, at the field).
  await page.getByRole("button", { name: "Open the target" }).click();
  await page.getByRole("link", { name: /^ACLs/ }).click();
  const nets = page.getByLabel("Networks", { exact: true });
  await expect(nets).toHaveValue("10.0.0.0/8");
  await nets.fill("10.0.0.0/8\n127.0.0.0/99");
  await page.getByTestId("save-networks").click();
  await expect(await fieldError(page, nets)).toContainText("prefix length must be 0 to 32");
  await nets.fill("10.0.0.0/8\n127.0.0.1/8");
  await page.getByTestId("save-networks").click();
  await expect(page.getByTestId("allowed-networks")).toContainText("127.0.0.0/8");
  await shot(page, testInfo, "wizard-target-networks");
  const ok = sh("iscsi-inq", ["-i", INITIATOR, url], 30_000);
  expect(ok.status, ok.stderr).toBe(0);
});

test("the wizard reuses an existing storage object", async ({ page }) => {
  const port = await freePort();
  await signedIn(page, server);
  await page.goto(`${server.url}/targets/new`);
  await expect(page.getByTestId("wizard-step-title")).toHaveText("1. Storage", { timeout: 30_000 });
  await page.getByRole("radio", { name: /^Windows/ }).check();
  await page.getByRole("radio", { name: /^Existing storage object/ }).check();
  await next(page);
  await expect(await fieldError(page, page.getByLabel("Storage object", { exact: true }))).toContainText("pick a storage object");
  await page.getByLabel("Storage object", { exact: true }).selectOption("/backstores/ramdisk/shared0");
  await next(page);
  await expect(page.getByTestId("wizard-step-title")).toHaveText("2. Target and portal");
  await page.getByLabel("Portal address").selectOption("127.0.0.1");
  await page.getByLabel("Port", { exact: true }).fill(String(port));
  await next(page);
  await expect(page.getByTestId("wizard-step-title")).toHaveText("3. Access");
  await next(page); // any initiator
  await expect(page.getByTestId("review")).toContainText("existing ramdisk/shared0");
  await next(page);
  await expect(page.getByTestId("onboarding-done")).toBeVisible({ timeout: 30_000 });
  const targets = await query<{ wwn: string; tpgs: { luns: { storageObject: string }[] }[] }[]>(page, "targets.list", undefined);
  const made = targets.filter((t) => t.tpgs[0].luns.some((l) => l.storageObject === "/backstores/ramdisk/shared0"));
  expect(made).toHaveLength(1);
  await expect(page.getByText(made[0].wwn).first()).toBeVisible();
  const r = sh("iscsi-inq", ["-i", "iqn.2024-01.org.portico.test:win", `iscsi://127.0.0.1:${port}/${made[0].wwn}/0`], 30_000);
  expect(r.status, r.stderr).toBe(0);
});

/**
 * Target editors against the production build: an ACL's CHAP (secret too short and a
 * mutual secret equal to the initiator's at their fields; set shows "set", never the
 * secret; clear is confirmed), its tag / cmdsn_depth / nopin timeouts, the mapped LUN's
 * write protection, TPG iSCSI parameters and attributes (invalid values at the field),
 * TPG CHAP for demo mode, and the Settings page's targetcli preferences.
 */
import { expect, test, type Page } from "@playwright/test";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { freePort } from "../test/support/ports";
import { makeDataDir, portico, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { signedIn } from "./admin";
import { fieldError, shot } from "./helpers";

test.describe.configure({ mode: "serial" });

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2eacl000001";
const INITIATOR = "iqn.2024-01.org.portico.e2e:esx01";
const SECRET = "acl-Secret-0123";
const MUTUAL = "target-Secret-456";
let dataDir: string;
let server: PorticoProcess;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-acl-");
  const iscsiPort = await freePort();
  const cfg = {
    storage_objects: [{ name: "vm1", plugin: "ramdisk", size: 16 * 1024 * 1024 }],
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: [
          {
            tag: 1,
            enable: true,
            attributes: { authentication: 0, generate_node_acls: 0 },
            luns: [{ index: 0, storage_object: "/backstores/ramdisk/vm1" }],
            portals: [{ ip_address: "127.0.0.1", port: iscsiPort }],
            node_acls: [{ node_wwn: INITIATOR, mapped_luns: [{ index: 0, tpg_lun: 0, write_protect: false }] }],
          },
        ],
      },
    ],
  };
  const file = path.join(dataDir, "cfg.json");
  writeFileSync(file, JSON.stringify(cfg));
  const r = portico(dataDir, ["restoreconfig", file]);
  expect(r.status, r.stderr + r.stdout).toBe(0);
  server = await startPortico({ dataDir });
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

const tab = (page: Page, t: string) => page.goto(`${server.url}/targets/${encodeURIComponent(IQN)}?tpg=1&tab=${t}`);

test("ACL CHAP: too short and equal mutual secrets at their fields; set shows 'set' and never the secret; clear is confirmed", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await tab(page, "acls");
  await page.getByTestId("acl-edit").click();
  const dialog = page.getByRole("dialog");
  await expect(dialog.getByTestId("chap-secret-state")).toHaveText("not set");
  await shot(page, testInfo, "acl-edit-dialog");

  await dialog.getByLabel("CHAP user").fill("esx01");
  await dialog.getByLabel("CHAP secret").fill("short");
  await dialog.getByTestId("chap-save").click();
  await expect(await fieldError(page, dialog.getByLabel("CHAP secret"))).toContainText("12 to 255 characters");
  await shot(page, testInfo, "acl-chap-secret-too-short");

  await dialog.getByLabel("CHAP secret").fill(SECRET);
  await dialog.getByLabel("Mutual CHAP").check();
  await dialog.getByLabel("Mutual user").fill("target01");
  await dialog.getByLabel("Mutual secret").fill(SECRET);
  await dialog.getByTestId("chap-save").click();
  await expect(await fieldError(page, dialog.getByLabel("Mutual secret"))).toContainText("must differ");

  await dialog.getByLabel("Mutual secret").fill(MUTUAL);
  await dialog.getByTestId("chap-save").click();
  await expect(dialog.getByRole("status").filter({ hasText: "Credentials saved." })).toBeVisible();
  await expect(dialog.getByTestId("chap-secret-state")).toHaveText("set");
  await expect(dialog.getByTestId("chap-mutual-state")).toHaveText("set");
  await expect(dialog.getByLabel("CHAP secret")).toHaveValue("");
  const html = await page.content();
  expect(html).not.toContain(SECRET);
  expect(html).not.toContain(MUTUAL);
  await shot(page, testInfo, "acl-chap-set");

  await dialog.getByRole("button", { name: "Clear CHAP" }).click();
  const confirm = page.getByRole("dialog", { name: "Clear the CHAP credentials?" });
  await expect(confirm).toContainText("No session is logged in now.");
  await shot(page, testInfo, "acl-chap-clear-confirm");
  await confirm.getByTestId("confirm-button").click();
  await expect(page.getByRole("dialog", { name: `Initiator ${INITIATOR}` }).getByTestId("chap-secret-state")).toHaveText("not set");
});

test("ACL settings: nopin_timeout out of range and cmdsn_depth 0 at their fields; tag, depth and timeout saved; write-protect toggle", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await tab(page, "acls");
  await page.getByTestId("acl-edit").click();
  const dialog = page.getByRole("dialog");
  // On/off attributes are switches.
  await expect(dialog.getByRole("switch", { name: "random_r2t_offsets" })).toHaveAttribute("aria-checked", "false");
  await dialog.getByLabel("nopin_timeout", { exact: true }).fill("100");
  await dialog.getByTestId("acl-settings-save").click();
  await expect(await fieldError(page, dialog.getByLabel("nopin_timeout", { exact: true }))).toContainText("3..60");

  await dialog.getByLabel("nopin_timeout", { exact: true }).fill("20");
  await dialog.getByLabel("cmdsn_depth").fill("0");
  await dialog.getByTestId("acl-settings-save").click();
  await expect(await fieldError(page, dialog.getByLabel("cmdsn_depth"))).toBeVisible();
  await shot(page, testInfo, "acl-settings-errors");

  await dialog.getByLabel("cmdsn_depth").fill("128");
  await dialog.getByLabel("Tag (initiator group)").fill("esx");
  await dialog.getByLabel("nopin_response_timeout").fill("45");
  await dialog.getByTestId("acl-settings-save").click();
  await expect(dialog.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(page.getByTestId("acl").getByText("group esx")).toBeVisible();
  await page.getByTestId("acl-edit").click();
  await expect(page.getByRole("dialog").getByLabel("cmdsn_depth")).toHaveValue("128");
  await expect(page.getByRole("dialog").getByLabel("nopin_timeout", { exact: true })).toHaveValue("20");
  await page.getByRole("dialog").getByRole("button", { name: "Close" }).click();

  const wp = page.getByTestId("write-protect");
  await expect(wp).toHaveAttribute("aria-pressed", "false");
  await wp.click();
  await expect(wp).toHaveAttribute("aria-pressed", "true");
  await expect(wp).toHaveText("read-only");
  await shot(page, testInfo, "acl-list-read-only");
  await wp.click();
  await expect(wp).toHaveAttribute("aria-pressed", "false");
});

test("TPG iSCSI parameters and attributes: invalid values at their fields, changes saved", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await tab(page, "parameters");
  const save = page.getByTestId("save-parameters");
  await page.getByLabel("MaxBurstLength").fill("100");
  await save.click();
  await expect(await fieldError(page, page.getByLabel("MaxBurstLength"))).toContainText("512..16777215");
  await page.getByLabel("MaxBurstLength").fill("524288");
  await page.getByLabel("DefaultTime2Wait").fill("soon");
  await save.click();
  await expect(await fieldError(page, page.getByLabel("DefaultTime2Wait"))).toContainText("0..3600");
  await shot(page, testInfo, "tpg-parameters-errors");
  await page.getByLabel("DefaultTime2Wait").fill("2");
  await page.getByLabel("TargetAlias").fill("e2e datastore");
  await page.getByLabel("HeaderDigest").selectOption("CRC32C");
  await save.click();
  await expect(page.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
  await page.reload();
  await expect(page.getByLabel("MaxBurstLength")).toHaveValue("524288");
  await expect(page.getByLabel("HeaderDigest")).toHaveValue("CRC32C");
  await shot(page, testInfo, "tpg-parameters-saved");

  await tab(page, "attributes");
  await page.getByLabel("login_timeout").fill("99");
  await page.getByRole("button", { name: /^Save 1 change/ }).click();
  await expect(await fieldError(page, page.getByLabel("login_timeout"))).toContainText("5..30");
  await shot(page, testInfo, "tpg-attributes-error");
  await page.getByLabel("login_timeout").fill("20");
  await page.getByRole("button", { name: /^Save 1 change/ }).click();
  await expect(page.getByRole("button", { name: /^Save/ })).toBeDisabled();
  await page.reload();
  await expect(page.getByLabel("login_timeout")).toHaveValue("20");
});

test("TPG CHAP for demo mode on the Authentication tab", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await tab(page, "auth");
  const card = page.getByTestId("tpg-chap");
  await expect(card).toContainText("Demo mode is off");
  await card.getByLabel("CHAP user").fill("demo");
  await card.getByLabel("CHAP secret").fill("tooshort");
  await card.getByTestId("chap-save").click();
  await expect(await fieldError(page, card.getByLabel("CHAP secret"))).toContainText("12 to 255 characters");
  await card.getByLabel("CHAP secret").fill("demo-Secret-0001");
  await card.getByTestId("chap-save").click();
  await expect(card.getByTestId("chap-secret-state")).toHaveText("set");
  expect(await page.content()).not.toContain("demo-Secret-0001");
  await shot(page, testInfo, "tpg-auth-tab");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, testInfo, "tpg-auth-tab-phone");
});

test("Settings: max_backup_files 0 at the field, preferences saved, the metrics page is linked", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await page.goto(`${server.url}/settings`);
  const card = page.getByTestId("targetcli-settings");
  const max = card.getByLabel("Backups to keep (max_backup_files)");
  await expect(max).toHaveValue(/^\d+$/);
  await max.fill("0");
  await card.getByTestId("settings-save").click();
  await expect(await fieldError(page, max)).toHaveText("keep at least 1 backup");
  await max.fill("abc");
  await card.getByTestId("settings-save").click();
  await expect(await fieldError(page, max)).toBeVisible();
  await shot(page, testInfo, "settings-preferences-error");
  await max.fill("25");
  await card.getByLabel(/auto_add_mapped_luns/).uncheck();
  await card.getByTestId("settings-save").click();
  await expect(card.getByRole("status")).toHaveText("Saved.");
  await page.reload();
  await expect(page.getByTestId("targetcli-settings").getByLabel("Backups to keep (max_backup_files)")).toHaveValue("25");
  await expect(page.getByTestId("targetcli-settings").getByLabel(/auto_add_mapped_luns/)).not.toBeChecked();
  await shot(page, testInfo, "settings");
  await page.getByRole("link", { name: /Metrics token/ }).click();
  await expect(page).toHaveURL(/\/settings\/metrics$/);
  await expect(page.getByRole("heading", { name: /Settings · Metrics/ })).toBeVisible();
});

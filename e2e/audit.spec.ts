/**
 * An audit log an auditor can use (issue 10 item 7), in Chromium against the real appliance with
 * real initiators: a login refused for want of an ACL offers "Allow this initiator", which opens the
 * target's ACL form filled in; adding it is logged with who did it and what was created; reset
 * notices (the unit attention 29h after every login) are hidden until asked for; the audit log
 * alone holds the changes and the sign-in, never a login.
 */
import { expect, test } from "@playwright/test";
import { restoreDemo } from "../test/support/demo";
import { IscsiClient } from "../test/support/iscsi-client";
import { freePort } from "../test/support/ports";
import { makeDataDir, removeDir, sh, startPortico, type PorticoProcess } from "../test/support/portico";
import { apiClient } from "../test/integration/monitor-support";
import { signedIn } from "./admin";
import { shot } from "./helpers";

test.describe.configure({ mode: "serial" });

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2eaudit01";
const INITIATOR = "iqn.2024-01.org.portico.test:auditee";
let dataDir: string;
let port: number;
let server: PorticoProcess;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-audit-");
  port = await freePort();
  restoreDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "aud0", plugin: "ramdisk", size: 8 * 1024 * 1024 }], ports: [port] });
  server = await startPortico({ dataDir });
  // ACLs only: demo mode off.
  await apiClient(server.url, dataDir).targets.tpgs.setAttributes.mutate({ wwn: IQN, tag: 1, attributes: { generate_node_acls: 0 } });
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

test("Allow this initiator opens the ACL form filled in; the change is audited; reset notices hidden by default", async ({ page }, testInfo) => {
  // A real initiator (libiscsi) is refused: no ACL.
  const refused = sh("iscsi-inq", ["-i", INITIATOR, `iscsi://127.0.0.1:${port}/${IQN}/0`], 30_000);
  expect(refused.status).not.toBe(0);

  await signedIn(page, server);
  await page.goto(`${server.url}/events`);
  const failed = page.locator('[data-testid="event-row"][data-type="login_failed"]').filter({ hasText: INITIATOR });
  await expect(failed).toBeVisible({ timeout: 30_000 });
  await shot(page, testInfo, "events-login-refused");
  await failed.getByTestId("allow-initiator").click();

  await expect(page).toHaveURL(/tab=acls/);
  const dialog = page.getByRole("dialog", { name: "Add an initiator" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel("Initiator IQN")).toHaveValue(INITIATOR);
  await shot(page, testInfo, "acl-form-filled-in");
  await dialog.getByRole("button", { name: "Add" }).click();
  await expect(page.locator(`[data-testid="acl"][data-initiator="${INITIATOR}"]`)).toBeVisible();

  // Now it gets in; the first command after login gets the 29h/00h unit attention (a reset notice).
  const c = await IscsiClient.connect(port);
  expect((await c.login({ initiatorName: INITIATOR, targetName: IQN })).statusClass).toBe(0);
  expect((await c.command(Buffer.alloc(6), { lun: 0 })).status).toBe(2);
  c.close();
  const api = apiClient(server.url, dataDir);
  await expect.poll(async () => (await api.events.list.query({ types: ["unit_attention"] })).length, { timeout: 15_000 }).toBeGreaterThan(0);

  await page.goto(`${server.url}/events`);
  const change = page.locator('[data-testid="event-row"][data-type="config"]').filter({ hasText: "targets.acls.create" });
  await expect(change).toBeVisible({ timeout: 30_000 });
  await expect(change).toContainText("by admin");
  await expect(change).toContainText("console");
  await change.getByTestId("event-changes").locator("summary").click();
  await expect(change.getByTestId("event-changes")).toContainText(`created /iscsi/${IQN}/tpg1/acls/${INITIATOR}`);
  await expect(page.locator('[data-testid="event-row"][data-type="login"]').filter({ hasText: INITIATOR })).toBeVisible();
  // Reset notices: hidden by default, shown on request.
  await expect(page.locator('[data-testid="event-row"][data-type="unit_attention"]')).toHaveCount(0);
  await page.getByTestId("filter-show-resets").check();
  await expect(page.locator('[data-testid="event-row"][data-type="unit_attention"]').first()).toBeVisible({ timeout: 15_000 });
  await expect(page.locator('[data-testid="event-row"][data-type="unit_attention"]').first()).toContainText("0x29/0x00");
  await page.getByTestId("filter-show-resets").uncheck();

  // The audit log alone: the change and the onboarding (signedIn onboards through the API), no iSCSI logins.
  await page.getByTestId("filter-log").selectOption("audit");
  await expect(page.locator('[data-testid="event-row"][data-type="onboarding"]').first()).toBeVisible({ timeout: 15_000 });
  await expect(page.locator('[data-testid="event-row"][data-type="login"]')).toHaveCount(0);
  await expect(page.locator('[data-testid="event-row"][data-log="activity"]')).toHaveCount(0);
  await shot(page, testInfo, "events-audit-log");
});

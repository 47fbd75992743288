/**
 * Connection instructions in Chromium against the real appliance, followed with real
 * initiators: the Portals tab shows instructions built from the configuration (allowed
 * initiator, CHAP, masked secret until Show secrets), and the libiscsi and QEMU commands
 * copied from the page reach the disk. CHAP that is set is enforced: a TPG with ACL
 * credentials but authentication=0 carries a warning badge; saving credentials with
 * "Require CHAP" (checked by default) sets authentication=1 and the badge goes. A session's
 * detail shows the instructions for its initiator.
 */
import { expect, test, type Page } from "@playwright/test";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { IscsiClient } from "../test/support/iscsi-client";
import { freePort } from "../test/support/ports";
import { makeDataDir, portico, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { signedIn } from "./admin";
import { shot } from "./helpers";

test.describe.configure({ mode: "serial" });

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2einstr0001";
const INITIATOR = "iqn.2024-01.org.portico.e2e:instr-host";
const USER = "instr-user";
const SECRET = "instr-Secret-01";
let dataDir: string;
let server: PorticoProcess;
let iscsiPort: number;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-instr-");
  iscsiPort = await freePort();
  const cfg = {
    storage_objects: [{ name: "instr0", plugin: "ramdisk", size: 16 * 1024 * 1024 }],
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: [
          {
            tag: 1,
            enable: true,
            // Credentials on the ACL, but CHAP not required: the console must say so.
            attributes: { authentication: 0, generate_node_acls: 0 },
            luns: [{ index: 0, storage_object: "/backstores/ramdisk/instr0" }],
            portals: [{ ip_address: "127.0.0.1", port: iscsiPort }],
            node_acls: [{ node_wwn: INITIATOR, chap_userid: "old-user", chap_password: "old-Secret-0001", mapped_luns: [{ index: 0, tpg_lun: 0, write_protect: false }] }],
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

function run(line: string) {
  const r = spawnSync("bash", ["-c", line], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

/** The command lines of a copy block, as an admin would paste them. */
async function commands(page: Page, testId: string): Promise<string[]> {
  const text = (await page.getByTestId(testId).textContent()) ?? "";
  return text.split("\n").filter((l) => l.trim() && !l.startsWith("#"));
}

test("a TPG with CHAP it does not require is flagged; saving credentials with Require CHAP enforces them", async ({ page }, testInfo) => {
  await signedIn(page, server);
  await page.goto(`${server.url}/targets`);
  await expect(page.getByTestId("chap-not-required")).toContainText("CHAP set, not required");
  await tab(page, "portals");
  await expect(page.getByTestId("chap-not-required")).toBeVisible();
  await expect(page.getByTestId("instructions-warning")).toContainText("does not require CHAP (authentication=0)");
  await shot(page, testInfo, "instructions-chap-not-required");

  await tab(page, "acls");
  await page.getByTestId("acl-edit").click();
  const dialog = page.getByRole("dialog");
  await expect(dialog.getByTestId("chap-not-enforced")).toBeVisible();
  await expect(dialog.getByTestId("chap-require")).toBeChecked();
  await dialog.getByLabel("CHAP user").fill(USER);
  await dialog.getByLabel("CHAP secret").fill(SECRET);
  await shot(page, testInfo, "acl-chap-require");
  await dialog.getByTestId("chap-save").click();
  await expect(dialog.getByRole("status").filter({ hasText: "tpg1 now requires CHAP." })).toBeVisible();
  await dialog.getByRole("button", { name: "Close" }).click();
  await expect(page.getByTestId("chap-not-required")).toHaveCount(0);
});

test("the Portals tab's instructions, followed with libiscsi and QEMU, reach the disk; the secret is masked until revealed", async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  await signedIn(page, server);
  await tab(page, "portals");
  const box = page.getByTestId("connection-instructions");
  await expect(box).toHaveAttribute("data-chap-required", "true");
  await expect(page.getByTestId("instructions-who")).toContainText(INITIATOR);
  await expect(page.getByTestId("instructions-url")).toHaveText(`iscsi://${USER}%••••••••@127.0.0.1:${iscsiPort}/${IQN}/0`);
  await expect(page.getByTestId("instructions-linux")).toContainText(`InitiatorName=${INITIATOR}`);
  await expect(page.getByTestId("instructions-linux")).toContainText(`node.session.auth.username -v ${USER}`);
  await expect(page.getByTestId("instructions-warning")).toHaveCount(0);
  expect(await page.content()).not.toContain(SECRET);
  await shot(page, testInfo, "instructions-masked");

  await page.getByTestId("instructions-reveal").click();
  await expect(page.getByTestId("instructions-url")).toHaveText(`iscsi://${USER}%${SECRET}@127.0.0.1:${iscsiPort}/${IQN}/0`);
  await expect(page.getByTestId("instructions-windows")).toContainText(`target secret ${SECRET}`);
  await expect(page.getByTestId("instructions-esxi")).toContainText(`name ${USER}, secret ${SECRET}`);
  await shot(page, testInfo, "instructions-revealed");

  const [ls, inq] = await commands(page, "instructions-libiscsi");
  const l = run(ls);
  expect(l.status, l.out).toBe(0);
  expect(l.out).toContain(`Target:${IQN}`);
  const q = run(inq);
  expect(q.status, q.out).toBe(0);
  expect(q.out).toContain("DIRECT_ACCESS");
  const [img] = await commands(page, "instructions-qemu");
  const r = run(img);
  expect(r.status, r.out).toBe(0);
  expect(r.out).toContain("virtual size: 16 MiB");
  // The old secret no longer works: CHAP is enforced.
  const old = run(inq.replace(SECRET, "old-Secret-0001"));
  expect(old.status).not.toBe(0);
});

test("a session's detail shows how its initiator connects", async ({ page }) => {
  await signedIn(page, server);
  const c = await IscsiClient.connect(iscsiPort);
  try {
    const r = await c.login({ initiatorName: INITIATOR, targetName: IQN, chap: { user: USER, secret: SECRET } });
    expect(r.statusClass).toBe(0);
    await page.goto(`${server.url}/sessions`);
    await page.getByRole("link", { name: INITIATOR }).first().click();
    await expect(page.getByTestId("session-detail")).toBeVisible();
    const box = page.getByTestId("connection-instructions");
    await expect(box).toBeVisible();
    await expect(page.getByTestId("instructions-who")).toContainText(INITIATOR);
    await expect(page.getByTestId("instructions-url")).toContainText(`iscsi://${USER}%••••••••@127.0.0.1:${iscsiPort}/${IQN}/0`);
  } finally {
    c.close();
  }
});

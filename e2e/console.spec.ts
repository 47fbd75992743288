/**
 * The console's first page against the production build: it shows a target that
 * `portico restoreconfig` created, with its LUN and portal, and the engine status.
 */
import { expect, test } from "@playwright/test";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { freePort } from "../test/support/ports";
import { makeDataDir, portico, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2econsole01";
let dataDir: string;
let server: PorticoProcess;
let iscsiPort: number;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-");
  iscsiPort = await freePort();
  const cfg = {
    storage_objects: [{ name: "e2edisk", plugin: "ramdisk", size: 16 * 1024 * 1024 }],
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: [
          {
            tag: 1,
            enable: true,
            attributes: { authentication: 0, generate_node_acls: 1 },
            luns: [{ index: 0, storage_object: "/backstores/ramdisk/e2edisk" }],
            portals: [{ ip_address: "127.0.0.1", port: iscsiPort }],
            node_acls: [],
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

test("the first page shows the live configuration tree and engine status", async ({ page }, testInfo) => {
  await page.goto(server.url);
  await expect(page.getByText(IQN).first()).toBeVisible({ timeout: 30_000 });
  await expect(page.getByText("e2edisk").first()).toBeVisible();
  await expect(page.getByText(`127.0.0.1:${iscsiPort}`).first()).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath("overview.png"), fullPage: true });
});

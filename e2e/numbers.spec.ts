/**
 * Numbers that tell the truth, in Chromium against the real appliance with real initiators:
 * the unit attention after a login is counted apart from errors; the Overview's error
 * breakdown adds up to its total; Needs attention lists repeated login refusals and a fileio
 * storage object whose file was deleted; a LUN's error card names its unit attentions apart.
 */
import { mkdtempSync, rmSync, unlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { read10 } from "../test/support/cdb";
import { restoreDemo } from "../test/support/demo";
import { IscsiClient } from "../test/support/iscsi-client";
import { freePort } from "../test/support/ports";
import { makeDataDir, removeDir, sh, startPortico, type PorticoProcess } from "../test/support/portico";
import { signedIn } from "./admin";
import { shot } from "./helpers";

test.describe.configure({ mode: "serial" });

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2enumbers01";
const INITIATOR = "iqn.2024-01.org.portico.test:numbers";
let dataDir: string;
let fileDir: string;
let port: number;
let server: PorticoProcess;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-num-");
  fileDir = mkdtempSync(path.join(os.tmpdir(), "portico-e2e-num-files-"));
  port = await freePort();
  restoreDemo(dataDir, {
    iqn: IQN,
    storageObjects: [
      { name: "num0", plugin: "ramdisk", size: 8 * 1024 * 1024 },
      { name: "numfile", plugin: "fileio", dev: path.join(fileDir, "numfile.img"), size: 8 * 1024 * 1024 },
    ],
    ports: [port],
  });
  server = await startPortico({ dataDir });
});

test.afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
  rmSync(fileDir, { recursive: true, force: true });
});

test("unit attentions apart from errors, a breakdown that adds up, and what needs attention", async ({ page }, testInfo) => {
  // A real initiator reads (libiscsi), then ours: the first command after login gets the 29h/00h unit attention.
  const r = sh("iscsi-inq", ["-i", INITIATOR, `iscsi://127.0.0.1:${port}/${IQN}/0`], 30_000);
  expect(r.status, r.stderr).toBe(0);
  const c = await IscsiClient.connect(port);
  expect((await c.login({ initiatorName: INITIATOR, targetName: IQN })).statusClass).toBe(0);
  const tur = await c.command(Buffer.alloc(6), { lun: 0 });
  expect(tur.status).toBe(2); // CHECK CONDITION: UNIT ATTENTION
  expect((await c.command(Buffer.alloc(6), { lun: 0 })).status).toBe(0);
  // Two real errors: reads past the end of the 8 MiB LUN (ILLEGAL REQUEST, LBA out of range).
  for (let i = 0; i < 2; i++) expect((await c.command(read10(1 << 20, 1), { lun: 0, readLength: 512 })).status).toBe(2);
  c.close();

  // Five refused logins from one initiator (a target this appliance does not have).
  for (let i = 0; i < 5; i++) {
    const x = await IscsiClient.connect(port);
    expect((await x.login({ initiatorName: "iqn.2024-01.org.example:prober", targetName: "iqn.2003-01.org.example:nothing" })).statusClass).toBe(2);
    x.close();
  }
  unlinkSync(path.join(fileDir, "numfile.img"));

  await signedIn(page, server);
  await page.goto(server.url);
  const errors = page.getByTestId("card-errors");
  await expect(errors).toContainText("Command errors", { timeout: 30_000 });
  await expect(errors).toContainText("2");
  await expect(page.getByTestId("error-breakdown")).toHaveText("2 illegal request");
  await expect(page.getByTestId("error-others")).toContainText("5 refused logins");
  await expect(page.getByTestId("error-others")).toContainText(/[1-9]\d* unit attentions?/);

  const attention = page.getByTestId("attention-item");
  await expect(attention.filter({ hasText: "Storage fileio/numfile is offline" })).toBeVisible();
  await expect(attention.filter({ hasText: "5 login failures from iqn.2024-01.org.example:prober" })).toBeVisible();
  await shot(page, testInfo, "overview-numbers");

  // The LUN page: the same error count, unit attentions named apart.
  await page.goto(`${server.url}/luns/${encodeURIComponent(`${IQN}|1|0`)}`);
  const totals = page.getByTestId("lun-totals");
  await expect(totals).toContainText("Errors2", { timeout: 30_000 });
  await expect(totals).toContainText(/since start · [1-9]\d* unit attentions? apart/);
  await shot(page, testInfo, "lun-numbers");
});

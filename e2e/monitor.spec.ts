/**
 * Live monitoring in the browser (production build, Debian's Chromium): while
 * iscsi-perf drives a LUN, the Overview's live panel and the Sessions page show the
 * session and non-zero IOPS within 3 s; the LUN detail and Events pages render.
 */
import { expect, test, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { restoreDemo } from "../test/support/demo";
import { freePort } from "../test/support/ports";
import { makeDataDir, removeDir, setupCodeHeaders, startPortico, type PorticoProcess } from "../test/support/portico";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.e2emonitor01";
const INITIATOR = "iqn.2024-01.org.portico.e2e:perf";
const ADMIN = { username: "admin", password: "Monitor-e2e-Passw0rd!" };
let dataDir: string;
let server: PorticoProcess;
let iscsiPort: number;
let perf: ChildProcess | undefined;

test.beforeAll(async () => {
  dataDir = makeDataDir("portico-e2e-mon-");
  iscsiPort = await freePort();
  restoreDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "perfdisk", plugin: "ramdisk", size: 64 * 1024 * 1024 }], ports: [iscsiPort] });
  server = await startPortico({ dataDir, env: { PORTICO_HTTP_HOST: "127.0.0.1" } });
});

test.afterAll(async () => {
  const p = perf;
  stopPerf();
  if (p && p.exitCode === null) await new Promise((r) => p.once("exit", r));
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

function startPerf(seconds = 60): void {
  perf = spawn("iscsi-perf", ["-i", INITIATOR, "-t", String(seconds), "-m", "8", "-b", "8", "-r", `iscsi://127.0.0.1:${iscsiPort}/${IQN}/0`], { stdio: "ignore" });
}
function stopPerf(): void {
  const p = perf;
  perf = undefined;
  if (!p || p.exitCode !== null) return;
  p.kill("SIGINT");
  // After a disconnect libiscsi keeps reconnecting and may ignore SIGINT: make sure it ends.
  setTimeout(() => p.exitCode === null && p.kill("SIGKILL"), 2_000).unref();
}

async function trpc(page: Page, procedure: string, input: unknown): Promise<{ ok: boolean; status: number; body: string }> {
  const r = await page.request.post(`${server.url}/api/trpc/${procedure}`, { data: { json: input }, headers: setupCodeHeaders(server.dataDir) });
  return { ok: r.ok(), status: r.status(), body: await r.text() };
}

/** Waits (up to 60 s) until monitor.overview counts one normal session; returns when it first did. */
async function serverSeesSession(page: Page): Promise<number> {
  let seenAt = 0;
  await expect
    .poll(
      async () => {
        const r = await page.request.get(`${server.url}/api/trpc/monitor.overview`);
        if (!r.ok()) return `HTTP ${r.status()}`;
        const sessions = (JSON.parse(await r.text()) as { result: { data: { json: { sessions: number } } } }).result.data.json.sessions;
        if (sessions >= 1 && !seenAt) seenAt = Date.now();
        return sessions;
      },
      { timeout: 60_000, intervals: [100] },
    )
    .toBeGreaterThanOrEqual(1);
  return seenAt;
}

/** Creates the admin on first use (onboarding with no storage), else signs in; the session cookie lands in the page's context. */
async function signIn(page: Page): Promise<void> {
  const status = await page.request.get(`${server.url}/api/trpc/onboarding.status`);
  if (status.status() === 404) return; // no login in this build
  const onboarded = (JSON.parse(await status.text()) as { result: { data: { json: { onboarded: boolean } } } }).result.data.json.onboarded;
  if (!onboarded) {
    const r = await trpc(page, "onboarding.complete", {
      admin: { username: ADMIN.username, password: ADMIN.password, confirm: ADMIN.password },
      appliance: { name: "e2e-monitor", iqnPrefix: "iqn.2003-01.org.linux-iscsi.portico.x8664" },
      storage: { kind: "none" },
    });
    expect(r.ok, r.body).toBe(true);
  } else {
    const r = await trpc(page, "auth.login", ADMIN);
    expect(r.ok, r.body).toBe(true);
  }
}

test("while iscsi-perf runs, Overview and Sessions show the session and non-zero IOPS within 3 s", async ({ page }, testInfo) => {
  await signIn(page);
  await page.goto(`${server.url}/`);
  const panel = page.getByTestId("live-panel");
  await expect(panel).toBeVisible({ timeout: 30_000 });
  await expect(panel.getByTestId("live-status")).toHaveAttribute("data-status", "live", { timeout: 15_000 });

  startPerf();
  // The 3 s budget is the console's: it starts when the appliance itself reports the session, not
  // when iscsi-perf is spawned (its start and login under a loaded CI machine are not ours to time).
  const t0 = await serverSeesSession(page);
  // Overview: a session and non-zero IOPS.
  await expect(panel.getByTestId("card-sessions-value")).toHaveText("1", { timeout: 3_000 });
  await expect(panel.getByTestId("card-iops-value")).not.toHaveText("0", { timeout: Math.max(500, 3_000 - (Date.now() - t0)) });
  expect(Date.now() - t0).toBeLessThan(3_500);
  await expect(panel.getByTestId("busiest-lun").first()).toContainText("perfdisk");
  // One source for sessions on the page: the status cards no longer repeat the count, and the list agrees with the card.
  await expect(page.getByTestId("count-sessions")).toHaveCount(0);
  await expect(page.getByTestId("sessions-card").getByTestId("session").filter({ hasText: INITIATOR })).toHaveCount(1, { timeout: 3_000 });
  // Charts: units on the axes' captions, read and write told apart, a tooltip with values under the cursor.
  for (const [id, unit] of [["overview-iops", "IO/s"], ["overview-throughput", "MB/s"], ["overview-latency", "ms"]] as const) {
    const fig = panel.getByTestId(id);
    await expect(fig.locator("figcaption")).toContainText(`(${unit})`);
    expect(await fig.getByRole("img").getAttribute("aria-label")).toContain(`in ${unit}, read and write`);
    await expect(fig).toContainText("Read");
    await expect(fig).toContainText("Write");
  }
  const iopsChart = panel.getByTestId("overview-iops");
  await expect(iopsChart).toHaveAttribute("data-points", /[1-9]/, { timeout: 5_000 });
  const over = iopsChart.locator(".u-over");
  const box = (await over.boundingBox())!;
  const tip = iopsChart.getByTestId("chart-tooltip");
  // The right edge is the newest second (a pixel is ~3 s of the 15 minutes): hover there until it holds iscsi-perf's reads.
  let wiggle = 0;
  await expect
    .poll(
      async () => {
        await over.hover({ position: { x: box.width - 1 - (wiggle++ % 2), y: box.height / 2 } });
        return (await tip.isVisible()) ? await tip.textContent() : "(hidden)";
      },
      { timeout: 10_000 },
    )
    .toMatch(/Read [1-9][\d.]*k? IO\/s/);
  await expect(tip).toContainText(/Write [\d.]+k? IO\/s/);
  await page.screenshot({ path: testInfo.outputPath("overview-live.png"), fullPage: true });
  await page.mouse.move(0, 0);
  await expect(tip).toBeHidden();

  // Sessions: the initiator, with non-zero IOPS.
  await page.goto(`${server.url}/sessions`);
  const t1 = Date.now();
  const row = page.getByTestId("session-row").filter({ hasText: INITIATOR });
  await expect(row).toBeVisible({ timeout: 3_000 });
  await expect
    .poll(async () => Number(await row.getByTestId("session-iops").getAttribute("data-value")), { timeout: Math.max(500, 3_000 - (Date.now() - t1)) })
    .toBeGreaterThan(0);
  expect(Date.now() - t1).toBeLessThan(3_500);
  await expect(row).toContainText("127.0.0.1");
  await expect(row).toContainText(IQN);
  // Expanding shows the negotiated parameters.
  await row.getByTestId("session-expand").click();
  await expect(page.getByTestId("session-params")).toContainText("MaxRecvDataSegmentLength");
  await page.screenshot({ path: testInfo.outputPath("sessions.png"), fullPage: true });

  // The session detail page has live charts.
  await row.getByTestId("session-initiator").click();
  await expect(page.getByTestId("session-detail")).toBeVisible();
  await expect(page.getByTestId("session-chart-iops")).toHaveAttribute("data-points", /[1-9]/, { timeout: 5_000 });
  await page.screenshot({ path: testInfo.outputPath("session-detail.png"), fullPage: true });

  // The LUN detail page: live charts, then a stored range.
  await page.goto(`${server.url}/luns`);
  await page.getByTestId("lun-row").first().getByRole("link").click();
  await expect(page.getByTestId("lun-detail")).toBeVisible();
  await expect(page.getByTestId("lun-iops")).toHaveAttribute("data-points", /[1-9]/, { timeout: 5_000 });
  await expect(page.getByTestId("lun-iops-current")).not.toContainText("R 0 IO/s");
  await page.screenshot({ path: testInfo.outputPath("lun-detail.png"), fullPage: true });
  await page.getByTestId("range-24h").click();
  await expect(page.getByTestId("lun-iops")).toBeVisible();
  await expect(page.getByTestId("lun-iops").locator("figcaption")).toContainText("(IO/s)");
  await page.screenshot({ path: testInfo.outputPath("lun-detail-24h.png"), fullPage: true });

  // Disconnect from the Sessions page, confirmed first.
  stopPerf();
  await page.goto(`${server.url}/sessions`);
  const rows = page.getByTestId("session-row").filter({ hasText: INITIATOR });
  // iscsi-perf logs out when interrupted; start a fresh one to disconnect.
  await expect(rows).toHaveCount(0, { timeout: 10_000 });
  startPerf(60);
  await expect(rows).toHaveCount(1, { timeout: 5_000 });
  await rows.getByTestId("disconnect-button").click();
  await expect(page.getByTestId("confirm-dialog")).toBeVisible();
  await page.getByTestId("confirm-button").click();
  await expect(page.getByTestId("sessions-flash")).toBeVisible({ timeout: 10_000 });

  // Events: the login and the administrator's disconnect are there, and the type filter works.
  await page.goto(`${server.url}/events`);
  await expect(page.getByTestId("events-table")).toBeVisible({ timeout: 10_000 });
  await expect(page.getByTestId("event-row").filter({ hasText: INITIATOR }).first()).toBeVisible();
  await page.getByTestId("filter-type-config").check({ force: true });
  await expect(page.getByTestId("event-row").first()).toHaveAttribute("data-type", "config");
  await expect(page.getByTestId("events-table")).toContainText("sessions.disconnect");
  await page.screenshot({ path: testInfo.outputPath("events.png"), fullPage: true });
  stopPerf();
});

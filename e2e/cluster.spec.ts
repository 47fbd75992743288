/**
 * The Cluster page (issue 14, point 5) against the production build, a real etcd
 * (test/support/etcd.ts) and three real Portico processes: gw-a and gw-b started with
 * PORTICO_CLUSTER, and a single appliance. The single appliance shows the designed empty state
 * and refuses bad join input next to the fields (the schema's words, then the server's for an
 * etcd that does not answer); it then joins from the form as gw-c (saved; a restart is needed,
 * and once restarted it is a member). gw-a lists the members with
 * their lease; gw-b leaves from its own page and disappears from gw-a's; gw-a removes gw-c,
 * which shows it was removed and does not come back by itself.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { startEtcd, type Etcd } from "../test/support/etcd";
import { freePort } from "../test/support/ports";
import { makeDataDir, removeDir, startPortico, type PorticoProcess } from "../test/support/portico";
import { signedIn } from "./admin";
import { fieldError, shot } from "./helpers";

test.describe.configure({ mode: "serial" });

let etcd: Etcd;
let a: PorticoProcess;
let b: PorticoProcess;
let single: PorticoProcess;
const dirs: string[] = [];

test.beforeAll(async () => {
  test.setTimeout(420_000);
  etcd = await startEtcd();
  const start = async (env: Record<string, string>) => {
    const dataDir = makeDataDir("portico-e2e-cluster-");
    dirs.push(dataDir);
    return startPortico({ dataDir, env });
  };
  // One after another: three Next servers starting at once on a loaded machine take longer than startPortico waits.
  a = await start({ PORTICO_CLUSTER: etcd.clusterUrl, PORTICO_NODE: "gw-a" });
  b = await start({ PORTICO_CLUSTER: etcd.clusterUrl, PORTICO_NODE: "gw-b" });
  single = await start({});
});

test.afterAll(async () => {
  for (const p of [a, b, single]) await p?.stop().catch(() => p?.kill());
  await etcd?.stop();
  for (const d of dirs) removeDir(d);
});

/** A page with its own cookie jar: every node is 127.0.0.1, and cookies do not tell ports apart. */
async function consoleOf(browser: Browser, server: PorticoProcess): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signedIn(page, server);
  await page.goto(`${server.url}/cluster`);
  await expect(page.getByRole("heading", { name: "Cluster", level: 1 })).toBeVisible({ timeout: 60_000 });
  return page;
}

const nodeRow = (page: Page, name: string) => page.locator(`[data-testid="cluster-node"][data-name="${name}"]`);

test("a single appliance: the empty state explains; bad join input is refused next to the fields", async ({ browser }, testInfo) => {
  test.setTimeout(180_000);
  const page = await consoleOf(browser, single);
  const empty = page.getByTestId("cluster-empty");
  await expect(empty).toBeVisible();
  await expect(empty).toContainText("This appliance is not in a cluster");
  await expect(page.getByTestId("cluster-env-example")).toContainText("PORTICO_CLUSTER=etcd://");
  await shot(page, testInfo, "cluster-empty");

  const endpoints = page.getByTestId("join-endpoints");
  const node = page.getByTestId("join-node");
  // The schema's refusals, each at its field.
  await endpoints.fill("etcd1");
  await node.fill("gw_c");
  await page.getByTestId("join-submit").click();
  await expect(await fieldError(page, endpoints)).toHaveText('"etcd1" is not host:port');
  await expect(await fieldError(page, node)).toContainText("not a valid node name");
  await node.fill("");
  await page.getByTestId("join-submit").click();
  await expect(await fieldError(page, node)).toHaveText("required");

  // Well-formed, but nothing answers there: the server's refusal, at the endpoints field; nothing is saved.
  const nobody = await freePort();
  await endpoints.fill(`127.0.0.1:${nobody}`);
  await node.fill("gw-c");
  await page.getByTestId("join-submit").click();
  await expect(await fieldError(page, endpoints)).toContainText("is not reachable", { timeout: 30_000 });
  expect(existsSync(path.join(single.dataDir, "cluster.json"))).toBe(false);
  await shot(page, testInfo, "cluster-join-errors");
  await page.context().close();
});

test("a member lists both nodes with their lease, addresses and version; ownership runs and says no RBD LUN has an owner yet", async ({ browser }, testInfo) => {
  const page = await consoleOf(browser, a);
  await expect(page.getByTestId("cluster-node")).toHaveCount(2, { timeout: 30_000 });
  await expect(nodeRow(page, "gw-a")).toHaveAttribute("data-self", "true");
  const gwb = nodeRow(page, "gw-b");
  await expect(gwb.getByTestId("node-health")).toHaveText("live");
  await expect(gwb.getByTestId("node-renewed")).toContainText(/renewed (under 1 s|\d s) ago/);
  await expect(gwb.getByTestId("node-console")).toHaveText(new RegExp(`^https?://127\\.0\\.0\\.1:${b.httpPort}$`));
  await expect(gwb).toContainText("0.1.0");
  await expect(page.getByTestId("cluster-joined")).toHaveText("joined");
  // Ownership (server/cluster/ownership.ts) runs on every member; these nodes export no RBD LUN, so nothing is owned.
  await expect(page.getByTestId("ownership-empty")).toContainText("No RBD LUN in the cluster has an owner yet");
  await expect(page.getByTestId("ownership-unavailable")).toHaveCount(0);
  await expect(page.getByTestId("cluster-event").filter({ hasText: "gw-b joined the cluster" }).or(page.getByTestId("cluster-event").filter({ hasText: "gw-a joined the cluster" })).first()).toBeVisible({ timeout: 15_000 });
  await shot(page, testInfo, "cluster-members");
  await page.context().close();
});

test("the single appliance joins from the form: saved, restart needed; restarted, it is a member and gw-a sees gw-c", async ({ browser }) => {
  test.setTimeout(300_000);
  const page = await consoleOf(browser, single);
  await page.getByTestId("join-endpoints").fill(etcd.clusterUrl.replace("etcd://", ""));
  await page.getByTestId("join-node").fill("gw-c");
  await page.getByTestId("join-submit").click();
  await expect(page.getByTestId("cluster-pending")).toContainText("Restart needed: this node joins the cluster as gw-c at its next start", { timeout: 30_000 });
  await expect(page.getByTestId("cluster-pending")).toContainText("persistent reservations");
  expect(existsSync(path.join(single.dataDir, "cluster.json"))).toBe(true);
  expect(etcd.ctl("get", "--prefix", "--keys-only", "/portico/v1/nodes/")).not.toContain("gw-c");
  await page.context().close();

  // Restarted without PORTICO_CLUSTER: the saved join applies.
  expect(await single.stop()).toBe(0);
  single = await startPortico({ dataDir: single.dataDir, httpPort: single.httpPort });
  const pc = await consoleOf(browser, single);
  await expect(pc.getByTestId("cluster-node")).toHaveCount(3, { timeout: 30_000 });
  await expect(nodeRow(pc, "gw-c")).toHaveAttribute("data-self", "true");
  await expect(pc.getByTestId("cluster-status")).toContainText("joined from the console");
  const pa = await consoleOf(browser, a);
  await expect(nodeRow(pa, "gw-c")).toBeVisible({ timeout: 15_000 });
  await pc.context().close();
  await pa.context().close();
});

test("gw-b leaves from its own page: it shows the empty state, and gw-a's page shows it gone", async ({ browser }, testInfo) => {
  const pa = await consoleOf(browser, a);
  await expect(nodeRow(pa, "gw-b")).toBeVisible({ timeout: 15_000 });
  const pb = await consoleOf(browser, b);
  await expect(nodeRow(pb, "gw-b")).toHaveAttribute("data-self", "true", { timeout: 15_000 });
  await pb.getByTestId("leave-button").click();
  const dialog = pb.getByRole("dialog");
  await expect(dialog).toContainText("PORTICO_CLUSTER is set in its environment: it rejoins at its next start");
  await dialog.getByTestId("confirm-button").click();
  await expect(pb.getByTestId("cluster-empty")).toBeVisible({ timeout: 15_000 });
  await expect(pb.getByTestId("cluster-left")).toContainText("This node left the cluster");

  // Revoked lease: gone at once on gw-a (well under the 3 s TTL plus the page's 2 s refresh).
  await expect(nodeRow(pa, "gw-b")).toHaveCount(0, { timeout: 10_000 });
  await expect(nodeRow(pa, "gw-a")).toBeVisible();
  await expect(pa.getByTestId("cluster-event").filter({ hasText: "gw-b left the cluster" })).toBeVisible({ timeout: 15_000 });
  expect(etcd.ctl("get", "--prefix", "--keys-only", "/portico/v1/nodes/")).not.toContain("gw-b");
  await shot(pa, testInfo, "cluster-after-leave");
  await pa.context().close();
  await pb.context().close();
});

test("gw-a removes gw-c after its name is typed; gw-c shows it was removed and does not re-register", async ({ browser }, testInfo) => {
  test.setTimeout(180_000);
  const pa = await consoleOf(browser, a);
  const row = nodeRow(pa, "gw-c");
  await expect(row).toBeVisible({ timeout: 15_000 });
  await row.getByTestId("remove-button").click();
  const dialog = pa.getByRole("dialog");
  await dialog.getByTestId("remove-confirm-name").fill("gw-a");
  await dialog.getByTestId("confirm-button").click();
  await expect(await fieldError(pa, dialog.getByTestId("remove-confirm-name"))).toHaveText("type the node's name to confirm");
  await dialog.getByTestId("remove-confirm-name").fill("gw-c");
  await dialog.getByTestId("confirm-button").click();
  await expect(nodeRow(pa, "gw-c")).toHaveCount(0, { timeout: 10_000 });

  const pc = await consoleOf(browser, single);
  await expect(pc.getByTestId("cluster-evicted")).toContainText("removed", { timeout: 15_000 });
  await expect(pc.getByTestId("cluster-joined")).toHaveText("removed");
  // Longer than the lease TTL and several retry periods: still out.
  await pa.waitForTimeout(5_000);
  expect(etcd.ctl("get", "--prefix", "--keys-only", "/portico/v1/nodes/")).not.toContain("gw-c");
  await expect(nodeRow(pa, "gw-c")).toHaveCount(0);
  await shot(pc, testInfo, "cluster-evicted");
  await pa.context().close();
  await pc.context().close();
});

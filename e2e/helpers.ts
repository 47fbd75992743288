import { expect, type Locator, type Page, type TestInfo } from "@playwright/test";
import { setupCodeHeaders } from "../test/support/portico";

/** The error shown for a labelled control: the element its aria-describedby names `<id>-error`. */
export async function fieldError(page: Page, control: Locator): Promise<Locator> {
  await expect(control).toHaveAttribute("aria-invalid", "true");
  const ids = ((await control.getAttribute("aria-describedby")) ?? "").split(" ");
  const id = ids.find((x) => x.endsWith("-error"));
  expect(id, "the control names its error").toBeTruthy();
  return page.locator(`[id="${id}"]`);
}

export async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  await page.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true });
}

export const ADMIN_PASSWORD = "correct horse battery";

/** Completes onboarding through the API (admin only, no storage), with the setup code from the data directory: the page's context gets the session cookie. */
export async function onboardViaApi(page: Page, server: { url: string; dataDir: string }): Promise<void> {
  const r = await page.request.post(`${server.url}/api/trpc/onboarding.complete`, {
    headers: setupCodeHeaders(server.dataDir),
    data: {
      json: {
        admin: { username: "admin", password: ADMIN_PASSWORD, confirm: ADMIN_PASSWORD },
        appliance: { name: "e2e", iqnPrefix: "iqn.2003-01.org.linux-iscsi.e2e.x8664" },
        storage: { kind: "none" },
      },
    },
  });
  expect(r.status(), await r.text()).toBe(200);
}

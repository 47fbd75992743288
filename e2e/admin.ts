import { expect, type Page } from "@playwright/test";
import { ADMIN_PASSWORD, onboardViaApi } from "./helpers";

/** Gives the page's context an admin session: onboards through the API on first use, signs in afterwards. */
export async function signedIn(page: Page, server: { url: string; dataDir: string }): Promise<void> {
  const url = server.url;
  const st = await page.request.get(`${url}/api/trpc/onboarding.status`);
  const onboarded = ((await st.json()) as { result: { data: { json: { onboarded: boolean } } } }).result.data.json.onboarded;
  if (!onboarded) return onboardViaApi(page, server);
  const r = await page.request.post(`${url}/api/trpc/auth.login`, { data: { json: { username: "admin", password: ADMIN_PASSWORD } } });
  expect(r.status(), await r.text()).toBe(200);
}

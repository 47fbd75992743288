import { defineConfig } from "@playwright/test";

// End-to-end tests in Debian's Chromium (never `npx playwright install`) against the
// production build served by the real appliance process, which each test file starts.
export default defineConfig({
  testDir: "e2e",
  timeout: 120_000,
  workers: 1,
  outputDir: "test-results/e2e",
  use: {
    headless: true,
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--headless",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
});

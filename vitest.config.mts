import { defineConfig } from "vitest/config";
import path from "node:path";

// Unit tests: pure functions and single modules, no servers, no external tools.
export default defineConfig({
  resolve: { alias: { "@": path.resolve(__dirname) } },
  test: {
    include: ["test/unit/**/*.test.ts"],
    environment: "node",
    testTimeout: 20_000,
  },
});

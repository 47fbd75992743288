import { defineConfig } from "vitest/config";
import path from "node:path";

// Integration tests: the real server process on free loopback ports, driven by libiscsi, QEMU and our own client.
export default defineConfig({
  resolve: { alias: { "@": path.resolve(__dirname) } },
  test: {
    include: ["test/integration/**/*.test.ts"],
    environment: "node",
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});

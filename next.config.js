// Next.js configuration for the console. The engine, DB and tRPC run in server/main.ts,
// not in Next: nothing here bundles them.
import path from "node:path";
import { fileURLToPath } from "node:url";

process.env.NEXT_TELEMETRY_DISABLED = "1";

/** @type {import('next').NextConfig} */
const nextConfig = {
  serverExternalPackages: ["better-sqlite3"],
  reactStrictMode: true,
  poweredByHeader: false,
  // Type-check only the console and what it imports (not the engine's tests and tools, which
  // other suites check): `npx tsc --noEmit` still covers everything.
  typescript: { tsconfigPath: "tsconfig.next.json" },
  turbopack: { root: path.dirname(fileURLToPath(import.meta.url)) },
};

export default nextConfig;

import { defineConfig } from "drizzle-kit";

/** The monitoring history database (<data dir>/history.db): `npx drizzle-kit generate --config drizzle-history.config.ts`. */
export default defineConfig({
  dialect: "sqlite",
  schema: "./server/history/schema.ts",
  out: "./drizzle-history",
  strict: true,
});

/**
 * Opens the monitoring history database (`<data dir>/history.db`) and applies the
 * migrations in drizzle-history/. Separate from portico.db (see schema.ts).
 */
import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as schema from "./schema";

export type HistoryDb = BetterSQLite3Database<typeof schema>;
export const HISTORY_FILE_NAME = "history.db";
export const historyMigrationsFolder = fileURLToPath(new URL("../../drizzle-history", import.meta.url));

export interface OpenedHistory {
  db: HistoryDb;
  sqlite: Database.Database;
  file: string;
  close(): void;
}

export function openHistory(dataDir: string): OpenedHistory {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, HISTORY_FILE_NAME);
  const sqlite = new Database(file);
  try {
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma("journal_mode = WAL");
    // History is not configuration: losing the last second of it on power loss is acceptable.
    sqlite.pragma("synchronous = NORMAL");
    // It holds the /metrics token.
    fs.chmodSync(file, 0o600);
    const db = drizzle(sqlite, { schema });
    migrate(db, { migrationsFolder: historyMigrationsFolder });
    return { db, sqlite, file, close: () => sqlite.open && void sqlite.close() };
  } catch (err) {
    sqlite.close();
    throw err;
  }
}

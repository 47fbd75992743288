/**
 * Opens the appliance database (`<data dir>/portico.db`) and brings its schema up
 * to date with the committed migrations in drizzle/.
 */
import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import fs, { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as schema from "./schema";

export { schema };
export type PorticoDb = BetterSQLite3Database<typeof schema>;

export interface OpenedDatabase {
  db: PorticoDb;
  sqlite: Database.Database;
  file: string;
  close(): void;
}

export const DB_FILE_NAME = "portico.db";

/** drizzle/ at the package root, found from this file so it works from any cwd. */
export const migrationsFolder = fileURLToPath(new URL("../../drizzle", import.meta.url));

export function databaseFile(dataDir: string): string {
  return path.join(dataDir, DB_FILE_NAME);
}

/**
 * Opens (creating if needed) the SQLite file, sets WAL + busy_timeout + foreign
 * keys, and applies pending migrations.
 */
export function openDatabase(dataDir: string, opts: { readonly?: boolean } = {}): OpenedDatabase {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = databaseFile(dataDir);
  // Create the file owner-only before SQLite opens it, so there is no moment when a new
  // configuration database (it will hold CHAP secrets) is readable by others; SQLite then gives
  // the -wal/-shm files the main file's mode.
  if (!opts.readonly && !fs.existsSync(file)) fs.closeSync(fs.openSync(file, "a", 0o600));
  const sqlite = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  try {
    sqlite.pragma("busy_timeout = 5000");
    if (!opts.readonly) {
      sqlite.pragma("journal_mode = WAL");
      // WAL + NORMAL is durable against application crashes; FULL also against power loss, which a storage appliance's config deserves.
      sqlite.pragma("synchronous = FULL");
    }
    sqlite.pragma("foreign_keys = ON");
    // The configuration will hold CHAP secrets: owner-only, like /etc/target/saveconfig.json.
    if (!opts.readonly) fs.chmodSync(file, 0o600);
    const db = drizzle(sqlite, { schema });
    if (!opts.readonly) migrate(db, { migrationsFolder });
    return {
      db,
      sqlite,
      file,
      close: () => {
        if (sqlite.open) sqlite.close();
      },
    };
  } catch (err) {
    sqlite.close();
    throw err;
  }
}

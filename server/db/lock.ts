/**
 * One appliance per data directory. The runtime file (server/runtime.ts) is written only
 * once HTTP listens, so it cannot keep out a second instance started meanwhile; two
 * engines on one data directory would serve the same backing files and race on the
 * database. The lock is an exclusive SQLite lock (POSIX fcntl) on `<data dir>/portico.lock`,
 * held for the life of the process: the kernel releases it when the process ends however
 * it ends, so there is never a stale lock to clean up.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

export const LOCK_FILE_NAME = "portico.lock";

export class DataDirLockedError extends Error {
  constructor(readonly file: string) {
    super(`another Portico process is using this data directory (it holds ${file})`);
  }
}

export interface DataDirLock {
  file: string;
  release(): void;
}

/** Takes the data directory's lock, or throws DataDirLockedError at once if another process holds it. */
export function lockDataDir(dataDir: string): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, LOCK_FILE_NAME);
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma("journal_mode = OFF"); // nothing is ever written: no -journal file left beside the lock
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE");
  } catch (err) {
    db.close();
    const code = (err as { code?: string }).code ?? "";
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) throw new DataDirLockedError(file);
    throw err;
  }
  return {
    file,
    release: () => {
      if (db.open) db.close(); // closing ends the transaction and drops the lock
    },
  };
}

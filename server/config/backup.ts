/**
 * Rotating gzip backups of saveconfig.json, as targetcli keeps them (lio-model.md §1.1,
 * TCLI-root `_save_backups`): `<data dir>/backup/saveconfig-%Y%m%d-%H:%M:%S-json.gz`,
 * written only when the content differs from the newest backup, keeping the newest
 * `max_backup_files` (default 10). Each file is written to a temp file, fsynced and
 * renamed, mode 0600 (it holds CHAP secrets).
 */
import fs from "node:fs";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { EngineError } from "../engine/core/errors";
import { writeFileAtomic } from "../runtime";

export const DEFAULT_MAX_BACKUP_FILES = 10;
const NAME_RE = /^saveconfig-\d{8}-\d{2}:\d{2}:\d{2}(?:\.\d+)?-json\.gz$/;

export interface BackupInfo {
  name: string;
  /** Bytes on disk (compressed). */
  size: number;
  /** Modification time, ms since the epoch. */
  mtime: number;
}

export function backupDir(dataDir: string): string {
  return path.join(dataDir, "backup");
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function sortKey(name: string): string {
  const m = /^saveconfig-(\d{8}-\d{2}:\d{2}:\d{2})(?:\.(\d+))?-json\.gz$/.exec(name)!;
  return `${m[1]}.${(m[2] ?? "0").padStart(6, "0")}`;
}

/** Newest first (names sort by time; same-second backups carry a .N suffix). */
export function listBackups(dataDir: string): BackupInfo[] {
  const dir = backupDir(dataDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => NAME_RE.test(n))
    .map((name) => {
      const st = fs.statSync(path.join(dir, name));
      return { name, size: st.size, mtime: st.mtimeMs };
    })
    .sort((a, b) => (sortKey(b.name) < sortKey(a.name) ? -1 : sortKey(b.name) > sortKey(a.name) ? 1 : 0));
}

/** The saveconfig.json text of a backup. The name is checked: no paths, only our own files. */
export function readBackup(dataDir: string, name: string): string {
  if (!NAME_RE.test(name)) throw new EngineError(`"${name}" is not a backup name (saveconfig-YYYYMMDD-HH:MM:SS-json.gz)`, "invalid", "name");
  const file = path.join(backupDir(dataDir), name);
  let gz: Buffer;
  try {
    gz = fs.readFileSync(file);
  } catch {
    throw new EngineError(`backup ${name} does not exist`, "not_found", "name");
  }
  try {
    return gunzipSync(gz).toString("utf8");
  } catch (err) {
    throw new EngineError(`backup ${name} is not a readable gzip file: ${(err as Error).message}`, "io", "name");
  }
}

/**
 * Writes a backup of `content` unless it equals the newest one, then prunes to
 * `maxFiles`. Returns the new backup's name, or undefined when nothing changed.
 */
export function saveBackup(dataDir: string, content: string, maxFiles = DEFAULT_MAX_BACKUP_FILES, now = new Date()): string | undefined {
  const dir = backupDir(dataDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const existing = listBackups(dataDir);
  if (existing.length > 0) {
    try {
      if (readBackup(dataDir, existing[0].name) === content) return undefined;
    } catch {
      // An unreadable newest backup: write a fresh one.
    }
  }
  let name = `saveconfig-${stamp(now)}-json.gz`;
  // targetcli overwrites a backup made in the same second; keeping both loses nothing.
  for (let i = 1; fs.existsSync(path.join(dir, name)); i++) name = `saveconfig-${stamp(now)}.${i}-json.gz`;
  writeFileAtomic(path.join(dir, name), gzipSync(Buffer.from(content, "utf8")));
  const keep = Math.max(1, maxFiles);
  for (const old of listBackups(dataDir).slice(keep)) fs.rmSync(path.join(dir, old.name), { force: true });
  return name;
}

/**
 * The runtime file, the data directory lock and the database file's permissions:
 * what a restart after a crash or a reboot meets.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../../server/db";
import { lockDataDir } from "../../../server/db/lock";
import { readRuntime, removeFileDurable, writeFileAtomic, writeRuntime } from "../../../server/runtime";
import { expectDurablyRemoved, expectDurablyReplaced, recordFsOps } from "../../support/durability";

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "portico-runtime-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const info = (pid: number) => ({ pid, httpHost: "127.0.0.1", httpPort: 4321, token: "t".repeat(64), startedAt: new Date(0).toISOString() });

describe("runtime file", () => {
  it("is stale when its pid is alive but nothing holds the data directory's lock (pid reused after a reboot)", () => {
    const dir = tmpDir();
    // The parent process is alive and is not an appliance for this directory.
    writeRuntime(dir, info(process.ppid));
    expect(readRuntime(dir)).toBeUndefined();
  });

  it("names the running appliance while another holder has the lock", () => {
    const dir = tmpDir();
    writeRuntime(dir, info(process.ppid));
    // Simulate the appliance: another connection holding the lock (SQLite locks are per open file).
    const held = lockDataDir(dir);
    try {
      expect(readRuntime(dir)?.pid).toBe(process.ppid);
    } finally {
      held.release();
    }
  });

  it("writeFileAtomic (backups, certificates, saveconfig exports) syncs the new content before its rename and the directory after", () => {
    const dir = tmpDir();
    const file = path.join(dir, "x.json");
    writeFileAtomic(file, "old\n");
    expectDurablyReplaced(recordFsOps(() => writeFileAtomic(file, "new\n")), file, "new\n");
    expectDurablyRemoved(recordFsOps(() => removeFileDurable(file)), file);
    expect(fs.existsSync(file)).toBe(false);
  });

  it("is written even when a crash left its temp file behind", () => {
    const dir = tmpDir();
    const file = path.join(dir, "x.json");
    fs.writeFileSync(`${file}.${process.pid}.temp`, "leftover");
    writeFileAtomic(file, "{}\n");
    expect(fs.readFileSync(file, "utf8")).toBe("{}\n");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe("configuration database file", () => {
  it("and its WAL are owner-only from creation, whatever the umask", () => {
    const dir = tmpDir();
    const old = process.umask(0o022);
    try {
      const db = openDatabase(dir);
      db.sqlite.exec("CREATE TABLE IF NOT EXISTS t (x)");
      db.sqlite.exec("INSERT INTO t VALUES (1)");
      expect(fs.statSync(db.file).mode & 0o777).toBe(0o600);
      expect(fs.statSync(`${db.file}-wal`).mode & 0o777).toBe(0o600);
      db.close();
    } finally {
      process.umask(old);
    }
  });
});

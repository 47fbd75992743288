/**
 * A copy of a drizzle migrations folder holding only the migrations before `tag`: the schema a
 * database had before that migration, so a test can make such a database and migrate it.
 */
import fs from "node:fs";
import path from "node:path";
import { expect } from "vitest";

export function migrationsBefore(folder: string, tag: string, dir: string): string {
  const out = path.join(dir, "migrations");
  fs.mkdirSync(path.join(out, "meta"), { recursive: true });
  const journal = JSON.parse(fs.readFileSync(path.join(folder, "meta", "_journal.json"), "utf8"));
  const idx = journal.entries.findIndex((e: { tag: string }) => e.tag === tag);
  expect(idx).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, idx);
  fs.writeFileSync(path.join(out, "meta", "_journal.json"), JSON.stringify(journal));
  for (const e of journal.entries) fs.copyFileSync(path.join(folder, `${e.tag}.sql`), path.join(out, `${e.tag}.sql`));
  return out;
}

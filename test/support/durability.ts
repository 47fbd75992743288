/**
 * What a state file's write or removal does to the disk, for tests of "survives power loss":
 * the fsync, rename and rm calls a function makes (through node:fs), in order, each fsync with
 * the path of its descriptor and, for a file, what the file held when it was synced. A real
 * power cut cannot be made in a unit test; what can be checked is the order the kernel needs:
 * the new content synced before the rename that publishes it, the directory synced after the
 * rename (or the unlink) so that the name change itself is on disk.
 */
import fs from "node:fs";
import path from "node:path";
import { expect, vi } from "vitest";

export type FsOp =
  | { op: "fsync"; path: string; content?: string }
  | { op: "rename"; from: string; to: string }
  | { op: "rm"; path: string };

/** Runs fn and returns the fsync/rename/rm calls it made (the calls themselves still happen). */
export function recordFsOps(fn: () => void): FsOp[] {
  const ops: FsOp[] = [];
  const fdPath = new Map<number, string>();
  const { openSync, fsyncSync, renameSync, rmSync } = fs;
  const spies = [
    vi.spyOn(fs, "openSync").mockImplementation((...args: Parameters<typeof fs.openSync>) => {
      const fd = openSync(...args);
      fdPath.set(fd, path.resolve(String(args[0])));
      return fd;
    }),
    vi.spyOn(fs, "fsyncSync").mockImplementation((fd: number) => {
      const p = fdPath.get(fd) ?? `fd ${fd}`;
      const content = fs.statSync(p, { throwIfNoEntry: false })?.isFile() ? fs.readFileSync(p, "utf8") : undefined;
      ops.push({ op: "fsync", path: p, content });
      fsyncSync(fd);
    }),
    vi.spyOn(fs, "renameSync").mockImplementation((from: fs.PathLike, to: fs.PathLike) => {
      ops.push({ op: "rename", from: path.resolve(String(from)), to: path.resolve(String(to)) });
      renameSync(from, to);
    }),
    vi.spyOn(fs, "rmSync").mockImplementation((p: fs.PathLike, o?: fs.RmOptions) => {
      ops.push({ op: "rm", path: path.resolve(String(p)) });
      rmSync(p, o);
    }),
  ];
  try {
    fn();
  } finally {
    for (const s of spies) s.mockRestore();
  }
  return ops;
}

/** The file got `content` by a synced temp file renamed onto it, and its directory was synced after. */
export function expectDurablyReplaced(ops: FsOp[], file: string, content: string): void {
  const target = path.resolve(file);
  const r = ops.findIndex((o) => o.op === "rename" && o.to === target);
  expect(r, `no rename onto ${target}: ${JSON.stringify(ops)}`).toBeGreaterThanOrEqual(0);
  const tmp = (ops[r] as { from: string }).from;
  expect(ops.slice(0, r), `the temp file is not synced with the new content before the rename`).toContainEqual({ op: "fsync", path: tmp, content });
  expect(ops.slice(r + 1), `the directory is not synced after the rename`).toContainEqual({ op: "fsync", path: path.dirname(target), content: undefined });
}

/** The file was removed and its directory synced after. */
export function expectDurablyRemoved(ops: FsOp[], file: string): void {
  const target = path.resolve(file);
  const r = ops.findIndex((o) => o.op === "rm" && o.path === target);
  expect(r, `${target} not removed: ${JSON.stringify(ops)}`).toBeGreaterThanOrEqual(0);
  expect(ops.slice(r + 1), `the directory is not synced after the removal`).toContainEqual({ op: "fsync", path: path.dirname(target), content: undefined });
}

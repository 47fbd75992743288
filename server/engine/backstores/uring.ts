/**
 * The fileio/block IO path: io_uring through native/portico_uring.c, batch-first.
 *
 * read()/write()/fdatasync() prepare one SQE each (no system call); the addon submits all
 * that one event-loop turn prepared with one io_uring_submit, and delivers every completion
 * found at an eventfd wake-up in one call (onComplete below), so the responses finished
 * together leave together. readNow()/writeNow() are preadv2/pwritev2 with RWF_NOWAIT: a
 * page-cache hit served on the event loop at once, -EAGAIN when it would wait.
 *
 * The ring is set up at the first use. Where the addon is not built (no liburing headers) or
 * the kernel refuses io_uring (ENOSYS; EPERM under a seccomp profile or
 * kernel.io_uring_disabled), `fdIoStatus()` says why and fd.ts uses libuv's thread pool.
 * PORTICO_FD_IO=pool chooses the pool, PORTICO_FD_NOWAIT=0 turns off the RWF_NOWAIT path
 * (both for measuring the alternatives, docs/performance.md).
 *
 * Lone write-back writes are a plain pwrite on the event loop where the file system refuses
 * RWF_NOWAIT writes (ext4 and loop devices on this kernel) only when the addon's gate finds they
 * should not sleep (every page cached, none under writeback, dirty pages far below the throttling
 * limits; issue 17: "never a blocking call on it"); fd.ts backs off after one that slept anyway.
 * PORTICO_FD_INLINE_WRITES=0 sends every write through the ring; an addon built without the
 * gate never writes on the event loop.
 */
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { envSwitch } from "../core/env";

interface UringAddon {
  init(entries: number, onComplete: (count: number) => void, out: Int32Array): void;
  read(fd: number, buf: Buffer, bufOffset: number, length: number, position: number, id: number): void;
  write(fd: number, buf: Buffer, bufOffset: number, length: number, position: number, id: number, dsync: number): void;
  fsync(fd: number, id: number): void;
  readNow(fd: number, buf: Buffer, bufOffset: number, length: number, position: number): number;
  writeNow(fd: number, buf: Buffer, bufOffset: number, length: number, position: number): number;
  /**
   * pwrite; info[0] = voluntary context switches during it (it slept), info[1] = µs it took. With `gate`
   * 1 it first asks whether the write could sleep (a page not cached or under writeback, the system's
   * dirty pages near the throttling limits): then nothing is written, -EAGAIN, and info[2] says why (InlineRefusal).
   */
  writeInline(fd: number, buf: Buffer, bufOffset: number, length: number, position: number, info: Int32Array, gate?: number): number;
  /** Set by a build whose writeInline takes `gate` (an older one ignores it). */
  writeInlineGated?: boolean;
  stats(): { entries: number; inflight: number; prepared: number; submits: number; submitted: number; wakeups: number; reaped: number };
}

function loadAddon(): { addon?: UringAddon; reason: string } {
  const req = createRequire(import.meta.url);
  const files: string[] = [];
  // PORTICO_URING_NATIVE names the one file to load (tests point it at a missing one for the fallback).
  if (process.env.PORTICO_URING_NATIVE) files.push(process.env.PORTICO_URING_NATIVE);
  else {
    try {
      files.push(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../native/build/Release/portico_uring.node"));
    } catch {
      // bundled: cwd below
    }
    files.push(path.resolve(process.cwd(), "native/build/Release/portico_uring.node"));
  }
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    try {
      return { addon: req(file) as UringAddon, reason: `loaded ${file}` };
    } catch (err) {
      return { reason: `cannot load ${file}: ${(err as Error).message}` };
    }
  }
  return { reason: `${files.at(-1)} is not built (liburing-dev missing when native/build.sh ran?)` };
}

const loaded = loadAddon();

const EAGAIN = os.constants.errno.EAGAIN;
const EINTR = os.constants.errno.EINTR;
const errnoNames = new Map<number, string>(Object.entries(os.constants.errno).map(([name, no]) => [no, name]));

/** An fs-style error (code, errno, syscall) from a negative CQE result. */
export function errnoError(errno: number, syscall: string, detail: string): NodeJS.ErrnoException {
  const code = errnoNames.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall} ${detail} failed (errno ${errno})`);
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  return err;
}

const Kind = { Read: 0, Write: 1, Sync: 2 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/** One request in flight; its slot number is the CQE's user_data. Slots are reused. */
class Op {
  kind: Kind = Kind.Read;
  fd = -1;
  buf: Buffer | undefined;
  off = 0;
  len = 0;
  pos = 0;
  done = 0;
  dsync = 0;
  resolve: ((n: number) => void) | undefined;
  reject: ((err: Error) => void) | undefined;
}

/** Completion pairs delivered per call (the addon calls again when a wake-up finds more). */
const OUT_PAIRS = 1024;
const RING_ENTRIES = 256;

export class Ring {
  private readonly ops: Op[] = [];
  private readonly free: number[] = [];
  private readonly out = new Int32Array(OUT_PAIRS * 2);

  constructor(private readonly addon: UringAddon) {
    addon.init(RING_ENTRIES, (count) => this.onComplete(count), this.out);
  }

  stats() {
    return this.addon.stats();
  }

  /** Reads up to `len` bytes into buf[off..]; resolves the count, short only at end of file. */
  read(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
    return this.start(Kind.Read, fd, buf, off, len, pos, 0);
  }

  /** Writes all of buf[off..off+len) at `pos`; with `dsync` this write alone is stable when it resolves (RWF_DSYNC). */
  write(fd: number, buf: Buffer, off: number, len: number, pos: number, dsync: boolean): Promise<number> {
    return this.start(Kind.Write, fd, buf, off, len, pos, dsync ? 1 : 0);
  }

  fdatasync(fd: number): Promise<number> {
    return this.start(Kind.Sync, fd, undefined, 0, 0, 0, 0);
  }

  private start(kind: Kind, fd: number, buf: Buffer | undefined, off: number, len: number, pos: number, dsync: number): Promise<number> {
    const id = this.free.length ? this.free.pop()! : this.ops.push(new Op()) - 1;
    const op = this.ops[id];
    op.kind = kind;
    op.fd = fd;
    op.buf = buf;
    op.off = off;
    op.len = len;
    op.pos = pos;
    op.done = 0;
    op.dsync = dsync;
    const p = new Promise<number>((resolve, reject) => {
      op.resolve = resolve;
      op.reject = reject;
    });
    try {
      this.prepare(id, op);
    } catch (err) {
      this.finish(id, op, err as Error);
    }
    return p;
  }

  private prepare(id: number, op: Op): void {
    const rest = op.len - op.done;
    if (op.kind === Kind.Read) this.addon.read(op.fd, op.buf!, op.off + op.done, rest, op.pos + op.done, id);
    else if (op.kind === Kind.Write) this.addon.write(op.fd, op.buf!, op.off + op.done, rest, op.pos + op.done, id, op.dsync);
    else this.addon.fsync(op.fd, id);
  }

  private finish(id: number, op: Op, err: Error | undefined): void {
    const { resolve, reject, done } = op;
    op.buf = undefined;
    op.resolve = op.reject = undefined;
    this.free.push(id);
    if (err) reject!(err);
    else resolve!(done);
  }

  /** Called by the addon once per batch: `count` (id, result) pairs in `out`. */
  private onComplete(count: number): void {
    const out = this.out;
    for (let i = 0; i < count; i++) {
      const id = out[2 * i];
      const res = out[2 * i + 1];
      const op = this.ops[id];
      if (!op?.resolve) continue;
      try {
        this.completed(id, op, res);
      } catch (err) {
        this.finish(id, op, err as Error);
      }
    }
  }

  private completed(id: number, op: Op, res: number): void {
    if (res < 0) {
      if (res === -EAGAIN || res === -EINTR) return this.prepare(id, op);
      const what = op.kind === Kind.Read ? "read" : op.kind === Kind.Write ? "write" : "fdatasync";
      return this.finish(id, op, errnoError(-res, what, op.kind === Kind.Sync ? `of fd ${op.fd}` : `of ${op.len - op.done} bytes at byte ${op.pos + op.done}`));
    }
    if (op.kind === Kind.Sync) return this.finish(id, op, undefined);
    if (res === 0) {
      // Read: end of file (the caller zero-fills). Write: no progress for a non-empty buffer is an I/O error, not a retry loop.
      return this.finish(id, op, op.kind === Kind.Read ? undefined : errnoError(os.constants.errno.EIO, "write", `at byte ${op.pos + op.done} made no progress`));
    }
    op.done += res;
    // A short read or write (a signal, a device's limits): the rest goes in the next batch.
    if (op.done < op.len) return this.prepare(id, op);
    this.finish(id, op, undefined);
  }
}

/** Why the addon's gate refused an inline write (info[2]); 0: it did not. */
export const InlineRefusal = { None: 0, NotCached: 1, Writeback: 2, DirtyLimits: 3, Unknown: 4 } as const;

type Choice = { ring?: Ring; nowait?: UringAddon; inlineWrites: boolean; status: string };
let choice: Choice | undefined;

function choose(): Choice {
  const nowaitWanted = envSwitch("PORTICO_FD_NOWAIT", { default: true });
  const addon = loaded.addon;
  // Gated lone write-back writes on the event loop by default where the addon can gate them; "0" turns them off.
  const inlineWanted = envSwitch("PORTICO_FD_INLINE_WRITES", { default: true });
  const inlineWrites = inlineWanted && addon?.writeInlineGated === true;
  const nowait = nowaitWanted && addon ? addon : undefined;
  const nowaitNote =
    (nowait ? ", page-cache hits served on the event loop (RWF_NOWAIT)" : "") +
    (inlineWrites
      ? ", lone write-back writes into the page cache on the event loop when cached, not under writeback and far from the dirty limits (PORTICO_FD_INLINE_WRITES=0 turns them off)"
      : !inlineWanted
        ? ", every write through the ring (PORTICO_FD_INLINE_WRITES=0)"
        : "");
  const done = (c: Omit<Choice, "inlineWrites">): Choice => ({ ...c, inlineWrites });
  if (process.env.PORTICO_FD_IO === "pool") return done({ nowait, status: `libuv thread pool (PORTICO_FD_IO=pool)${nowaitNote}` });
  if (!addon) return done({ status: `libuv thread pool: io_uring unavailable: ${loaded.reason}${nowaitNote}` });
  try {
    const ring = new Ring(addon);
    return done({ ring, nowait, status: `io_uring (${RING_ENTRIES} entries, batched submit and reap)${nowaitNote}` });
  } catch (err) {
    return done({ nowait, status: `libuv thread pool: io_uring unavailable: ${(err as Error).message}${nowaitNote}` });
  }
}

/**
 * The addon's gated pwrite when a lone write-back write may be written into the page cache on the
 * event loop (fd.ts writeSync); undefined when not (PORTICO_FD_INLINE_WRITES=0, or no addon that can
 * gate: a stale native/build without the gate never writes on the event loop).
 */
export function fdInlineWrites(): UringAddon["writeInline"] | undefined {
  choice ??= choose();
  if (!choice.inlineWrites) return undefined;
  const addon = loaded.addon!;
  return addon.writeInline.bind(addon);
}

/** The ring, set up at the first call; undefined when the thread pool serves (see fdIoStatus). */
export function fdRing(): Ring | undefined {
  choice ??= choose();
  return choice.ring;
}

/** The RWF_NOWAIT calls (preadv2/pwritev2) when available and wanted. */
export function fdNowait(): Pick<UringAddon, "readNow" | "writeNow"> | undefined {
  choice ??= choose();
  return choice.nowait;
}

/** One line saying which IO path fileio and block use, and why (startup log, `portico status`). */
export function fdIoStatus(): string {
  choice ??= choose();
  return choice.status;
}

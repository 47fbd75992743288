/**
 * The fileio/block io_uring path (backstores/uring.ts, native/portico_uring.c) against real
 * files, a real tmpfs and the kernel's own errors: data, batching, short reads at the end of a
 * file, errno → sense, and the thread-pool fallback when the addon is missing.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBackstore } from "../../../server/engine/backstores";
import { createEngine } from "../../../server/engine";
import { FdBackstore, inlineWriteStats } from "../../../server/engine/backstores/fd";
import { freePort } from "../../support/ports";
import { fdIoStatus, fdRing } from "../../../server/engine/backstores/uring";
import { SenseError, SenseKey } from "../../../server/engine/scsi/sense";

const root = path.resolve(__dirname, "../../..");
// Gated inline writes are the default; this file tests them, so it makes sure no PORTICO_FD_INLINE_WRITES=0 from
// the environment turns them off before the first fdRing()/fdInlineWrites() call fixes the choice. The default is
// checked in a child below.
delete process.env.PORTICO_FD_INLINE_WRITES;
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-uring-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** This machine has liburing and a kernel that allows io_uring: the ring must be up, not silently the pool. */
function ring() {
  const r = fdRing();
  if (!r) throw new Error(`io_uring expected on this machine, got: ${fdIoStatus()}`);
  return r;
}

function pattern(seed: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

async function sense(p: Promise<unknown>): Promise<SenseError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SenseError);
  return err as SenseError;
}

describe("io_uring fileio path", () => {
  it("says it is in use, and runs many commands of one turn with one submit", async () => {
    expect(fdIoStatus()).toMatch(/^io_uring \(\d+ entries, batched submit and reap\)/);
    const r = ring();
    const file = path.join(dir, "batch.img");
    const b = await openBackstore({ plugin: "fileio", name: "f", dev: file, size: 4 << 20, writeBack: true });
    try {
      const s0 = r.stats();
      // 64 writes of 4 KiB, all started in this turn: prepared one by one, submitted together.
      await Promise.all(Array.from({ length: 64 }, (_, i) => b.write(i * 8192, pattern(i, 4096), false)));
      const s1 = r.stats();
      expect(s1.submitted - s0.submitted).toBe(64);
      expect(s1.submits - s0.submits).toBe(1);
      const reads = await Promise.all(Array.from({ length: 64 }, (_, i) => b.read(i * 8192, 8192)));
      const s2 = r.stats();
      expect(s2.submits - s1.submits).toBe(1);
      expect(s2.reaped - s1.reaped).toBe(64);
      // Completions are delivered in batches: fewer wake-ups than completions.
      expect(s2.wakeups - s1.wakeups).toBeLessThan(64);
      for (let i = 0; i < 64; i++) {
        expect(reads[i].subarray(0, 4096).equals(pattern(i, 4096))).toBe(true);
        expect(reads[i].subarray(4096).equals(Buffer.alloc(4096))).toBe(true);
      }
      // What the ring wrote is in the file, as another reader sees it.
      const raw = fs.readFileSync(file);
      for (let i = 0; i < 64; i++) expect(raw.subarray(i * 8192, i * 8192 + 4096).equals(pattern(i, 4096))).toBe(true);
      // A 1 MiB write and read across the batch boundary of the completion array.
      const big = pattern(99, 1 << 20);
      await b.write(2 << 20, big, true);
      expect((await b.read(2 << 20, 1 << 20)).equals(big)).toBe(true);
      expect(r.stats().inflight).toBe(0);
    } finally {
      await b.close();
    }
  });

  it("reads page-cache hits on the event loop (readSync) and the same bytes through the ring", async () => {
    ring();
    const file = path.join(dir, "sync.img");
    const b = await openBackstore({ plugin: "fileio", name: "f", dev: file, size: 1 << 20 });
    try {
      await b.write(65536, pattern(7, 16384), false);
      const now = b.readSync?.(65536, 16384);
      expect(now?.equals(pattern(7, 16384))).toBe(true);
      expect((await b.read(65536, 16384)).equals(pattern(7, 16384))).toBe(true);
      // Write-through (O_DSYNC) never takes the non-blocking write: it would not be stable on return.
      expect(b.writeSync?.(0, Buffer.alloc(512, 1), false)).toBe(false);
    } finally {
      await b.close();
    }
  });

  it("reuses a read buffer the transport gave back (releaseRead), on the event loop and through the ring, and never one still out", async () => {
    ring();
    const file = path.join(dir, "pool.img");
    const b = await openBackstore({ plugin: "fileio", name: "f", dev: file, size: 1 << 20, writeBack: true });
    try {
      const n = 256 << 10;
      await b.write(n, pattern(5, n), false);
      await b.write(2 * n, pattern(6, n), false);
      expect(b.releaseRead).toBeTypeOf("function");
      const first = b.readSync?.(n, n) ?? (await b.read(n, n));
      expect(first.equals(pattern(5, n))).toBe(true);
      // Still out (its Data-In not yet written): the next read must not get it.
      const second = await b.read(2 * n, n);
      expect(second).not.toBe(first);
      expect(first.equals(pattern(5, n))).toBe(true);
      b.releaseRead!(first);
      // Given back: the next read of that size reads into it (no fresh buffer to fault in), with the new bytes.
      const third = b.readSync?.(2 * n, n) ?? (await b.read(2 * n, n));
      expect(third).toBe(first);
      expect(third.equals(pattern(6, n))).toBe(true);
      b.releaseRead!(third);
      b.releaseRead!(second);
      const viaRing = await b.read(n, n);
      expect([first, second]).toContain(viaRing);
      expect(viaRing.equals(pattern(5, n))).toBe(true);
      // A buffer given back twice, or one the backstore never lent, is ignored (never handed to two readers).
      b.releaseRead!(viaRing);
      b.releaseRead!(viaRing);
      b.releaseRead!(Buffer.alloc(n));
      const x = await b.read(0, n);
      const y = await b.read(0, n);
      expect(x).not.toBe(y);
    } finally {
      await b.close();
    }
  });

  it("write-back writes land in the page cache on the event loop (writeSync) and read back", async () => {
    ring();
    const file = path.join(dir, "wsync.img");
    const b = await openBackstore({ plugin: "fileio", name: "f", dev: file, size: 1 << 20, writeBack: true });
    try {
      const wrote = b.writeSync?.(4096, pattern(3, 4096), false);
      if (wrote) expect(fs.readFileSync(file).subarray(4096, 8192).equals(pattern(3, 4096))).toBe(true);
      // FUA is never done on the event loop: it must be stable before GOOD (RWF_DSYNC through the ring).
      expect(b.writeSync?.(4096, pattern(4, 4096), true)).toBe(false);
      await b.write(4096, pattern(4, 4096), true);
      expect((await b.read(4096, 4096)).equals(pattern(4, 4096))).toBe(true);
    } finally {
      await b.close();
    }
  });

  it("a lone write-back write goes into the page cache on the event loop; not uncached, not with a read or FUA write in flight (only write-back writes: yes), not FUA, not write-through, not after a slow one", async () => {
    ring();
    // ext4 (this machine's /tmp) refuses RWF_NOWAIT writes, so writeSync is the plain timed pwrite.
    expect(execFileSync("stat", ["-f", "-c", "%T", dir], { encoding: "utf8" }).trim()).toMatch(/^ext2\/ext3$/);
    const file = path.join(dir, "inline.img");
    const b = (await openBackstore({ plugin: "fileio", name: "f", dev: file, size: 1 << 20, writeBack: true })) as FdBackstore;
    try {
      const s0 = { ...inlineWriteStats };
      // Not in the page cache yet (the write would allocate the page, maybe reclaim): the gate sends it to the ring.
      expect(b.writeSync?.(8192, pattern(10, 4096), false)).toBe(false);
      expect(inlineWriteStats.notCached - s0.notCached).toBe(1);
      expect(inlineWriteStats.writes - s0.writes).toBe(0);
      await b.read(0, 1 << 20);
      expect(b.writeSync?.(8192, pattern(11, 4096), false)).toBe(true);
      expect(inlineWriteStats.writes - s0.writes).toBe(1);
      // It is in the file when writeSync returns, as another reader sees it (no ring, no callback).
      expect(fs.readFileSync(file).subarray(8192, 12288).equals(pattern(11, 4096))).toBe(true);
      // With a read of this backstore in flight on the ring, the next write queues behind it there.
      const r = ring();
      const before = r.stats().submitted;
      const reading = b.read(32768, 4096);
      expect(b.writeSync?.(16384, pattern(13, 4096), false)).toBe(false);
      await reading;
      expect(r.stats().submitted - before).toBe(1);
      // Only a write-back write on the ring: the next one (another range) is still written inline. At QD32 the
      // ring would otherwise never empty once one write went there (docs/performance.md, w32's two modes).
      const inFlight = b.write(0, pattern(12, 4096), false);
      expect(b.writeSync?.(16384, pattern(13, 4096), false)).toBe(true);
      await inFlight;
      expect(r.stats().submitted - before).toBe(2);
      expect(inlineWriteStats.writes - s0.writes).toBe(2);
      // A FUA write in flight keeps it on the ring.
      const fuaInFlight = b.write(36864, pattern(18, 4096), true);
      expect(b.writeSync?.(40960, pattern(19, 4096), false)).toBe(false);
      await fuaInFlight;
      // FUA must be stable before GOOD: RWF_DSYNC through the ring, never the inline pwrite.
      expect(b.writeSync?.(16384, pattern(13, 4096), true)).toBe(false);
      // Larger than 64 KiB: the ring.
      expect(b.writeSync?.(65536, pattern(14, 128 * 1024), false)).toBe(false);
      expect(inlineWriteStats.writes - s0.writes).toBe(2);
      // A slow inline write (here: every write judged slow) turns the road off for a while: the next goes to the ring.
      b.inlineSlowMs = -1;
      expect(b.writeSync?.(20480, pattern(15, 4096), false)).toBe(true);
      expect(inlineWriteStats.slow - s0.slow).toBe(1);
      expect(b.writeSync?.(24576, pattern(16, 4096), false)).toBe(false);
      await b.write(24576, pattern(16, 4096), false);
      const raw = fs.readFileSync(file);
      expect(raw.subarray(0, 4096).equals(pattern(12, 4096))).toBe(true);
      expect(raw.subarray(16384, 20480).equals(pattern(13, 4096))).toBe(true);
      expect(raw.subarray(20480, 24576).equals(pattern(15, 4096))).toBe(true);
      expect(raw.subarray(24576, 28672).equals(pattern(16, 4096))).toBe(true);
    } finally {
      await b.close();
    }
    // Write-through (O_DSYNC: stable only when the disk has it) never takes it.
    const t = await openBackstore({ plugin: "fileio", name: "t", dev: path.join(dir, "inline-wt.img"), size: 1 << 20 });
    try {
      expect(t.writeSync?.(0, pattern(17, 4096), false)).toBe(false);
    } finally {
      await t.close();
    }
  });

  it("QEMU's writes over iSCSI to a write-back fileio LUN are written on the event loop and read back", async () => {
    ring();
    const file = path.join(dir, "qemu.img");
    const iqn = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.inlinewrite1";
    const port = await freePort();
    const engine = createEngine({ log: () => undefined, statsEnabled: false });
    const so = await engine.createStorageObject({ plugin: "fileio", name: "inl", dev: file, size: 8 << 20, writeBack: true });
    engine.createTarget(iqn);
    engine.createTpg(iqn, 1, { attributes: { generate_node_acls: 1, demo_mode_write_protect: 0 } });
    engine.createLun(iqn, 1, so.path, { index: 0 });
    await engine.createPortal(iqn, 1, "127.0.0.1", port);
    // qemu-io runs as a child while this process's event loop serves it (spawnSync would stall the target).
    // -t writeback: plain writes (qemu-io's default, writethrough, sends every write with FUA).
    const qemuIo = (...cmds: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn("qemu-io", ["-f", "raw", "-t", "writeback", ...cmds.flatMap((cmd) => ["-c", cmd]), `iscsi://127.0.0.1:${port}/${iqn}/0`]);
        let out = "";
        c.stdout.on("data", (d: Buffer) => (out += d));
        c.stderr.on("data", (d: Buffer) => (out += d));
        c.on("close", (code) => resolve({ code, out }));
      });
    try {
      // The file's pages in the page cache (as an admin's image after use): the gate lets the writes through.
      fs.readFileSync(file);
      const s0 = { ...inlineWriteStats };
      // One 4 KiB write at a time (qemu-io's write): lone writes.
      for (const [i, off] of [0, 4096, 1 << 20, (8 << 20) - 4096].entries()) {
        const w = await qemuIo(`write -P 0x${(0x31 + i).toString(16)} ${off} 4k`);
        expect(w.code, w.out).toBe(0);
      }
      expect(inlineWriteStats.writes - s0.writes).toBeGreaterThanOrEqual(4);
      const raw = fs.readFileSync(file);
      for (const [i, off] of [0, 4096, 1 << 20, (8 << 20) - 4096].entries()) {
        expect(raw.subarray(off, off + 4096).equals(Buffer.alloc(4096, 0x31 + i)), `block at ${off}`).toBe(true);
        const r = await qemuIo(`read -P 0x${(0x31 + i).toString(16)} ${off} 4k`);
        expect(r.code, r.out).toBe(0);
        expect(r.out).not.toMatch(/Pattern verification failed/);
      }
      // SYNCHRONIZE CACHE after an inline write (QEMU sends it only after a write of its own) still reaches
      // the file: an fdatasync through the ring; and writethrough's FUA writes never take the inline road.
      const r = ring();
      const before = { ...r.stats() };
      const s1 = { ...inlineWriteStats };
      const f = await qemuIo("write -P 0x41 8k 4k", "flush");
      expect(f.code, f.out).toBe(0);
      expect(inlineWriteStats.writes - s1.writes).toBe(1);
      expect(r.stats().submitted - before.submitted).toBe(1);
      const fua = await new Promise<number | null>((resolve) =>
        spawn("qemu-io", ["-f", "raw", "-t", "writethrough", "-c", "write -P 0x42 12k 4k", `iscsi://127.0.0.1:${port}/${iqn}/0`]).on("close", resolve),
      );
      expect(fua).toBe(0);
      expect(inlineWriteStats.writes - s1.writes).toBe(1);
      expect(fs.readFileSync(file).subarray(8192, 16384).equals(Buffer.concat([Buffer.alloc(4096, 0x41), Buffer.alloc(4096, 0x42)]))).toBe(true);
    } finally {
      await engine.shutdown();
    }
  }, 120_000);

  it("a short read at the end of a file shorter than the LUN reads zeros past it", async () => {
    const r = ring();
    const file = path.join(dir, "short.img");
    const b = await openBackstore({ plugin: "fileio", name: "f", dev: file, size: 16384 });
    try {
      await b.write(8192, pattern(5, 8192), false);
      // The file shrinks under the backstore (an admin's truncate): 1808 bytes remain past 8192.
      fs.truncateSync(file, 10000);
      const got = await b.read(8192, 8192);
      expect(got.subarray(0, 1808).equals(pattern(5, 8192).subarray(0, 1808))).toBe(true);
      expect(got.subarray(1808).equals(Buffer.alloc(8192 - 1808))).toBe(true);
      // readSync does not guess: a partial page-cache read goes to the ring.
      expect(b.readSync?.(8192, 8192)).toBeUndefined();
      // The ring itself reports the short count.
      const fd = fs.openSync(file, "r");
      try {
        expect(await r.read(fd, Buffer.alloc(8192), 0, 8192, 8192)).toBe(1808);
        expect(await r.read(fd, Buffer.alloc(4096), 0, 4096, 20000)).toBe(0);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      await b.close();
    }
  });

  it("maps the kernel's EIO to MEDIUM ERROR: UNRECOVERED READ ERROR / WRITE ERROR with the LBA", async () => {
    ring();
    // /proc/self/mem at an unmapped address: a real EIO from the kernel for a read and a write.
    const fd = fs.openSync("/proc/self/mem", "r+");
    const b = new FdBackstore("fileio", fd, "/proc/self/mem", 512, 1 << 20, true, false);
    try {
      const r = await sense(b.read(8 * 512, 4096));
      expect([r.key, ...r.code]).toEqual([SenseKey.MEDIUM_ERROR, 0x11, 0x00]);
      expect(r.extra.information).toBe(8);
      const w = await sense(b.write(16 * 512, Buffer.alloc(512), false));
      expect([w.key, ...w.code]).toEqual([SenseKey.MEDIUM_ERROR, 0x0c, 0x00]);
      expect(w.extra.information).toBe(16);
    } finally {
      await b.close();
    }
  });

  it("maps a full file system under a write to DATA PROTECT: SPACE ALLOCATION FAILED WRITE PROTECT", async () => {
    ring();
    const mnt = path.join(dir, "tiny");
    fs.mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "portico-uring-test", mnt]);
    try {
      const b = await openBackstore({ plugin: "fileio", name: "f", dev: path.join(mnt, "thin.img"), size: 8 << 20, overcommit: true, writeBack: true });
      try {
        const e = await sense(b.write(0, Buffer.alloc(1 << 20, 0x5a), false));
        expect([e.key, ...e.code]).toEqual([SenseKey.DATA_PROTECT, 0x27, 0x07]);
        // What fitted reads back; the backstore still serves.
        expect((await b.read(0, 4096)).equals(Buffer.alloc(4096, 0x5a))).toBe(true);
      } finally {
        await b.close();
      }
    } finally {
      execFileSync("umount", [mnt]);
    }
  });

  it("gated lone write-back writes are on by default, off with PORTICO_FD_INLINE_WRITES=0", () => {
    const script = `
      import { fdIoStatus, fdInlineWrites } from ${JSON.stringify(path.join(root, "server/engine/backstores/uring.ts"))};
      console.log(JSON.stringify({ status: fdIoStatus(), inline: fdInlineWrites() !== undefined }));
    `;
    const file = path.join(dir, "inline-default.mts");
    fs.writeFileSync(file, script);
    for (const [value, expected] of [[undefined, true], ["0", false], ["1", true]] as const) {
      const env: NodeJS.ProcessEnv = { ...process.env };
      if (value === undefined) delete env.PORTICO_FD_INLINE_WRITES;
      else env.PORTICO_FD_INLINE_WRITES = value;
      const r = spawnSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8", env, timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { status: string; inline: boolean };
      expect(out.inline).toBe(expected);
      expect(out.status.includes("writes into the page cache on the event loop when cached")).toBe(expected);
      expect(out.status.includes("every write through the ring (PORTICO_FD_INLINE_WRITES=0)")).toBe(value === "0");
    }
  }, 300_000);

  it("without the addon, fileio says why and uses the thread pool, with the same data", () => {
    const script = `
      import { fdIoStatus, fdRing } from ${JSON.stringify(path.join(root, "server/engine/backstores/uring.ts"))};
      import { openBackstore } from ${JSON.stringify(path.join(root, "server/engine/backstores/index.ts"))};
      const b = await openBackstore({ plugin: "fileio", name: "f", dev: ${JSON.stringify(path.join(dir, "pool.img"))}, size: 1 << 20 });
      const data = Buffer.alloc(8192, 0x42);
      await b.write(4096, data, true);
      const same = (await b.read(4096, 8192)).equals(data);
      await b.close();
      console.log(JSON.stringify({ status: fdIoStatus(), ring: fdRing() !== undefined, same }));
    `;
    const file = path.join(dir, "fallback.mts");
    fs.writeFileSync(file, script);
    for (const env of [{ PORTICO_URING_NATIVE: path.join(dir, "missing", "portico_uring.node") }, { PORTICO_FD_IO: "pool" }]) {
      const r = spawnSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8", env: { ...process.env, ...env }, timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { status: string; ring: boolean; same: boolean };
      expect(out.ring).toBe(false);
      expect(out.same).toBe(true);
      if ("PORTICO_URING_NATIVE" in env) expect(out.status).toMatch(/^libuv thread pool: io_uring unavailable: .*missing\/portico_uring\.node is not built/);
      else expect(out.status).toMatch(/^libuv thread pool \(PORTICO_FD_IO=pool\)/);
    }
  }, 300_000);
});

/**
 * fileio and block backstores: a file descriptor read and written through io_uring
 * (uring.ts: many requests per system call, many completions per wake-up), with reads the
 * page cache holds served at once on the event loop (preadv2 RWF_NOWAIT, readSync), and a lone
 * write-back write whose pages are cached put into the page cache on the event loop (writeSync,
 * below; PORTICO_FD_INLINE_WRITES=0 turns it off). Where
 * io_uring is unavailable, Node's callback fs API on libuv's thread pool (fdIoStatus says which).
 *
 * Durability (SBC-4 §4.15): write-through opens with O_DSYNC, so every write is
 * stable when it completes; write-back writes to the page cache, flush() calls fdatasync
 * and a FUA write is written with RWF_DSYNC (the thread pool: write, then fdatasync).
 *
 * The kernel reads into the Buffer that goes to the socket and writes from the Data-Out
 * Buffer as received: no copies on either path.
 */
import fs from "node:fs";
import path from "node:path";
import type { Backstore, BackstorePlugin } from "./backstore";
import { nativeAddon } from "./native";
import { readBuffers } from "../core/buffer-pool";
import { Asc, SenseError, SenseKey } from "../scsi/sense";
import { errnoError, fdInlineWrites, fdNowait, fdRing, InlineRefusal, type Ring } from "./uring";

/** SPACE ALLOCATION FAILED WRITE PROTECT (SBC-3 §4.7.3.7): the file system is full under a thin LUN. */
const SPACE_ALLOCATION_FAILED = [0x27, 0x07] as const;
const EAGAIN = 11;
/** RWF_NOWAIT misses in a row make the next attempts skip, up to this many (a cold cache costs no extra syscalls). */
const NOWAIT_MAX_SKIP = 64;

/*
 * Lone write-back writes on the event loop, gated (on unless PORTICO_FD_INLINE_WRITES=0, uring.ts
 * fdInlineWrites). ext4 and block devices refuse non-blocking buffered writes (RWF_NOWAIT:
 * EOPNOTSUPP on kernel 6.18, docs/performance.md), so on the ring every write is handed to an io-wq
 * worker and its completion wakes the event loop through the eventfd: ~3.7 context switches per
 * QD1 write, the same hand-off as tgt's worker threads, and on this VM (where a switch is dear) most
 * of a QD1 write's latency and CPU. A write-back write is only a copy into the page cache, so a small
 * one with nothing else of this backstore in flight is a plain pwrite on the event loop, answered in
 * its command's turn as a ramdisk write is, when the addon's gate (native/portico_uring.c
 * inline_gate) finds that it should not sleep: every page of it in the page cache (nothing to
 * allocate or read), none under writeback (the folio lock, stable pages: the only sleeps measured
 * under a dirty-page flood), and the system's dirty + writeback pages below the background
 * threshold (far under the kernel's throttling; /proc/vmstat sampled every 50 ms). Otherwise
 * nothing is written and the ring takes it. Durability is the ring's: the same page-cache write
 * (write-back: not stable until SYNCHRONIZE CACHE, which still fdatasyncs), never a FUA write
 * (RWF_DSYNC through the ring) and never write-through (O_DSYNC waits for the disk). What the gate
 * cannot see (a journal handle for the mtime update, a race with the flusher) is caught after the
 * fact: the addon counts the thread's voluntary context switches during the pwrite (getrusage
 * RUSAGE_THREAD; being preempted is involuntary and not the file system's doing) and its CPU time,
 * and one that slept or used over INLINE_SLOW_MS of CPU turns the road off for a back-off window
 * that doubles (to INLINE_BACKOFF_MAX_MS) while slow ones keep coming (within INLINE_CALM_MS of the
 * last). A write that arrives while a read, flush, unmap or FUA write of its backstore is in flight
 * goes to the ring; one that finds only write-back writes on the ring does not wait for them: at
 * QD32 the ring never empties once a write has gone there (each new write would find another in
 * flight), so one slow write's back-off used to turn a whole run into ring writes (140 k "in flight"
 * refusals against 26 k inline writes in one 3 s block run; 30-38 k instead of 55-65 k IOPS,
 * docs/performance.md w32). Such an inline write may meet a ring write on the inode lock (ext4);
 * if it sleeps there, the slow-write check backs off as for any other sleep. Overlapping writes
 * never meet: the caller checked the range is free. An initiator whose writes arrive one per turn
 * has them all written inline, one after another.
 */
/** Largest write done on the event loop (a copy of this size is a few µs). */
const INLINE_MAX_BYTES = 64 * 1024;
/** An inline write that used more CPU than this (ms) counts as slow even without a sleep. */
export const INLINE_SLOW_MS = 2;
const INLINE_BACKOFF_MIN_MS = 100;
const INLINE_BACKOFF_MAX_MS = 60_000;
/** A slow inline write this long (ms) after the last one starts the back-off from its minimum again. */
const INLINE_CALM_MS = 10_000;

/**
 * Lone writes done on the event loop, the ones that slept or were slow, and the ones the addon's gate
 * sent to the ring (page not cached / under writeback / dirty limits near) (the tests, the benchmarks' explanation).
 */
export const inlineWriteStats = { writes: 0, slow: 0, notCached: 0, writeback: 0, dirtyLimits: 0 };
/** The addon's report on the last inline write: [voluntary context switches, µs, InlineRefusal]. */
const inlineInfo = new Int32Array(3);

/**
 * Read buffers come from the backstores' shared pool (core/buffer-pool.ts readBuffers) and go back
 * once their Data-In has been written (releaseRead). A fresh Buffer per read is memory the kernel
 * must first map and zero: a 1 MiB read took 70-120 page faults for its buffer (docs/performance.md,
 * 2026-12-03), and the external memory makes V8 collect the whole heap more often.
 */
const releaseReadBuffer = (buf: Buffer): void => readBuffers.give(buf);

/** Zero-fill chunk for the UNMAP fallback. */
const ZERO_CHUNK = 1 << 20;
let zeroChunk: Buffer | undefined;

function readAt(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
}
function writeAt(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
}
function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * An IO error as SCSI sense (SBC-3 §4.14.3, LIO's fileio): EIO and the like on a read is MEDIUM ERROR /
 * UNRECOVERED READ ERROR, on a write MEDIUM ERROR / WRITE ERROR, with the first LBA in INFORMATION;
 * a full file system under a write is DATA PROTECT / SPACE ALLOCATION FAILED WRITE PROTECT. Anything
 * that is not an errno error (a closed backstore...) stays as it is (HARDWARE ERROR).
 */
export function ioSense(err: unknown, write: boolean, lba?: number): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== "string" || !/^E[A-Z0-9]+$/.test(code)) return err;
  const extra = lba === undefined ? {} : { information: lba };
  if (write && (code === "ENOSPC" || code === "EDQUOT")) return new SenseError(SenseKey.DATA_PROTECT, SPACE_ALLOCATION_FAILED, extra);
  return new SenseError(SenseKey.MEDIUM_ERROR, write ? Asc.WRITE_ERROR : Asc.UNRECOVERED_READ_ERROR, extra);
}

export class FdBackstore implements Backstore {
  private closed = false;
  /** Set once punch-hole failed with EOPNOTSUPP (e.g. a filesystem without it). */
  private punchUnsupported = false;
  private readonly ring: Ring | undefined = fdRing();
  private readonly nowait = fdNowait();
  /** RWF_NOWAIT attempts to skip (after misses), and the next skip length. */
  private nowaitSkip = 0;
  private nowaitBackoff = 1;
  /** A write-through write cannot be done without waiting; a file system may refuse RWF_NOWAIT writes. */
  private writeNowait: boolean;
  /** The buffer of a readSync that missed the cache, reused by the read() that follows. */
  private spare: Buffer | undefined;
  /** The addon's gated pwrite when lone write-back writes may be done on the event loop (see INLINE_MAX_BYTES). */
  private readonly inline: ((fd: number, buf: Buffer, off: number, len: number, pos: number, info: Int32Array, gate: number) => number) | undefined;
  /** performance.now() before which no inline write is tried (after a slow one), and the next window. */
  private inlineOffUntil = 0;
  private inlineBackoff = INLINE_BACKOFF_MIN_MS;
  private inlineLastSlow = -Infinity;
  /** Reads, FUA writes, flushes and unmaps of this backstore started and not yet finished (kept only when `inline` is set: only inline writes ask). */
  private pending = 0;
  /** For the tests: the threshold an inline write is judged slow by. */
  inlineSlowMs = INLINE_SLOW_MS;
  /** A buffer read() or readSync() returned, once its Data-In has left: the next read of that size reuses it. */
  readonly releaseRead = releaseReadBuffer;

  constructor(
    readonly plugin: BackstorePlugin,
    private readonly fd: number,
    readonly path: string,
    readonly blockSize: number,
    public sizeBytes: number,
    readonly writeBack: boolean,
    readonly readonly: boolean,
  ) {
    this.writeNowait = writeBack && !readonly;
    this.inline = writeBack && !readonly ? fdInlineWrites() : undefined;
  }

  get reclaims(): boolean {
    return nativeAddon !== undefined && !this.punchUnsupported;
  }

  /** A page-cache hit read on the event loop (preadv2 RWF_NOWAIT); undefined when it would wait. */
  readSync(offset: number, length: number): Buffer | undefined {
    if (!this.nowait || this.closed || this.skipNowait()) return undefined;
    const buf = readBuffers.take(length);
    const n = this.nowait.readNow(this.fd, buf, 0, length, offset);
    if (n === length) {
      this.nowaitBackoff = 1;
      return buf;
    }
    // EAGAIN (not cached), a partial hit or the end of a short file: read() does it properly.
    this.nowaitMiss();
    this.spare = buf;
    return undefined;
  }

  /**
   * A write-back write into the page cache on the event loop; false when it goes to the ring.
   * Where the file system takes non-blocking buffered writes (pwritev2 RWF_NOWAIT: XFS), that;
   * where it refuses them (ext4, block devices), a lone small write as a plain pwrite when the
   * addon's gate says it should not sleep (writeInline).
   */
  writeSync(offset: number, data: Buffer, fua: boolean): boolean {
    if (fua || this.closed) return false;
    // Without RWF_NOWAIT (turned off, or refused by this file system): the timed inline write.
    if (!this.writeNowait || !this.nowait) return this.writeInline(offset, data);
    if (this.skipNowait()) return false;
    const n = this.nowait.writeNow(this.fd, data, 0, data.length, offset);
    if (n === data.length) {
      this.nowaitBackoff = 1;
      return true;
    }
    // EOPNOTSUPP/EINVAL: the file system has no non-blocking buffered writes; stop asking (inline writes from now on).
    if (n < 0 && n !== -EAGAIN) {
      this.writeNowait = false;
      return this.writeInline(offset, data);
    }
    // Partly written: write() writes it all again (no other write overlaps: the caller checked the range is free).
    this.nowaitMiss();
    return false;
  }

  /**
   * A lone small write-back write as a plain pwrite on the event loop (see INLINE_MAX_BYTES), when the
   * addon's gate finds its pages cached, none under writeback and the system's dirty pages far from the
   * throttling limits; false: use write().
   */
  private writeInline(offset: number, data: Buffer): boolean {
    const native = this.inline;
    if (!native || this.pending !== 0 || data.length > INLINE_MAX_BYTES) return false;
    if (this.inlineOffUntil !== 0 && performance.now() < this.inlineOffUntil) return false;
    const n = native(this.fd, data, 0, data.length, offset, inlineInfo, 1);
    if (n === -EAGAIN && inlineInfo[2] !== InlineRefusal.None) {
      // The gate: it could sleep, nothing written; the ring writes it (no back-off: nothing was slow).
      const why = inlineInfo[2];
      if (why === InlineRefusal.NotCached) inlineWriteStats.notCached++;
      else if (why === InlineRefusal.Writeback) inlineWriteStats.writeback++;
      else inlineWriteStats.dirtyLimits++;
      return false;
    }
    if (n < 0) throw ioSense(errnoError(-n, "pwrite", `of ${data.length} bytes at byte ${offset}`), true, offset / this.blockSize);
    inlineWriteStats.writes++;
    // Slept, or spent over INLINE_SLOW_MS of CPU in it (not of wall-clock time: being preempted is not the file system's doing).
    if (inlineInfo[0] > 0 || inlineInfo[1] > this.inlineSlowMs * 1000) {
      const now = performance.now();
      inlineWriteStats.slow++;
      this.inlineBackoff = now - this.inlineLastSlow > INLINE_CALM_MS ? INLINE_BACKOFF_MIN_MS : Math.min(INLINE_BACKOFF_MAX_MS, this.inlineBackoff * 2);
      this.inlineLastSlow = now;
      this.inlineOffUntil = now + this.inlineBackoff;
    }
    // Short (a full file system mid-write): write() writes it all again and reports what stops it.
    return n === data.length;
  }

  private skipNowait(): boolean {
    if (this.nowaitSkip === 0) return false;
    this.nowaitSkip--;
    return true;
  }
  private nowaitMiss(): void {
    this.nowaitSkip = this.nowaitBackoff;
    this.nowaitBackoff = Math.min(NOWAIT_MAX_SKIP, this.nowaitBackoff * 2);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.check();
    let buf = this.spare;
    this.spare = undefined;
    if (buf?.length !== length) buf = readBuffers.take(length);
    if (this.inline) this.pending++;
    try {
      const ring = this.ring;
      let done = 0;
      if (ring) done = await ring.read(this.fd, buf, 0, length, offset);
      else {
        while (done < length) {
          const n = await readAt(this.fd, buf, done, length - done, offset + done);
          if (n === 0) break;
          done += n;
        }
      }
      // Past the end of a file that is shorter than the backstore: zeros, as a sparse tail reads.
      if (done < length) buf.fill(0, done);
    } catch (err) {
      throw ioSense(err, false, offset / this.blockSize);
    } finally {
      if (this.inline) this.pending--;
    }
    return buf;
  }

  async write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    this.check();
    if (this.readonly) throw new Error(`${this.path} is open read-only`);
    // Write-through already opened O_DSYNC; write-back must make a FUA write stable now (SBC-3 §5.37).
    const sync = fua && this.writeBack;
    // A write-back write on the ring does not keep the next one off the inline road (see writeInline above).
    const counted = this.inline !== undefined && sync;
    if (counted) this.pending++;
    try {
      if (this.ring) {
        await this.ring.write(this.fd, data, 0, data.length, offset, sync);
        return;
      }
      let done = 0;
      while (done < data.length) {
        const n = await writeAt(this.fd, data, done, data.length - done, offset + done);
        // pwrite returning 0 for a non-empty buffer makes no progress: an I/O error, not a retry loop.
        if (n <= 0) throw Object.assign(new Error(`${this.path}: write at byte ${offset + done} made no progress`), { code: "EIO" });
        done += n;
      }
      if (sync) await fdatasync(this.fd);
    } catch (err) {
      throw ioSense(err, true, offset / this.blockSize);
    } finally {
      if (counted) this.pending--;
    }
  }

  private datasync(): Promise<unknown> {
    return this.ring ? this.ring.fdatasync(this.fd) : fdatasync(this.fd);
  }

  async flush(): Promise<void> {
    this.check();
    if (this.readonly) return;
    if (this.inline) this.pending++;
    try {
      await this.datasync();
    } catch (err) {
      throw ioSense(err, true);
    } finally {
      if (this.inline) this.pending--;
    }
  }

  async unmap(offset: number, length: number): Promise<void> {
    this.check();
    if (this.readonly) throw new Error(`${this.path} is open read-only`);
    if (nativeAddon && !this.punchUnsupported) {
      if (this.inline) this.pending++;
      try {
        await nativeAddon.punchHole(this.fd, offset, length);
        if (!this.writeBack) await this.datasync();
        return;
      } catch (err) {
        const e = err as Error & { errno?: number };
        // EOPNOTSUPP (95): filesystem or device without punch-hole; fall back for good.
        if (e.errno !== 95 && e.errno !== 22) throw err;
        this.punchUnsupported = true;
      } finally {
        if (this.inline) this.pending--;
      }
    }
    zeroChunk ??= Buffer.alloc(ZERO_CHUNK);
    let done = 0;
    while (done < length) {
      const n = Math.min(ZERO_CHUNK, length - done);
      await this.write(offset + done, zeroChunk.subarray(0, n), false);
      done += n;
    }
  }

  async status(offset: number, length: number): Promise<{ mapped: boolean; length: number }> {
    this.check();
    if (!nativeAddon || this.plugin !== "fileio") return { mapped: true, length };
    const end = offset + length;
    const data = nativeAddon.seekData(this.fd, offset);
    if (data < 0 || data >= end) return { mapped: false, length };
    if (data > offset) return { mapped: false, length: roundUp(data - offset, this.blockSize) };
    const hole = nativeAddon.seekHole(this.fd, offset);
    const stop = hole < 0 ? end : Math.min(hole, end);
    return { mapped: true, length: Math.max(this.blockSize, roundDown(stop - offset, this.blockSize)) };
  }

  async resize(newSizeBytes: number): Promise<void> {
    this.check();
    if (newSizeBytes < this.sizeBytes) throw new Error(`cannot shrink ${this.path} from ${this.sizeBytes} to ${newSizeBytes} bytes`);
    if (this.plugin === "block") {
      // A block device is grown outside Portico (losetup -c, lvextend...): take what it has now.
      const device = await this.deviceSize();
      if (newSizeBytes > device) throw new Error(`${this.path} has only ${device} bytes`);
      this.sizeBytes = roundDown(newSizeBytes, this.blockSize);
      return;
    }
    await new Promise<void>((resolve, reject) => fs.ftruncate(this.fd, newSizeBytes, (err) => (err ? reject(err) : resolve())));
    this.sizeBytes = roundDown(newSizeBytes, this.blockSize);
  }

  /** block: the device's size now, re-read from sysfs (it may have grown since it was opened). */
  async deviceSize(): Promise<number> {
    if (this.plugin !== "block") return this.sizeBytes;
    return blockDeviceSize(this.path);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.readonly) await fdatasync(this.fd).catch(() => undefined);
    await new Promise<void>((resolve) => fs.close(this.fd, () => resolve()));
  }

  private check(): void {
    if (this.closed) throw new Error(`${this.plugin} backstore ${this.path} is closed`);
  }
}

export function roundDown(n: number, m: number): number {
  return n - (n % m);
}
function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/** Capacity of a block device from sysfs (fs.stat reports 0 for block devices). */
export async function blockDeviceSize(realPath: string): Promise<number> {
  const name = path.basename(realPath);
  const sysfs = `/sys/class/block/${name}/size`;
  const text = await fs.promises.readFile(sysfs, "utf8").catch(() => {
    throw new Error(`cannot read the size of ${realPath} from ${sysfs}`);
  });
  const sectors = Number(text.trim());
  if (!Number.isSafeInteger(sectors)) throw new Error(`unexpected size "${text.trim()}" in ${sysfs}`);
  return sectors * 512; // sysfs counts 512-byte sectors whatever the logical block size
}

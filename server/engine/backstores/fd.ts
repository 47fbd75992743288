/**
 * fileio and block backstores: a file descriptor read and written with Node's
 * callback fs API (cheaper than fs.promises: no FileHandle, no extra promise per call).
 *
 * Durability (SBC-4 §4.15): write-through opens with O_DSYNC, so every write is
 * stable when it returns; write-back writes to the page cache and flush() (and a FUA
 * write) calls fdatasync.
 */
import fs from "node:fs";
import path from "node:path";
import type { Backstore, BackstorePlugin } from "./backstore";
import { nativeAddon } from "./native";

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

export class FdBackstore implements Backstore {
  private closed = false;
  /** Set once punch-hole failed with EOPNOTSUPP (e.g. a filesystem without it). */
  private punchUnsupported = false;

  constructor(
    readonly plugin: BackstorePlugin,
    private readonly fd: number,
    readonly path: string,
    readonly blockSize: number,
    public sizeBytes: number,
    readonly writeBack: boolean,
    readonly readonly: boolean,
  ) {}

  get reclaims(): boolean {
    return nativeAddon !== undefined && !this.punchUnsupported;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.check();
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = await readAt(this.fd, buf, done, length - done, offset + done);
      if (n === 0) {
        // Past the end of a file that is shorter than the backstore: zeros, as a sparse tail reads.
        buf.fill(0, done);
        break;
      }
      done += n;
    }
    return buf;
  }

  async write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    this.check();
    if (this.readonly) throw new Error(`${this.path} is open read-only`);
    let done = 0;
    while (done < data.length) {
      const n = await writeAt(this.fd, data, done, data.length - done, offset + done);
      // pwrite returning 0 for a non-empty buffer makes no progress: an I/O error, not a retry loop.
      if (n <= 0) throw new Error(`${this.path}: write at byte ${offset + done} made no progress`);
      done += n;
    }
    // Write-through already opened O_DSYNC; write-back must make a FUA write stable now (SBC-3 §5.37).
    if (fua && this.writeBack) await fdatasync(this.fd);
  }

  async flush(): Promise<void> {
    this.check();
    if (!this.readonly) await fdatasync(this.fd);
  }

  async unmap(offset: number, length: number): Promise<void> {
    this.check();
    if (this.readonly) throw new Error(`${this.path} is open read-only`);
    if (nativeAddon && !this.punchUnsupported) {
      try {
        await nativeAddon.punchHole(this.fd, offset, length);
        if (!this.writeBack) await fdatasync(this.fd);
        return;
      } catch (err) {
        const e = err as Error & { errno?: number };
        // EOPNOTSUPP (95): filesystem or device without punch-hole; fall back for good.
        if (e.errno !== 95 && e.errno !== 22) throw err;
        this.punchUnsupported = true;
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

/**
 * ramdisk (LIO rd_mcp): the medium is memory, in regions of up to 1 GiB, each one zero-filled
 * allocation taken on the first write into it (a 1 TiB ramdisk that is never written reserves nothing).
 * The kernel backs a region's pages only when they are first written, so a large ramdisk still
 * costs no resident memory until written. Reads of pages never written are views of one shared
 * zero buffer (they touch no page of the medium); unmap zeroes what was written (the memory
 * stays resident, as rd_mcp keeps its pages until the device is deleted).
 *
 * Why not a Buffer per page, allocated on first write (the earlier design): each was a new
 * external allocation for V8, so filling a ramdisk ran major garbage collections of the whole
 * appliance heap every few dozen pages, and a read of a never-written page allocated a zeroed
 * Buffer per command. On this machine's VM a page fault costs 40–60 µs (docs/performance.md),
 * and each of those collections and allocations faulted pages in again: a cold 4 KiB write cost
 * milliseconds of CPU. Now the only first-touch cost left is the kernel's, once per 4 KiB page
 * written, as for tgt's file in /dev/shm.
 */
import type { Backstore } from "./backstore";

/** Granularity of what is recorded as written (allocatedBytes, GET LBA STATUS, unmap). */
export const RAMDISK_PAGE_SIZE = 1 << 20;
/** One allocation of the medium (a multiple of the page size; Node's Buffer limit is 4 GiB); IO inside one is a view or one copy. */
export const RAMDISK_REGION_SIZE = 1 << 30;

export class RamdiskBackstore implements Backstore {
  readonly plugin = "ramdisk" as const;
  readonly writeBack = false;
  readonly reclaims = true;
  private regions: (Buffer | undefined)[] = [];
  private readonly regionSize: number;
  /** One byte per page: 1 once written (until unmapped). */
  private written = new Uint8Array(0);
  private writtenPages = 0;
  private closed = false;

  constructor(
    readonly blockSize: number,
    public sizeBytes: number,
    readonly pageSize = RAMDISK_PAGE_SIZE,
  ) {
    // Small ramdisks (tests) take one region of their own size; pages never straddle regions.
    const pages = Math.max(1, Math.ceil(sizeBytes / pageSize));
    this.regionSize = Math.min(Math.max(pageSize, RAMDISK_REGION_SIZE - (RAMDISK_REGION_SIZE % pageSize)), pages * pageSize);
    this.written = new Uint8Array(pages);
  }

  /**
   * Memory is the medium, so reads and writes complete before returning: the SCSI layer calls
   * readSync/writeSync first and answers in the same turn (Backstore.readSync). When read() or
   * write() has been replaced (a subclass or a test's spy or fault injector), they decline, so
   * the replacement still sees every IO.
   */
  readSync(offset: number, length: number): Buffer | undefined {
    if (this.read !== RamdiskBackstore.prototype.read) return undefined;
    return this.readPages(offset, length);
  }

  writeSync(offset: number, data: Buffer, _fua: boolean): boolean {
    if (this.write !== RamdiskBackstore.prototype.write) return false;
    this.writePages(offset, data);
    return true;
  }

  /** Bytes written and not unmapped since, in whole pages (for tests and statistics). */
  get allocatedBytes(): number {
    return this.writtenPages * this.pageSize;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    return this.readPages(offset, length);
  }

  /** The region at index idx, allocated on the first write into it (reads of unwritten pages never get here). */
  private region(idx: number): Buffer {
    // Buffer.alloc of a large size is calloc of a fresh mapping: zeros without touching memory.
    return this.regions[idx] ?? (this.regions[idx] = Buffer.alloc(this.regionSize));
  }

  private readPages(offset: number, length: number): Buffer {
    this.check();
    const rs = this.regionSize;
    if (length > 0 && this.unwritten(offset, length)) return zeros(length);
    const first = Math.floor(offset / rs);
    const inRegion = offset - first * rs;
    // A view into the region: no copy on the hot path (the Backstore contract allows it).
    if (inRegion + length <= rs) return this.region(first).subarray(inRegion, inRegion + length);
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const idx = Math.floor(pos / rs);
      const off = pos - idx * rs;
      const n = Math.min(rs - off, length - done);
      const region = this.regions[idx];
      if (region) region.copy(out, done, off, off + n);
      else out.fill(0, done, done + n);
      done += n;
    }
    return out;
  }

  /** True when no page of the range was written: it reads as zeros without touching the medium. */
  private unwritten(offset: number, length: number): boolean {
    const ps = this.pageSize;
    const last = Math.floor((offset + length - 1) / ps);
    for (let p = Math.floor(offset / ps); p <= last; p++) if (this.written[p] === 1) return false;
    return true;
  }

  async write(offset: number, data: Buffer, _fua: boolean): Promise<void> {
    this.writePages(offset, data);
  }

  /** Write-through by nature: the data is in the medium on return, FUA or not. */
  private writePages(offset: number, data: Buffer): void {
    this.check();
    if (data.length === 0) return;
    const rs = this.regionSize;
    let done = 0;
    while (done < data.length) {
      const pos = offset + done;
      const idx = Math.floor(pos / rs);
      const off = pos - idx * rs;
      const n = Math.min(rs - off, data.length - done);
      data.copy(this.region(idx), off, done, done + n);
      done += n;
    }
    const ps = this.pageSize;
    const last = Math.floor((offset + data.length - 1) / ps);
    for (let p = Math.floor(offset / ps); p <= last; p++) this.markWritten(p);
  }

  private markWritten(page: number): void {
    if (page >= this.written.length) {
      const grown = new Uint8Array(Math.max(page + 1, Math.ceil(this.sizeBytes / this.pageSize)));
      grown.set(this.written);
      this.written = grown;
    }
    if (this.written[page] === 0) {
      this.written[page] = 1;
      this.writtenPages++;
    }
  }

  async flush(): Promise<void> {
    this.check();
  }

  /** Zeroes the range; whole pages are no longer counted as written (GET LBA STATUS reports them deallocated). */
  async unmap(offset: number, length: number): Promise<void> {
    this.check();
    const ps = this.pageSize;
    const rs = this.regionSize;
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const page = Math.floor(pos / ps);
      const off = pos - page * ps;
      const n = Math.min(ps - off, length - done);
      if (this.written[page] === 1) {
        // Only written pages hold anything but zeros: never touch (and so fault in) the others.
        const region = this.regions[Math.floor(pos / rs)];
        const inRegion = pos % rs;
        region?.fill(0, inRegion, inRegion + n);
        if (off === 0 && n === ps) {
          this.written[page] = 0;
          this.writtenPages--;
        }
      }
      done += n;
    }
  }

  async status(offset: number, length: number): Promise<{ mapped: boolean; length: number }> {
    const ps = this.pageSize;
    const isMapped = (pos: number) => this.written[Math.floor(pos / ps)] === 1;
    const mapped = isMapped(offset);
    let end = offset;
    while (end < offset + length && isMapped(end) === mapped) end = (Math.floor(end / ps) + 1) * ps;
    return { mapped, length: Math.max(this.blockSize, Math.min(end, offset + length) - offset) };
  }

  async resize(newSizeBytes: number): Promise<void> {
    if (newSizeBytes < this.sizeBytes) throw new Error(`ramdisk cannot shrink from ${this.sizeBytes} to ${newSizeBytes} bytes`);
    this.sizeBytes = newSizeBytes - (newSizeBytes % this.blockSize);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.regions = [];
  }

  private check(): void {
    if (this.closed) throw new Error("ramdisk is closed");
  }
}

/** One zero buffer shared by every ramdisk, grown to the largest read of unwritten pages (readers never write into read buffers: Backstore.read). */
let zeroBuffer = Buffer.alloc(0);

function zeros(length: number): Buffer {
  if (zeroBuffer.length < length) zeroBuffer = Buffer.alloc(Math.max(length, 1 << 20));
  return zeroBuffer.subarray(0, length);
}

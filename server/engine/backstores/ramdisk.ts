/**
 * ramdisk (LIO rd_mcp): memory allocated lazily in fixed pages, so a large
 * ramdisk costs nothing until written. Unwritten pages read as zeros; unmap
 * drops whole pages and zeroes partial ones.
 */
import type { Backstore } from "./backstore";

/** 1 MiB pages: most reads (≤ MaxBurstLength) fall inside one page and are returned without a copy. */
export const RAMDISK_PAGE_SIZE = 1 << 20;

export class RamdiskBackstore implements Backstore {
  readonly plugin = "ramdisk" as const;
  readonly writeBack = false;
  readonly reclaims = true;
  private readonly pages = new Map<number, Buffer>();
  private closed = false;

  constructor(
    readonly blockSize: number,
    public sizeBytes: number,
    readonly pageSize = RAMDISK_PAGE_SIZE,
  ) {}

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

  /** Bytes of memory currently allocated (for tests and statistics). */
  get allocatedBytes(): number {
    return this.pages.size * this.pageSize;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    return this.readPages(offset, length);
  }

  private readPages(offset: number, length: number): Buffer {
    this.check();
    const ps = this.pageSize;
    const first = Math.floor(offset / ps);
    const inPage = offset - first * ps;
    if (inPage + length <= ps) {
      const page = this.pages.get(first);
      // A view into the page: no copy on the hot path (the Backstore contract allows it).
      return page ? page.subarray(inPage, inPage + length) : Buffer.alloc(length);
    }
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const idx = Math.floor(pos / ps);
      const off = pos - idx * ps;
      const n = Math.min(ps - off, length - done);
      const page = this.pages.get(idx);
      if (page) page.copy(out, done, off, off + n);
      done += n;
    }
    return out;
  }

  async write(offset: number, data: Buffer, _fua: boolean): Promise<void> {
    this.writePages(offset, data);
  }

  /** Write-through by nature: the data is in the pages (the medium) on return, FUA or not. */
  private writePages(offset: number, data: Buffer): void {
    this.check();
    const ps = this.pageSize;
    let done = 0;
    while (done < data.length) {
      const pos = offset + done;
      const idx = Math.floor(pos / ps);
      const off = pos - idx * ps;
      const n = Math.min(ps - off, data.length - done);
      let page = this.pages.get(idx);
      if (!page) {
        page = Buffer.alloc(ps);
        this.pages.set(idx, page);
      }
      data.copy(page, off, done, done + n);
      done += n;
    }
  }

  async flush(): Promise<void> {
    this.check();
  }

  async unmap(offset: number, length: number): Promise<void> {
    this.check();
    const ps = this.pageSize;
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const idx = Math.floor(pos / ps);
      const off = pos - idx * ps;
      const n = Math.min(ps - off, length - done);
      if (off === 0 && n === ps) this.pages.delete(idx);
      else this.pages.get(idx)?.fill(0, off, off + n);
      done += n;
    }
  }

  async status(offset: number, length: number): Promise<{ mapped: boolean; length: number }> {
    const ps = this.pageSize;
    const mapped = this.pages.has(Math.floor(offset / ps));
    let end = offset;
    while (end < offset + length && this.pages.has(Math.floor(end / ps)) === mapped) end = (Math.floor(end / ps) + 1) * ps;
    return { mapped, length: Math.max(this.blockSize, Math.min(end, offset + length) - offset) };
  }

  async resize(newSizeBytes: number): Promise<void> {
    if (newSizeBytes < this.sizeBytes) throw new Error(`ramdisk cannot shrink from ${this.sizeBytes} to ${newSizeBytes} bytes`);
    this.sizeBytes = newSizeBytes - (newSizeBytes % this.blockSize);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pages.clear();
  }

  private check(): void {
    if (this.closed) throw new Error("ramdisk is closed");
  }
}

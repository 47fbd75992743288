/**
 * Reused IO buffers. A fresh Buffer per command (a 4 KiB rbd read, a 1 MiB Data-Out gather
 * buffer) is external memory to V8: tens of MB per second of it start major garbage
 * collections that walk the whole appliance heap (docs/performance.md, rbd). A pool hands
 * out buffers of an exact size and takes them back once their user is done with them.
 *
 * Only free buffers are held here: a buffer that is never given back is collected as usual,
 * so an error path that forgets one leaks nothing. Buffers handed out are remembered (a
 * WeakSet) so a foreign buffer or a second give() of the same one is ignored rather than
 * handed to two users.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private readonly out = new WeakSet<Buffer>();
  private bytes = 0;

  /**
   * @param maxBytes free bytes kept in all (beyond that, given-back buffers are dropped)
   * @param maxPerSize free buffers kept per size
   */
  constructor(
    private readonly maxBytes = 64 * 1024 * 1024,
    private readonly maxPerSize = 256,
  ) {}

  /** A buffer of exactly `size` bytes (contents undefined), its own memory (not a view of a shared slab). */
  take(size: number): Buffer {
    let b = this.free.get(size)?.pop();
    if (b) this.bytes -= size;
    else b = Buffer.allocUnsafeSlow(size);
    this.out.add(b);
    return b;
  }

  /** Takes back a buffer from take() that nothing references any more; anything else is ignored. */
  give(b: Buffer): void {
    if (!this.out.delete(b)) return;
    let list = this.free.get(b.length);
    if (!list) {
      list = [];
      this.free.set(b.length, list);
    }
    if (list.length >= this.maxPerSize || this.bytes + b.length > this.maxBytes) return;
    list.push(b);
    this.bytes += b.length;
  }

  /** Free bytes held (tests). */
  get freeBytes(): number {
    return this.bytes;
  }
}

/**
 * Read buffers of every backstore that reads into buffers of its own (fileio, block, rbd), given
 * back by the transport once their Data-In has been written (Backstore.releaseRead). A fresh 4 KiB
 * or 1 MiB Buffer per read made V8 run major GCs over the whole appliance heap (docs/performance.md,
 * rbd and fileio/block). One pool, so
 * one bound on the free memory held, and a buffer one backstore took (an rbd read forwarded to the
 * owner's backstore) is taken back whichever backstore's releaseRead sees it.
 */
export const readBuffers = new BufferPool();

/** BufferPool: exact sizes, reuse after give(), foreign and repeated give() ignored, bounded free memory. */
import { describe, expect, it } from "vitest";
import { BufferPool } from "../../../server/engine/core/buffer-pool";

describe("BufferPool", () => {
  it("hands out buffers of the exact size, each its own memory, and reuses one given back", () => {
    const p = new BufferPool();
    const a = p.take(4096);
    const b = p.take(4096);
    expect(a.length).toBe(4096);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(4096);
    expect(a.buffer).not.toBe(b.buffer);
    p.give(a);
    expect(p.freeBytes).toBe(4096);
    expect(p.take(4096)).toBe(a);
    expect(p.freeBytes).toBe(0);
    expect(p.take(8192).length).toBe(8192);
  });

  it("ignores a buffer it did not hand out and a second give of the same one", () => {
    const p = new BufferPool();
    p.give(Buffer.allocUnsafeSlow(4096));
    expect(p.freeBytes).toBe(0);
    const a = p.take(4096);
    p.give(a);
    p.give(a);
    expect(p.freeBytes).toBe(4096);
    const x = p.take(4096);
    const y = p.take(4096);
    expect(x).toBe(a);
    expect(y).not.toBe(a); // never handed to two users
  });

  it("keeps at most maxBytes and maxPerSize free", () => {
    const p = new BufferPool(10_000, 2);
    const bufs = [p.take(4096), p.take(4096), p.take(4096)];
    for (const b of bufs) p.give(b);
    expect(p.freeBytes).toBe(8192);
    const big = p.take(8192);
    p.give(big); // 8192 more would exceed 10 000
    expect(p.freeBytes).toBe(8192);
  });
});

/**
 * queue_depth: at most that many commands of one storage object in flight to the
 * backstore; the rest wait their turn (they are not failed), in order. Read live.
 */
import { describe, expect, it } from "vitest";
import { RamdiskBackstore } from "../../../server/engine/backstores/ramdisk";
import type { Backstore } from "../../../server/engine/backstores/backstore";
import { ScsiDisk } from "../../../server/engine/scsi/disk";
import { ScsiStatus } from "../../../server/engine/scsi/types";
import { makeInfo, makeView, rw10, run, task } from "./helpers";

/** A ramdisk whose reads and writes wait until released, counting how many are in flight. */
function slowBackstore() {
  const inner = new RamdiskBackstore(512, 2048 * 512);
  const pending: (() => void)[] = [];
  const stats = { now: 0, max: 0, started: 0 };
  const gate = async () => {
    stats.now++;
    stats.started++;
    stats.max = Math.max(stats.max, stats.now);
    await new Promise<void>((r) => pending.push(r));
    stats.now--;
  };
  const backstore: Backstore = {
    plugin: "ramdisk",
    blockSize: 512,
    get sizeBytes() { return inner.sizeBytes; },
    writeBack: false,
    async read(off, len) { await gate(); return inner.read(off, len); },
    async write(off, data, fua) { await gate(); return inner.write(off, data, fua); },
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
  /** Releases every backstore call waiting now. */
  const releaseAll = () => { for (const r of pending.splice(0)) r(); };
  return { backstore, stats, releaseAll, pending };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("queue_depth", () => {
  it("keeps at most queue_depth commands in flight to the backstore; the rest wait and then succeed", async () => {
    const slow = slowBackstore();
    const info = makeInfo(slow.backstore, { queue_depth: 2 });
    const disk = new ScsiDisk(info);
    const view = makeView(disk);
    const results = Array.from({ length: 5 }, (_, i) => run(disk, task(rw10(0x28, i, 1), { taskTag: 10 + i, expectedDataTransferLength: 512 }), view));
    await tick();
    expect(slow.stats.started).toBe(2);
    expect(disk.ioQueue).toEqual({ inflight: 2, waiting: 3 });
    // Commands that do not touch the backstore are not held behind the queue.
    const inquiry = await run(disk, task([0x12, 0, 0, 0, 96, 0], { expectedDataTransferLength: 96 }), view);
    expect(inquiry.status).toBe(ScsiStatus.GOOD);
    while (slow.stats.started < 5 || slow.pending.length) {
      expect(slow.stats.now).toBeLessThanOrEqual(2);
      slow.releaseAll();
      await tick();
    }
    const done = await Promise.all(results);
    expect(done.map((r) => r.status)).toEqual([0, 0, 0, 0, 0]);
    expect(slow.stats.max).toBe(2);
    expect(disk.ioQueue).toEqual({ inflight: 0, waiting: 0 });
  });

  it("reads queue_depth live: a raised depth lets waiting commands through", async () => {
    const slow = slowBackstore();
    const info = makeInfo(slow.backstore, { queue_depth: 1 });
    const disk = new ScsiDisk(info);
    const view = makeView(disk);
    const results = Array.from({ length: 4 }, (_, i) => run(disk, task(rw10(0x2a, i, 1), { taskTag: 20 + i, dataOut: Buffer.alloc(512, i) }), view));
    await tick();
    expect(slow.stats.started).toBe(1);
    (info.attributes as Record<string, number>).queue_depth = 8;
    slow.releaseAll();
    await tick();
    // The first release admits everyone still waiting under the new depth.
    expect(slow.stats.now).toBe(3);
    while (slow.pending.length) {
      slow.releaseAll();
      await tick();
    }
    // No nexusCreated here, so no power-on unit attention: every write succeeds.
    expect((await Promise.all(results)).map((r) => r.status)).toEqual([0, 0, 0, 0]);
  });
});

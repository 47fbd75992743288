import { describe, expect, it } from "vitest";
import { IoSampler, type MinuteAggregate, type SampleEvent } from "../../../server/engine/core/sampler";
import { Counter, IoKind, IoStats } from "../../../server/engine/core/stats";
import { ScsiStatus } from "../../../server/engine/scsi/types";

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0); // on a minute boundary

/** Stats and sampler on fake clocks: `lat` for latencies (ms), `wall` for the sampler. */
function setup(capacity = 900) {
  const clocks = { lat: 0, wall: T0 };
  const stats = new IoStats({ clock: () => clocks.lat, wallClock: () => clocks.wall });
  const session = stats.openSession("s1", { initiatorName: "iqn.i", targetName: "iqn.t", tpgTag: 1 });
  const conn = stats.openConnection(session, 0, "127.0.0.1:1");
  const lun = stats.lun("iqn.t", 1, 0, "disk0", "ramdisk");
  const h = stats.handle(session, conn, lun);
  const sampler = new IoSampler(stats, { clock: () => clocks.wall, capacity });
  /** n commands of `kind`, each `us` long, `bytes` each. */
  const io = (n: number, kind: IoKind, us: number, bytes: number) => {
    for (let i = 0; i < n; i++) {
      const t = h.start();
      clocks.lat += us / 1000;
      h.done(t, kind, bytes, ScsiStatus.GOOD, -1);
    }
  };
  const second = (ms = 1000) => {
    clocks.wall += ms;
    sampler.tick();
  };
  return { clocks, stats, session, conn, lun, h, sampler, io, second };
}

describe("IoSampler", () => {
  it("computes IOPS, MB/s, latency percentiles and queue depth from deltas", () => {
    const { stats, sampler, io, second, h } = setup();
    io(50, IoKind.READ, 3000, 1_000_000); // history before the sampler starts: not a spike
    sampler.baseline();
    io(100, IoKind.READ, 100, 4096);
    io(10, IoKind.WRITE, 1000, 65536);
    io(5, IoKind.OTHER, 10, 0);
    const open = [h.start(), h.start(), h.start()];
    second();
    const s = sampler.latest("lun", "iqn.t|1|0")!;
    expect(s.readIops).toBeCloseTo(100, 3);
    expect(s.writeIops).toBeCloseTo(10, 3);
    expect(s.otherIops).toBeCloseTo(5, 3);
    expect(s.readMBps).toBeCloseTo(0.4096, 4);
    expect(s.writeMBps).toBeCloseTo(0.65536, 4);
    expect(s.readP50Us).toBeGreaterThanOrEqual(64);
    expect(s.readP50Us).toBeLessThanOrEqual(100);
    expect(s.readMaxUs).toBeCloseTo(100, 2);
    expect(s.writeP99Us).toBeLessThanOrEqual(1000.01);
    expect(s.writeP99Us).toBeGreaterThanOrEqual(512);
    expect(s.writeMaxUs).toBeCloseTo(1000, 2);
    expect(s.inFlight).toBe(3);
    // Little's law: 100×100 µs + 10×1000 µs + 5×10 µs in 1 s = 0.02005
    expect(s.avgInFlight).toBeCloseTo(0.02005, 5);
    const a = sampler.latest("appliance")!;
    expect(a.readIops).toBeCloseTo(100, 3);
    const sess = sampler.latest("session", "s1")!;
    expect(sess.writeIops).toBeCloseTo(10, 3);
    for (const t of open) h.done(t, IoKind.READ, 0, ScsiStatus.GOOD, -1);
    expect(stats.appliance.c[Counter.IN_FLIGHT]).toBe(0);
  });

  it("owns the latency-maxima intervals alone: other readers take snapshots that reset nothing", () => {
    const { stats, sampler, io, second, lun } = setup();
    sampler.baseline();
    io(1, IoKind.READ, 800, 512);
    // A second reader (before: a second sampler zeroed the maxima it read, so one of the two saw 0).
    expect(() => new IoSampler(stats)).toThrow(/already read by the 1 Hz sampler/);
    const copy = stats.snapshot(lun);
    expect(copy[Counter.READ_LATENCY_MAX_US]).toBeCloseTo(800, 3);
    copy[Counter.READ_LATENCY_MAX_US] = 0; // a copy: the counters are not touched
    stats.snapshot(lun);
    second();
    expect(sampler.latest("lun", "iqn.t|1|0")!.readMaxUs).toBeCloseTo(800, 3);
    // The sampler's tick started the next interval.
    expect(stats.snapshot(lun)[Counter.READ_LATENCY_MAX_US]).toBe(0);
    sampler.dispose();
    const next = new IoSampler(stats);
    next.dispose();
  });

  it("divides by the real interval and resets the per-interval max", () => {
    const { sampler, io, second } = setup();
    sampler.baseline();
    io(300, IoKind.READ, 5000, 512);
    second(2000); // a late tick: 2 s of counts
    expect(sampler.latest("lun", "iqn.t|1|0")!.readIops).toBeCloseTo(150, 3);
    io(1, IoKind.READ, 10, 512);
    second();
    const s = sampler.latest("lun", "iqn.t|1|0")!;
    expect(s.readIops).toBeCloseTo(1, 3);
    expect(s.readMaxUs).toBeCloseTo(10, 3);
    expect(s.readP99Us).toBeLessThanOrEqual(10.001);
    second();
    const idle = sampler.latest("lun", "iqn.t|1|0")!;
    expect(idle.readIops).toBe(0);
    expect(idle.readMaxUs).toBe(0);
    expect(idle.readP50Us).toBe(0);
  });

  it("takes the first tick as baseline and survives the clock stepping back", () => {
    const { sampler, io, second, clocks } = setup();
    io(10, IoKind.READ, 10, 512);
    sampler.tick(); // baseline only
    expect(sampler.latest("appliance")).toBeUndefined();
    io(10, IoKind.READ, 10, 512);
    clocks.wall -= 5000;
    sampler.tick(); // re-baseline, no negative rate
    expect(sampler.latest("appliance")).toBeUndefined();
    io(4, IoKind.READ, 10, 512);
    second();
    expect(sampler.latest("appliance")!.readIops).toBeCloseTo(4, 3);
  });

  it("keeps the last `capacity` samples in a ring, oldest first", () => {
    const { sampler, io, second, clocks } = setup(5);
    sampler.baseline();
    for (let i = 1; i <= 12; i++) {
      io(i, IoKind.WRITE, 10, 512);
      second();
    }
    const h = sampler.history("lun", "iqn.t|1|0")!;
    expect(h.t.length).toBe(5);
    expect(h.columns.writeIops.map((v) => Math.round(v))).toEqual([8, 9, 10, 11, 12]);
    expect(h.t[4]).toBe(clocks.wall);
    expect(h.t[0]).toBe(clocks.wall - 4000);
    const last2 = sampler.history("lun", "iqn.t|1|0", 2)!;
    expect(last2.columns.writeIops.map((v) => Math.round(v))).toEqual([11, 12]);
  });

  it("follows sessions that come and go; history only covers a series' own samples", () => {
    const { stats, sampler, second } = setup();
    sampler.baseline();
    second();
    second();
    const s2 = stats.openSession("s2", { initiatorName: "iqn.j", targetName: "iqn.t", tpgTag: 1 });
    const c2 = stats.openConnection(s2, 0, "127.0.0.1:2");
    const h2 = stats.handle(s2, c2, stats.lun("iqn.t", 1, 0, "disk0", "ramdisk"));
    h2.done(h2.start(), IoKind.READ, 512, ScsiStatus.GOOD, -1); // before the sampler saw s2
    second();
    expect(sampler.latest("session", "s2")!.readIops).toBeCloseTo(1, 3); // counted from zero
    expect(sampler.history("session", "s2")!.t.length).toBe(1);
    expect(sampler.history("session", "s1")!.t.length).toBe(3);
    stats.closeSession(s2);
    second();
    expect(sampler.latest("session", "s2")).toBeUndefined();
  });

  it("emits 'sample' events only to listeners", () => {
    const { sampler, io, second } = setup();
    const events: SampleEvent[] = [];
    sampler.baseline();
    second();
    const fn = (e: SampleEvent) => events.push(e);
    sampler.on("sample", fn);
    io(7, IoKind.READ, 10, 512);
    second();
    sampler.off("sample", fn);
    second();
    expect(events.length).toBe(1);
    expect(events[0].appliance.readIops).toBeCloseTo(7, 3);
    expect(events[0].luns[0]).toMatchObject({ key: "iqn.t|1|0", storageObject: "disk0", tpgTag: 1, lun: 0 });
    expect(events[0].sessions[0]).toMatchObject({ id: "s1", initiatorName: "iqn.i" });
    expect(events[0].interval).toBe(1);
  });

  it("a throwing listener does not break sampling", () => {
    const { sampler, second } = setup();
    sampler.baseline();
    sampler.on("sample", () => {
      throw new Error("boom");
    });
    expect(() => second()).not.toThrow();
    expect((sampler.lastError as Error).message).toBe("boom");
  });

  it("hands minute aggregates to onMinute at each minute boundary", () => {
    const { sampler, io, second } = setup();
    const minutes: MinuteAggregate[][] = [];
    const off = sampler.onMinute((a) => minutes.push(a));
    sampler.baseline();
    for (let i = 0; i < 60; i++) {
      io(10, IoKind.READ, i === 30 ? 9000 : 100, 4096);
      second();
    }
    expect(minutes.length).toBe(1);
    const lun = minutes[0].find((a) => a.scope === "lun")!;
    expect(lun.minute).toBe(T0);
    expect(lun.samples).toBe(60);
    expect(lun.readCommands).toBe(600);
    expect(lun.readBytes).toBe(600 * 4096);
    expect(lun.readMaxUs).toBeCloseTo(9000, 1);
    expect(lun.readP50Us).toBeLessThan(128);
    // Little's law over the minute: (590×100 µs + 10×9000 µs) in 60 s.
    expect(lun.avgInFlight).toBeCloseTo(149_000 / 60e6, 7);
    expect(lun).toMatchObject({ targetName: "iqn.t", tpgTag: 1, lun: 0, storageObject: "disk0" });
    expect(minutes[0].map((a) => a.scope).sort()).toEqual(["appliance", "lun", "session"]);
    off();
    for (let i = 0; i < 60; i++) second();
    expect(minutes.length).toBe(1);
  });

  it("closeCurrentMinute() hands over the minute in progress (shutdown), and nothing before a minute started", () => {
    const { sampler, io, second } = setup();
    const minutes: MinuteAggregate[][] = [];
    sampler.onMinute((a) => minutes.push(a));
    expect(sampler.closeCurrentMinute()).toBe(false);
    sampler.baseline();
    for (let i = 0; i < 20; i++) {
      io(5, IoKind.WRITE, 100, 4096);
      second();
    }
    expect(minutes.length).toBe(0);
    expect(sampler.closeCurrentMinute()).toBe(true);
    expect(minutes.length).toBe(1);
    const lun = minutes[0].find((a) => a.scope === "lun")!;
    expect(lun).toMatchObject({ minute: T0, samples: 20, writeCommands: 100, writeBytes: 100 * 4096 });
  });

  it("start() runs an unref'd timer and stop() ends it", async () => {
    const stats = new IoStats();
    const sampler = new IoSampler(stats, { intervalMs: 10 });
    const got: SampleEvent[] = [];
    sampler.on("sample", (e) => got.push(e));
    sampler.start();
    await new Promise((r) => setTimeout(r, 60));
    sampler.stop();
    const n = got.length;
    expect(n).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 40));
    expect(got.length).toBe(n);
  });
});

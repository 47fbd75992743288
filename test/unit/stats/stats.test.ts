import { describe, expect, it } from "vitest";
import {
  Counter,
  HISTOGRAM_BUCKETS,
  IoKind,
  IoStats,
  errorCount,
  unitAttentionCount,
  histogramQuantile,
  ioKindOfCdb,
  latencyBucket,
  loginFailureReason,
  senseKeyOf,
} from "../../../server/engine/core/stats";
import { ScsiStatus } from "../../../server/engine/scsi/types";

/** A registry with a hand-driven latency clock (ms). */
function setup() {
  let now = 1000;
  const stats = new IoStats({ clock: () => now, wallClock: () => 1_700_000_000_000 });
  const session = stats.openSession("s1", { initiatorName: "iqn.1994-05.com.redhat:a", targetName: "iqn.2003-01.org.x:t", tpgTag: 1 });
  const conn = stats.openConnection(session, 0, "10.0.0.2:50000");
  const lun = stats.lun("iqn.2003-01.org.x:t", 1, 0, "disk0", "ramdisk");
  const h = stats.handle(session, conn, lun);
  const advance = (ms: number) => {
    now += ms;
  };
  return { stats, session, conn, lun, h, advance };
}

describe("latencyBucket", () => {
  it("puts [2^i, 2^(i+1)) µs in bucket i", () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(0.5)).toBe(0);
    expect(latencyBucket(1)).toBe(0);
    expect(latencyBucket(1.999)).toBe(0);
    expect(latencyBucket(2)).toBe(1);
    expect(latencyBucket(3.99)).toBe(1);
    expect(latencyBucket(4)).toBe(2);
    for (let i = 1; i < 31; i++) {
      expect(latencyBucket(2 ** i)).toBe(i);
      expect(latencyBucket(2 ** (i + 1) - 0.001)).toBe(i);
    }
  });
  it("clamps the top, NaN and negatives", () => {
    expect(latencyBucket(2 ** 31)).toBe(HISTOGRAM_BUCKETS - 1);
    expect(latencyBucket(1e15)).toBe(HISTOGRAM_BUCKETS - 1);
    expect(latencyBucket(-5)).toBe(0);
    expect(latencyBucket(NaN)).toBe(0);
  });
});

describe("histogramQuantile", () => {
  it("interpolates inside the bucket", () => {
    const h = new Float64Array(32);
    h[6] = 100; // [64, 128) µs
    expect(histogramQuantile(h, 0, 0.5)).toBeCloseTo(96, 9);
    expect(histogramQuantile(h, 0, 0.99)).toBeCloseTo(64 + 0.99 * 64, 9);
  });
  it("finds the right bucket across several and honours an offset", () => {
    const h = new Float64Array(40);
    // offset 8: 90 commands in bucket 3 [8,16), 10 in bucket 10 [1024,2048)
    h[8 + 3] = 90;
    h[8 + 10] = 10;
    expect(histogramQuantile(h, 8, 0.5)).toBeGreaterThanOrEqual(8);
    expect(histogramQuantile(h, 8, 0.5)).toBeLessThan(16);
    expect(histogramQuantile(h, 8, 0.9)).toBe(16); // exactly the end of the first bucket
    const p99 = histogramQuantile(h, 8, 0.99);
    expect(p99).toBeGreaterThanOrEqual(1024);
    expect(p99).toBeLessThan(2048);
  });
  it("is capped by the maximum and 0 when empty", () => {
    const h = new Float64Array(32);
    expect(histogramQuantile(h, 0, 0.5)).toBe(0);
    h[10] = 1;
    expect(histogramQuantile(h, 0, 0.99, 1100)).toBe(1100);
    h[31] = 1;
    expect(histogramQuantile(h, 0, 1, 5e9)).toBe(5e9);
  });
  it("bucket 0 starts at 0 µs", () => {
    const h = new Float64Array(32);
    h[0] = 10;
    expect(histogramQuantile(h, 0, 0.5)).toBeCloseTo(1, 9);
  });
});

describe("ioKindOfCdb and senseKeyOf", () => {
  it("classifies READ/WRITE opcodes", () => {
    for (const op of [0x08, 0x28, 0xa8, 0x88]) expect(ioKindOfCdb(Buffer.from([op, 0]))).toBe(IoKind.READ);
    for (const op of [0x0a, 0x2a, 0xaa, 0x8a, 0x2e, 0x89]) expect(ioKindOfCdb(Buffer.from([op, 0]))).toBe(IoKind.WRITE);
    for (const op of [0x12, 0x00, 0x35, 0x91, 0x93, 0x42, 0xa0]) expect(ioKindOfCdb(Buffer.from([op, 0]))).toBe(IoKind.OTHER);
    expect(ioKindOfCdb(Buffer.alloc(0))).toBe(IoKind.OTHER);
  });
  it("reads the sense key of fixed and descriptor sense", () => {
    const fixed = Buffer.alloc(18);
    fixed[0] = 0x70;
    fixed[2] = 0x03;
    expect(senseKeyOf(fixed)).toBe(3);
    const desc = Buffer.alloc(8);
    desc[0] = 0x72;
    desc[1] = 0x05;
    expect(senseKeyOf(desc)).toBe(5);
    expect(senseKeyOf(undefined)).toBe(-1);
    expect(senseKeyOf(Buffer.from([0x00, 0, 0]))).toBe(-1);
  });
});

describe("IoHandle counters", () => {
  it("counts commands, bytes, latency and in-flight at every level", () => {
    const { stats, session, conn, lun, h, advance } = setup();
    const t1 = h.start();
    const t2 = h.start();
    const t3 = h.start();
    for (const c of [session.c, conn.c, lun.c, stats.appliance.c]) expect(c[Counter.IN_FLIGHT]).toBe(3);
    advance(0.1); // 100 µs
    h.done(t1, IoKind.READ, 4096, ScsiStatus.GOOD, -1);
    advance(0.9); // t2 took 1000 µs
    h.done(t2, IoKind.WRITE, 8192, ScsiStatus.GOOD, -1);
    h.done(t3, IoKind.OTHER, 0, ScsiStatus.GOOD, -1);
    for (const c of [session.c, conn.c, lun.c, stats.appliance.c]) {
      expect(c[Counter.IN_FLIGHT]).toBe(0);
      expect(c[Counter.READ_COMMANDS]).toBe(1);
      expect(c[Counter.WRITE_COMMANDS]).toBe(1);
      expect(c[Counter.OTHER_COMMANDS]).toBe(1);
      expect(c[Counter.READ_BYTES]).toBe(4096);
      expect(c[Counter.WRITE_BYTES]).toBe(8192);
      expect(c[Counter.READ_LATENCY_SUM_US]).toBeCloseTo(100, 6);
      expect(c[Counter.WRITE_LATENCY_SUM_US]).toBeCloseTo(1000, 6);
      expect(c[Counter.READ_HISTOGRAM + 6]).toBe(1); // 100 µs ∈ [64,128)
      expect(c[Counter.WRITE_HISTOGRAM + 9]).toBe(1); // 1000 µs ∈ [512,1024)
      expect(c[Counter.READ_LATENCY_MAX_US]).toBeCloseTo(100, 6);
    }
  });

  it("counts errors by sense key and by status", () => {
    const { lun, h } = setup();
    h.done(h.start(), IoKind.READ, 0, ScsiStatus.CHECK_CONDITION, 3);
    h.done(h.start(), IoKind.WRITE, 0, ScsiStatus.CHECK_CONDITION, 5);
    h.done(h.start(), IoKind.WRITE, 0, ScsiStatus.CHECK_CONDITION, 5);
    h.done(h.start(), IoKind.OTHER, 0, ScsiStatus.RESERVATION_CONFLICT, -1);
    h.done(h.start(), IoKind.READ, 0, ScsiStatus.TASK_ABORTED, 0);
    h.done(h.start(), IoKind.READ, 512, ScsiStatus.GOOD, -1);
    h.done(h.start(), IoKind.READ, 512, ScsiStatus.CONDITION_MET, -1);
    expect(lun.c[Counter.ERRORS_BY_SENSE_KEY + 3]).toBe(1);
    expect(lun.c[Counter.ERRORS_BY_SENSE_KEY + 5]).toBe(2);
    expect(lun.c[Counter.STATUS_ERRORS + 1]).toBe(1);
    expect(lun.c[Counter.STATUS_ERRORS + 4]).toBe(1);
    expect(errorCount(lun.c)).toBe(5);
    expect(lun.c[Counter.READ_COMMANDS]).toBe(4);
    // A unit attention (29h/00h after a login) is counted apart, not as an error.
    h.done(h.start(), IoKind.OTHER, 0, ScsiStatus.CHECK_CONDITION, 6);
    expect(errorCount(lun.c)).toBe(5);
    expect(unitAttentionCount(lun.c)).toBe(1);
  });

  it("does nothing when disabled, and finishes commands started before the switch", () => {
    const { stats, lun, h } = setup();
    const before = h.start();
    stats.enabled = false;
    const t = h.start();
    expect(t).toBe(-1);
    h.done(t, IoKind.READ, 4096, ScsiStatus.GOOD, -1);
    expect(lun.c[Counter.READ_COMMANDS]).toBe(0);
    h.done(before, IoKind.READ, 4096, ScsiStatus.GOOD, -1);
    expect(lun.c[Counter.READ_COMMANDS]).toBe(1);
    expect(lun.c[Counter.IN_FLIGHT]).toBe(0);
  });

  it("accepts a shared clock read for start and done", () => {
    const { stats, lun, h } = setup();
    const now = stats.now();
    expect(now).toBe(1000);
    const t = h.start(now - 0.5);
    h.done(t, IoKind.READ, 512, ScsiStatus.GOOD, -1, now + 1.5); // 2000 µs
    expect(lun.c[Counter.READ_LATENCY_SUM_US]).toBeCloseTo(2000, 6);
    expect(lun.c[Counter.READ_HISTOGRAM + 10]).toBe(1); // 2000 µs ∈ [1024, 2048)
  });

  it("counts unmapped LUN commands in the appliance total only", () => {
    const { stats, session, conn, lun } = setup();
    const h = stats.handle(session, conn, undefined);
    h.done(h.start(), IoKind.OTHER, 0, ScsiStatus.CHECK_CONDITION, 5);
    expect(stats.appliance.c[Counter.OTHER_COMMANDS]).toBe(1);
    expect(session.c[Counter.OTHER_COMMANDS]).toBe(1);
    expect(lun.c[Counter.OTHER_COMMANDS]).toBe(0);
  });

  it("keeps byte totals exact beyond 2^32", () => {
    const { lun, h } = setup();
    for (let i = 0; i < 5; i++) h.done(h.start(), IoKind.WRITE, 2 ** 31, ScsiStatus.GOOD, -1);
    expect(lun.c[Counter.WRITE_BYTES]).toBe(5 * 2 ** 31);
  });
});

describe("IoStats registry", () => {
  it("keeps LUN totals when a session ends and removes the session", () => {
    const { stats, session, conn, lun, h } = setup();
    h.done(h.start(), IoKind.READ, 1000, ScsiStatus.GOOD, -1);
    const v = stats.version;
    stats.closeConnection(conn);
    stats.closeSession(session);
    stats.closeSession(session); // idempotent
    expect(stats.sessions.size).toBe(0);
    expect(stats.sessionsClosed).toBe(1);
    expect(stats.version).toBeGreaterThan(v);
    // A command finishing after the session closed still counts into the LUN.
    h.done(h.start(), IoKind.READ, 1000, ScsiStatus.GOOD, -1);
    expect(lun.c[Counter.READ_BYTES]).toBe(2000);
    expect(stats.lun("iqn.2003-01.org.x:t", 1, 0, "disk0", "ramdisk")).toBe(lun);
  });

  it("gives a LUN fresh counters when it exports another storage object", () => {
    const { stats, lun } = setup();
    const other = stats.lun("iqn.2003-01.org.x:t", 1, 0, "disk1", "fileio");
    expect(other).not.toBe(lun);
    expect(stats.luns.size).toBe(1);
    stats.removeLun("iqn.2003-01.org.x:t", 1, 0);
    expect(stats.luns.size).toBe(0);
  });

  it("counts logins by target and reason, and task management by function", () => {
    const stats = new IoStats();
    stats.loginSucceeded("iqn.t", 1);
    stats.loginSucceeded("iqn.t", 1);
    stats.loginFailed({ reason: "authentication_failed", message: "bad secret", targetName: "iqn.t", tpgTag: 1, at: 1 }, { targetName: "iqn.t", tpgTag: 1 });
    stats.loginFailed({ reason: loginFailureReason(2, 3), message: "no such target", targetName: "iqn.made-up", at: 2 });
    // One record per refusal: counted once, kept once (the made-up name is kept, never a label).
    expect(stats.loginFailuresTotal).toBe(2);
    expect(stats.recentLoginFailures().map((r) => [r.reason, r.targetName])).toEqual([
      ["authentication_failed", "iqn.t"],
      ["target_not_found", "iqn.made-up"],
    ]);
    const t = stats.logins.get("iqn.t|1")!;
    expect(t.successes).toBe(2);
    expect(t.failures[1]).toBe(1);
    expect(stats.logins.get("|")!.failures[3]).toBe(1);
    const s = stats.openSession("x", { initiatorName: "iqn.i" });
    const lun = stats.lun("iqn.t", 1, 2, "d", "block");
    stats.taskManagementRequest(5, s, lun);
    stats.taskManagementRequest(1, s);
    stats.taskManagementRequest(99);
    expect(stats.taskManagement[5]).toBe(1);
    expect(stats.taskManagement[1]).toBe(1);
    expect(stats.taskManagement[0]).toBe(1);
    expect(stats.resets).toBe(1);
    expect(lun.c[Counter.TASK_MANAGEMENT]).toBe(1);
    expect(s.c[Counter.TASK_MANAGEMENT]).toBe(2);
  });

  it("maps login status class/detail to reasons", () => {
    expect(loginFailureReason(2, 1)).toBe("authentication_failed");
    expect(loginFailureReason(2, 2)).toBe("authorization_failed");
    expect(loginFailureReason(2, 0x0b)).toBe("invalid_during_login");
    expect(loginFailureReason(2, 0x44)).toBe("initiator_error");
    expect(loginFailureReason(3, 1)).toBe("service_unavailable");
    expect(loginFailureReason(3, 2)).toBe("out_of_resources");
    expect(loginFailureReason(3, 0)).toBe("target_error");
    expect(loginFailureReason(1, 1)).toBe("protocol_error");
  });
});

/**
 * The poll window (iscsi/poll-window.ts): how long a connection keeps the event loop awake after
 * answering, and when it stops (gaps longer than the window, the setting at 0). Then the real
 * thing: the native idle handle over a real session on the engine, which must spin while
 * commands come back to back and not at all once the session is idle.
 */
import { afterEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { nativeAddon } from "../../../server/engine/backstores/native";
import {
  DEFAULT_POLL_US, GAP_FACTOR, MAX_POLL_US, MIN_WINDOW_US, OFF_MAX, OFF_WINDOWS, PollWindow, pollMaxUs, type LoopHolder,
} from "../../../server/engine/iscsi/poll-window";
import { IscsiClient } from "../../support/iscsi-client";
import { TARGET, startTarget, type Harness } from "./harness";

/** A window on a fake clock (µs) whose holds are recorded. */
function fake(maxUs = 100) {
  const holds: number[] = [];
  let t = 0;
  const holder: LoopHolder = { hold: (us) => holds.push(us) };
  const w = new PollWindow(maxUs, holder, () => t / 1000);
  /** One idle period: the window is armed, the initiator's next PDU comes `gapUs` later. */
  const cycle = (gapUs: number): number => {
    const before = holds.length;
    w.idle();
    t += gapUs;
    w.arrived();
    return holds.length > before ? holds[holds.length - 1] : 0;
  };
  return { w, holds, cycle };
}

describe("PollWindow", () => {
  it("holds the loop for the whole setting at first, then for a few times the gaps it catches", () => {
    const { cycle } = fake(100);
    expect(cycle(10)).toBe(100);
    let last = 0;
    for (let i = 0; i < 60; i++) last = cycle(10);
    expect(last).toBeGreaterThanOrEqual(GAP_FACTOR * 10);
    expect(last).toBeLessThan(GAP_FACTOR * 10 + 2);
    // Gaps of 2 µs: never shorter than the floor.
    for (let i = 0; i < 60; i++) last = cycle(2);
    expect(last).toBe(MIN_WINDOW_US);
  });

  it("lengthens the window again when gaps grow past it, up to the setting", () => {
    const { cycle } = fake(100);
    for (let i = 0; i < 60; i++) cycle(8);
    expect(cycle(8)).toBeLessThan(40);
    // Gaps of 60 µs: misses first (60 > window), the window grows and catches them.
    let last = 0, caught = 0;
    for (let i = 0; i < 40; i++) {
      last = cycle(60);
      if (last >= 60) caught++;
    }
    expect(last).toBeGreaterThanOrEqual(60);
    expect(last).toBeLessThanOrEqual(100);
    expect(caught).toBeGreaterThan(20);
  });

  it("stops polling when the gaps are longer than the setting, and tries again later, less often each time", () => {
    const { w, cycle } = fake(100);
    let n = 0;
    while (cycle(5000) > 0) n++;
    // A few misses switch it off (the running hit rate falls under one half).
    expect(n).toBeGreaterThan(3);
    expect(n).toBeLessThan(16);
    // Off for OFF_WINDOWS idle periods: no hold at all.
    let off = 0;
    while (cycle(5000) === 0) off++;
    expect(off).toBe(OFF_WINDOWS - 1);
    // The probe that followed (the last cycle) held the whole setting; a few more misses, then off for twice as long.
    expect(w.windowUs).toBe(100);
    while (cycle(5000) > 0);
    off = 0;
    while (cycle(5000) === 0) off++;
    expect(off).toBe(2 * OFF_WINDOWS - 1);
    // Never off for longer than OFF_MAX idle periods.
    for (let k = 0; k < 12; k++) {
      while (cycle(5000) > 0);
      off = 0;
      while (cycle(5000) === 0) off++;
    }
    expect(off).toBe(OFF_MAX - 1);
  });

  it("comes back on for good when commands follow closely again", () => {
    const { cycle } = fake(100);
    while (cycle(5000) > 0);
    for (let i = 0; i < OFF_WINDOWS; i++) cycle(30);
    // Probing again: the gaps are caught, so it stays on.
    let held = 0;
    for (let i = 0; i < 200; i++) if (cycle(30) > 0) held++;
    expect(held).toBe(200);
  });

  it("never holds when the setting is 0 or the loop cannot be held", () => {
    const off = fake(0);
    for (let i = 0; i < 10; i++) expect(off.cycle(10)).toBe(0);
    expect(off.holds).toEqual([]);
    const none = new PollWindow(100, null, () => 0);
    none.idle();
    expect(none.windowUs).toBe(0);
    expect(none.windows).toBe(0);
  });

  it("reads PORTICO_POLL_US: microseconds, 0 or off for none, bounded, the default when unreadable", () => {
    expect(pollMaxUs({})).toBe(DEFAULT_POLL_US);
    expect(pollMaxUs({ PORTICO_POLL_US: "50" })).toBe(50);
    expect(pollMaxUs({ PORTICO_POLL_US: "0" })).toBe(0);
    expect(pollMaxUs({ PORTICO_POLL_US: "off" })).toBe(0);
    expect(pollMaxUs({ PORTICO_POLL_US: "1e9" })).toBe(MAX_POLL_US);
    const warnings: string[] = [];
    expect(pollMaxUs({ PORTICO_POLL_US: "fast" }, (m) => warnings.push(m))).toBe(DEFAULT_POLL_US);
    expect(pollMaxUs({ PORTICO_POLL_US: "-5" }, (m) => warnings.push(m))).toBe(DEFAULT_POLL_US);
    // Garbage is said, not silently replaced.
    expect(warnings).toEqual([`PORTICO_POLL_US="fast" is not a number or off: using ${DEFAULT_POLL_US}`, `PORTICO_POLL_US="-5" is below 0 or off: using ${DEFAULT_POLL_US}`]);
  });
});

interface PollAddon { pollHold(us: number): void; pollSpins(): number }
const addon = nativeAddon as unknown as Partial<PollAddon> | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the native idle handle", () => {
  it("is built (npm test builds native/; without it there is no window)", () => {
    expect(typeof addon?.pollHold).toBe("function");
  });

  it("keeps the loop turning until the deadline, then lets it sleep", async () => {
    const a = addon as PollAddon;
    const s0 = a.pollSpins();
    // The loop turns while held (a turn yields the CPU: on a busy machine the deadline may pass first, so hold again).
    const t0 = Date.now();
    while (a.pollSpins() === s0 && Date.now() - t0 < 2000) {
      a.pollHold(5000);
      await sleep(1);
    }
    expect(a.pollSpins()).toBeGreaterThan(s0);
    await sleep(30);
    const s1 = a.pollSpins();
    await sleep(50);
    expect(a.pollSpins()).toBe(s1);
  });
});

describe("a session on the engine", () => {
  let h: Harness | undefined;
  let c: IscsiClient | undefined;
  const saved = process.env.PORTICO_POLL_US;
  afterEach(async () => {
    c?.close();
    await h?.close();
    h = c = undefined;
    if (saved === undefined) delete process.env.PORTICO_POLL_US;
    else process.env.PORTICO_POLL_US = saved;
  });

  /** READ(10)s one at a time; returns how many loop turns the window took over them and over the idle time after. */
  async function spinsAround(setting: string | undefined): Promise<{ busy: number; idle: number }> {
    if (setting === undefined) delete process.env.PORTICO_POLL_US;
    else process.env.PORTICO_POLL_US = setting;
    const a = addon as PollAddon;
    h = await startTarget();
    c = await IscsiClient.connect(h.port);
    await c.login({ targetName: TARGET, isid: randomBytes(6).toString("hex") });
    const s0 = a.pollSpins();
    for (let i = 0; i < 200; i++) expect((await c.read10(i * 8, 8)).status).toBe(0);
    // The window after the last answer ends within a millisecond.
    await sleep(20);
    const s1 = a.pollSpins();
    await sleep(100);
    return { busy: s1 - s0, idle: a.pollSpins() - s1 };
  }

  it("polls between commands that follow at once, and not at all when the session is idle", async () => {
    const r = await spinsAround(undefined);
    expect(r.busy).toBeGreaterThan(0);
    expect(r.idle).toBe(0);
  });

  it("does not poll with PORTICO_POLL_US=0", async () => {
    const r = await spinsAround("0");
    expect(r.busy).toBe(0);
    expect(r.idle).toBe(0);
  });
});

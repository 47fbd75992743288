/**
 * The poll window: after a connection has answered everything it was asked and waits for the
 * initiator's next command, the event loop is kept from going to sleep for a short while
 * (PORTICO_POLL_US, 100 µs by default), so a command that follows at once is picked up without
 * the process sleeping in epoll_wait and being woken again.
 *
 * Why: at queue depth 1 a command's time on a VM is dominated by the sleep and wake-up of the
 * two processes (docs/performance.md "The poll window"): on a Firecracker guest whose idle vCPU
 * halts, a wake-up is an inter-processor interrupt that exits to the host. The technique is
 * SPDK's pollers, NVMe hybrid polling and Linux's net.core.busy_poll, bounded and adaptive.
 *
 * How the loop is kept awake: the native addon's pollHold(us) starts an idle handle until the
 * deadline (native/portico_native.c). While an idle handle is active libuv polls epoll with a
 * zero timeout instead of blocking, and every turn still runs every callback: the window never
 * delays another connection's work, a timer or an IO completion (they are what it waits for).
 * Each empty turn calls sched_yield(), so a client on the same CPU (a loopback initiator, a VM)
 * runs at once rather than waiting for the window to end. Without the addon there is no window
 * (a setImmediate chain would keep the loop awake too, but cannot yield the CPU).
 *
 * Adaptive, per connection: a window ends in a hit (the next PDU arrived within it) or a miss.
 * While hits keep up (an average of at least HIT_RATE of recent windows) the window stays on and
 * its length follows the gaps seen (a few times their average, at most PORTICO_POLL_US); when
 * misses win (gaps longer than the window: an idle session, a client that thinks between
 * commands) the connection stops polling for OFF_WINDOWS idle periods, doubled each time it is
 * switched off again (up to OFF_MAX), then tries again. So an idle appliance spins at most one
 * window after its last answer, and a session whose commands are far apart costs a few wasted
 * windows per OFF_MAX commands.
 */
import { nativeAddon } from "../backstores/native";
import { envNumber, type Env } from "../core/env";

/** What keeps the event loop awake: the native addon's idle handle (tests give their own). */
export interface LoopHolder {
  /** Keep the loop from sleeping for the next `us` microseconds (a later deadline wins). */
  hold(us: number): void;
}

interface PollAddon {
  pollHold?(us: number): void;
}

/**
 * PORTICO_POLL_US: the longest window in µs; 0 or "off" switches the window off. Above
 * MAX_POLL_US it is MAX_POLL_US; garbage or a negative value gives the default, with a warning.
 */
export function pollMaxUs(env: Env = process.env, warn?: (message: string) => void): number {
  return Math.min(envNumber("PORTICO_POLL_US", { default: DEFAULT_POLL_US, min: 0, words: { off: 0 }, env, warn }), MAX_POLL_US);
}

export const DEFAULT_POLL_US = 100;
/** A ceiling on the setting: a window is a wait for a command that follows at once, not a spin. */
export const MAX_POLL_US = 2000;
/** The shortest window worth arming (a few loop turns). */
export const MIN_WINDOW_US = 20;
/** A window is this many times the average gap of recent hits (the tail of the gaps is caught too). */
export const GAP_FACTOR = 3;
/** The hit rate (running average over HIT_AVERAGE windows) under which the connection stops polling. */
export const HIT_RATE = 0.5;
/**
 * The hit rate is a running average over about this many windows (each new window weighs
 * 1/HIT_AVERAGE): long enough that one late command does not switch the window off, short
 * enough that an idle session stops polling after a few misses.
 */
export const HIT_AVERAGE = 16;
/**
 * The gap of the hits is a running average over about this many windows: the window follows
 * the initiator's pace (it changes with the load) faster than the hit rate changes.
 */
export const GAP_AVERAGE = 8;
/**
 * A hit rate at or above this (nearly every window caught its command) says the connection is
 * back to back again: the next switch-off starts from OFF_WINDOWS, not from the doubled length.
 * Above HIT_RATE with a margin, so that a rate hovering at the threshold keeps backing off.
 */
export const STEADY_HIT_RATE = 0.9;
/**
 * The hit rate a window gets when it is tried again after a switch-off: an even chance, a little
 * above HIT_RATE, so that three misses in a row (0.6 × (15/16)³ < 0.5) switch it off again and
 * a few hits keep it on.
 */
export const PROBE_HIT_RATE = 0.6;
/** Idle periods without a window after the first switch-off; doubled at each further one. */
export const OFF_WINDOWS = 64;
/** The longest switch-off, in idle periods: a connection that went quiet is tried again now and then. */
export const OFF_MAX = 4096;
const US_PER_MS = 1000;

function nativeHolder(): LoopHolder | null {
  const a = nativeAddon as PollAddon | undefined;
  const hold = a?.pollHold;
  return hold ? { hold: (us) => hold(us) } : null;
}

let sharedHolder: LoopHolder | null | undefined;

/** The process's holder: the native addon's, or null when it is not built (no window). */
export function defaultHolder(): LoopHolder | null {
  if (sharedHolder === undefined) sharedHolder = nativeHolder();
  return sharedHolder;
}

/** One connection's window: idle() when it has answered everything, arrived() when a chunk comes in. */
export class PollWindow {
  /** When the connection went idle (performance.now(), ms), or 0 when it is not waiting. */
  private idleAt = 0;
  /** The window armed at idleAt, µs (0: none was). */
  private armed = 0;
  /** Running average of hits (1) and misses (0), starts optimistic. */
  private hitRate = 1;
  /** Running average of the gaps of hits, µs. */
  private gapUs: number;
  /** Idle periods left without a window, and the length of the next switch-off. */
  private offLeft = 0;
  private offNext = OFF_WINDOWS;
  /** Counters (tests, measurements). */
  windows = 0;
  hits = 0;

  constructor(
    private readonly maxUs: number = pollMaxUs(),
    private readonly holder: LoopHolder | null = defaultHolder(),
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.gapUs = maxUs / GAP_FACTOR;
  }

  /** The window the next idle period gets, µs (0: none). */
  get windowUs(): number {
    if (this.maxUs <= 0 || !this.holder || this.offLeft > 0) return 0;
    return Math.min(this.maxUs, Math.max(MIN_WINDOW_US, GAP_FACTOR * this.gapUs));
  }

  /** The connection answered everything and waits for the initiator: hold the loop for a window. */
  idle(): void {
    this.idleAt = this.now();
    if (this.offLeft > 0) {
      this.offLeft--;
      this.armed = 0;
      return;
    }
    const w = this.windowUs;
    this.armed = w;
    if (w > 0) {
      this.windows++;
      this.holder!.hold(w);
    }
  }

  /** Something arrived from the initiator: score the window it ended. */
  arrived(): void {
    if (this.idleAt === 0) return;
    const gapUs = (this.now() - this.idleAt) * US_PER_MS;
    this.idleAt = 0;
    const w = this.armed;
    if (w === 0) return;
    this.armed = 0;
    if (gapUs <= w) {
      this.hits++;
      this.hitRate += (1 - this.hitRate) / HIT_AVERAGE;
      this.gapUs += (gapUs - this.gapUs) / GAP_AVERAGE;
      if (this.hitRate >= STEADY_HIT_RATE) this.offNext = OFF_WINDOWS;
      return;
    }
    this.hitRate -= this.hitRate / HIT_AVERAGE;
    // A miss's gap was measured through a sleep and wake-up (longer than the initiator's), but it
    // says the gaps are longer than this window: lengthen it, up to the setting.
    this.gapUs += (Math.min(gapUs, this.maxUs) - this.gapUs) / GAP_AVERAGE;
    if (this.hitRate < HIT_RATE) {
      this.offLeft = this.offNext;
      this.offNext = Math.min(OFF_MAX, this.offNext * 2);
      // The next probe gets the whole window and an even chance: a few misses switch it off again.
      this.hitRate = PROBE_HIT_RATE;
      this.gapUs = this.maxUs / GAP_FACTOR;
    }
  }
}

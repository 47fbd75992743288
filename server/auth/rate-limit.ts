/**
 * Login attempts, limited per client address: 5 attempts within 15 minutes that did not
 * succeed lock that address out for a delay that doubles with each further one
 * (30 s … 15 min). A success clears the address. In memory: a restart forgets, which only
 * helps the admin.
 *
 * An attempt counts as a failure from the moment it starts (`attempt`), before the
 * password is hashed, and only a success takes it back: otherwise parallel requests (or
 * a tRPC batch) all pass the check before the first failure is recorded, and 40 guesses
 * get evaluated instead of 5.
 */
const WINDOW_MS = 15 * 60_000;
const FREE_FAILURES = 5;
const BASE_LOCK_MS = 30_000;
const MAX_LOCK_MS = 15 * 60_000;

interface Entry {
  failures: number[];
  lockedUntil: number;
}

export class LoginRateLimiter {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Milliseconds the address must still wait, 0 if it may try. */
  retryAfter(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    return Math.max(0, e.lockedUntil - this.now());
  }

  /**
   * Starts an attempt: the milliseconds to wait when the address is locked out (nothing is
   * recorded then), else 0 and the attempt is already counted as a failure until `succeed`.
   */
  attempt(key: string): number {
    const wait = this.retryAfter(key);
    if (wait > 0) return wait;
    this.fail(key);
    return 0;
  }

  fail(key: string): void {
    const now = this.now();
    const e = this.entries.get(key) ?? { failures: [], lockedUntil: 0 };
    e.failures = e.failures.filter((t) => now - t < WINDOW_MS);
    e.failures.push(now);
    const over = e.failures.length - FREE_FAILURES;
    if (over >= 0) e.lockedUntil = now + Math.min(MAX_LOCK_MS, BASE_LOCK_MS * 2 ** over);
    this.entries.set(key, e);
    if (this.entries.size > 10_000) this.prune(now);
  }

  succeed(key: string): void {
    this.entries.delete(key);
  }

  private prune(now: number): void {
    for (const [k, e] of this.entries) if (e.lockedUntil < now && e.failures.every((t) => now - t >= WINDOW_MS)) this.entries.delete(k);
  }
}

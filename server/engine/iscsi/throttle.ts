/**
 * Login throttling per source address (issue 15 item 6): an initiator that keeps failing
 * authentication or authorization is refused for a while, the while doubling with each
 * further failure, so that a CHAP secret or an ACL name cannot be guessed at wire speed
 * (607 refused logins a second were accepted before; a 1-character secret fell in 11 tries).
 *
 * Only the source address is judged: other addresses log in as before, and sessions already
 * established are never touched (the check runs on a new connection's first Login Request).
 * A success does not clear the count: a discovery session, which needs no credentials on most
 * appliances, would otherwise reset it between guesses. Counts are forgotten after a quiet spell.
 *
 * Pure: the caller passes the time. The fabric (fabric.ts) asks `refusal()` before it evaluates a
 * login and reports `failed()` for each counted failure.
 */

export interface LoginThrottleOptions {
  /** Failures from one address (within `forgetAfterMs` of each other) before it is refused. */
  failures: number;
  /** The first refusal period; each further failure doubles it. */
  baseDelayMs: number;
  /** The longest refusal period. */
  maxDelayMs: number;
  /** An address with no failure for this long starts again from zero. */
  forgetAfterMs: number;
  /** Addresses remembered at most (the oldest are forgotten first). */
  maxAddresses: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  failures: 10,
  baseDelayMs: 1_000,
  maxDelayMs: 5 * 60_000,
  forgetAfterMs: 10 * 60_000,
  maxAddresses: 10_000,
};

interface AddressState {
  failures: number;
  last: number;
  blockedUntil: number;
}

export interface ThrottleRefusal {
  address: string;
  failures: number;
  retryAfterMs: number;
}

export class LoginThrottle {
  readonly options: LoginThrottleOptions;
  private readonly addresses = new Map<string, AddressState>();

  constructor(options: Partial<LoginThrottleOptions> = {}) {
    this.options = { ...DEFAULT_LOGIN_THROTTLE, ...options };
  }

  /** No address has a failure on record: no login can be refused (the caller need not know the address). */
  get empty(): boolean {
    return this.addresses.size === 0;
  }

  /** Is a login from `address` refused at `now`? */
  refusal(address: string, now: number): ThrottleRefusal | undefined {
    const s = this.addresses.get(address);
    if (!s) return undefined;
    if (now - s.last > this.options.forgetAfterMs) {
      this.addresses.delete(address);
      return undefined;
    }
    return s.blockedUntil > now ? { address, failures: s.failures, retryAfterMs: s.blockedUntil - now } : undefined;
  }

  /** A counted failure from `address`: returns the refusal period it starts (0: none yet). */
  failed(address: string, now: number): number {
    let s = this.addresses.get(address);
    if (s && now - s.last > this.options.forgetAfterMs) s = undefined;
    if (!s) {
      s = { failures: 0, last: now, blockedUntil: 0 };
      if (this.addresses.size >= this.options.maxAddresses) {
        const oldest = this.addresses.keys().next().value;
        if (oldest !== undefined) this.addresses.delete(oldest);
      }
    }
    // Re-inserted: Map order is least recently failed first, the eviction order.
    this.addresses.delete(address);
    this.addresses.set(address, s);
    s.failures++;
    s.last = now;
    const over = s.failures - this.options.failures;
    if (over < 0) return 0;
    const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(over, 30));
    s.blockedUntil = Math.max(s.blockedUntil, now + delay);
    return delay;
  }

  /** Addresses currently refused (for the console and tests). */
  blocked(now: number): ThrottleRefusal[] {
    const out: ThrottleRefusal[] = [];
    for (const address of this.addresses.keys()) {
      const r = this.refusal(address, now);
      if (r) out.push(r);
    }
    return out;
  }
}

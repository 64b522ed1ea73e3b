// A token bucket that never waits: a request either takes a token now or is told when to come back.

export interface TokenBucketLimits {
  /** Tokens added per second (the sustained request rate). */
  ratePerSecond: number;
  /** Most tokens the bucket holds (the burst); it starts full. */
  burst: number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

/** Float error of the refill arithmetic: a bucket this close to a whole token has it. */
const EPSILON = 1e-9;

/**
 * Refused callers are spread over at most this long after the next token: a caller woken early by something else
 * and refused again takes a new place, and under a lasting overload the places must not run ever further ahead.
 */
export const MAX_SPREAD_MS = 60_000;

/**
 * A refilling token bucket with an injected clock. `take()` never sleeps: when the bucket is empty it answers how
 * long until a token is there. Callers refused together are told to come back one refill interval apart, in the
 * order they were refused, so a crowd of refused callers does not return at the same instant and mostly get
 * refused again (spread over at most MAX_SPREAD_MS); a refusal reserves nothing, so a caller that never returns
 * costs no token.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  /** When the next refused caller is told to come back, at the earliest. */
  private nextReturnAt = 0;

  constructor(
    readonly limits: TokenBucketLimits,
    private readonly now: () => number,
  ) {
    if (!(limits.ratePerSecond > 0) || !Number.isFinite(limits.ratePerSecond)) throw new RangeError(`ratePerSecond must be a positive number (got ${limits.ratePerSecond})`);
    if (!Number.isInteger(limits.burst) || limits.burst < 1) throw new RangeError(`burst must be a whole number of at least 1 (got ${limits.burst})`);
    this.tokens = limits.burst;
    this.updatedAt = now();
  }

  private refill(): number {
    const now = this.now();
    const elapsed = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.limits.burst, this.tokens + (elapsed * this.limits.ratePerSecond) / 1000);
    this.updatedAt = now;
    return now;
  }

  /** Takes a token now, or says in how many ms to try again (rounded up to a whole ms). */
  take(): TakeResult {
    const now = this.refill();
    if (this.tokens >= 1 - EPSILON) {
      this.tokens = Math.max(0, this.tokens - 1);
      return { ok: true };
    }
    const intervalMs = 1000 / this.limits.ratePerSecond;
    const tokenAt = now + (1 - this.tokens) * intervalMs;
    const returnAt = Math.min(Math.max(tokenAt, this.nextReturnAt), tokenAt + MAX_SPREAD_MS);
    this.nextReturnAt = returnAt + intervalMs;
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil(returnAt - now)) };
  }

  /** Returns a token taken for a request that was not sent after all (never above the burst). */
  giveBack(): void {
    this.refill();
    this.tokens = Math.min(this.limits.burst, this.tokens + 1);
  }

  /** Tokens available now (fractional while refilling). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /** Full, with nobody told to come back later: a new bucket would behave the same. */
  atRest(): boolean {
    return this.available() >= this.limits.burst - EPSILON && this.nextReturnAt <= this.now();
  }
}

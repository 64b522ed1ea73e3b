// ARM request budgets per subscription (token buckets): reads 250 burst / 25 per s, writes 200 / 10 per s.
interface Bucket {
  tokens: number;
  at: number;
}

const LIMITS = { reads: { burst: 250, perSecond: 25 }, writes: { burst: 200, perSecond: 10 } } as const;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** Takes one request from the budget; returns what remains (may be negative when exhausted). */
  take(subscription: string, kind: 'reads' | 'writes'): { remaining: number; retryAfterSeconds: number } {
    const limit = LIMITS[kind];
    const k = `${subscription}:${kind}`;
    const now = Date.now();
    const bucket = this.buckets.get(k) ?? { tokens: limit.burst, at: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
    bucket.at = now;
    bucket.tokens -= 1;
    this.buckets.set(k, bucket);
    const remaining = Math.floor(bucket.tokens);
    return { remaining, retryAfterSeconds: remaining >= 0 ? 0 : Math.ceil(-bucket.tokens / limit.perSecond) };
  }
}

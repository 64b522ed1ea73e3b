import { FakeClock } from '../../test/support/fakes/fakeClock.js';
import { MAX_SPREAD_MS, TokenBucket } from './tokenBucket.js';

describe('TokenBucket', () => {
  it('allows the burst at once, then one token per refill interval, never more than the burst', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 3 }, () => clock.now());
    expect([bucket.take(), bucket.take(), bucket.take()].every((t) => t.ok)).toBe(true);
    expect(bucket.take()).toEqual({ ok: false, retryAfterMs: 100 });
    clock.advance(100);
    expect(bucket.take().ok).toBe(true);
    clock.advance(60_000);
    expect(bucket.available()).toBe(3);
  });

  it('takes back a token given back, never holding more than the burst', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2 }, () => clock.now());
    expect([bucket.take().ok, bucket.take().ok]).toEqual([true, true]);
    bucket.giveBack();
    expect(bucket.available()).toBe(1);
    bucket.giveBack();
    bucket.giveBack();
    expect(bucket.available()).toBe(2);
  });

  it('says exactly when the next token is there, and a caller back at that time gets it', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1 }, () => clock.now());
    expect(bucket.take().ok).toBe(true);
    clock.advance(300);
    const refused = bucket.take();
    expect(refused).toEqual({ ok: false, retryAfterMs: 700 });
    clock.advance(699);
    expect(bucket.take().ok).toBe(false);
    clock.advance(1);
    expect(bucket.take().ok).toBe(true);
  });

  it('tells callers refused together to come back one interval apart, in the order refused', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 2, burst: 1 }, () => clock.now());
    bucket.take();
    const waits = [1, 2, 3, 4].map(() => bucket.take());
    expect(waits).toEqual([500, 1000, 1500, 2000].map((retryAfterMs) => ({ ok: false, retryAfterMs })));
    // Each comes back at its time and finds its token.
    for (const wait of [500, 500, 500, 500]) {
      clock.advance(wait);
      expect(bucket.take().ok).toBe(true);
    }
    // Once nobody is waiting, a refusal is back to the next token.
    clock.advance(100);
    expect(bucket.take()).toEqual({ ok: false, retryAfterMs: 400 });
  });

  it(`spreads refused callers over at most ${MAX_SPREAD_MS / 1000} s after the next token, however many are refused`, () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1 }, () => clock.now());
    bucket.take();
    const waits = Array.from({ length: 200 }, () => bucket.take()).map((t) => (t.ok ? 0 : t.retryAfterMs));
    expect(waits.slice(0, 3)).toEqual([1000, 2000, 3000]);
    expect(Math.max(...waits)).toBe(1000 + MAX_SPREAD_MS);
    expect(waits.at(-1)).toBe(1000 + MAX_SPREAD_MS);
  });

  it('is at rest only when full and nobody was told to come back later', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2 }, () => clock.now());
    expect(bucket.atRest()).toBe(true);
    bucket.take();
    bucket.take();
    bucket.take();
    bucket.take();
    expect(bucket.atRest()).toBe(false);
    clock.advance(2000);
    // Full again, but the schedule handed to refused callers reaches to 3 s.
    expect(bucket.atRest()).toBe(false);
    clock.advance(1000);
    expect(bucket.atRest()).toBe(true);
  });

  it('handles fractional rates', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ ratePerSecond: 0.5, burst: 1 }, () => clock.now());
    bucket.take();
    expect(bucket.take()).toEqual({ ok: false, retryAfterMs: 2000 });
    clock.advance(2000);
    expect(bucket.take().ok).toBe(true);
  });

  it.each([
    [{ ratePerSecond: 0, burst: 1 }, /ratePerSecond/],
    [{ ratePerSecond: Number.POSITIVE_INFINITY, burst: 1 }, /ratePerSecond/],
    [{ ratePerSecond: 1, burst: 0 }, /burst/],
    [{ ratePerSecond: 1, burst: 1.5 }, /burst/],
  ])('refuses limits %j', (limits, message) => {
    expect(() => new TokenBucket(limits, () => 0)).toThrow(message);
  });
});

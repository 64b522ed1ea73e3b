import { nextSyncDelay, SYNC_JITTER } from './syncPeriod.js';

describe('nextSyncDelay', () => {
  test('never earlier than the sync period, at most 10% later', () => {
    expect(nextSyncDelay(60_000, () => 0)).toBe(60_000);
    expect(nextSyncDelay(60_000, () => 0.5)).toBe(63_000);
    expect(nextSyncDelay(60_000, () => 0.999_999)).toBe(66_000);
  });

  test('spreads a fleet that synced together over the jitter window', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16_807) % 2_147_483_647) - 1) / 2_147_483_646;
    const delays = Array.from({ length: 1000 }, () => nextSyncDelay(20_000, random));
    const buckets = new Set(delays.map((d) => Math.floor((d - 20_000) / 200)));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(20_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(20_000 * (1 + SYNC_JITTER));
    // 10 buckets of 200 ms across the 2 s window: every one used.
    expect(buckets.size).toBe(10);
  });
});

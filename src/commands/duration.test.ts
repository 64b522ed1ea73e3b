import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['2', 2000],
    ['0.5s', 500],
  ])('reads %s', (text, ms) => expect(parseDuration(text, '--x')).toBe(ms));

  it.each(['', 'ten', '10 minutes', '5d', '1m garbage'])('rejects %p naming the flag', (text) => {
    expect(() => parseDuration(text, '--sync-period')).toThrow(/--sync-period: .* is not a duration/);
  });
});

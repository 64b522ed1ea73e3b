import { truncateUtf8 } from './truncateUtf8.js';

describe('truncateUtf8', () => {
  it('keeps text that fits and cuts longer text to the byte limit with an ellipsis', () => {
    expect(truncateUtf8('short', 10)).toBe('short');
    const cut = truncateUtf8('x'.repeat(100), 10);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(10);
    expect(cut).toBe('xxxxxxx…');
  });

  it('never splits a multi-byte character', () => {
    for (const char of ['é', '€', '😀']) {
      for (let limit = 3; limit < 40; limit++) {
        const cut = truncateUtf8(char.repeat(50), limit);
        expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(limit);
        expect(cut).not.toContain('\uFFFD');
        expect(cut.endsWith('…')).toBe(true);
      }
    }
  });
});

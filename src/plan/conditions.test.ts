import { MAX_CONDITION_MESSAGE_BYTES, condition, findCondition, isTrue, rfc3339, setConditions } from './conditions.js';

const t0 = new Date('2026-01-01T00:00:00.123Z');
const t1 = new Date('2026-01-01T00:05:00Z');

describe('setConditions', () => {
  it('stamps a new condition with the generation and a second-precision transition time', () => {
    const out = setConditions(undefined, [condition('Ready', 'False', 'Deploying', 'deploying the VM')], 3, t0);
    expect(out).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Deploying',
        message: 'deploying the VM',
        observedGeneration: 3,
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ]);
  });

  it('keeps lastTransitionTime when only reason, message or generation change', () => {
    const first = setConditions([], [condition('Ready', 'False', 'Deploying', 'a')], 1, t0);
    const second = setConditions(first, [condition('Ready', 'False', 'InstallingDriver', 'b')], 2, t1);
    expect(second[0]).toMatchObject({ reason: 'InstallingDriver', message: 'b', observedGeneration: 2 });
    expect(second[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
  });

  it('moves lastTransitionTime when the status changes', () => {
    const first = setConditions([], [condition('Ready', 'False', 'Deploying', 'a')], 1, t0);
    const second = setConditions(first, [condition('Ready', 'True', 'Ready', 'b')], 1, t1);
    expect(second[0]?.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });

  it('keeps conditions it was not told about, in order', () => {
    const first = setConditions([], [condition('A', 'True', 'R', 'm'), condition('B', 'False', 'R', 'm')], 1, t0);
    const second = setConditions(first, [condition('B', 'True', 'R', 'm'), condition('C', 'True', 'R', 'm')], 2, t1);
    expect(second.map((c) => c.type)).toEqual(['A', 'B', 'C']);
    expect(findCondition(second, 'A')?.observedGeneration).toBe(1);
    expect(isTrue(second, 'B')).toBe(true);
    expect(isTrue(second, 'missing')).toBe(false);
  });

  it('formats timestamps like the API server', () => {
    expect(rfc3339(t0)).toBe('2026-01-01T00:00:00Z');
  });
});

describe('setConditions bounds device text', () => {
  it(`cuts a message to ${MAX_CONDITION_MESSAGE_BYTES} bytes of UTF-8 without splitting a character`, () => {
    const [c] = setConditions(undefined, [{ type: 'Connected', status: 'False', reason: 'DeviceUnreachable', message: '😀'.repeat(10_000) }], 1, new Date(0));
    expect(Buffer.byteLength(c?.message ?? '')).toBeLessThanOrEqual(MAX_CONDITION_MESSAGE_BYTES);
    expect(c?.message).not.toContain('\uFFFD');
    expect(c?.message.endsWith('…')).toBe(true);
  });
});

import { FakeClock, flushPromises } from '../../test/support/fakes/fakeClock.js';
import { WorkQueue, type WorkQueueMetrics, type WorkQueueOptions } from './workqueue.js';

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(promise: Promise<T>): { settled: boolean; value: T | undefined } {
  const state: { settled: boolean; value: T | undefined } = { settled: false, value: undefined };
  void promise.then((value) => {
    state.settled = true;
    state.value = value;
  });
  return state;
}

function setup(options: WorkQueueOptions = {}) {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock, random: () => 0, ...options });
  return { clock, queue };
}

/** Drains every key ready now (handing each out and marking it done). */
async function drainReady(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.len() > 0) {
    const key = (await queue.get()) as string;
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

describe('WorkQueue: adding and handing out', () => {
  it('hands keys out in FIFO order', async () => {
    const { queue } = setup();
    queue.add('a');
    queue.add('b');
    queue.add('c');
    expect(queue.len()).toBe(3);
    expect(await queue.get()).toBe('a');
    expect(await queue.get()).toBe('b');
    expect(await queue.get()).toBe('c');
    expect(queue.len()).toBe(0);
    expect(queue.processingLen()).toBe(3);
  });

  it('merges duplicate adds of a waiting key', async () => {
    const { queue } = setup();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    queue.add('a');
    expect(queue.len()).toBe(2);
    expect(await drainReady(queue)).toEqual(['a', 'b']);
  });

  it('makes get() wait until a key is added', async () => {
    const { queue } = setup();
    const first = track(queue.get());
    const second = track(queue.get());
    await flushPromises();
    expect(first.settled).toBe(false);
    queue.add('a');
    await flushPromises();
    expect(first).toEqual({ settled: true, value: 'a' });
    expect(second.settled).toBe(false);
    queue.add('a'); // 'a' is in progress: not handed to the second worker
    await flushPromises();
    expect(second.settled).toBe(false);
    queue.add('b');
    await flushPromises();
    expect(second).toEqual({ settled: true, value: 'b' });
  });

  it('never hands a key in progress to a second worker; re-adds are handed out after done()', async () => {
    const { queue } = setup();
    queue.add('a');
    const key = await queue.get();
    expect(key).toBe('a');
    queue.add('a');
    queue.add('a');
    expect(queue.len()).toBe(0);
    const waiting = track(queue.get());
    await flushPromises();
    expect(waiting.settled).toBe(false);
    queue.done('a');
    await flushPromises();
    expect(waiting).toEqual({ settled: true, value: 'a' });
    queue.done('a');
    expect(queue.len()).toBe(0);
    expect(queue.processingLen()).toBe(0);
  });

  it('puts a key re-added during processing at the back of the queue', async () => {
    const { queue } = setup();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    queue.add('a');
    queue.add('b');
    queue.done('a');
    expect(await drainReady(queue)).toEqual(['b', 'a']);
  });

  it('ignores done() for a key that is not in progress', async () => {
    const { queue } = setup();
    queue.done('nope');
    queue.add('a');
    queue.done('a'); // waiting, not in progress
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe('a');
  });

  it('serves many waiting workers distinct keys', async () => {
    const { queue } = setup();
    const workers = [track(queue.get()), track(queue.get()), track(queue.get())];
    queue.add('x');
    queue.add('y');
    queue.add('x');
    queue.add('z');
    await flushPromises();
    expect(workers.map((w) => w.value)).toEqual(['x', 'y', 'z']);
  });

  it('keeps FIFO order across many keys (internal compaction)', async () => {
    const { queue } = setup();
    const keys = Array.from({ length: 5000 }, (_, i) => `k${i}`);
    for (const key of keys) queue.add(key);
    const out: string[] = [];
    for (let i = 0; i < 2500; i++) out.push((await queue.get()) as string);
    for (let i = 0; i < 100; i++) queue.add(`late${i}`);
    while (queue.len() > 0) out.push((await queue.get()) as string);
    expect(out).toEqual([...keys, ...Array.from({ length: 100 }, (_, i) => `late${i}`)]);
  });
});

describe('WorkQueue: addAfter', () => {
  it('adds the key only when its delay has passed', async () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 1000);
    expect(queue.len()).toBe(0);
    expect(queue.delayedLen()).toBe(1);
    clock.advance(999);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(queue.delayedLen()).toBe(0);
    expect(await queue.get()).toBe('a');
  });

  it('releases keys in due-time order, ties in call order', async () => {
    const { clock, queue } = setup();
    queue.addAfter('late', 300);
    queue.addAfter('early', 100);
    queue.addAfter('mid1', 200);
    queue.addAfter('mid2', 200);
    clock.advance(1000);
    expect(await drainReady(queue)).toEqual(['early', 'mid1', 'mid2', 'late']);
  });

  it('wakes a waiting worker when the delay passes', async () => {
    const { clock, queue } = setup();
    const worker = track(queue.get());
    queue.addAfter('a', 50);
    await clock.advanceAsync(49);
    expect(worker.settled).toBe(false);
    await clock.advanceAsync(1);
    expect(worker.value).toBe('a');
  });

  it('keeps the earlier time when a key is scheduled twice', async () => {
    const { clock, queue } = setup();
    queue.addAfter('a', 1000);
    queue.addAfter('a', 100); // earlier: moves up
    queue.addAfter('a', 5000); // later: ignored
    expect(queue.delayedLen()).toBe(1);
    clock.advance(100);
    expect(queue.len()).toBe(1);
    expect(await drainReady(queue)).toEqual(['a']);
    clock.advance(10_000);
    expect(queue.len()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('adds immediately for a zero or negative delay', () => {
    const { queue } = setup();
    queue.addAfter('a', 0);
    queue.addAfter('b', -5);
    expect(queue.len()).toBe(2);
    expect(queue.delayedLen()).toBe(0);
  });

  it('merges a due key with the same key already waiting', async () => {
    const { clock, queue } = setup();
    queue.add('a');
    queue.addAfter('a', 10);
    clock.advance(10);
    expect(queue.len()).toBe(1);
    expect(await drainReady(queue)).toEqual(['a']);
  });

  it('queues a due key that is in progress for after done()', async () => {
    const { clock, queue } = setup();
    queue.add('a');
    await queue.get();
    queue.addAfter('a', 10);
    clock.advance(10);
    expect(queue.len()).toBe(0);
    queue.done('a');
    expect(queue.len()).toBe(1);
  });

  it('uses one timer for many delayed keys', () => {
    const { clock, queue } = setup();
    for (let i = 0; i < 100; i++) queue.addAfter(`k${i}`, 1000 + i);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(1050);
    expect(queue.len()).toBe(51);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(1000);
    expect(queue.len()).toBe(100);
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('WorkQueue: addRateLimited', () => {
  it('backs off exponentially per key from the base delay to the cap', () => {
    const { clock, queue } = setup({ rateLimiter: { baseDelayMs: 1000, maxDelayMs: 300_000, jitter: 0.1, qps: 0 } });
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      delays.push(queue.addRateLimited('a'));
      clock.advance(delays.at(-1) ?? 0);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000]);
    expect(queue.numRequeues('a')).toBe(12);
  });

  it('keeps separate backoff per key', () => {
    const { queue } = setup({ rateLimiter: { qps: 0 } });
    expect(queue.addRateLimited('a')).toBe(1000);
    expect(queue.addRateLimited('a')).toBe(2000);
    expect(queue.addRateLimited('b')).toBe(1000);
    expect(queue.addRateLimited('a')).toBe(4000);
  });

  it('restarts from the base delay after forget()', () => {
    const { queue } = setup({ rateLimiter: { qps: 0 } });
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    queue.forget('a');
    expect(queue.numRequeues('a')).toBe(0);
    expect(queue.addRateLimited('a')).toBe(1000);
  });

  it('delivers the key when its backoff has passed', () => {
    const { clock, queue } = setup({ rateLimiter: { qps: 0 } });
    queue.addRateLimited('a');
    queue.addRateLimited('a'); // 2000 ms, but the earlier 1000 ms schedule wins
    clock.advance(999);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
  });

  it('keeps jittered delays within [d·(1 − jitter), d] and never above the cap', () => {
    const clock = new FakeClock();
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const queue = new WorkQueue({ clock, random, rateLimiter: { baseDelayMs: 1000, maxDelayMs: 300_000, jitter: 0.25, qps: 0 } });
    const seen = new Set<number>();
    for (let key = 0; key < 200; key++) {
      for (let attempt = 0; attempt < 12; attempt++) {
        const nominal = Math.min(300_000, 1000 * 2 ** attempt);
        const delay = queue.addRateLimited(`k${key}`);
        expect(delay).toBeLessThanOrEqual(nominal);
        expect(delay).toBeGreaterThanOrEqual(nominal * 0.75);
        if (attempt === 0) seen.add(Math.round(delay));
      }
    }
    expect(seen.size).toBeGreaterThan(50); // actually spread, not constant
  });

  it('uses the extremes of the jitter range', () => {
    const low = new WorkQueue({ clock: new FakeClock(), random: () => 0.999999, rateLimiter: { jitter: 0.1, qps: 0 } });
    expect(low.addRateLimited('a')).toBeCloseTo(900, 2);
    const high = new WorkQueue({ clock: new FakeClock(), random: () => 0, rateLimiter: { jitter: 0.1, qps: 0 } });
    expect(high.addRateLimited('a')).toBe(1000);
  });

  it('applies the global token bucket across keys (burst, then qps)', () => {
    const { clock, queue } = setup({ rateLimiter: { baseDelayMs: 0, qps: 10, burst: 100 } });
    const delays = Array.from({ length: 103 }, (_, i) => queue.addRateLimited(`k${i}`));
    expect(delays.slice(0, 100).every((d) => d === 0)).toBe(true);
    expect(delays.slice(100)).toEqual([100, 200, 300]);
    expect(queue.len()).toBe(100);
    clock.advance(300);
    expect(queue.len()).toBe(103);
    // The bucket refills at 10 per second: 1 s later ten more keys go through at once.
    clock.advance(1000);
    const next = Array.from({ length: 11 }, (_, i) => queue.addRateLimited(`m${i}`));
    expect(next.slice(0, 10).every((d) => d === 0)).toBe(true);
    expect(next[10]).toBe(100);
  });

  it('takes the larger of the per-key backoff and the bucket wait', () => {
    const { queue } = setup({ rateLimiter: { baseDelayMs: 1000, qps: 1, burst: 1 } });
    expect(queue.addRateLimited('a')).toBe(1000); // bucket: 0
    expect(queue.addRateLimited('b')).toBe(1000); // bucket: 1000
    expect(queue.addRateLimited('c')).toBe(2000); // bucket: 2000 > 1000
    expect(queue.addRateLimited('a')).toBe(3000); // bucket: 3000 > 2000
  });
});

describe('WorkQueue: shutdown', () => {
  it('resolves waiting and later get() calls with undefined', async () => {
    const { queue } = setup();
    const waiting = track(queue.get());
    queue.shutDown();
    await flushPromises();
    expect(waiting).toEqual({ settled: true, value: undefined });
    expect(await queue.get()).toBeUndefined();
    expect(queue.isShuttingDown()).toBe(true);
  });

  it('ignores adds and drops waiting and scheduled keys', async () => {
    const { clock, queue } = setup();
    queue.add('a');
    queue.addAfter('b', 100);
    queue.addRateLimited('c');
    queue.shutDown();
    expect(queue.len()).toBe(0);
    expect(queue.delayedLen()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
    queue.add('d');
    queue.addAfter('e', 10);
    expect(queue.addRateLimited('f')).toBe(0);
    clock.advance(1_000_000);
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });

  it('lets keys in progress finish without requeueing them', async () => {
    const { queue } = setup();
    queue.add('a');
    await queue.get();
    queue.add('a');
    queue.shutDown();
    queue.done('a');
    expect(queue.len()).toBe(0);
    expect(queue.processingLen()).toBe(0);
  });

  it('shutDownWithDrain() waits for every key in progress', async () => {
    const { queue } = setup();
    queue.add('a');
    queue.add('b');
    queue.add('c');
    await queue.get();
    await queue.get();
    const drained = track(queue.shutDownWithDrain());
    await flushPromises();
    expect(drained.settled).toBe(false);
    expect(await queue.get()).toBeUndefined(); // 'c' is not handed out any more
    queue.done('a');
    await flushPromises();
    expect(drained.settled).toBe(false);
    queue.done('b');
    await flushPromises();
    expect(drained.settled).toBe(true);
  });

  it('shutDownWithDrain() resolves at once when nothing is in progress', async () => {
    const { queue } = setup();
    queue.add('a');
    await expect(queue.shutDownWithDrain()).resolves.toBeUndefined();
  });
});

describe('WorkQueue: metrics', () => {
  it('reports depth, adds, retries, queue latency and work duration', async () => {
    const clock = new FakeClock();
    const events: string[] = [];
    const metrics: WorkQueueMetrics = {
      depth: (d) => events.push(`depth ${d}`),
      added: (k) => events.push(`add ${k}`),
      retried: (k) => events.push(`retry ${k}`),
      queueLatency: (ms) => events.push(`latency ${ms}`),
      workDuration: (ms) => events.push(`work ${ms}`),
    };
    const queue = new WorkQueue({ clock, random: () => 0, metrics, rateLimiter: { qps: 0 } });
    queue.add('a');
    queue.add('a');
    queue.add('b');
    clock.advance(5);
    const key = (await queue.get()) as string;
    clock.advance(20);
    queue.done(key);
    queue.addRateLimited('a');
    clock.advance(1000);
    expect(events).toEqual([
      'add a',
      'depth 1',
      'add b',
      'depth 2',
      'latency 5',
      'depth 1',
      'work 20',
      'retry a',
      'add a',
      'depth 2',
    ]);
  });

  it('measures unfinished work and the longest running key', async () => {
    const { clock, queue } = setup();
    expect(queue.longestRunningProcessorMs()).toBe(0);
    queue.add('a');
    queue.add('b');
    await queue.get();
    clock.advance(100);
    await queue.get();
    clock.advance(50);
    expect(queue.unfinishedWorkMs()).toBe(200);
    expect(queue.longestRunningProcessorMs()).toBe(150);
  });
});

describe('WorkQueue: priorities', () => {
  it('hands out higher priorities first and each priority in FIFO order; the default is normal', async () => {
    const { queue } = setup();
    queue.add('low1', 'low');
    queue.add('n1');
    queue.add('high1', 'high');
    queue.add('low2', 'low');
    queue.add('n2', 'normal');
    queue.add('high2', 'high');
    expect([queue.len('high'), queue.len('normal'), queue.len('low'), queue.len()]).toEqual([2, 2, 2, 6]);
    expect(await drainReady(queue)).toEqual(['high1', 'high2', 'n1', 'n2', 'low1', 'low2']);
  });

  it('moves a waiting key up when it is added again with a higher priority, to the back of that priority, never down', async () => {
    const { queue } = setup();
    queue.add('a', 'low');
    queue.add('b', 'low');
    queue.add('c', 'high');
    queue.add('a', 'high');
    queue.add('c', 'low'); // lower: stays high
    expect([queue.len('high'), queue.len('low'), queue.len()]).toEqual([2, 1, 3]);
    expect(await drainReady(queue)).toEqual(['c', 'a', 'b']);
  });

  it('does not hand out the place a key left behind when it moved up', async () => {
    const { queue } = setup();
    queue.add('a', 'low');
    queue.add('b', 'low');
    queue.add('a', 'normal');
    expect(await queue.get()).toBe('a');
    queue.done('a');
    queue.add('a', 'low'); // behind b now, not in its old place ahead of it
    expect(await drainReady(queue)).toEqual(['b', 'a']);
  });

  it('hands a key re-added during processing out after done() at the highest priority it was added with', async () => {
    const { queue } = setup();
    queue.add('a', 'low');
    expect(await queue.getWithPriority()).toEqual({ key: 'a', priority: 'low' });
    queue.add('a', 'low');
    queue.add('a', 'high');
    queue.add('b', 'normal');
    queue.done('a');
    expect(await queue.getWithPriority()).toEqual({ key: 'a', priority: 'high' });
    expect(await queue.getWithPriority()).toEqual({ key: 'b', priority: 'normal' });
  });

  it('gives a waiting worker the key and its priority', async () => {
    const { queue } = setup();
    const worker = track(queue.getWithPriority());
    queue.add('a', 'low');
    await flushPromises();
    expect(worker.value).toEqual({ key: 'a', priority: 'low' });
  });

  it('adds a delayed key at its priority when due; one key scheduled twice takes the earlier time and the higher priority', async () => {
    const { clock, queue } = setup();
    queue.addAfter('poll', 100, 'high');
    queue.addAfter('resync', 50, 'low');
    queue.addAfter('both', 200, 'low');
    queue.addAfter('both', 300, 'high'); // later: the time stays 200, the priority goes up
    queue.addAfter('up', 400, 'high');
    queue.addAfter('up', 150, 'low'); // earlier: the time moves to 150, the priority stays high
    clock.advance(1000);
    expect(await drainReady(queue)).toEqual(['poll', 'up', 'both', 'resync']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('keeps the priority of a rate-limited add', async () => {
    const { clock, queue } = setup({ rateLimiter: { qps: 0 } });
    queue.addRateLimited('a', 'low');
    queue.addRateLimited('b', 'high');
    clock.advance(1000);
    expect([queue.len('high'), queue.len('low')]).toEqual([1, 1]);
    expect(await drainReady(queue)).toEqual(['b', 'a']);
  });

  it('serves a fresh add before 1,000 resyncs that fell due together', async () => {
    const { clock, queue } = setup();
    for (let i = 0; i < 1000; i++) queue.addAfter(`device-${i}`, 600_000, 'low');
    clock.advance(600_000);
    expect(queue.len('low')).toBe(1000);
    queue.add('fresh', 'high');
    expect(await queue.getWithPriority()).toEqual({ key: 'fresh', priority: 'high' });
    expect(queue.len('low')).toBe(1000);
  });

  it('reports the priority a key waited at with its queue latency', async () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    const queue = new WorkQueue({ clock, metrics: { queueLatency: (ms, priority) => seen.push(`${priority} ${ms}`), added: (key, priority) => seen.push(`add ${key} ${priority}`) } });
    queue.add('a', 'low');
    queue.add('b', 'high');
    clock.advance(7);
    await drainReady(queue);
    expect(seen).toEqual(['add a low', 'add b high', 'high 7', 'low 7']);
  });

  it('bounds how long lower priorities wait: after maxPassOver hand-outs past them, the longest-waiting lower key goes', async () => {
    const { queue } = setup({ maxPassOver: 3 });
    queue.add('low1', 'low');
    queue.add('n1', 'normal');
    queue.add('low2', 'low');
    const out: string[] = [];
    // A steady stream of high-priority work: one new key per hand-out.
    for (let i = 0; i < 12; i++) {
      queue.add(`h${i}`, 'high');
      const key = (await queue.get()) as string;
      out.push(key);
      queue.done(key);
    }
    expect(out).toEqual(['h0', 'h1', 'h2', 'low1', 'h3', 'h4', 'h5', 'n1', 'h6', 'h7', 'h8', 'low2']);
  });

  it('starves lower priorities under a steady stream of higher ones with maxPassOver: Infinity (strict priority)', async () => {
    const { queue } = setup({ maxPassOver: Infinity });
    queue.add('low', 'low');
    for (let i = 0; i < 50; i++) {
      queue.add(`h${i}`, 'high');
      expect(await queue.get()).toBe(`h${i}`);
      queue.done(`h${i}`);
    }
    expect(await queue.get()).toBe('low');
  });

  it('matches a model of strict priority, FIFO within a priority, over random adds, raises and hand-outs', async () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const { queue } = setup({ maxPassOver: Infinity });
    const priorities = ['high', 'normal', 'low'] as const;
    // The model: waiting keys with [rank, order of entry into that rank]; in progress; re-added while in progress.
    const waiting = new Map<string, { rank: number; order: number }>();
    const inProgress = new Set<string>();
    const readded = new Map<string, number>();
    let order = 0;
    for (let step = 0; step < 6000; step++) {
      const r = random();
      if (r < 0.55) {
        const key = `k${Math.floor(random() * 60)}`;
        const rank = Math.floor(random() * 3);
        queue.add(key, priorities[rank]);
        if (inProgress.has(key)) readded.set(key, Math.min(rank, readded.get(key) ?? rank));
        else {
          const current = waiting.get(key);
          if (current === undefined || rank < current.rank) waiting.set(key, { rank, order: order++ });
        }
      } else if (r < 0.8) {
        if (waiting.size === 0) continue;
        const expected = [...waiting.entries()].sort(([, a], [, b]) => a.rank - b.rank || a.order - b.order)[0] as [string, { rank: number }];
        const got = await queue.getWithPriority();
        expect(got).toEqual({ key: expected[0], priority: priorities[expected[1].rank] });
        waiting.delete(expected[0]);
        inProgress.add(expected[0]);
      } else if (inProgress.size > 0) {
        const key = [...inProgress][Math.floor(random() * inProgress.size)] as string;
        queue.done(key);
        inProgress.delete(key);
        const rank = readded.get(key);
        readded.delete(key);
        if (rank !== undefined) waiting.set(key, { rank, order: order++ });
      }
      expect(queue.len()).toBe(waiting.size);
    }
  });
});

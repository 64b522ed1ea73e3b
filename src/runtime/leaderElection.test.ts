import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock, flushPromises } from '../../test/support/fakes/fakeClock.js';
import { MemoryLeaseStore } from '../../test/support/fakes/memoryLeaseStore.js';
import {
  LeaderElector,
  LeaseConflictError,
  defaultLeaderElectionNamespace,
  leaderIdentity,
  type LeaderElectorOptions,
  type StoppedLeadingReason,
} from './leaderElection.js';

const ref = { namespace: 'gpuvm-system', name: 'gpuvm-controller-leader' };

interface Candidate {
  elector: LeaderElector;
  events: { at: number; what: string }[];
  signal(): AbortSignal | undefined;
  stoppedReasons: StoppedLeadingReason[];
  running: Promise<void>;
}

function world() {
  const clock = new FakeClock();
  const store = new MemoryLeaseStore();
  const t0 = clock.now();
  /** Who leads, as the callbacks tell it: the invariant is that this never holds two names. */
  const leading = new Set<string>();
  let maxLeaders = 0;
  const candidate = (identity: string, options: Partial<LeaderElectorOptions> = {}): Candidate => {
    const events: { at: number; what: string }[] = [];
    const stoppedReasons: StoppedLeadingReason[] = [];
    let signal: AbortSignal | undefined;
    const elector = new LeaderElector({
      store,
      lockName: ref.name,
      namespace: ref.namespace,
      identity,
      clock,
      random: () => 0,
      onStartedLeading: (s) => {
        signal = s;
        leading.add(identity);
        maxLeaders = Math.max(maxLeaders, leading.size);
        events.push({ at: clock.now() - t0, what: 'started' });
      },
      onStoppedLeading: (reason) => {
        leading.delete(identity);
        stoppedReasons.push(reason);
        events.push({ at: clock.now() - t0, what: `stopped:${reason}:${signal?.aborted === true ? 'aborted' : 'not-aborted'}` });
      },
      onNewLeader: (who) => events.push({ at: clock.now() - t0, what: `leader:${who}` }),
      ...options,
    });
    const running = elector.run();
    return { elector, events, signal: () => signal, stoppedReasons, running };
  };
  return {
    clock,
    store,
    candidate,
    leading,
    maxLeaders: () => maxLeaders,
    elapsed: () => clock.now() - t0,
    /** Advances in small steps so the leader set is sampled densely. */
    async advance(ms: number, step = 100) {
      for (let done = 0; done < ms; done += step) await clock.advanceAsync(Math.min(step, ms - done));
    },
    /** Advances until `predicate` holds (or `limitMs` passes); returns the elapsed time since t0. */
    async until(predicate: () => boolean, limitMs = 120_000, step = 10) {
      const start = clock.now();
      while (!predicate()) {
        if (clock.now() - start > limitMs) throw new Error(`condition not met within ${limitMs}ms`);
        await clock.advanceAsync(step);
      }
      return clock.now() - t0;
    },
  };
}

describe('LeaderElector', () => {
  it('creates the lease when there is none, leads, and renews every retry period', async () => {
    const w = world();
    const a = w.candidate('a');
    await flushPromises();
    expect(a.elector.isLeader()).toBe(true);
    expect(a.events).toEqual([
      { at: 0, what: 'leader:a' },
      { at: 0, what: 'started' },
    ]);
    const created = w.store.peek(ref);
    expect(created?.record).toEqual({ holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: w.clock.now(), renewTime: w.clock.now(), leaderTransitions: 0 });

    await w.advance(10_000);
    const renewed = w.store.peek(ref);
    expect(renewed?.record.renewTime).toBe(w.clock.now());
    expect(renewed?.record.acquireTime).toBe(created?.record.acquireTime);
    expect(renewed?.record.leaderTransitions).toBe(0);
    // One create, then one read-free update per retry period (client-go's fast path).
    const ops = w.store.calls.map((c) => c.op);
    expect(ops.slice(0, 2)).toEqual(['get', 'create']);
    expect(ops.slice(2)).toEqual(Array(5).fill('update'));
    expect(a.elector.isLeader()).toBe(true);
    await a.elector.stop();
  });

  it('lets only one of two candidates lead; the other observes it and waits', async () => {
    const w = world();
    const a = w.candidate('a');
    const b = w.candidate('b');
    await w.advance(60_000);
    expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    expect(w.maxLeaders()).toBe(1);
    const leader = a.elector.isLeader() ? 'a' : 'b';
    expect(a.elector.observedLeader()).toBe(leader);
    expect(b.elector.observedLeader()).toBe(leader);
    expect((leader === 'a' ? b : a).events.map((e) => e.what)).toEqual([`leader:${leader}`]);
    await Promise.all([a.elector.stop(), b.elector.stop()]);
  });

  it('takes over a crashed leader once the lease has not changed for the lease duration, and counts the transition', async () => {
    const w = world();
    const a = w.candidate('a');
    await flushPromises();
    const b = w.candidate('b');
    await w.advance(7_000);
    expect(b.elector.isLeader()).toBe(false);

    // Crash: no release, no more renewals.
    const lastRenew = w.store.peek(ref)?.record.renewTime ?? 0;
    await a.elector.stop({ release: false });
    expect(w.store.peek(ref)?.record.holderIdentity).toBe('a');
    const crashedAt = w.elapsed();

    const takeover = await w.until(() => b.elector.isLeader());
    // Not before the lease duration after the last renewal; at most one retry period (+ jitter) later.
    const sinceRenew = w.clock.now() - lastRenew;
    expect(sinceRenew).toBeGreaterThanOrEqual(15_000);
    expect(sinceRenew).toBeLessThanOrEqual(15_000 + 2_000 + 10);
    expect(takeover - crashedAt).toBeLessThanOrEqual(15_000 + 2_000);
    expect(w.store.peek(ref)?.record).toMatchObject({ holderIdentity: 'b', leaderTransitions: 1 });
    expect(b.events.map((e) => e.what)).toEqual(['leader:a', 'leader:b', 'started']);
    expect(w.maxLeaders()).toBe(1);
    await b.elector.stop();
  });

  it('judges expiry by observed time, not by the renewTime of the record', async () => {
    const w = world();
    // A holder whose clock is an hour behind keeps renewing: its renewTime looks ancient, but the record changes.
    const behind = w.clock.now() - 3_600_000;
    w.store.put(ref, { holderIdentity: 'skewed', leaseDurationSeconds: 15, acquireTime: behind, renewTime: behind, leaderTransitions: 3 });
    const b = w.candidate('b');
    for (let i = 1; i <= 30; i++) {
      await w.advance(2_000);
      const current = w.store.peek(ref);
      if (current) w.store.put(ref, { ...current.record, renewTime: behind + i * 2_000 });
    }
    expect(b.elector.isLeader()).toBe(false);

    // A holder whose clock is an hour ahead stops renewing: its renewTime is in the future, yet it expires.
    const ahead = w.clock.now() + 3_600_000;
    w.store.put(ref, { holderIdentity: 'ahead', leaseDurationSeconds: 15, acquireTime: ahead, renewTime: ahead, leaderTransitions: 4 });
    const stale = w.clock.now();
    await w.until(() => b.elector.isLeader());
    expect(w.clock.now() - stale).toBeGreaterThanOrEqual(15_000);
    expect(w.clock.now() - stale).toBeLessThanOrEqual(17_000 + 10);
    expect(w.store.peek(ref)?.record).toMatchObject({ holderIdentity: 'b', leaderTransitions: 5 });
    await b.elector.stop();
  });

  it('a newcomer waits a full lease duration even for a lease whose renewTime is long past', async () => {
    const w = world();
    const old = w.clock.now() - 600_000;
    w.store.put(ref, { holderIdentity: 'gone', leaseDurationSeconds: 15, acquireTime: old, renewTime: old, leaderTransitions: 0 });
    const b = w.candidate('b');
    const at = await w.until(() => b.elector.isLeader());
    expect(at).toBeGreaterThanOrEqual(15_000);
    expect(at).toBeLessThanOrEqual(15_100);
    await b.elector.stop();
  });

  it('stops leading at once when renewals fail for the renew deadline: signal aborted, then onStoppedLeading', async () => {
    const w = world();
    const a = w.candidate('a');
    await w.advance(4_000);
    const lastRenewSent = w.store.peek(ref)?.record.renewTime ?? 0;
    w.store.failWith = new Error('connection refused');
    const lostAt = await w.until(() => !a.elector.isLeader(), 60_000, 1);
    expect(w.clock.now() - lastRenewSent).toBe(10_000);
    expect(a.stoppedReasons).toEqual(['renewDeadlineExceeded']);
    expect(a.events.at(-1)).toEqual({ at: lostAt, what: 'stopped:renewDeadlineExceeded:aborted' });
    await a.running; // run() resolves once leading ended
    // No attempt after losing: the process is expected to exit.
    const calls = w.store.calls.length;
    await w.advance(30_000);
    expect(w.store.calls.length).toBe(calls);
    await a.elector.stop({ release: true });
    expect(a.stoppedReasons).toEqual(['renewDeadlineExceeded']);
  });

  it('stops at the renew deadline even while a renewal hangs', async () => {
    const w = world();
    const a = w.candidate('a');
    await w.advance(2_000);
    const lastRenewSent = w.store.peek(ref)?.record.renewTime ?? 0;
    w.store.delay = new Promise(() => undefined); // never answers
    await w.until(() => !a.elector.isLeader(), 60_000, 1);
    expect(w.clock.now() - lastRenewSent).toBe(10_000);
    expect(a.stoppedReasons).toEqual(['renewDeadlineExceeded']);
    await a.running;
  });

  it('keeps leading through failures shorter than the renew deadline', async () => {
    const w = world();
    const a = w.candidate('a');
    await w.advance(2_000);
    w.store.failWith = new Error('etcd leader changed');
    await w.advance(7_000);
    w.store.failWith = undefined;
    await w.advance(20_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.stoppedReasons).toEqual([]);
    await a.elector.stop();
  });

  it('stops leading at its next renewal when another holder has taken the lease', async () => {
    const w = world();
    const a = w.candidate('a');
    await w.advance(3_000);
    const current = w.store.peek(ref);
    w.store.put(ref, { ...(current?.record ?? { leaseDurationSeconds: 15, leaderTransitions: 0 }), holderIdentity: 'intruder' });
    await w.advance(2_000, 10);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.stoppedReasons).toEqual(['leaseTaken']);
    expect(w.store.peek(ref)?.record.holderIdentity).toBe('intruder');
    await a.running;
  });

  it('releases on graceful stop so the standby takes over within one retry period', async () => {
    const w = world();
    const a = w.candidate('a');
    await flushPromises();
    const b = w.candidate('b');
    await w.advance(5_000);
    const aSignal = a.signal();
    await a.elector.stop({ release: true });
    expect(aSignal?.aborted).toBe(true);
    expect(a.stoppedReasons).toEqual(['stopped']);
    expect(w.store.peek(ref)?.record).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaderTransitions: 0 });
    const releasedAt = w.elapsed();
    const takeover = await w.until(() => b.elector.isLeader());
    expect(takeover - releasedAt).toBeLessThanOrEqual(2_000);
    expect(w.store.peek(ref)?.record).toMatchObject({ holderIdentity: 'b', leaseDurationSeconds: 15, leaderTransitions: 1 });
    expect(w.maxLeaders()).toBe(1);
    await b.elector.stop({ release: true });
  });

  it('release after a renewal whose answer was lost re-reads the lease (optimistic concurrency)', async () => {
    const w = world();
    const a = w.candidate('a');
    await w.advance(2_000);
    // Someone (e.g. our own renewal whose response was lost) bumped the resourceVersion.
    const current = w.store.peek(ref);
    if (current) w.store.put(ref, current.record);
    await a.elector.stop({ release: true });
    expect(w.store.peek(ref)?.record.holderIdentity).toBe('');
  });

  it('does not release a lease it no longer holds', async () => {
    const w = world();
    const a = w.candidate('a');
    await w.advance(2_000);
    const current = w.store.peek(ref);
    w.store.put(ref, { ...(current?.record ?? { leaseDurationSeconds: 15, leaderTransitions: 0 }), holderIdentity: 'other' });
    await a.elector.stop({ release: true });
    expect(w.store.peek(ref)?.record.holderIdentity).toBe('other');
  });

  it('stop() before it ever led resolves run() without onStoppedLeading', async () => {
    const w = world();
    w.store.put(ref, { holderIdentity: 'other', leaseDurationSeconds: 15, leaderTransitions: 0 });
    const b = w.candidate('b');
    await w.advance(3_000);
    await b.elector.stop({ release: true });
    await b.running;
    expect(b.stoppedReasons).toEqual([]);
    expect(w.store.peek(ref)?.record.holderIdentity).toBe('other');
    const calls = w.store.calls.length;
    await w.advance(30_000);
    expect(w.store.calls.length).toBe(calls);
  });

  it('never has two leaders among three candidates through crashes, releases and outages', async () => {
    const w = world();
    const c = [w.candidate('a'), w.candidate('b'), w.candidate('c')];
    await w.advance(20_000);
    const first = c.find((x) => x.elector.isLeader());
    await first?.elector.stop({ release: false });
    await w.advance(25_000);
    const second = c.find((x) => x.elector.isLeader());
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    w.store.failWith = new Error('apiserver down');
    await w.advance(12_000);
    expect(c.some((x) => x.elector.isLeader())).toBe(false);
    expect(second?.stoppedReasons).toEqual(['renewDeadlineExceeded']);
    w.store.failWith = undefined;
    await w.advance(30_000);
    const third = c.find((x) => x.elector.isLeader());
    expect(third).toBeDefined();
    expect(w.maxLeaders()).toBe(1);
    expect(w.store.peek(ref)?.record.leaderTransitions).toBe(2);
    await Promise.all(c.map((x) => x.elector.stop({ release: true })));
  });

  it('two candidates reading the same expired lease: only one update wins', async () => {
    const w = world();
    const old = w.clock.now();
    w.store.put(ref, { holderIdentity: 'gone', leaseDurationSeconds: 15, acquireTime: old, renewTime: old, leaderTransitions: 0 });
    const a = w.candidate('a');
    const b = w.candidate('b');
    // Both wake at the same instant after the lease expires and race their updates.
    await w.until(() => a.elector.isLeader() || b.elector.isLeader());
    await w.advance(10_000);
    expect([a, b].filter((x) => x.elector.isLeader())).toHaveLength(1);
    expect(w.maxLeaders()).toBe(1);
    expect(w.store.peek(ref)?.record.leaderTransitions).toBe(1);
    await Promise.all([a.elector.stop(), b.elector.stop()]);
  });

  it('rejects inconsistent timings and an empty identity', () => {
    const store = new MemoryLeaseStore();
    const base = { store, lockName: 'l', namespace: 'n', identity: 'x', onStartedLeading: () => undefined, onStoppedLeading: () => undefined };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(/renew deadline/);
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(/retry period/);
    expect(() => new LeaderElector({ ...base, identity: '' })).toThrow(/identity/);
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 500, renewDeadlineMs: 300, retryPeriodMs: 100 })).toThrow(/at least 1s/);
    expect(() => new LeaderElector(base)).not.toThrow();
  });

  it('logs and survives throwing callbacks', async () => {
    const w = world();
    const errors: string[] = [];
    const logger = { error: (_: object, m: string) => errors.push(m), warn: () => undefined, info: () => undefined, debug: () => undefined };
    const a = w.candidate('a', {
      logger,
      onStartedLeading: () => Promise.reject(new Error('boom')),
      onNewLeader: () => {
        throw new Error('boom');
      },
    });
    await w.advance(4_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(errors).toEqual(['onNewLeader failed', 'onStartedLeading failed']);
    await a.elector.stop();
  });
});

describe('MemoryLeaseStore', () => {
  it('refuses a create of an existing lease and an update from a stale resourceVersion', async () => {
    const store = new MemoryLeaseStore();
    const signal = new AbortController().signal;
    const record = { holderIdentity: 'a', leaseDurationSeconds: 15, leaderTransitions: 0 };
    const first = await store.create(ref, record, signal);
    await expect(store.create(ref, record, signal)).rejects.toBeInstanceOf(LeaseConflictError);
    const second = await store.update(ref, first, { ...record, holderIdentity: 'b' }, signal);
    await expect(store.update(ref, first, record, signal)).rejects.toBeInstanceOf(LeaseConflictError);
    expect(second.resourceVersion).not.toBe(first.resourceVersion);
  });
});

describe('helpers', () => {
  it('leaderIdentity is the pod name with a random suffix', () => {
    const a = leaderIdentity('gpuvm-controller-7d9f-abcde');
    const b = leaderIdentity('gpuvm-controller-7d9f-abcde');
    expect(a).toMatch(/^gpuvm-controller-7d9f-abcde_[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });

  it('defaultLeaderElectionNamespace reads the service account namespace, else gpuvm-system', () => {
    const dir = mkdtempSync(join(tmpdir(), 'le-'));
    const file = join(dir, 'namespace');
    writeFileSync(file, 'ops\n');
    expect(defaultLeaderElectionNamespace(file)).toBe('ops');
    expect(defaultLeaderElectionNamespace(join(dir, 'missing'))).toBe('gpuvm-system');
  });
});

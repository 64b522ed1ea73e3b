import { FakeClock, flushPromises } from '../../test/support/fakes/fakeClock.js';
import { Controller, done, failed, generationChanged, requeueAfter, resyncAfter, type ControllerOptions, type ReconcileOutcome } from './controller.js';
import { FakeListerWatcher } from '../../test/support/fakes/fakeListerWatcher.js';
import { Informer } from './informer.js';
import type { Logger } from './logger.js';
import { pino } from 'pino';

interface Vm {
  metadata: { name: string; namespace?: string; generation?: number; resourceVersion?: string };
  spec: { device: string };
}
interface Device {
  metadata: { name: string; generation?: number; resourceVersion?: string };
}

const vm = (name: string, device = 'dev-a', generation = 1): Vm => ({ metadata: { name, namespace: 'ns', generation }, spec: { device } });
const device = (name: string, generation = 1): Device => ({ metadata: { name, generation } });

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function recordingLogger() {
  const lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (obj: object, msg: string): void => {
      lines.push({ level, msg, obj: obj as Record<string, unknown> });
    };
  const logger: Logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
  return { logger, lines };
}

function setup(reconcile: ControllerOptions['reconcile'], options: Partial<ControllerOptions> = {}, initial: Vm[] = []) {
  const clock = new FakeClock();
  const lw = new FakeListerWatcher<Vm>({ initial });
  const informer = new Informer<Vm>({ listerWatcher: lw, clock, random: () => 0, watchTimeoutSeconds: 300, stallTimeoutMs: 3_600_000 });
  const { logger, lines } = recordingLogger();
  const controller = new Controller({ name: 'test', reconcile, clock, logger, queue: { random: () => 0, rateLimiter: { qps: 0 } }, ...options });
  controller.watches(informer);
  return { clock, lw, informer, controller, lines };
}

describe('Controller', () => {
  it('gives each reconcile an id and a logger bound to controller, key and id', async () => {
    const bindings: object[] = [];
    const ids: string[] = [];
    const base = recordingLogger().logger;
    const logger: Logger = { ...base, child: (b) => (bindings.push(b), base) };
    const s = setup(
      async (_key, context) => {
        ids.push(context.reconcileId);
        return done();
      },
      { logger },
      [vm('a'), vm('b')],
    );
    s.informer.start();
    await s.controller.start();
    await flushPromises(20);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}$/);
    expect(bindings).toEqual([
      { controller: 'test', key: 'ns/a', reconcileId: ids[0] },
      { controller: 'test', key: 'ns/b', reconcileId: ids[1] },
    ]);
    await s.controller.stop();
    s.informer.stop();
  });

  it('waits for its sources to sync, then reconciles the key of every object and every change', async () => {
    const calls: string[] = [];
    const s = setup(
      async (key) => {
        calls.push(key);
        return done();
      },
      {},
      [vm('a'), vm('b')],
    );
    const started = s.controller.start();
    await flushPromises();
    expect(s.controller.isRunning()).toBe(false);
    s.informer.start();
    await expect(started).resolves.toBe(true);
    await flushPromises();
    expect(calls).toEqual(['ns/a', 'ns/b']);
    s.lw.apply(vm('a', 'dev-b', 2));
    s.lw.remove('ns/b');
    s.lw.apply(vm('c'));
    await flushPromises();
    expect(calls).toEqual(['ns/a', 'ns/b', 'ns/a', 'ns/b', 'ns/c']);
    await s.controller.stop();
    s.informer.stop();
  });

  it('runs up to `concurrency` reconciles in parallel, never two for the same key', async () => {
    const pending = new Map<string, Deferred<ReconcileOutcome>[]>();
    let running = 0;
    let maxRunning = 0;
    const runningKeys = new Set<string>();
    const s = setup(
      (key) => {
        if (runningKeys.has(key)) throw new Error(`concurrent reconcile of ${key}`);
        runningKeys.add(key);
        running++;
        maxRunning = Math.max(maxRunning, running);
        const d = deferred<ReconcileOutcome>();
        pending.set(key, [...(pending.get(key) ?? []), d]);
        return d.promise.finally(() => {
          running--;
          runningKeys.delete(key);
        });
      },
      { concurrency: 3 },
      [vm('a'), vm('b'), vm('c'), vm('d')],
    );
    s.informer.start();
    await s.controller.start();
    await flushPromises();
    expect(running).toBe(3);
    expect(s.controller.inFlightKeys().sort()).toEqual(['ns/a', 'ns/b', 'ns/c']);
    // 'a' changes twice while being reconciled: one more reconcile, after the current one
    s.lw.apply(vm('a', 'dev-a', 2));
    s.lw.apply(vm('a', 'dev-a', 3));
    await flushPromises();
    expect(pending.get('ns/a')).toHaveLength(1);
    pending.get('ns/a')?.[0]?.resolve(done());
    await flushPromises();
    // the free worker takes 'd' (queued first), 'a' waits behind it
    expect(s.controller.inFlightKeys().sort()).toEqual(['ns/b', 'ns/c', 'ns/d']);
    pending.get('ns/b')?.[0]?.resolve(done());
    await flushPromises();
    expect(pending.get('ns/a')).toHaveLength(2);
    for (const list of pending.values()) for (const d of list) d.resolve(done());
    await flushPromises();
    expect(maxRunning).toBe(3);
    expect(s.lines.filter((l) => l.level === 'error')).toEqual([]);
    await s.controller.stop();
    s.informer.stop();
  });

  it('forgets the backoff of a key that reconciled', async () => {
    let fail = true;
    const s = setup(async () => (fail ? failed(new Error('boom')) : done()), {}, [vm('a')]);
    s.informer.start();
    await s.controller.start();
    await flushPromises();
    expect(s.controller.queue.numRequeues('ns/a')).toBe(1);
    fail = false;
    await s.clock.advanceAsync(1000);
    expect(s.controller.queue.numRequeues('ns/a')).toBe(0);
    await s.controller.stop();
    s.informer.stop();
  });

  it('requeues after the requested delay and forgets the backoff', async () => {
    const times: number[] = [];
    let outcome: ReconcileOutcome = failed(new Error('first'));
    const s = setup(async () => {
      times.push(s.clock.now());
      return outcome;
    });
    const t0 = s.clock.now();
    s.informer.start();
    await s.controller.start();
    s.controller.enqueue('ns/x');
    await flushPromises();
    outcome = requeueAfter(30_000);
    await s.clock.advanceAsync(1000); // the retry after the error
    expect(s.controller.queue.numRequeues('ns/x')).toBe(0);
    await s.clock.advanceAsync(29_999);
    expect(times).toHaveLength(2);
    await s.clock.advanceAsync(1);
    expect(times.map((t) => t - t0)).toEqual([0, 1000, 31_000]);
    outcome = requeueAfter(-5); // a non-positive delay: again right away
    await s.clock.advanceAsync(30_000);
    await flushPromises();
    outcome = done();
    await flushPromises();
    expect(times.length).toBeGreaterThanOrEqual(4);
    await s.controller.stop();
    s.informer.stop();
  });

  it('yields to the event loop between keys, so a key requeued with no delay cannot starve timers and I/O', async () => {
    let count = 0;
    const s = setup(async () => {
      count++;
      return requeueAfter(0);
    });
    s.informer.start();
    await s.controller.start();
    s.controller.enqueue('ns/hot');
    await new Promise((resolve) => setTimeout(resolve, 5)); // would never fire with a microtask-only loop
    expect(count).toBeGreaterThan(1);
    await s.controller.stop();
    s.informer.stop();
  });

  it('retries errors and throws with a growing per-key backoff, and logs each failure', async () => {
    const times: number[] = [];
    let n = 0;
    const s = setup(async () => {
      times.push(s.clock.now());
      n++;
      if (n % 2 === 0) throw new Error(`thrown ${n}`);
      return failed(new Error(`returned ${n}`));
    });
    const t0 = s.clock.now();
    s.informer.start();
    await s.controller.start();
    s.controller.enqueue('ns/x');
    await s.clock.advanceAsync(20_000);
    expect(times.map((t) => t - t0)).toEqual([0, 1000, 3000, 7000, 15_000]);
    const errors = s.lines.filter((l) => l.level === 'error');
    expect(errors.map((l) => l.msg)).toEqual(Array(5).fill('reconcile failed'));
    expect(errors[1]?.obj).toMatchObject({ controller: 'test', key: 'ns/x', retries: 2, retryInMs: 2000 });
    expect((errors[1]?.obj.err as Error).message).toBe('thrown 2');
    await s.controller.stop();
    s.informer.stop();
  });

  it('requeues an error that carries retryAfterMs (a throttling device) at that delay, not with backoff', async () => {
    const times: number[] = [];
    const s = setup(async () => {
      times.push(s.clock.now());
      if (times.length === 1) throw Object.assign(new Error('throttled'), { retryAfterMs: 300_000 });
      if (times.length === 2) return failed(Object.assign(new Error('throttled'), { retryAfterMs: 1e15 }));
      return done();
    });
    const t0 = s.clock.now();
    s.informer.start();
    await s.controller.start();
    s.controller.enqueue('ns/x');
    await s.clock.advanceAsync(299_999);
    expect(times).toHaveLength(1);
    await s.clock.advanceAsync(1);
    expect(times.map((t) => t - t0)).toEqual([0, 300_000]);
    expect(s.controller.queue.numRequeues('ns/x')).toBe(0);
    // An absurd wait is bounded by the timer's range (it would otherwise fire at once, a hot loop).
    await s.clock.advanceAsync(60_000);
    expect(times).toHaveLength(2);
    expect(s.lines.filter((l) => l.msg === 'reconcile deferred: the remote side asked to wait').map((l) => l.obj['retryInMs'])).toEqual([300_000, 2 ** 31 - 1]);
    await s.controller.stop();
    s.informer.stop();
  });

  it.each([
    ['something other than an outcome', undefined],
    ['a requeueAfter with an unknown priority', { kind: 'requeueAfter', ms: 10, priority: 'urgent' }],
  ])('treats a reconcile that returns %s as an error', async (_what, returned) => {
    const s = setup(async () => returned as unknown as ReconcileOutcome);
    s.informer.start();
    await s.controller.start();
    s.controller.enqueue('ns/x');
    await flushPromises();
    expect(s.controller.queue.numRequeues('ns/x')).toBe(1);
    await s.controller.stop();
    s.informer.stop();
  });

  it('reports each reconcile to the metrics listener', async () => {
    const seen: string[] = [];
    const s = setup(
      async (key) => {
        s.clock.advance(7);
        return key === 'ns/a' ? done() : key === 'ns/b' ? requeueAfter(10) : failed('x');
      },
      { metrics: { reconciled: (kind, ms) => seen.push(`${kind} ${ms}`) } },
    );
    s.informer.start();
    await s.controller.start();
    s.controller.enqueue('ns/a');
    s.controller.enqueue('ns/b');
    s.controller.enqueue('ns/c');
    await flushPromises();
    expect(seen).toEqual(['done 7', 'requeueAfter 7', 'error 7']);
    await s.controller.stop();
    s.informer.stop();
  });

  it('stop() waits for reconciles in flight, aborts their signal, and starts nothing new', async () => {
    const gate = deferred<ReconcileOutcome>();
    const calls: string[] = [];
    let signal: AbortSignal | undefined;
    const s = setup(
      (key, context) => {
        calls.push(key);
        signal = context.signal;
        return gate.promise;
      },
      {},
      [vm('a'), vm('b')],
    );
    s.informer.start();
    await s.controller.start();
    await flushPromises();
    expect(calls).toEqual(['ns/a']);
    let stopped = false;
    const stopping = s.controller.stop().then(() => {
      stopped = true;
    });
    await flushPromises();
    expect(signal?.aborted).toBe(true);
    expect(stopped).toBe(false);
    s.lw.apply(vm('c'));
    gate.resolve(failed(new Error('aborted')));
    await stopping;
    expect(calls).toEqual(['ns/a']);
    expect(s.controller.isRunning()).toBe(false);
    expect(s.lines.some((l) => l.msg === 'reconcile ended by shutdown')).toBe(true);
    await s.controller.stop(); // idempotent
    s.informer.stop();
  });

  it('stop(timeoutMs) gives up waiting for a reconcile that ignores the signal, and logs the key', async () => {
    const never = deferred<ReconcileOutcome>();
    const s = setup(() => never.promise, {}, [vm('stuck')]);
    s.informer.start();
    await s.controller.start();
    await flushPromises();
    const stopping = s.controller.stop(5000);
    await s.clock.advanceAsync(4999);
    let result: boolean | undefined;
    void stopping.then((r) => (result = r));
    await flushPromises();
    expect(result).toBeUndefined();
    await s.clock.advanceAsync(1);
    expect(await stopping).toBe(false);
    expect(s.lines.find((l) => l.msg === 'controller stop timed out with reconciles in flight')?.obj).toMatchObject({ inFlight: ['ns/stuck'] });
    never.resolve(done());
    expect(await s.controller.stop()).toBe(true);
    s.informer.stop();
  });

  it('start() resolves false when stopped before its sources sync, and refuses a second start', async () => {
    const s = setup(async () => done());
    const started = s.controller.start();
    await s.controller.stop();
    await expect(started).resolves.toBe(false);
    await expect(s.controller.start()).rejects.toThrow(/already started/);
  });
});

describe('Controller logging', () => {
  it('accepts a pino logger as its Logger', async () => {
    const lines: string[] = [];
    const logger: Logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const controller = new Controller({ name: 'pino', logger, reconcile: async () => failed(new Error('nope')), queue: { rateLimiter: { qps: 0 } } });
    await controller.start();
    controller.enqueue('k');
    await flushPromises();
    await controller.stop();
    const failure = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'reconcile failed');
    expect(failure).toMatchObject({ level: 50, controller: 'pino', key: 'k', err: { message: 'nope' } });
  });
});

describe('Controller.watches mapping', () => {
  function twoInformers() {
    const clock = new FakeClock();
    const vmLw = new FakeListerWatcher<Vm>({ initial: [vm('a', 'dev-a'), vm('b', 'dev-a'), vm('c', 'dev-b')] });
    const devLw = new FakeListerWatcher<Device>({ initial: [device('dev-a'), device('dev-b')] });
    const opts = { clock, random: () => 0, stallTimeoutMs: 3_600_000 };
    const vms = new Informer<Vm>({ listerWatcher: vmLw, ...opts });
    const devices = new Informer<Device>({ listerWatcher: devLw, ...opts });
    vms.addIndex('device', (v) => [v.spec.device]);
    return { clock, vmLw, devLw, vms, devices };
  }

  /** A GpuVm-like controller watching VMs and, through the device index, devices; started with both informers. */
  async function vmController(t: ReturnType<typeof twoInformers>, admits?: (key: string) => boolean) {
    const calls: string[] = [];
    const controller = new Controller({
      name: 'gpuvm',
      clock: t.clock,
      ...(admits !== undefined ? { admits } : {}),
      reconcile: async (key) => {
        calls.push(key);
        return done();
      },
    });
    controller.watches(t.vms).watches(t.devices, { map: (d) => t.vms.indexKeys('device', d.metadata.name) });
    t.vms.start();
    t.devices.start();
    await controller.start();
    await flushPromises();
    return { calls, controller };
  }

  it('maps events of one resource to keys of another through an index', async () => {
    const t = twoInformers();
    const { calls, controller } = await vmController(t);
    expect(calls.sort()).toEqual(['ns/a', 'ns/b', 'ns/c']);
    calls.length = 0;
    t.devLw.apply(device('dev-a', 2));
    await flushPromises();
    expect(calls.sort()).toEqual(['ns/a', 'ns/b']);
    calls.length = 0;
    t.devLw.remove('dev-b');
    await flushPromises();
    expect(calls).toEqual(['ns/c']);
    await controller.stop();
    t.vms.stop();
    t.devices.stop();
  });

  it('queues only the event keys it admits; enqueue() is not filtered', async () => {
    const t = twoInformers();
    // Another replica owns dev-b.
    const { calls, controller } = await vmController(t, (key) => t.vms.get(key)?.spec.device !== 'dev-b');
    expect(calls.sort()).toEqual(['ns/a', 'ns/b']);
    calls.length = 0;
    t.devLw.apply(device('dev-b', 2));
    await flushPromises();
    expect(calls).toEqual([]);
    controller.enqueue('ns/c');
    await flushPromises();
    expect(calls).toEqual(['ns/c']);
    await controller.stop();
    t.vms.stop();
    t.devices.stop();
  });

  it('enqueues the keys of both the old and the new object on updates', async () => {
    const t = twoInformers();
    const calls: string[] = [];
    const controller = new Controller({
      name: 'edgedevice',
      clock: t.clock,
      reconcile: async (key) => {
        calls.push(key);
        return done();
      },
    });
    controller.watches(t.vms, { map: (v) => v.spec.device });
    t.vms.start();
    await controller.start();
    await flushPromises();
    expect(calls.sort()).toEqual(['dev-a', 'dev-b']);
    calls.length = 0;
    t.vmLw.apply(vm('a', 'dev-b'));
    await flushPromises();
    expect(calls.sort()).toEqual(['dev-a', 'dev-b']);
    await controller.stop();
    t.vms.stop();
  });

  it('filters events with a predicate such as generationChanged', async () => {
    const t = twoInformers();
    const calls: string[] = [];
    const controller = new Controller({
      name: 'gpuvm',
      clock: t.clock,
      reconcile: async (key) => {
        calls.push(key);
        return done();
      },
    });
    controller.watches(t.vms, { predicate: generationChanged });
    t.vms.start();
    await controller.start();
    await flushPromises();
    calls.length = 0;
    t.vmLw.apply(vm('a', 'dev-a', 1)); // status-like change: same generation
    await flushPromises();
    expect(calls).toEqual([]);
    t.vmLw.apply(vm('a', 'dev-a', 2));
    t.vmLw.remove('ns/b');
    await flushPromises();
    expect(calls).toEqual(['ns/a', 'ns/b']);
    await controller.stop();
    t.vms.stop();
  });

  it('logs and skips a throwing mapper or predicate; undefined and empty keys enqueue nothing', async () => {
    const t = twoInformers();
    const calls: string[] = [];
    const { logger, lines } = recordingLogger();
    const controller = new Controller({
      name: 'x',
      clock: t.clock,
      logger,
      reconcile: async (key) => {
        calls.push(key);
        return done();
      },
    });
    controller.watches(t.vms, {
      map: (v) => {
        if (v.metadata.name === 'a') throw new Error('mapper bug');
        return v.metadata.name === 'b' ? undefined : ['', 'ok'];
      },
    });
    controller.watches(t.devices, {
      predicate: () => {
        throw new Error('predicate bug');
      },
    });
    t.vms.start();
    t.devices.start();
    await controller.start();
    await flushPromises();
    expect(calls).toEqual(['ok']);
    expect(lines.filter((l) => l.level === 'error').map((l) => l.msg).sort()).toEqual([
      'watch mapping function threw',
      'watch predicate threw',
      'watch predicate threw',
    ]);
    await controller.stop();
    t.vms.stop();
    t.devices.stop();
  });

  it('queues events that arrive before start() and drops them after stop()', async () => {
    const t = twoInformers();
    const calls: string[] = [];
    const controller = new Controller({
      name: 'x',
      clock: t.clock,
      reconcile: async (key) => {
        calls.push(key);
        return done();
      },
    });
    controller.watches(t.vms);
    t.vms.start();
    await flushPromises();
    expect(controller.queue.len()).toBe(3);
    await controller.start();
    await flushPromises();
    expect(calls).toHaveLength(3);
    await controller.stop();
    t.vmLw.apply(vm('z'));
    expect(controller.queue.len()).toBe(0);
    t.vms.stop();
  });
});

describe('Controller priorities', () => {
  /** Lets the workers run until `done()` or a bound of event-loop turns. */
  async function until(done: () => boolean, rounds = 20_000): Promise<void> {
    for (let i = 0; i < rounds && !done(); i++) await flushPromises(1);
  }

  it('reconciles a GpuVm applied after the initial list before the listed objects still waiting', async () => {
    const calls: string[] = [];
    const gate = deferred<ReconcileOutcome>();
    const s = setup(
      (key) => {
        calls.push(key);
        return key === 'ns/a' ? gate.promise : Promise.resolve(done());
      },
      { lowPriorityWhenUnchanged: true },
      [vm('a'), vm('b'), vm('c')],
    );
    s.informer.start();
    await s.controller.start();
    await flushPromises();
    expect(calls).toEqual(['ns/a']);
    expect(s.controller.queue.len('low')).toBe(2);
    s.lw.apply(vm('fresh'));
    s.lw.apply(vm('c', 'dev-b', 2)); // a listed object that changes: up to high, behind the fresh one
    gate.resolve(done());
    await until(() => calls.length === 4);
    expect(calls).toEqual(['ns/a', 'ns/fresh', 'ns/c', 'ns/b']);
    await s.controller.stop();
    s.informer.stop();
  });

  it('serves a fresh apply before 1,000 periodic resyncs that fell due together', async () => {
    const calls: string[] = [];
    let lowWaitingAtFresh = -1;
    const listed = Array.from({ length: 1000 }, (_, i) => vm(`listed-${i}`));
    const s = setup(
      async (key) => {
        calls.push(key);
        if (key === 'ns/fresh') lowWaitingAtFresh = s.controller.queue.len('low');
        return resyncAfter(600_000);
      },
      { lowPriorityWhenUnchanged: true },
      listed,
    );
    s.informer.start();
    await s.controller.start();
    await until(() => calls.length === 1000);
    await flushPromises(); // the worker waits for work again
    expect(calls).toHaveLength(1000);
    calls.length = 0;
    s.clock.advance(600_000); // every resync is due: the idle worker takes the first one at once
    expect(s.controller.queue.len('low')).toBe(999);
    s.lw.apply(vm('fresh'));
    await until(() => calls.length === 1001);
    expect(calls.indexOf('ns/fresh')).toBe(1);
    expect(lowWaitingAtFresh).toBe(999);
    await s.controller.stop();
    s.informer.stop();
  });

  it('queues resyncs of unchanged objects at low priority, real changes and deletes at high', async () => {
    const clock = new FakeClock();
    const lw = new FakeListerWatcher<Vm>({ initial: [vm('a'), vm('b'), vm('c')] });
    const informer = new Informer<Vm>({ listerWatcher: lw, clock, random: () => 0, watchTimeoutSeconds: 300, stallTimeoutMs: 3_600_000, resyncPeriodMs: 60_000 });
    // Not started: the queue only collects what the events ask for.
    const controller = new Controller({ name: 'test', clock, lowPriorityWhenUnchanged: true, reconcile: async () => done() }).watches(informer);
    informer.start();
    await flushPromises();
    expect([controller.queue.len('high'), controller.queue.len('low')]).toEqual([0, 3]); // the initial list
    for (let handout = await controller.queue.getWithPriority(); handout; handout = controller.queue.len() > 0 ? await controller.queue.getWithPriority() : undefined) {
      controller.queue.done(handout.key);
    }
    lw.apply(vm('a', 'dev-b', 2));
    lw.remove('ns/b');
    await flushPromises();
    expect([controller.queue.len('high'), controller.queue.len('low')]).toEqual([2, 0]);
    clock.advance(60_000); // the informer's resync: onUpdate(obj, obj) for a and c
    expect([controller.queue.len('high'), controller.queue.len('low')]).toEqual([2, 1]);
    expect(await controller.queue.getWithPriority()).toEqual({ key: 'ns/a', priority: 'high' });
    controller.queue.done('ns/a');
    await controller.stop();
    informer.stop();
  });

  it('without lowPriorityWhenUnchanged queues every informer event at high priority', async () => {
    const gate = deferred<ReconcileOutcome>();
    const s = setup(() => gate.promise, {}, [vm('a'), vm('b')]);
    s.informer.start();
    await s.controller.start();
    await flushPromises();
    expect([s.controller.queue.len('high'), s.controller.queue.len('low')]).toEqual([1, 0]);
    gate.resolve(done());
    await s.controller.stop();
    s.informer.stop();
  });

  it('requeues at the priority the outcome names, else at the one the key was handed out with; retries keep it', async () => {
    const outcomes: Record<string, ReconcileOutcome> = {
      'ns/poll': requeueAfter(1000, { priority: 'high' }),
      'ns/sync': resyncAfter(1000),
      'ns/again': requeueAfter(1000),
      'ns/fails': failed(new Error('boom')),
      'ns/throttled': failed(Object.assign(new Error('throttled'), { retryAfterMs: 1000 })),
    };
    const s = setup(async (key) => outcomes[key] ?? done(), { lowPriorityWhenUnchanged: true }, Object.keys(outcomes).map((k) => vm(k.slice(3))));
    const scheduled: string[] = [];
    const addAfter = s.controller.queue.addAfter.bind(s.controller.queue);
    s.controller.queue.addAfter = (key, ms, priority) => {
      scheduled.push(`${key} ${priority}`);
      addAfter(key, ms, priority);
    };
    s.informer.start();
    await s.controller.start(); // every key comes from the initial list: low
    await flushPromises(20);
    expect(scheduled.sort()).toEqual(['ns/again low', 'ns/fails low', 'ns/poll high', 'ns/sync low', 'ns/throttled low']);
    scheduled.length = 0;
    s.lw.apply(vm('again', 'dev-b', 2));
    s.lw.apply(vm('fails', 'dev-b', 2));
    s.lw.apply(vm('sync', 'dev-b', 2));
    await flushPromises(20);
    expect(scheduled.sort()).toEqual(['ns/again high', 'ns/fails high', 'ns/sync low']);
    await s.controller.stop();
    s.informer.stop();
  });
});

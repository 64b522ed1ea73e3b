import { FakeClock, flushPromises } from '../../test/support/fakes/fakeClock.js';
import { FakeListerWatcher } from '../../test/support/fakes/fakeListerWatcher.js';
import { Informer, LAST_APPLIED_ANNOTATION, objectKey, secretForCache, splitKey, stripForCache, stripManagedFields, type InformerOptions } from './informer.js';
import type { Logger } from './logger.js';

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string; managedFields?: unknown[] };
  spec?: { device?: string; n?: number };
}

const obj = (name: string, device = 'dev-a', n = 0, namespace = 'ns'): Obj => ({ metadata: { name, namespace }, spec: { device, n } });

function setup(initial: Obj[] = [], options: Partial<InformerOptions<Obj>> = {}) {
  const clock = new FakeClock();
  const lw = new FakeListerWatcher<Obj>({ initial });
  const warnings: string[] = [];
  const logger: Logger = {
    error: (o, m) => warnings.push(`error ${m} ${JSON.stringify(o)}`),
    warn: (_o, m) => warnings.push(`warn ${m}`),
    info: () => undefined,
    debug: () => undefined,
  };
  const informer = new Informer<Obj>({ listerWatcher: lw, clock, random: () => 0, logger, watchTimeoutSeconds: 300, ...options });
  const events: string[] = [];
  informer.addEventHandler({
    onAdd: (o) => events.push(`add ${objectKey(o)}`),
    onUpdate: (old, o) => events.push(`update ${objectKey(o)} ${old.spec?.n}->${o.spec?.n}`),
    onDelete: (o) => events.push(`delete ${objectKey(o)}`),
  });
  return { clock, lw, informer, events, warnings };
}

async function started(s: ReturnType<typeof setup>): Promise<void> {
  s.informer.start();
  await flushPromises();
}

describe('Informer: list and watch', () => {
  it('lists, delivers adds, syncs, then watches from the list resourceVersion with bookmarks and a timeout', async () => {
    const s = setup([obj('a'), obj('b')]);
    expect(s.informer.hasSynced()).toBe(false);
    const synced = s.informer.waitForSync();
    await started(s);
    await expect(synced).resolves.toBe(true);
    expect(s.informer.hasSynced()).toBe(true);
    expect(s.events).toEqual(['add ns/a', 'add ns/b']);
    expect(s.informer.keys().sort()).toEqual(['ns/a', 'ns/b']);
    expect(s.lw.watches).toHaveLength(1);
    expect(s.lw.watches[0]?.request).toEqual({ resourceVersion: s.lw.resourceVersion, timeoutSeconds: 300, inactivityTimeoutMs: 365_000 });
    expect(s.informer.lastSyncTime?.getTime()).toBe(s.clock.now());
    expect(s.informer.isHealthy()).toBe(true);
  });

  it('applies watch events to the store and the handlers, tracking the resourceVersion', async () => {
    const s = setup([obj('a')]);
    await started(s);
    s.lw.apply(obj('b'));
    s.lw.apply(obj('a', 'dev-a', 1));
    s.lw.remove('ns/b');
    expect(s.events).toEqual(['add ns/a', 'add ns/b', 'update ns/a 0->1', 'delete ns/b']);
    expect(s.informer.get('ns/a')?.spec?.n).toBe(1);
    expect(s.informer.get('ns/b')).toBeUndefined();
    expect(s.informer.lastResourceVersion).toBe(s.lw.resourceVersion);
    expect(s.informer.stats()).toMatchObject({ lists: 1, watches: 1, events: 3 });
  });

  it('moves the resourceVersion forward on bookmarks without events', async () => {
    const s = setup([obj('a')]);
    await started(s);
    s.lw.bookmark(50);
    expect(s.informer.lastResourceVersion).toBe(s.lw.resourceVersion);
    expect(s.events).toEqual(['add ns/a']);
    expect(s.informer.stats().bookmarks).toBe(1);
  });

  it('treats ADDED for a known object as an update and MODIFIED for an unknown one as an add', async () => {
    const s = setup([obj('a')]);
    await started(s);
    s.lw.current?.send('ADDED', { ...obj('a', 'dev-a', 7), metadata: { name: 'a', namespace: 'ns', resourceVersion: '900' } });
    s.lw.current?.send('MODIFIED', { ...obj('z'), metadata: { name: 'z', namespace: 'ns', resourceVersion: '901' } });
    s.lw.current?.send('DELETED', { metadata: { name: 'unknown', namespace: 'ns', resourceVersion: '902' } });
    expect(s.events).toEqual(['add ns/a', 'update ns/a 0->7', 'add ns/z']);
  });

  it('re-opens a watch the server ended normally from the last resourceVersion, without re-listing', async () => {
    const s = setup([obj('a')]);
    await started(s);
    s.lw.apply(obj('b'));
    const rv = s.lw.resourceVersion;
    await s.clock.advanceAsync(2000);
    s.lw.watches[0]?.close();
    await flushPromises();
    expect(s.lw.listCalls).toBe(1);
    expect(s.lw.watches).toHaveLength(2);
    expect(s.lw.watches[1]?.request.resourceVersion).toBe(rv);
    s.lw.apply(obj('c'));
    expect(s.events).toEqual(['add ns/a', 'add ns/b', 'add ns/c']);
  });

  it('spreads watch timeouts over [120, 240) seconds by default', async () => {
    const clock = new FakeClock();
    const lw = new FakeListerWatcher<Obj>();
    const values = [0, 0.5, 0.999];
    const informer = new Informer<Obj>({ listerWatcher: lw, clock, random: () => values.shift() ?? 0 });
    informer.start();
    await flushPromises();
    await clock.advanceAsync(2000);
    lw.current?.close();
    await flushPromises();
    await clock.advanceAsync(2000);
    lw.current?.close();
    await flushPromises();
    expect(lw.watches.map((w) => w.request.timeoutSeconds)).toEqual([120, 180, 239]);
    informer.stop();
  });

  it('uses a watchTimeoutSeconds function when given', async () => {
    const s = setup([], { watchTimeoutSeconds: () => 42 });
    await started(s);
    expect(s.lw.watches[0]?.request.timeoutSeconds).toBe(42);
  });
});

describe('Informer: recovery', () => {
  it('re-lists after a backoff when the watch fails, synthesizing deletes and updates for what it missed', async () => {
    const s = setup([obj('a'), obj('b'), obj('c')]);
    await started(s);
    // Changes the informer never sees as events: the watch is broken.
    s.lw.apply(obj('a', 'dev-a', 5), { silent: true });
    s.lw.remove('ns/b', { silent: true });
    s.lw.apply(obj('d'), { silent: true });
    s.lw.watches[0]?.close(new Error('connection reset'));
    await flushPromises();
    expect(s.lw.listCalls).toBe(1);
    await s.clock.advanceAsync(999);
    expect(s.lw.listCalls).toBe(1);
    await s.clock.advanceAsync(1);
    expect(s.lw.listCalls).toBe(2);
    expect(s.events.slice(3).sort()).toEqual(['add ns/d', 'delete ns/b', 'update ns/a 0->5']);
    expect(s.informer.keys().sort()).toEqual(['ns/a', 'ns/c', 'ns/d']);
    expect(s.lw.current?.request.resourceVersion).toBe(s.lw.resourceVersion);
    expect(s.warnings).toEqual(['warn informer watch failed; re-listing after backoff']);
  });

  it('re-lists at once on a 410 ERROR event', async () => {
    const s = setup([obj('a')]);
    await started(s);
    s.lw.remove('ns/a', { silent: true });
    s.lw.current?.send('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    await flushPromises();
    expect(s.lw.watches[0]?.aborted).toBe(true);
    expect(s.lw.listCalls).toBe(2);
    expect(s.events).toEqual(['add ns/a', 'delete ns/a']);
    expect(s.informer.stats()).toMatchObject({ expired: 1, failures: 0 });
    expect(s.lw.current).toBeDefined();
  });

  it('re-lists at once when the watch request itself fails with 410', async () => {
    const s = setup([obj('a')]);
    await started(s);
    await s.clock.advanceAsync(2000);
    s.lw.watchFailures.push(Object.assign(new Error('Gone'), { statusCode: 410 }));
    s.lw.current?.close(); // a normal roll-over; the re-opened watch gets 410
    await flushPromises();
    expect(s.lw.listCalls).toBe(2);
    expect(s.lw.current).toBeDefined();
    expect(s.informer.stats()).toMatchObject({ expired: 1, failures: 0 });
  });

  it('backs off on other ERROR events', async () => {
    const s = setup([obj('a')]);
    await started(s);
    s.lw.current?.send('ERROR', { kind: 'Status', code: 500, message: 'internal error' });
    await flushPromises();
    expect(s.lw.listCalls).toBe(1);
    await s.clock.advanceAsync(1000);
    expect(s.lw.listCalls).toBe(2);
    expect(s.informer.stats().failures).toBe(1);
  });

  it('backs off exponentially while lists keep failing, up to the cap, and never stops', async () => {
    const s = setup([obj('a')], { backoff: { baseMs: 1000, maxMs: 30_000, jitter: 0.2 } });
    for (let i = 0; i < 8; i++) s.lw.listFailures.push(new Error('apiserver down'));
    const times: number[] = [];
    const list = s.lw.list.bind(s.lw);
    s.lw.list = () => {
      times.push(s.clock.now());
      return list();
    };
    await started(s);
    await s.clock.advanceAsync(150_000);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(gaps).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(s.informer.hasSynced()).toBe(true);
    expect(s.events).toEqual(['add ns/a']);
    expect(s.informer.stats()).toMatchObject({ failures: 8, lists: 1 });
  });

  it('resets the backoff once a watch delivers events', async () => {
    const s = setup([obj('a')]);
    await started(s);
    for (let i = 0; i < 3; i++) {
      s.lw.current?.close(new Error('boom'));
      await s.clock.advanceAsync(60_000);
    }
    s.lw.bookmark();
    const before = s.lw.listCalls;
    s.lw.current?.close(new Error('boom'));
    await s.clock.advanceAsync(1000);
    expect(s.lw.listCalls).toBe(before + 1);
  });

  it('counts a watch the server closes right after opening as a failure', async () => {
    const s = setup([obj('a')]);
    await started(s);
    s.lw.current?.close();
    await flushPromises();
    expect(s.lw.watches).toHaveLength(1);
    expect(s.informer.stats().failures).toBe(1);
    await s.clock.advanceAsync(1000);
    expect(s.lw.listCalls).toBe(2);
    expect(s.lw.watches).toHaveLength(2);
  });

  it('recovers from a failing watch request', async () => {
    const s = setup([obj('a')]);
    s.lw.watchFailures.push(new Error('ECONNREFUSED'), new Error('ECONNREFUSED'));
    await started(s);
    expect(s.informer.hasSynced()).toBe(true);
    await s.clock.advanceAsync(1000);
    await s.clock.advanceAsync(2000);
    expect(s.lw.current).toBeDefined();
    expect(s.lw.listCalls).toBe(3);
    s.lw.apply(obj('b'));
    expect(s.informer.keys().sort()).toEqual(['ns/a', 'ns/b']);
  });

  it('restarts an open watch that stays silent past its timeoutSeconds plus the stall timeout', async () => {
    const s = setup([obj('a')], { stallTimeoutMs: 60_000, watchTimeoutSeconds: 300 });
    await started(s);
    // The server should end the watch after 300 s; it stays silent (a dead connection) instead.
    await s.clock.advanceAsync(359_999);
    expect(s.informer.stats().stalls).toBe(0);
    s.lw.remove('ns/a', { silent: true });
    await s.clock.advanceAsync(1);
    expect(s.informer.stats().stalls).toBe(1);
    expect(s.lw.watches[0]?.aborted).toBe(true);
    await s.clock.advanceAsync(1000);
    expect(s.lw.listCalls).toBe(2);
    expect(s.events).toEqual(['add ns/a', 'delete ns/a']);
    expect(s.lw.current).toBeDefined();
    expect(s.warnings).toEqual(['warn informer stall failed; re-listing after backoff']);
  });

  it('gives an open watch at least the stall timeout after its last event', async () => {
    const s = setup([obj('a')], { stallTimeoutMs: 60_000, watchTimeoutSeconds: 300 });
    await started(s);
    await s.clock.advanceAsync(350_000);
    s.lw.apply(obj('b'));
    await s.clock.advanceAsync(59_999);
    expect(s.informer.stats().stalls).toBe(0);
    await s.clock.advanceAsync(1);
    expect(s.informer.stats().stalls).toBe(1);
  });

  it('measures the stall window of each watch from its own start', async () => {
    const s = setup([obj('a')], { stallTimeoutMs: 10_000, watchTimeoutSeconds: 100 });
    await started(s);
    await s.clock.advanceAsync(100_000);
    s.lw.current?.close(); // normal roll-over
    await flushPromises();
    await s.clock.advanceAsync(109_999);
    expect(s.informer.stats().stalls).toBe(0);
    await s.clock.advanceAsync(1);
    expect(s.informer.stats().stalls).toBe(1);
  });

  it('does not restart a quiet watch that receives bookmarks', async () => {
    const s = setup([obj('a')], { stallTimeoutMs: 60_000 });
    await started(s);
    for (let i = 0; i < 10; i++) {
      await s.clock.advanceAsync(50_000);
      s.lw.bookmark();
    }
    expect(s.informer.stats()).toMatchObject({ stalls: 0, lists: 1, watches: 1, bookmarks: 10 });
    expect(s.informer.isHealthy()).toBe(true);
  });

  it('abandons a list that hangs and retries it', async () => {
    const s = setup([obj('a')], { listTimeoutMs: 10_000, stallTimeoutMs: 60_000 });
    s.lw.listFailures.push('hang');
    await started(s);
    await s.clock.advanceAsync(10_000);
    expect(s.informer.hasSynced()).toBe(false);
    expect(s.lw.listSignals[0]?.aborted).toBe(true);
    await s.clock.advanceAsync(1000);
    expect(s.informer.hasSynced()).toBe(true);
    expect(s.lw.listCalls).toBe(2);
    expect(s.lw.listSignals[1]?.aborted).toBe(false);
  });

  it('detects a watch request that never answers as a stall', async () => {
    const s = setup([obj('a')], { stallTimeoutMs: 30_000 });
    s.lw.watchFailures.push('hang');
    await started(s);
    await s.clock.advanceAsync(30_000);
    expect(s.informer.stats().stalls).toBe(1);
    await s.clock.advanceAsync(1000);
    expect(s.lw.current).toBeDefined();
  });

  it('ignores events and closes from watches it has replaced', async () => {
    const s = setup([obj('a')]);
    await started(s);
    const old = s.lw.watches[0];
    old?.close(new Error('reset'));
    await s.clock.advanceAsync(1000);
    expect(s.lw.watches).toHaveLength(2);
    // The old watch object still has its callbacks: pretend it was not really dead.
    Object.assign(old ?? {}, { closed: false });
    old?.send('ADDED', { metadata: { name: 'ghost', namespace: 'ns', resourceVersion: '1' } });
    old?.close(new Error('late'));
    await s.clock.advanceAsync(60_000);
    expect(s.informer.get('ns/ghost')).toBeUndefined();
    expect(s.lw.listCalls).toBe(2);
    expect(s.informer.stats().failures).toBe(1);
  });

  it('starts the backoff over when a failing watch had been open for a while', async () => {
    const s = setup([obj('a')], { backoffResetMs: 60_000 });
    await started(s);
    for (let i = 0; i < 3; i++) {
      s.lw.current?.close(new Error('reset'));
      await s.clock.advanceAsync(10_000); // delays 1, 2, 4 s
    }
    let lists = s.lw.listCalls;
    s.lw.current?.close(new Error('reset')); // open only briefly: 8 s
    await s.clock.advanceAsync(7999);
    expect(s.lw.listCalls).toBe(lists);
    await s.clock.advanceAsync(1);
    expect(s.lw.listCalls).toBe(lists + 1);
    await s.clock.advanceAsync(60_000);
    lists = s.lw.listCalls;
    s.lw.current?.close(new Error('reset')); // open for 60 s: back to the base delay
    await s.clock.advanceAsync(1000);
    expect(s.lw.listCalls).toBe(lists + 1);
  });

  it('reports unhealthy when it makes no progress for longer than a watch window plus two stall timeouts', async () => {
    const s = setup([obj('a')], { stallTimeoutMs: 60_000, watchTimeoutSeconds: 300 });
    expect(s.informer.isHealthy()).toBe(false);
    await started(s);
    expect(s.informer.isHealthy()).toBe(true);
    for (let i = 0; i < 50; i++) s.lw.listFailures.push(new Error('down'));
    s.lw.current?.close(new Error('down'));
    await s.clock.advanceAsync(420_000);
    expect(s.informer.isHealthy()).toBe(true);
    await s.clock.advanceAsync(1);
    expect(s.informer.isHealthy()).toBe(false);
    expect(s.informer.isHealthy(30 * 60_000)).toBe(true);
  });
});

describe('Informer: lifecycle', () => {
  it('stop() closes the watch, clears its timers and ignores late events; start() re-lists', async () => {
    const s = setup([obj('a')], { resyncPeriodMs: 60_000 });
    await started(s);
    const watch = s.lw.current;
    s.informer.stop();
    expect(watch?.aborted).toBe(true);
    expect(s.clock.pendingTimers()).toBe(0);
    expect(s.informer.isRunning()).toBe(false);
    expect(s.informer.isHealthy()).toBe(false);
    Object.assign(watch ?? {}, { aborted: false });
    watch?.send('ADDED', { metadata: { name: 'late', namespace: 'ns', resourceVersion: '1' } });
    expect(s.informer.get('ns/late')).toBeUndefined();
    expect(s.informer.get('ns/a')).toBeDefined(); // the store is kept
    s.lw.remove('ns/a', { silent: true });
    s.informer.start();
    await flushPromises();
    expect(s.lw.listCalls).toBe(2);
    expect(s.events).toEqual(['add ns/a', 'delete ns/a']);
  });

  it('stop() aborts a list in progress', async () => {
    const s = setup();
    s.lw.listFailures.push('hang');
    await started(s);
    s.informer.stop();
    expect(s.lw.listSignals[0]?.aborted).toBe(true);
  });

  it('stop() during a backoff cancels the retry', async () => {
    const s = setup();
    s.lw.listFailures.push(new Error('down'));
    await started(s);
    s.informer.stop();
    expect(s.clock.pendingTimers()).toBe(0);
    await s.clock.advanceAsync(60_000);
    expect(s.lw.listCalls).toBe(1);
  });

  it('waitForSync() waits for start(), and resolves false when stopped or aborted before syncing', async () => {
    const first = setup();
    const beforeStart = first.informer.waitForSync();
    await started(first);
    await expect(beforeStart).resolves.toBe(true);
    first.informer.stop();

    const s = setup();
    s.lw.listFailures.push('hang');
    await started(s);
    const aborter = new AbortController();
    const byAbort = s.informer.waitForSync(aborter.signal);
    const byStop = s.informer.waitForSync();
    aborter.abort();
    await expect(byAbort).resolves.toBe(false);
    s.informer.stop();
    await expect(byStop).resolves.toBe(false);
  });

  it('calls onUpdate(obj, obj) for every object each resync period', async () => {
    const s = setup([obj('a'), obj('b')], { resyncPeriodMs: 60_000 });
    await started(s);
    await s.clock.advanceAsync(59_999);
    expect(s.events).toHaveLength(2);
    await s.clock.advanceAsync(1);
    expect(s.events.slice(2)).toEqual(['update ns/a 0->0', 'update ns/b 0->0']);
    await s.clock.advanceAsync(60_000);
    expect(s.events).toHaveLength(6);
  });
});

describe('Informer: handlers', () => {
  it('replays stored objects to a handler added later, and unsubscribes', async () => {
    const s = setup([obj('a'), obj('b')]);
    await started(s);
    const late: string[] = [];
    const off = s.informer.addEventHandler({ onAdd: (o) => late.push(objectKey(o)) });
    expect(late).toEqual(['ns/a', 'ns/b']);
    s.lw.apply(obj('c'));
    off();
    s.lw.apply(obj('d'));
    expect(late).toEqual(['ns/a', 'ns/b', 'ns/c']);
  });

  it('offers onAdd/onUpdate/onDelete shorthands', async () => {
    const s = setup([obj('a')]);
    const seen: string[] = [];
    s.informer.onAdd((o) => seen.push(`add ${o.metadata.name}`));
    s.informer.onUpdate((_old, o) => seen.push(`update ${o.metadata.name}`));
    const off = s.informer.onDelete((o) => seen.push(`delete ${o.metadata.name}`));
    await started(s);
    s.lw.apply(obj('a', 'dev-a', 1));
    off();
    s.lw.remove('ns/a');
    expect(seen).toEqual(['add a', 'update a']);
  });

  it('keeps calling other handlers when one throws, and logs it', async () => {
    const s = setup([obj('a')]);
    s.informer.addEventHandler({
      onAdd: () => {
        throw new Error('handler bug');
      },
    });
    const after: string[] = [];
    s.informer.addEventHandler({ onAdd: (o) => after.push(objectKey(o)) });
    await started(s);
    s.lw.apply(obj('b'));
    expect(after).toEqual(['ns/a', 'ns/b']);
    expect(s.events).toEqual(['add ns/a', 'add ns/b']);
    expect(s.warnings.filter((w) => w.startsWith('error informer event handler threw'))).toHaveLength(2);
  });

  it('passes the old and new object to onUpdate, and the final state to onDelete', async () => {
    const s = setup([obj('a')]);
    const seen: unknown[] = [];
    s.informer.addEventHandler({
      onUpdate: (old, o) => seen.push([old.metadata.resourceVersion, o.metadata.resourceVersion]),
      onDelete: (o) => seen.push(o.metadata.resourceVersion),
    });
    await started(s);
    const before = s.informer.get('ns/a')?.metadata.resourceVersion;
    const updated = s.lw.apply(obj('a', 'dev-a', 1));
    s.lw.remove('ns/a');
    expect(seen).toEqual([[before, updated.metadata.resourceVersion], s.lw.resourceVersion]);
  });
});

describe('Informer: indexes', () => {
  it('indexes objects added before and after the index', async () => {
    const s = setup([obj('a', 'dev-a'), obj('b', 'dev-b')]);
    await started(s);
    s.informer.addIndex('device', (o) => (o.spec?.device ? [o.spec.device] : []));
    s.lw.apply(obj('c', 'dev-a'));
    expect(s.informer.byIndex('device', 'dev-a').map(objectKey)).toEqual(['ns/a', 'ns/c']);
    expect(s.informer.indexKeys('device', 'dev-b')).toEqual(['ns/b']);
    expect(s.informer.byIndex('device', 'dev-z')).toEqual([]);
  });

  it('moves an object between index values on update and drops it on delete', async () => {
    const s = setup([obj('a', 'dev-a')]);
    s.informer.addIndex('device', (o) => (o.spec?.device ? [o.spec.device] : []));
    await started(s);
    s.lw.apply(obj('a', 'dev-b'));
    expect(s.informer.indexKeys('device', 'dev-a')).toEqual([]);
    expect(s.informer.indexKeys('device', 'dev-b')).toEqual(['ns/a']);
    s.lw.remove('ns/a');
    expect(s.informer.indexKeys('device', 'dev-b')).toEqual([]);
  });

  it('updates indexes on re-list', async () => {
    const s = setup([obj('a', 'dev-a'), obj('b', 'dev-a')]);
    s.informer.addIndex('device', (o) => (o.spec?.device ? [o.spec.device] : []));
    await started(s);
    s.lw.apply(obj('a', 'dev-b'), { silent: true });
    s.lw.remove('ns/b', { silent: true });
    s.lw.current?.close(new Error('reset'));
    await s.clock.advanceAsync(1000);
    expect(s.informer.indexKeys('device', 'dev-a')).toEqual([]);
    expect(s.informer.indexKeys('device', 'dev-b')).toEqual(['ns/a']);
  });

  it('supports several values per object', async () => {
    const s = setup([obj('a', 'dev-a')]);
    s.informer.addIndex('multi', (o) => [`x-${o.metadata.name}`, `y-${o.metadata.name}`]);
    await started(s);
    expect(s.informer.indexKeys('multi', 'x-a')).toEqual(['ns/a']);
    expect(s.informer.indexKeys('multi', 'y-a')).toEqual(['ns/a']);
  });

  it('rejects unknown and duplicate index names, and survives a throwing index function', async () => {
    const s = setup([obj('a')]);
    await started(s);
    expect(() => s.informer.byIndex('nope', 'x')).toThrow(/no index "nope"/);
    s.informer.addIndex('bad', () => {
      throw new Error('index bug');
    });
    expect(() => s.informer.addIndex('bad', () => [])).toThrow(/already exists/);
    s.lw.apply(obj('b'));
    expect(s.informer.get('ns/b')).toBeDefined();
    expect(s.informer.indexKeys('bad', 'x')).toEqual([]);
  });
});

describe('keys and transforms', () => {
  it('builds and splits namespace/name and cluster-scoped keys', () => {
    expect(objectKey({ metadata: { name: 'a', namespace: 'ns' } })).toBe('ns/a');
    expect(objectKey({ metadata: { name: 'dev-a' } })).toBe('dev-a');
    expect(splitKey('ns/a')).toEqual({ namespace: 'ns', name: 'a' });
    expect(splitKey('dev-a')).toEqual({ name: 'dev-a' });
  });

  it('stores transformed objects (e.g. without managedFields)', async () => {
    const s = setup([{ metadata: { name: 'a', namespace: 'ns', managedFields: [{ manager: 'kubectl' }] } }], {
      transform: stripManagedFields,
    });
    await started(s);
    s.lw.apply({ metadata: { name: 'b', namespace: 'ns', managedFields: [{}] } });
    expect(s.informer.get('ns/a')?.metadata).not.toHaveProperty('managedFields');
    expect(s.informer.get('ns/b')?.metadata).not.toHaveProperty('managedFields');
  });

  it("caches the controller's kinds without managedFields or kubectl's last-applied copy, keeping every other field", () => {
    const applied = {
      apiVersion: 'gpuvm.io/v1alpha1',
      kind: 'GpuVm',
      metadata: {
        name: 'vm',
        namespace: 'team',
        uid: 'u1',
        resourceVersion: '7',
        generation: 2,
        finalizers: ['gpuvm.io/finalizer'],
        labels: { app: 'x' },
        annotations: { [LAST_APPLIED_ANNOTATION]: '{"spec":{}}', 'gpuvm.io/reconcile-requested': 't1' },
        managedFields: [{ manager: 'kubectl' }],
      },
      spec: { deviceRef: { name: 'dev' } },
      status: { phase: 'Ready' },
    };
    const { managedFields: _dropped, ...metadata } = applied.metadata;
    expect(stripForCache(structuredClone(applied))).toEqual({ ...applied, metadata: { ...metadata, annotations: { 'gpuvm.io/reconcile-requested': 't1' } } });
    // No annotation left: none at all.
    const onlyLastApplied = stripForCache({ metadata: { name: 'dev', annotations: { [LAST_APPLIED_ANNOTATION]: '{}' } } });
    expect(onlyLastApplied.metadata).toEqual({ name: 'dev' });
    expect(stripForCache({ metadata: { name: 'dev' } })).toEqual({ metadata: { name: 'dev' } });
  });

  it('caches a Secret as name, namespace, uid, resourceVersion, type and data; a Helm release without its data', () => {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'dev-arm',
        namespace: 'gpuvm-system',
        uid: 'u2',
        resourceVersion: '9',
        labels: { team: 'a' },
        annotations: { [LAST_APPLIED_ANNOTATION]: '{"stringData":{"password":"p"}}' },
        managedFields: [{ manager: 'kubectl' }],
        creationTimestamp: new Date(0),
      },
      type: 'Opaque',
      data: { username: 'dQ==', password: 'cA==' },
    };
    expect(secretForCache(secret)).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'dev-arm', namespace: 'gpuvm-system', uid: 'u2', resourceVersion: '9' },
      type: 'Opaque',
      data: { username: 'dQ==', password: 'cA==' },
    });
    const release = { metadata: { name: 'sh.helm.release.v1.gpuvm-controller.v3', namespace: 'gpuvm-system', resourceVersion: '4' }, type: 'helm.sh/release.v1', data: { release: 'H4sI' } };
    expect(secretForCache(release)).toEqual({ metadata: { name: 'sh.helm.release.v1.gpuvm-controller.v3', namespace: 'gpuvm-system', resourceVersion: '4' }, type: 'helm.sh/release.v1' });
  });
});

import { FakeClock, flushPromises } from '../../test/support/fakes/fakeClock.js';
import { MemoryLeaseStore } from '../../test/support/fakes/memoryLeaseStore.js';
import { MemoryShardDevices, MemoryShardLeaseLister } from '../../test/support/fakes/memoryShards.js';
import type { EdgeDevice } from '../api/types.js';
import { ownerOf } from './hashRing.js';
import type { LeaderElector, LeaderElectionRecord, LeaseRef, LeaseStore, StoredLease, StoppedLeadingReason } from './leaderElection.js';
import { shardLease, shardLeaseName } from './shardLease.js';
import { ShardMembership } from './shardMembership.js';
import { SHARD_WRITES_IN_FLIGHT, ShardOwnership } from './shardOwnership.js';

const NS = 'gpuvm-system';
const T = { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 };
const DEVICES = Array.from({ length: 20 }, (_, i) => `dev-${i}`);

/** One replica's view of the shared lease store: can be cut off from it (a partition). */
class CuttableStore implements LeaseStore {
  cut = false;
  constructor(private readonly inner: LeaseStore) {}
  private check(): void {
    if (this.cut) throw new Error('connect ETIMEDOUT (test)');
  }
  async get(ref: LeaseRef, signal: AbortSignal): Promise<StoredLease | undefined> {
    this.check();
    return this.inner.get(ref, signal);
  }
  async create(ref: LeaseRef, record: LeaderElectionRecord, signal: AbortSignal): Promise<StoredLease> {
    this.check();
    return this.inner.create(ref, record, signal);
  }
  async update(ref: LeaseRef, previous: StoredLease, record: LeaderElectionRecord, signal: AbortSignal): Promise<StoredLease> {
    this.check();
    return this.inner.update(ref, previous, record, signal);
  }
}

interface Replica {
  id: string;
  lease: LeaderElector;
  store: CuttableStore;
  lister: MemoryShardLeaseLister;
  membership: ShardMembership;
  ownership: ShardOwnership;
  lost: { at: number; reason: StoppedLeadingReason }[];
  stop(release?: boolean): Promise<void>;
}

function world() {
  const clock = new FakeClock();
  const leases = new MemoryLeaseStore();
  const names: string[] = [];
  const devices = new MemoryShardDevices(DEVICES, () => clock.now());
  const replicas: Replica[] = [];
  devices.onChange = (name) => {
    for (const r of replicas) void r.ownership.evaluate(name);
  };
  const replica = (id: string): Replica => {
    const store = new CuttableStore(leases);
    const lister = new MemoryShardLeaseLister(leases, () => names);
    const lost: Replica['lost'] = [];
    const lease = shardLease({ store, namespace: NS, identity: id, ...T, clock, onHeld: () => undefined, onLost: (reason) => lost.push({ at: clock.now(), reason }) });
    const membership = new ShardMembership({ lister, namespace: NS, identity: id, retryPeriodMs: T.retryPeriodMs, leaseDurationMs: T.leaseDurationMs, clock, onRefresh: () => ownership.evaluateAll() });
    const ownership: ShardOwnership = new ShardOwnership({ identity: id, membership, devices, writer: devices, leaseHeld: () => lease.isLeader(), onGained: () => undefined, clock });
    names.push(shardLeaseName(id));
    void lease.run();
    membership.start();
    const r: Replica = {
      id,
      lease,
      store,
      lister,
      membership,
      ownership,
      lost,
      stop: async (release = false) => {
        membership.stop();
        await lease.stop({ release });
      },
    };
    replicas.push(r);
    return r;
  };
  /** Advances time in small steps; after each, no device may be acted on by two replicas. */
  const run = async (ms: number, step = 50): Promise<void> => {
    for (let t = 0; t < ms; t += step) {
      await clock.advanceAsync(step);
      for (const d of DEVICES) {
        const actors = replicas.filter((r) => r.ownership.mayActOn(d)).map((r) => r.id);
        if (actors.length > 1) throw new Error(`${d} acted on by ${actors.join(', ')} at ${clock.now()}`);
      }
    }
  };
  return { clock, leases, devices, replica, replicas, run, stopAll: () => Promise.all(replicas.map((r) => r.stop())) };
}

describe('ShardMembership', () => {
  test('unknown until two lists agree; a lease unchanged for its duration, or released, is no longer live', async () => {
    const clock = new FakeClock();
    const leases = new MemoryLeaseStore();
    const lister = new MemoryShardLeaseLister(leases, () => ['l-a', 'l-b', 'l-c']);
    const record = (holder: string): LeaderElectionRecord => ({ holderIdentity: holder, leaseDurationSeconds: 4, leaderTransitions: 0 });
    leases.put({ namespace: NS, name: 'l-b' }, record('b'));
    leases.put({ namespace: NS, name: 'l-c' }, record('c'));
    const m = new ShardMembership({ lister, namespace: NS, identity: 'a', retryPeriodMs: 500, leaseDurationMs: 4_000, clock });
    expect(m.known()).toBe(false);
    m.start();
    await flushPromises();
    expect(m.members()).toEqual(['a', 'b', 'c']);
    expect(m.known()).toBe(false);
    await clock.advanceAsync(500);
    expect(m.known()).toBe(true);

    // b keeps renewing, c stops; c is judged gone once its record was unchanged for 4 s of *this* clock.
    for (let i = 0; i < 6; i++) {
      await clock.advanceAsync(500);
      leases.put({ namespace: NS, name: 'l-b' }, { ...record('b'), renewTime: clock.now() });
    }
    expect(m.members()).toEqual(['a', 'b', 'c']);
    await clock.advanceAsync(600);
    expect(m.members()).toEqual(['a', 'b']);
    expect(m.isLive('c')).toBe(false);
    expect(m.isLive('a')).toBe(true);

    leases.put({ namespace: NS, name: 'l-b' }, record(''));
    await clock.advanceAsync(500);
    expect(m.members()).toEqual(['a']);
    // Long dead leases are deleted (the store's precondition keeps a renewed one).
    await clock.advanceAsync(8_000);
    expect(lister.deleted).toEqual(expect.arrayContaining(['l-c']));
    m.stop();
  });
});

test('a replica never seen in a list is not gone until a lease duration of lists went by without it', async () => {
  const clock = new FakeClock();
  const leases = new MemoryLeaseStore();
  const m = new ShardMembership({ lister: new MemoryShardLeaseLister(leases, () => []), namespace: NS, identity: 'a', retryPeriodMs: 500, leaseDurationMs: 4_000, clock });
  m.start();
  await flushPromises();
  expect(m.isLive('newcomer')).toBe(false);
  expect(m.isGone('newcomer')).toBe(false);
  await clock.advanceAsync(3_500);
  expect(m.isGone('newcomer')).toBe(false);
  await clock.advanceAsync(600);
  expect(m.isGone('newcomer')).toBe(true);
  expect(m.isGone('a')).toBe(false);
  m.stop();
});

describe('ShardOwnership', () => {
  test('every device is owned by exactly one replica, the one it hashes to', async () => {
    const w = world();
    const a = w.replica('a');
    const b = w.replica('b');
    const c = w.replica('c');
    await w.run(3_000);
    for (const d of DEVICES) {
      const owner = ownerOf(d, ['a', 'b', 'c']);
      expect([a, b, c].filter((r) => r.ownership.mayActOn(d)).map((r) => r.id)).toEqual([owner]);
      expect(w.devices.get(d)?.status?.shard).toMatchObject({ replica: owner });
      expect(w.devices.get(d)?.status?.shard?.releasedAt).toBeUndefined();
    }
    expect(a.ownership.ownedDevices().length + b.ownership.ownedDevices().length + c.ownership.ownedDevices().length).toBe(DEVICES.length);
    await w.stopAll();
  });

  test('a joining replica takes a device only after the old owner released it, and a release waits for reconciles in flight', async () => {
    const w = world();
    const a = w.replica('a');
    await w.run(1_000);
    expect(a.ownership.ownedDevices()).toEqual([...DEVICES].sort());
    const moving = DEVICES.filter((d) => ownerOf(d, ['a', 'b']) === 'b');
    const busy = moving[0] ?? '';
    // A reconcile of `busy` is in flight on a when b joins.
    let finish = (): void => undefined;
    const inFlight = a.ownership.gate(busy, () => new Promise<string>((resolve) => (finish = () => resolve('ran'))), () => 'skipped');
    w.replica('b');
    await w.run(3_000);
    // a stopped acting on every moving device; all but the busy one were released and taken by b.
    for (const d of moving) expect(a.ownership.mayActOn(d)).toBe(false);
    expect(await a.ownership.gate(busy, async () => 'ran', () => 'skipped')).toBe('skipped');
    expect(w.devices.get(busy)?.status?.shard).toMatchObject({ replica: 'a' });
    expect(w.devices.get(busy)?.status?.shard?.releasedAt).toBeUndefined();
    finish();
    expect(await inFlight).toBe('ran');
    await w.run(1_500);
    for (const d of moving) {
      const writes = w.devices.writes.filter((x) => x.device === d).map((x) => `${x.op}:${x.replica}`);
      expect(writes).toEqual(['claim:a', 'release:a', 'claim:b']);
      expect(w.devices.get(d)?.status?.shard).toMatchObject({ replica: 'b' });
    }
    // Devices that did not move were never written again.
    for (const d of DEVICES.filter((x) => !moving.includes(x))) expect(w.devices.writes.filter((x) => x.device === d).length).toBe(1);
    await w.stopAll();
  });

  test('a replica that cannot renew its lease stops acting at the renew deadline; the others take its devices only after its lease expired', async () => {
    const w = world();
    const a = w.replica('a');
    const b = w.replica('b');
    await w.run(2_000);
    const ofA = DEVICES.filter((d) => ownerOf(d, ['a', 'b']) === 'a');
    expect(a.ownership.ownedDevices()).toEqual([...ofA].sort());
    const cutAt = w.clock.now();
    a.store.cut = true;
    a.lister.failWith = new Error('connect ETIMEDOUT (test)');
    await w.run(T.leaseDurationMs + 2 * T.retryPeriodMs);
    // a stopped on its own, within the renew deadline of its last successful renewal (sent at most one retry period before the cut).
    expect(a.lost.map((l) => l.reason)).toEqual(['renewDeadlineExceeded']);
    const stoppedAt = a.lost[0]?.at ?? Infinity;
    expect(stoppedAt - cutAt).toBeLessThanOrEqual(T.renewDeadlineMs);
    expect(ofA.some((d) => a.ownership.mayActOn(d))).toBe(false);
    expect(a.ownership.ownedDevices()).toEqual([]);
    // b took every device of a, each strictly after a had stopped, within lease duration + retry period of the cut.
    const takeovers = w.devices.writes.filter((x) => x.at > cutAt && x.op === 'claim' && x.replica === 'b' && ofA.includes(x.device));
    expect(takeovers.map((x) => x.device).sort()).toEqual([...ofA].sort());
    for (const t of takeovers) {
      expect(t.at).toBeGreaterThan(stoppedAt);
      expect(t.at - cutAt).toBeLessThanOrEqual(T.leaseDurationMs + T.retryPeriodMs);
    }
    expect(b.ownership.ownedDevices()).toEqual([...DEVICES].sort());
    await w.stopAll();
  });

  test('stopActing and releaseAll hand every device over without waiting for the lease to expire', async () => {
    const w = world();
    const a = w.replica('a');
    const b = w.replica('b');
    await w.run(2_000);
    a.ownership.stopActing();
    expect(DEVICES.some((d) => a.ownership.mayActOn(d))).toBe(false);
    await a.ownership.releaseAll();
    await a.stop(true);
    await w.run(T.retryPeriodMs * 2);
    expect(b.ownership.ownedDevices()).toEqual([...DEVICES].sort());
    expect(T.retryPeriodMs * 2).toBeLessThan(T.leaseDurationMs);
    await w.stopAll();
  });

  test('a GpuVm naming a device that does not exist belongs to the replica the name hashes to', async () => {
    const w = world();
    const a = w.replica('a');
    const b = w.replica('b');
    await w.run(1_000);
    const names = Array.from({ length: 10 }, (_, i) => `missing-${i}`);
    for (const n of names) expect([a, b].filter((r) => r.ownership.mayActOn(n)).map((r) => r.id)).toEqual([ownerOf(n, ['a', 'b'])]);
    await w.stopAll();
  });
});

test('a claimed device is acted on once the cache shows the claim, so its first reconcile reads the claimed version', async () => {
  const stale: EdgeDevice = { apiVersion: 'gpuvm.io/v1alpha1', kind: 'EdgeDevice', metadata: { name: 'dev-0', resourceVersion: '1' }, spec: {} as EdgeDevice['spec'] };
  let cached = stale;
  const claims: string[] = [];
  const gained: string[] = [];
  const ownership = new ShardOwnership({
    identity: 'a',
    membership: { known: () => true, members: () => ['a'], isGone: () => false },
    devices: { get: (name) => (name === 'dev-0' ? cached : undefined), list: () => [cached] },
    writer: {
      claim: async (device, replica, at) => {
        claims.push(device.metadata.resourceVersion ?? '');
        return { ...device, metadata: { ...device.metadata, resourceVersion: '2' }, status: { shard: { replica, since: at.toISOString() } } };
      },
      release: async (device) => device,
    },
    leaseHeld: () => true,
    onGained: (name) => gained.push(`${name}@${ownership.mayActOn(name) ? cached.metadata.resourceVersion : 'not acting'}`),
  });
  await ownership.evaluate('dev-0');
  await flushPromises();
  // Claimed, but the cache still holds the version before the claim: not acting, and no second claim on a re-decide.
  expect(claims).toEqual(['1']);
  expect(ownership.mayActOn('dev-0')).toBe(false);
  ownership.evaluateAll();
  await flushPromises();
  expect(claims).toEqual(['1']);
  expect(gained).toEqual([]);
  // The claim's update event reaches the cache.
  cached = { ...stale, metadata: { ...stale.metadata, resourceVersion: '2' }, status: { shard: { replica: 'a', since: new Date(0).toISOString() } } };
  await ownership.evaluate('dev-0');
  expect(gained).toEqual(['dev-0@2']);
  expect(ownership.mayActOn('dev-0')).toBe(true);
});

test('a replica whose first list shows it alone claims nothing until a second list agrees', async () => {
  const clock = new FakeClock();
  const leases = new MemoryLeaseStore();
  const devices = new MemoryShardDevices(DEVICES, () => clock.now());
  const record = (holder: string): LeaderElectionRecord => ({ holderIdentity: holder, leaseDurationSeconds: 4, leaderTransitions: 0 });
  // a holds its Lease; b and c, started with it, have not created theirs when a first lists.
  leases.put({ namespace: NS, name: 'l-a' }, record('a'));
  const lister = new MemoryShardLeaseLister(leases, () => ['l-a', 'l-b', 'l-c']);
  const membership: ShardMembership = new ShardMembership({ lister, namespace: NS, identity: 'a', retryPeriodMs: 500, leaseDurationMs: 4_000, clock, onRefresh: () => ownership.evaluateAll() });
  const ownership: ShardOwnership = new ShardOwnership({ identity: 'a', membership, devices, writer: devices, leaseHeld: () => true, onGained: () => undefined, clock });
  membership.start();
  await flushPromises();
  expect(membership.members()).toEqual(['a']);
  expect(devices.writes).toEqual([]);
  leases.put({ namespace: NS, name: 'l-b' }, record('b'));
  leases.put({ namespace: NS, name: 'l-c' }, record('c'));
  await clock.advanceAsync(1_000);
  // Two lists saw a, b and c: a claimed its own share and nothing else.
  const mine = DEVICES.filter((d) => ownerOf(d, ['a', 'b', 'c']) === 'a');
  expect(devices.writes.map((x) => `${x.op}:${x.device}`).sort()).toEqual(mine.map((d) => `claim:${d}`).sort());
  expect(ownership.ownedDevices()).toEqual([...mine].sort());
  membership.stop();
});

test('a replica whose lists keep changing settles after a lease duration', async () => {
  const clock = new FakeClock();
  const leases = new MemoryLeaseStore();
  const names: string[] = [];
  const m = new ShardMembership({ lister: new MemoryShardLeaseLister(leases, () => names), namespace: NS, identity: 'a', retryPeriodMs: 500, leaseDurationMs: 4_000, clock });
  m.start();
  await flushPromises();
  // A new replica appears before every list.
  for (let i = 0; i < 7; i++) {
    names.push(`l-${i}`);
    leases.put({ namespace: NS, name: `l-${i}` }, { holderIdentity: `r${i}`, leaseDurationSeconds: 4, leaderTransitions: 0 });
    await clock.advanceAsync(500);
    expect(m.known()).toBe(false);
  }
  names.push('l-7');
  leases.put({ namespace: NS, name: 'l-7' }, { holderIdentity: 'r7', leaseDurationSeconds: 4, leaderTransitions: 0 });
  await clock.advanceAsync(500);
  expect(m.known()).toBe(true);
  m.stop();
});

test(`a replica taking many devices at once has at most ${SHARD_WRITES_IN_FLIGHT} status.shard writes on their way`, async () => {
  const clock = new FakeClock();
  const devices = new MemoryShardDevices(DEVICES, () => clock.now());
  let inFlight = 0;
  let most = 0;
  const pending: (() => void)[] = [];
  const ownership = new ShardOwnership({
    identity: 'a',
    membership: { known: () => true, members: () => ['a'], isGone: () => false },
    devices,
    writer: {
      claim: async (device, replica, at) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise<void>((resolve) => pending.push(resolve));
        inFlight--;
        return devices.claim(device, replica, at);
      },
      release: (device, at) => devices.release(device, at),
    },
    leaseHeld: () => true,
    onGained: () => undefined,
    clock,
  });
  ownership.evaluateAll();
  for (let round = 0; round < DEVICES.length; round++) {
    await flushPromises();
    if (pending.length === 0) break;
    pending.splice(0).forEach((resolve) => resolve());
  }
  expect(most).toBe(SHARD_WRITES_IN_FLIGHT);
  expect(devices.writes.filter((w) => w.op === 'claim').length).toBe(DEVICES.length);
  expect(ownership.ownedDevices()).toEqual([...DEVICES].sort());
});

// A lease store in memory, with fault injection: the leader-election tests' stand-in for the API server.
import { LeaseConflictError, type LeaderElectionRecord, type LeaseRef, type LeaseStore, type StoredLease } from '../../../src/runtime/leaderElection.js';

/** A lease store in memory, with fault injection: a test double for the API. */
export class MemoryLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, StoredLease>();
  private version = 0;
  /** When set, every call throws this (simulates an unreachable apiserver). */
  failWith: Error | undefined;
  /** When set, every call waits for this promise first (simulates a slow apiserver). */
  delay: Promise<void> | undefined;
  readonly calls: { op: 'get' | 'create' | 'update'; ref: string }[] = [];

  private key(ref: LeaseRef): string {
    return `${ref.namespace}/${ref.name}`;
  }

  private async enter(op: 'get' | 'create' | 'update', ref: LeaseRef, signal: AbortSignal): Promise<void> {
    this.calls.push({ op, ref: this.key(ref) });
    if (this.delay) await this.delay;
    signal.throwIfAborted();
    if (this.failWith) throw this.failWith;
  }

  /** The stored lease (a copy), for assertions. */
  peek(ref: LeaseRef): StoredLease | undefined {
    const lease = this.leases.get(this.key(ref));
    return lease && { ...lease, record: { ...lease.record } };
  }

  /** Writes a record directly, as another client would. */
  put(ref: LeaseRef, record: LeaderElectionRecord): StoredLease {
    const stored = { record: { ...record }, resourceVersion: String(++this.version) };
    this.leases.set(this.key(ref), stored);
    return stored;
  }

  async get(ref: LeaseRef, signal: AbortSignal): Promise<StoredLease | undefined> {
    await this.enter('get', ref, signal);
    return this.peek(ref);
  }

  async create(ref: LeaseRef, record: LeaderElectionRecord, signal: AbortSignal): Promise<StoredLease> {
    await this.enter('create', ref, signal);
    if (this.leases.has(this.key(ref))) throw new LeaseConflictError('exists');
    return { ...this.put(ref, record) };
  }

  async update(ref: LeaseRef, previous: StoredLease, record: LeaderElectionRecord, signal: AbortSignal): Promise<StoredLease> {
    await this.enter('update', ref, signal);
    const current = this.leases.get(this.key(ref));
    if (current === undefined || current.resourceVersion !== previous.resourceVersion) throw new LeaseConflictError('changed');
    return { ...this.put(ref, record) };
  }
}

// Sharded mode's test doubles: shard leases listed from a MemoryLeaseStore, and EdgeDevices whose status.shard
// writes check the resourceVersion like the apiserver does (and tell the replicas, as their informers would).
import type { EdgeDevice } from '../../../src/api/types.js';
import type { ListedShardLease, ShardLeaseLister } from '../../../src/runtime/shardMembership.js';
import type { ShardStatusWriter } from '../../../src/runtime/shardOwnership.js';
import type { MemoryLeaseStore } from './memoryLeaseStore.js';

/** Lists the leases of `names()` from a MemoryLeaseStore. */
export class MemoryShardLeaseLister implements ShardLeaseLister {
  failWith: Error | undefined;
  readonly deleted: string[] = [];
  constructor(
    private readonly store: MemoryLeaseStore,
    private readonly names: () => readonly string[],
  ) {}

  async list(namespace: string): Promise<ListedShardLease[]> {
    if (this.failWith) throw this.failWith;
    return this.names().flatMap((name) => {
      const lease = this.store.peek({ namespace, name });
      if (lease === undefined || this.deleted.includes(name)) return [];
      return [{ name, holderIdentity: lease.record.holderIdentity, leaseDurationSeconds: lease.record.leaseDurationSeconds, version: lease.resourceVersion }];
    });
  }

  async deleteIfUnchanged(_namespace: string, lease: ListedShardLease): Promise<void> {
    this.deleted.push(lease.name);
  }
}

export interface ShardWrite {
  at: number;
  op: 'claim' | 'release';
  device: string;
  replica: string;
}

/** EdgeDevices in memory with compare-and-set status.shard writes. */
export class MemoryShardDevices implements ShardStatusWriter {
  private readonly devices = new Map<string, EdgeDevice>();
  private version = 0;
  readonly writes: ShardWrite[] = [];
  /** Called after every write with the device's name (the replicas' informers). */
  onChange: (device: string) => void = () => undefined;

  constructor(
    names: readonly string[],
    private readonly now: () => number,
  ) {
    for (const name of names) this.devices.set(name, this.make(name, undefined));
  }

  get(name: string): EdgeDevice | undefined {
    return this.devices.get(name);
  }

  list(): EdgeDevice[] {
    return [...this.devices.values()];
  }

  async claim(device: EdgeDevice, replica: string, at: Date): Promise<EdgeDevice> {
    return this.write(device, 'claim', replica, { replica, since: at.toISOString() });
  }

  async release(device: EdgeDevice, at: Date): Promise<EdgeDevice> {
    const shard = device.status?.shard;
    return this.write(device, 'release', shard?.replica ?? '', { replica: shard?.replica ?? '', since: shard?.since ?? '', releasedAt: at.toISOString() });
  }

  private write(device: EdgeDevice, op: ShardWrite['op'], replica: string, shard: NonNullable<EdgeDevice['status']>['shard']): EdgeDevice {
    const name = device.metadata.name ?? '';
    const current = this.devices.get(name);
    if (current === undefined || current.metadata.resourceVersion !== device.metadata.resourceVersion) throw new Error('409 Conflict');
    const updated = this.make(name, shard);
    this.devices.set(name, updated);
    this.writes.push({ at: this.now(), op, device: name, replica });
    queueMicrotask(() => this.onChange(name));
    return updated;
  }

  private make(name: string, shard: NonNullable<EdgeDevice['status']>['shard']): EdgeDevice {
    return {
      apiVersion: 'gpuvm.io/v1alpha1',
      kind: 'EdgeDevice',
      metadata: { name, resourceVersion: String(++this.version) },
      spec: {} as EdgeDevice['spec'],
      ...(shard !== undefined ? { status: { shard } } : {}),
    };
  }
}

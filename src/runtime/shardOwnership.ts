// Sharded mode: which EdgeDevices (and so which GpuVms) this replica acts on, and the handover of a device between
// replicas without two writers.
//
// Fencing. EdgeDevice.status.shard is the record of who owns a device; it is written only with the device's
// resourceVersion as a precondition, so two replicas can never both succeed in taking the same device.
//   - A replica acts on a device (its EdgeDevice and every GpuVm whose spec.deviceRef names it) only while
//     (1) it holds its own shard Lease, i.e. a renewal succeeded within the renew deadline (past it the process
//     exits, as a leader does), (2) the device hashes to it over the live replicas (hashRing.ts), and (3) it has
//     recorded itself in status.shard.
//   - A replica takes a device (writes status.shard) only when the recorded owner released it (releasedAt), or the
//     recorded owner is gone (shardMembership.ts: its Lease released, or not renewed for a whole lease duration by
//     this replica's observation, or absent from its lists for that long). As renew deadline < lease duration, an owner that cannot renew - killed or cut off
//     from the API server - has stopped before anyone can judge its Lease expired.
//   - A replica that no longer wins a device (a replica joined, or it saw the membership change) stops starting
//     work on it at once, waits for the reconciles of that device already in flight, and only then writes
//     releasedAt. The new owner waits for that write (or for the old Lease to expire), so the two never overlap.
// The hash decides who *wants* a device; only the status record lets it act. Views of the membership that differ
// between replicas (each lists on its own schedule) therefore cost time, never safety.
import type { EdgeDevice } from '../api/types.js';
import { systemClock, type Clock } from './clock.js';
import { ownerOf } from './hashRing.js';
import { noopLogger, type Logger } from './logger.js';

/** Writes EdgeDevice.status.shard, each only if the device is unchanged since it was read (else it throws). */
export interface ShardStatusWriter {
  claim(device: EdgeDevice, replica: string, at: Date): Promise<EdgeDevice>;
  release(device: EdgeDevice, at: Date): Promise<EdgeDevice>;
}

export interface ShardMembershipView {
  known(): boolean;
  members(): readonly string[];
  /** The replica has certainly stopped acting (its lease released or expired; never just "not seen yet"). */
  isGone(identity: string): boolean;
}

export interface ShardOwnershipOptions {
  identity: string;
  membership: ShardMembershipView;
  devices: { get(name: string): EdgeDevice | undefined; list(): EdgeDevice[] };
  writer: ShardStatusWriter;
  /** Whether this replica holds its own shard Lease (renewed within the renew deadline). */
  leaseHeld(): boolean;
  /** Called when this replica starts acting on a device: reconcile it and its GpuVms (their earlier events were skipped). */
  onGained(device: string): void;
  clock?: Clock;
  logger?: Logger;
}

/** status.shard writes a replica has on their way at once (see ShardOwnership.inSlot). */
export const SHARD_WRITES_IN_FLIGHT = 8;

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class ShardOwnership {
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Devices this replica acts on. */
  private readonly owned = new Set<string>();
  /** Reconciles in flight per device. */
  private readonly inFlight = new Map<string, number>();
  /** Devices with a status.shard write in flight. */
  private readonly writing = new Set<string>();
  /**
   * Devices claimed, whose claim the cache does not show yet. Acting starts when it does (the claim's update event):
   * a reconcile started earlier would read the device as it was before the claim, and its writes (finalizer, status)
   * would fail on the resourceVersion precondition.
   */
  private readonly claimedUnseen = new Set<string>();
  private stopped = false;
  /** status.shard writes in flight, and those waiting for a slot (see inSlot). */
  private writesInFlight = 0;
  private readonly waitingForSlot: (() => void)[] = [];

  constructor(private readonly options: ShardOwnershipOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? noopLogger;
  }

  get identity(): string {
    return this.options.identity;
  }

  /** The devices this replica acts on now, sorted. */
  ownedDevices(): string[] {
    return this.options.leaseHeld() && !this.stopped ? [...this.owned].sort() : [];
  }

  /**
   * Whether this replica may act on `device` now. A device that does not exist (a GpuVm naming a missing device)
   * has no record to fence with: its GpuVms belong to the ring owner, whose only writes are their own status
   * (guarded by resourceVersion); nothing is sent to a device.
   */
  mayActOn(device: string): boolean {
    if (this.stopped || !this.options.leaseHeld()) return false;
    if (this.owned.has(device)) return true;
    return this.options.devices.get(device) === undefined && this.wants(device);
  }

  /** Runs a reconcile for `device` if this replica may act on it, counting it so a release waits for it. */
  async gate<T>(device: string, work: () => Promise<T>, skipped: () => T): Promise<T> {
    if (!this.mayActOn(device)) return skipped();
    this.inFlight.set(device, (this.inFlight.get(device) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = (this.inFlight.get(device) ?? 1) - 1;
      if (left > 0) this.inFlight.set(device, left);
      else this.inFlight.delete(device);
      // A device given up while this ran is released now that nothing of it is in flight.
      if (left <= 0 && !this.owned.has(device)) void this.evaluate(device);
    }
  }

  /** Re-decides every device: after each membership list. */
  evaluateAll(): void {
    const names = new Set([...this.options.devices.list().map((d) => d.metadata.name ?? ''), ...this.owned]);
    for (const name of names) if (name !== '') void this.evaluate(name);
  }

  /** Stops acting on every device at once (shutdown, before in-flight reconciles are awaited). */
  stopActing(): void {
    this.stopped = true;
    this.owned.clear();
  }

  /** After stopActing() and once no reconcile is in flight: records the release of every device this replica holds. */
  async releaseAll(): Promise<void> {
    const mine = this.options.devices.list().filter((d) => d.status?.shard?.replica === this.identity && d.status.shard.releasedAt === undefined);
    await Promise.all(mine.map((d) => this.release(d)));
  }

  /** Re-decides one device: its status.shard changed, a reconcile of it ended, or the membership changed. */
  async evaluate(name: string): Promise<void> {
    if (this.stopped || !this.options.membership.known() || this.writing.has(name)) return;
    const device = this.options.devices.get(name);
    const shard = device?.status?.shard;
    if (!this.options.leaseHeld() || !this.wants(name)) {
      this.claimedUnseen.delete(name);
      if (this.owned.delete(name)) this.log.info({ device: name, members: this.options.membership.members() }, 'shard: device moves to another replica; stopped acting on it');
      if (device !== undefined && shard?.replica === this.identity && shard.releasedAt === undefined && !this.inFlight.has(name) && this.options.leaseHeld()) {
        await this.release(device);
      }
      return;
    }
    if (this.owned.has(name) || device === undefined) return;
    if (shard?.replica === this.identity && shard.releasedAt === undefined) {
      this.gain(name, shard.since);
      return;
    }
    if (this.claimedUnseen.has(name)) return;
    const free = shard === undefined || shard.releasedAt !== undefined || this.options.membership.isGone(shard.replica);
    if (!free) {
      this.log.debug({ device: name, owner: shard.replica }, 'shard: waiting for the owner to release the device or its lease to expire');
      return;
    }
    this.writing.add(name);
    try {
      await this.inSlot(() => this.options.writer.claim(device, this.identity, new Date(this.clock.now())));
      this.claimedUnseen.add(name);
      this.log.debug({ device: name, ...(shard !== undefined ? { from: shard.replica } : {}) }, 'shard: claimed device');
    } catch (error) {
      // A conflict means the device changed since it was read: its update event brings us back here.
      this.log.debug({ device: name, err: errorText(error) }, 'shard: claiming the device failed');
      return;
    } finally {
      this.writing.delete(name);
    }
    // The cache may already show the claim (its event came while the write was in flight), or the membership changed
    // meanwhile: decide again.
    void this.evaluate(name);
  }

  /**
   * Runs a status.shard write once fewer than SHARD_WRITES_IN_FLIGHT are on their way. Taking over or handing over
   * hundreds of devices at once (a start, a peer gone, SIGTERM) would otherwise send them all together, and the
   * API server would queue this replica's Lease renewal behind them (same client, same priority level): a renewal
   * late past the renew deadline makes the replica exit.
   */
  private async inSlot<T>(write: () => Promise<T>): Promise<T> {
    // A finished write hands its slot to the longest waiting one.
    if (this.writesInFlight < SHARD_WRITES_IN_FLIGHT) this.writesInFlight++;
    else await new Promise<void>((resolve) => this.waitingForSlot.push(resolve));
    try {
      return await write();
    } finally {
      const next = this.waitingForSlot.shift();
      if (next !== undefined) next();
      else this.writesInFlight--;
    }
  }

  private wants(device: string): boolean {
    return this.options.membership.known() && ownerOf(device, this.options.membership.members()) === this.identity;
  }

  private gain(name: string, since: string): void {
    this.claimedUnseen.delete(name);
    if (this.stopped || this.owned.has(name)) return;
    this.owned.add(name);
    this.log.info({ device: name, since }, 'shard: acting on device');
    this.options.onGained(name);
  }

  private async release(device: EdgeDevice): Promise<void> {
    const name = device.metadata.name ?? '';
    if (this.writing.has(name)) return;
    this.writing.add(name);
    try {
      await this.inSlot(() => this.options.writer.release(device, new Date(this.clock.now())));
      this.log.info({ device: name }, 'shard: released device');
    } catch (error) {
      this.log.debug({ device: name, err: errorText(error) }, 'shard: releasing the device failed; retried at the next membership list');
    } finally {
      this.writing.delete(name);
    }
  }
}

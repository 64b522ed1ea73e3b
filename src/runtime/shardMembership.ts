// Sharded mode: who the live replicas are, from their shard Leases (shardLease.ts), listed every retry period.
//
// Liveness follows client-go's leader election: a lease is live until leaseDurationSeconds after this process
// last *saw its record change* (observed time), never by comparing the holder's renewTime with the local clock.
// A lease with an empty holder (released on shutdown) is not live. Because a holder stops acting once it could not
// renew for its renew deadline (< lease duration), a replica judged gone here has already stopped. A replica whose
// lease this process has never seen is judged gone only after a lease duration of lists without it: a list taken
// just before a new replica created its lease must not make that replica look gone.
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { abortable } from './kubeListerWatcher.js';
import { noopLogger, type Logger } from './logger.js';
import { SHARD_LEASE_LABEL, SHARD_LEASE_PREFIX } from './shardLease.js';

/** A shard lease as listed. */
export interface ListedShardLease {
  name: string;
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** Changes whenever the record is written (e.g. the resourceVersion). */
  version: string;
}

/** Lists the shard leases of a namespace; deletes one (only if unchanged) once it is long dead. */
export interface ShardLeaseLister {
  list(namespace: string, signal: AbortSignal): Promise<ListedShardLease[]>;
  deleteIfUnchanged(namespace: string, lease: ListedShardLease, signal: AbortSignal): Promise<void>;
}

export interface ShardMembershipOptions {
  lister: ShardLeaseLister;
  namespace: string;
  /** This replica: always a member while it runs (its own lease's health is judged by the lease holder). */
  identity: string;
  retryPeriodMs: number;
  /** How long a replica never seen in a list must stay unseen before it is judged gone (the lease duration). */
  leaseDurationMs: number;
  /** Each list or delete is aborted after this long (default 2 × retry period, at least 1 s). */
  requestTimeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Called after every successful list; `changed` when the live set differs from the previous list's (or it is the first). */
  onRefresh?(members: readonly string[], changed: boolean): void;
}

interface Seen {
  lease: ListedShardLease;
  observedAt: number;
}

export class ShardMembership {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly seen = new Map<string, Seen>();
  private live: readonly string[] = [];
  /** Two lists in a row agreed on the live set, or a lease duration passed since the first list (see known()). */
  private settled = false;
  private firstListAt: number | undefined;
  /** When the last successful list was sent. */
  private lastListAt = -Infinity;
  /** Identities asked about but absent from every list since (see isGone). */
  private readonly missingSince = new Map<string, number>();
  private timer: TimerHandle | undefined;
  private stopped = false;
  private inFlight: AbortController | undefined;

  constructor(private readonly options: ShardMembershipOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? noopLogger;
  }

  /**
   * Whether the live set is known: two lists in a row agreed on it (or a lease duration of lists went by). Readiness
   * and every claim wait for it. One list is not enough: replicas started together (a new Deployment, a restart of
   * all pods) each create their Lease while the others list, so a first list often shows a replica alone, and
   * acting on it would claim every device only to hand two thirds of them over a retry period later.
   */
  known(): boolean {
    return this.settled;
  }

  /** The live replicas' identities, sorted; this replica is always among them. */
  members(): readonly string[] {
    return this.live;
  }

  /** Whether `identity` held a live lease at the last list (this replica always does). */
  isLive(identity: string): boolean {
    return identity === this.options.identity || this.live.includes(identity);
  }

  /**
   * Whether `identity` has certainly stopped acting: its lease was released or not renewed for its duration, or
   * it has been absent from every list for a lease duration since this was first asked. Not the same as !isLive:
   * a replica that joined after the last list is neither live nor gone.
   */
  isGone(identity: string): boolean {
    if (identity === this.options.identity || this.live.includes(identity)) return false;
    if (this.seen.has(`${SHARD_LEASE_PREFIX}${identity}`)) {
      this.missingSince.delete(identity);
      return true;
    }
    let since = this.missingSince.get(identity);
    if (since === undefined) {
      since = this.clock.now();
      this.missingSince.set(identity, since);
    }
    return this.lastListAt >= since + this.options.leaseDurationMs;
  }

  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.inFlight?.abort(new Error('membership stopped'));
  }

  /** Lists once now (also called by the timer every retry period). */
  async refresh(): Promise<void> {
    const sentAt = this.clock.now();
    const leases = await this.call((signal) => this.options.lister.list(this.options.namespace, signal));
    const now = this.clock.now();
    const names = new Set(leases.map((l) => l.name));
    for (const name of this.seen.keys()) if (!names.has(name)) this.seen.delete(name);
    for (const lease of leases) {
      const previous = this.seen.get(lease.name);
      if (previous === undefined || previous.lease.version !== lease.version) this.seen.set(lease.name, { lease, observedAt: now });
    }
    const live = new Set([this.options.identity]);
    for (const { lease, observedAt } of this.seen.values()) {
      if (lease.holderIdentity !== '' && now < observedAt + lease.leaseDurationSeconds * 1000) live.add(lease.holderIdentity);
    }
    const members = [...live].sort();
    const firstList = this.firstListAt === undefined;
    const changed = firstList || members.join('\n') !== this.live.join('\n');
    this.firstListAt ??= sentAt;
    if ((!firstList && !changed) || sentAt >= this.firstListAt + this.options.leaseDurationMs) this.settled = true;
    this.live = members;
    this.lastListAt = sentAt;
    if (changed) this.log.info({ members }, 'shard members');
    this.options.onRefresh?.(members, changed);
    await this.collect(now);
  }

  /** Deletes leases nobody renewed for two lease durations (a crashed process's identity never comes back). */
  private async collect(now: number): Promise<void> {
    for (const { lease, observedAt } of [...this.seen.values()]) {
      if (lease.holderIdentity === this.options.identity) continue;
      if (now < observedAt + Math.max(lease.leaseDurationSeconds, 1) * 2000) continue;
      try {
        await this.call((signal) => this.options.lister.deleteIfUnchanged(this.options.namespace, lease, signal));
        this.seen.delete(lease.name);
        this.log.info({ lease: lease.name }, 'deleted an expired shard lease');
      } catch (error) {
        this.log.debug({ err: error instanceof Error ? error.message : String(error), lease: lease.name }, 'expired shard lease not deleted');
      }
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.refresh();
    } catch (error) {
      if (!this.stopped) this.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'listing shard leases failed');
    }
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => void this.tick(), this.nextListIn());
  }

  /** A retry period, or less when a live lease expires sooner: its devices move without waiting for the next period. */
  private nextListIn(): number {
    const now = this.clock.now();
    let next = this.options.retryPeriodMs;
    for (const { lease, observedAt } of this.seen.values()) {
      if (lease.holderIdentity === '' || lease.holderIdentity === this.options.identity) continue;
      const expiresIn = observedAt + lease.leaseDurationSeconds * 1000 - now;
      if (expiresIn >= 0) next = Math.min(next, expiresIn + 1);
    }
    return next;
  }

  private async call<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.inFlight = controller;
    const timeoutMs = this.options.requestTimeoutMs ?? Math.max(1000, this.options.retryPeriodMs * 2);
    const timer = this.clock.setTimeout(() => controller.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    try {
      return await fn(controller.signal);
    } finally {
      this.clock.clearTimeout(timer);
    }
  }
}

/** Shard leases through the Kubernetes API (needs list and delete on leases in the namespace). */
export class KubeShardLeaseLister implements ShardLeaseLister {
  private readonly api: CoordinationV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
  }

  async list(namespace: string, signal: AbortSignal): Promise<ListedShardLease[]> {
    const list = await this.api.listNamespacedLease({ namespace, labelSelector: `${SHARD_LEASE_LABEL}=true` }, abortable(signal));
    return list.items.map((lease: V1Lease) => ({
      name: lease.metadata?.name ?? '',
      holderIdentity: lease.spec?.holderIdentity ?? '',
      leaseDurationSeconds: lease.spec?.leaseDurationSeconds ?? 0,
      version: lease.metadata?.resourceVersion ?? '',
    }));
  }

  async deleteIfUnchanged(namespace: string, lease: ListedShardLease, signal: AbortSignal): Promise<void> {
    // The precondition makes this a no-op (409) if the holder renewed in the meantime.
    await this.api.deleteNamespacedLease({ name: lease.name, namespace, body: { preconditions: { resourceVersion: lease.version } } }, abortable(signal));
  }
}

// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics:
//
// - A candidate takes the lease when it is free (no holder) or expired. Expiry is judged by *observed* time: the
//   lease is valid until leaseDurationSeconds after this process last saw its record change, never by comparing
//   the holder's renewTime with the local clock (clocks of different nodes are not trusted to agree).
// - The leader renews every retryPeriod and stops leading at once when no renewal has succeeded for renewDeadline
//   (measured from when the last successful renewal was *sent*, so it is never later than the write), or when it
//   sees another holder. As renewDeadline < leaseDuration, the old leader has stopped before a standby can judge
//   the lease expired.
// - Every write is an optimistic-concurrency update (resourceVersion of the lease last read), so two candidates
//   can never both succeed in taking the same record.
// - stop({ release: true }) writes an empty holder with leaseDurationSeconds 1, so a standby takes over at its next
//   attempt instead of waiting for the lease to expire.
// - leaderTransitions is incremented each time the lease changes hands.
import { ApiException, CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { abortable } from './kubeListerWatcher.js';
import { noopLogger, type Logger } from './logger.js';

/** The leader election record, as client-go maps it onto a Lease's spec. Times are milliseconds since the epoch. */
export interface LeaderElectionRecord {
  /** Empty when nobody holds the lease (after a release). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: number;
  renewTime?: number;
  leaderTransitions: number;
}

/** A lease as read from (or written to) the store. */
export interface StoredLease {
  record: LeaderElectionRecord;
  /** For optimistic concurrency: an update succeeds only if the lease still has this resourceVersion. */
  resourceVersion: string;
  /** The store's own representation (e.g. the whole V1Lease, so updates keep its labels and annotations). */
  raw?: unknown;
}

export interface LeaseRef {
  namespace: string;
  name: string;
}

/** The lease already exists (create) or changed since it was read (update). */
export class LeaseConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaseConflictError';
  }
}

/** Where the lease lives: the Kubernetes API (KubeLeaseStore) or memory (tests). */
export interface LeaseStore {
  /** The lease, or undefined when it does not exist. */
  get(ref: LeaseRef, signal: AbortSignal): Promise<StoredLease | undefined>;
  /** Creates the lease; throws LeaseConflictError if it already exists. */
  create(ref: LeaseRef, record: LeaderElectionRecord, signal: AbortSignal): Promise<StoredLease>;
  /** Replaces the record of `previous`; throws LeaseConflictError if the lease changed since `previous` was read. */
  update(ref: LeaseRef, previous: StoredLease, record: LeaderElectionRecord, signal: AbortSignal): Promise<StoredLease>;
}

/** Why leading ended. */
export type StoppedLeadingReason =
  /** No renewal succeeded within renewDeadline. */
  | 'renewDeadlineExceeded'
  /** Another candidate holds the lease. */
  | 'leaseTaken'
  /** stop() was called. */
  | 'stopped';

export interface LeaderElectorOptions {
  store: LeaseStore;
  /** Name of the Lease, e.g. gpuvm-controller-leader. */
  lockName: string;
  namespace: string;
  /** Unique per process: see leaderIdentity(). */
  identity: string;
  /** How long a standby waits, after it last saw the lease change, before taking it. Whole seconds on the wire. Default 15 s. */
  leaseDurationMs?: number;
  /** The leader stops leading when no renewal succeeded for this long. Default 10 s; must be below leaseDurationMs. */
  renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew. Default 2 s. */
  retryPeriodMs?: number;
  /** Attempts to acquire are spread over retryPeriod × [1, 1 + jitterFactor). Default 0.2. */
  jitterFactor?: number;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  /**
   * Called once when this candidate becomes leader. `signal` aborts when leading ends (for any reason), before
   * onStoppedLeading is called. A returned promise is not awaited; its rejection is logged.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /**
   * Called once when leading ends: 'renewDeadlineExceeded' or 'leaseTaken' mean another replica may already be
   * leading, so all work must stop at once (the controller process exits); 'stopped' comes from stop(), after
   * the lease was released if asked. Not called if this candidate never led.
   */
  onStoppedLeading(reason: StoppedLeadingReason): void;
  /** Called whenever the observed holder changes (including to this candidate), with the new holder's identity. */
  onNewLeader?(identity: string): void;
}

export const LEADER_ELECTION_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;

/** The Lease the controller's replicas compete for. */
export const LEADER_ELECTION_LEASE_NAME = 'gpuvm-controller-leader';

const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The pod's namespace (from its service account mount), else gpuvm-system. */
export function defaultLeaderElectionNamespace(file = SERVICE_ACCOUNT_NAMESPACE_FILE): string {
  try {
    const namespace = readFileSync(file, 'utf8').trim();
    if (namespace !== '') return namespace;
  } catch {
    // not in a pod
  }
  return 'gpuvm-system';
}

/** A unique candidate identity: the pod name ($POD_NAME, else the host name) and a random suffix. */
export function leaderIdentity(podName: string = process.env.POD_NAME ?? hostname()): string {
  return `${podName}_${randomBytes(6).toString('hex')}`;
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Competes for a Lease and runs onStartedLeading while it holds it. One elector leads at most once: after
 * leading ends, run() resolves and the process is expected to exit (a fresh process starts a fresh election).
 */
export class LeaderElector {
  private readonly store: LeaseStore;
  private readonly ref: LeaseRef;
  readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly jitterFactor: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random: () => number;

  /** The last lease read or written. */
  private lease: StoredLease | undefined;
  /** The record's content when last seen, and when it was first seen so (client-go's observedTime). */
  private observedKey: string | undefined;
  private observedTime = 0;
  private reportedLeader: string | undefined;
  /** The last attempt found the lease validly held by another candidate (so the next one can wait for its expiry). */
  private blockedByHolder = false;

  private state: 'new' | 'acquiring' | 'leading' | 'finished' = 'new';
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private runPromise: Promise<void> | undefined;
  private leadingController: AbortController | undefined;
  private deadlineTimer: TimerHandle | undefined;
  private inFlight: AbortController | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    this.store = options.store;
    this.ref = { namespace: options.namespace, name: options.lockName };
    this.identity = options.identity;
    this.leaseDurationMs = options.leaseDurationMs ?? LEADER_ELECTION_DEFAULTS.leaseDurationMs;
    this.renewDeadlineMs = options.renewDeadlineMs ?? LEADER_ELECTION_DEFAULTS.renewDeadlineMs;
    this.retryPeriodMs = options.retryPeriodMs ?? LEADER_ELECTION_DEFAULTS.retryPeriodMs;
    this.jitterFactor = options.jitterFactor ?? 0.2;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? noopLogger;
    this.random = options.random ?? Math.random;
    if (this.identity === '') throw new Error('leader election: identity must not be empty');
    if (this.leaseDurationMs < 1000) throw new Error('leader election: lease duration must be at least 1s');
    if (this.renewDeadlineMs >= this.leaseDurationMs) throw new Error('leader election: renew deadline must be shorter than the lease duration');
    if (this.retryPeriodMs <= 0) throw new Error('leader election: retry period must be positive');
    if (this.renewDeadlineMs <= this.retryPeriodMs * (1 + this.jitterFactor)) {
      throw new Error('leader election: renew deadline must be longer than the retry period (with jitter)');
    }
  }

  /** Whether this candidate is leading now. */
  isLeader(): boolean {
    return this.state === 'leading';
  }

  /** The holder last observed (possibly this candidate), or undefined if none. */
  observedLeader(): string | undefined {
    const holder = this.lease?.record.holderIdentity;
    return holder === undefined || holder === '' ? undefined : holder;
  }

  /**
   * Competes for the lease until it is acquired, then leads until leading ends. Resolves when leading ended
   * (onStoppedLeading has returned) or stop() was called before this candidate led. Never rejects on API errors.
   */
  run(): Promise<void> {
    if (this.runPromise) throw new Error('leader election: run() may be called only once');
    this.runPromise = this.loop();
    return this.runPromise;
  }

  /**
   * Stops competing or leading. Aborts the leading signal, releases the lease if asked and this candidate holds
   * it, then calls onStoppedLeading('stopped') if it was leading. Idempotent.
   */
  stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopPromise ??= this.doStop(options.release ?? false);
    return this.stopPromise;
  }

  private async doStop(release: boolean): Promise<void> {
    this.stopping = true;
    const wasLeading = this.state === 'leading';
    this.state = 'finished';
    this.clearDeadline();
    this.inFlight?.abort(new Error('leader election stopped'));
    this.wake?.();
    if (wasLeading) this.leadingController?.abort(new Error('leader election stopped'));
    // Let the loop see the stop (its in-flight request is aborted) before releasing, so nothing races the release.
    await this.runPromise?.catch(() => undefined);
    if (wasLeading && release) await this.release();
    if (wasLeading) this.callStoppedLeading('stopped');
  }

  private async loop(): Promise<void> {
    this.state = 'acquiring';
    this.log.info({ lease: `${this.ref.namespace}/${this.ref.name}`, identity: this.identity }, 'attempting to acquire leader lease');
    for (;;) {
      if (this.stopping) return;
      const sentAt = this.clock.now();
      const acquired = await this.tryAcquireOrRenew(this.renewDeadlineMs);
      if (this.stopping) return;
      if (acquired) {
        this.startLeading(sentAt);
        break;
      }
      await this.sleep(this.acquireDelay());
    }
    while (this.isLeader()) {
      await this.sleep(this.retryPeriodMs);
      if (!this.isLeader()) break;
      const sentAt = this.clock.now();
      const renewed = await this.tryAcquireOrRenew(undefined);
      if (!this.isLeader()) break;
      if (renewed) {
        this.armDeadline(sentAt);
      } else if (this.heldByOther()) {
        this.loseLeadership('leaseTaken');
      }
    }
  }

  /** Delay before the next attempt to acquire: retryPeriod with jitter, but no later than when the lease expires. */
  private acquireDelay(): number {
    const jittered = this.retryPeriodMs * (1 + this.jitterFactor * this.random());
    const record = this.lease?.record;
    if (!this.blockedByHolder || record === undefined) return jittered;
    const expiresIn = this.observedTime + record.leaseDurationSeconds * 1000 - this.clock.now();
    return Math.max(0, Math.min(jittered, expiresIn + 1));
  }

  private startLeading(sentAt: number): void {
    this.state = 'leading';
    this.armDeadline(sentAt);
    this.log.info({ lease: `${this.ref.namespace}/${this.ref.name}`, identity: this.identity, leaderTransitions: this.lease?.record.leaderTransitions }, 'acquired leader lease');
    const controller = new AbortController();
    this.leadingController = controller;
    try {
      const result = this.options.onStartedLeading(controller.signal);
      if (result instanceof Promise) result.catch((error: unknown) => this.log.error({ err: errorText(error) }, 'onStartedLeading failed'));
    } catch (error) {
      this.log.error({ err: errorText(error) }, 'onStartedLeading failed');
    }
  }

  /** Leading ended without stop(): stop at once (another candidate may be about to lead). */
  private loseLeadership(reason: StoppedLeadingReason): void {
    if (this.state !== 'leading') return;
    this.state = 'finished';
    this.clearDeadline();
    this.inFlight?.abort(new Error(`leadership lost: ${reason}`));
    this.wake?.();
    this.log.error({ lease: `${this.ref.namespace}/${this.ref.name}`, identity: this.identity, reason, holder: this.observedLeader() }, 'leader lease lost');
    this.leadingController?.abort(new Error(`leadership lost: ${reason}`));
    this.callStoppedLeading(reason);
  }

  private callStoppedLeading(reason: StoppedLeadingReason): void {
    try {
      this.options.onStoppedLeading(reason);
    } catch (error) {
      this.log.error({ err: errorText(error) }, 'onStoppedLeading failed');
    }
  }

  /** Leading ends renewDeadline after the last successful renewal was sent. */
  private armDeadline(sentAt: number): void {
    this.clearDeadline();
    const delay = sentAt + this.renewDeadlineMs - this.clock.now();
    this.deadlineTimer = this.clock.setTimeout(() => {
      this.deadlineTimer = undefined;
      this.loseLeadership('renewDeadlineExceeded');
    }, delay);
  }

  private clearDeadline(): void {
    if (this.deadlineTimer !== undefined) this.clock.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        this.clock.clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** Stopped, or leading ended: errors of aborted requests are expected. */
  private ended(): boolean {
    return this.stopping || this.state === 'finished';
  }

  private heldByOther(): boolean {
    const holder = this.lease?.record.holderIdentity ?? '';
    return holder !== '' && holder !== this.identity;
  }

  /** Runs one store call with its own abort controller (aborted by stop, loss of leadership, or `timeoutMs`). */
  private async call<T>(timeoutMs: number | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.inFlight = controller;
    const timer = timeoutMs === undefined ? undefined : this.clock.setTimeout(() => controller.abort(new Error(`lease request timed out after ${timeoutMs}ms`)), timeoutMs);
    try {
      const aborted = new Promise<never>((_, reject) => {
        if (controller.signal.aborted) reject(controller.signal.reason);
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      });
      aborted.catch(() => undefined);
      return await Promise.race([fn(controller.signal), aborted]);
    } finally {
      if (timer !== undefined) this.clock.clearTimeout(timer);
      if (this.inFlight === controller) this.inFlight = undefined;
    }
  }

  /** Notes a record read or written; the observed time moves only when the record's content changed. */
  private observe(lease: StoredLease): void {
    this.lease = lease;
    const { holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaderTransitions } = lease.record;
    const key = JSON.stringify([holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaderTransitions]);
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedTime = this.clock.now();
    }
    if (holderIdentity !== '' && holderIdentity !== this.reportedLeader) {
      this.reportedLeader = holderIdentity;
      if (holderIdentity !== this.identity) this.log.info({ lease: `${this.ref.namespace}/${this.ref.name}`, holder: holderIdentity }, 'new leader observed');
      try {
        this.options.onNewLeader?.(holderIdentity);
      } catch (error) {
        this.log.error({ err: errorText(error) }, 'onNewLeader failed');
      }
    }
  }

  /**
   * One attempt (client-go's tryAcquireOrRenew): the leader first updates its last-read lease directly; otherwise
   * (or if that fails) the lease is read, created if missing, left alone if another holder's lease is still valid,
   * and else updated with this candidate as holder. True when this candidate holds the lease afterwards.
   */
  private async tryAcquireOrRenew(timeoutMs: number | undefined): Promise<boolean> {
    this.blockedByHolder = false;
    const now = this.clock.now();
    const desired = (base: LeaderElectionRecord | undefined): LeaderElectionRecord => {
      const renewing = base !== undefined && base.holderIdentity === this.identity;
      return {
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        acquireTime: renewing ? (base.acquireTime ?? now) : now,
        renewTime: now,
        leaderTransitions: base === undefined ? 0 : renewing ? base.leaderTransitions : base.leaderTransitions + 1,
      };
    };

    // Fast path: the leader renews the lease it wrote last without reading it first.
    if (this.state === 'leading' && this.lease !== undefined && this.lease.record.holderIdentity === this.identity) {
      const previous = this.lease;
      try {
        this.observe(await this.call(timeoutMs, (signal) => this.store.update(this.ref, previous, desired(previous.record), signal)));
        return true;
      } catch (error) {
        if (this.state !== 'leading') return false;
        this.log.debug({ err: errorText(error) }, 'lease renewal without read failed; reading the lease');
      }
    }

    let current: StoredLease | undefined;
    try {
      current = await this.call(timeoutMs, (signal) => this.store.get(this.ref, signal));
    } catch (error) {
      if (!this.ended()) this.log.warn({ err: errorText(error), lease: `${this.ref.namespace}/${this.ref.name}` }, 'error reading leader lease');
      return false;
    }
    if (this.ended()) return false;
    if (current === undefined) {
      try {
        this.observe(await this.call(timeoutMs, (signal) => this.store.create(this.ref, desired(undefined), signal)));
        return true;
      } catch (error) {
        if (!this.ended()) this.log.warn({ err: errorText(error) }, 'error creating leader lease');
        return false;
      }
    }

    this.observe(current);
    const holder = current.record.holderIdentity;
    const valid = this.observedTime + current.record.leaseDurationSeconds * 1000 > this.clock.now();
    if (holder !== '' && holder !== this.identity && (valid || this.state === 'leading')) {
      // Held by another candidate; a leader seeing this has lost the lease whatever its age.
      this.blockedByHolder = valid;
      return false;
    }
    try {
      this.observe(await this.call(timeoutMs, (signal) => this.store.update(this.ref, current, desired(current.record), signal)));
      return true;
    } catch (error) {
      if (!this.ended()) {
        const conflict = error instanceof LeaseConflictError;
        this.log[conflict ? 'debug' : 'warn']({ err: errorText(error) }, conflict ? 'leader lease changed while acquiring it' : 'error updating leader lease');
      }
      return false;
    }
  }

  /** Gives the lease up: empty holder, 1 s duration, so a standby takes it at its next attempt. */
  private async release(): Promise<void> {
    const releaseRecord = (base: LeaderElectionRecord): LeaderElectionRecord => {
      const now = this.clock.now();
      return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaderTransitions: base.leaderTransitions };
    };
    for (let attempt = 0; attempt < 2; attempt++) {
      let lease = this.lease;
      try {
        if (attempt > 0 || lease === undefined) lease = await this.callDetached((signal) => this.store.get(this.ref, signal));
        if (lease === undefined || lease.record.holderIdentity !== this.identity) {
          this.log.info({ holder: lease?.record.holderIdentity }, 'leader lease not released: no longer held');
          return;
        }
        const current = lease;
        this.lease = await this.callDetached((signal) => this.store.update(this.ref, current, releaseRecord(current.record), signal));
        this.log.info({ lease: `${this.ref.namespace}/${this.ref.name}`, identity: this.identity }, 'released leader lease');
        return;
      } catch (error) {
        if (error instanceof LeaseConflictError && attempt === 0) continue;
        this.log.warn({ err: errorText(error) }, 'failed to release leader lease');
        return;
      }
    }
  }

  /** A store call during stop(): bounded by renewDeadline, not affected by the stop itself. */
  private async callDetached<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const timer = this.clock.setTimeout(() => controller.abort(new Error('lease release timed out')), this.renewDeadlineMs);
    try {
      return await fn(controller.signal);
    } finally {
      this.clock.clearTimeout(timer);
    }
  }
}

// --- Kubernetes store ---------------------------------------------------------------------------------------------

function toMillis(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(String(value));
  return Number.isNaN(ms) ? undefined : ms;
}

function toStored(lease: V1Lease): StoredLease {
  const spec = lease.spec ?? {};
  return {
    record: {
      holderIdentity: spec.holderIdentity ?? '',
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      acquireTime: toMillis(spec.acquireTime),
      renewTime: toMillis(spec.renewTime),
      leaderTransitions: spec.leaseTransitions ?? 0,
    },
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    raw: lease,
  };
}

function toSpec(record: LeaderElectionRecord): V1Lease['spec'] {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    // MicroTime: the apiserver wants exactly six fractional digits.
    ...(record.acquireTime !== undefined ? { acquireTime: new V1MicroTime(record.acquireTime) } : {}),
    ...(record.renewTime !== undefined ? { renewTime: new V1MicroTime(record.renewTime) } : {}),
    leaseTransitions: record.leaderTransitions,
  };
}

const isConflict = (error: unknown): boolean => error instanceof ApiException && error.code === 409;

/** Leases through the Kubernetes API (needs get, create and update on leases in the namespace). */
export class KubeLeaseStore implements LeaseStore {
  private readonly api: CoordinationV1Api;

  /** `labels` go on leases this store creates (sharded mode finds its replicas' leases by label). */
  constructor(
    kubeConfig: KubeConfig,
    private readonly labels?: Record<string, string>,
  ) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
  }

  async get(ref: LeaseRef, signal: AbortSignal): Promise<StoredLease | undefined> {
    try {
      return toStored(await this.api.readNamespacedLease(ref, abortable(signal)));
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw error;
    }
  }

  async create(ref: LeaseRef, record: LeaderElectionRecord, signal: AbortSignal): Promise<StoredLease> {
    const body: V1Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: ref.name, namespace: ref.namespace, ...(this.labels !== undefined ? { labels: this.labels } : {}) }, spec: toSpec(record) };
    try {
      return toStored(await this.api.createNamespacedLease({ namespace: ref.namespace, body }, abortable(signal)));
    } catch (error) {
      if (isConflict(error)) throw new LeaseConflictError(`lease ${ref.namespace}/${ref.name} already exists`);
      throw error;
    }
  }

  async update(ref: LeaseRef, previous: StoredLease, record: LeaderElectionRecord, signal: AbortSignal): Promise<StoredLease> {
    const base = (previous.raw as V1Lease | undefined) ?? { metadata: { name: ref.name, namespace: ref.namespace } };
    // Keep whatever else the lease carries (labels, strategy, preferredHolder); replace the record's fields.
    const body: V1Lease = {
      ...base,
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...base.metadata, name: ref.name, namespace: ref.namespace, resourceVersion: previous.resourceVersion },
      spec: { ...base.spec, acquireTime: undefined, renewTime: undefined, ...toSpec(record) },
    };
    try {
      return toStored(await this.api.replaceNamespacedLease({ name: ref.name, namespace: ref.namespace, body }, abortable(signal)));
    } catch (error) {
      if (isConflict(error)) throw new LeaseConflictError(`lease ${ref.namespace}/${ref.name} changed since it was read`);
      throw error;
    }
  }
}

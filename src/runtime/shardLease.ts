// Sharded mode: every replica holds a Lease of its own, gpuvm-controller-shard-<identity>, labelled
// gpuvm.io/shard-lease=true so the others can list them (shardMembership.ts). Holding it is leader election on a
// lease nobody else competes for, so the LeaderElector's renew logic applies unchanged: renew every retry period,
// and stop holding (onLost) once no renewal succeeded for the renew deadline, which is shorter than the lease
// duration the others wait before they treat this replica as gone.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from './clock.js';
import { LeaderElector, type LeaseStore, type StoppedLeadingReason } from './leaderElection.js';
import type { Logger } from './logger.js';

export const SHARD_LEASE_PREFIX = 'gpuvm-controller-shard-';
export const SHARD_LEASE_LABEL = 'gpuvm.io/shard-lease';
export const SHARD_LEASE_LABELS: Readonly<Record<string, string>> = { [SHARD_LEASE_LABEL]: 'true' };

/**
 * A replica identity usable in a Lease name (a DNS subdomain): the pod name, lower-cased, and a random suffix so
 * a restarted process is a new member (its predecessor's lease must expire or be released before its devices move).
 */
export function shardIdentity(podName: string = process.env.POD_NAME ?? hostname()): string {
  const base = podName.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 200);
  return `${base === '' ? 'replica' : base}-${randomBytes(4).toString('hex')}`;
}

export const shardLeaseName = (identity: string): string => `${SHARD_LEASE_PREFIX}${identity}`;

export interface ShardLeaseOptions {
  /** A store whose created leases carry SHARD_LEASE_LABELS. */
  store: LeaseStore;
  namespace: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  clock?: Clock;
  logger?: Logger;
  /** The lease is held: this replica may take part (signal aborts when holding ends). */
  onHeld(signal: AbortSignal): void | Promise<void>;
  /** Holding ended; 'renewDeadlineExceeded' means others may take this replica's devices soon: stop acting at once. */
  onLost(reason: StoppedLeadingReason): void;
}

/** The replica's own lease: a LeaderElector on gpuvm-controller-shard-<identity>. */
export function shardLease(options: ShardLeaseOptions): LeaderElector {
  return new LeaderElector({
    store: options.store,
    lockName: shardLeaseName(options.identity),
    namespace: options.namespace,
    identity: options.identity,
    leaseDurationMs: options.leaseDurationMs,
    renewDeadlineMs: options.renewDeadlineMs,
    retryPeriodMs: options.retryPeriodMs,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    onStartedLeading: options.onHeld,
    onStoppedLeading: options.onLost,
  });
}

// Summaries of the simulator's audit log: ARM requests by operation, writes, and when each GpuVm's first
// deployment PUT started.
import type { AuditEntry } from '../../src/simulator/index.ts';

/** Token and metadata requests: the identity provider, not the device's ARM. */
export const isIdentity = (e: AuditEntry): boolean => e.operation === 'token' || e.operation.startsWith('identity') || e.operation === 'metadata.get';
export const isArmWrite = (e: AuditEntry): boolean => e.method !== 'GET' && !isIdentity(e);
export const isArmRead = (e: AuditEntry): boolean => e.method === 'GET' && !isIdentity(e);

export function byOperation(entries: readonly AuditEntry[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of entries) {
    const key = isIdentity(e) ? `(identity) ${e.operation}` : `${e.method} ${e.operation}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return new Map([...counts].sort(([a], [b]) => a.localeCompare(b)));
}

const VM_DEPLOYMENT_PUT = /\/deployments\/gpuvm-vm-([0-9a-f-]{36})(?:\?|$)/i;
const DEPLOYMENT_PUT = /\/deployments\/gpuvm-(?:vm|gpu)-([0-9a-f-]{36})(?:\?|$)/i;

/** When a request started: audit times are when it finished. */
export const startedAt = (e: AuditEntry): number => Date.parse(e.time) - e.durationMs;

/** GpuVm uid → start of its first CreateVM deployment PUT. */
export function firstVmDeploymentPut(entries: readonly AuditEntry[]): Map<string, number> {
  const first = new Map<string, number>();
  for (const e of entries) {
    if (e.method !== 'PUT') continue;
    const uid = VM_DEPLOYMENT_PUT.exec(e.path)?.[1];
    if (uid !== undefined && !first.has(uid)) first.set(uid, startedAt(e));
  }
  return first;
}

/** GpuVm uid → deployment PUTs (VM and GPU driver) made for it. */
export function deploymentPutsByUid(entries: readonly AuditEntry[]): Map<string, number> {
  const puts = new Map<string, number>();
  for (const e of entries) {
    if (e.method !== 'PUT') continue;
    const uid = DEPLOYMENT_PUT.exec(e.path)?.[1];
    if (uid !== undefined) puts.set(uid, (puts.get(uid) ?? 0) + 1);
  }
  return puts;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

const SHARD_USER_AGENT = /\bshard\/(\S+)/;

/** Requests per sharded replica, told apart by the user agent each sends (`gpuvm-controller shard/<identity>`). */
export function armByReplica(entries: readonly AuditEntry[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of entries) {
    const replica = SHARD_USER_AGENT.exec(e.userAgent ?? '')?.[1] ?? '(none)';
    counts.set(replica, (counts.get(replica) ?? 0) + 1);
  }
  return new Map([...counts].sort(([a], [b]) => a.localeCompare(b)));
}

// Controller processes in sharded mode (--sharding) for the e2e and reliability tests: each with its own name, log
// and metrics port, and what the cluster (EdgeDevice status.shard, the shard Leases), the replicas' /metrics and the
// simulator's audit (whose User-Agent names the writing replica) say about who owns and writes to which device.
import { CoordinationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EDGEDEVICE_PLURAL, GROUP, VERSION, type EdgeDevice } from '../../src/api/types.js';
import { freePorts } from '../../src/devenv/freePort.js';
import { shardLeaseName } from '../../src/runtime/shardLease.js';
import type { AuditEntry } from '../../src/simulator/index.js';
import { isArmRequest, requestStart } from '../reliability/support/faultAudit.js';
import { testKubeConfig, waitFor } from './cluster.js';
import { ControllerProcess, TEST_DEVICE_LABEL } from './controllerHarness.js';

/**
 * Scaled down from 15 s / 10 s / 2 s so a handover takes seconds, but not below what a loaded two-core machine
 * needs: with a 3 s renew deadline, replicas taking over 20 devices each lost their Leases to apiserver stalls.
 */
export const SHARD_LEASE_MS = 8_000;
export const SHARD_RENEW_DEADLINE_MS = 6_000;
export const SHARD_RETRY_MS = 500;
export const SHARD_FLAGS = ['--shard-lease-duration', '8s', '--shard-renew-deadline', '6s', '--shard-retry-period', '500ms'];

export interface ShardReplicaOptions {
  /** Kubeconfig of this replica (e.g. one whose server is a proxy the test can cut). */
  kubeconfig?: string;
  args?: string[];
}

interface LogLine {
  msg?: string;
  /** ISO time. */
  time?: string;
  identity?: string;
  members?: string[];
}

/** One controller process in sharded mode; a restart is a new ShardReplica (a new process, identity and log). */
export class ShardReplica {
  readonly proc: ControllerProcess;

  private constructor(
    readonly name: string,
    readonly metricsPort: number,
    namespace: string,
    options: ShardReplicaOptions,
  ) {
    this.proc = new ControllerProcess({
      namespace,
      args: ['--sharding', ...SHARD_FLAGS, '--metrics-bind-address', `127.0.0.1:${metricsPort}`, ...(options.args ?? [])],
      env: { POD_NAME: name },
      ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
    });
    // The harness names the log by namespace, which the replicas share.
    const logFile = join(this.proc.logFile, '..', `controller-${namespace}-${name}.log`);
    if (existsSync(logFile)) rmSync(logFile);
    Object.defineProperty(this.proc, 'logFile', { value: logFile });
  }

  static async create(name: string, namespace: string, options: ShardReplicaOptions = {}): Promise<ShardReplica> {
    const [port] = await freePorts(1);
    return new ShardReplica(name, port ?? 0, namespace, options);
  }

  logLines(): LogLine[] {
    return this.proc
      .logs()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  }

  /** The shard identity the process logged at start (the value of status.shard.replica and its User-Agent). */
  identity(): string | undefined {
    return this.logLines().find((l) => l.msg === 'starting')?.identity;
  }

  /** The members this replica saw at its last membership change. */
  members(): string[] | undefined {
    return this.logLines().filter((l) => l.msg === 'shard members').at(-1)?.members;
  }

  /** Whether the process has ended (on its own: a replica that lost its Lease exits). */
  exited(): boolean {
    const pid = this.proc.pid;
    if (pid === undefined) return false;
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }

  /** This replica's gpuvm_shard_owned_devices sample. */
  async ownedMetric(): Promise<{ replica: string; value: number } | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const match = /^gpuvm_shard_owned_devices\{replica="([^"]+)"\} (\d+)$/m.exec(text);
    return match === null ? undefined : { replica: match[1] ?? '', value: Number(match[2]) };
  }
}

/** Starts the replicas and waits until each logged its identity and sees `members` replicas (default: these). */
export async function startShardReplicas(replicas: readonly ShardReplica[], members = replicas.length, timeoutMs = 20_000): Promise<string[]> {
  await Promise.all(replicas.map((r) => r.proc.start()));
  const ids = await waitFor(
    () => {
      const found = replicas.map((r) => r.identity());
      return found.every((id) => id !== undefined) ? (found as string[]) : undefined;
    },
    { timeoutMs, description: 'the replicas to log their identities' },
  );
  await waitFor(() => replicas.every((r) => r.members()?.length === members), { timeoutMs, description: `every replica to see ${members} members` });
  return ids;
}

/** The test namespace's EdgeDevices. */
export async function testEdgeDevices(namespace: string): Promise<EdgeDevice[]> {
  const api = testKubeConfig().makeApiClient(CustomObjectsApi);
  const list = (await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, labelSelector: `${TEST_DEVICE_LABEL}=${namespace}` })) as { items: EdgeDevice[] };
  return list.items;
}

/** Device name → owning replica, when all `count` devices are owned (not released) by one of `identities`; else undefined. */
export async function ownersByStatus(namespace: string, count: number, identities: readonly string[]): Promise<Map<string, string> | undefined> {
  const all = await testEdgeDevices(namespace);
  if (all.length !== count) return undefined;
  const owners = new Map<string, string>();
  for (const d of all) {
    const shard = d.status?.shard;
    if (shard === undefined || shard.releasedAt !== undefined || !identities.includes(shard.replica)) return undefined;
    owners.set(d.metadata.name ?? '', shard.replica);
  }
  return owners;
}

export function countOwned(owners: ReadonlyMap<string, string>, identities: readonly string[]): Map<string, number> {
  const counts = new Map(identities.map((id) => [id, 0]));
  for (const owner of owners.values()) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  return counts;
}

/** Waits until every replica's metric names it and counts what the status records give it (they update apart). */
export async function metricsAgree(replicas: readonly ShardReplica[], ids: readonly string[], counts: ReadonlyMap<string, number>): Promise<void> {
  const expected = replicas.map((_, i) => ({ replica: ids[i], value: counts.get(ids[i] ?? '') }));
  let seen: unknown;
  await waitFor(
    async () => {
      seen = await Promise.all(replicas.map((r) => r.ownedMetric()));
      return JSON.stringify(seen) === JSON.stringify(expected);
    },
    { timeoutMs: 5_000, description: `the replicas' gpuvm_shard_owned_devices to agree with status.shard (${JSON.stringify(expected)})` },
  ).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}; metrics ${JSON.stringify(seen)}`);
  });
}

/** When a replica's shard Lease was last renewed, by its own clock (the processes share the test's machine). */
export async function shardLeaseRenewedAt(namespace: string, identity: string): Promise<number> {
  const lease = await testKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name: shardLeaseName(identity) });
  const renewed = lease.spec?.renewTime;
  if (renewed === undefined) throw new Error(`shard lease of ${identity} has no renewTime`);
  return new Date(renewed).getTime();
}

/** The replica a simulator request came from (its User-Agent carries `shard/<identity>`). */
export const writerOf = (entry: AuditEntry): string => /shard\/(\S+)/.exec(entry.userAgent ?? '')?.[1] ?? 'unknown';

/** A write to a device's ARM (not a read, not its token or identity endpoints, not the Azure side). */
export const isDeviceWrite = (entry: AuditEntry): boolean => entry.method !== 'GET' && entry.device !== 'azure' && isArmRequest(entry);

/** One replica's uninterrupted run of writes to a device. */
export interface WriterRun {
  writer: string;
  firstStart: number;
  lastEnd: number;
  writes: number;
}

/** Per simulator device, its writes grouped into runs by writer, oldest first. */
export function writerRuns(audit: readonly AuditEntry[]): Map<string, WriterRun[]> {
  const byDevice = new Map<string, WriterRun[]>();
  const writes = audit.filter(isDeviceWrite).sort((a, b) => requestStart(a) - requestStart(b));
  for (const e of writes) {
    const runs = byDevice.get(e.device) ?? [];
    const last = runs.at(-1);
    const writer = writerOf(e);
    if (last !== undefined && last.writer === writer) {
      last.lastEnd = Math.max(last.lastEnd, Date.parse(e.time));
      last.writes++;
    } else runs.push({ writer, firstStart: requestStart(e), lastEnd: Date.parse(e.time), writes: 1 });
    byDevice.set(e.device, runs);
  }
  return byDevice;
}

/**
 * Everything that contradicts "one writer per device at a time": a write with no replica in its User-Agent, a
 * replica that writes to a device again after another one wrote to it, and a handover where the next writer's
 * first request reached the device before the previous writer's last one was answered.
 */
export function writerProblems(runs: ReadonlyMap<string, readonly WriterRun[]>): string[] {
  const problems: string[] = [];
  for (const [device, list] of runs) {
    const writers = list.map((r) => r.writer);
    if (writers.includes('unknown')) problems.push(`${device}: a write names no replica`);
    if (new Set(writers).size !== writers.length) problems.push(`${device}: interleaved writers ${writers.join(' → ')}`);
    for (let i = 1; i < list.length; i++) {
      const before = list[i - 1];
      const after = list[i];
      if (before !== undefined && after !== undefined && after.firstStart < before.lastEnd) {
        problems.push(`${device}: ${after.writer} wrote at ${new Date(after.firstStart).toISOString()} before ${before.writer}'s last write was answered (${new Date(before.lastEnd).toISOString()})`);
      }
    }
  }
  return problems;
}

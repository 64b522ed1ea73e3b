// Controller replicas competing for the leader Lease, each process with its own name (the prefix of its Lease
// holder identity) and its own log file, and what their logs and the Lease say about who led when.
import { ApiException, CoordinationV1Api } from '@kubernetes/client-node';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { testKubeConfig } from '../../support/cluster.js';
import { ControllerProcess } from '../../support/controllerHarness.js';
import { RECONCILER_MESSAGES, parseLogLines, readLogRange, type LogLine } from './crashAudit.js';

export const LEASE_NAME = 'gpuvm-controller-leader';
/** Scaled down from 15 s / 10 s / 2 s so a failover takes seconds. */
export const LEASE_FLAGS = ['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '500ms'];

/** One controller process with leader election; a restart is a new Replica (a new process, name and log). */
export class Replica {
  private readonly process: ControllerProcess;
  startedAt = 0;
  killedAt: number | undefined;

  constructor(
    readonly name: string,
    namespace: string,
  ) {
    this.process = new ControllerProcess({
      namespace,
      args: ['--leader-elect', '--leader-elect-namespace', namespace, ...LEASE_FLAGS],
      env: { POD_NAME: name },
    });
    // The harness names the log by namespace, and every replica shares the namespace.
    const logFile = join(this.process.logFile, '..', `controller-${namespace}-${name}.log`);
    if (existsSync(logFile)) rmSync(logFile);
    Object.defineProperty(this.process, 'logFile', { value: logFile });
  }

  get logFile(): string {
    return this.process.logFile;
  }

  get alive(): boolean {
    return this.startedAt > 0 && this.killedAt === undefined;
  }

  async start(): Promise<void> {
    this.startedAt = Date.now();
    await this.process.start();
  }

  /** SIGKILL: the lease is not released, the standby waits out the lease duration. */
  async kill(): Promise<void> {
    this.killedAt = Date.now();
    await this.process.kill();
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }

  /** Whether a Lease holder identity (`<POD_NAME>_<random>`) is this process's. */
  holds(identity: string | undefined): boolean {
    return identity?.startsWith(`${this.name}_`) === true;
  }

  lines(): LogLine[] {
    return parseLogLines(readLogRange(this.logFile, 0));
  }

  /** When it logged that it became leader. */
  becameLeaderAt(lines = this.lines()): number | undefined {
    return lines.find((l) => l.msg === 'became leader')?.time;
  }

  /** When it logged the end of its first reconcile. */
  firstReconcileAt(lines = this.lines()): number | undefined {
    return lines.find((l) => l.msg.startsWith('reconcile'))?.time;
  }

  tail(): string {
    return this.process.tail();
  }
}

export interface LeaseState {
  holder: string | undefined;
  transitions: number;
}

export async function readLease(namespace: string): Promise<LeaseState> {
  try {
    const lease = await testKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: LEASE_NAME, namespace });
    return { holder: lease.spec?.holderIdentity, transitions: lease.spec?.leaseTransitions ?? 0 };
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return { holder: undefined, transitions: 0 };
    throw error;
  }
}

/**
 * What a replica's log says it should not have done: reconciler output before it became leader (or at all, if it
 * never led), and more than one leadership.
 */
export function standbyViolations(replica: Replica): string[] {
  const lines = replica.lines();
  const problems: string[] = [];
  const became = lines.findIndex((l) => l.msg === 'became leader');
  const acquired = lines.filter((l) => l.msg === 'became leader').length;
  if (acquired > 1) problems.push(`${replica.name} logged "became leader" ${acquired} times`);
  const early = lines.slice(0, became === -1 ? lines.length : became).filter((l) => RECONCILER_MESSAGES.has(l.msg));
  for (const l of early.slice(0, 5)) {
    problems.push(`${replica.name} logged "${l.msg}"${l.key !== undefined ? ` for ${l.key}` : ''} while not the leader`);
  }
  if (early.length > 5) problems.push(`${replica.name}: ${early.length - 5} more such lines`);
  return problems;
}

// Everything observability needs from `run`: the registry, the /metrics and probe servers, the metric hooks
// for the controllers, queues and Azure SDK clients, and gauges computed from the informer caches when scraped.
//
//   const obs = await startObservability({ metricsBindAddress, healthBindAddress, log, leaderElect, leaseName });
//   const manager = new Manager({ …, controllerMetrics: obs.controllerMetrics, queueMetrics: obs.queueMetrics, armPolicy: obs.armPolicy });
//   obs.attach(manager);            // gauges + probes follow the manager's informers from now on
//   // with leader election: onStartedLeading → obs.setLeader(true), onStoppedLeading → obs.setLeader(false)
//   …
//   await obs.close();
//
// /healthz: 200 while starting and once synced as long as every informer makes progress; 503 when one stalled.
// /readyz: 200 once the caches are synced, and at any time on a standby (leader election on, not leading).
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import type { Registry } from 'prom-client';
import type { EdgeDevice, GpuVm } from '../api/types.js';
import type { ControllerMetrics } from '../runtime/controller.js';
import type { EventHandlers } from '../runtime/informer.js';
import type { Logger } from '../runtime/logger.js';
import type { WorkQueueMetrics } from '../runtime/workqueue.js';
import { startHealthServer, startMetricsServer, type HealthCheck, type RunningServer, type SecureMetrics } from './httpServers.js';
import { Metrics, type MetricsOptions } from './metrics.js';

interface ObservedInformer<T> {
  readonly name?: string;
  list(): T[];
  addEventHandler(handlers: EventHandlers<T>): () => void;
  isHealthy?(): boolean;
  hasSynced?(): boolean;
}

/** What observability reads from the Manager (the Manager class satisfies it). */
export interface ObservedManager {
  readonly gpuVms: ObservedInformer<GpuVm>;
  readonly devices: ObservedInformer<EdgeDevice>;
  readonly secrets?: { readonly name?: string; isHealthy?(): boolean; hasSynced?(): boolean };
  hasSynced(): boolean;
  informersHealthy(): boolean;
  /** Sharded mode: false until the live replicas are known (a replica cannot tell which devices are its own). */
  shardMembershipKnown?(): boolean;
}

export interface ObservabilityOptions {
  /** --metrics-bind-address, e.g. ":8080"; "0" disables. */
  metricsBindAddress: string;
  /** --metrics-secure: serve /metrics over HTTPS to callers a TokenReview + SubjectAccessReview allow. */
  secureMetrics?: SecureMetrics;
  /** --health-probe-bind-address, e.g. ":8081"; "0" disables. */
  healthBindAddress: string;
  log: Logger;
  /** The manager, if it exists already; else call attach() once it does. */
  manager?: ObservedManager;
  /**
   * Whether leader election decides who reconciles. Without it this process always reconciles and
   * leader_election_master_status is 1; with it, report transitions with setLeader().
   */
  leaderElect?: boolean;
  /** The Lease name, the `name` label of leader_election_master_status (default "gpuvm-controller-leader"). */
  leaseName?: string;
  metrics?: MetricsOptions;
}

export interface Observability {
  registry: Registry;
  metrics: Metrics;
  /** Bound ports (0 when disabled). */
  metricsPort: number;
  healthPort: number;
  controllerMetrics(controller: string): ControllerMetrics;
  queueMetrics(name: string): WorkQueueMetrics;
  /** Azure pipeline policy counting a device's ARM requests: add it to its SDK clients with position "perRetry". */
  armPolicy(device: string): PipelinePolicy;
  /** Follows a manager's informers: gauges and /healthz, /readyz. */
  attach(manager: ObservedManager): void;
  setLeader(isLeader: boolean): void;
  close(): Promise<void>;
}

export function healthOf(manager: ObservedManager | undefined): HealthCheck {
  if (manager === undefined) return { ok: true, detail: 'starting' };
  // Before the first sync readiness is what fails; liveness only judges informers that have synced once.
  if (!manager.hasSynced()) return { ok: true, detail: 'informer caches syncing' };
  if (manager.informersHealthy()) return { ok: true, detail: 'informers healthy' };
  const stalled = [manager.gpuVms, manager.devices, manager.secrets]
    .filter((i) => i?.isHealthy !== undefined && !i.isHealthy())
    .map((i) => i?.name ?? 'informer');
  return { ok: false, detail: `informers stalled: ${stalled.length > 0 ? stalled.join(', ') : 'unknown'}` };
}

/**
 * Ready once the caches are synced. A standby replica (leader election on, not leading) is ready as it is: it
 * may start its informers only when it wins the lease, and must not be held out of rotations meanwhile.
 */
export function readinessOf(manager: ObservedManager | undefined, standby = false): HealthCheck {
  if (manager?.hasSynced() !== true && standby) return { ok: true, detail: 'standby: waiting for the lease' };
  if (manager === undefined) return { ok: false, detail: 'controller not started' };
  if (!manager.hasSynced()) {
    const waiting = [manager.gpuVms, manager.devices, manager.secrets]
      .filter((i) => i?.hasSynced !== undefined && !i.hasSynced())
      .map((i) => i?.name ?? 'informer');
    return { ok: false, detail: `informer caches not synced${waiting.length > 0 ? `: ${waiting.join(', ')}` : ''}` };
  }
  if (manager.shardMembershipKnown?.() === false) return { ok: false, detail: 'shard membership not known yet' };
  return { ok: true, detail: 'caches synced' };
}

export async function startObservability(options: ObservabilityOptions): Promise<Observability> {
  const { log } = options;
  const metrics = new Metrics({ ...options.metrics, ...(options.leaseName !== undefined ? { leaseName: options.leaseName } : {}) });
  let manager: ObservedManager | undefined;
  const unsubscribe: (() => void)[] = [];
  let leading = options.leaderElect !== true;

  const failed = (flag: string, address: string, err: unknown): Error =>
    new Error(`${flag} ${address}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  let metricsServer: RunningServer;
  try {
    metricsServer = await startMetricsServer(options.metricsBindAddress, metrics.registry, options.secureMetrics);
  } catch (err) {
    throw failed('--metrics-bind-address', options.metricsBindAddress, err);
  }
  let healthServer: RunningServer;
  try {
    healthServer = await startHealthServer(options.healthBindAddress, {
      healthz: () => healthOf(manager),
      readyz: () => readinessOf(manager, !leading),
    });
  } catch (err) {
    await metricsServer.close();
    throw failed('--health-probe-bind-address', options.healthBindAddress, err);
  }
  log.info({ metrics: metricsServer.address, metricsSecure: options.secureMetrics !== undefined, health: healthServer.address }, 'serving metrics and health probes');
  if (options.leaderElect !== true) metrics.setLeader(true);

  const attach = (m: ObservedManager): void => {
    if (manager !== undefined) throw new Error('observability is already attached to a manager');
    manager = m;
    metrics.followCaches({ gpuVms: () => m.gpuVms.list(), devices: () => m.devices.list() });
    // Time to Ready is seen as it happens; the gauges are computed when scraped.
    unsubscribe.push(
      m.gpuVms.addEventHandler({
        onAdd: (g) => metrics.observeGpuVm(g),
        onUpdate: (_old, g) => metrics.observeGpuVm(g),
        onDelete: (g) => metrics.forgetGpuVm(g),
      }),
    );
  };
  if (options.manager !== undefined) attach(options.manager);

  return {
    registry: metrics.registry,
    metrics,
    metricsPort: metricsServer.port,
    healthPort: healthServer.port,
    controllerMetrics: (controller) => metrics.controllerMetrics(controller),
    queueMetrics: (name) => metrics.queueMetrics(name),
    armPolicy: (device) => metrics.armMetricsPolicy(device),
    attach,
    setLeader: (isLeader) => {
      leading = isLeader;
      metrics.setLeader(isLeader);
    },
    async close() {
      for (const u of unsubscribe.splice(0)) u();
      await Promise.all([metricsServer.close(), healthServer.close()]);
    },
  };
}

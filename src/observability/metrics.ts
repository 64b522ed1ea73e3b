// Prometheus metrics of the controller, with the names users know from controller-runtime and client-go
// (controller_runtime_*, workqueue_*, leader_election_master_status) plus the GpuVm-specific ones (gpuvm_*).
// One Metrics object owns one prom-client Registry; nothing is registered in prom-client's global registry, so
// tests (and several controllers in one process) do not collide.
import type { PipelinePolicy, PipelineRequest, PipelineResponse, SendRequest } from '@azure/core-rest-pipeline';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EdgeDevice, GpuVm, GpuVmPhase } from '../api/types.js';
import type { DeviceBudgetMetrics } from '../azure/deviceBudget.js';
import type { ControllerMetrics, ReconcileOutcome } from '../runtime/controller.js';
import type { WorkQueueMetrics } from '../runtime/workqueue.js';

/** controller-runtime's reconcile time buckets (v0.15+). */
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8,
  9, 10, 15, 20, 25, 30, 40, 50, 60,
];
/** client-go's workqueue buckets: 10 ns … 1000 s, ×10. */
const WORKQUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000];
const ARM_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Creating a GPU VM and installing its driver takes minutes on a device; seconds on the simulator. */
const TIME_TO_READY_BUCKETS = [1, 5, 10, 30, 60, 120, 180, 240, 300, 450, 600, 900, 1200, 1800, 3600];

export const GPUVM_PHASES: readonly GpuVmPhase[] = ['Pending', 'WaitingForGpu', 'Provisioning', 'InstallingDriver', 'Ready', 'Stopped', 'Deleting', 'Failed'];
export const RECONCILE_RESULTS = ['success', 'error', 'requeue', 'requeue_after'] as const;
export type ReconcileResult = (typeof RECONCILE_RESULTS)[number];

export interface MetricsOptions {
  /** Register Node.js process metrics (process_*, nodejs_*). Default true. */
  processMetrics?: boolean;
  /** The `name` label of leader_election_master_status: the Lease name. Default "gpuvm-controller-leader". */
  leaseName?: string;
  /** Time source (ms since the epoch), for tests. */
  now?: () => number;
}

/** controller-runtime's result label for a reconcile outcome. */
export function reconcileResult(outcome: ReconcileOutcome['kind'], requeueAfterMs?: number): ReconcileResult {
  switch (outcome) {
    case 'done':
      return 'success';
    case 'error':
      return 'error';
    case 'requeueAfter':
      return requeueAfterMs === 0 ? 'requeue' : 'requeue_after';
  }
}

const ARM_ID_SEGMENT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A short, bounded-cardinality name of an ARM request: the method and the resource types of the URL path
 * (names and ids dropped), e.g.
 *   PUT  …/providers/Microsoft.Resources/deployments/gpuvm-vm-<uid>           → "PUT deployments"
 *   GET  …/providers/Microsoft.Compute/virtualMachines/vm1/instanceView       → "GET virtualMachines/instanceView"
 *   POST …/providers/Microsoft.Compute/virtualMachines/vm1/start              → "POST virtualMachines/start"
 *   GET  …/providers/Microsoft.Resources/deployments/d/operationStatuses/<id> → "GET deployments/operationStatuses"
 *   GET  /subscriptions/<id>/resourceGroups/rg                                → "GET resourceGroups"
 */
export function armOperation(method: string, url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url.split('?')[0] ?? '';
  }
  const segments = path.split('/').filter((s) => s !== '');
  const providers = segments.map((s) => s.toLowerCase()).lastIndexOf('providers');
  let types: string[];
  if (providers >= 0) {
    // providers/<Namespace>/<type>/<name>/<type>/<name>…[/<action or collection>]
    const rest = segments.slice(providers + 2);
    types = rest.filter((_, i) => i % 2 === 0);
  } else {
    // subscriptions/<id>/resourceGroups/<name>…: the innermost type names the request.
    const typed = segments.filter((_, i) => i % 2 === 0);
    types = typed.slice(-1);
  }
  types = types.filter((t) => !ARM_ID_SEGMENT.test(t));
  const resource = types.length > 0 ? types.join('/') : providers >= 0 ? (segments[providers + 1] ?? 'providers') : 'root';
  return `${method.toUpperCase()} ${resource}`;
}

/** The informer caches the gauges are computed from. */
export interface CachedObjects {
  gpuVms(): readonly GpuVm[];
  devices(): readonly EdgeDevice[];
}

export class Metrics {
  readonly registry = new Registry();
  private readonly now: () => number;
  private readonly leaseName: string;

  private readonly reconcileTotal: Counter<'controller' | 'result'>;
  private readonly reconcileErrors: Counter<'controller'>;
  private readonly reconcileTime: Histogram<'controller'>;
  private readonly queueDepth: Gauge<'name'>;
  private readonly queueAdds: Counter<'name'>;
  private readonly queueRetries: Counter<'name'>;
  private readonly queueDuration: Histogram<'name'>;
  private readonly workDuration: Histogram<'name'>;
  private readonly armRequests: Counter<'device' | 'operation' | 'code'>;
  private readonly armDuration: Histogram<'operation'>;
  private readonly budgetWait: Counter<'device' | 'kind' | 'cause'>;
  private readonly budgetRefused: Counter<'device' | 'kind' | 'cause'>;
  private readonly timeToReady: Histogram;
  private readonly deviceGpus: Gauge<'device' | 'holder'>;
  private readonly phase: Gauge<'phase'>;
  private readonly leader: Gauge<'name'>;
  private caches: CachedObjects | undefined;
  /** GpuVm UIDs whose first Ready=True has been observed (or that were Ready before this process started). */
  private readonly readySeen = new Set<string>();
  private readonly startedAt: number;

  constructor(options: MetricsOptions = {}) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.leaseName = options.leaseName ?? 'gpuvm-controller-leader';
    const registers = [this.registry];
    this.reconcileTotal = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers });
    this.reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: RECONCILE_BUCKETS,
      registers,
    });
    this.queueDepth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'], registers });
    this.queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name'], registers });
    this.queueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name'], registers });
    this.queueDuration = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['name'],
      buckets: WORKQUEUE_BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames: ['name'],
      buckets: WORKQUEUE_BUCKETS,
      registers,
    });
    this.armRequests = new Counter({
      name: 'gpuvm_arm_requests_total',
      help: 'ARM HTTP requests (every attempt, retries included) by device, operation (method and resource type) and HTTP status code ("error" when no response)',
      labelNames: ['device', 'operation', 'code'],
      registers,
    });
    this.armDuration = new Histogram({
      name: 'gpuvm_arm_request_duration_seconds',
      // Not by device: a histogram per device and operation is hundreds of series per device in the controller's
      // memory and in Prometheus; gpuvm_arm_requests_total has the per-device counts.
      help: 'Duration of ARM HTTP requests (every attempt) by operation',
      labelNames: ['operation'],
      buckets: ARM_BUCKETS,
      registers,
    });
    this.budgetWait = new Counter({
      name: 'gpuvm_device_budget_wait_seconds_total',
      help: 'Time ARM requests to a device were told to wait before being sent, by device, kind (read, write) and cause (budget: the controller\'s per-device budget was spent; retry_after: the device asked to wait)',
      labelNames: ['device', 'kind', 'cause'],
      registers,
    });
    this.budgetRefused = new Counter({
      name: 'gpuvm_device_budget_refused_total',
      help: 'ARM requests to a device refused before being sent (the object is requeued for when they may go), by device, kind (read, write) and cause (budget, retry_after)',
      labelNames: ['device', 'kind', 'cause'],
      registers,
    });
    this.timeToReady = new Histogram({
      name: 'gpuvm_time_to_ready_seconds',
      help: 'Time from a GpuVm’s creation to its first Ready=True condition, observed once per GpuVm',
      buckets: TIME_TO_READY_BUCKETS,
      registers,
    });
    // Both are read from the informer caches when scraped: counting on every cache event costs O(fleet) per
    // event, which at thousands of GpuVms was a fifth of the controller's CPU.
    this.deviceGpus = new Gauge({
      name: 'gpuvm_device_gpus',
      help: 'GPUs of an EdgeDevice by holder (vm, kubernetes, free), from its status',
      labelNames: ['device', 'holder'],
      registers,
      collect: () => {
        if (this.caches !== undefined) this.observeDevices(this.caches.devices());
      },
    });
    this.phase = new Gauge({
      name: 'gpuvm_phase',
      help: 'Number of GpuVms per phase',
      labelNames: ['phase'],
      registers,
      collect: () => {
        if (this.caches !== undefined) this.observeGpuVms(this.caches.gpuVms());
      },
    });
    this.leader = new Gauge({ name: 'leader_election_master_status', help: 'Gauge of if the reporter is master of the relevant lease, 0 indicates backup, 1 indicates master. \'name\' is the string used to identify the lease.', labelNames: ['name'], registers });
    this.leader.set({ name: this.leaseName }, 0);
    for (const phase of GPUVM_PHASES) this.phase.set({ phase }, 0);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Reconcile metrics of one controller (plug into ControllerOptions.metrics / ManagerOptions.controllerMetrics). */
  controllerMetrics(controller: string): ControllerMetrics {
    // controller-runtime initialises every series of a controller at 0, so rate() works from the first scrape.
    for (const result of RECONCILE_RESULTS) this.reconcileTotal.inc({ controller, result }, 0);
    this.reconcileErrors.inc({ controller }, 0);
    this.reconcileTime.zero({ controller });
    return {
      reconciled: (outcome, durationMs) => {
        this.reconcileTotal.inc({ controller, result: reconcileResult(outcome) });
        if (outcome === 'error') this.reconcileErrors.inc({ controller });
        this.reconcileTime.observe({ controller }, durationMs / 1000);
      },
    };
  }

  /** Work queue metrics of one queue (plug into WorkQueueOptions.metrics / ManagerOptions.queueMetrics). */
  queueMetrics(name: string): WorkQueueMetrics {
    this.queueDepth.set({ name }, 0);
    this.queueAdds.inc({ name }, 0);
    this.queueRetries.inc({ name }, 0);
    this.queueDuration.zero({ name });
    this.workDuration.zero({ name });
    return {
      depth: (depth) => this.queueDepth.set({ name }, depth),
      added: () => this.queueAdds.inc({ name }),
      retried: () => this.queueRetries.inc({ name }),
      queueLatency: (ms) => this.queueDuration.observe({ name }, ms / 1000),
      workDuration: (ms) => this.workDuration.observe({ name }, ms / 1000),
    };
  }

  /** Counts one ARM HTTP request. */
  armRequest(device: string, operation: string, code: number | 'error', durationMs: number): void {
    this.armRequests.inc({ device, operation, code: String(code) });
    this.armDuration.observe({ operation }, durationMs / 1000);
  }

  /** Counts requests the per-device ARM budget refused (plug into DeviceBudgets' metrics). */
  deviceBudgetMetrics(): DeviceBudgetMetrics {
    return {
      refused: (device, kind, cause, waitMs) => {
        this.budgetRefused.inc({ device, kind, cause });
        this.budgetWait.inc({ device, kind, cause }, waitMs / 1000);
      },
    };
  }

  /**
   * An Azure pipeline policy recording every request of a device's SDK clients. Add it with position
   * "perRetry" so each attempt (retries included) is counted, as the device sees them.
   */
  armMetricsPolicy(device: string): PipelinePolicy {
    return {
      name: 'gpuvmArmMetricsPolicy',
      sendRequest: async (request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> => {
        // Cancelled before it was sent (see putDeployment): the device never sees it.
        if (request.abortSignal?.aborted === true) return next(request);
        const operation = armOperation(request.method, request.url);
        const started = this.now();
        try {
          const response = await next(request);
          this.armRequest(device, operation, response.status, this.now() - started);
          return response;
        } catch (err) {
          const status = (err as { response?: { status?: unknown } }).response?.status;
          this.armRequest(device, operation, typeof status === 'number' ? status : 'error', this.now() - started);
          throw err;
        }
      },
    };
  }

  /**
   * Refreshes gpuvm_phase from the GpuVm cache and observes gpuvm_time_to_ready_seconds for GpuVms whose
   * Ready condition became True while this process ran (once per UID). GpuVms without a phase count as Pending.
   */
  observeGpuVms(gpuVms: readonly GpuVm[]): void {
    const counts = new Map<string, number>(GPUVM_PHASES.map((p) => [p, 0]));
    const present = new Set<string>();
    for (const g of gpuVms) {
      const phase = g.status?.phase ?? 'Pending';
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
      const uid = g.metadata.uid;
      if (uid === undefined) continue;
      present.add(uid);
      this.observeReady(g, uid);
    }
    this.phase.reset();
    for (const [phase, count] of counts) this.phase.set({ phase }, count);
    // Forget deleted GpuVms, so the set stays as large as the cache.
    for (const uid of this.readySeen) if (!present.has(uid)) this.readySeen.delete(uid);
  }

  /** Observes one GpuVm's time to Ready (for informer event handlers; observeGpuVms does it for a whole list). */
  observeGpuVm(g: GpuVm): void {
    if (g.metadata.uid !== undefined) this.observeReady(g, g.metadata.uid);
  }

  /** A deleted GpuVm (for informer event handlers), so the set of seen UIDs stays as large as the cache. */
  forgetGpuVm(g: GpuVm): void {
    if (g.metadata.uid !== undefined) this.readySeen.delete(g.metadata.uid);
  }

  /** From now on gpuvm_phase and gpuvm_device_gpus are computed from these lists at each scrape. */
  followCaches(caches: CachedObjects): void {
    this.caches = caches;
  }

  private observeReady(g: GpuVm, uid: string): void {
    if (this.readySeen.has(uid)) return;
    const ready = g.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status !== 'True') return;
    this.readySeen.add(uid);
    const created = Date.parse(String(g.metadata.creationTimestamp ?? ''));
    const readyAt = Date.parse(ready.lastTransitionTime);
    // Ready before this process started: observed by the process that saw it happen (or lost with it).
    if (!Number.isFinite(created) || !Number.isFinite(readyAt) || readyAt < this.startedAt - 1000) return;
    this.timeToReady.observe(Math.max(0, (readyAt - created) / 1000));
  }

  /** Refreshes gpuvm_device_gpus from the EdgeDevice cache (devices without status.gpus are left out). */
  observeDevices(devices: readonly EdgeDevice[]): void {
    this.deviceGpus.reset();
    for (const d of devices) {
      const gpus = d.status?.gpus;
      const device = d.metadata.name;
      if (gpus === undefined || device === undefined) continue;
      this.deviceGpus.set({ device, holder: 'vm' }, gpus.vms ?? 0);
      this.deviceGpus.set({ device, holder: 'kubernetes' }, gpus.kubernetes ?? 0);
      this.deviceGpus.set({ device, holder: 'free' }, gpus.free ?? 0);
    }
  }

  setLeader(isLeader: boolean): void {
    this.leader.set({ name: this.leaseName }, isLeader ? 1 : 0);
  }
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  return new Metrics(options);
}

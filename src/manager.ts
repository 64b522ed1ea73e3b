import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { isBeingDeleted } from './api/deletion.js';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION, type EdgeDevice, type GpuVm } from './api/types.js';
import { KubeEventRecorder } from './kube/eventRecorder.js';
import { ApiServerWriter } from './kube/kubeWriter.js';
import { ApiServerShardStatusWriter } from './kube/shardStatusWriter.js';
import type { PlanSettings } from './plan/gpuVmPlan.js';
import type { DeviceBudgets } from './azure/deviceBudget.js';
import { AdminSecretReader, kubeSecretFetch } from './reconcile/adminSecrets.js';
import { DEFAULT_CONTROLLER_NAMESPACE, SecretBackedConnections } from './reconcile/deviceConnections.js';
import { DEFAULT_DRAIN_TIMEOUT_MS } from './plan/edgeDevicePlan.js';
import { DeviceListings } from './reconcile/deviceListings.js';
import { EdgeDeviceKind } from './reconcile/edgeDeviceKind.js';
import { GpuVmKind } from './reconcile/gpuVmKind.js';
import { ReconcileLoop } from './reconcile/reconcileLoop.js';
import { ImageSnapshots, NicSnapshots, VmSnapshots } from './reconcile/deviceSnapshots.js';
import { gpuVmsWithChangedView } from './reconcile/deviceView.js';
import { deployBlocker } from './plan/tenancy.js';
import { BY_DEVICE, gpuVmKey, type Logger } from './reconcile/ports.js';
import { Controller, done, type ControllerMetrics, type ReconcileOutcome, type WatchEvent } from './runtime/controller.js';
import { systemClock } from './runtime/clock.js';
import { Informer, secretForCache, stripForCache } from './runtime/informer.js';
import { customResourceListerWatcher, secretListerWatcher } from './runtime/kubeListerWatcher.js';
import { ShardOwnership, type ShardMembershipView } from './runtime/shardOwnership.js';
import type { WorkQueueMetrics } from './runtime/workqueue.js';

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  log: Logger & { child?(bindings: object): Logger };
  /** Parallel reconciles per controller. */
  concurrency: number;
  /** Device VM listing (drift, foreign VMs) period. */
  syncPeriodMs: number;
  /** Quiet period of a device's GpuVms before its Kubernetes role is created (default 10 s). */
  kubernetesSettleMs?: number;
  /** How long a drain may keep GPU VMs stopped where compute runs (default 1 h). */
  drainTimeoutMs?: number;
  plan: PlanSettings;
  /** Identity written into Events (pod name). */
  instance: string;
  /** Only GpuVms of this namespace (default: all namespaces). */
  namespace?: string;
  /** The controller's own namespace: the only one whose Secrets (device credentials, CA bundles) are watched and used (default gpuvm-system). */
  controllerNamespace?: string;
  /** Authority hosts, besides the Azure clouds', the controller's own Azure identity may be sent to. */
  extraAuthorityHosts?: readonly string[];
  /** Only EdgeDevices matching this label selector. */
  deviceSelector?: string;
  controllerMetrics?: (controller: string) => ControllerMetrics;
  /** Extra Azure SDK pipeline policy per device (request metrics). */
  armPolicy?: (device: string) => PipelinePolicy;
  /** The devices' ARM budgets (default: ARM's per-subscription limits). */
  deviceBudgets?: DeviceBudgets;
  queueMetrics?: (controller: string) => WorkQueueMetrics;
  /** Sharded mode: reconcile only the devices (and their GpuVms) this replica owns; see runtime/shardOwnership.ts. */
  sharding?: {
    identity: string;
    membership: ShardMembershipView;
    /** Whether this replica's shard Lease is held (renewed within the renew deadline). */
    leaseHeld(): boolean;
  };
  /** User-Agent prefix of ARM requests (default gpuvm-controller). */
  userAgentPrefix?: string;
}

const BY_SECRET = 'secret';

/** Spec, deletion, finalizers or annotations changed: status-only updates (our own writes) are skipped. */
function desiredChanged<T extends GpuVm | EdgeDevice>(event: WatchEvent<T>): boolean {
  if (event.kind !== 'update' || event.oldObject === undefined) return true;
  const a = event.oldObject.metadata;
  const b = event.object.metadata;
  return (
    a.generation !== b.generation ||
    isBeingDeleted(event.oldObject) !== isBeingDeleted(event.object) ||
    !isDeepStrictEqual(a.finalizers ?? [], b.finalizers ?? []) ||
    !isDeepStrictEqual(a.annotations ?? {}, b.annotations ?? {})
  );
}

/** What GpuVms read from their device's status: allocations, capacity, connection, Kubernetes, release. */
function deviceViewChanged(event: WatchEvent<EdgeDevice>): boolean {
  if (event.kind !== 'update' || event.oldObject === undefined) return true;
  const pick = (d: EdgeDevice) => ({
    spec: d.spec,
    allocations: d.status?.allocations,
    gpus: d.status?.gpus,
    kubernetes: d.status?.kubernetes,
    softwareVersion: d.status?.softwareVersion,
    connected: d.status?.conditions?.find((c) => c.type === 'Connected')?.status,
  });
  return !isDeepStrictEqual(pick(event.oldObject), pick(event.object));
}

/** What the device ledger reads from a GpuVm: its VM's existence and power, deletion, desired power. */
function ledgerInputChanged(event: WatchEvent<GpuVm>): boolean {
  if (event.kind !== 'update' || event.oldObject === undefined) return true;
  const pick = (g: GpuVm) => ({
    deleting: isBeingDeleted(g),
    power: g.spec.powerState,
    vm: g.status?.vm?.resourceId,
    vmPower: g.status?.vm?.powerState,
    vmProvisioning: g.status?.vm?.provisioningState,
    // Whether it could deploy (tenancy.ts): a fixed Secret or image lets it into the queue again.
    blocker: deployBlocker(g),
    // An operation in flight keeps a reservation; once the GpuVm is being deleted its steps no longer matter here.
    operation: !isBeingDeleted(g) && g.status?.operation !== undefined,
  });
  return !isDeepStrictEqual(pick(event.oldObject), pick(event.object));
}

function deviceSecretRefs(d: EdgeDevice): { name: string; namespace?: string }[] {
  return [d.spec.arm.credentialsSecretRef, d.spec.arm.caBundleSecretRef, d.spec.azure?.credentialsSecretRef].filter((r) => r !== undefined);
}

/** Owns the informers and both controllers of one controller process. */
export class Manager {
  readonly gpuVms: Informer<GpuVm>;
  readonly devices: Informer<EdgeDevice>;
  /** Secrets of the controller's namespace only (device credentials, CA bundles); GpuVm admin Secrets are read on demand. */
  readonly secrets: Informer<V1Secret>;
  readonly adminSecrets: AdminSecretReader;
  readonly gpuVmController: Controller;
  readonly deviceController: Controller;
  private readonly connections: SecretBackedConnections;
  /** Sharded mode only. */
  readonly shards: ShardOwnership | undefined;
  private started = false;
  private informersStarted = false;

  constructor(private readonly options: ManagerOptions) {
    const { kubeConfig, log } = options;
    const child = (name: string): Logger => log.child?.({ controller: name }) ?? log;
    this.gpuVms = new Informer<GpuVm>({
      listerWatcher: customResourceListerWatcher<GpuVm>(kubeConfig, {
        group: GROUP,
        version: VERSION,
        plural: GPUVM_PLURAL,
        ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
      }),
      transform: stripForCache,
      logger: child('informer'),
    });
    this.devices = new Informer<EdgeDevice>({
      listerWatcher: customResourceListerWatcher<EdgeDevice>(kubeConfig, {
        group: GROUP,
        version: VERSION,
        plural: EDGEDEVICE_PLURAL,
        ...(options.deviceSelector !== undefined ? { labelSelector: options.deviceSelector } : {}),
      }),
      transform: stripForCache,
      logger: child('informer'),
    });
    this.secrets = new Informer<V1Secret>({
      listerWatcher: secretListerWatcher(kubeConfig, { namespace: options.controllerNamespace ?? DEFAULT_CONTROLLER_NAMESPACE }),
      transform: secretForCache,
      logger: child('informer'),
    });
    this.gpuVms.addIndex(BY_DEVICE, (g) => [g.spec.deviceRef.name]);
    const caches = { gpuVms: this.gpuVms, devices: this.devices };
    const armPolicy = options.armPolicy;
    const connections = new SecretBackedConnections(this.secrets, {
      ...(options.controllerNamespace !== undefined ? { controllerNamespace: options.controllerNamespace } : {}),
      ...(options.extraAuthorityHosts !== undefined ? { extraAuthorityHosts: options.extraAuthorityHosts } : {}),
      userAgentPrefix: options.userAgentPrefix ?? 'gpuvm-controller',
      ...(armPolicy !== undefined ? { extraPolicies: (device: string) => [armPolicy(device)] } : {}),
      ...(options.deviceBudgets !== undefined ? { budgets: options.deviceBudgets } : {}),
    });
    this.connections = connections;
    this.devices.addIndex(BY_SECRET, (d) => deviceSecretRefs(d).map((r) => connections.secretKey(r)));
    this.adminSecrets = new AdminSecretReader(kubeSecretFetch(kubeConfig), systemClock);
    const writer = new ApiServerWriter(kubeConfig);
    const events = new KubeEventRecorder(kubeConfig, {
      controller: 'gpuvm.io/gpuvm-controller',
      instance: options.instance,
      onError: (err) => log.warn({ err: String(err) }, 'event not recorded'),
    });

    // The device controller is made below; the closure reaches it when a GpuVm first asks for a listing.
    const listings = new DeviceListings((device) => this.deviceController.enqueue(device));
    const snapshots = new VmSnapshots(systemClock);
    const images = new ImageSnapshots(systemClock);
    const nics = new NicSnapshots(systemClock);
    const sharding = options.sharding;
    const shards = sharding === undefined
      ? undefined
      : new ShardOwnership({
        ...sharding,
        devices: { get: (name) => this.devices.get(name), list: () => this.devices.list() },
        writer: new ApiServerShardStatusWriter(kubeConfig),
        // A device's earlier events were skipped by the gate: its new owner reconciles it and its GpuVms now.
        onGained: (device) => {
          this.deviceController.enqueue(device);
          for (const key of this.gpuVms.byIndex(BY_DEVICE, device).map(gpuVmKey)) this.gpuVmController.enqueue(key);
        },
        logger: child('shard'),
      });
    this.shards = shards;
    /**
     * Sharded: events of objects whose device another replica acts on are not queued (taking a device over queues
     * it and its GpuVms: onGained). An object gone from the cache is queued, to be forgotten.
     */
    const admitsDevice = (device: string | undefined): boolean => shards === undefined || device === undefined || shards.mayActOn(device);
    /** Runs a reconcile only if this replica acts on `device` (always without sharding). */
    const gated = (device: string | undefined, work: () => Promise<ReconcileOutcome>): Promise<ReconcileOutcome> =>
      // An object gone from the cache is only forgotten (no write), so any replica may do it.
      shards === undefined || device === undefined ? work() : shards.gate(device, work, done);
    const gpuVmReconciler = new ReconcileLoop(new GpuVmKind({ caches, connections, writer, clock: systemClock, settings: options.plan, listings, snapshots, images, nics, adminSecrets: this.adminSecrets }), writer, events, child('gpuvm'));
    this.gpuVmController = new Controller({
      name: 'gpuvm',
      concurrency: options.concurrency,
      logger: log, // the runtime adds {controller} itself
      // The initial list and resyncs wait behind changes: after a restart a fresh apply is not queued behind the fleet.
      lowPriorityWhenUnchanged: true,
      admits: (key) => admitsDevice(this.gpuVms.get(key)?.spec.deviceRef.name),
      reconcile: (key, context) => gated(this.gpuVms.get(key)?.spec.deviceRef.name, () => gpuVmReconciler.reconcile(key, context.log)),
      ...(options.controllerMetrics ? { metrics: options.controllerMetrics('gpuvm') } : {}),
      ...(options.queueMetrics ? { queue: { metrics: options.queueMetrics('gpuvm') } } : {}),
    });
    const deviceKind = new EdgeDeviceKind({
      caches,
      connections,
      writer,
      clock: systemClock,
      settings: { syncPeriodMs: options.syncPeriodMs, pollIntervalMs: options.plan.pollIntervalMs, kubernetesSettleMs: options.kubernetesSettleMs ?? 10_000,
        drainTimeoutMs: options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      },
      enqueueGpuVm: (key) => this.gpuVmController.enqueue(key),
      listings,
      snapshots,
      images,
      nics,
    });
    const deviceReconciler = new ReconcileLoop(deviceKind, writer, events, child('edgedevice'));
    this.deviceController = new Controller({
      name: 'edgedevice',
      concurrency: options.concurrency,
      logger: log,
      lowPriorityWhenUnchanged: true,
      admits: (key) => admitsDevice(this.devices.get(key) === undefined ? undefined : key),
      reconcile: (key, context) => gated(this.devices.get(key) === undefined ? undefined : key, () => deviceReconciler.reconcile(key, context.log)),
      ...(options.controllerMetrics ? { metrics: options.controllerMetrics('edgedevice') } : {}),
      ...(options.queueMetrics ? { queue: { metrics: options.queueMetrics('edgedevice') } } : {}),
    });

    this.gpuVmController
      .watches(this.gpuVms, { predicate: desiredChanged })
      .watches(this.devices, { predicate: deviceViewChanged, map: (d, event) => this.gpuVmsToReconcile(d, event) })
      // A changed device Secret retries the GpuVms of its devices too (a device stuck on it held them up).
      .watches(this.secrets, { map: (s) => this.devicesUsing(s).flatMap((d) => this.gpuVms.byIndex(BY_DEVICE, d).map(gpuVmKey)) });
    this.deviceController
      .watches(this.devices, { predicate: desiredChanged })
      .watches(this.gpuVms, { predicate: ledgerInputChanged, map: (g) => g.spec.deviceRef.name })
      .watches(this.secrets, { map: (s) => this.devicesUsing(s) });
    // Once the cache shows an object past the version a write was based on, the written copy the loop keeps goes.
    this.gpuVms.addEventHandler({ onUpdate: (_old, g) => gpuVmReconciler.observed(gpuVmKey(g), g.metadata.resourceVersion) });
    this.devices.addEventHandler({ onUpdate: (_old, d) => deviceReconciler.observed(d.metadata.name ?? '', d.metadata.resourceVersion) });
    // A changed ownership record (a claim or a release) may let this replica take the device, or release it.
    if (shards !== undefined) {
      this.devices.addEventHandler({
        onAdd: (d) => void shards.evaluate(d.metadata.name ?? ''),
        onUpdate: (old, d) => {
          if (!isDeepStrictEqual(old.status?.shard, d.status?.shard)) void shards.evaluate(d.metadata.name ?? '');
        },
      });
    }
  }

  private devicesUsing(secret: V1Secret): string[] {
    return this.devices.indexKeys(BY_SECRET, `${secret.metadata?.namespace}/${secret.metadata?.name}`);
  }

  /** A changed EdgeDevice: all its GpuVms when its spec or metadata changed, else those whose view of it changed. */
  private gpuVmsToReconcile(device: EdgeDevice, event: WatchEvent<EdgeDevice>): string[] {
    // Mapped for the old and the new object of an update; a name never changes, so the new one says it all.
    if (device !== event.object) return [];
    const name = device.metadata.name ?? '';
    const onDevice = this.gpuVms.byIndex(BY_DEVICE, name);
    const old = event.oldObject;
    if (event.kind !== 'update' || old === undefined || desiredChanged(event)) return onDevice.map(gpuVmKey);
    return gpuVmsWithChangedView(old, event.object, onDevice).map(gpuVmKey);
  }

  /** Starts the informers and, once their caches are synced, the controllers. */
  async start(): Promise<void> {
    this.startInformers();
    await this.startControllers();
  }

  /** Starts filling the caches; a standby replica does this so it is warm when it becomes leader. */
  startInformers(): void {
    if (this.informersStarted) return;
    this.informersStarted = true;
    for (const informer of [this.secrets, this.devices, this.gpuVms]) informer.start();
  }

  /** Starts reconciling once the caches are synced (the leader only). */
  async startControllers(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.startInformers();
    const [a, b] = await Promise.all([this.deviceController.start(), this.gpuVmController.start()]);
    if (!a || !b) throw new Error('informer caches did not sync');
    this.options.log.info({ concurrency: this.options.concurrency }, 'controllers started');
  }

  controllersRunning(): boolean {
    return this.gpuVmController.isRunning() && this.deviceController.isRunning();
  }

  hasSynced(): boolean {
    return this.gpuVms.hasSynced() && this.devices.hasSynced() && this.secrets.hasSynced();
  }

  /** Sharded mode: whether the live replicas are known yet (readiness waits for it). */
  shardMembershipKnown(): boolean {
    return this.options.sharding?.membership.known() ?? true;
  }

  informersHealthy(): boolean {
    return [this.gpuVms, this.devices, this.secrets].every((i) => i.isHealthy());
  }

  async stop(): Promise<void> {
    // Sharded: no new work on any device; once the reconciles in flight end, every held device is released so
    // the replicas that now win them take over without waiting for this replica's Lease to expire.
    this.shards?.stopActing();
    await Promise.all([this.gpuVmController.stop(), this.deviceController.stop()]);
    await this.shards?.releaseAll();
    for (const informer of [this.gpuVms, this.devices, this.secrets]) informer.stop();
    this.connections.close();
  }
}

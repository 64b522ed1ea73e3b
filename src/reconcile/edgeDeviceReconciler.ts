import { hasFinalizer, isBeingDeleted } from '../api/deletion.js';
import { FINALIZER, type EdgeDevice, type GpuVm } from '../api/types.js';
import { UnsupportedApiVersionsError } from '../azure/apiVersions.js';
import type { AzureDevice } from '../azure/azureDevice.js';
import type { ArmVm, LroStarted } from '../azure/deviceArm.js';
import { findCondition } from '../plan/conditions.js';
import { planEdgeDevice, type AzureDeviceView, type EdgeDeviceAction, type EdgeDeviceObservation } from '../plan/edgeDevicePlan.js';
import { OWNER_TAG } from '../naming/armNames.js';
import type { EventRecorder } from '../kube/eventRecorder.js';
import type { KubeStatusWriter } from '../kube/kubeWriter.js';
import { done, requeueAfter, retryAfterOf, type ReconcileOutcome } from '../runtime/controller.js';
import { actionFailureMessage, actionFailureReason, failedActionConditions, isThrottled } from './actionFailures.js';
import { armProblemReason, describeArmError } from './armErrors.js';
import { retryOnConflict } from './conflicts.js';
import { FreshObjects } from './freshObjects.js';
import { unhandledReconcileRequest } from '../plan/reconcileRequest.js';
import { deviceSuspension, planSuspended } from '../plan/suspension.js';
import { nextSyncDelay } from './syncPeriod.js';
import type { DeviceListings } from './deviceListings.js';
import { BY_DEVICE, gpuVmKey, type Caches, type Clock, type Connected, type DeviceConnections, type Logger } from './ports.js';

export interface EdgeDeviceReconcilerSettings {
  /** How often each device's VMs are listed (one call) for foreign VMs and drift. */
  syncPeriodMs: number;
  /** How long a device's GpuVms must be quiet before its Kubernetes role is created. */
  kubernetesSettleMs: number;
  pollIntervalMs: number;
  drainTimeoutMs: number;
}

export interface EdgeDeviceReconcilerDeps {
  caches: Caches;
  connections: DeviceConnections;
  writer: KubeStatusWriter;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
  settings: EdgeDeviceReconcilerSettings;
  /** Asks the GpuVm controller to look at a GpuVm again (drift found on the device). */
  enqueueGpuVm(key: string): void;
  /** Source of the sync period's jitter, values in [0, 1). Default Math.random. */
  random?: () => number;
  /** Shared with the GpuVm reconciler: listings it asks for, and the capacity checks they answer. */
  listings: DeviceListings;
}

interface DeviceListing {
  at: number;
  generation: number;
  /** What the Azure side said when the VMs were listed: a change there (GPUs in use, roles) calls for a new listing. */
  azureFingerprint: string;
  vms: ArmVm[];
}
/** EdgeDevice reconcile: the single writer of the device's allocation ledger, and its Kubernetes role. */
export class EdgeDeviceReconciler {
  private readonly lastListing = new Map<string, DeviceListing>();
  /** When this process first saw each device's current generation (a restart starts the settle period over). */
  private readonly generationSeen = new Map<string, { generation: number; at: number }>();

  constructor(private readonly deps: EdgeDeviceReconcilerDeps) {}

  private readonly fresh = new FreshObjects<EdgeDevice>();

  async reconcile(name: string, log: Logger = this.deps.log): Promise<ReconcileOutcome> {
    const cached = this.deps.caches.devices.get(name);
    if (cached === undefined) {
      this.lastListing.delete(name);
      this.deps.listings.forget(name);
      this.generationSeen.delete(name);
      this.fresh.forget(name);
      return done();
    }
    return retryOnConflict(log, name, () => this.reconcileObject(name, this.fresh.resolve(name, cached), log));
  }

  private async reconcileObject(name: string, device: EdgeDevice, log: Logger): Promise<ReconcileOutcome> {
    const now = new Date(this.deps.clock.now());
    const suspension = deviceSuspension(device);
    if (suspension.suspended) {
      // No Azure or ARM call; the ledger and the last listing stay as they were, and a spec change brings it back.
      const plan = planSuspended(device, suspension, now);
      if (plan.event !== undefined) this.deps.events.record(device, plan.event.type, plan.event.reason, 'Suspend', plan.event.message);
      this.fresh.remember(name, device, await this.deps.writer.writeEdgeDeviceStatus(device, plan.status));
      return done();
    }
    const gpuVms = this.deps.caches.gpuVms.byIndex(BY_DEVICE, name);
    const obs: EdgeDeviceObservation = { now, device, connection: { connected: true }, gpuVms };
    obs.kubernetesSettleRemainingMs = this.settleRemaining(device, gpuVms, now.getTime());

    // A device without our finalizer gets only that in this pass; what is read now would be read again next pass.
    const awaitingFinalizer = !isBeingDeleted(device) && !hasFinalizer(device);
    // The Azure side first: when what it counts (GPUs in use, compute roles) changed since the last listing,
    // the VMs are listed again now, so GPU accounting never waits for the sync period after a capacity change.
    const azure = this.deps.connections.azure(device);
    if (azure !== undefined && !awaitingFinalizer) await this.observeAzure(azure, obs);
    const azureFingerprint = JSON.stringify([obs.azure?.usedGpus, obs.azure?.roles.map((r) => `${r.kind}/${r.name}/${r.provisioningState}`)]);

    const arm = this.deps.connections.arm(device);
    const listing = this.lastListing.get(name);
    // A GpuVm whose CreateVM failed waits for a listing to learn whether that was capacity.
    const checksWaiting = this.deps.listings.pendingChecks(name);
    const listDue =
      listing === undefined ||
      checksWaiting.length > 0 ||
      unhandledReconcileRequest(device) !== undefined ||
      listing.generation !== device.metadata.generation ||
      (obs.azure !== undefined && listing.azureFingerprint !== azureFingerprint) ||
      now.getTime() - listing.at >= this.deps.settings.syncPeriodMs ||
      findCondition(device.status?.conditions, 'Connected')?.status !== 'True';
    let answering: string[] = [];
    let deviceAskedToWaitMs: number | undefined;
    if (!arm.ok) {
      obs.connection = { connected: false, reason: arm.reason, message: arm.message };
    } else if (listDue && !awaitingFinalizer) {
      answering = checksWaiting;
      try {
        obs.apiVersions = await arm.client.apiVersions();
        const vms = await arm.client.listVms();
        this.lastListing.set(name, { at: now.getTime(), generation: device.metadata.generation ?? 0, azureFingerprint, vms });
        obs.armVms = vms;
        this.enqueueDrifted(device, vms);
      } catch (err) {
        answering = [];
        const unsupported = err instanceof UnsupportedApiVersionsError;
        obs.connection = { connected: false, reason: unsupported ? 'UnsupportedApiVersions' : armProblemReason(err), message: unsupported ? err.message : describeArmError(err) };
        deviceAskedToWaitMs = retryAfterOf(err);
      }
    }

    const plan = planEdgeDevice(obs, { pollIntervalMs: this.deps.settings.pollIntervalMs, drainTimeoutMs: this.deps.settings.drainTimeoutMs });
    const { action } = plan;
    if (action.kind === 'addFinalizer' || action.kind === 'removeFinalizer') {
      const finalizers = (device.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
      const updated = await this.deps.writer.setFinalizers(device, action.kind === 'addFinalizer' ? [...finalizers, FINALIZER] : finalizers);
      this.fresh.remember(name, device, updated);
      return action.kind === 'addFinalizer' ? requeueAfter(0) : done();
    }
    let started: LroStarted | undefined;
    try {
      started = await this.act(action, azure, log);
    } catch (err) {
      if (isThrottled(err)) throw err;
      // The role change failed: the ledger planned in this pass is still written, with a condition and a Warning
      // Event that name the error code; the reconcile fails and is retried with backoff.
      const reason = actionFailureReason(err);
      const message = actionFailureMessage(action.kind === 'createKubernetesRole' ? 'creating the Kubernetes role' : 'removing the compute role', err);
      this.deps.events.record(device, 'Warning', reason, action.kind, message);
      const status = { ...plan.status, conditions: failedActionConditions(plan.status.conditions, 'KubernetesConfigured', reason, message, device.metadata.generation ?? 0, now) };
      try {
        this.fresh.remember(name, device, await this.deps.writer.writeEdgeDeviceStatus(device, status));
      } catch (writeErr) {
        log.warn({ err: String(writeErr) }, 'could not record the failed action in status');
      }
      throw err;
    }
    if (plan.event !== undefined) this.deps.events.record(device, plan.event.type, plan.event.reason, action.kind, plan.event.message);
    this.fresh.remember(name, device, await this.deps.writer.writeEdgeDeviceStatus(device, plan.status));
    if (answering.length > 0) this.deps.listings.answer(name, answering, new Set((plan.status.allocations ?? []).map((a) => a.uid)));
    return requeueAfter(started?.retryAfterMs ?? deviceAskedToWaitMs ?? plan.requeueAfterMs ?? nextSyncDelay(this.deps.settings.syncPeriodMs, this.deps.random));
  }

  private settleRemaining(device: EdgeDevice, gpuVms: readonly GpuVm[], now: number): number {
    const name = device.metadata.name ?? '';
    const generation = device.metadata.generation ?? 0;
    let seen = this.generationSeen.get(name);
    if (seen?.generation !== generation) {
      seen = { generation, at: now };
      this.generationSeen.set(name, seen);
    }
    const created = (o: { metadata: { creationTimestamp?: Date | string } }): number => new Date(o.metadata.creationTimestamp ?? 0).getTime() || 0;
    const quietSince = Math.max(seen.at, created(device), ...gpuVms.map(created));
    return Math.max(0, quietSince + this.deps.settings.kubernetesSettleMs - now);
  }

  private async observeAzure(azure: Connected<AzureDevice>, obs: EdgeDeviceObservation): Promise<void> {
    if (!azure.ok) {
      obs.azureProblem = azure.message;
      return;
    }
    try {
      const [facts, capacity, roles] = await Promise.all([azure.client.getDevice(), azure.client.getGpuCapacity(), azure.client.getComputeRoles()]);
      const view: AzureDeviceView = {
        roles: roles.map((r) => ({ name: r.name, kind: r.kind, provisioningState: r.provisioningState, ...(r.roleStatus !== undefined ? { roleStatus: r.roleStatus } : {}) })),
      };
      if (facts.sku !== undefined) view.sku = facts.sku;
      if (facts.softwareVersion !== undefined) view.softwareVersion = facts.softwareVersion;
      if (capacity !== undefined) {
        view.totalGpus = capacity.total;
        view.usedGpus = capacity.used;
      }
      obs.azure = view;
    } catch (err) {
      obs.azureProblem = `the device's Azure resource could not be read: ${describeArmError(err)}`;
    }
  }

  /** GpuVms whose VM on the device no longer matches what their status says get reconciled again. */
  private enqueueDrifted(device: EdgeDevice, vms: readonly ArmVm[]): void {
    const byUid = new Map(vms.map((v) => [v.tags[OWNER_TAG], v]));
    for (const g of this.deps.caches.gpuVms.byIndex(BY_DEVICE, device.metadata.name ?? '')) {
      const recorded = g.status?.vm;
      if (recorded?.resourceId === undefined) continue;
      const actual = byUid.get(g.metadata.uid);
      if (actual === undefined || actual.powerState !== recorded.powerState || actual.provisioningState !== recorded.provisioningState) {
        this.deps.enqueueGpuVm(gpuVmKey(g));
      }
    }
  }

  private async act(
    action: Exclude<EdgeDeviceAction, { kind: 'addFinalizer' | 'removeFinalizer' }>,
    azure: Connected<AzureDevice> | undefined,
    log: Logger,
  ): Promise<LroStarted | undefined> {
    switch (action.kind) {
      case 'none':
        return undefined;
      case 'createKubernetesRole':
      case 'deleteKubernetesRole': {
        if (azure === undefined || !azure.ok) throw new Error(`${action.kind} needs the device's Azure resource`);
        log.info({ action: action.kind }, 'changing the Kubernetes role');
        if (action.kind === 'createKubernetesRole') return azure.client.createKubernetesRole();
        return azure.client.deleteKubernetesRole(action.roleName);
      }
    }
  }
}

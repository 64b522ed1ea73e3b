import { type EdgeDevice, type EdgeDeviceStatus, type GpuVm } from '../api/types.js';
import { UnsupportedApiVersionsError } from '../azure/apiVersions.js';
import { DeviceThrottledError } from '../azure/deviceResponseError.js';
import type { AzureDevice } from '../azure/azureDevice.js';
import type { ArmVm, DeviceArm } from '../azure/deviceArm.js';
import { OWNER_TAG } from '../naming/armNames.js';
import {
  azureFingerprint,
  edgeDeviceStep,
  type AzureDeviceView,
  type EdgeDeviceAction,
  type EdgeDeviceObservation,
  type EdgeDeviceRead,
  type ListingFacts,
} from '../plan/edgeDevicePlan.js';
import { deviceSuspension, planSuspended } from '../plan/suspension.js';
import type { KubeStatusWriter } from '../kube/kubeWriter.js';
import { done, requeueAfter, resyncAfter, retryAfterOf, type ReconcileOutcome } from '../runtime/controller.js';
import { actionFailure } from './actionFailures.js';
import { armProblemReason, describeArmError } from './armErrors.js';
import type { DeviceListings } from './deviceListings.js';
import { BY_DEVICE, gpuVmKey, type Caches, type Clock, type Connected, type DeviceConnections, type Logger } from './ports.js';
import { type ActionFailure, type Decision, type PlanStep, type ReconcileKind } from './reconcileLoop.js';
import { nextSyncDelay } from './syncPeriod.js';
import type { ImageSnapshots, NicSnapshots, VmSnapshots } from './deviceSnapshots.js';

export interface EdgeDeviceKindSettings {
  /** How often each device's VMs are listed (one call) for foreign VMs and drift. */
  syncPeriodMs: number;
  /** How long a device's GpuVms must be quiet before its Kubernetes role is created. */
  kubernetesSettleMs: number;
  pollIntervalMs: number;
  drainTimeoutMs: number;
}

export interface EdgeDeviceKindDeps {
  caches: Caches;
  connections: DeviceConnections;
  writer: KubeStatusWriter;
  clock: Clock;
  settings: EdgeDeviceKindSettings;
  /** Asks the GpuVm controller to look at a GpuVm again (drift found on the device). */
  enqueueGpuVm(key: string): void;
  /** Source of the sync period's jitter, values in [0, 1). Default Math.random. */
  random?: () => number;
  /** Shared with the GpuVm reconciler: listings it asks for, and the capacity checks they answer. */
  listings: DeviceListings;
  /** Shared with the GpuVm reconciler: the latest VM listing of each device. */
  snapshots: VmSnapshots;
  /** The GpuVm reconciler's image listings, forgotten with their device. */
  images: ImageSnapshots;
  nics: NicSnapshots;
}

interface DeviceListing {
  at: number;
  generation: number;
  /** What the Azure side said when the VMs were listed: a change there (GPUs in use, roles) calls for a new listing. */
  azureFingerprint: string;
}

interface EdgeDeviceSession {
  obs: EdgeDeviceObservation;
  listing: ListingFacts;
  arm: Connected<DeviceArm>;
  azure: Connected<AzureDevice> | undefined;
  /** Capacity checks taken before this reconcile's listing: answered once its ledger is written. */
  answering: string[];
  /** The device's Retry-After when its listing was throttled. */
  deviceAskedToWaitMs?: number;
}

type EdgeDeviceDecision = Decision<EdgeDeviceAction, EdgeDeviceStatus>;

/** EdgeDevice reconcile: the single writer of the device's allocation ledger, and its Kubernetes role. */
export class EdgeDeviceKind implements ReconcileKind<EdgeDevice, EdgeDeviceSession, EdgeDeviceRead, EdgeDeviceAction, EdgeDeviceStatus> {
  readonly kind = 'EdgeDevice';
  private readonly lastListing = new Map<string, DeviceListing>();
  /** When this process first saw each device's current generation (a restart starts the settle period over). */
  private readonly generationSeen = new Map<string, { generation: number; at: number }>();

  constructor(private readonly deps: EdgeDeviceKindDeps) {}

  cached(name: string): EdgeDevice | undefined {
    return this.deps.caches.devices.get(name);
  }

  forget(name: string): void {
    this.lastListing.delete(name);
    this.deps.listings.forget(name);
    this.deps.snapshots.forget(name);
    this.deps.images.forget(name);
    this.deps.nics.forget(name);
    this.generationSeen.delete(name);
  }

  begin(device: EdgeDevice): EdgeDeviceSession {
    const name = device.metadata.name ?? '';
    const now = new Date(this.deps.clock.now());
    const gpuVms = this.deps.caches.gpuVms.byIndex(BY_DEVICE, name);
    const obs: EdgeDeviceObservation = { now, device, connection: { connected: true }, gpuVms };
    obs.kubernetesSettleRemainingMs = this.settleRemaining(device, gpuVms, now.getTime());
    // A suspended device gets no client at all.
    const suspended = deviceSuspension(device).suspended;
    const azure = suspended ? undefined : this.deps.connections.azure(device);
    if (azure !== undefined && !azure.ok) obs.azureProblem = azure.message;
    const arm: Connected<DeviceArm> = suspended ? { ok: false, reason: 'Suspended', message: 'spec.suspend is true' } : this.deps.connections.arm(device);
    if (!arm.ok) obs.connection = { connected: false, reason: arm.reason, message: arm.message };
    const last = this.lastListing.get(name);
    const listing: ListingFacts = {
      azureConfigured: azure !== undefined,
      capacityChecksWaiting: this.deps.listings.pendingChecks(name).length > 0,
      syncPeriodMs: this.deps.settings.syncPeriodMs,
      ...(last !== undefined ? { last: { at: last.at, generation: last.generation, azureFingerprint: last.azureFingerprint } } : {}),
    };
    return { obs, listing, arm, azure, answering: [] };
  }

  plan(session: EdgeDeviceSession): PlanStep<EdgeDeviceRead, EdgeDeviceAction, EdgeDeviceStatus> {
    const { device, now } = session.obs;
    // Suspended: no Azure or ARM call; the ledger and the last listing stay as they were, and a spec change brings it back.
    const suspension = deviceSuspension(device);
    if (suspension.suspended) {
      const { status, event } = planSuspended(device, suspension, now);
      return { kind: 'plan', plan: { action: { kind: 'none' }, status, ...(event !== undefined ? { event: { ...event, action: 'Suspend' } } : {}) } };
    }
    return edgeDeviceStep(session.obs, session.listing, { pollIntervalMs: this.deps.settings.pollIntervalMs, drainTimeoutMs: this.deps.settings.drainTimeoutMs });
  }

  /** The read table. A failed read is an observation (the device is not connected, the Azure side unreadable), not an error. */
  async read(read: EdgeDeviceRead, session: EdgeDeviceSession): Promise<void> {
    const { obs } = session;
    switch (read) {
      case 'azure':
        if (session.azure === undefined || !session.azure.ok) throw new Error('the Azure side is read only when it is connected');
        return this.readAzure(session.azure.client, obs);
      case 'vms': {
        if (!session.arm.ok) throw new Error('the VMs are listed only when the device is connected');
        const name = obs.device.metadata.name ?? '';
        session.answering = this.deps.listings.pendingChecks(name);
        try {
          const arm = session.arm.client;
          obs.apiVersions = await arm.apiVersions();
          // A listing GpuVms of this device started since this reconcile began serves it too.
          const { items: vms } = await this.deps.snapshots.list(name, obs.now.getTime(), () => arm.listVms());
          this.lastListing.set(name, { at: obs.now.getTime(), generation: obs.device.metadata.generation ?? 0, azureFingerprint: azureFingerprint(obs.azure) });
          obs.armVms = [...vms];
          this.enqueueDrifted(obs.device, vms);
        } catch (err) {
          // The controller's own budget held the listing back: not a fact about the device, so no status says it;
          // the reconcile is requeued for when the budget allows.
          if (err instanceof DeviceThrottledError && err.by === 'budget') throw err;
          session.answering = [];
          const unsupported = err instanceof UnsupportedApiVersionsError;
          obs.connection = { connected: false, reason: unsupported ? 'UnsupportedApiVersions' : armProblemReason(err), message: unsupported ? err.message : describeArmError(err) };
          const wait = retryAfterOf(err);
          if (wait !== undefined) session.deviceAskedToWaitMs = wait;
        }
        return;
      }
    }
  }

  /** The action table: the Kubernetes role, through the device's resource in Azure. */
  async act(action: EdgeDeviceAction, session: EdgeDeviceSession, log: Logger): Promise<{ retryAfterMs?: number } | undefined> {
    switch (action.kind) {
      case 'none':
      case 'addFinalizer':
      case 'removeFinalizer':
        return undefined;
      case 'createKubernetesRole':
      case 'deleteKubernetesRole': {
        const azure = session.azure;
        if (azure === undefined || !azure.ok) throw new Error(`${action.kind} needs the device's Azure resource`);
        log.info({ action: action.kind }, 'changing the Kubernetes role');
        if (action.kind === 'createKubernetesRole') return azure.client.createKubernetesRole();
        return azure.client.deleteKubernetesRole(action.roleName);
      }
    }
  }

  writesAhead(): boolean {
    return false;
  }

  writeStatus(device: EdgeDevice, status: EdgeDeviceStatus): Promise<EdgeDevice | undefined> {
    return this.deps.writer.writeEdgeDeviceStatus(device, status);
  }

  /** The role change failed: the ledger planned in this pass is still written, with a condition that names the error code. */
  failed(action: EdgeDeviceAction, decision: EdgeDeviceDecision, session: EdgeDeviceSession, err: unknown): ActionFailure<EdgeDeviceStatus> {
    const { device, now } = session.obs;
    const what = action.kind === 'createKubernetesRole' ? 'creating the Kubernetes role' : 'removing the compute role';
    return actionFailure(decision.status, 'KubernetesConfigured', what, err, { generation: device.metadata.generation ?? 0, now });
  }

  scrub(err: unknown): unknown {
    return err;
  }

  settled(_name: string, decision: EdgeDeviceDecision, session: EdgeDeviceSession, retryAfterMs: number | undefined): ReconcileOutcome {
    const name = session.obs.device.metadata.name ?? '';
    if (session.answering.length > 0) this.deps.listings.answer(name, session.answering, new Set((decision.status.allocations ?? []).map((a) => a.uid)));
    // Suspended: nothing to look at until the spec changes (watched).
    if (deviceSuspension(session.obs.device).suspended) return done();
    const wait = retryAfterMs ?? session.deviceAskedToWaitMs ?? decision.requeueAfterMs;
    return wait === undefined ? resyncAfter(nextSyncDelay(this.deps.settings.syncPeriodMs, this.deps.random)) : requeueAfter(wait, { priority: 'high' });
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

  private async readAzure(azure: AzureDevice, obs: EdgeDeviceObservation): Promise<void> {
    try {
      const [facts, capacity, roles] = await Promise.all([azure.getDevice(), azure.getGpuCapacity(), azure.getComputeRoles()]);
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
}

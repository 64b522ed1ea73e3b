import { hasFinalizer, isBeingDeleted } from '../api/deletion.js';
import { type EdgeDevice, type EdgeDeviceStatus, type GpuVm } from '../api/types.js';
import type { DeviceApiVersions } from '../arm/resources.js';
import type { ArmVm } from '../arm/resources.js';
import { admit, type AdmissionCandidate, type Waiting } from './admission.js';
import { condition, findCondition, setConditions, type ConditionUpdate } from './conditions.js';
import { armVmHoldsGpu, powerStateHoldsGpu } from './gpuHolders.js';
import { OWNER_TAG } from '../naming/armNames.js';
import { effectivePowerState } from './gpuVmPlan.js';
import { orderingGate } from './orderingGate.js';
import { requestedReconcileAt, unhandledReconcileRequest } from './reconcileRequest.js';
import { withoutSuspended } from './suspension.js';
import { hasDeviceFootprint, mayReserveGpu } from './tenancy.js';
const SKU_GPUS: Record<string, number> = { EdgeP_Base: 1, EdgeP_High: 2 };

export type Connection = { connected: true } | { connected: false; reason: string; message: string };

/**
 * One compute role of the device, of any kind. The portal's IoT flow makes an `IOT` role and the Kubernetes flow
 * a `Kubernetes` role (DataBoxEdge REST API, RolePut/RoleGet examples); both run on the device's Kubernetes, which
 * claims every free GPU when it is configured.
 */
export interface ComputeRoleView {
  name: string;
  kind: string;
  /** Invalid, Creating, Created, Updating, Reconfiguring, Failed, Deleting; only Kubernetes roles report one. */
  provisioningState: string;
  /** Enabled or Disabled, reported by roles of every kind. */
  roleStatus?: string;
}

/** The device's resource in Azure, when spec.azure is set and it could be read. */
export interface AzureDeviceView {
  sku?: string;
  softwareVersion?: string;
  /** From deviceCapacityInfo. */
  totalGpus?: number;
  /** GPUs in use by anything (VMs and compute), from deviceCapacityInfo. */
  usedGpus?: number;
  /** Every compute role of the device; empty when there is none. */
  roles: ComputeRoleView[];
}

/** A role in one of these states has claimed GPUs (it was Created at least once and is not being removed). */
const ROLE_HOLDS: ReadonlySet<string> = new Set(['Created', 'Updating', 'Reconfiguring']);
// Only KubernetesRoleProperties carry a provisioningState (DataBoxEdge 2021-06-01); a role of another kind
// (e.g. IOT) that is Enabled runs compute on the device's Kubernetes.
const roleHolds = (r: ComputeRoleView): boolean =>
  ROLE_HOLDS.has(r.provisioningState) || (r.kind !== 'Kubernetes' && !KNOWN_STATES.has(r.provisioningState) && r.roleStatus === 'Enabled');
const KNOWN_STATES: ReadonlySet<string> = new Set(['Invalid', 'Creating', 'Created', 'Updating', 'Reconfiguring', 'Failed', 'Deleting']);
const describeRole = (r: ComputeRoleView): string => `${r.kind} role ${r.name}`;
const roleState = (r: ComputeRoleView): string => (KNOWN_STATES.has(r.provisioningState) ? r.provisioningState : (r.roleStatus ?? r.provisioningState));

export interface EdgeDeviceObservation {
  now: Date;
  device: EdgeDevice;
  connection: Connection;
  /** The api-versions negotiated with the device's local ARM, when it was contacted in this reconcile. */
  apiVersions?: DeviceApiVersions;
  /** VMs listed on the device in this reconcile, for foreign GPU VMs; undefined when not listed (the previous status is kept). */
  armVms?: ArmVm[];
  /** undefined: spec.azure is not set (or the Azure side was not read). */
  azure?: AzureDeviceView;
  /** Why the Azure side could not be read, when spec.azure is set. */
  azureProblem?: string;
  /** GpuVms whose spec.deviceRef names this device. */
  gpuVms: readonly GpuVm[];
  /** How much longer the device's GpuVms must stay quiet before the Kubernetes role may be created. */
  kubernetesSettleRemainingMs?: number;
}

/** What the planner needs to decide whether the device's VMs are listed in this reconcile. */
export interface ListingFacts {
  /** spec.azure is set: the Azure side is read before the VMs are listed. */
  azureConfigured: boolean;
  /** The last listing this process made of the device, when there was one. */
  last?: { at: number; generation: number; azureFingerprint: string };
  /** GpuVms whose CreateVM failed wait for a listing to learn whether that was capacity. */
  capacityChecksWaiting: boolean;
  syncPeriodMs: number;
}

/** The device reads: its Azure resource (facts, capacity, roles), and its VM list (with the api-versions). */
export type EdgeDeviceRead = 'azure' | 'vms';

export type EdgeDeviceStep = { kind: 'read'; read: EdgeDeviceRead } | { kind: 'plan'; plan: EdgeDevicePlan };

/** What the Azure side counts: a change (GPUs in use, roles) since the last listing calls for a new listing. */
export function azureFingerprint(azure: AzureDeviceView | undefined): string {
  return JSON.stringify([azure?.usedGpus, azure?.roles.map((r) => `${r.kind}/${r.name}/${r.provisioningState}`)]);
}

/**
 * The reads the device plan needs, then the plan. The Azure side comes first: when what it counts changed since
 * the last listing, the VMs are listed again now, so GPU accounting never waits for the sync period after a
 * capacity change. A device without our finalizer gets only that in this pass (what is read now would be read again).
 */
export function edgeDeviceStep(obs: EdgeDeviceObservation, listing: ListingFacts, settings: DevicePlanSettings): EdgeDeviceStep {
  const { device, now } = obs;
  const awaitingFinalizer = !isBeingDeleted(device) && !hasFinalizer(device);
  if (!awaitingFinalizer) {
    if (listing.azureConfigured && obs.azure === undefined && obs.azureProblem === undefined) return { kind: 'read', read: 'azure' };
    const last = listing.last;
    const listDue =
      last === undefined ||
      listing.capacityChecksWaiting ||
      unhandledReconcileRequest(device) !== undefined ||
      last.generation !== (device.metadata.generation ?? 0) ||
      (obs.azure !== undefined && last.azureFingerprint !== azureFingerprint(obs.azure)) ||
      now.getTime() - last.at >= listing.syncPeriodMs ||
      findCondition(device.status?.conditions, 'Connected')?.status !== 'True';
    // A failed listing leaves the device not connected: it is not asked for again in this reconcile.
    if (listDue && obs.connection.connected && obs.armVms === undefined) return { kind: 'read', read: 'vms' };
  }
  return { kind: 'plan', plan: planEdgeDevice(obs, settings) };
}

export type EdgeDeviceAction =
  | { kind: 'none' }
  | { kind: 'addFinalizer' }
  | { kind: 'removeFinalizer' }
  | { kind: 'createKubernetesRole' }
  | { kind: 'deleteKubernetesRole'; roleName: string };

export interface EdgeDevicePlan {
  action: EdgeDeviceAction;
  status: EdgeDeviceStatus;
  waiting: Waiting[];
  requeueAfterMs?: number;
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
}

export interface DevicePlanSettings {
  pollIntervalMs: number;
  /** How long a drain may keep GPU VMs stopped on a device where compute runs (default 1 h). */
  drainTimeoutMs?: number;
}

export const DEFAULT_DRAIN_TIMEOUT_MS = 60 * 60_000;

const keyOf = (g: GpuVm): string => `${g.metadata.namespace}/${g.metadata.name}`;

/** VmProvisioned reasons of a GpuVm whose CreateVM failed (its reservation is the first to go when the device is full). */
const DEPLOY_FAILURES: ReadonlySet<string> = new Set(['AllocationFailed', 'DeploymentFailed']);

/** GPU holdings of managed VMs come from GpuVm status, which their reconcilers keep current. */
function candidates(obs: EdgeDeviceObservation): AdmissionCandidate[] {
  return obs.gpuVms.map((g) => {
    const statusVm = g.status?.vm;
    const recorded = statusVm?.resourceId !== undefined && statusVm.resourceId !== '';
    // Our CreateVM succeeded and the VM is not read yet (the GpuVm reads it after its driver install): a new VM
    // runs, so it holds its GPU from now.
    const madeUnread = !recorded && g.status?.operation?.kind === 'InstallGpuDriver' && findCondition(g.status.conditions, 'VmProvisioned')?.status === 'True';
    const vmExists = recorded || madeUnread;
    // A VM is created running, so even a GpuVm that wants Deallocated needs a GPU until its VM exists.
    const wantsGpu = !isBeingDeleted(g) && (effectivePowerState(g, undefined) !== 'Deallocated' || !vmExists);
    const created = g.metadata.creationTimestamp;
    const provisioned = findCondition(g.status?.conditions, 'VmProvisioned');
    return {
      key: keyOf(g),
      uid: g.metadata.uid ?? '',
      creationTimestamp: created instanceof Date ? created.toISOString() : String(created ?? ''),
      wantsGpu,
      // A VM still being created is counted as Reserved, not Held: the ordering gate waits for it to finish.
      vmHoldsGpu: madeUnread || (recorded && powerStateHoldsGpu(statusVm.powerState) && statusVm.provisioningState !== 'Creating'),
      vmExists: madeUnread || (recorded && powerStateHoldsGpu(statusVm.powerState)),
      deployFailed: provisioned?.status === 'False' && DEPLOY_FAILURES.has(provisioned.reason),
      mayReserve: mayReserveGpu(g, obs.device, obs.gpuVms),
      keepsReservation: hasDeviceFootprint(g),
    };
  });
}

function foreignVmNames(obs: EdgeDeviceObservation): string[] | undefined {
  if (obs.armVms === undefined) return undefined;
  const owned = new Set(obs.gpuVms.map((g) => g.metadata.uid));
  return obs.armVms
    .filter((v) => armVmHoldsGpu(v) && !owned.has(v.tags[OWNER_TAG]))
    .map((v) => v.name)
    .sort();
}

function totalGpus(obs: EdgeDeviceObservation): { total: number; problem?: ConditionUpdate } {
  const declared = obs.device.spec.gpus;
  const discovered = obs.azure?.totalGpus ?? (obs.azure?.sku !== undefined ? SKU_GPUS[obs.azure.sku] : undefined);
  if (discovered !== undefined && declared !== undefined && discovered !== declared) {
    return {
      total: discovered,
      problem: condition(
        'GpuCapacityMatches',
        'False',
        'DeclaredGpusMismatch',
        `spec.gpus says ${declared} but the device reports ${discovered} GPU(s); using ${discovered}. Fix or remove spec.gpus`,
      ),
    };
  }
  // An unreadable Azure resource (throttled, timed out) does not make the GPUs go away: the last count stands.
  const lastKnown = obs.azureProblem !== undefined ? obs.device.status?.gpus?.total : undefined;
  return { total: discovered ?? declared ?? lastKnown ?? 0 };
}

/**
 * Drain powers GPU VMs off right before a device update (release notes: "stop the GPU VMs right before the
 * update"). Where compute runs, the same notes say it takes over stopped GPU VMs' GPUs the longer they stay
 * stopped, so there the drain ends after `timeoutMs`: the GpuVms start again and the device says why.
 */
function planDrain(
  obs: EdgeDeviceObservation,
  computeRuns: boolean,
  timeoutMs: number,
): { condition: ConditionUpdate; requeueAfterMs?: number; event?: EdgeDevicePlan['event'] } {
  const { device, now } = obs;
  if (device.spec.drain !== true) return { condition: condition('Drained', 'False', 'NotDrained', 'spec.drain is false') };
  const previous = findCondition(device.status?.conditions, 'Drained');
  const limit = `${Math.round(timeoutMs / 60_000)} min`;
  if (previous?.reason === 'DrainExpired') {
    return { condition: condition('Drained', 'False', 'DrainExpired', previous.message) };
  }
  const running = obs.gpuVms.filter((g) => g.status?.vm?.powerState !== undefined && g.status.vm.powerState !== 'stopped' && g.status.vm.powerState !== 'deallocated');
  if (running.length > 0) {
    return { condition: condition('Drained', 'False', 'Draining', `powering off ${running.map(keyOf).join(', ')}`) };
  }
  if (!computeRuns) {
    return { condition: condition('Drained', 'True', 'Drained', 'every GPU VM of the device is powered off (spec.drain: true)') };
  }
  const since = previous?.status === 'True' ? Date.parse(previous.lastTransitionTime) : now.getTime();
  const remaining = since + timeoutMs - now.getTime();
  if (remaining > 0) {
    return {
      condition: condition(
        'Drained',
        'True',
        'Drained',
        `every GPU VM of the device is powered off (spec.drain: true). Compute runs on this device and may take the GPUs of stopped VMs the longer they stay stopped: set spec.drain: false right after the update; GPU VMs start again by themselves after ${limit}`,
      ),
      requeueAfterMs: remaining,
    };
  }
  const message = `drained for longer than ${limit} on a device where compute runs: GPU VMs were started again so compute does not take their GPUs. Set spec.drain: false, then true again to drain once more`;
  return { condition: condition('Drained', 'False', 'DrainExpired', message), event: { type: 'Warning', reason: 'DrainExpired', message } };
}

function describeRoles(roles: readonly ComputeRoleView[], gpus: number): string {
  if (roles.length === 0) return 'there is no compute role on the device';
  return `${roles.map((r) => `the ${describeRole(r)} (${roleState(r)})`).join(', ')}: compute holds ${gpus} GPU(s)`;
}

/**
 * GPUs held by compute (any role, or compute the device does not list as a role). With deviceCapacityInfo it is
 * what the device counts as used beyond the GPU VMs of a listing taken in the same reconcile; the reconciler
 * lists again whenever that count changes. Without it, a role that has just been configured claimed every GPU
 * that was free (domain facts), and keeps that number.
 */
function computeGpus(obs: EdgeDeviceObservation, total: number, roleHolds: boolean, admissionCandidates: readonly AdmissionCandidate[]): number {
  const previous = obs.device.status?.kubernetes;
  // The listing may be older than the GpuVms' statuses: a VM either shows is a VM.
  const listed = obs.armVms?.filter(armVmHoldsGpu).length;
  const vmHolders = listed === undefined ? undefined : Math.max(listed, admissionCandidates.filter((c) => c.vmExists === true).length);
  const used = obs.azure?.usedGpus;
  if (used !== undefined) {
    if (vmHolders !== undefined) return Math.max(0, Math.min(total, used - vmHolders));
    return previous?.gpus ?? 0;
  }
  if (!roleHolds) return 0;
  if (previous?.state === 'Configured' && previous.gpus !== undefined) return previous.gpus;
  return vmHolders === undefined ? (previous?.gpus ?? 0) : Math.max(0, total - vmHolders);
}

/** Plans one EdgeDevice: the allocation ledger, the Kubernetes role and the device's conditions. */
export function planEdgeDevice(obs: EdgeDeviceObservation, settings: DevicePlanSettings): EdgeDevicePlan {
  const { device, now } = obs;
  const generation = device.metadata.generation ?? 0;
  const previous = device.status ?? {};
  const deleting = isBeingDeleted(device);
  const finalizerSet = hasFinalizer(device);

  const foreign = foreignVmNames(obs) ?? previous.foreignVms ?? [];
  const { total, problem: capacityProblem } = totalGpus(obs);
  const roles = obs.azure?.roles;
  const holding = (roles ?? []).filter(roleHolds);
  // The device's in-use count and its VM list are read at different moments: a VM created in between reads as a
  // GPU held by compute. GPUs the ledger gave to GpuVms that still exist are theirs (the ordering gate keeps the
  // role from taking them), so compute is never counted on top of them.
  const admissionCandidates = candidates(obs);
  const ledgerClaims = (previous.allocations ?? []).filter((a) => obs.gpuVms.some((g) => g.metadata.uid === a.uid)).length;
  const kubernetesGpus = Math.min(computeGpus(obs, total, holding.length > 0, admissionCandidates), Math.max(0, total - ledgerClaims));
  const admission = admit({
    totalGpus: total,
    kubernetesGpus,
    foreignGpuVms: foreign.length,
    candidates: admissionCandidates,
    ledger: previous.allocations ?? [],
  });

  const updates: ConditionUpdate[] = [];
  let action: EdgeDeviceAction = { kind: 'none' };
  let requeueAfterMs: number | undefined;
  let event: EdgeDevicePlan['event'];
  let stalled: { reason: string; message: string } | undefined;

  updates.push(
    obs.connection.connected
      ? condition('Connected', 'True', 'Connected', `signed in to the device's local ARM at ${device.spec.arm.endpoint}`)
      : condition('Connected', 'False', obs.connection.reason, obs.connection.message),
  );
  updates.push(capacityProblem ?? condition('GpuCapacityMatches', 'True', 'Matches', `${total} GPU(s)`));

  // Kubernetes role: the ordering gate decides when it may be created.
  const desired = device.spec.kubernetes?.state ?? 'Unmanaged';
  const pendingRole = (roles ?? []).find((r) => !roleHolds(r) && KNOWN_STATES.has(r.provisioningState) && r.provisioningState !== 'Failed' && r.provisioningState !== 'Invalid');
  let kubernetes: ConditionUpdate;
  if (desired === 'Unmanaged') {
    kubernetes =
      roles === undefined
        ? condition('KubernetesConfigured', 'Unknown', 'Unmanaged', 'spec.kubernetes.state is Unmanaged and the role is not observed (set spec.azure to observe it)')
        : condition('KubernetesConfigured', holding.length > 0 ? 'True' : 'False', 'Unmanaged', `observed only: ${describeRoles(roles, kubernetesGpus)}`);
  } else if (roles === undefined) {
    kubernetes = condition(
      'KubernetesConfigured',
      'False',
      'AzureNotConfigured',
      obs.azureProblem ?? `spec.kubernetes.state ${desired} needs spec.azure: the Kubernetes role is managed through the device's resource in Azure`,
    );
    if (obs.azureProblem === undefined) stalled = { reason: 'AzureNotConfigured', message: kubernetes.message };
  } else if (desired === 'Configured') {
    if (holding.length > 0) {
      kubernetes = condition('KubernetesConfigured', 'True', 'Configured', describeRoles(holding, kubernetesGpus));
    } else if (pendingRole !== undefined) {
      kubernetes = condition('KubernetesConfigured', 'False', 'Configuring', `the ${describeRole(pendingRole)} is ${pendingRole.provisioningState}`);
      requeueAfterMs = settings.pollIntervalMs;
    } else {
      const gate = orderingGate(admission.allocations, admission.gpus.free, obs.kubernetesSettleRemainingMs ?? 0);
      if (!gate.open) {
        kubernetes = condition('KubernetesConfigured', 'False', 'WaitingForGpuVms', gate.message);
        if (gate.retryAfterMs !== undefined) requeueAfterMs = gate.retryAfterMs;
      } else if (deleting) {
        kubernetes = condition('KubernetesConfigured', 'False', 'Deleting', 'the EdgeDevice is being deleted');
      } else {
        kubernetes = condition('KubernetesConfigured', 'False', 'Configuring', gate.message);
        action = { kind: 'createKubernetesRole' };
        requeueAfterMs = settings.pollIntervalMs;
        event = { type: 'Normal', reason: 'ConfiguringKubernetes', message: gate.message };
      }
    }
  } else {
    // NotConfigured: every compute role goes, whatever its kind: any of them holds the GPUs.
    const removable = roles.find((r) => r.provisioningState !== 'Deleting');
    if (roles.length === 0) {
      kubernetes = condition('KubernetesConfigured', 'False', 'NotConfigured', 'there is no compute role on the device');
    } else if (removable === undefined) {
      kubernetes = condition('KubernetesConfigured', 'False', 'Removing', `removing ${roles.map(describeRole).join(', ')}`);
      requeueAfterMs = settings.pollIntervalMs;
    } else {
      kubernetes = condition('KubernetesConfigured', 'False', 'Removing', `removing the ${describeRole(removable)} to free its GPU(s) (${kubernetesGpus} held by compute)`);
      action = { kind: 'deleteKubernetesRole', roleName: removable.name };
      requeueAfterMs = settings.pollIntervalMs;
      event = { type: 'Normal', reason: 'RemovingKubernetes', message: kubernetes.message };
    }
  }
  updates.push(kubernetes);

  // Drain: every GpuVm of the device is powered off by its own reconciler.
  const drain = planDrain(obs, holding.length > 0 || kubernetesGpus > 0, settings.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
  updates.push(drain.condition);
  if (drain.requeueAfterMs !== undefined) requeueAfterMs = Math.min(requeueAfterMs ?? drain.requeueAfterMs, drain.requeueAfterMs);
  if (drain.event !== undefined) event ??= drain.event;

  if (!deleting && !finalizerSet) action = { kind: 'addFinalizer' };
  let deletionBlocked: string | undefined;
  if (deleting) {
    if (obs.gpuVms.length > 0) {
      deletionBlocked = `waiting for GpuVm(s) ${obs.gpuVms.map(keyOf).join(', ')} bound to this device to be deleted`;
      requeueAfterMs = settings.pollIntervalMs;
    } else if (finalizerSet && action.kind === 'none') {
      action = { kind: 'removeFinalizer' };
    }
  }

  const connected = obs.connection.connected;
  const kubernetesSettled = kubernetes.status === 'True' || ['Unmanaged', 'NotConfigured'].includes(kubernetes.reason);
  const drainSettled = device.spec.drain !== true || updates.some((u) => u.type === 'Drained' && u.status === 'True');
  const ready = connected && kubernetesSettled && drainSettled && stalled === undefined && deletionBlocked === undefined;
  const firstProblem = updates.find((u) => u.status === 'False' && !['GpuCapacityMatches', 'Drained'].includes(u.type) && !(u.type === 'KubernetesConfigured' && kubernetesSettled));
  const notReadyReason = deletionBlocked !== undefined ? 'Deleting' : (stalled?.reason ?? firstProblem?.reason ?? (drainSettled ? 'Reconciling' : drain.condition.reason));
  const notReadyMessage = deletionBlocked ?? stalled?.message ?? firstProblem?.message ?? (drainSettled ? 'reconciling' : drain.condition.message);
  updates.push(
    ready
      ? condition('Ready', 'True', 'Ready', `${admission.gpus.free} of ${total} GPU(s) free; ${admission.gpus.vms} held by VMs, ${kubernetesGpus} by Kubernetes`)
      : condition('Ready', 'False', notReadyReason, notReadyMessage),
    !ready && stalled === undefined
      ? condition('Reconciling', 'True', notReadyReason, notReadyMessage)
      : condition('Reconciling', 'False', ready ? 'Ready' : 'Stalled', ready ? 'desired state reached' : 'waiting for a spec change'),
    stalled !== undefined
      ? condition('Stalled', 'True', stalled.reason, stalled.message)
      : condition('Stalled', 'False', 'Progressing', 'no failure that needs a spec change'),
  );

  const status: EdgeDeviceStatus = {
    ...previous,
    observedGeneration: generation,
    conditions: withoutSuspended(setConditions(previous.conditions, updates, generation, now)),
    gpus: admission.gpus,
    allocations: admission.allocations,
    foreignVms: foreign,
    kubernetes: {
      state: roles === undefined ? 'Unknown' : holding.length > 0 ? 'Configured' : pendingRole !== undefined ? pendingRole.provisioningState : 'NotConfigured',
      provisioningState: (holding[0] ?? pendingRole ?? roles?.[0])?.provisioningState ?? '',
      gpus: kubernetesGpus,
      ...(roles !== undefined ? { roles: roles.map((r) => ({ name: r.name, kind: r.kind, provisioningState: r.provisioningState, ...(r.roleStatus !== undefined ? { roleStatus: r.roleStatus } : {}) })) } : {}),
    },
  };
  if (obs.apiVersions !== undefined) status.apiVersions = { ...obs.apiVersions };
  // Answered only by a reconcile that could list the device (the reconciler lists at once when the value is new).
  const requested = requestedReconcileAt(device);
  if (requested !== undefined && obs.armVms !== undefined) status.lastHandledReconcileAt = requested;
  const softwareVersion = obs.azure?.softwareVersion ?? previous.softwareVersion;
  if (softwareVersion !== undefined) status.softwareVersion = softwareVersion;

  const plan: EdgeDevicePlan = { action, status, waiting: admission.waiting };
  if (requeueAfterMs !== undefined) plan.requeueAfterMs = requeueAfterMs;
  if (event !== undefined) plan.event = event;
  return plan;
}

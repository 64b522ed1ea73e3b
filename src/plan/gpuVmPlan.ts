import { hasFinalizer, isBeingDeleted } from '../api/deletion.js';
import { vmDeploymentName, driverDeploymentName, nicName, OWNER_TAG } from '../naming/armNames.js';
import { ALLOW_GPU_RELEASE_ANNOTATION, type GpuVm, type GpuVmPhase, type GpuVmStatus, type PowerState } from '../api/types.js';
import type { ArmDeployment, ArmError, ArmExtension, ArmVm, VmPowerState } from '../azure/deviceArm.js';
import { condition, findCondition, setConditions, rfc3339, type ConditionUpdate } from './conditions.js';
import type { CapacityCheck } from './capacityCheck.js';
import { classifyDeploymentFailure, type DeploymentFailure } from './deploymentErrors.js';
import { powerStateHoldsGpu } from './gpuHolders.js';
import { chooseGpuDriver, guestOsSupport, type GpuDriverChoice } from './gpuDriver.js';
import { requestedReconcileAt } from './reconcileRequest.js';
import { withoutSuspended } from './suspension.js';
import { hasDeviceFootprint } from './tenancy.js';

/** The device as the GpuVm reconciler sees it in the cache (EdgeDevice status written by its reconciler). */
export interface DeviceView {
  name: string;
  connected: boolean;
  /** Why the device is not connected, for the message. */
  connectionMessage: string;
  softwareVersion?: string;
  kubernetesConfigured: boolean;
  kubernetesGpus: number;
  totalGpus: number;
  freeGpus: number;
  drain: boolean;
  /** This GpuVm's entry in the device's allocation ledger. */
  reservation?: 'Reserved' | 'Held';
  /** This GpuVm's place among the GpuVms waiting for a GPU on the device (1-based). */
  queuePosition?: number;
  /** GpuVms (namespace/name) of this GpuVm's own namespace that hold or have reserved the device's GPUs. */
  holders: string[];
  /** How many GpuVms of other namespaces hold or have reserved the device's GPUs (never named: other tenants). */
  otherNamespaceHolders: number;
  /** The device's spec.allowedNamespaces admits this GpuVm's namespace. */
  namespaceAllowed: boolean;
  /** The VM name (metadata.name) belongs to a GpuVm of another namespace on this device (see tenancy.ts). */
  vmNameHeldElsewhere: boolean;
}

export type SecretView = { state: 'ok' } | { state: 'missing' } | { state: 'forbidden' } | { state: 'invalid'; problem: string };

/** What was read from the device's ARM in this reconcile; a field left undefined was not read. */
export interface ArmView {
  imageExists?: boolean;
  /** null: read, and there is no such VM. */
  vm?: ArmVm | null;
  vmDeployment?: ArmDeployment | null;
  vmDeploymentFailures?: ArmError[];
  extension?: ArmExtension | null;
  extensionDeployment?: ArmDeployment | null;
  extensionDeploymentFailures?: ArmError[];
  nicIp?: string;
  nicExists?: boolean;
  /** Whether the OS disk named in status.osDiskName still exists. */
  osDiskExists?: boolean;
  /** After a failed CreateVM: whether admission, run on a fresh listing of the device, still backs the reservation. */
  capacityCheck?: CapacityCheck;
}

export interface GpuVmObservation {
  now: Date;
  gpuVm: GpuVm;
  device?: DeviceView;
  secret: SecretView;
  arm?: ArmView;
}

export interface PlanSettings {
  /** How often to look at an in-flight operation when ARM gave no Retry-After. */
  pollIntervalMs: number;
  /** First retry delay after a retryable failure; doubles per attempt up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How soon to look again when waiting on something outside the controller (device, Secret, image). */
  recheckMs: number;
}

export const DEFAULT_PLAN_SETTINGS: PlanSettings = {
  pollIntervalMs: 15_000,
  retryBaseMs: 15_000,
  retryMaxMs: 5 * 60_000,
  recheckMs: 60_000,
};

export type GpuVmAction =
  | { kind: 'none' }
  | { kind: 'addFinalizer' }
  | { kind: 'removeFinalizer' }
  | { kind: 'deployVm'; deploymentName: string }
  | { kind: 'deployGpuDriver'; deploymentName: string; driver: GpuDriverChoice }
  | { kind: 'startVm' }
  | { kind: 'powerOffVm' }
  | { kind: 'deallocateVm' }
  | { kind: 'deleteVm' }
  | { kind: 'deleteNic'; nicName: string }
  | { kind: 'deleteDisk'; diskName: string }
  | { kind: 'deleteDeployment'; deploymentName: string };

export interface PlanEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface GpuVmPlan {
  action: GpuVmAction;
  status: GpuVmStatus;
  /** Look again after this long even if nothing changes (the act step may shorten it to Retry-After). */
  requeueAfterMs?: number;
  event?: PlanEvent;
}

/** ARM deployment provisioning states after which a deployment changes nothing more. */
const DEPLOYMENT_FINISHED: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Canceled']);
export const deploymentFinished = (provisioningState: string): boolean => DEPLOYMENT_FINISHED.has(provisioningState);

/**
 * The GpuVm may not act on its device at all: its namespace is not allowed there, or its VM name belongs to
 * another namespace's GpuVm, and it has nothing on the device. No ARM request is made for it, not even a read.
 */
export function leavesDeviceAlone(gpuVm: GpuVm, device: DeviceView | undefined): boolean {
  return device !== undefined && (!device.namespaceAllowed || device.vmNameHeldElsewhere) && !hasDeviceFootprint(gpuVm);
}

const notAllowedMessage = (gpuVm: GpuVm, deviceName: string): string =>
  `namespace ${gpuVm.metadata.namespace ?? ''} is not in spec.allowedNamespaces of EdgeDevice ${deviceName}: ask the device's administrator to add it, or use another device (spec.deviceRef.name)`;

/** GpuReserved while the GpuVm cannot deploy: no GPU is set aside for it until it can. */
const noReservationYet = (): ConditionUpdate =>
  condition('GpuReserved', 'Unknown', 'CannotDeployYet', 'no GPU is reserved for a GpuVm that cannot deploy yet: see VmProvisioned');

type Conditions = Record<
  'GpuReserved' | 'VmProvisioned' | 'GpuDriverInstalled' | 'PowerStateSynced',
  ConditionUpdate
>;

interface Decision {
  action: GpuVmAction;
  phase: GpuVmPhase;
  conditions: Conditions;
  stalled?: { reason: string; message: string };
  requeueAfterMs?: number;
  operation?: GpuVmStatus['operation'];
  event?: PlanEvent;
}

const pending = (type: keyof Conditions, message = 'not started'): ConditionUpdate =>
  condition(type, 'Unknown', 'Pending', message);

function initialConditions(): Conditions {
  return {
    GpuReserved: pending('GpuReserved'),
    VmProvisioned: pending('VmProvisioned'),
    GpuDriverInstalled: pending('GpuDriverInstalled'),
    PowerStateSynced: pending('PowerStateSynced'),
  };
}

/** The power state the VM should have now: drain powers VMs off without releasing their GPUs. */
export function effectivePowerState(gpuVm: GpuVm, device: DeviceView | undefined): PowerState {
  const desired = gpuVm.spec.powerState ?? 'Running';
  if (device?.drain === true && desired === 'Running') return 'Stopped';
  return desired;
}

const POWER_MATCH: Record<PowerState, VmPowerState> = { Running: 'running', Stopped: 'stopped', Deallocated: 'deallocated' };
const TRANSITIONAL: ReadonlySet<VmPowerState> = new Set(['starting', 'stopping', 'deallocating']);

function backoffMs(attempts: number, settings: PlanSettings): number {
  return Math.min(settings.retryMaxMs, settings.retryBaseMs * 2 ** Math.max(0, attempts - 1));
}

/** Plans the next step for one GpuVm: a pure function of desired and observed state. */
export function planGpuVm(obs: GpuVmObservation, settings: PlanSettings = DEFAULT_PLAN_SETTINGS): GpuVmPlan {
  const decision = decide(obs, settings);
  return toPlan(obs, decision);
}

function toPlan(obs: GpuVmObservation, d: Decision): GpuVmPlan {
  const { gpuVm, now } = obs;
  const generation = gpuVm.metadata.generation ?? 0;
  const c = d.conditions;
  const powerSyncedOrNotNeeded = c.PowerStateSynced.status === 'True';
  const desiredDeallocated = effectivePowerState(gpuVm, obs.device) === 'Deallocated';
  const ready =
    d.stalled === undefined &&
    c.VmProvisioned.status === 'True' &&
    c.GpuDriverInstalled.status === 'True' &&
    powerSyncedOrNotNeeded &&
    (c.GpuReserved.status === 'True' || desiredDeallocated);
  const problems = [c.GpuReserved, c.VmProvisioned, c.GpuDriverInstalled, c.PowerStateSynced].filter(
    (x) => x.status !== 'True' && !(x.type === 'GpuReserved' && desiredDeallocated),
  );
  const firstProblem = problems.find((x) => x.status === 'False') ?? problems[0];
  const readyCondition = ready
    ? condition('Ready', 'True', 'Ready', readyMessage(obs))
    : condition(
        'Ready',
        'False',
        d.stalled?.reason ?? firstProblem?.reason ?? 'Reconciling',
        d.stalled?.message ?? firstProblem?.message ?? 'reconciling',
      );
  const reconciling = !ready && d.stalled === undefined;
  const updates = [
    c.GpuReserved,
    c.VmProvisioned,
    c.GpuDriverInstalled,
    c.PowerStateSynced,
    readyCondition,
    reconciling
      ? condition('Reconciling', 'True', readyCondition.reason, readyCondition.message)
      : condition('Reconciling', 'False', ready ? 'Ready' : 'Stalled', ready ? 'desired state reached' : 'waiting for a spec change'),
    d.stalled !== undefined
      ? condition('Stalled', 'True', d.stalled.reason, d.stalled.message)
      : condition('Stalled', 'False', 'Progressing', 'no failure that needs a spec change'),
  ];

  const previous = gpuVm.status ?? {};
  const vm = obs.arm?.vm;
  const status: GpuVmStatus = {
    ...previous,
    observedGeneration: generation,
    phase: d.phase,
    conditions: withoutSuspended(setConditions(previous.conditions, updates, generation, now)),
  };
  const requested = requestedReconcileAt(gpuVm);
  if (requested !== undefined) status.lastHandledReconcileAt = requested;
  if (vm === null) {
    delete status.vm;
  } else if (vm !== undefined) {
    status.vm = {
      resourceId: vm.id,
      computerName: vm.computerName ?? vm.name,
      ipAddress: obs.arm?.nicIp ?? previous.vm?.ipAddress ?? '',
      powerState: vm.powerState,
      provisioningState: vm.provisioningState,
    };
  }
  if (vm?.osDiskName !== undefined) status.osDiskName = vm.osDiskName;
  if (d.operation === undefined) delete status.operation;
  else status.operation = d.operation;
  const plan: GpuVmPlan = { action: d.action, status };
  if (d.requeueAfterMs !== undefined) plan.requeueAfterMs = d.requeueAfterMs;
  if (d.event !== undefined) plan.event = d.event;
  return plan;
}

function readyMessage(obs: GpuVmObservation): string {
  const ip = obs.arm?.nicIp ?? obs.gpuVm.status?.vm?.ipAddress;
  const power = effectivePowerState(obs.gpuVm, obs.device);
  return `VM ${obs.gpuVm.metadata.name} is ${power.toLowerCase()} on device ${obs.gpuVm.spec.deviceRef.name}${ip ? ` at ${ip}` : ''}`;
}

function decide(obs: GpuVmObservation, settings: PlanSettings): Decision {
  const { gpuVm } = obs;
  const conditions = initialConditions();
  const deleting = isBeingDeleted(gpuVm);
  const finalizerSet = hasFinalizer(gpuVm);

  if (deleting) return decideDeletion(obs, conditions, finalizerSet, settings);
  if (!finalizerSet) {
    return { action: { kind: 'addFinalizer' }, phase: 'Pending', conditions, requeueAfterMs: 0 };
  }

  const device = obs.device;
  const deviceName = gpuVm.spec.deviceRef.name;
  if (device === undefined) {
    conditions.GpuReserved = condition(
      'GpuReserved',
      'False',
      'DeviceNotFound',
      `EdgeDevice ${deviceName} does not exist: create it or fix spec.deviceRef.name`,
    );
    return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
  }
  if (!device.namespaceAllowed && !hasDeviceFootprint(gpuVm)) {
    const message = notAllowedMessage(gpuVm, deviceName);
    conditions.GpuReserved = condition('GpuReserved', 'False', 'NamespaceNotAllowed', message);
    const first = findCondition(gpuVm.status?.conditions, 'GpuReserved')?.reason !== 'NamespaceNotAllowed';
    return {
      action: { kind: 'none' },
      phase: 'Pending',
      conditions,
      stalled: { reason: 'NamespaceNotAllowed', message },
      requeueAfterMs: settings.recheckMs,
      ...(first ? { event: { type: 'Warning' as const, reason: 'NamespaceNotAllowed', message } } : {}),
    };
  }
  if (!device.connected) {
    conditions.GpuReserved = condition(
      'GpuReserved',
      'False',
      'DeviceUnreachable',
      `EdgeDevice ${deviceName} is not connected: ${device.connectionMessage}`,
    );
    return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
  }
  const secretName = gpuVm.spec.adminCredentialsSecretRef.name;
  if (obs.secret.state !== 'ok') {
    const secretRef = `Secret ${gpuVm.metadata.namespace}/${secretName} (spec.adminCredentialsSecretRef)`;
    const [reason, message] =
      obs.secret.state === 'missing'
        ? ['SecretNotFound', `${secretRef} does not exist: create it with keys username and password or sshPublicKey`]
        : obs.secret.state === 'forbidden'
          ? [
              'SecretForbidden',
              `the controller may not read ${secretRef}: grant it in namespace ${gpuVm.metadata.namespace} with a RoleBinding of ClusterRole gpuvm-controller-tenant-secrets to its ServiceAccount (manifests/components/tenant-secrets)`,
            ]
          : ['SecretInvalid', `${secretRef} is not usable: ${obs.secret.problem}`];
    conditions.VmProvisioned = condition('VmProvisioned', 'False', reason, message);
    if (device.reservation === undefined) conditions.GpuReserved = noReservationYet();
    return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
  }
  if (device.vmNameHeldElsewhere && !hasDeviceFootprint(gpuVm)) {
    return nameConflict(
      conditions,
      `VM name ${gpuVm.metadata.name ?? ''} on device ${deviceName} belongs to a GpuVm in another namespace that was created earlier: rename this GpuVm (its metadata.name is the VM name)`,
      settings,
    );
  }

  const arm = obs.arm ?? {};
  const vm = arm.vm;
  if (vm !== undefined && vm !== null && vm.tags[OWNER_TAG] !== gpuVm.metadata.uid) {
    const owner = vm.tags[OWNER_TAG] !== undefined && vm.tags[OWNER_TAG] !== '' ? 'belongs to another GpuVm' : 'is not managed by this controller';
    return nameConflict(
      conditions,
      `a VM named ${vm.name} already exists on device ${deviceName} and ${owner}: rename this GpuVm (its metadata.name is the VM name) or have that VM removed`,
      settings,
    );
  }

  const desiredPower = effectivePowerState(gpuVm, device);
  const vmHoldsGpu = vm !== undefined && vm !== null && powerStateHoldsGpu(vm.powerState);
  // A failed CreateVM on a device that, listed again, has no GPU for this VM: capacity, whatever the error said.
  // The device's ledger says so; until this GpuVm's cache of it does, it waits (decideVmDeployment).
  const revoked = arm.capacityCheck?.state === 'done' && !arm.capacityCheck.reserved;
  const reserved = device.reservation !== undefined || vmHoldsGpu;

  if (reserved && !device.namespaceAllowed) {
    // The namespace was taken off the list after the VM was made: it is neither deleted nor created again.
    conditions.GpuReserved = condition(
      'GpuReserved',
      'True',
      'NamespaceNotAllowed',
      `${notAllowedMessage(gpuVm, deviceName)}. The existing VM keeps its GPU and is managed until this GpuVm is deleted, but it is not created again if it goes away`,
    );
  } else if (reserved) {
    conditions.GpuReserved = condition(
      'GpuReserved',
      'True',
      vmHoldsGpu ? 'GpuHeld' : 'GpuReserved',
      vmHoldsGpu ? `the VM holds a GPU of device ${deviceName}` : `a GPU of device ${deviceName} is reserved for this VM`,
    );
  } else if (desiredPower === 'Deallocated' && vm !== undefined && vm !== null) {
    conditions.GpuReserved = condition('GpuReserved', 'False', 'Deallocated', 'the VM is deallocated and holds no GPU');
  } else if (!device.namespaceAllowed) {
    conditions.GpuReserved = condition('GpuReserved', 'False', 'NamespaceNotAllowed', `${notAllowedMessage(gpuVm, deviceName)}; no GPU is reserved for it`);
    return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
  } else if (arm.imageExists === false && (vm === undefined || vm === null)) {
    // Checked before a GPU is reserved, so a GpuVm that could not deploy holds none (the device skips it).
    conditions.VmProvisioned = imageNotFound(obs);
    conditions.GpuReserved = noReservationYet();
    return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
  } else {
    conditions.GpuReserved = waitingForGpu(obs, device, revoked ? `deployment ${vmDeploymentName(gpuVm.metadata.uid ?? '')} failed and the device has no free GPU for it` : undefined);
    // A device's status change wakes a waiting GpuVm; the recheck is the level-triggered net under that.
    return { action: { kind: 'none' }, phase: 'WaitingForGpu', conditions, requeueAfterMs: settings.recheckMs };
  }

  if (vm === undefined) {
    // ARM was not read (the reconciler only reads once the GPU is reserved): look again soon.
    return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: 0 };
  }
  // A VM whose own deployment failed is retried as a deployment; a VM that turned Failed later (a failed
  // extension marks its VM Failed) is provisioned, and the driver logic below deals with the cause.
  const vmDeploymentFailed = arm.vmDeployment?.provisioningState === 'Failed' || arm.vmDeployment?.provisioningState === 'Canceled';
  if (vm === null || vm.provisioningState === 'Creating' || (vm.provisioningState === 'Failed' && vmDeploymentFailed)) {
    return decideVmDeployment(obs, conditions, settings);
  }

  conditions.VmProvisioned = condition('VmProvisioned', 'True', 'Provisioned', `VM ${vm.name} is provisioned on device ${deviceName}`);

  const driverDecision = decideDriver(obs, vm, conditions, settings);
  if (driverDecision !== undefined) return driverDecision;

  return decidePower(obs, vm, desiredPower, conditions, settings);
}

/** The VM name is someone else's: that VM is never touched (no PUT, no delete, no power action). */
function nameConflict(conditions: Conditions, message: string, settings: PlanSettings): Decision {
  conditions.VmProvisioned = condition('VmProvisioned', 'False', 'VmNameConflict', message);
  conditions.GpuReserved = noReservationYet();
  return { action: { kind: 'none' }, phase: 'Failed', conditions, stalled: { reason: 'VmNameConflict', message }, requeueAfterMs: settings.recheckMs };
}

function imageNotFound(obs: GpuVmObservation): ConditionUpdate {
  return condition(
    'VmProvisioned',
    'False',
    'ImageNotFound',
    // spec.image is immutable (CRD rule), so the only fixes are the image itself or a new GpuVm.
    `image ${obs.gpuVm.spec.image.name} does not exist in the device resource group: upload it to device ${obs.gpuVm.spec.deviceRef.name} (the GpuVm deploys once it is there), or re-create the GpuVm with another image (spec.image cannot be changed)`,
  );
}

/** Who holds the device's GPUs, as this GpuVm's users may see it: their own namespace by name, others by count. */
function describeHolders(device: DeviceView): string {
  const parts = [...device.holders];
  if (device.otherNamespaceHolders > 0) parts.push(`${device.otherNamespaceHolders} GpuVm(s) in other namespaces`);
  return parts.length > 0 ? ` (held by ${parts.join(' and ')})` : '';
}

function waitingForGpu(obs: GpuVmObservation, device: DeviceView, revokedBecause?: string): ConditionUpdate {
  const holders = describeHolders(device);
  if (device.kubernetesGpus > 0 && (device.freeGpus === 0 || revokedBecause !== undefined)) {
    return condition(
      'GpuReserved',
      'False',
      'KubernetesHoldsGpus',
      `${revokedBecause !== undefined ? `${revokedBecause}: ` : ''}the Kubernetes role on device ${device.name} holds ${device.kubernetesGpus} of its ${device.totalGpus} GPU(s); Kubernetes claims every free GPU when it is configured, so GPU VMs must be created first. ` +
        `To free a GPU, set spec.kubernetes.state: NotConfigured on EdgeDevice ${device.name} (this removes the Kubernetes role), then re-configure Kubernetes after this VM is Ready. No deployment is attempted meanwhile.`,
    );
  }
  if (revokedBecause !== undefined) {
    return condition(
      'GpuReserved',
      'False',
      'InsufficientGpus',
      `${revokedBecause}: every GPU of device ${device.name} is held${holders}; the VM is created when a GPU is released, with no deployment meanwhile`,
    );
  }
  const position = device.queuePosition !== undefined ? `position ${device.queuePosition} in the queue for` : 'waiting for';
  return condition(
    'GpuReserved',
    'False',
    'InsufficientGpus',
    `${position} a GPU on device ${device.name}: ${device.freeGpus} of ${device.totalGpus} free${holders}; the VM is created when a GPU is released`,
  );
}

function retryWait(
  op: GpuVmStatus['operation'] | undefined,
  failedAt: string | undefined,
  now: Date,
  settings: PlanSettings,
): number {
  const attempts = op?.attempts ?? 1;
  const since = Date.parse(failedAt ?? op?.startedAt ?? '') || now.getTime();
  return Math.max(0, since + backoffMs(attempts, settings) - now.getTime());
}

function startOperation(obs: GpuVmObservation, kind: string, deploymentName?: string): GpuVmStatus['operation'] {
  const previous = obs.gpuVm.status?.operation;
  const attempts = previous?.kind === kind ? (previous.attempts ?? 1) + 1 : 1;
  const op: NonNullable<GpuVmStatus['operation']> = { kind, startedAt: rfc3339(obs.now), attempts };
  if (deploymentName !== undefined) op.deploymentName = deploymentName;
  return op;
}

/** True when the GpuVm was stalled for this reason at an older generation: the spec changed since. */
function specChangedSinceStall(obs: GpuVmObservation, reason: string): boolean {
  const stalled = findCondition(obs.gpuVm.status?.conditions, 'Stalled');
  return stalled?.status === 'True' && stalled.reason === reason && (stalled.observedGeneration ?? 0) < (obs.gpuVm.metadata.generation ?? 0);
}

/** Waits for an in-flight deployment, keeping (or, after a restart that lost it, rebuilding) its operation record. */
function awaitDeployment(
  obs: GpuVmObservation,
  kind: 'CreateVm' | 'InstallGpuDriver',
  deploymentName: string,
  phase: GpuVmPhase,
  conditions: Conditions,
  settings: PlanSettings,
): Decision {
  const op = obs.gpuVm.status?.operation;
  return {
    action: { kind: 'none' },
    phase,
    conditions,
    operation: op?.deploymentName === deploymentName ? op : { kind, deploymentName, startedAt: rfc3339(obs.now), attempts: 1 },
    requeueAfterMs: settings.pollIntervalMs,
  };
}

function decideVmDeployment(obs: GpuVmObservation, conditions: Conditions, settings: PlanSettings): Decision {
  const arm = obs.arm ?? {};
  const name = vmDeploymentName(obs.gpuVm.metadata.uid ?? '');
  const deviceName = obs.gpuVm.spec.deviceRef.name;
  const deployment = arm.vmDeployment;
  const op = obs.gpuVm.status?.operation;
  const deploy = (): Decision => {
    if (obs.device?.namespaceAllowed === false) {
      conditions.VmProvisioned = condition('VmProvisioned', 'False', 'NamespaceNotAllowed', `${notAllowedMessage(obs.gpuVm, deviceName)}; the VM is not created again`);
      return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
    }
    if (arm.imageExists === false) {
      conditions.VmProvisioned = imageNotFound(obs);
      return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
    }
    if (arm.imageExists === undefined) {
      return { action: { kind: 'none' }, phase: 'Provisioning', conditions, requeueAfterMs: 0 };
    }
    // The VM went away outside the controller: its managed OS disk outlives it (ARM managed-disk semantics) and
    // would be left behind by the new VM's own disk, so it goes first.
    const oldDisk = obs.gpuVm.status?.osDiskName;
    if (arm.vm === null && oldDisk !== undefined && oldDisk !== '' && arm.osDiskExists !== false) {
      if (arm.osDiskExists === undefined) return { action: { kind: 'none' }, phase: 'Provisioning', conditions, requeueAfterMs: 0 };
      conditions.VmProvisioned = condition('VmProvisioned', 'False', 'Deploying', `VM ${obs.gpuVm.metadata.name} is gone; deleting its OS disk ${oldDisk} before deploying it again`);
      return { action: { kind: 'deleteDisk', diskName: oldDisk }, phase: 'Provisioning', conditions, operation: startOperation(obs, 'DeleteDisk'), requeueAfterMs: settings.pollIntervalMs };
    }
    conditions.VmProvisioned = condition('VmProvisioned', 'False', 'Deploying', `deploying VM ${obs.gpuVm.metadata.name} (deployment ${name})`);
    return {
      action: { kind: 'deployVm', deploymentName: name },
      phase: 'Provisioning',
      conditions,
      operation: startOperation(obs, 'CreateVm', name),
      requeueAfterMs: settings.pollIntervalMs,
      event: { type: 'Normal', reason: 'Deploying', message: `started deployment ${name} of VM ${obs.gpuVm.metadata.name} on device ${deviceName}` },
    };
  };

  if (deployment === undefined) return { action: { kind: 'none' }, phase: 'Provisioning', conditions, requeueAfterMs: 0 };
  if (deployment === null) return deploy();

  switch (deployment.provisioningState) {
    case 'Accepted':
    case 'Running':
    case 'Deleting':
    case 'Unknown':
      conditions.VmProvisioned = condition('VmProvisioned', 'False', 'Deploying', `deployment ${name} is ${deployment.provisioningState.toLowerCase()}`);
      return awaitDeployment(obs, 'CreateVm', name, 'Provisioning', conditions, settings);
    case 'Succeeded':
      if (arm.vm !== null && arm.vm !== undefined) {
        // The VM exists but is not done yet (the device finishes it after the deployment): wait for it.
        conditions.VmProvisioned = condition('VmProvisioned', 'False', 'Deploying', `VM ${arm.vm.name} is ${arm.vm.provisioningState.toLowerCase()}`);
        return awaitDeployment(obs, 'CreateVm', name, 'Provisioning', conditions, settings);
      }
      // The deployment finished but the VM is gone (deleted outside the controller): deploy it again.
      return deploy();
    case 'Failed':
    case 'Canceled': {
      const failure = classifyDeploymentFailure(deployment.error, arm.vmDeploymentFailures);
      const reason = failure.code === 'AllocationFailed' ? 'AllocationFailed' : 'DeploymentFailed';
      const check = arm.capacityCheck;
      if (check?.state === 'pending' || (check?.state === 'done' && !check.reserved)) {
        // The device is listed again first: on a full device this failure is capacity, not a spec problem, and
        // the device withdraws the reservation (its status then says so and this GpuVm waits for a GPU).
        const status = check.state === 'pending' ? `checking whether device ${deviceName} has a free GPU` : `device ${deviceName} has no free GPU for it`;
        conditions.VmProvisioned = condition('VmProvisioned', 'False', reason, `${failureMessage(name, failure)}; ${status}`);
        return { action: { kind: 'none' }, phase: 'Provisioning', conditions, operation: op, requeueAfterMs: settings.pollIntervalMs };
      }
      conditions.VmProvisioned = condition('VmProvisioned', 'False', reason, failureMessage(name, failure));
      if (!failure.retryable) {
        if (!specChangedSinceStall(obs, reason)) {
          return {
            action: { kind: 'none' },
            phase: 'Failed',
            conditions,
            stalled: { reason, message: `${failureMessage(name, failure)}; fix the spec to retry` },
            event: { type: 'Warning', reason, message: failureMessage(name, failure) },
          };
        }
        return deploy();
      }
      const wait = retryWait(op, deployment.timestamp, obs.now, settings);
      if (wait > 0) {
        // A retryable failure is a Warning Event too, once per failed attempt (not on every look while it waits).
        const previous = findCondition(obs.gpuVm.status?.conditions, 'VmProvisioned');
        const seen = previous?.reason === reason && previous.message === conditions.VmProvisioned.message;
        return {
          action: { kind: 'none' },
          phase: 'Provisioning',
          conditions,
          operation: op,
          requeueAfterMs: wait,
          ...(seen ? {} : { event: { type: 'Warning' as const, reason, message: `${failureMessage(name, failure)}; retried in ${Math.ceil(wait / 1000)}s` } }),
        };
      }
      return deploy();
    }
  }
}

function failureMessage(deploymentName: string, failure: DeploymentFailure): string {
  return `deployment ${deploymentName} failed: ${failure.code}: ${failure.message}`;
}

function decideDriver(obs: GpuVmObservation, vm: ArmVm, conditions: Conditions, settings: PlanSettings): Decision | undefined {
  const { gpuVm, device } = obs;
  const install = gpuVm.spec.gpuDriver?.install ?? true;
  if (!install) {
    conditions.GpuDriverInstalled = condition('GpuDriverInstalled', 'True', 'NotRequested', 'spec.gpuDriver.install is false');
    return undefined;
  }
  const os = guestOsSupport(gpuVm.spec);
  const driver = chooseGpuDriver(gpuVm.spec, device?.softwareVersion);
  const extension = obs.arm?.extension;
  const previous = findCondition(gpuVm.status?.conditions, 'GpuDriverInstalled');
  if (extension === undefined) {
    if (previous?.status === 'True') {
      conditions.GpuDriverInstalled = { type: previous.type, status: previous.status, reason: previous.reason, message: previous.message };
      return undefined;
    }
    return { action: { kind: 'none' }, phase: 'InstallingDriver', conditions, requeueAfterMs: 0 };
  }
  if (extension !== null && extension.provisioningState === 'Succeeded') {
    conditions.GpuDriverInstalled = os.supported
      ? condition('GpuDriverInstalled', 'True', 'Installed', `${extension.type} ${extension.typeHandlerVersion} installed`)
      : condition('GpuDriverInstalled', 'True', 'UnsupportedGuestOs', `${extension.type} ${extension.typeHandlerVersion} installed; warning: ${os.message}`);
    return undefined;
  }

  const name = driverDeploymentName(gpuVm.metadata.uid ?? '');
  const op = gpuVm.status?.operation;
  const installing = (message: string): ConditionUpdate =>
    os.supported
      ? condition('GpuDriverInstalled', 'False', 'InstallingDriver', message)
      : condition('GpuDriverInstalled', 'False', 'UnsupportedGuestOs', `${message}; warning: ${os.message}`);
  const deploy = (): Decision => {
    conditions.GpuDriverInstalled = installing(`installing ${driver.extensionType} ${driver.typeHandlerVersion} (${driver.basis})`);
    return {
      action: { kind: 'deployGpuDriver', deploymentName: name, driver },
      phase: 'InstallingDriver',
      conditions,
      operation: startOperation(obs, 'InstallGpuDriver', name),
      requeueAfterMs: settings.pollIntervalMs,
      event: os.supported
        ? { type: 'Normal', reason: 'InstallingDriver', message: `started deployment ${name} of ${driver.extensionType} ${driver.typeHandlerVersion}` }
        : { type: 'Warning', reason: 'UnsupportedGuestOs', message: os.message },
    };
  };

  const extensionFailed = extension !== null && extension.provisioningState === 'Failed';
  if (extension !== null && !extensionFailed) {
    // The extension exists and is still installing, whatever its deployment says: never start a second install.
    conditions.GpuDriverInstalled = installing(`${extension.type} ${extension.typeHandlerVersion} is ${extension.provisioningState.toLowerCase()}`);
    return awaitDeployment(obs, 'InstallGpuDriver', name, 'InstallingDriver', conditions, settings);
  }
  const deployment = obs.arm?.extensionDeployment;
  if (deployment === undefined && !extensionFailed) {
    return { action: { kind: 'none' }, phase: 'InstallingDriver', conditions, requeueAfterMs: 0 };
  }
  const state = extensionFailed ? 'Failed' : deployment === null ? 'Missing' : (deployment?.provisioningState ?? 'Missing');
  if (state === 'Missing' || state === 'Succeeded') return deploy();
  if (state === 'Failed' || state === 'Canceled') {
    const failure = classifyDeploymentFailure(
      deployment?.error ?? (extension?.message !== undefined ? { code: 'VMExtensionProvisioningError', message: extension.message } : undefined),
      obs.arm?.extensionDeploymentFailures,
    );
    conditions.GpuDriverInstalled = condition('GpuDriverInstalled', 'False', 'DriverInstallFailed', failureMessage(name, failure));
    const wait = op?.kind === 'InstallGpuDriver' ? retryWait(op, deployment?.timestamp, obs.now, settings) : 0;
    if (wait > 0) return { action: { kind: 'none' }, phase: 'InstallingDriver', conditions, operation: op, requeueAfterMs: wait };
    const retry = deploy();
    conditions.GpuDriverInstalled = condition('GpuDriverInstalled', 'False', 'DriverInstallFailed', `${failureMessage(name, failure)}; retrying`);
    return { ...retry, event: { type: 'Warning', reason: 'DriverInstallFailed', message: failureMessage(name, failure) } };
  }
  conditions.GpuDriverInstalled = installing(`deployment ${name} of ${driver.extensionType} is ${state.toLowerCase()}`);
  return awaitDeployment(obs, 'InstallGpuDriver', name, 'InstallingDriver', conditions, settings);
}

function decidePower(obs: GpuVmObservation, vm: ArmVm, desired: PowerState, conditions: Conditions, settings: PlanSettings): Decision {
  const { gpuVm, device } = obs;
  const target = POWER_MATCH[desired];
  const settled = (phase: GpuVmPhase): Decision => {
    conditions.PowerStateSynced = condition(
      'PowerStateSynced',
      'True',
      device?.drain === true && desired === 'Stopped' ? 'Drained' : 'InSync',
      device?.drain === true && desired === 'Stopped'
        ? `VM is powered off while device ${device.name} is drained (spec.drain: true)`
        : `VM is ${vm.powerState}`,
    );
    return { action: { kind: 'none' }, phase, conditions };
  };
  if (vm.powerState === target) return settled(desired === 'Running' ? 'Ready' : 'Stopped');

  if (TRANSITIONAL.has(vm.powerState) || vm.powerState === 'unknown') {
    conditions.PowerStateSynced = condition('PowerStateSynced', 'False', 'PowerStateChanging', `VM is ${vm.powerState}, wants ${desired}`);
    return { action: { kind: 'none' }, phase: desired === 'Running' ? 'Provisioning' : 'Stopped', conditions, operation: gpuVm.status?.operation, requeueAfterMs: settings.pollIntervalMs };
  }

  const blocked = gpuReleaseBlocked(obs, desired);
  if (blocked !== undefined) {
    conditions.PowerStateSynced = condition('PowerStateSynced', 'False', blocked.reason, blocked.message);
    return { action: { kind: 'none' }, phase: 'Ready', conditions, stalled: blocked };
  }

  const lost = desired === 'Running' ? startFailed(obs, vm, conditions, settings) : undefined;
  if (lost !== undefined) return lost;

  const kind = desired === 'Running' ? 'startVm' : desired === 'Stopped' ? 'powerOffVm' : 'deallocateVm';
  const opKind = desired === 'Running' ? 'Start' : desired === 'Stopped' ? 'PowerOff' : 'Deallocate';
  const drained = device?.drain === true && desired === 'Stopped';
  conditions.PowerStateSynced = condition(
    'PowerStateSynced',
    'False',
    drained ? 'Drained' : 'PowerStateChanging',
    drained ? `powering off: device ${device.name} is drained` : `VM is ${vm.powerState}, wants ${desired}`,
  );
  return {
    action: { kind },
    phase: desired === 'Running' ? 'Provisioning' : 'Stopped',
    conditions,
    operation: startOperation(obs, opKind),
    requeueAfterMs: settings.pollIntervalMs,
    event: { type: 'Normal', reason: opKind, message: `${opKind} VM ${vm.name} (was ${vm.powerState})` },
  };
}

/**
 * Powering a GPU VM off where compute runs on the device risks its GPU: deallocation releases it, and Azure Stack
 * Edge release notes 2103 through 2205 (known issue) say Kubernetes takes over the GPUs of stopped GPU VMs, the
 * longer they stay stopped the likelier. Both are refused there unless the GpuVm says to go ahead; a drain (the
 * release notes' own advice before an update) is not, and is bounded in time by the EdgeDevice.
 */
function gpuReleaseBlocked(obs: GpuVmObservation, desired: PowerState): { reason: string; message: string } | undefined {
  const { gpuVm, device } = obs;
  if (device?.kubernetesConfigured !== true || gpuVm.metadata.annotations?.[ALLOW_GPU_RELEASE_ANNOTATION] === 'true') return undefined;
  const override = `annotate the GpuVm with ${ALLOW_GPU_RELEASE_ANNOTATION}: "true" to go ahead anyway`;
  if (desired === 'Deallocated') {
    return {
      reason: 'DeallocationBlocked',
      message:
        `deallocating would release the GPU and the compute role configured on device ${device.name} may claim it, after which the VM cannot start again. ` +
        `Keep powerState: Running, or ${override}`,
    };
  }
  if (desired === 'Stopped' && gpuVm.spec.powerState === 'Stopped') {
    return {
      reason: 'StopBlocked',
      message:
        `compute (Kubernetes) is configured on device ${device.name}, and Azure Stack Edge release notes say it takes over the GPUs of stopped GPU VMs, ` +
        `the longer they stay stopped the likelier; the VM could then not start again. Keep powerState: Running, or ${override}`,
    };
  }
  return undefined;
}

/**
 * A start that did not take: the VM is still powered off a poll interval after the start was sent. On a device
 * whose compute holds GPUs and has none free, its GPU was taken (see gpuReleaseBlocked): it gets its own reason
 * and waits for a GPU instead of retrying; elsewhere the start is retried with backoff.
 */
function startFailed(obs: GpuVmObservation, vm: ArmVm, conditions: Conditions, settings: PlanSettings): Decision | undefined {
  const { gpuVm, device } = obs;
  const op = gpuVm.status?.operation;
  if (op?.kind !== 'Start' || (vm.powerState !== 'stopped' && vm.powerState !== 'deallocated')) return undefined;
  const sentAt = Date.parse(op.startedAt ?? '');
  if (!(obs.now.getTime() - sentAt >= settings.pollIntervalMs)) return undefined;
  if (device !== undefined && device.kubernetesGpus > 0 && device.freeGpus === 0) {
    const message =
      `VM ${vm.name} could not start: its GPU was taken by the compute role on device ${device.name} while the VM was ${vm.powerState}. ` +
      `Free a GPU (set spec.kubernetes.state: NotConfigured on EdgeDevice ${device.name}, or delete another GPU VM); the start is tried again when one is free`;
    conditions.GpuReserved = condition('GpuReserved', 'False', 'GpuLost', message);
    conditions.PowerStateSynced = condition('PowerStateSynced', 'False', 'GpuLost', message);
    return {
      action: { kind: 'none' },
      phase: 'Failed',
      conditions,
      operation: op,
      stalled: { reason: 'GpuLost', message },
      requeueAfterMs: settings.recheckMs,
      ...(findCondition(gpuVm.status?.conditions, 'GpuReserved')?.reason === 'GpuLost' ? {} : { event: { type: 'Warning' as const, reason: 'GpuLost', message } }),
    };
  }
  const wait = retryWait(op, undefined, obs.now, settings);
  if (wait <= 0) return undefined;
  conditions.PowerStateSynced = condition('PowerStateSynced', 'False', 'StartFailed', `VM ${vm.name} did not start (attempt ${op.attempts ?? 1}); trying again in ${Math.ceil(wait / 1000)}s`);
  return { action: { kind: 'none' }, phase: 'Provisioning', conditions, operation: op, requeueAfterMs: wait };
}

function decideDeletion(obs: GpuVmObservation, conditions: Conditions, hasFinalizer: boolean, settings: PlanSettings): Decision {
  const { gpuVm } = obs;
  const deleting = (message: string): void => {
    conditions.VmProvisioned = condition('VmProvisioned', 'False', 'Deleting', message);
  };
  if (!hasFinalizer) return { action: { kind: 'none' }, phase: 'Deleting', conditions };
  if ((gpuVm.spec.deletionPolicy ?? 'Delete') === 'Orphan' || obs.device === undefined || leavesDeviceAlone(gpuVm, obs.device)) {
    deleting(
      obs.device === undefined
        ? 'EdgeDevice is gone; leaving the device untouched'
        : leavesDeviceAlone(gpuVm, obs.device)
          ? 'this GpuVm never made anything on the device; leaving the device untouched'
          : 'deletionPolicy Orphan: leaving the VM on the device',
    );
    return { action: { kind: 'removeFinalizer' }, phase: 'Deleting', conditions };
  }
  const arm = obs.arm ?? {};
  const creating = arm.vmDeployment;
  if (creating !== undefined && creating !== null && !deploymentFinished(creating.provisioningState)) {
    // Deleting under a running CreateVM deployment races it: it would create the VM (or its disk) again.
    deleting(`waiting for deployment ${creating.name} (${creating.provisioningState.toLowerCase()}) to finish before deleting what it creates`);
    return { action: { kind: 'none' }, phase: 'Deleting', conditions, operation: gpuVm.status?.operation, requeueAfterMs: settings.pollIntervalMs };
  }
  if (arm.vm === undefined) return { action: { kind: 'none' }, phase: 'Deleting', conditions, requeueAfterMs: 0 };
  if (arm.vm !== null) {
    if (arm.vm.tags[OWNER_TAG] !== gpuVm.metadata.uid) {
      deleting(`VM ${arm.vm.name} is not managed by this GpuVm; leaving it`);
      return { action: { kind: 'removeFinalizer' }, phase: 'Deleting', conditions };
    }
    deleting(`deleting VM ${arm.vm.name}`);
    if (arm.vm.provisioningState === 'Deleting') {
      return { action: { kind: 'none' }, phase: 'Deleting', conditions, operation: gpuVm.status?.operation, requeueAfterMs: settings.pollIntervalMs };
    }
    return {
      action: { kind: 'deleteVm' },
      phase: 'Deleting',
      conditions,
      operation: startOperation(obs, 'DeleteVm'),
      requeueAfterMs: settings.pollIntervalMs,
      event: { type: 'Normal', reason: 'Deleting', message: `deleting VM ${arm.vm.name} and its GPU driver extension` },
    };
  }
  if (arm.nicExists === undefined) return { action: { kind: 'none' }, phase: 'Deleting', conditions, requeueAfterMs: 0 };
  if (arm.nicExists) {
    const nic = nicName(gpuVm.metadata.name ?? '');
    deleting(`deleting NIC ${nic}`);
    return { action: { kind: 'deleteNic', nicName: nic }, phase: 'Deleting', conditions, operation: startOperation(obs, 'DeleteNic'), requeueAfterMs: settings.pollIntervalMs };
  }
  const disk = gpuVm.status?.osDiskName;
  if (disk !== undefined && disk !== '') {
    // A managed disk outlives its VM (ARM managed-disk semantics): it goes after the VM, or it is left behind.
    if (arm.osDiskExists === undefined) return { action: { kind: 'none' }, phase: 'Deleting', conditions, requeueAfterMs: 0 };
    if (arm.osDiskExists) {
      deleting(`deleting OS disk ${disk}`);
      return { action: { kind: 'deleteDisk', diskName: disk }, phase: 'Deleting', conditions, operation: startOperation(obs, 'DeleteDisk'), requeueAfterMs: settings.pollIntervalMs };
    }
  }
  for (const deployment of [arm.vmDeployment, arm.extensionDeployment]) {
    if (deployment === undefined) return { action: { kind: 'none' }, phase: 'Deleting', conditions, requeueAfterMs: 0 };
    if (deployment !== null) {
      deleting(`deleting deployment record ${deployment.name}`);
      return { action: { kind: 'deleteDeployment', deploymentName: deployment.name }, phase: 'Deleting', conditions, requeueAfterMs: settings.pollIntervalMs };
    }
  }
  deleting('device resources removed');
  return { action: { kind: 'removeFinalizer' }, phase: 'Deleting', conditions };
}

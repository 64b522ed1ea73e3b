import { hasFinalizer, isBeingDeleted } from '../api/deletion.js';
import { vmDeploymentName, driverDeploymentName, nicName, OWNER_TAG } from '../naming/armNames.js';
import { ALLOW_GPU_RELEASE_ANNOTATION, type GpuVm, type GpuVmPhase, type GpuVmStatus, type PowerState } from '../api/types.js';
import type { ArmDeployment, ArmError, ArmExtension, ArmVm, VmPowerState } from '../arm/resources.js';
import { condition, findCondition, setConditions, rfc3339, type ConditionUpdate } from './conditions.js';
import type { CapacityCheck } from './capacityCheck.js';
import { classifyDeploymentFailure, type DeploymentFailure } from './deploymentErrors.js';
import { powerStateHoldsGpu } from './gpuHolders.js';
import type { GpuDriverChoice } from '../arm/gpuExtension.js';
import { chooseGpuDriver, guestOsSupport } from './gpuDriver.js';
import { requestedReconcileAt, unhandledReconcileRequest } from './reconcileRequest.js';
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

/**
 * What was read from the device's ARM in this reconcile; a field left undefined was not read. The planner asks
 * for each field when its decision needs it (see GpuVmRead); the reconcile loop reads it and plans again.
 */
export interface ArmView {
  imageExists?: boolean;
  /** null: read, and there is no such VM. */
  vm?: ArmVm | null;
  vmDeployment?: ArmDeployment | null;
  vmDeploymentFailures?: ArmError[];
  extension?: ArmExtension | null;
  extensionDeployment?: ArmDeployment | null;
  extensionDeploymentFailures?: ArmError[];
  /** null: read, and the VM's NIC has no private IP (or the VM names no NIC). */
  nicIp?: string | null;
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
  /** The admin Secret; undefined until read (the planner asks for it only while the VM is to be created). */
  secret?: SecretView;
  arm?: ArmView;
}

/**
 * The ArmView fields a recent listing of the device (shared by its GpuVms, sent after this GpuVm's last write) may
 * fill instead of a GET of their own, and the read that asks for them that way: for facts a few seconds' age cannot
 * mislead.
 */
const LISTED = { vm: 'vmFromListing', imageExists: 'imageFromListing', nicIp: 'nicIpFromListing' } as const;
type ListedField = keyof typeof LISTED;
export type ListedRead = (typeof LISTED)[ListedField];
const FIELD_OF_LISTED = Object.fromEntries(Object.entries(LISTED).map(([field, read]) => [read, field])) as Record<ListedRead, ListedField>;

/** One read the planner needs before it can decide: the admin Secret, or one field of ArmView (by GET or listing). */
export type GpuVmRead = 'adminSecret' | keyof ArmView | ListedRead;

/** What the planner returns: the next read it needs, or its decision. */
export type GpuVmStep = { kind: 'read'; read: GpuVmRead } | { kind: 'plan'; plan: GpuVmPlan };

/** Thrown inside the decision tree where it reaches a fact not read yet; planGpuVm turns it into a read step. */
class ReadNeeded {
  constructor(readonly read: GpuVmRead) {}
}

/** The value of an ArmView field, or a request to read it (by default with a GET of its own). */
function armRead<K extends keyof ArmView>(obs: GpuVmObservation, key: K, read: GpuVmRead = key): Exclude<ArmView[K], undefined> {
  const value = obs.arm?.[key];
  if (value === undefined) throw new ReadNeeded(read);
  return value as Exclude<ArmView[K], undefined>;
}

/** The ArmView field a read fills. */
export function armViewField(read: Exclude<GpuVmRead, 'adminSecret'>): keyof ArmView {
  return read in FIELD_OF_LISTED ? FIELD_OF_LISTED[read as ListedRead] : (read as keyof ArmView);
}

/** armRead for a fact the device's listing may answer. */
const listedRead = <K extends ListedField>(obs: GpuVmObservation, key: K): Exclude<ArmView[K], undefined> => armRead(obs, key, LISTED[key]);

/**
 * A pre-check's fact (is the VM name free, is the image there): from the device's listing, but by GET after the
 * pre-check failed on it or on a reconcile-now request, so a fix made since is seen at once.
 */
const precheckRead = <K extends ListedField>(obs: GpuVmObservation, key: K, refresh: boolean, failedAs: 'ImageNotFound' | 'VmNameConflict'): Exclude<ArmView[K], undefined> =>
  refresh || precheckFailed(obs.gpuVm, failedAs) ? armRead(obs, key) : listedRead(obs, key);

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

/**
 * Plans the next step for one GpuVm, a pure function of desired and observed state: the decision, or the one
 * read it needs first. The decision tree exists only here; the reconcile loop reads what it is asked for.
 */
export function planGpuVm(obs: GpuVmObservation, settings: PlanSettings = DEFAULT_PLAN_SETTINGS): GpuVmStep {
  try {
    return { kind: 'plan', plan: toPlan(obs, decide(obs, settings)) };
  } catch (err) {
    if (err instanceof ReadNeeded) return { kind: 'read', read: err.read };
    throw err;
  }
}

/** The admin Secret is used once, to create the VM: a Ready GpuVm does not need it. */
function needsAdminSecret(gpuVm: GpuVm): boolean {
  const ready = findCondition(gpuVm.status?.conditions, 'Ready')?.status === 'True';
  return !(ready && gpuVm.status?.vm?.resourceId !== undefined);
}

/**
 * The status says, for the current generation, that the GpuVm could deploy and waits for a GPU: its VM name was
 * free on the device and its image there when that was written (the admission pre-check).
 */
function waitingInQueue(gpuVm: GpuVm): boolean {
  const reserved = findCondition(gpuVm.status?.conditions, 'GpuReserved');
  return (
    reserved?.status === 'False' &&
    (reserved.reason === 'InsufficientGpus' || reserved.reason === 'KubernetesHoldsGpus') &&
    reserved.observedGeneration === gpuVm.metadata.generation
  );
}

/** An operation of ours that a deployment carries, and that deployment as read (null: never reached the device). */
interface InFlight {
  kind: 'CreateVm' | 'InstallGpuDriver';
  deployment: ArmDeployment | null;
}

/**
 * While status records a deployment of ours, that deployment is read first: while it runs nothing else is read,
 * and once it has finished its outcome orders the reads that follow (no VM read can race it).
 */
function inFlightDeployment(obs: GpuVmObservation): InFlight | undefined {
  const op = obs.gpuVm.status?.operation;
  const uid = obs.gpuVm.metadata.uid ?? '';
  if (op?.kind === 'CreateVm' && op.deploymentName === vmDeploymentName(uid)) return { kind: 'CreateVm', deployment: armRead(obs, 'vmDeployment') };
  if (op?.kind === 'InstallGpuDriver' && op.deploymentName === driverDeploymentName(uid) && (obs.gpuVm.spec.gpuDriver?.install ?? true)) {
    return { kind: 'InstallGpuDriver', deployment: armRead(obs, 'extensionDeployment') };
  }
  return undefined;
}

const running = (d: ArmDeployment | null): boolean => d !== null && !deploymentFinished(d.provisioningState);

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
  const secret: SecretView = obs.secret ?? (needsAdminSecret(gpuVm) ? askSecret() : { state: 'ok' });
  if (secret.state !== 'ok') {
    const secretRef = `Secret ${gpuVm.metadata.namespace}/${secretName} (spec.adminCredentialsSecretRef)`;
    const [reason, message] =
      secret.state === 'missing'
        ? ['SecretNotFound', `${secretRef} does not exist: create it with keys username and password or sshPublicKey`]
        : secret.state === 'forbidden'
          ? [
              'SecretForbidden',
              `the controller may not read ${secretRef}: grant it in namespace ${gpuVm.metadata.namespace} with a RoleBinding of ClusterRole gpuvm-controller-tenant-secrets to its ServiceAccount (manifests/components/tenant-secrets)`,
            ]
          : ['SecretInvalid', `${secretRef} is not usable: ${secret.problem}`];
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

  const op = gpuVm.status?.operation;
  const refresh = unhandledReconcileRequest(gpuVm) !== undefined;
  const mayHaveVm = device.reservation !== undefined || gpuVm.status?.vm?.resourceId !== undefined || op !== undefined;
  // The pre-check passed at this generation and nothing was made since: the name is free and the image is there,
  // so a GPU reserved now goes straight to the deployment PUT.
  const prechecked = !refresh && op === undefined && gpuVm.status?.vm?.resourceId === undefined && waitingInQueue(gpuVm);
  const inFlight = mayHaveVm ? inFlightDeployment(obs) : undefined;
  const driverWanted = (gpuVm.spec.gpuDriver?.install ?? true) && findCondition(gpuVm.status?.conditions, 'GpuDriverInstalled')?.status !== 'True';
  // Not read while a deployment of ours runs, nor right after our CreateVM made the VM and the driver comes next:
  // the deployment says all there is to know. Known absent when the PUT of our CreateVM never reached the device.
  let vm: ArmVm | null | undefined;
  if (mayHaveVm) {
    const ours = device.reservation !== undefined && inFlight !== undefined;
    if (ours && (running(inFlight.deployment) || (inFlight.kind === 'CreateVm' && inFlight.deployment?.provisioningState === 'Succeeded' && driverWanted))) vm = undefined;
    else if (ours && inFlight.kind === 'CreateVm' && inFlight.deployment === null) vm = null;
    else if (prechecked && device.reservation !== undefined) vm = null;
    // The VM of a Ready GpuVm with no operation of ours on it, or one whose driver install of ours has just
    // succeeded (nothing of ours is left to finish): the device's listing, sent after our last write, says enough.
    // A GpuVm with a problem (a GPU lost, a start refused, a conflict) and a reconcile-now request read it by GET:
    // what they wait for may have changed since the listing.
    else if (!refresh && ((op === undefined && gpuVm.status?.vm?.resourceId !== undefined && findCondition(gpuVm.status.conditions, 'Ready')?.status === 'True') || (ours && inFlight.kind === 'InstallGpuDriver' && inFlight.deployment?.provisioningState === 'Succeeded'))) {
      vm = listedRead(obs, 'vm');
    } else vm = armRead(obs, 'vm');
  } else if (device.namespaceAllowed && !(waitingInQueue(gpuVm) && !refresh)) {
    // Before a GPU is reserved: could it deploy (its name is free, its image there)? Asked once per generation
    // (a GpuVm already waiting in the queue is not read again until it gets its GPU), from the device's listing:
    // the GpuVms of a device share it.
    vm = precheckRead(obs, 'vm', refresh, 'VmNameConflict');
  }
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
    const held = vmHoldsGpu || (vm === undefined && device.reservation === 'Held');
    conditions.GpuReserved = condition(
      'GpuReserved',
      'True',
      held ? 'GpuHeld' : 'GpuReserved',
      held ? `the VM holds a GPU of device ${deviceName}` : `a GPU of device ${deviceName} is reserved for this VM`,
    );
  } else if (desiredPower === 'Deallocated' && vm !== undefined && vm !== null) {
    conditions.GpuReserved = condition('GpuReserved', 'False', 'Deallocated', 'the VM is deallocated and holds no GPU');
  } else if (!device.namespaceAllowed) {
    conditions.GpuReserved = condition('GpuReserved', 'False', 'NamespaceNotAllowed', `${notAllowedMessage(gpuVm, deviceName)}; no GPU is reserved for it`);
    return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
  } else if (vm === null && precheckRead(obs, 'imageExists', refresh, 'ImageNotFound') === false) {
    // Checked before a GPU is reserved, so a GpuVm that could not deploy holds none (the device skips it).
    conditions.VmProvisioned = imageNotFound(obs);
    conditions.GpuReserved = noReservationYet();
    return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
  } else {
    // A CreateVM of ours that failed, and the device (listed again) withdrew the reservation: capacity.
    const failed = inFlight?.kind === 'CreateVm' && (inFlight.deployment?.provisioningState === 'Failed' || inFlight.deployment?.provisioningState === 'Canceled');
    conditions.GpuReserved = waitingForGpu(device, failed ? `deployment ${vmDeploymentName(gpuVm.metadata.uid ?? '')} failed and the device has no free GPU for it` : undefined);
    // A device's status change wakes a waiting GpuVm; the recheck is the level-triggered net under that.
    return { action: { kind: 'none' }, phase: 'WaitingForGpu', conditions, requeueAfterMs: settings.recheckMs };
  }

  if (vm === undefined) return decideInFlight(obs, inFlight, conditions, settings);
  // A VM whose own deployment failed is retried as a deployment; a VM that turned Failed later (a failed
  // extension marks its VM Failed) is provisioned, and the driver logic below deals with the cause.
  if (vm === null || vm.provisioningState === 'Creating' || vm.provisioningState === 'Failed') {
    const deployment = vm === null && prechecked ? null : armRead(obs, 'vmDeployment');
    const failed = deployment?.provisioningState === 'Failed' || deployment?.provisioningState === 'Canceled';
    if (vm === null || vm.provisioningState === 'Creating' || failed) return decideVmDeployment(obs, vm, deployment, prechecked, conditions, settings);
  }

  conditions.VmProvisioned = condition('VmProvisioned', 'True', 'Provisioned', `VM ${vm.name} is provisioned on device ${deviceName}`);

  const driverDecision = decideDriver(obs, conditions, settings);
  if (driverDecision !== undefined) return driverDecision;

  const knownIp = gpuVm.status?.vm?.ipAddress;
  // Read once, from the device's NIC listing (the GpuVms that finish together share it). A reconcile-now request
  // reads the IP again, by GET: it is the one fact otherwise read only once.
  if (vm.nicIds[0] !== undefined) {
    if (refresh) armRead(obs, 'nicIp');
    else if (knownIp === undefined || knownIp === '') listedRead(obs, 'nicIp');
  }
  return decidePower(obs, vm, desiredPower, conditions, settings);
}

/**
 * The last look found the pre-check failing for this reason: the recheck reads by GET, so a fix made since (an image
 * uploaded, a VM renamed) is seen at once rather than through a listing that may predate it.
 */
function precheckFailed(gpuVm: GpuVm, reason: 'ImageNotFound' | 'VmNameConflict'): boolean {
  const provisioned = findCondition(gpuVm.status?.conditions, 'VmProvisioned');
  return provisioned?.status === 'False' && provisioned.reason === reason;
}

/** The same words while the deployment runs as when it was sent: a poll that finds it running writes nothing. */
const deployingVm = (gpuVm: GpuVm, deploymentName: string): ConditionUpdate =>
  condition('VmProvisioned', 'False', 'Deploying', `deploying VM ${gpuVm.metadata.name ?? ''} (deployment ${deploymentName})`);

function askSecret(): never {
  throw new ReadNeeded('adminSecret');
}

/**
 * The VM was not read: a deployment of ours runs (it is all that is polled), or our CreateVM has just made the VM
 * and its GPU driver is next (the deployment's success says the VM is provisioned).
 */
function decideInFlight(obs: GpuVmObservation, inFlight: InFlight | undefined, conditions: Conditions, settings: PlanSettings): Decision {
  const name = obs.gpuVm.metadata.name ?? '';
  const deployment = inFlight?.deployment ?? null;
  if (inFlight === undefined || deployment === null) throw new Error('the VM is read unless a deployment of ours accounts for it');
  if (inFlight.kind === 'CreateVm' && running(deployment)) {
    conditions.VmProvisioned = deployingVm(obs.gpuVm, deployment.name);
    return awaitDeployment(obs, 'CreateVm', deployment.name, 'Provisioning', conditions, settings);
  }
  conditions.VmProvisioned = condition('VmProvisioned', 'True', 'Provisioned', `VM ${name} is provisioned on device ${obs.gpuVm.spec.deviceRef.name}`);
  const driver = decideDriver(obs, conditions, settings);
  if (driver === undefined) throw new Error('a GPU driver step follows when the VM is not read');
  return driver;
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

function waitingForGpu(device: DeviceView, revokedBecause?: string): ConditionUpdate {
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

function decideVmDeployment(
  obs: GpuVmObservation,
  vm: ArmVm | null,
  deployment: ArmDeployment | null,
  prechecked: boolean,
  conditions: Conditions,
  settings: PlanSettings,
): Decision {
  const name = vmDeploymentName(obs.gpuVm.metadata.uid ?? '');
  const deviceName = obs.gpuVm.spec.deviceRef.name;
  const op = obs.gpuVm.status?.operation;
  const deploy = (): Decision => {
    if (obs.device?.namespaceAllowed === false) {
      conditions.VmProvisioned = condition('VmProvisioned', 'False', 'NamespaceNotAllowed', `${notAllowedMessage(obs.gpuVm, deviceName)}; the VM is not created again`);
      return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
    }
    // A VM to create again for a GpuVm that was Ready (deleted outside the controller): now its Secret is needed.
    if (obs.secret === undefined) askSecret();
    // Our intent is recorded but its PUT never reached the device (the process stopped in between): the same PUT,
    // the same attempt. After the pre-check it is the first PUT: both need no read.
    const resumed = op?.kind === 'CreateVm' && op.deploymentName === name && deployment === null;
    if (!resumed && !prechecked) {
      if (armRead(obs, 'imageExists') === false) {
        conditions.VmProvisioned = imageNotFound(obs);
        return { action: { kind: 'none' }, phase: 'Pending', conditions, requeueAfterMs: settings.recheckMs };
      }
      // The VM went away outside the controller: its managed OS disk outlives it (ARM managed-disk semantics) and
      // would be left behind by the new VM's own disk, so it goes first.
      const oldDisk = obs.gpuVm.status?.osDiskName;
      if (vm === null && oldDisk !== undefined && oldDisk !== '' && armRead(obs, 'osDiskExists')) {
        conditions.VmProvisioned = condition('VmProvisioned', 'False', 'Deploying', `VM ${obs.gpuVm.metadata.name} is gone; deleting its OS disk ${oldDisk} before deploying it again`);
        return { action: { kind: 'deleteDisk', diskName: oldDisk }, phase: 'Provisioning', conditions, operation: startOperation(obs, 'DeleteDisk'), requeueAfterMs: settings.pollIntervalMs };
      }
    }
    conditions.VmProvisioned = deployingVm(obs.gpuVm, name);
    return {
      action: { kind: 'deployVm', deploymentName: name },
      phase: 'Provisioning',
      conditions,
      operation: resumed ? op : startOperation(obs, 'CreateVm', name),
      requeueAfterMs: settings.pollIntervalMs,
      event: { type: 'Normal', reason: 'Deploying', message: `started deployment ${name} of VM ${obs.gpuVm.metadata.name} on device ${deviceName}` },
    };
  };

  if (deployment === null) return deploy();

  switch (deployment.provisioningState) {
    case 'Accepted':
    case 'Running':
    case 'Deleting':
    case 'Unknown':
      conditions.VmProvisioned = deployingVm(obs.gpuVm, name);
      return awaitDeployment(obs, 'CreateVm', name, 'Provisioning', conditions, settings);
    case 'Succeeded':
      if (vm !== null) {
        // The VM exists but is not done yet (the device finishes it after the deployment): wait for it.
        conditions.VmProvisioned = condition('VmProvisioned', 'False', 'Deploying', `VM ${vm.name} is ${vm.provisioningState.toLowerCase()}`);
        return awaitDeployment(obs, 'CreateVm', name, 'Provisioning', conditions, settings);
      }
      // The deployment finished but the VM is gone (deleted outside the controller): deploy it again.
      return deploy();
    case 'Failed':
    case 'Canceled': {
      const failure = classifyDeploymentFailure(deployment.error, armRead(obs, 'vmDeploymentFailures'));
      const reason = failure.code === 'AllocationFailed' ? 'AllocationFailed' : 'DeploymentFailed';
      // With a GPU reserved, the device is listed again: on a full device this failure is capacity.
      const check = obs.device?.reservation !== undefined ? armRead(obs, 'capacityCheck') : undefined;
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

function decideDriver(obs: GpuVmObservation, conditions: Conditions, settings: PlanSettings): Decision | undefined {
  const { gpuVm, device } = obs;
  const install = gpuVm.spec.gpuDriver?.install ?? true;
  if (!install) {
    conditions.GpuDriverInstalled = condition('GpuDriverInstalled', 'True', 'NotRequested', 'spec.gpuDriver.install is false');
    return undefined;
  }
  const os = guestOsSupport(gpuVm.spec);
  const driver = chooseGpuDriver(gpuVm.spec, device?.softwareVersion);
  const previous = findCondition(gpuVm.status?.conditions, 'GpuDriverInstalled');
  if (previous?.status === 'True') {
    // Installed once: not read again (a removed extension is not something the controller watches for).
    conditions.GpuDriverInstalled = { type: previous.type, status: previous.status, reason: previous.reason, message: previous.message };
    return undefined;
  }
  const installedAs = (type: string, version: string): undefined => {
    conditions.GpuDriverInstalled = os.supported
      ? condition('GpuDriverInstalled', 'True', 'Installed', `${type} ${version} installed`)
      : condition('GpuDriverInstalled', 'True', 'UnsupportedGuestOs', `${type} ${version} installed; warning: ${os.message}`);
    return undefined;
  };

  const name = driverDeploymentName(gpuVm.metadata.uid ?? '');
  const op = gpuVm.status?.operation;
  const installing = (message: string): ConditionUpdate =>
    os.supported
      ? condition('GpuDriverInstalled', 'False', 'InstallingDriver', message)
      : condition('GpuDriverInstalled', 'False', 'UnsupportedGuestOs', `${message}; warning: ${os.message}`);
  // The same words while the deployment runs as when it was sent: a poll that finds it running writes nothing.
  const installingMessage = `installing ${driver.extensionType} ${driver.typeHandlerVersion} (${driver.basis})`;
  const deploy = (resumed = false): Decision => {
    conditions.GpuDriverInstalled = installing(installingMessage);
    return {
      action: { kind: 'deployGpuDriver', deploymentName: name, driver },
      phase: 'InstallingDriver',
      conditions,
      operation: resumed ? op : startOperation(obs, 'InstallGpuDriver', name),
      requeueAfterMs: settings.pollIntervalMs,
      event: os.supported
        ? { type: 'Normal', reason: 'InstallingDriver', message: `started deployment ${name} of ${driver.extensionType} ${driver.typeHandlerVersion}` }
        : { type: 'Warning', reason: 'UnsupportedGuestOs', message: os.message },
    };
  };

  // Our CreateVM has just made the VM: it has no extension yet, so the install starts without a read.
  if (op?.kind === 'CreateVm') return deploy();

  let extension: ArmExtension | null | undefined;
  let deployment: ArmDeployment | null;
  if (op?.kind === 'InstallGpuDriver' && op.deploymentName === name) {
    // Our install is recorded: its deployment says how it went (a succeeded deployment is a succeeded extension).
    deployment = armRead(obs, 'extensionDeployment');
    if (deployment === null) return deploy(true);
    if (deployment.provisioningState === 'Succeeded') return installedAs(driver.extensionType, driver.typeHandlerVersion);
  } else {
    extension = armRead(obs, 'extension');
    if (extension !== null && extension.provisioningState === 'Succeeded') return installedAs(extension.type, extension.typeHandlerVersion);
    if (extension !== null && extension.provisioningState !== 'Failed') {
      // The extension exists and is still installing, whatever its deployment says: never start a second install.
      conditions.GpuDriverInstalled = installing(`${extension.type} ${extension.typeHandlerVersion} is ${extension.provisioningState.toLowerCase()}`);
      return awaitDeployment(obs, 'InstallGpuDriver', name, 'InstallingDriver', conditions, settings);
    }
    deployment = armRead(obs, 'extensionDeployment');
  }

  const extensionFailed = extension?.provisioningState === 'Failed';
  const state = extensionFailed ? 'Failed' : (deployment?.provisioningState ?? 'Missing');
  if (state === 'Missing' || state === 'Succeeded') return deploy();
  if (state === 'Failed' || state === 'Canceled') {
    const failure = classifyDeploymentFailure(
      deployment?.error ?? (extension?.message !== undefined ? { code: 'VMExtensionProvisioningError', message: extension.message } : undefined),
      deployment !== null ? armRead(obs, 'extensionDeploymentFailures') : undefined,
    );
    conditions.GpuDriverInstalled = condition('GpuDriverInstalled', 'False', 'DriverInstallFailed', failureMessage(name, failure));
    const wait = op?.kind === 'InstallGpuDriver' ? retryWait(op, deployment?.timestamp, obs.now, settings) : 0;
    if (wait > 0) return { action: { kind: 'none' }, phase: 'InstallingDriver', conditions, operation: op, requeueAfterMs: wait };
    const retry = deploy();
    conditions.GpuDriverInstalled = condition('GpuDriverInstalled', 'False', 'DriverInstallFailed', `${failureMessage(name, failure)}; retrying`);
    return { ...retry, event: { type: 'Warning', reason: 'DriverInstallFailed', message: failureMessage(name, failure) } };
  }
  conditions.GpuDriverInstalled = installing(installingMessage);
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
  if (gpuVm.status?.operation?.kind === 'CreateVm') {
    // Deleting under a running CreateVM deployment races it: it would create the VM (or its disk) again.
    const creating = armRead(obs, 'vmDeployment');
    if (creating !== null && !deploymentFinished(creating.provisioningState)) {
      deleting(`waiting for deployment ${creating.name} (${creating.provisioningState.toLowerCase()}) to finish before deleting what it creates`);
      return { action: { kind: 'none' }, phase: 'Deleting', conditions, operation: gpuVm.status.operation, requeueAfterMs: settings.pollIntervalMs };
    }
  }
  const vm = armRead(obs, 'vm');
  if (vm !== null) {
    if (vm.tags[OWNER_TAG] !== gpuVm.metadata.uid) {
      deleting(`VM ${vm.name} is not managed by this GpuVm; leaving it`);
      return { action: { kind: 'removeFinalizer' }, phase: 'Deleting', conditions };
    }
    deleting(`deleting VM ${vm.name}`);
    if (vm.provisioningState === 'Deleting') {
      return { action: { kind: 'none' }, phase: 'Deleting', conditions, operation: gpuVm.status?.operation, requeueAfterMs: settings.pollIntervalMs };
    }
    return {
      action: { kind: 'deleteVm' },
      phase: 'Deleting',
      conditions,
      operation: startOperation(obs, 'DeleteVm'),
      requeueAfterMs: settings.pollIntervalMs,
      event: { type: 'Normal', reason: 'Deleting', message: `deleting VM ${vm.name} and its GPU driver extension` },
    };
  }
  if (armRead(obs, 'nicExists')) {
    const nic = nicName(gpuVm.metadata.name ?? '');
    deleting(`deleting NIC ${nic}`);
    return { action: { kind: 'deleteNic', nicName: nic }, phase: 'Deleting', conditions, operation: startOperation(obs, 'DeleteNic'), requeueAfterMs: settings.pollIntervalMs };
  }
  const disk = gpuVm.status?.osDiskName;
  // A managed disk outlives its VM (ARM managed-disk semantics): it goes after the VM, or it is left behind.
  if (disk !== undefined && disk !== '' && armRead(obs, 'osDiskExists')) {
    deleting(`deleting OS disk ${disk}`);
    return { action: { kind: 'deleteDisk', diskName: disk }, phase: 'Deleting', conditions, operation: startOperation(obs, 'DeleteDisk'), requeueAfterMs: settings.pollIntervalMs };
  }
  for (const key of ['vmDeployment', 'extensionDeployment'] as const) {
    const deployment = armRead(obs, key);
    if (deployment !== null) {
      deleting(`deleting deployment record ${deployment.name}`);
      return { action: { kind: 'deleteDeployment', deploymentName: deployment.name }, phase: 'Deleting', conditions, requeueAfterMs: settings.pollIntervalMs };
    }
  }
  deleting('device resources removed');
  return { action: { kind: 'removeFinalizer' }, phase: 'Deleting', conditions };
}

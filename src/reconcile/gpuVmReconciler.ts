import { hasFinalizer, isBeingDeleted } from '../api/deletion.js';
import { FINALIZER, type EdgeDevice, type GpuVm, type GpuVmStatus } from '../api/types.js';
import type { ArmVm, DeviceArm, LroStarted } from '../azure/deviceArm.js';
import { findCondition } from '../plan/conditions.js';
import { buildCreateVmDeployment, buildGpuDriverDeployment, type AdminCredentials } from '../azure/gpuVmDeployments.js';
import type { AdminSecret, AdminSecretReader } from './adminSecrets.js';
import { SecretRetryBackoff } from './secretRetry.js';
import { GPU_EXTENSION_NAME, OWNER_TAG, driverDeploymentName, nicName, vmDeploymentName } from '../naming/armNames.js';
import {
  deploymentFinished,
  leavesDeviceAlone,
  planGpuVm,
  type ArmView,
  type DeviceView,
  type GpuVmAction,
  type GpuVmObservation,
  type GpuVmPlan,
  type PlanSettings,
  type SecretView,
} from '../plan/gpuVmPlan.js';
import type { KubeStatusWriter } from '../kube/kubeWriter.js';
import type { EventRecorder } from '../kube/eventRecorder.js';
import { done, requeueAfter, type ReconcileOutcome } from '../runtime/controller.js';
import { actionFailureMessage, actionFailureReason, failedActionConditions, isThrottled, redactSecretsIn } from './actionFailures.js';
import { retryOnConflict } from './conflicts.js';
import { gpuVmDeviceView } from './deviceView.js';
import { FreshObjects } from './freshObjects.js';
import { unhandledReconcileRequest } from '../plan/reconcileRequest.js';
import { gpuVmSuspension, planSuspended, type Suspension } from '../plan/suspension.js';
import type { DeviceListings } from './deviceListings.js';
import { BY_DEVICE, type Caches, type Clock, type DeviceConnections, type Logger } from './ports.js';

export interface GpuVmReconcilerDeps {
  caches: Caches;
  connections: DeviceConnections;
  writer: KubeStatusWriter;
  events: EventRecorder;
  clock: Clock;
  log: Logger;
  settings: PlanSettings;
  /** Shared with the EdgeDevice reconciler: a failed CreateVM asks for the device to be listed again. */
  listings: DeviceListings;
  /** Admin-credential Secrets, read on demand in the GpuVm's namespace. */
  adminSecrets: AdminSecretReader;
}

/** The admin Secret is used once, to create the VM: a Ready GpuVm, one being deleted or one whose device is not connected does not read it. */
function needsAdminSecret(gpuVm: GpuVm, device: DeviceView | undefined): boolean {
  if (isBeingDeleted(gpuVm) || !hasFinalizer(gpuVm) || device?.connected !== true) return false;
  const ready = findCondition(gpuVm.status?.conditions, 'Ready')?.status === 'True';
  return !(ready && gpuVm.status?.vm?.resourceId !== undefined);
}

/** Which condition reports a failure of each action. */
const ACTION_CONDITION: Record<GpuVmAction['kind'], string> = {
  none: 'VmProvisioned',
  addFinalizer: 'VmProvisioned',
  removeFinalizer: 'VmProvisioned',
  deployVm: 'VmProvisioned',
  deleteDisk: 'VmProvisioned',
  deleteVm: 'VmProvisioned',
  deleteNic: 'VmProvisioned',
  deleteDeployment: 'VmProvisioned',
  deployGpuDriver: 'GpuDriverInstalled',
  startVm: 'PowerStateSynced',
  powerOffVm: 'PowerStateSynced',
  deallocateVm: 'PowerStateSynced',
};

function describeAction(action: GpuVmAction, gpuVm: GpuVm): string {
  const vm = gpuVm.metadata.name ?? '';
  switch (action.kind) {
    case 'deployVm':
    case 'deployGpuDriver':
      return `deployment ${action.deploymentName}`;
    case 'deleteDisk':
      return `deleting OS disk ${action.diskName}`;
    case 'deleteNic':
      return `deleting NIC ${action.nicName}`;
    case 'deleteDeployment':
      return `deleting deployment record ${action.deploymentName}`;
    default:
      return `${action.kind} of VM ${vm}`;
  }
}

/** The GpuVm's status already says, for its current generation, that it could deploy and waits for a GPU. */
function waitingInQueue(gpuVm: GpuVm): boolean {
  const reserved = findCondition(gpuVm.status?.conditions, 'GpuReserved');
  return (
    reserved?.status === 'False' &&
    (reserved.reason === 'InsufficientGpus' || reserved.reason === 'KubernetesHoldsGpus') &&
    reserved.observedGeneration === gpuVm.metadata.generation
  );
}

/** GpuVm reconcile: observe (cache + the few ARM reads this state needs) → plan → act. */
export class GpuVmReconciler {
  constructor(private readonly deps: GpuVmReconcilerDeps) {}

  private readonly fresh = new FreshObjects<GpuVm>();
  private readonly secretRetry = new SecretRetryBackoff();

  async reconcile(key: string, log: Logger = this.deps.log): Promise<ReconcileOutcome> {
    const cached = this.deps.caches.gpuVms.get(key);
    if (cached === undefined) {
      this.fresh.forget(key);
      this.secretRetry.reset(key);
      return done();
    }
    return retryOnConflict(log, key, () => this.reconcileObject(key, this.fresh.resolve(key, cached), log));
  }

  private async reconcileObject(key: string, gpuVm: GpuVm, log: Logger): Promise<ReconcileOutcome> {
    const device = this.deps.caches.devices.get(gpuVm.spec.deviceRef.name);
    const suspension = gpuVmSuspension(gpuVm, device);
    // Suspended: not even a Secret read or a device client; a spec or device change brings it back (watched).
    if (suspension.suspended) return this.recordSuspended(key, gpuVm, suspension);
    const deviceView = device === undefined ? undefined : gpuVmDeviceView(gpuVm, device, this.deps.caches.gpuVms.byIndex(BY_DEVICE, device.metadata.name ?? ''));
    const readSecret = (): Promise<AdminSecret> => this.deps.adminSecrets.read(gpuVm.metadata.namespace ?? '', gpuVm.spec.adminCredentialsSecretRef.name);
    let secret: AdminSecret = needsAdminSecret(gpuVm, deviceView) ? await readSecret() : { view: { state: 'ok' } };
    const connection = device === undefined ? undefined : this.deps.connections.arm(device);
    const arm = connection?.ok === true ? connection.client : undefined;

    const obs: GpuVmObservation = { now: new Date(this.deps.clock.now()), gpuVm, secret: secret.view };
    if (deviceView !== undefined) obs.device = deviceView;
    if (arm !== undefined && deviceView?.connected === true) {
      obs.arm = await this.observeArm(gpuVm, deviceView, secret.view, arm, unhandledReconcileRequest(gpuVm) !== undefined);
    }

    let plan = planGpuVm(obs, this.deps.settings);
    if (plan.action.kind === 'deployVm' && secret.credentials === undefined) {
      // A VM to create again (e.g. deleted outside the controller) for a GpuVm that was Ready: now its Secret is needed.
      secret = await readSecret();
      plan = planGpuVm({ ...obs, secret: secret.view }, this.deps.settings);
    }
    const { action } = plan;
    if (action.kind === 'addFinalizer' || action.kind === 'removeFinalizer') {
      const finalizers = (gpuVm.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
      const updated = await this.deps.writer.setFinalizers(gpuVm, action.kind === 'addFinalizer' ? [...finalizers, FINALIZER] : finalizers);
      this.fresh.remember(key, gpuVm, updated);
      return action.kind === 'addFinalizer' ? requeueAfter(0) : done();
    }
    let started: LroStarted | undefined;
    try {
      started = await this.act(action, gpuVm, device, arm, secret.credentials, log);
    } catch (err) {
      if (!isThrottled(err)) await this.recordActionFailure(key, gpuVm, plan, action, err, secret.credentials, log);
      throw redactSecretsIn(err, [secret.credentials?.password, secret.credentials?.sshPublicKey]);
    }
    if (plan.event !== undefined) {
      this.deps.events.record(gpuVm, plan.event.type, plan.event.reason, action.kind, plan.event.message);
    }
    const written = await this.deps.writer.writeGpuVmStatus(gpuVm, plan.status);
    if (written !== undefined) log.debug({ phase: plan.status.phase, action: action.kind }, 'status written');
    this.fresh.remember(key, gpuVm, written);
    if (findCondition(plan.status.conditions, 'Ready')?.status === 'True') this.deps.adminSecrets.forget(gpuVm.metadata.namespace ?? '', gpuVm.spec.adminCredentialsSecretRef.name);
    // ARM's Retry-After, when it gave one, says when the operation is worth looking at again.
    const wait = started?.retryAfterMs ?? this.withSecretRetry(key, secret, plan.requeueAfterMs);
    return wait === undefined ? done() : requeueAfter(wait);
  }

  private async recordSuspended(key: string, gpuVm: GpuVm, suspension: Extract<Suspension, { suspended: true }>): Promise<ReconcileOutcome> {
    const plan = planSuspended(gpuVm, suspension, new Date(this.deps.clock.now()));
    if (plan.event !== undefined) this.deps.events.record(gpuVm, plan.event.type, plan.event.reason, 'Suspend', plan.event.message);
    this.fresh.remember(key, gpuVm, await this.deps.writer.writeGpuVmStatus(gpuVm, plan.status));
    return done();
  }

  /**
   * A failed action is written down before the reconcile fails (and is retried with backoff): the action's
   * condition and a Warning Event name the ARM error code. The operation is not recorded as started.
   */
  private async recordActionFailure(
    key: string,
    gpuVm: GpuVm,
    plan: GpuVmPlan,
    action: GpuVmAction,
    err: unknown,
    credentials: AdminCredentials | undefined,
    log: Logger,
  ): Promise<void> {
    const reason = actionFailureReason(err);
    const message = actionFailureMessage(describeAction(action, gpuVm), err, [credentials?.password, credentials?.sshPublicKey]);
    const status: GpuVmStatus = {
      ...plan.status,
      conditions: failedActionConditions(plan.status.conditions, ACTION_CONDITION[action.kind], reason, message, gpuVm.metadata.generation ?? 0, new Date(this.deps.clock.now())),
    };
    const previousOperation = gpuVm.status?.operation;
    if (previousOperation === undefined) delete status.operation;
    else status.operation = previousOperation;
    this.deps.events.record(gpuVm, 'Warning', reason, action.kind, message);
    try {
      this.fresh.remember(key, gpuVm, await this.deps.writer.writeGpuVmStatus(gpuVm, status));
    } catch (writeErr) {
      log.warn({ err: String(writeErr) }, 'could not record the failed action in status');
    }
  }

  /** Admin Secrets are not watched: a GpuVm its Secret holds up looks again after a bounded backoff. */
  private withSecretRetry(key: string, secret: AdminSecret, requeueAfterMs: number | undefined): number | undefined {
    if (secret.view.state === 'ok') {
      this.secretRetry.reset(key);
      return requeueAfterMs;
    }
    const retry = this.secretRetry.next(key);
    return requeueAfterMs === undefined ? retry : Math.min(requeueAfterMs, retry);
  }

  /** Reads only what the planner needs for this GpuVm's state; each read is one ARM GET. */
  private async observeArm(gpuVm: GpuVm, device: DeviceView, secret: SecretView, arm: DeviceArm, refresh: boolean): Promise<ArmView> {
    const uid = gpuVm.metadata.uid ?? '';
    const name = gpuVm.metadata.name ?? '';
    const view: ArmView = {};
    if (!hasFinalizer(gpuVm) || leavesDeviceAlone(gpuVm, device)) return view;

    if (isBeingDeleted(gpuVm)) {
      if ((gpuVm.spec.deletionPolicy ?? 'Delete') === 'Orphan') return view;
      if (gpuVm.status?.operation?.kind === 'CreateVm') {
        // A CreateVM deployment still running would create again what is deleted under it: it finishes first.
        view.vmDeployment = (await arm.getDeployment(vmDeploymentName(uid))) ?? null;
        if (view.vmDeployment !== null && !deploymentFinished(view.vmDeployment.provisioningState)) return view;
      }
      view.vm = (await arm.getVm(name)) ?? null;
      if (view.vm !== null) return view;
      view.nicExists = await arm.nicExists(nicName(name));
      if (view.nicExists) return view;
      const disk = gpuVm.status?.osDiskName;
      if (disk !== undefined && disk !== '') {
        view.osDiskExists = await arm.diskExists(disk);
        if (view.osDiskExists) return view;
      }
      view.vmDeployment = (await arm.getDeployment(vmDeploymentName(uid))) ?? null;
      view.extensionDeployment = (await arm.getDeployment(driverDeploymentName(uid))) ?? null;
      return view;
    }

    if (secret.state !== 'ok') return view;
    const mayHaveVm = device.reservation !== undefined || gpuVm.status?.vm?.resourceId !== undefined || gpuVm.status?.operation !== undefined;
    if (!mayHaveVm) {
      // Before a GPU is reserved: could it deploy (its image is there, its name is free)? Asked once per
      // generation; a GpuVm already waiting in the queue is not read again until it gets its GPU.
      if (!device.namespaceAllowed || (waitingInQueue(gpuVm) && !refresh)) return view;
      view.vm = (await arm.getVm(name)) ?? null;
      if (view.vm === null) view.imageExists = await arm.imageExists(gpuVm.spec.image.name);
      return view;
    }

    const vm = (await arm.getVm(name)) ?? null;
    view.vm = vm;
    if (vm === null || vm.provisioningState === 'Failed' || vm.provisioningState === 'Creating') {
      const deployment = (await arm.getDeployment(vmDeploymentName(uid))) ?? null;
      view.vmDeployment = deployment;
      if (vm === null && deployment?.provisioningState === 'Succeeded') {
        // The deployment may have finished between the two reads: look at the VM again before concluding
        // it was deleted outside the controller (which would redeploy it).
        view.vm = (await arm.getVm(name)) ?? null;
        if (view.vm !== null) return this.observeVm(gpuVm, view.vm, view, arm, refresh);
      }
      if (deployment?.provisioningState === 'Failed') {
        view.vmDeploymentFailures = await arm.getDeploymentFailures(deployment.name);
        if (device.reservation !== undefined) {
          view.capacityCheck = this.deps.listings.capacityCheck(device.name, uid, deployment.timestamp ?? deployment.name);
        }
      }
      const deploymentFailed = deployment?.provisioningState === 'Failed' || deployment?.provisioningState === 'Canceled';
      if (vm === null || vm.provisioningState === 'Creating' || deploymentFailed) {
        if (deployment === null || deployment.provisioningState === 'Succeeded' || deploymentFailed) {
          view.imageExists = await arm.imageExists(gpuVm.spec.image.name);
          const oldDisk = gpuVm.status?.osDiskName;
          if (vm === null && oldDisk !== undefined && oldDisk !== '') view.osDiskExists = await arm.diskExists(oldDisk);
        }
        return view;
      }
    }
    return this.observeVm(gpuVm, vm, view, arm, refresh);
  }

  /** Reads about an existing VM: its GPU driver extension and its IP, as far as still unknown. */
  private async observeVm(gpuVm: GpuVm, vm: ArmVm, view: ArmView, arm: DeviceArm, refresh: boolean): Promise<ArmView> {
    const uid = gpuVm.metadata.uid ?? '';
    const name = gpuVm.metadata.name ?? '';
    if (vm.tags[OWNER_TAG] !== uid) return view;

    const driverInstalled = findCondition(gpuVm.status?.conditions, 'GpuDriverInstalled')?.status === 'True';
    if ((gpuVm.spec.gpuDriver?.install ?? true) && !driverInstalled) {
      const extension = (await arm.getExtension(name, GPU_EXTENSION_NAME)) ?? null;
      view.extension = extension;
      if (extension === null || extension.provisioningState !== 'Succeeded') {
        const deployment = (await arm.getDeployment(driverDeploymentName(uid))) ?? null;
        view.extensionDeployment = deployment;
        if (extension === null && deployment?.provisioningState === 'Succeeded') {
          // Finished between the two reads? Look again before concluding the extension was removed.
          view.extension = (await arm.getExtension(name, GPU_EXTENSION_NAME)) ?? null;
        }
        if (deployment?.provisioningState === 'Failed') view.extensionDeploymentFailures = await arm.getDeploymentFailures(deployment.name);
      }
    }
    const knownIp = gpuVm.status?.vm?.ipAddress;
    const nicId = vm.nicIds[0];
    // A reconcile-now request reads the IP again too: it is the one fact otherwise read only once.
    if ((knownIp === undefined || knownIp === '' || refresh) && nicId !== undefined) {
      const ip = await arm.getNicPrivateIp(nicId);
      if (ip !== undefined) view.nicIp = ip;
    }
    return view;
  }

  private async act(
    action: Exclude<GpuVmAction, { kind: 'addFinalizer' | 'removeFinalizer' }>,
    gpuVm: GpuVm,
    device: EdgeDevice | undefined,
    arm: DeviceArm | undefined,
    credentials: AdminCredentials | undefined,
    log: Logger,
  ): Promise<LroStarted | undefined> {
    const name = gpuVm.metadata.name ?? '';
    if (action.kind === 'none') return undefined;
    if (arm === undefined || device === undefined) throw new Error(`action ${action.kind} needs a connected device`);
    log.info({ device: device.metadata.name, action: action.kind }, 'acting on device');
    switch (action.kind) {
      case 'deployVm':
        if (credentials === undefined) throw new Error('deployVm needs admin credentials');
        return arm.putDeployment(action.deploymentName, buildCreateVmDeployment(gpuVm, credentials));
      case 'deployGpuDriver':
        return arm.putDeployment(action.deploymentName, buildGpuDriverDeployment(gpuVm, action.driver, device.status?.softwareVersion));
      case 'startVm':
        return arm.startVm(name);
      case 'powerOffVm':
        return arm.powerOffVm(name);
      case 'deallocateVm':
        return arm.deallocateVm(name);
      case 'deleteVm':
        return arm.deleteVm(name);
      case 'deleteNic':
        return arm.deleteNic(action.nicName);
      case 'deleteDisk':
        return arm.deleteDisk(action.diskName);
      case 'deleteDeployment':
        return arm.deleteDeployment(action.deploymentName);
    }
  }
}

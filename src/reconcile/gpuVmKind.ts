import { isRestError } from '@azure/core-rest-pipeline';
import type { EdgeDevice, GpuVm, GpuVmStatus } from '../api/types.js';
import type { DeviceArm } from '../azure/deviceArm.js';
import { buildCreateVmDeployment, buildGpuDriverDeployment, type AdminCredentials } from '../azure/gpuVmDeployments.js';
import { GPU_EXTENSION_NAME, driverDeploymentName, nicName, vmDeploymentName } from '../naming/armNames.js';
import { planGpuVm, type ArmView, type GpuVmAction, type GpuVmObservation, type GpuVmRead, type PlanSettings } from '../plan/gpuVmPlan.js';
import { gpuVmSuspension, planSuspended } from '../plan/suspension.js';
import type { KubeStatusWriter } from '../kube/kubeWriter.js';
import { done, requeueAfter, type ReconcileOutcome } from '../runtime/controller.js';
import { actionFailure, redactSecretsIn } from './actionFailures.js';
import type { AdminSecretReader } from './adminSecrets.js';
import { gpuVmDeviceView } from './deviceView.js';
import type { DeviceListings } from './deviceListings.js';
import { BY_DEVICE, gpuVmKey, type Caches, type Clock, type Connected, type DeviceConnections, type Logger } from './ports.js';
import { type ActionFailure, type Decision, type PlanStep, type ReconcileKind } from './reconcileLoop.js';
import { SecretRetryBackoff } from './secretRetry.js';
import { SNAPSHOT_MAX_AGE_MS, type DeviceSnapshots, type ImageSnapshots, type NicSnapshots, type VmSnapshots } from './deviceSnapshots.js';

export interface GpuVmKindDeps {
  caches: Caches;
  connections: DeviceConnections;
  writer: KubeStatusWriter;
  clock: Clock;
  settings: PlanSettings;
  /** Shared with the EdgeDevice reconciler: a failed CreateVM asks for the device to be listed again. */
  listings: DeviceListings;
  /** Admin-credential Secrets, read on demand in the GpuVm's namespace. */
  adminSecrets: AdminSecretReader;
  /** Shared with the EdgeDevice reconciler: the latest VM listing of each device. */
  snapshots: VmSnapshots;
  /** The latest image listing of each device. */
  images: ImageSnapshots;
  /** The latest NIC listing of each device. */
  nics: NicSnapshots;
}


/** One GpuVm reconcile: what the planner sees, and what only the actions use. */
interface GpuVmSession {
  key: string;
  obs: GpuVmObservation;
  device: EdgeDevice | undefined;
  /** The device's ARM client; connected on first use. */
  arm: () => Connected<DeviceArm> | undefined;
  credentials?: AdminCredentials;
}

type GpuVmDecision = Decision<GpuVmAction, GpuVmStatus>;

/** The actions that are a request to the device. */
type DeviceAction = Exclude<GpuVmAction, { kind: 'none' | 'addFinalizer' | 'removeFinalizer' }>;

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
      return `${action.kind} of VM ${gpuVm.metadata.name ?? ''}`;
  }
}

function connectedArm(session: GpuVmSession): DeviceArm {
  const arm = session.arm();
  if (arm === undefined) throw new Error(`EdgeDevice ${session.obs.gpuVm.spec.deviceRef.name} does not exist`);
  if (!arm.ok) throw new Error(`EdgeDevice ${session.obs.gpuVm.spec.deviceRef.name} is not connected: ${arm.reason}: ${arm.message}`);
  return arm.client;
}

const setArm = <K extends keyof ArmView>(session: GpuVmSession, key: K, value: ArmView[K]): void => {
  session.obs.arm = { ...session.obs.arm, [key]: value };
};

/** The GpuVm reconcile: the planner asks, these tables read and act, the shared loop (ReconcileLoop) does the rest. */
export class GpuVmKind implements ReconcileKind<GpuVm, GpuVmSession, GpuVmRead, GpuVmAction, GpuVmStatus> {
  readonly kind = 'GpuVm';
  private readonly secretRetry = new SecretRetryBackoff();
  /** When this process last sent a write for each GpuVm (by key). */
  private readonly lastWrite = new Map<string, number>();
  private forgotten = 0;

  constructor(private readonly deps: GpuVmKindDeps) {}

  cached(key: string): GpuVm | undefined {
    return this.deps.caches.gpuVms.get(key);
  }

  forget(key: string): void {
    this.secretRetry.reset(key);
    // A GpuVm made again under this name must not take its VM from a listing sent before the old one's deletion.
    if (this.lastWrite.has(key)) this.lastWrite.set(key, this.deps.clock.now());
    // Entries older than a listing may be are worth nothing: swept now and then so deleted names do not pile up.
    if (++this.forgotten % 1024 === 0) {
      const expired = this.deps.clock.now() - SNAPSHOT_MAX_AGE_MS;
      for (const [k, at] of this.lastWrite) if (at < expired) this.lastWrite.delete(k);
    }
  }

  begin(gpuVm: GpuVm): GpuVmSession {
    const device = this.deps.caches.devices.get(gpuVm.spec.deviceRef.name);
    const obs: GpuVmObservation = { now: new Date(this.deps.clock.now()), gpuVm };
    if (device !== undefined) obs.device = gpuVmDeviceView(gpuVm, device, this.deps.caches.gpuVms.byIndex(BY_DEVICE, device.metadata.name ?? ''));
    let arm: Connected<DeviceArm> | undefined;
    return { key: gpuVmKey(gpuVm), obs, device, arm: () => (device === undefined ? undefined : (arm ??= this.deps.connections.arm(device))) };
  }

  plan(session: GpuVmSession): PlanStep<GpuVmRead, GpuVmAction, GpuVmStatus> {
    const { gpuVm, now } = session.obs;
    // Suspended: not even a Secret read or a device client; a spec or device change brings it back (watched).
    const suspension = gpuVmSuspension(gpuVm, session.device);
    if (suspension.suspended) {
      const { status, event } = planSuspended(gpuVm, suspension, now);
      return { kind: 'plan', plan: { action: { kind: 'none' }, status, ...(event !== undefined ? { event: { ...event, action: 'Suspend' } } : {}) } };
    }
    return planGpuVm(session.obs, this.deps.settings);
  }

  /** The read table: each read is one ARM GET (or the admin Secret, or the device's capacity check). */
  async read(read: GpuVmRead, session: GpuVmSession): Promise<void> {
    const { gpuVm } = session.obs;
    const uid = gpuVm.metadata.uid ?? '';
    const name = gpuVm.metadata.name ?? '';
    switch (read) {
      case 'adminSecret': {
        const secret = await this.deps.adminSecrets.read(gpuVm.metadata.namespace ?? '', gpuVm.spec.adminCredentialsSecretRef.name);
        session.obs.secret = secret.view;
        if (secret.credentials !== undefined) session.credentials = secret.credentials;
        return;
      }
      case 'vm':
        return setArm(session, 'vm', (await connectedArm(session).getVm(name)) ?? null);
      case 'vmFromListing': {
        const vms = await this.listed(session, this.deps.snapshots, (arm) => arm.listVms());
        // ARM resource names compare without case.
        return setArm(session, 'vm', vms.find((v) => v.name.toLowerCase() === name.toLowerCase()) ?? null);
      }
      case 'imageExists':
        return setArm(session, 'imageExists', await connectedArm(session).imageExists(gpuVm.spec.image.name));
      case 'imageFromListing': {
        const images = await this.listed(session, this.deps.images, (arm) => arm.listImages());
        const image = gpuVm.spec.image.name.toLowerCase();
        return setArm(session, 'imageExists', images.some((i) => i.toLowerCase() === image));
      }
      case 'vmDeployment':
        return setArm(session, 'vmDeployment', (await connectedArm(session).getDeployment(vmDeploymentName(uid))) ?? null);
      case 'vmDeploymentFailures':
        return setArm(session, 'vmDeploymentFailures', await connectedArm(session).getDeploymentFailures(vmDeploymentName(uid)));
      case 'extension':
        return setArm(session, 'extension', (await connectedArm(session).getExtension(name, GPU_EXTENSION_NAME)) ?? null);
      case 'extensionDeployment':
        return setArm(session, 'extensionDeployment', (await connectedArm(session).getDeployment(driverDeploymentName(uid))) ?? null);
      case 'extensionDeploymentFailures':
        return setArm(session, 'extensionDeploymentFailures', await connectedArm(session).getDeploymentFailures(driverDeploymentName(uid)));
      case 'nicIp': {
        const nicId = session.obs.arm?.vm?.nicIds[0];
        return setArm(session, 'nicIp', nicId === undefined ? null : ((await connectedArm(session).getNicPrivateIp(nicId)) ?? null));
      }
      case 'nicIpFromListing': {
        // ARM resource ids compare without case.
        const nicId = session.obs.arm?.vm?.nicIds[0]?.toLowerCase();
        const nics = nicId === undefined ? [] : await this.listed(session, this.deps.nics, (arm) => arm.listNics());
        return setArm(session, 'nicIp', nics.find((nic) => nic.id.toLowerCase() === nicId)?.privateIp ?? null);
      }
      case 'nicExists':
        return setArm(session, 'nicExists', await connectedArm(session).nicExists(nicName(name)));
      case 'osDiskExists':
        return setArm(session, 'osDiskExists', await connectedArm(session).diskExists(gpuVm.status?.osDiskName ?? ''));
      case 'capacityCheck': {
        const deployment = session.obs.arm?.vmDeployment;
        const failure = deployment?.timestamp ?? deployment?.name ?? vmDeploymentName(uid);
        return setArm(session, 'capacityCheck', this.deps.listings.capacityCheck(gpuVm.spec.deviceRef.name, uid, failure));
      }
    }
  }

  /**
   * A listing of the device sent after this process last wrote to the VM (its VMs, images or NICs) and within
   * SNAPSHOT_MAX_AGE_MS: the GpuVms of a device share it, and a restart lists each device once.
   */
  private async listed<T>(session: GpuVmSession, snapshots: DeviceSnapshots<T>, list: (arm: DeviceArm) => Promise<T[]>): Promise<readonly T[]> {
    const arm = connectedArm(session);
    const now = this.deps.clock.now();
    const lastWrite = this.lastWrite.get(session.key);
    if (lastWrite !== undefined && lastWrite < now - SNAPSHOT_MAX_AGE_MS) this.lastWrite.delete(session.key);
    // Sent after the write, not in the same millisecond: a listing of that instant may predate it.
    const notBefore = Math.max(lastWrite === undefined ? 0 : lastWrite + 1, now - SNAPSHOT_MAX_AGE_MS);
    return (await snapshots.list(session.obs.gpuVm.spec.deviceRef.name, notBefore, () => list(arm))).items;
  }

  /** The action table: each action is one ARM request. */
  async act(action: GpuVmAction, session: GpuVmSession, log: Logger): Promise<{ retryAfterMs?: number } | undefined> {
    if (action.kind === 'none' || action.kind === 'addFinalizer' || action.kind === 'removeFinalizer') return undefined;
    const arm = connectedArm(session);
    log.info({ device: session.obs.gpuVm.spec.deviceRef.name, action: action.kind }, 'acting on device');
    try {
      return await this.send(action, session, arm);
    } finally {
      // A listing no longer stands in for a read of this VM unless sent after the device answered this write (one
      // sent while it was on its way may have been served before it), or after the attempt failed.
      this.lastWrite.set(session.key, this.deps.clock.now());
    }
  }

  private send(action: DeviceAction, session: GpuVmSession, arm: DeviceArm): Promise<{ retryAfterMs?: number } | undefined> {
    const { gpuVm } = session.obs;
    const name = gpuVm.metadata.name ?? '';
    switch (action.kind) {
      case 'deployVm':
        if (session.credentials === undefined) throw new Error('deployVm needs admin credentials');
        return arm.putDeployment(action.deploymentName, buildCreateVmDeployment(gpuVm, session.credentials));
      case 'deployGpuDriver':
        return arm.putDeployment(action.deploymentName, buildGpuDriverDeployment(gpuVm, action.driver, session.device?.status?.softwareVersion));
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

  /** A deployment PUT is recorded in status.operation before it is sent: a crash then resumes it, never repeats it blindly. */
  writesAhead(action: GpuVmAction): boolean {
    return action.kind === 'deployVm' || action.kind === 'deployGpuDriver';
  }

  writeStatus(gpuVm: GpuVm, status: GpuVmStatus): Promise<GpuVm | undefined> {
    return this.deps.writer.writeGpuVmStatus(gpuVm, status);
  }

  failed(action: GpuVmAction, decision: GpuVmDecision, session: GpuVmSession, err: unknown): ActionFailure<GpuVmStatus> {
    const { gpuVm, now } = session.obs;
    const secrets = [session.credentials?.password, session.credentials?.sshPublicKey];
    const failure = actionFailure(decision.status, ACTION_CONDITION[action.kind], describeAction(action, gpuVm), err, { generation: gpuVm.metadata.generation ?? 0, now }, secrets);
    // A deployment whose PUT may have reached the device (no answer, or a server error) keeps its intent, so the
    // next look reads it first. A PUT the device refused (4xx) did not start, nor did any other failed action.
    const refused = isRestError(err) && err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500;
    if (!this.writesAhead(action) || refused) {
      const previous = gpuVm.status?.operation;
      if (previous === undefined) delete failure.status.operation;
      else failure.status.operation = previous;
    }
    return failure;
  }

  scrub(err: unknown, session: GpuVmSession): unknown {
    return redactSecretsIn(err, [session.credentials?.password, session.credentials?.sshPublicKey]);
  }

  settled(key: string, decision: GpuVmDecision, session: GpuVmSession, retryAfterMs: number | undefined): ReconcileOutcome {
    // ARM's Retry-After, when it gave one, says when the operation is worth looking at again.
    const wait = retryAfterMs ?? this.withSecretRetry(key, session, decision.requeueAfterMs);
    if (wait === undefined) return done();
    // A poll of an operation in flight goes before other work; a recheck of something outside the controller
    // (a device, a Secret, an image, a GPU to free up) does not.
    return requeueAfter(wait, { priority: decision.status.operation !== undefined || retryAfterMs !== undefined ? 'high' : 'normal' });
  }

  /** Admin Secrets are not watched: a GpuVm its Secret holds up looks again after a bounded backoff. */
  private withSecretRetry(key: string, session: GpuVmSession, requeueAfterMs: number | undefined): number | undefined {
    const state = session.obs.secret?.state ?? 'ok';
    if (state === 'ok') {
      this.secretRetry.reset(key);
      return requeueAfterMs;
    }
    const retry = this.secretRetry.next(key);
    return requeueAfterMs === undefined ? retry : Math.min(requeueAfterMs, retry);
  }
}

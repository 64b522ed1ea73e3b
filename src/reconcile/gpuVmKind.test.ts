import { RestError } from '@azure/core-rest-pipeline';
import { ApiException, type V1Secret } from '@kubernetes/client-node';
import type { ArmVm } from '../arm/resources.js';
import { API_VERSION, FINALIZER, type EdgeDevice, type EdgeDeviceStatus, type GpuVm, type GpuVmStatus } from '../api/types.js';
import type { EventRecorder } from '../kube/eventRecorder.js';
import { statusUnchanged, type KubeStatusWriter } from '../kube/kubeWriter.js';
import { driverDeploymentName, vmDeploymentName } from '../naming/armNames.js';
import { findCondition } from '../plan/conditions.js';
import type { ReconcileOutcome } from '../runtime/controller.js';
import { noopLogger } from '../runtime/logger.js';
import { FakeClock } from '../../test/support/fakes/fakeClock.js';
import { FakeDeviceArm } from '../../test/support/fakes/fakeDeviceArm.js';
import { AdminSecretReader } from './adminSecrets.js';
import { DeviceListings } from './deviceListings.js';
import { ImageSnapshots, NicSnapshots, VmSnapshots } from './deviceSnapshots.js';
import { GpuVmKind } from './gpuVmKind.js';
import { ReconcileLoop } from './reconcileLoop.js';
import { BY_DEVICE, type Caches, type DeviceConnections } from './ports.js';

const UID = '0b6c1f3e-0000-4000-8000-000000000001';
const KEY = 'team/vm1';
const VM_DEPLOYMENT = vmDeploymentName(UID);
const DRIVER_DEPLOYMENT = driverDeploymentName(UID);

/** The API server and informer caches of one GpuVm and its device, in memory; every status write lands in `log`. */
class World implements KubeStatusWriter, EventRecorder {
  readonly clock = new FakeClock(Date.parse('2026-03-01T12:00:00Z'));
  readonly arm = new FakeDeviceArm();
  readonly events: string[] = [];
  gpuVm: GpuVm;
  device: EdgeDevice;
  /** The next GpuVm status write loses an optimistic-concurrency race. */
  conflictNext = false;
  private version = 1;

  constructor() {
    this.gpuVm = {
      apiVersion: API_VERSION,
      kind: 'GpuVm',
      metadata: { name: 'vm1', namespace: 'team', uid: UID, generation: 1, resourceVersion: '1', finalizers: [FINALIZER], creationTimestamp: new Date('2026-03-01T11:00:00Z') },
      spec: {
        deviceRef: { name: 'dev-a' },
        size: 'Standard_NC4as_T4_v3',
        image: { name: 'ubuntu', osType: 'Linux', os: { name: 'Ubuntu', version: '18.04' } },
        adminCredentialsSecretRef: { name: 'vm1-admin' },
      },
    };
    this.device = {
      apiVersion: API_VERSION,
      kind: 'EdgeDevice',
      metadata: { name: 'dev-a', uid: 'dev-uid', generation: 1, resourceVersion: '1' },
      spec: {
        arm: { endpoint: 'https://management.dev-a.example', loginEndpoint: 'https://login.dev-a.example', subscriptionId: 's', resourceGroup: 'rg', credentialsSecretRef: { name: 'dev-a-arm' } },
      },
      status: this.deviceStatus([]),
    };
  }

  deviceStatus(allocations: NonNullable<EdgeDeviceStatus['allocations']>): EdgeDeviceStatus {
    return {
      conditions: [{ type: 'Connected', status: 'True', reason: 'Connected', message: 'ok', lastTransitionTime: '2026-03-01T11:00:00Z', observedGeneration: 1 }],
      gpus: { total: 2, free: 2 - allocations.length, vms: 0, kubernetes: 0 },
      allocations,
    };
  }

  reserve(): void {
    this.device = { ...this.device, status: this.deviceStatus([{ uid: UID, gpuVm: KEY, state: 'Reserved' }]) };
  }

  /** The GpuVm is gone from the cache (deleted). */
  gone = false;

  readonly caches: Caches = {
    gpuVms: { get: (key) => (key === KEY && !this.gone ? this.gpuVm : undefined), byIndex: (index, value) => (index === BY_DEVICE && value === 'dev-a' ? [this.gpuVm] : []) },
    devices: { get: (name) => (name === 'dev-a' ? this.device : undefined), byIndex: () => [] },
  };

  readonly connections: DeviceConnections = { arm: () => ({ ok: true, client: this.arm }), azure: () => undefined };

  async writeGpuVmStatus(gpuVm: GpuVm, status: GpuVmStatus): Promise<GpuVm | undefined> {
    if (this.conflictNext) {
      this.conflictNext = false;
      throw new ApiException(409, 'Conflict', {}, {});
    }
    if (statusUnchanged(gpuVm.status, status)) return undefined;
    this.arm.calls.push(`status ${status.phase ?? '-'} ${status.operation?.kind ?? '-'}`);
    this.gpuVm = { ...gpuVm, metadata: { ...gpuVm.metadata, resourceVersion: String(++this.version) }, status };
    return this.gpuVm;
  }

  writeEdgeDeviceStatus(): Promise<EdgeDevice | undefined> {
    throw new Error('not in this test');
  }

  async setFinalizers<T extends GpuVm | EdgeDevice>(object: T, finalizers: string[]): Promise<T> {
    return { ...object, metadata: { ...object.metadata, finalizers } };
  }

  record(_target: unknown, type: string, reason: string): void {
    this.events.push(`${type} ${reason}`);
  }

  readonly snapshots = new VmSnapshots(this.clock);

  /** Admin Secret GETs made. */
  secretFetches = 0;

  reconciler(): { reconcile(key: string): Promise<ReconcileOutcome> } {
    const secret: V1Secret = { data: { username: Buffer.from('azureuser').toString('base64'), password: Buffer.from('s3cret-Passw0rd').toString('base64') } };
    const fetch = async (): Promise<{ kind: 'found'; secret: V1Secret }> => {
      this.secretFetches++;
      return { kind: 'found', secret };
    };
    const kind = new GpuVmKind({
      caches: this.caches,
      connections: this.connections,
      writer: this,
      clock: this.clock,
      settings: { pollIntervalMs: 1000, retryBaseMs: 1000, retryMaxMs: 8000, recheckMs: 60_000 },
      listings: new DeviceListings(() => undefined),
      snapshots: this.snapshots,
      images: new ImageSnapshots(this.clock),
      nics: new NicSnapshots(this.clock),
      adminSecrets: new AdminSecretReader(fetch, this.clock),
    });
    return new ReconcileLoop(kind, this, this, noopLogger);
  }
}

describe('GpuVmKind in the reconcile loop: the reads the planner asks for, and nothing more', () => {
  it('takes a GpuVm to Ready at the floor: pre-check from the device listings, then each deployment PUT with no read before it, polls of the deployment only', async () => {
    const w = new World();
    const r = w.reconciler();

    await r.reconcile(KEY);
    // The name is free and the image there: both from listings of the device, which its other GpuVms share.
    expect(w.arm.take()).toEqual(['listVms', 'listImages', 'status WaitingForGpu -']);

    // Already waiting at this generation: a look before the reservation reads nothing.
    await r.reconcile(KEY);
    expect(w.arm.take()).toEqual([]);

    w.reserve();
    await r.reconcile(KEY);
    // The intent is written before the PUT.
    expect(w.arm.take()).toEqual(['status Provisioning CreateVm', `putDeployment ${VM_DEPLOYMENT}`]);

    await r.reconcile(KEY);
    expect(w.arm.take()).toEqual([`getDeployment ${VM_DEPLOYMENT}`]);

    w.arm.finish(VM_DEPLOYMENT, UID);
    await r.reconcile(KEY);
    expect(w.arm.take()).toEqual([`getDeployment ${VM_DEPLOYMENT}`, 'status InstallingDriver InstallGpuDriver', `putDeployment ${DRIVER_DEPLOYMENT}`]);

    await r.reconcile(KEY);
    expect(w.arm.take()).toEqual([`getDeployment ${DRIVER_DEPLOYMENT}`]);

    w.arm.finish(DRIVER_DEPLOYMENT, UID);
    w.clock.advance(1000);
    await r.reconcile(KEY);
    // The driver installed: nothing of ours is left running, so listings sent now say what the VM is and its IP.
    expect(w.arm.take()).toEqual([`getDeployment ${DRIVER_DEPLOYMENT}`, 'listVms', 'listNics', 'status Ready -']);
    expect(findCondition(w.gpuVm.status?.conditions, 'Ready')).toMatchObject({ status: 'True' });
    expect(w.gpuVm.status?.vm).toMatchObject({ ipAddress: '10.0.0.4', powerState: 'running', provisioningState: 'Succeeded' });

    // Ready: a look takes the VM from that listing (sent after the last write), and writes nothing.
    await r.reconcile(KEY);
    expect(w.arm.take()).toEqual([]);
    // A minute later the listing is too old to stand in for a read.
    w.clock.advance(60_001);
    await r.reconcile(KEY);
    expect(w.arm.take()).toEqual(['listVms']);
  });

  it('resumes an intent whose PUT failed by reading its deployment first, and sends the same attempt', async () => {
    const w = new World();
    const r = w.reconciler();
    await r.reconcile(KEY);
    w.reserve();
    w.arm.take();
    w.arm.failOnce.set('putDeployment', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await expect(r.reconcile(KEY)).rejects.toThrow(/socket hang up/);
    // The intent stays (the PUT may have reached the device), with the failure in a condition and an Event.
    expect(w.gpuVm.status?.operation).toMatchObject({ kind: 'CreateVm', deploymentName: VM_DEPLOYMENT, attempts: 1 });
    expect(findCondition(w.gpuVm.status?.conditions, 'VmProvisioned')).toMatchObject({ status: 'False', reason: 'ECONNRESET' });
    expect(w.events).toContain('Warning ECONNRESET');
    w.arm.take();

    await r.reconcile(KEY);
    expect(w.arm.take()).toEqual([`getDeployment ${VM_DEPLOYMENT}`, 'status Provisioning CreateVm', `putDeployment ${VM_DEPLOYMENT}`]);
    expect(w.gpuVm.status?.operation?.attempts).toBe(1);
    // Once accepted, the next look finds it running and sends nothing.
    await r.reconcile(KEY);
    expect(w.arm.take()).toEqual([`getDeployment ${VM_DEPLOYMENT}`]);
  });

  it('drops the intent of a PUT the device refused with a 4xx: it did not start', async () => {
    const w = new World();
    const r = w.reconciler();
    await r.reconcile(KEY);
    w.reserve();
    w.arm.failOnce.set('putDeployment', new RestError('bad size', { code: 'InvalidParameter', statusCode: 400 }));
    await expect(r.reconcile(KEY)).rejects.toThrow(/bad size/);
    expect(w.gpuVm.status?.operation).toBeUndefined();
    expect(findCondition(w.gpuVm.status?.conditions, 'VmProvisioned')).toMatchObject({ status: 'False', reason: 'InvalidParameter' });
  });

  it('sends no PUT when the intent could not be written', async () => {
    const w = new World();
    const r = w.reconciler();
    await r.reconcile(KEY);
    w.reserve();
    w.arm.take();
    w.conflictNext = true;
    expect(await r.reconcile(KEY)).toEqual({ kind: 'requeueAfter', ms: 100 });
    expect(w.arm.take()).toEqual([]);
  });

  it('a GpuVm made again under a deleted one\'s name takes no listing sent before the deletion', async () => {
    const w = new World();
    const r = w.reconciler();
    await r.reconcile(KEY);
    w.reserve();
    await r.reconcile(KEY);
    w.clock.advance(1000);
    // A listing after the PUT, while the old VM was still there.
    const oldVm: ArmVm = { name: 'vm1', id: '/vms/vm1', vmSize: 'Standard_NC4as_T4_v3', provisioningState: 'Succeeded', powerState: 'running', tags: { 'gpuvm.io-uid': UID }, nicIds: [] };
    w.snapshots.record('dev-a', { at: w.clock.now(), items: [oldVm] });
    w.clock.advance(1000);
    w.gone = true;
    await r.reconcile(KEY);
    w.gone = false;
    w.arm.take();
    w.clock.advance(1000);
    w.device = { ...w.device, status: w.deviceStatus([]) };
    w.gpuVm = { ...w.gpuVm, metadata: { ...w.gpuVm.metadata, uid: '0b6c1f3e-0000-4000-8000-000000000002', resourceVersion: '100' }, status: {} };
    await r.reconcile(KEY);
    // A new listing, which no longer has the old VM: no name conflict.
    expect(w.arm.take()).toEqual(['listVms', 'listImages', 'status WaitingForGpu -']);
  });

  it('reads the admin Secret only while the VM is to be created, and not at all while suspended', async () => {
    const w = new World();
    const r = w.reconciler();
    w.gpuVm = { ...w.gpuVm, spec: { ...w.gpuVm.spec, suspend: true } };
    await r.reconcile(KEY);
    expect(w.secretFetches).toBe(0);
    expect(w.arm.take()).toEqual(['status - -']);
    w.gpuVm = { ...w.gpuVm, spec: { ...w.gpuVm.spec, suspend: false } };
    await r.reconcile(KEY);
    expect(w.secretFetches).toBe(1);
  });
});

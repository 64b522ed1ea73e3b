import { API_VERSION, FINALIZER, RECONCILE_REQUESTED_ANNOTATION, type GpuVm } from '../api/types.js';
import { deviceViewFixture } from '../../test/support/deviceViewFixture.js';
import { decidedGpuVmPlan } from '../../test/support/decidedGpuVmPlan.js';
import type { ArmDeployment, ArmVm } from '../arm/resources.js';
import { findCondition } from './conditions.js';
import { OWNER_TAG, driverDeploymentName, vmDeploymentName } from '../naming/armNames.js';
import {
  planGpuVm,
  type ArmView,
  type GpuVmObservation,
  type PlanSettings,
} from './gpuVmPlan.js';

const UID = '11111111-2222-3333-4444-555555555555';
const NOW = new Date('2026-03-01T12:00:00Z');
const SETTINGS: PlanSettings = { pollIntervalMs: 5000, retryBaseMs: 10_000, retryMaxMs: 80_000, recheckMs: 30_000 };

function gpuVm(overrides: { spec?: Partial<GpuVm['spec']>; metadata?: Partial<GpuVm['metadata']>; status?: GpuVm['status'] } = {}): GpuVm {
  return {
    apiVersion: API_VERSION,
    kind: 'GpuVm',
    metadata: { name: 'vm1', namespace: 'team', uid: UID, generation: 1, finalizers: [FINALIZER], creationTimestamp: new Date('2026-03-01T11:00:00Z'), ...overrides.metadata },
    spec: {
      deviceRef: { name: 'dev-a' },
      size: 'Standard_NC4as_T4_v3',
      image: { name: 'ubuntu', osType: 'Linux', os: { name: 'Ubuntu', version: '18.04' } },
      adminCredentialsSecretRef: { name: 'vm1-admin' },
      powerState: 'Running',
      deletionPolicy: 'Delete',
      gpuDriver: { install: true, typeHandlerVersion: '' },
      ...overrides.spec,
    },
    ...(overrides.status !== undefined ? { status: overrides.status } : {}),
  };
}

const device = deviceViewFixture;

function vm(overrides: Partial<ArmVm> = {}): ArmVm {
  return {
    name: 'vm1',
    id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1',
    vmSize: 'Standard_NC4as_T4_v3',
    provisioningState: 'Succeeded',
    powerState: 'running',
    tags: { [OWNER_TAG]: UID },
    nicIds: ['/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/vm1-nic'],
    ...overrides,
  };
}

const deployment = (name: string, provisioningState: ArmDeployment['provisioningState'], extra: Partial<ArmDeployment> = {}): ArmDeployment => ({
  name,
  provisioningState,
  ...extra,
});

const installed = { name: 'gpu-driver', type: 'NvidiaGpuDriverLinux', typeHandlerVersion: '1.8', provisioningState: 'Succeeded' };
const readyArm: ArmView = { vm: vm(), extension: installed, nicIp: '10.57.51.61' };
/** What the pre-check before a reservation reads: the VM name is free and the image is there. */
const precheckPassed: ArmView = { vm: null, imageExists: true };
/** The device, listed again after a failed CreateVM, still backs the reservation. */
const backed = { state: 'done', reserved: true } as const;

function observe(o: Partial<GpuVmObservation> & { arm?: ArmView }): GpuVmObservation {
  return { now: NOW, gpuVm: gpuVm(), device: device(), secret: { state: 'ok' }, ...o };
}

const step = (o: Partial<GpuVmObservation>) => planGpuVm(observe(o), SETTINGS);
const plan = (o: Partial<GpuVmObservation>) => decidedGpuVmPlan(observe(o), SETTINGS);
const cond = (p: ReturnType<typeof plan>, type: string) => findCondition(p.status.conditions, type);

describe('planGpuVm: before any ARM write', () => {
  it('adds the finalizer first', () => {
    const p = plan({ gpuVm: gpuVm({ metadata: { finalizers: [] } }) });
    expect(p.action).toEqual({ kind: 'addFinalizer' });
  });

  it.each([
    ['the device does not exist', { device: undefined }, 'GpuReserved', 'DeviceNotFound', /EdgeDevice dev-a does not exist/],
    ['the device is unreachable', { device: device({ connected: false, connectionMessage: 'token request failed' }) }, 'GpuReserved', 'DeviceUnreachable', /token request failed/],
    ['the admin Secret is missing', { secret: { state: 'missing' as const } }, 'VmProvisioned', 'SecretNotFound', /Secret team\/vm1-admin .*does not exist/],
    ['the admin Secret lacks keys', { secret: { state: 'invalid' as const, problem: 'key password or sshPublicKey is missing' } }, 'VmProvisioned', 'SecretInvalid', /sshPublicKey is missing/],
    ['the image does not exist', { arm: { vm: null, vmDeployment: null, imageExists: false } }, 'VmProvisioned', 'ImageNotFound', /image ubuntu does not exist/],
  ])('makes no ARM write when %s', (_what, o, type, reason, message) => {
    const p = plan(o);
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, type)).toMatchObject({ status: 'False', reason });
    expect(cond(p, type)?.message).toMatch(message);
    expect(cond(p, 'Ready')).toMatchObject({ status: 'False', reason });
    expect(cond(p, 'Reconciling')?.status).toBe('True');
    expect(cond(p, 'Stalled')?.status).toBe('False');
  });
});

describe('planGpuVm: admission', () => {
  it('waits in the queue without a reservation, naming its position and the holders', () => {
    const p = plan({ device: device({ reservation: undefined, freeGpus: 0, queuePosition: 2, holders: ['team/a', 'team/b'] }), arm: precheckPassed });
    expect(p.action).toEqual({ kind: 'none' });
    expect(p.status.phase).toBe('WaitingForGpu');
    expect(cond(p, 'GpuReserved')).toMatchObject({ status: 'False', reason: 'InsufficientGpus' });
    expect(cond(p, 'GpuReserved')?.message).toMatch(/position 2 in the queue .* 0 of 2 free \(held by team\/a and team\/b\)/);
  });

  it('refuses with KubernetesHoldsGpus and the fix when Kubernetes holds the GPUs', () => {
    const p = plan({ device: device({ reservation: undefined, freeGpus: 0, kubernetesConfigured: true, kubernetesGpus: 2 }), arm: precheckPassed });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'GpuReserved')).toMatchObject({ status: 'False', reason: 'KubernetesHoldsGpus' });
    expect(cond(p, 'GpuReserved')?.message).toMatch(/spec\.kubernetes\.state: NotConfigured/);
    expect(cond(p, 'Ready')?.reason).toBe('KubernetesHoldsGpus');
  });

  it('does not need a reservation for a VM that already holds its GPU', () => {
    const p = plan({ device: device({ reservation: undefined, freeGpus: 0 }), arm: readyArm });
    expect(cond(p, 'GpuReserved')).toMatchObject({ status: 'True', reason: 'GpuHeld' });
    expect(cond(p, 'Ready')?.status).toBe('True');
  });
});

describe('planGpuVm: VM deployment', () => {
  const name = vmDeploymentName(UID);

  it('asks for each read its decision needs, one at a time', () => {
    expect(step({ arm: {} })).toEqual({ kind: 'read', read: 'vm' });
    expect(step({ arm: { vm: null } })).toEqual({ kind: 'read', read: 'vmDeployment' });
    expect(step({ arm: { vm: null, vmDeployment: null } })).toEqual({ kind: 'read', read: 'imageExists' });
    expect(step({ secret: undefined, arm: {} })).toEqual({ kind: 'read', read: 'adminSecret' });
  });

  it('takes the pre-check from device listings, and rechecks a failed one by GET (a fix made since is seen at once)', () => {
    const unreserved = device({ reservation: undefined });
    expect(step({ device: unreserved, arm: {} })).toEqual({ kind: 'read', read: 'vmFromListing' });
    expect(step({ device: unreserved, arm: { vm: null } })).toEqual({ kind: 'read', read: 'imageFromListing' });
    const missing = plan({ device: unreserved, arm: { vm: null, imageExists: false } });
    expect(cond(missing, 'VmProvisioned')).toMatchObject({ status: 'False', reason: 'ImageNotFound' });
    expect(step({ gpuVm: gpuVm({ status: missing.status }), device: unreserved, arm: { vm: null } })).toEqual({ kind: 'read', read: 'imageExists' });
    const conflict = plan({ device: unreserved, arm: { vm: vm({ tags: {} }) } });
    expect(step({ gpuVm: gpuVm({ status: conflict.status }), device: unreserved, arm: {} })).toEqual({ kind: 'read', read: 'vm' });
  });

  it('reads nothing of a GpuVm already waiting in the queue at this generation, and nothing before its first PUT once a GPU is reserved', () => {
    const waiting = plan({ device: device({ reservation: undefined }), arm: precheckPassed });
    const queued = gpuVm({ status: waiting.status });
    expect(plan({ gpuVm: queued, device: device({ reservation: undefined }), arm: {} }).status.phase).toBe('WaitingForGpu');
    const first = plan({ gpuVm: queued, arm: {} });
    expect(first.action).toEqual({ kind: 'deployVm', deploymentName: name });
    // A spec change (new generation) checks again.
    expect(step({ gpuVm: gpuVm({ metadata: { generation: 2 }, status: waiting.status }), device: device({ reservation: undefined }), arm: {} })).toEqual({ kind: 'read', read: 'vmFromListing' });
  });

  it('polls only its own running deployment, then makes the next PUT without reading the VM', () => {
    const creating = { kind: 'CreateVm', deploymentName: name, startedAt: '2026-03-01T11:59:58Z', attempts: 1 };
    expect(step({ gpuVm: gpuVm({ status: { operation: creating } }), arm: {} })).toEqual({ kind: 'read', read: 'vmDeployment' });
    const polled = plan({ gpuVm: gpuVm({ status: { operation: creating } }), arm: { vmDeployment: deployment(name, 'Running') } });
    expect(polled).toMatchObject({ action: { kind: 'none' }, status: { operation: creating } });
    const driver = plan({ gpuVm: gpuVm({ status: { operation: creating } }), arm: { vmDeployment: deployment(name, 'Succeeded') } });
    expect(driver.action).toMatchObject({ kind: 'deployGpuDriver', deploymentName: driverDeploymentName(UID) });
    expect(cond(driver, 'VmProvisioned')?.status).toBe('True');
    // The intent was written but the PUT never reached the device: the same PUT, the same attempt, no other read.
    const resumed = plan({ gpuVm: gpuVm({ status: { operation: creating } }), arm: { vmDeployment: null } });
    expect(resumed.action).toEqual({ kind: 'deployVm', deploymentName: name });
    expect(resumed.status.operation).toEqual(creating);
  });

  it('starts the CreateVM deployment under a name derived from the UID and records it', () => {
    const p = plan({ arm: { vm: null, vmDeployment: null, imageExists: true } });
    expect(p.action).toEqual({ kind: 'deployVm', deploymentName: `gpuvm-vm-${UID}` });
    expect(p.status.operation).toEqual({ kind: 'CreateVm', deploymentName: name, startedAt: '2026-03-01T12:00:00Z', attempts: 1 });
    expect(p.status.phase).toBe('Provisioning');
    expect(cond(p, 'VmProvisioned')).toMatchObject({ status: 'False', reason: 'Deploying' });
    expect(p.event).toMatchObject({ type: 'Normal', reason: 'Deploying' });
  });

  it('resumes a running deployment by name instead of starting another', () => {
    const p = plan({ arm: { vm: null, vmDeployment: deployment(name, 'Running') } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(p.status.operation).toMatchObject({ kind: 'CreateVm', deploymentName: name });
    expect(p.requeueAfterMs).toBe(5000);
  });

  const allocationFailed = deployment(name, 'Failed', {
    timestamp: '2026-03-01T11:59:55Z',
    error: { code: 'DeploymentFailed', message: 'wrapped', details: [{ code: 'ResourceDeploymentFailure', message: 'wrapped', details: [{ code: 'AllocationFailed', message: 'no GPU is free' }] }] },
  });

  it('backs off after AllocationFailed, then redeploys with the attempt counted', () => {
    const op = { kind: 'CreateVm', deploymentName: name, startedAt: '2026-03-01T11:59:00Z', attempts: 2 };
    const waiting = plan({ gpuVm: gpuVm({ status: { operation: op } }), arm: { vm: null, vmDeployment: allocationFailed, vmDeploymentFailures: [], capacityCheck: backed } });
    expect(waiting.action).toEqual({ kind: 'none' });
    expect(waiting.requeueAfterMs).toBe(15_000); // 10 s · 2^(2-1) after the failure at 11:59:55
    expect(cond(waiting, 'VmProvisioned')).toMatchObject({ reason: 'AllocationFailed' });
    expect(cond(waiting, 'VmProvisioned')?.message).toMatch(/AllocationFailed: no GPU is free/);
    // Each failed attempt is a Warning Event once; looking again while it waits adds none.
    expect(waiting.event).toMatchObject({ type: 'Warning', reason: 'AllocationFailed' });
    expect(waiting.event?.message).toMatch(/no GPU is free; retried in 15s$/);
    const again = plan({ gpuVm: gpuVm({ status: { operation: op, conditions: waiting.status.conditions } }), arm: { vm: null, vmDeployment: allocationFailed, vmDeploymentFailures: [], capacityCheck: backed } });
    expect(again.event).toBeUndefined();

    const later = decidedGpuVmPlan(
        observe({ now: new Date('2026-03-01T12:00:20Z'), gpuVm: gpuVm({ status: { operation: op } }), arm: { vm: null, vmDeployment: allocationFailed, vmDeploymentFailures: [], capacityCheck: backed, imageExists: true } }),
        SETTINGS,
    );
    expect(later.action).toEqual({ kind: 'deployVm', deploymentName: name });
    expect(later.status.operation?.attempts).toBe(3);
  });

  it('stalls on a failure a retry cannot fix, until the spec changes', () => {
    const invalid = deployment(name, 'Failed', { error: { code: 'DeploymentFailed', message: 'x', details: [{ code: 'InvalidTemplate', message: 'unknown function foo' }] } });
    const op = { kind: 'CreateVm', deploymentName: name, startedAt: '2026-03-01T11:00:00Z', attempts: 1 };
    const first = plan({ gpuVm: gpuVm({ status: { operation: op } }), arm: { vm: null, vmDeployment: invalid, vmDeploymentFailures: [], capacityCheck: backed, imageExists: true } });
    expect(first.action).toEqual({ kind: 'none' });
    expect(first.status.phase).toBe('Failed');
    expect(cond(first, 'Stalled')).toMatchObject({ status: 'True', reason: 'DeploymentFailed' });
    expect(cond(first, 'Reconciling')?.status).toBe('False');
    expect(cond(first, 'Ready')?.message).toMatch(/InvalidTemplate: unknown function foo; fix the spec to retry/);

    const again = plan({ gpuVm: gpuVm({ status: first.status }), arm: { vm: null, vmDeployment: invalid, vmDeploymentFailures: [], capacityCheck: backed, imageExists: true } });
    expect(again.action).toEqual({ kind: 'none' });

    const edited = plan({ gpuVm: gpuVm({ metadata: { generation: 2 }, status: first.status }), arm: { vm: null, vmDeployment: invalid, vmDeploymentFailures: [], capacityCheck: backed, imageExists: true } });
    expect(edited.action).toEqual({ kind: 'deployVm', deploymentName: name });
  });

  it('after a failed CreateVM, waits for the device to be listed again before deciding anything', () => {
    const failedVm = vm({ provisioningState: 'Failed', powerState: 'unknown' });
    const p = plan({ arm: { vm: failedVm, vmDeployment: allocationFailed, vmDeploymentFailures: [], imageExists: true, capacityCheck: { state: 'pending' } } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(p.requeueAfterMs).toBe(5000);
    expect(cond(p, 'VmProvisioned')?.message).toMatch(/checking whether device dev-a has a free GPU/);
    expect(cond(p, 'Stalled')?.status).toBe('False');
  });

  it('goes back to waiting for a GPU when the device, listed again, has none for it, whatever the error code', () => {
    const creating = { kind: 'CreateVm', deploymentName: name, startedAt: '2026-03-01T11:59:00Z', attempts: 1 };
    const bare = deployment(name, 'Failed', { error: { code: 'DeploymentFailed', message: 'At least one resource deployment operation failed.' } });
    const odd = deployment(name, 'Failed', { error: { code: 'DeploymentFailed', message: 'x', details: [{ code: 'GpuNotAvailable', message: 'no GPU' }] } });
    for (const failed of [allocationFailed, bare, odd]) {
      // The device's status, written after that listing, no longer reserves a GPU for it.
      const p = plan({
        gpuVm: gpuVm({ status: { operation: creating } }),
        device: device({ reservation: undefined, freeGpus: 0, holders: ['team/other'] }),
        arm: { vm: vm({ provisioningState: 'Failed', powerState: 'unknown' }), vmDeployment: failed, imageExists: true },
      });
      expect(p.action).toEqual({ kind: 'none' });
      expect(p.status.phase).toBe('WaitingForGpu');
      expect(cond(p, 'GpuReserved')).toMatchObject({ status: 'False', reason: 'InsufficientGpus' });
      expect(cond(p, 'GpuReserved')?.message).toMatch(/failed and the device has no free GPU/);
      expect(cond(p, 'Stalled')?.status).toBe('False');
      expect(p.status.operation).toBeUndefined();
    }
    // Until this GpuVm's cache of the device shows the withdrawn reservation, it waits and deploys nothing.
    const behind = plan({ gpuVm: gpuVm({ status: { operation: creating } }), arm: { vm: null, vmDeployment: allocationFailed, vmDeploymentFailures: [], imageExists: true, capacityCheck: { state: 'done', reserved: false } } });
    expect(behind.action).toEqual({ kind: 'none' });
    expect(cond(behind, 'VmProvisioned')?.message).toMatch(/device dev-a has no free GPU for it/);
    const k8s = plan({
      gpuVm: gpuVm({ status: { operation: creating } }),
      device: device({ reservation: undefined, freeGpus: 0, kubernetesConfigured: true, kubernetesGpus: 1 }),
      arm: { vm: null, vmDeployment: allocationFailed, imageExists: true },
    });
    expect(cond(k8s, 'GpuReserved')).toMatchObject({ status: 'False', reason: 'KubernetesHoldsGpus' });
  });

  it('treats the failure as its own when the device, listed again, still has a GPU for it', () => {
    const op = { kind: 'CreateVm', deploymentName: name, startedAt: '2026-03-01T11:59:00Z', attempts: 1 };
    const p = plan({ gpuVm: gpuVm({ status: { operation: op } }), arm: { vm: null, vmDeployment: allocationFailed, vmDeploymentFailures: [], capacityCheck: { state: 'done', reserved: true } } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'GpuReserved')?.status).toBe('True');
    expect(cond(p, 'VmProvisioned')).toMatchObject({ reason: 'AllocationFailed' });
    expect(p.requeueAfterMs).toBeGreaterThan(0);
  });

  it('does not count a VM whose creation failed as holding a GPU', () => {
    const p = plan({ device: device({ reservation: undefined, freeGpus: 0 }), arm: { vm: vm({ provisioningState: 'Failed', powerState: 'unknown' }) } });
    expect(p.status.phase).toBe('WaitingForGpu');
    expect(cond(p, 'GpuReserved')?.reason).not.toBe('GpuHeld');
  });

  it('waits for a VM still being created even when its deployment already reports success', () => {
    const p = plan({ arm: { vm: vm({ provisioningState: 'Creating' }), vmDeployment: deployment(name, 'Succeeded'), imageExists: true } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'VmProvisioned')).toMatchObject({ status: 'False', reason: 'Deploying' });
  });

  it('recreates a VM that was deleted outside the controller', () => {
    const p = plan({ arm: { vm: null, vmDeployment: deployment(name, 'Succeeded'), imageExists: true } });
    expect(p.action).toEqual({ kind: 'deployVm', deploymentName: name });
  });

  it('refuses to adopt a VM of the same name that another owner created', () => {
    const p = plan({ arm: { vm: vm({ tags: {} }) } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'Stalled')).toMatchObject({ status: 'True', reason: 'VmNameConflict' });
  });
});

describe('planGpuVm: GPU driver', () => {
  const name = driverDeploymentName(UID);

  it.each([
    ['Linux on a 2309 device', 'Linux', '2.2.2309.1234', 'NvidiaGpuDriverLinux', '1.8'],
    ['Linux on a 2105 device', 'Linux', '2.2.2105.100', 'NvidiaGpuDriverLinux', '1.3'],
    ['Windows on a 2205 device', 'Windows', 'Azure Stack Edge 2205', 'NvidiaGpuDriverWindows', '1.5'],
    ['Windows on a 2012 device', 'Windows', '2012', 'NvidiaGpuDriverWindows', '1.3'],
  ] as const)('installs the extension for %s', (_what, osType, softwareVersion, extensionType, version) => {
    const p = plan({
      gpuVm: gpuVm({ spec: { image: { name: 'img', osType } } }),
      device: device({ softwareVersion }),
      arm: { vm: vm(), extension: null, extensionDeployment: null },
    });
    expect(p.action).toMatchObject({ kind: 'deployGpuDriver', deploymentName: name, driver: { extensionType, typeHandlerVersion: version } });
    expect(p.status.phase).toBe('InstallingDriver');
    expect(cond(p, 'VmProvisioned')?.status).toBe('True');
    expect(cond(p, 'GpuDriverInstalled')).toMatchObject({ status: 'False', reason: 'InstallingDriver' });
  });

  it('waits for an extension that is still installing even when its deployment already finished', () => {
    const p = plan({ arm: { vm: vm(), extension: { ...installed, provisioningState: 'Creating' }, extensionDeployment: deployment(name, 'Succeeded') } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'GpuDriverInstalled')).toMatchObject({ status: 'False', reason: 'InstallingDriver' });
  });

  it('reinstalls an extension removed outside the controller', () => {
    const p = plan({ arm: { vm: vm(), extension: null, extensionDeployment: deployment(name, 'Succeeded') } });
    expect(p.action).toMatchObject({ kind: 'deployGpuDriver' });
  });

  it('uses a pinned typeHandlerVersion', () => {
    const p = plan({ gpuVm: gpuVm({ spec: { gpuDriver: { install: true, typeHandlerVersion: '1.6' } } }), arm: { vm: vm(), extension: null, extensionDeployment: null } });
    expect(p.action).toMatchObject({ driver: { typeHandlerVersion: '1.6', basis: 'spec.gpuDriver.typeHandlerVersion' } });
  });

  it('waits while the extension installs', () => {
    const p = plan({ arm: { vm: vm(), extension: { ...installed, provisioningState: 'Creating' }, extensionDeployment: deployment(name, 'Running') } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'GpuDriverInstalled')).toMatchObject({ status: 'False', reason: 'InstallingDriver' });
    expect(cond(p, 'Ready')?.reason).toBe('InstallingDriver');
  });

  it('keeps a VM that a failed extension marked Failed, and does not redeploy it', () => {
    const p = plan({
      arm: { vm: vm({ provisioningState: 'Failed' }), vmDeployment: deployment(vmDeploymentName(UID), 'Succeeded'), extension: { ...installed, provisioningState: 'Failed' }, extensionDeployment: deployment(name, 'Failed'), extensionDeploymentFailures: [] },
    });
    expect(p.action.kind).not.toBe('deployVm');
    expect(cond(p, 'VmProvisioned')?.status).toBe('True');
    expect(cond(p, 'GpuDriverInstalled')?.reason).toBe('DriverInstallFailed');
  });

  it('reports a failed install and retries it after a backoff', () => {
    const op = { kind: 'InstallGpuDriver', deploymentName: name, startedAt: '2026-03-01T11:59:58Z', attempts: 1 };
    const failed = deployment(name, 'Failed', { error: { code: 'DeploymentFailed', message: 'x', details: [{ code: 'VMExtensionProvisioningError', message: 'driver download failed' }] } });
    const p = plan({ gpuVm: gpuVm({ status: { operation: op } }), arm: { vm: vm(), extension: { ...installed, provisioningState: 'Failed' }, extensionDeployment: failed, extensionDeploymentFailures: [] } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'GpuDriverInstalled')).toMatchObject({ status: 'False', reason: 'DriverInstallFailed' });
    expect(cond(p, 'GpuDriverInstalled')?.message).toMatch(/VMExtensionProvisioningError: driver download failed/);
    const later = decidedGpuVmPlan(observe({ now: new Date('2026-03-01T12:00:30Z'), gpuVm: gpuVm({ status: { operation: op } }), arm: { vm: vm(), extension: { ...installed, provisioningState: 'Failed' }, extensionDeployment: failed, extensionDeploymentFailures: [] } }), SETTINGS);
    expect(later.action).toMatchObject({ kind: 'deployGpuDriver' });
    expect(later.status.operation?.attempts).toBe(2);
  });

  it('warns about an unsupported guest OS but still installs and becomes Ready', () => {
    const spec = { image: { name: 'img', osType: 'Linux' as const, os: { name: 'Debian', version: '12' } } };
    const installing = plan({ gpuVm: gpuVm({ spec }), arm: { vm: vm(), extension: null, extensionDeployment: null } });
    expect(installing.action.kind).toBe('deployGpuDriver');
    expect(cond(installing, 'GpuDriverInstalled')).toMatchObject({ status: 'False', reason: 'UnsupportedGuestOs' });
    expect(installing.event).toMatchObject({ type: 'Warning', reason: 'UnsupportedGuestOs' });
    const done = plan({ gpuVm: gpuVm({ spec }), arm: readyArm });
    expect(cond(done, 'GpuDriverInstalled')).toMatchObject({ status: 'True', reason: 'UnsupportedGuestOs' });
    expect(cond(done, 'Ready')?.status).toBe('True');
  });

  it('skips the driver when install is false', () => {
    const p = plan({ gpuVm: gpuVm({ spec: { gpuDriver: { install: false } } }), arm: { vm: vm(), nicIp: '10.0.0.5' } });
    expect(cond(p, 'GpuDriverInstalled')).toMatchObject({ status: 'True', reason: 'NotRequested' });
    expect(cond(p, 'Ready')?.status).toBe('True');
  });
});

describe('planGpuVm: Ready and power', () => {
  it("takes the IP from the device's NIC listing once, and by GET on a reconcile-now request", () => {
    const { nicIp: _ip, ...withoutIp } = readyArm;
    expect(step({ arm: withoutIp })).toEqual({ kind: 'read', read: 'nicIpFromListing' });
    const ready = plan({ arm: readyArm });
    expect(ready.status.vm?.ipAddress).toBe('10.57.51.61');
    // Known: not read again.
    expect(plan({ gpuVm: gpuVm({ status: ready.status }), arm: withoutIp }).status.vm?.ipAddress).toBe('10.57.51.61');
    const requested = gpuVm({ metadata: { annotations: { [RECONCILE_REQUESTED_ANNOTATION]: '2026-03-01T12:00:00Z' } }, status: ready.status });
    expect(step({ gpuVm: requested, arm: withoutIp })).toEqual({ kind: 'read', read: 'nicIp' });
  });

  it('is Ready with the IP once provisioned, installed and running', () => {
    const p = plan({ arm: readyArm });
    expect(p.action).toEqual({ kind: 'none' });
    expect(p.status.phase).toBe('Ready');
    expect(p.status.vm).toMatchObject({ ipAddress: '10.57.51.61', powerState: 'running', computerName: 'vm1' });
    expect(cond(p, 'Ready')).toMatchObject({ status: 'True', observedGeneration: 1 });
    expect(cond(p, 'Reconciling')?.status).toBe('False');
    expect(cond(p, 'Stalled')?.status).toBe('False');
    expect(p.status.observedGeneration).toBe(1);
    expect(p.status.operation).toBeUndefined();
    expect(p.requeueAfterMs).toBeUndefined();
  });

  it('keeps transition times when nothing changed', () => {
    const first = plan({ arm: readyArm });
    const second = decidedGpuVmPlan(observe({ now: new Date('2026-03-01T13:00:00Z'), gpuVm: gpuVm({ status: first.status }), arm: readyArm }), SETTINGS);
    expect(second.status).toEqual(first.status);
  });

  it('powers off for Stopped and keeps the GPU', () => {
    const p = plan({ gpuVm: gpuVm({ spec: { powerState: 'Stopped' } }), arm: readyArm });
    expect(p.action).toEqual({ kind: 'powerOffVm' });
    const done = plan({ gpuVm: gpuVm({ spec: { powerState: 'Stopped' } }), arm: { ...readyArm, vm: vm({ powerState: 'stopped' }) } });
    expect(done.status.phase).toBe('Stopped');
    expect(cond(done, 'Ready')?.status).toBe('True');
    expect(cond(done, 'GpuReserved')?.status).toBe('True');
  });

  it('blocks deallocation where Kubernetes is configured, unless annotated', () => {
    const blocked = plan({ gpuVm: gpuVm({ spec: { powerState: 'Deallocated' } }), device: device({ kubernetesConfigured: true }), arm: readyArm });
    expect(blocked.action).toEqual({ kind: 'none' });
    expect(cond(blocked, 'PowerStateSynced')).toMatchObject({ status: 'False', reason: 'DeallocationBlocked' });
    expect(cond(blocked, 'Stalled')).toMatchObject({ status: 'True', reason: 'DeallocationBlocked' });
    const allowed = plan({
      gpuVm: gpuVm({ spec: { powerState: 'Deallocated' }, metadata: { annotations: { 'gpuvm.io/allow-gpu-release': 'true' } } }),
      device: device({ kubernetesConfigured: true }),
      arm: readyArm,
    });
    expect(allowed.action).toEqual({ kind: 'deallocateVm' });
  });

  it('refuses Stopped where compute runs (it may take a stopped VM\'s GPU), unless annotated; drain still powers off', () => {
    const stopped = gpuVm({ spec: { powerState: 'Stopped' } });
    const blocked = plan({ gpuVm: stopped, device: device({ kubernetesConfigured: true }), arm: readyArm });
    expect(blocked.action).toEqual({ kind: 'none' });
    expect(cond(blocked, 'PowerStateSynced')).toMatchObject({ status: 'False', reason: 'StopBlocked' });
    expect(cond(blocked, 'Stalled')).toMatchObject({ status: 'True', reason: 'StopBlocked' });
    expect(cond(blocked, 'Ready')?.message).toMatch(/release notes/);
    const annotated = gpuVm({ spec: { powerState: 'Stopped' }, metadata: { annotations: { 'gpuvm.io/allow-gpu-release': 'true' } } });
    expect(plan({ gpuVm: annotated, device: device({ kubernetesConfigured: true }), arm: readyArm }).action).toEqual({ kind: 'powerOffVm' });
    expect(plan({ gpuVm: stopped, arm: readyArm }).action).toEqual({ kind: 'powerOffVm' });
    expect(plan({ device: device({ kubernetesConfigured: true, drain: true }), arm: readyArm }).action).toEqual({ kind: 'powerOffVm' });
  });

  it('gives a VM whose GPU compute took its own reason instead of a start loop, and starts it once a GPU is free', () => {
    const op = { kind: 'Start', startedAt: '2026-03-01T11:59:00Z', attempts: 1 };
    const stoppedArm = { ...readyArm, vm: vm({ powerState: 'stopped' }) };
    const lost = plan({ gpuVm: gpuVm({ status: { operation: op } }), device: device({ kubernetesConfigured: true, kubernetesGpus: 1, freeGpus: 0 }), arm: stoppedArm });
    expect(lost.action).toEqual({ kind: 'none' });
    expect(lost.status.phase).toBe('Failed');
    expect(cond(lost, 'GpuReserved')).toMatchObject({ status: 'False', reason: 'GpuLost' });
    expect(cond(lost, 'Stalled')).toMatchObject({ status: 'True', reason: 'GpuLost' });
    expect(lost.event).toMatchObject({ type: 'Warning', reason: 'GpuLost' });
    const again = plan({ gpuVm: gpuVm({ status: lost.status }), device: device({ kubernetesConfigured: true, kubernetesGpus: 1, freeGpus: 0 }), arm: stoppedArm });
    expect(again.action).toEqual({ kind: 'none' });
    expect(again.event).toBeUndefined();
    const freed = plan({ gpuVm: gpuVm({ status: lost.status }), device: device({ kubernetesConfigured: false, kubernetesGpus: 0, freeGpus: 1 }), arm: stoppedArm });
    expect(freed.action).toEqual({ kind: 'startVm' });
    expect(freed.status.operation?.attempts).toBe(2);
  });

  it('retries a start that did not take with backoff where compute holds no GPU', () => {
    const op = { kind: 'Start', startedAt: '2026-03-01T11:59:55Z', attempts: 1 };
    const p = plan({ gpuVm: gpuVm({ status: { operation: op } }), arm: { ...readyArm, vm: vm({ powerState: 'stopped' }) } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'PowerStateSynced')).toMatchObject({ status: 'False', reason: 'StartFailed' });
    expect(p.requeueAfterMs).toBe(5000);
  });

  it('deallocates freely where Kubernetes is not configured, and is Ready once deallocated', () => {
    expect(plan({ gpuVm: gpuVm({ spec: { powerState: 'Deallocated' } }), arm: readyArm }).action).toEqual({ kind: 'deallocateVm' });
    const done = plan({ gpuVm: gpuVm({ spec: { powerState: 'Deallocated' } }), device: device({ reservation: undefined }), arm: { ...readyArm, vm: vm({ powerState: 'deallocated' }) } });
    expect(done.action).toEqual({ kind: 'none' });
    expect(cond(done, 'GpuReserved')).toMatchObject({ status: 'False', reason: 'Deallocated' });
    expect(cond(done, 'Ready')?.status).toBe('True');
  });

  it('starts a deallocated VM only with a GPU reserved again', () => {
    const deallocated = { ...readyArm, vm: vm({ powerState: 'deallocated' }) };
    const waiting = plan({ device: device({ reservation: undefined, freeGpus: 0 }), arm: deallocated });
    expect(waiting.action).toEqual({ kind: 'none' });
    expect(waiting.status.phase).toBe('WaitingForGpu');
    expect(plan({ arm: deallocated }).action).toEqual({ kind: 'startVm' });
  });

  it('powers VMs off while the device is drained and reports Drained', () => {
    const p = plan({ device: device({ drain: true }), arm: readyArm });
    expect(p.action).toEqual({ kind: 'powerOffVm' });
    expect(cond(p, 'PowerStateSynced')).toMatchObject({ reason: 'Drained' });
    const done = plan({ device: device({ drain: true }), arm: { ...readyArm, vm: vm({ powerState: 'stopped' }) } });
    expect(done.action).toEqual({ kind: 'none' });
    expect(cond(done, 'PowerStateSynced')).toMatchObject({ status: 'True', reason: 'Drained' });
  });

  it('waits while a power change is in flight', () => {
    const p = plan({ arm: { ...readyArm, vm: vm({ powerState: 'starting' }) } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'PowerStateSynced')).toMatchObject({ status: 'False', reason: 'PowerStateChanging' });
  });
});

describe('planGpuVm: deletion', () => {
  const deletingVm = (spec: Partial<GpuVm['spec']> = {}) => gpuVm({ spec, metadata: { deletionTimestamp: new Date('2026-03-01T11:59:00Z') } });

  it('orphans without touching ARM', () => {
    expect(plan({ gpuVm: deletingVm({ deletionPolicy: 'Orphan' }), arm: readyArm }).action).toEqual({ kind: 'removeFinalizer' });
  });

  it('deletes VM, then NIC, then deployment records, then releases the finalizer', () => {
    const g = deletingVm();
    expect(plan({ gpuVm: g, arm: readyArm }).action).toEqual({ kind: 'deleteVm' });
    expect(plan({ gpuVm: g, arm: { vm: vm({ provisioningState: 'Deleting' }) } }).action).toEqual({ kind: 'none' });
    expect(plan({ gpuVm: g, arm: { vm: null, nicExists: true } }).action).toEqual({ kind: 'deleteNic', nicName: 'vm1-nic' });
    expect(plan({ gpuVm: g, arm: { vm: null, nicExists: false, vmDeployment: deployment(vmDeploymentName(UID), 'Succeeded'), extensionDeployment: null } }).action).toEqual({
      kind: 'deleteDeployment',
      deploymentName: vmDeploymentName(UID),
    });
    const gone = plan({ gpuVm: g, arm: { vm: null, nicExists: false, vmDeployment: null, extensionDeployment: null } });
    expect(gone.action).toEqual({ kind: 'removeFinalizer' });
    expect(gone.status.phase).toBe('Deleting');
  });

  it('waits for a CreateVM deployment still running before deleting anything it creates', () => {
    const g = gpuVm({ metadata: { deletionTimestamp: new Date('2026-03-01T11:59:00Z') }, status: { operation: { kind: 'CreateVm', deploymentName: vmDeploymentName(UID), startedAt: '2026-03-01T11:58:00Z', attempts: 1 } } });
    const running = plan({ gpuVm: g, arm: { vmDeployment: deployment(vmDeploymentName(UID), 'Running') } });
    expect(running.action).toEqual({ kind: 'none' });
    expect(running.requeueAfterMs).toBe(SETTINGS.pollIntervalMs);
    expect(cond(running, 'VmProvisioned')?.message).toMatch(/waiting for deployment gpuvm-vm-.* \(running\) to finish before deleting/);
    const finished = plan({ gpuVm: g, arm: { vmDeployment: deployment(vmDeploymentName(UID), 'Succeeded'), vm: vm() } });
    expect(finished.action).toEqual({ kind: 'deleteVm' });
  });

  it('deletes the VM\'s OS disk after the VM and its NIC, since a managed disk outlives its VM', () => {
    const seen = plan({ arm: { ...readyArm, vm: vm({ osDiskName: 'vm1_OsDisk_1_0123' }) } });
    expect(seen.status.osDiskName).toBe('vm1_OsDisk_1_0123');
    const g = gpuVm({ metadata: { deletionTimestamp: new Date('2026-03-01T11:59:00Z') }, status: { osDiskName: 'vm1_OsDisk_1_0123' } });
    expect(step({ gpuVm: g, arm: { vm: null, nicExists: false } })).toEqual({ kind: 'read', read: 'osDiskExists' });
    const disk = plan({ gpuVm: g, arm: { vm: null, nicExists: false, osDiskExists: true } });
    expect(disk.action).toEqual({ kind: 'deleteDisk', diskName: 'vm1_OsDisk_1_0123' });
    expect(disk.status.operation?.kind).toBe('DeleteDisk');
    expect(plan({ gpuVm: g, arm: { vm: null, nicExists: false, osDiskExists: false, vmDeployment: null, extensionDeployment: null } }).action).toEqual({ kind: 'removeFinalizer' });
  });

  it('leaves a VM it does not own', () => {
    expect(plan({ gpuVm: deletingVm(), arm: { vm: vm({ tags: {} }) } }).action).toEqual({ kind: 'removeFinalizer' });
  });
});

describe('planGpuVm: tenancy', () => {
  const withVm: GpuVm['status'] = { observedGeneration: 1, vm: { resourceId: vm().id, computerName: 'vm1', ipAddress: '10.57.51.61', powerState: 'running', provisioningState: 'Succeeded' } };
  const notAllowed = { namespaceAllowed: false, reservation: undefined } as const;
  const deletingVm = () => gpuVm({ metadata: { deletionTimestamp: new Date('2026-03-01T11:59:00Z') } });

  it.each([
    ['a namespace the device does not allow', { device: device(notAllowed) }, 'GpuReserved', 'False', 'NamespaceNotAllowed', /namespace team is not in spec.allowedNamespaces of EdgeDevice dev-a: ask the device's administrator to add it/],
    ['a VM name held by another namespace', { device: device({ vmNameHeldElsewhere: true }) }, 'VmProvisioned', 'False', 'VmNameConflict', /belongs to a GpuVm in another namespace .*: rename this GpuVm/],
    ['a VM of that name owned by another GpuVm', { arm: { vm: vm({ tags: { [OWNER_TAG]: 'someone-else' } }) } }, 'VmProvisioned', 'False', 'VmNameConflict', /already exists on device dev-a and belongs to another GpuVm: rename this GpuVm/],
    ['a VM of that name made by hand', { arm: { vm: vm({ tags: {} }) } }, 'VmProvisioned', 'False', 'VmNameConflict', /is not managed by this controller/],
    ['a missing image, checked before a GPU is reserved', { device: device({ reservation: undefined }), arm: { vm: null, imageExists: false } }, 'VmProvisioned', 'False', 'ImageNotFound', /image ubuntu does not exist/],
    ['a missing Secret without a reservation', { device: device({ reservation: undefined }), secret: { state: 'missing' as const } }, 'GpuReserved', 'Unknown', 'CannotDeployYet', /no GPU is reserved for a GpuVm that cannot deploy yet/],
  ])('%s: %s %s %s and no action', (_what, o, type, status, reason, message) => {
    const p = plan(o as Partial<GpuVmObservation>);
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, type)).toMatchObject({ status, reason });
    expect(cond(p, type)?.message).toMatch(message);
  });

  it('a missing image or a name conflict leaves GpuReserved undecided, so Ready names the real problem', () => {
    const p = plan({ device: device({ reservation: undefined }), arm: { vm: null, imageExists: false } });
    expect(cond(p, 'GpuReserved')?.status).toBe('Unknown');
    expect(cond(p, 'Ready')).toMatchObject({ status: 'False', reason: 'ImageNotFound' });
  });

  it('a namespace taken off the list: the existing VM keeps its GPU and is managed, and the status says so', () => {
    const p = plan({ gpuVm: gpuVm({ status: withVm }), device: device({ namespaceAllowed: false, reservation: 'Held' }), arm: readyArm });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'GpuReserved')).toMatchObject({ status: 'True', reason: 'NamespaceNotAllowed' });
    expect(cond(p, 'GpuReserved')?.message).toMatch(/The existing VM keeps its GPU .* not created again if it goes away/);
  });

  it('a namespace taken off the list: a VM that went away is not created again', () => {
    const p = plan({ gpuVm: gpuVm({ status: withVm }), device: device({ namespaceAllowed: false, reservation: 'Reserved' }), arm: { vm: null, vmDeployment: null, imageExists: true } });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'VmProvisioned')).toMatchObject({ status: 'False', reason: 'NamespaceNotAllowed' });
  });

  it.each([
    ['a namespace the device does not allow', { namespaceAllowed: false }],
    ['a VM name held by another namespace', { vmNameHeldElsewhere: true }],
  ])('deleting a GpuVm of %s that made nothing on the device removes the finalizer without reading the device', (_what, view) => {
    expect(plan({ gpuVm: deletingVm(), device: device(view) }).action).toEqual({ kind: 'removeFinalizer' });
  });

  it('names holders of its own namespace and counts the others', () => {
    const p = plan({ device: device({ reservation: undefined, freeGpus: 0, queuePosition: 1, holders: ['team/a'], otherNamespaceHolders: 2 }), arm: precheckPassed });
    expect(cond(p, 'GpuReserved')?.message).toMatch(/\(held by team\/a and 2 GpuVm\(s\) in other namespaces\)/);
  });
});

import { API_VERSION, FINALIZER, type EdgeDevice, type GpuVm } from '../api/types.js';
import type { ArmVm } from '../arm/resources.js';
import { findCondition } from './conditions.js';
import { planEdgeDevice, type EdgeDeviceObservation } from './edgeDevicePlan.js';
import { OWNER_TAG } from '../naming/armNames.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const SETTINGS = { pollIntervalMs: 5000 };

function device(spec: Partial<EdgeDevice['spec']> = {}, metadata: Partial<EdgeDevice['metadata']> = {}, status?: EdgeDevice['status']): EdgeDevice {
  return {
    apiVersion: API_VERSION,
    kind: 'EdgeDevice',
    metadata: { name: 'dev-a', generation: 1, finalizers: [FINALIZER], ...metadata },
    spec: {
      arm: {
        endpoint: 'https://management.dev-a.local',
        loginEndpoint: 'https://login.dev-a.local',
        subscriptionId: '0d8a4cf4-7e9b-4c2a-9b7e-2f1f7c3e5a10',
        resourceGroup: 'rg',
        credentialsSecretRef: { name: 's' },
      },
      azure: { resourceId: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/dev-a' },
      kubernetes: { state: 'Configured' },
      drain: false,
      ...spec,
    },
    ...(status !== undefined ? { status } : {}),
  };
}

function gpuVm(name: string, second: number, overrides: Partial<GpuVm['spec']> = {}): GpuVm {
  return {
    apiVersion: API_VERSION,
    kind: 'GpuVm',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, creationTimestamp: new Date(Date.UTC(2026, 2, 1, 11, 0, second)) },
    spec: { deviceRef: { name: 'dev-a' }, size: 'Standard_NC4as_T4_v3', image: { name: 'img', osType: 'Linux' }, adminCredentialsSecretRef: { name: 'a' }, ...overrides },
    // Looked at by its reconciler (Secret and image fine): the device may reserve a GPU for it.
    status: { observedGeneration: 1 },
  };
}

const running = (g: GpuVm, powerState = 'running'): GpuVm => ({ ...g, status: { vm: { resourceId: `/x/${g.metadata.name}`, powerState } } });

const armVm = (name: string, uid: string | undefined, powerState: ArmVm['powerState'] = 'running', vmSize = 'Standard_NC4as_T4_v3'): ArmVm => ({
  name,
  id: `/x/${name}`,
  vmSize,
  provisioningState: 'Succeeded',
  powerState,
  tags: uid === undefined ? {} : { [OWNER_TAG]: uid },
  nicIds: [],
});

function observe(o: Partial<EdgeDeviceObservation>): EdgeDeviceObservation {
  return { now: NOW, device: device(), connection: { connected: true }, armVms: [], azure: { sku: 'EdgeP_High', roles: [] }, gpuVms: [], ...o };
}

const plan = (o: Partial<EdgeDeviceObservation>) => planEdgeDevice(observe(o), SETTINGS);
const cond = (p: ReturnType<typeof plan>, type: string) => findCondition(p.status.conditions, type);

describe('planEdgeDevice: the ordering scenarios', () => {
  it('1 GPU, GpuVm first: holds the role back until the VM holds its GPU, then configures Kubernetes with no GPU', () => {
    const vm1 = gpuVm('vm1', 1);
    const admitted = plan({ azure: { sku: 'EdgeP_Base', roles: [] }, gpuVms: [vm1] });
    expect(admitted.status.allocations).toEqual([{ gpuVm: 'ns/vm1', uid: 'uid-vm1', state: 'Reserved' }]);
    expect(admitted.action).toEqual({ kind: 'none' });
    expect(cond(admitted, 'KubernetesConfigured')).toMatchObject({ status: 'False', reason: 'WaitingForGpuVms' });
    expect(cond(admitted, 'KubernetesConfigured')?.message).toMatch(/ns\/vm1/);

    const held = plan({ azure: { sku: 'EdgeP_Base', roles: [] }, gpuVms: [running(vm1)], armVms: [armVm('vm1', 'uid-vm1')], device: device({}, {}, admitted.status) });
    expect(held.action).toEqual({ kind: 'createKubernetesRole' });
    expect(cond(held, 'KubernetesConfigured')?.message).toMatch(/with no GPU/);
    expect(held.status.gpus).toEqual({ total: 1, vms: 1, kubernetes: 0, free: 0 });
  });

  it('1 GPU, Kubernetes first: the role holds the GPU and a GpuVm waits without a reservation', () => {
    const p = plan({ azure: { sku: 'EdgeP_Base', roles: [{ name: 'k8s', kind: 'Kubernetes', provisioningState: 'Created' }], usedGpus: 1 }, gpuVms: [gpuVm('vm1', 1)] });
    expect(p.status.allocations).toEqual([]);
    expect(p.waiting).toEqual([{ key: 'ns/vm1', uid: 'uid-vm1', position: 1 }]);
    expect(p.status.gpus).toEqual({ total: 1, vms: 0, kubernetes: 1, free: 0 });
    expect(cond(p, 'KubernetesConfigured')).toMatchObject({ status: 'True', reason: 'Configured' });
  });

  it('2 GPUs, one GpuVm first: Kubernetes gets the other GPU', () => {
    const p = plan({ gpuVms: [running(gpuVm('vm1', 1))], armVms: [armVm('vm1', 'uid-vm1')] });
    expect(p.action).toEqual({ kind: 'createKubernetesRole' });
    expect(cond(p, 'KubernetesConfigured')?.message).toMatch(/claim the 1 free GPU/);
  });

  it('a VM our CreateVM made holds its GPU before the GpuVm reads it (its driver installs first)', () => {
    const made: GpuVm = {
      ...gpuVm('vm1', 1),
      status: {
        observedGeneration: 1,
        operation: { kind: 'InstallGpuDriver', deploymentName: 'gpuvm-gpu-uid-vm1', startedAt: '2026-03-01T12:00:00Z', attempts: 1 },
        conditions: [{ type: 'VmProvisioned', status: 'True', reason: 'Provisioned', message: 'm', lastTransitionTime: '2026-03-01T12:00:00Z' }],
      },
    };
    const p = plan({ gpuVms: [made], armVms: [] });
    expect(p.status.allocations).toEqual([expect.objectContaining({ gpuVm: 'ns/vm1', state: 'Held' })]);
  });

  it('2 GPUs, two GpuVms first: Kubernetes waits for both, then gets none', () => {
    const vms = [gpuVm('vm1', 1), gpuVm('vm2', 2)];
    const oneHeld = plan({ gpuVms: [running(vms[0] as GpuVm), vms[1] as GpuVm], armVms: [armVm('vm1', 'uid-vm1')] });
    expect(oneHeld.action).toEqual({ kind: 'none' });
    expect(cond(oneHeld, 'KubernetesConfigured')?.message).toMatch(/ns\/vm2/);
    const bothHeld = plan({ gpuVms: vms.map((g) => running(g)), armVms: [armVm('vm1', 'uid-vm1'), armVm('vm2', 'uid-vm2')] });
    expect(bothHeld.action).toEqual({ kind: 'createKubernetesRole' });
    expect(bothHeld.status.gpus?.free).toBe(0);
  });

  it('2 GPUs, Kubernetes first: later GpuVms get no reservation', () => {
    const p = plan({ azure: { sku: 'EdgeP_High', roles: [{ name: 'k8s', kind: 'Kubernetes', provisioningState: 'Created' }], usedGpus: 2 }, gpuVms: [gpuVm('vm1', 1), gpuVm('vm2', 2)] });
    expect(p.status.allocations).toEqual([]);
    expect(p.waiting.map((w) => w.position)).toEqual([1, 2]);
    expect(cond(p, 'Ready')?.status).toBe('True');
  });
});

describe('planEdgeDevice: device state', () => {
  it('adds its finalizer first', () => {
    expect(plan({ device: device({}, { finalizers: [] }) }).action).toEqual({ kind: 'addFinalizer' });
  });

  it('counts foreign GPU VMs that are not deallocated, and ignores non-GPU VMs', () => {
    const p = plan({
      armVms: [armVm('other', undefined), armVm('parked', undefined, 'deallocated'), armVm('web', undefined, 'running', 'Standard_D2_v2')],
      gpuVms: [gpuVm('vm1', 1), gpuVm('vm2', 2)],
    });
    expect(p.status.foreignVms).toEqual(['other']);
    expect(p.status.allocations).toEqual([{ gpuVm: 'ns/vm1', uid: 'uid-vm1', state: 'Reserved' }]);
    expect(p.waiting).toEqual([{ key: 'ns/vm2', uid: 'uid-vm2', position: 1 }]);
  });

  it('counts a managed VM as foreign never, even before its GpuVm status names it', () => {
    const p = plan({ gpuVms: [gpuVm('vm1', 1)], armVms: [armVm('vm1', 'uid-vm1')] });
    expect(p.status.foreignVms).toEqual([]);
  });

  it('keeps the previous foreign VMs and uses GpuVm status when the device was not listed', () => {
    const previous = { foreignVms: ['other'], allocations: [] };
    const vm1 = { ...gpuVm('vm1', 1), status: { vm: { resourceId: '/x/vm1', powerState: 'running' } } };
    const p = plan({ device: device({}, {}, previous), armVms: undefined, gpuVms: [vm1] });
    expect(p.status.foreignVms).toEqual(['other']);
    expect(p.status.allocations).toEqual([{ gpuVm: 'ns/vm1', uid: 'uid-vm1', state: 'Held' }]);
    expect(p.status.gpus).toMatchObject({ vms: 2, free: 0 });
  });

  it('removes the role for NotConfigured', () => {
    const p = plan({ device: device({ kubernetes: { state: 'NotConfigured' } }), azure: { roles: [{ name: 'k8s', kind: 'Kubernetes', provisioningState: 'Created' }], usedGpus: 2 } });
    expect(p.action).toEqual({ kind: 'deleteKubernetesRole', roleName: 'k8s' });
    expect(cond(p, 'KubernetesConfigured')).toMatchObject({ status: 'False', reason: 'Removing' });
  });

  it('stalls when Kubernetes must be managed but spec.azure is absent', () => {
    const p = plan({ device: device({ azure: undefined, gpus: 2 }), azure: undefined });
    expect(cond(p, 'Stalled')).toMatchObject({ status: 'True', reason: 'AzureNotConfigured' });
  });

  it('observes only when Unmanaged', () => {
    const p = plan({ device: device({ kubernetes: { state: 'Unmanaged' } }), gpuVms: [running(gpuVm('vm1', 1))], armVms: [armVm('vm1', 'uid-vm1')] });
    expect(p.action).toEqual({ kind: 'none' });
    expect(cond(p, 'Ready')?.status).toBe('True');
  });

  it('reports a disconnected device', () => {
    const p = plan({ connection: { connected: false, reason: 'DeviceUnreachable', message: 'connect ECONNREFUSED' } });
    expect(cond(p, 'Connected')).toMatchObject({ status: 'False', reason: 'DeviceUnreachable' });
    expect(cond(p, 'Ready')).toMatchObject({ status: 'False', reason: 'DeviceUnreachable' });
  });

  it('warns when the declared GPU count disagrees with the device', () => {
    const p = plan({ device: device({ gpus: 1 }), azure: { sku: 'EdgeP_High', roles: [] } });
    expect(cond(p, 'GpuCapacityMatches')).toMatchObject({ status: 'False', reason: 'DeclaredGpusMismatch' });
    expect(p.status.gpus?.total).toBe(2);
  });

  it('keeps the last known GPU count while the device\'s Azure resource cannot be read', () => {
    const vm = running(gpuVm('a', 1));
    const last = { gpus: { total: 2, vms: 1, kubernetes: 0, free: 1 } };
    const p = plan({ device: device({}, {}, last), azure: undefined, azureProblem: 'throttled', gpuVms: [vm] });
    expect(p.status.gpus).toMatchObject({ total: 2, vms: 1 });
  });

  it('reports drain progress', () => {
    const running = { ...gpuVm('vm1', 1), status: { vm: { resourceId: '/x/vm1', powerState: 'running' } } };
    const draining = plan({ device: device({ drain: true }), gpuVms: [running] });
    expect(cond(draining, 'Drained')).toMatchObject({ status: 'False', reason: 'Draining' });
    const stopped = { ...running, status: { vm: { resourceId: '/x/vm1', powerState: 'stopped' } } };
    expect(cond(plan({ device: device({ drain: true }), gpuVms: [stopped] }), 'Drained')).toMatchObject({ status: 'True' });
  });

  it('counts a VM whose creation failed (no PowerState) as holding no GPU', () => {
    const failed = { ...armVm('hand-made', undefined, 'unknown'), provisioningState: 'Failed' };
    const p = plan({ armVms: [failed, armVm('other', undefined)], gpuVms: [gpuVm('vm1', 1)] });
    expect(p.status.foreignVms).toEqual(['other']);
    expect(p.status.gpus).toEqual({ total: 2, vms: 1, kubernetes: 0, free: 0 });
  });

  it('withdraws a reservation the device can no longer back, the failed CreateVM first', () => {
    const [vm1, vm2] = [gpuVm('vm1', 1), gpuVm('vm2', 2)];
    const failed: GpuVm = { ...vm1, status: { observedGeneration: 1, conditions: [{ type: 'VmProvisioned', status: 'False', reason: 'AllocationFailed', message: '', lastTransitionTime: NOW.toISOString() }] } };
    const ledger = { allocations: [{ gpuVm: 'ns/vm1', uid: 'uid-vm1', state: 'Reserved' as const }, { gpuVm: 'ns/vm2', uid: 'uid-vm2', state: 'Reserved' as const }] };
    const p = plan({ device: device({}, {}, ledger), armVms: [armVm('hand-made', undefined)], gpuVms: [failed, vm2] });
    expect(p.status.allocations).toEqual([{ gpuVm: 'ns/vm2', uid: 'uid-vm2', state: 'Reserved' }]);
    expect(p.waiting).toEqual([{ key: 'ns/vm1', uid: 'uid-vm1', position: 1 }]);
    expect(p.status.gpus).toEqual({ total: 2, vms: 1, kubernetes: 0, free: 0 });
  });

  it('never withdraws a reservation whose CreateVM has not failed, even when the count says the device is full', () => {
    const ledger = { allocations: [{ gpuVm: 'ns/vm1', uid: 'uid-vm1', state: 'Reserved' as const }, { gpuVm: 'ns/vm2', uid: 'uid-vm2', state: 'Reserved' as const }] };
    const p = plan({ device: device({}, {}, ledger), armVms: [armVm('hand-made', undefined)], gpuVms: [gpuVm('vm1', 1), gpuVm('vm2', 2)] });
    expect(p.status.allocations?.map((a) => a.gpuVm)).toEqual(['ns/vm1', 'ns/vm2']);
    expect(p.status.gpus?.free).toBe(0);
  });

  it('never withdraws the reservation of a GpuVm whose VM is being created', () => {
    const creating: GpuVm = { ...gpuVm('vm1', 1), status: { vm: { resourceId: '/x/vm1', powerState: 'starting', provisioningState: 'Creating' } } };
    const ledger = { allocations: [{ gpuVm: 'ns/vm1', uid: 'uid-vm1', state: 'Reserved' as const }] };
    const p = plan({ device: device({ gpus: 1 }, {}, ledger), azure: { sku: 'EdgeP_Base', roles: [] }, armVms: [armVm('vm1', 'uid-vm1', 'starting')], gpuVms: [creating] });
    expect(p.status.allocations).toEqual([{ gpuVm: 'ns/vm1', uid: 'uid-vm1', state: 'Reserved' }]);
  });

  it('counts a compute role of any kind as holding GPUs, naming its kind', () => {
    // IoT roles report no provisioningState (only KubernetesRoleProperties has one), only roleStatus.
    const iot = { roles: [{ name: 'iot1', kind: 'IOT', provisioningState: 'Unknown', roleStatus: 'Enabled' }], usedGpus: 2 };
    const p = plan({ azure: { sku: 'EdgeP_High', ...iot }, gpuVms: [gpuVm('vm1', 1)] });
    expect(p.status.gpus).toEqual({ total: 2, vms: 0, kubernetes: 2, free: 0 });
    expect(p.status.allocations).toEqual([]);
    expect(p.status.kubernetes).toMatchObject({ state: 'Configured', gpus: 2, roles: [{ name: 'iot1', kind: 'IOT', provisioningState: 'Unknown', roleStatus: 'Enabled' }] });
    expect(cond(p, 'KubernetesConfigured')).toMatchObject({ status: 'True', reason: 'Configured' });
    expect(cond(p, 'KubernetesConfigured')?.message).toMatch(/IOT role iot1 \(Enabled\)/);
    expect(p.action).toEqual({ kind: 'none' });
    const remove = plan({ device: device({ kubernetes: { state: 'NotConfigured' } }), azure: { sku: 'EdgeP_High', ...iot } });
    expect(remove.action).toEqual({ kind: 'deleteKubernetesRole', roleName: 'iot1' });
  });

  it('counts GPUs the device reports in use beyond its VMs as held by compute, even with no role listed', () => {
    const p = plan({ device: device({ kubernetes: { state: 'Unmanaged' } }), azure: { sku: 'EdgeP_High', roles: [], usedGpus: 2 }, armVms: [armVm('vm1', 'uid-vm1')], gpuVms: [running(gpuVm('vm1', 1))] });
    expect(p.status.gpus).toEqual({ total: 2, vms: 1, kubernetes: 1, free: 0 });
  });

  it('never counts compute on top of the GPUs the ledger gave: a VM created after the listing is not compute', () => {
    const ledger = { allocations: [{ gpuVm: 'ns/vm1', uid: 'uid-vm1', state: 'Held' as const }, { gpuVm: 'ns/vm2', uid: 'uid-vm2', state: 'Reserved' as const }] };
    const p = plan({
      device: device({ kubernetes: { state: 'Unmanaged' } }, {}, ledger),
      azure: { sku: 'EdgeP_High', roles: [], usedGpus: 2 },
      armVms: [armVm('vm1', 'uid-vm1')],
      // vm2's CreateVM deployment runs: its VM exists on the device but not yet in the listing nor in its status.
      gpuVms: [running(gpuVm('vm1', 1)), { ...gpuVm('vm2', 2), status: { observedGeneration: 1, operation: { kind: 'CreateVm', deploymentName: 'gpuvm-vm-uid-vm2', startedAt: NOW.toISOString(), attempts: 1 } } }],
    });
    expect(p.status.gpus).toEqual({ total: 2, vms: 1, kubernetes: 0, free: 0 });
    // Both VMs in their GpuVms' statuses, the listing older than one of them: still no compute.
    const both = plan({
      device: device({ kubernetes: { state: 'Unmanaged' } }, {}, ledger),
      azure: { sku: 'EdgeP_High', roles: [], usedGpus: 2 },
      armVms: [armVm('vm1', 'uid-vm1')],
      gpuVms: [running(gpuVm('vm1', 1)), running(gpuVm('vm2', 2))],
    });
    expect(both.status.gpus).toEqual({ total: 2, vms: 2, kubernetes: 0, free: 0 });
  });

  it('without capacity information, a role that was just configured holds every GPU no VM held', () => {
    const created = { sku: 'EdgeP_High', roles: [{ name: 'kubernetes', kind: 'Kubernetes', provisioningState: 'Created' }] };
    const p = plan({ azure: created, armVms: [armVm('vm1', 'uid-vm1')], gpuVms: [running(gpuVm('vm1', 1))] });
    expect(p.status.gpus).toEqual({ total: 2, vms: 1, kubernetes: 1, free: 0 });
    const later = plan({ azure: created, armVms: undefined, device: device({}, {}, p.status), gpuVms: [running(gpuVm('vm1', 1))] });
    expect(later.status.kubernetes?.gpus).toBe(1);
  });

  it('bounds a drain in time where compute runs, then lets the GpuVms start again', () => {
    const stopped = { ...gpuVm('vm1', 1), status: { vm: { resourceId: '/x/vm1', powerState: 'stopped' } } };
    const withCompute = { sku: 'EdgeP_High', roles: [{ name: 'k8s', kind: 'Kubernetes', provisioningState: 'Created' }], usedGpus: 2 };
    const drained = planEdgeDevice(observe({ device: device({ drain: true }), azure: withCompute, gpuVms: [stopped], armVms: [armVm('vm1', 'uid-vm1', 'stopped')] }), { pollIntervalMs: 5000, drainTimeoutMs: 600_000 });
    expect(findCondition(drained.status.conditions, 'Drained')).toMatchObject({ status: 'True', reason: 'Drained' });
    expect(findCondition(drained.status.conditions, 'Drained')?.message).toMatch(/after 10 min/);
    expect(drained.requeueAfterMs).toBe(600_000);
    const later = new Date(NOW.getTime() + 600_001);
    const expired = planEdgeDevice(observe({ now: later, device: device({ drain: true }, {}, drained.status), azure: withCompute, gpuVms: [stopped] }), { pollIntervalMs: 5000, drainTimeoutMs: 600_000 });
    expect(findCondition(expired.status.conditions, 'Drained')).toMatchObject({ status: 'False', reason: 'DrainExpired' });
    expect(findCondition(expired.status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'DrainExpired' });
    expect(expired.event).toMatchObject({ type: 'Warning', reason: 'DrainExpired' });
    const stays = planEdgeDevice(observe({ now: later, device: device({ drain: true }, {}, expired.status), azure: withCompute, gpuVms: [stopped] }), SETTINGS);
    expect(findCondition(stays.status.conditions, 'Drained')?.reason).toBe('DrainExpired');
    const noCompute = planEdgeDevice(observe({ now: later, device: device({ drain: true }, {}, drained.status), gpuVms: [stopped] }), SETTINGS);
    expect(findCondition(noCompute.status.conditions, 'Drained')).toMatchObject({ status: 'True', reason: 'Drained' });
  });

  it('waits to be deleted while GpuVms are bound, naming them', () => {
    const deleting = device({}, { deletionTimestamp: NOW });
    const blocked = plan({ device: deleting, gpuVms: [gpuVm('vm1', 1)] });
    expect(blocked.action).toEqual({ kind: 'none' });
    expect(cond(blocked, 'Ready')?.message).toMatch(/ns\/vm1/);
    expect(plan({ device: deleting, gpuVms: [] }).action).toEqual({ kind: 'removeFinalizer' });
  });
});

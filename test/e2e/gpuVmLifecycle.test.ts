import { CustomObjectsApi } from '@kubernetes/client-node';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION, type EdgeDevice, type GpuVm } from '../../src/api/types.js';
import { applyManifest, kubectl, testKubeConfig, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, TEST_PASSWORD, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';

const namespace = useTestNamespace('lifecycle');
const sim = useSimulator({ devices: [{ name: 'sim-a', gpus: 2, softwareVersion: '2.2.2309.1000', images: [LINUX_IMAGE] }] });
const controller = useController(namespace);
const api = () => testKubeConfig().makeApiClient(CustomObjectsApi);
const device = () => `${namespace()}-dev`;

async function getGpuVm(name: string): Promise<GpuVm | undefined> {
  try {
    return (await api().getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace: namespace(), name })) as GpuVm;
  } catch {
    return undefined;
  }
}

const condition = (g: GpuVm | undefined, type: string) => g?.status?.conditions?.find((c) => c.type === type);

beforeAll(async () => {
  await applyManifest(deviceManifests(sim(), 'sim-a', namespace(), { name: device() }));
});

afterAll(() => {
  // Whatever happened, the admin password must never reach the controller's logs.
  expect(controller().logs()).not.toContain(TEST_PASSWORD);
});

test('a GpuVm becomes Ready with an IP after exactly one CreateVM and one GPU driver deployment', async () => {
  await applyManifest(gpuVmManifests({ name: 'vm1', device: device() }), { namespace: namespace() });
  const wait = await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/vm1', '--timeout=60s']);
  expect({ code: wait.code, out: wait.stdout + wait.stderr }).toMatchObject({ code: 0 });

  const vm = (await getGpuVm('vm1')) as GpuVm;
  expect(vm.status?.phase).toBe('Ready');
  expect(vm.status?.vm?.ipAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  expect(vm.status?.observedGeneration).toBe(vm.metadata.generation);
  expect(condition(vm, 'GpuDriverInstalled')).toMatchObject({ status: 'True', reason: 'Installed' });
  expect(condition(vm, 'Ready')?.observedGeneration).toBe(vm.metadata.generation);
  expect(vm.status?.operation).toBeUndefined();

  const puts = sim()
    .audit({ device: 'sim-a' })
    .filter((e) => e.method === 'PUT' && e.operation.startsWith('deployment') && e.status < 300);
  expect(puts.map((e) => e.path.split('/').pop())).toEqual([`gpuvm-vm-${vm.metadata.uid}`, `gpuvm-gpu-${vm.metadata.uid}`]);

  const table = await kubectl(['get', 'gvm', 'vm1', '-n', namespace()]);
  expect(table.stdout).toMatch(new RegExp(`vm1\\s+${device()}\\s+Standard_NC4as_T4_v3\\s+${vm.status?.vm?.ipAddress}\\s+running\\s+Ready\\s+True\\s+Ready`));

  const dev = (await api().getClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name: device() })) as EdgeDevice;
  expect(dev.status?.allocations).toEqual([{ gpuVm: `${namespace()}/vm1`, uid: vm.metadata.uid, state: 'Held' }]);
  expect(dev.status?.gpus).toEqual({ total: 2, vms: 1, kubernetes: 0, free: 1 });

  // Each action is recorded as an events.k8s.io Event on the GpuVm.
  const events = await waitFor(
    async () => {
      const list = (await api().listNamespacedCustomObject({ group: 'events.k8s.io', version: 'v1', plural: 'events', namespace: namespace() })) as {
        items: { reason: string; regarding: { name: string; kind: string }; reportingController: string }[];
      };
      const reasons = list.items.filter((e) => e.regarding.name === 'vm1').map((e) => e.reason);
      return reasons.includes('Deploying') && reasons.includes('InstallingDriver') ? list.items : undefined;
    },
    { description: 'Deploying and InstallingDriver events' },
  );
  expect(events.every((e) => e.reportingController === 'gpuvm.io/gpuvm-controller')).toBe(true);
  const described = await kubectl(['describe', 'gvm', 'vm1', '-n', namespace()]);
  expect(described.stdout).toMatch(/Deploying/);
});

test('Delete removes the VM, its NIC and deployments, then the object', async () => {
  const vm = (await getGpuVm('vm1')) as GpuVm;
  const deleted = await kubectl(['delete', 'gvm/vm1', '-n', namespace(), '--timeout=60s']);
  expect(deleted.code).toBe(0);
  expect(await getGpuVm('vm1')).toBeUndefined();
  const state = sim().deviceState('sim-a');
  expect(state.vms.filter((v) => v.name === 'vm1')).toEqual([]);
  expect(state.nics.filter((n) => n.name === 'vm1-nic')).toEqual([]);
  expect(state.deployments.filter((d) => d.name.includes(vm.metadata.uid ?? 'x'))).toEqual([]);
  await waitFor(
    async () => {
      const dev = (await api().getClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name: device() })) as EdgeDevice;
      return dev.status?.allocations?.length === 0 && dev.status.gpus?.free === 2;
    },
    { description: 'the reservation to be released' },
  );
});

test('Orphan leaves the device untouched', async () => {
  await applyManifest(gpuVmManifests({ name: 'keep', device: device(), deletionPolicy: 'Orphan' }), { namespace: namespace() });
  expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/keep', '--timeout=60s'])).code).toBe(0);
  const before = sim().audit().length;
  expect((await kubectl(['delete', 'gvm/keep', '-n', namespace(), '--timeout=30s'])).code).toBe(0);
  const writes = sim()
    .audit()
    .slice(before)
    .filter((e) => e.method !== 'GET' && e.device === 'sim-a' && !e.path.includes('/oauth2/'));
  expect(writes).toEqual([]);
  expect(sim().deviceState('sim-a').vms.map((v) => v.name)).toContain('keep');
});

test('an EdgeDevice with GpuVms still bound waits to be deleted and names them', async () => {
  await applyManifest(gpuVmManifests({ name: 'pin', device: device(), deletionPolicy: 'Orphan' }), { namespace: namespace() });
  expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/pin', '--timeout=60s'])).code).toBe(0);
  expect((await kubectl(['delete', 'edev', device(), '--wait=false'])).code).toBe(0);
  const blocked = await waitFor(
    async () => {
      const d = (await api().getClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name: device() })) as EdgeDevice;
      const ready = d.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.reason === 'Deleting' ? ready : undefined;
    },
    { description: 'the device to report its bound GpuVms' },
  );
  expect(blocked.message).toMatch(new RegExp(`waiting for GpuVm\\(s\\) ${namespace()}/pin`));
  expect((await kubectl(['delete', 'gvm/pin', '-n', namespace(), '--timeout=30s'])).code).toBe(0);
  await waitFor(async () => (await kubectl(['get', 'edev', device()])).code !== 0, { description: 'the EdgeDevice to be deleted' });
});

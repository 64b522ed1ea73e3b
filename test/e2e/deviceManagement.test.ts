// Deallocation guard, drain and foreign GPU VMs, end to end.
import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getEdgeDevice, getGpuVm, patchEdgeDeviceSpec, patchGpuVm } from '../support/objects.js';
import { deployVm, deviceClientsFor } from '../simulator/support.js';

const namespace = useTestNamespace('device-mgmt');
const sim = useSimulator({
  devices: [
    { name: 'guard', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'drain', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'foreign', gpus: 2, images: [LINUX_IMAGE] },
  ],
});
const controller = useController(namespace);
const dev = (simName: string) => `${namespace()}-${simName}`;

afterAll(() => {
  expect(sim().violations()).toEqual([]);
  expect(controller().logs()).not.toMatch(/"level":"error"/);
});

async function waitFor2(name: string, predicate: (c: ReturnType<typeof conditionOf>, phase: string | undefined) => boolean, type: string, what: string) {
  return waitFor(
    async () => {
      const g = await getGpuVm(namespace(), name);
      return predicate(conditionOf(g, type), g?.status?.phase) ? g : undefined;
    },
    { timeoutMs: 30_000, description: what },
  );
}

async function waitReady(name: string): Promise<void> {
  expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', `gvm/${name}`, '--timeout=60s'])).code).toBe(0);
}

test('deallocation is refused where Kubernetes is configured, and allowed with the annotation', async () => {
  await applyManifest(deviceManifests(sim(), 'guard', namespace(), { name: dev('guard') }));
  await applyManifest(gpuVmManifests({ name: 'guarded', device: dev('guard') }), { namespace: namespace() });
  await waitReady('guarded');
  await patchEdgeDeviceSpec(dev('guard'), { kubernetes: { state: 'Configured' } });
  await waitFor(async () => conditionOf(await getEdgeDevice(dev('guard')), 'KubernetesConfigured')?.status === 'True', {
    timeoutMs: 30_000,
    description: 'Kubernetes configured',
  });

  const before = sim().audit().length;
  await patchGpuVm(namespace(), 'guarded', { spec: { powerState: 'Deallocated' } });
  const blocked = await waitFor2('guarded', (c) => c?.reason === 'DeallocationBlocked', 'PowerStateSynced', 'DeallocationBlocked');
  expect(conditionOf(blocked, 'PowerStateSynced')?.message).toMatch(/gpuvm\.io\/allow-gpu-release: "true"/);
  expect(conditionOf(blocked, 'Stalled')).toMatchObject({ status: 'True', reason: 'DeallocationBlocked' });
  expect(sim().audit().slice(before).filter((e) => e.method === 'POST' && e.path.endsWith('/deallocate'))).toEqual([]);

  await patchGpuVm(namespace(), 'guarded', { metadata: { annotations: { 'gpuvm.io/allow-gpu-release': 'true' } } });
  await waitFor2('guarded', (c) => c?.status === 'True', 'PowerStateSynced', 'the VM to be deallocated');
  expect(sim().deviceState('guard').vms.find((v) => v.name === 'guarded')?.powerState).toMatch(/deallocated/);
});

test('drain powers every GPU VM off and reports Drained; undrain restores the desired power state', async () => {
  await applyManifest(deviceManifests(sim(), 'drain', namespace(), { name: dev('drain') }));
  await applyManifest([gpuVmManifests({ name: 'd1', device: dev('drain') }), gpuVmManifests({ name: 'd2', device: dev('drain') })].join('---\n'), {
    namespace: namespace(),
  });
  await waitReady('d1');
  await waitReady('d2');
  await patchEdgeDeviceSpec(dev('drain'), { drain: true });
  await waitFor(async () => conditionOf(await getEdgeDevice(dev('drain')), 'Drained')?.status === 'True', {
    timeoutMs: 30_000,
    description: 'the device to be drained',
  });
  for (const name of ['d1', 'd2']) {
    const g = await getGpuVm(namespace(), name);
    expect(conditionOf(g, 'PowerStateSynced')).toMatchObject({ status: 'True', reason: 'Drained' });
    expect(g?.status?.phase).toBe('Stopped');
    expect(sim().deviceState('drain').vms.find((v) => v.name === name)?.powerState).toMatch(/stopped/);
  }
  // Powered off, not deallocated: the VMs keep their GPUs.
  expect((await getEdgeDevice(dev('drain'))).status?.gpus).toMatchObject({ vms: 2, free: 0 });

  await patchEdgeDeviceSpec(dev('drain'), { drain: false });
  for (const name of ['d1', 'd2']) {
    await waitFor2(name, (c, phase) => c?.reason === 'InSync' && phase === 'Ready', 'PowerStateSynced', `${name} running again`);
  }
  expect(sim().deviceState('drain').vms.every((v) => /running/.test(v.powerState))).toBe(true);
});

test('a foreign GPU VM is reported and counted, and a GpuVm that would exceed capacity because of it waits', async () => {
  const rg = sim().device('foreign').resourceGroup;
  await deployVm(deviceClientsFor(sim(), 'foreign'), rg, 'byhand');
  await applyManifest(deviceManifests(sim(), 'foreign', namespace(), { name: dev('foreign') }));
  const device = await waitFor(
    async () => {
      const d = await getEdgeDevice(dev('foreign'));
      return d.status?.foreignVms?.includes('byhand') ? d : undefined;
    },
    { timeoutMs: 30_000, description: 'the foreign VM to be reported' },
  );
  expect(device.status?.gpus).toEqual({ total: 2, vms: 1, kubernetes: 0, free: 1 });
  await applyManifest([gpuVmManifests({ name: 'f1', device: dev('foreign') }), gpuVmManifests({ name: 'f2', device: dev('foreign') })].join('---\n'), {
    namespace: namespace(),
  });
  await waitFor(
    async () => {
      const [a, b] = await Promise.all([getGpuVm(namespace(), 'f1'), getGpuVm(namespace(), 'f2')]);
      const states = [a, b].map((g) => conditionOf(g, 'Ready')?.status === 'True' ? 'ready' : conditionOf(g, 'GpuReserved')?.reason);
      return states.includes('ready') && states.includes('InsufficientGpus');
    },
    { timeoutMs: 60_000, description: 'one Ready and one waiting for the GPU the foreign VM holds' },
  );
  const table = await kubectl(['get', 'edev', dev('foreign')]);
  expect(table.stdout).toMatch(new RegExp(`${dev('foreign')}\\s+2\\s+2\\s+0\\s+0\\s`));
});

import type { GpuVm } from '../../src/api/types.js';
import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getEdgeDevice, listGpuVms } from '../support/objects.js';

const namespace = useTestNamespace('admission');
const sim = useSimulator({
  devices: [
    { name: 'sim-a', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'sim-b', gpus: 2, images: [LINUX_IMAGE] },
  ],
});
const controller = useController(namespace);

const ready = (g: GpuVm) => conditionOf(g, 'Ready')?.status === 'True';
const devA = () => `${namespace()}-a`;
const devB = () => `${namespace()}-b`;

beforeAll(async () => {
  await applyManifest(deviceManifests(sim(), 'sim-a', namespace(), { name: devA() }));
  await applyManifest(deviceManifests(sim(), 'sim-b', namespace(), { name: devB() }));
});

afterAll(() => {
  expect(sim().violations()).toEqual([]);
  expect(controller().logs()).not.toMatch(/"level":"error"/);
});

test('3 GpuVms on a 2-GPU device: the 2 oldest become Ready, the third waits with its queue position until a GPU is released', async () => {
  for (const name of ['first', 'second', 'third']) {
    await applyManifest(gpuVmManifests({ name, device: devA() }), { namespace: namespace() });
    await new Promise((r) => setTimeout(r, 1100)); // distinct creationTimestamps (second precision)
  }
  await waitFor(async () => (await listGpuVms(namespace())).filter((g) => g.spec.deviceRef.name === devA() && ready(g)).length === 2, {
    timeoutMs: 60_000,
    description: 'two Ready GpuVms',
  });
  const vms = await listGpuVms(namespace());
  expect(vms.filter(ready).map((g) => g.metadata.name).sort()).toEqual(['first', 'second']);
  const third = vms.find((g) => g.metadata.name === 'third');
  expect(third?.status?.phase).toBe('WaitingForGpu');
  expect(conditionOf(third, 'GpuReserved')).toMatchObject({ status: 'False', reason: 'InsufficientGpus' });
  expect(conditionOf(third, 'GpuReserved')?.message).toMatch(/position 1 in the queue .* 0 of 2 free/);
  expect(conditionOf(third, 'Ready')).toMatchObject({ status: 'False', reason: 'InsufficientGpus' });
  const device = await getEdgeDevice(devA());
  expect(device.status?.gpus).toEqual({ total: 2, vms: 2, kubernetes: 0, free: 0 });
  const edev = await kubectl(['get', 'edev', devA()]);
  expect(edev.stdout).toMatch(new RegExp(`${devA()}\\s+2\\s+2\\s+0\\s+0\\s+True`));
  // No deployment was attempted for the waiting GpuVm.
  expect(sim().audit({ device: 'sim-a' }).filter((e) => e.method === 'PUT' && e.path.includes(`gpuvm-vm-${third?.metadata.uid}`))).toEqual([]);

  expect((await kubectl(['delete', 'gvm/first', '-n', namespace(), '--timeout=60s'])).code).toBe(0);
  expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/third', '--timeout=60s'])).code).toBe(0);
});

test('10 GpuVms applied at once to a 2-GPU device: never more than 2 VM creations', async () => {
  const manifests = Array.from({ length: 10 }, (_, i) => gpuVmManifests({ name: `burst-${i}`, device: devB(), secretName: 'burst-admin' })).join('---\n');
  await applyManifest(manifests, { namespace: namespace() });
  await waitFor(async () => (await listGpuVms(namespace())).filter((g) => g.spec.deviceRef.name === devB() && ready(g)).length === 2, {
    timeoutMs: 60_000,
    description: 'two Ready GpuVms on the second device',
  });
  // Give the controller time to do anything it should not.
  await new Promise((r) => setTimeout(r, 2000));
  const creations = sim()
    .audit({ device: 'sim-b' })
    .filter((e) => e.method === 'PUT' && /\/deployments\/gpuvm-vm-/.test(e.path) && e.status < 300);
  expect(creations).toHaveLength(2);
  expect(sim().deviceState('sim-b').vms).toHaveLength(2);
  const waiting = (await listGpuVms(namespace())).filter((g) => g.spec.deviceRef.name === devB() && !ready(g));
  expect(waiting).toHaveLength(8);
  expect(waiting.map((g) => conditionOf(g, 'GpuReserved')?.reason)).toEqual(Array(8).fill('InsufficientGpus'));
  expect(sim().violations()).toEqual([]);
});

// GPU accounting between device syncs: the device changes under the controller (a GPU VM made by hand, the
// Kubernetes role claiming GPUs) and the controller's counts follow at once, not at the next sync period.
import { isDeepStrictEqual } from 'node:util';
import type { GpuVm } from '../../src/api/types.js';
import { createDeviceClients } from '../../src/azure/deviceClients.js';
import { buildCreateVmDeployment } from '../../src/azure/gpuVmDeployments.js';
import type { Simulator } from '../../src/simulator/index.js';
import { applyManifest, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, TEST_PASSWORD, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getEdgeDevice, getGpuVm, patchEdgeDeviceSpec, waitGpuVmReady } from '../support/objects.js';

const namespace = useTestNamespace('accounting');
const sim = useSimulator({
  devices: [
    { name: 'hand', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'seen', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'role', gpus: 2, images: [LINUX_IMAGE] },
  ],
});
// Syncs far apart: whatever the test sees must come from the controller reacting, not from a periodic list.
const controller = useController(namespace, ['--sync-period', '1h']);
const dev = (simName: string) => `${namespace()}-${simName}`;

afterAll(() => {
  expect(sim().violations()).toEqual([]);
  expect(controller().logs()).not.toMatch(/"level":"error"/);
});

const waitReady = (name: string): Promise<void> => waitGpuVmReady(namespace(), name);

async function waitDeviceGpus(simName: string, gpus: { total: number; vms: number; kubernetes: number; free: number }, timeoutMs = 20_000): Promise<void> {
  let last: unknown;
  await waitFor(
    async () => {
      last = (await getEdgeDevice(dev(simName))).status?.gpus;
      return isDeepStrictEqual(last, gpus);
    },
    { timeoutMs, description: `${simName} GPUs ${JSON.stringify(gpus)}` },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; last gpus: ${JSON.stringify(last)}`);
  });
}

const createVmPuts = (s: Simulator, simName: string, uid: string | undefined) =>
  s.audit({ device: simName }).filter((e) => e.method === 'PUT' && e.path.endsWith(`/deployments/gpuvm-vm-${uid ?? '?'}`));

/** A GPU VM made on the device with the CreateVM template, as an operator would by hand: no GpuVm owns it. */
async function createVmByHand(s: Simulator, simName: string, vmName: string): Promise<void> {
  const d = s.device(simName);
  const clients = createDeviceClients({ ...d, caPem: s.caCertificatePem });
  const gpuVm = {
    metadata: { name: vmName, namespace: 'by-hand' },
    spec: { deviceRef: { name: simName }, size: 'Standard_NC4as_T4_v3', image: LINUX_IMAGE, adminCredentialsSecretRef: { name: 'x' } },
  } as GpuVm;
  const deployment = buildCreateVmDeployment(gpuVm, { username: 'operator', password: TEST_PASSWORD });
  deployment.parameters.tags = { value: {} };
  const versions = await clients.apiVersions.get();
  expect(versions.resources).toBeDefined();
  await clients.resources.deployments.beginCreateOrUpdateAndWait(
    d.resourceGroup,
    `by-hand-${vmName}`,
    { properties: { mode: 'Incremental', template: deployment.template, parameters: deployment.parameters } },
    { updateIntervalInMs: 50 },
  );
  expect(s.deviceState(simName).vms.find((v) => v.name === vmName)?.powerState).toBe('running');
}

test('a GPU VM made by hand between syncs: the GpuVm admitted into it waits for a GPU after one failed CreateVM, and the device counts 2 holders', async () => {
  // Without spec.azure nothing tells the controller the device changed until a CreateVM fails on it.
  await applyManifest(deviceManifests(sim(), 'hand', namespace(), { name: dev('hand'), azure: false }));
  await applyManifest(gpuVmManifests({ name: 'first', device: dev('hand') }), { namespace: namespace() });
  await waitReady('first');
  await waitDeviceGpus('hand', { total: 2, vms: 1, kubernetes: 0, free: 1 });

  await createVmByHand(sim(), 'hand', 'byhand');
  await applyManifest(gpuVmManifests({ name: 'second', device: dev('hand') }), { namespace: namespace() });

  // The controller still believes a GPU is free: it admits the GpuVm, whose CreateVM then fails on the device.
  const uid = (await getGpuVm(namespace(), 'second'))?.metadata.uid;
  await waitFor(() => createVmPuts(sim(), 'hand', uid).length > 0, { timeoutMs: 30_000, description: 'the CreateVM PUT of second' });
  const waiting = await waitFor(
    async () => {
      const g = await getGpuVm(namespace(), 'second');
      return conditionOf(g, 'GpuReserved')?.reason === 'InsufficientGpus' && g?.status?.phase === 'WaitingForGpu' ? g : undefined;
    },
    { timeoutMs: 30_000, description: 'second back to waiting for a GPU with InsufficientGpus' },
  );
  expect(conditionOf(waiting, 'GpuReserved')?.message).toMatch(/(failed and the device has no free GPU|0 of 2 free)/);
  expect(conditionOf(waiting, 'Stalled')?.status).toBe('False');
  await waitDeviceGpus('hand', { total: 2, vms: 2, kubernetes: 0, free: 0 });
  const device = await getEdgeDevice(dev('hand'));
  expect(device.status?.foreignVms).toEqual(['byhand']);
  expect(device.status?.allocations?.map((a) => a.gpuVm)).toEqual([`${namespace()}/first`]);

  // No retry against a full device: one CreateVM, and none while it waits.
  await new Promise((r) => setTimeout(r, 3000));
  expect(createVmPuts(sim(), 'hand', waiting.metadata.uid).filter((e) => e.status < 300)).toHaveLength(1);
  expect((await getGpuVm(namespace(), 'second'))?.status?.phase).toBe('WaitingForGpu');
});

test('a GPU VM made by hand on a device with spec.azure: the change in GPUs in use lists the device again before any deployment', async () => {
  await applyManifest(deviceManifests(sim(), 'seen', namespace(), { name: dev('seen') }));
  await applyManifest(gpuVmManifests({ name: 'one', device: dev('seen') }), { namespace: namespace() });
  await waitReady('one');
  await waitDeviceGpus('seen', { total: 2, vms: 1, kubernetes: 0, free: 1 });

  await createVmByHand(sim(), 'seen', 'byhand2');
  await applyManifest(gpuVmManifests({ name: 'two', device: dev('seen') }), { namespace: namespace() });
  const waiting = await waitFor(
    async () => {
      const g = await getGpuVm(namespace(), 'two');
      return conditionOf(g, 'GpuReserved')?.reason === 'InsufficientGpus' ? g : undefined;
    },
    { timeoutMs: 30_000, description: 'two waiting with InsufficientGpus' },
  );
  await waitDeviceGpus('seen', { total: 2, vms: 2, kubernetes: 0, free: 0 });
  expect((await getEdgeDevice(dev('seen'))).status?.foreignVms).toEqual(['byhand2']);
  await new Promise((r) => setTimeout(r, 1000));
  expect(createVmPuts(sim(), 'seen', waiting.metadata.uid)).toEqual([]);
});

test('Kubernetes configured on a 2-GPU device with one VM: the role is seen holding 1 GPU at once, and a new GpuVm is refused without a deployment', async () => {
  await applyManifest(deviceManifests(sim(), 'role', namespace(), { name: dev('role') }));
  await applyManifest(gpuVmManifests({ name: 'vm', device: dev('role') }), { namespace: namespace() });
  await waitReady('vm');
  await waitDeviceGpus('role', { total: 2, vms: 1, kubernetes: 0, free: 1 });

  await patchEdgeDeviceSpec(dev('role'), { kubernetes: { state: 'Configured' } });
  const configured = await waitFor(
    async () => {
      const d = await getEdgeDevice(dev('role'));
      return conditionOf(d, 'KubernetesConfigured')?.status === 'True' ? d : undefined;
    },
    { timeoutMs: 30_000, description: 'Kubernetes configured' },
  );
  expect(sim().deviceState('role').gpus.kubernetes).toBe(1);
  // Within moments of the role being created, not at the next VM list an hour away.
  await waitDeviceGpus('role', { total: 2, vms: 1, kubernetes: 1, free: 0 }, 5000);
  expect(conditionOf(await getEdgeDevice(dev('role')), 'KubernetesConfigured')?.message).toMatch(/holds 1 GPU/);
  expect(configured.status?.kubernetes?.roles?.map((r) => r.kind)).toEqual(['Kubernetes']);

  await applyManifest(gpuVmManifests({ name: 'late', device: dev('role') }), { namespace: namespace() });
  const refused = await waitFor(
    async () => {
      const g = await getGpuVm(namespace(), 'late');
      return conditionOf(g, 'GpuReserved')?.reason === 'KubernetesHoldsGpus' ? g : undefined;
    },
    { timeoutMs: 20_000, description: 'late refused with KubernetesHoldsGpus' },
  );
  await new Promise((r) => setTimeout(r, 1000));
  expect(createVmPuts(sim(), 'role', refused.metadata.uid)).toEqual([]);
});

// The device facts' five ordering scenarios, the ordering gate and Kubernetes removal, end to end.
import { isDeepStrictEqual } from 'node:util';
import type { Simulator } from '../../src/simulator/index.js';
import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getEdgeDevice, getGpuVm, patchEdgeDeviceSpec } from '../support/objects.js';

const namespace = useTestNamespace('ordering');
const sim = useSimulator({
  devices: [
    { name: 's1', gpus: 1, images: [LINUX_IMAGE] },
    { name: 's2', gpus: 1, images: [LINUX_IMAGE], kubernetes: true },
    { name: 's3', gpus: 2, images: [LINUX_IMAGE] },
    { name: 's4', gpus: 2, images: [LINUX_IMAGE] },
    { name: 's5', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'gate', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'remove', gpus: 2, images: [LINUX_IMAGE], kubernetes: true },
  ],
});
const controller = useController(namespace);
const dev = (simName: string) => `${namespace()}-${simName}`;

afterAll(() => {
  expect(sim().violations()).toEqual([]);
  expect(controller().logs()).not.toMatch(/"level":"error"/);
});

async function addDevice(simName: string, kubernetes: 'Unmanaged' | 'Configured' | 'NotConfigured' = 'Unmanaged'): Promise<void> {
  await applyManifest(deviceManifests(sim(), simName, namespace(), { name: dev(simName), kubernetes }));
}

async function addGpuVm(name: string, simName: string): Promise<void> {
  await applyManifest(gpuVmManifests({ name, device: dev(simName) }), { namespace: namespace() });
}

async function waitReady(name: string): Promise<void> {
  const r = await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', `gvm/${name}`, '--timeout=60s']);
  expect({ name, code: r.code, err: r.stderr }).toMatchObject({ code: 0 });
}

async function waitKubernetesConfigured(simName: string): Promise<void> {
  await waitFor(async () => conditionOf(await getEdgeDevice(dev(simName)), 'KubernetesConfigured')?.status === 'True', {
    timeoutMs: 60_000,
    description: `Kubernetes configured on ${simName}`,
  });
}

async function waitGpus(simName: string, gpus: { total: number; vms: number; kubernetes: number; free: number }): Promise<void> {
  let last: unknown;
  await waitFor(
    async () => {
      const status = (await getEdgeDevice(dev(simName))).status;
      last = { gpus: status?.gpus, kubernetes: status?.kubernetes, conditions: status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`) };
      return isDeepStrictEqual(status?.gpus, gpus);
    },
    { timeoutMs: 30_000, description: `${simName} GPUs ${JSON.stringify(gpus)}` },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; device status: ${JSON.stringify(last)}`);
  });
  const table = await kubectl(['get', 'edev', dev(simName)]);
  expect(table.stdout).toMatch(new RegExp(`${dev(simName)}\\s+${gpus.total}\\s+${gpus.vms}\\s+${gpus.kubernetes}\\s+${gpus.free}\\s`));
}

const deploymentPuts = (s: Simulator, simName: string) =>
  s.audit({ device: simName }).filter((e) => e.method === 'PUT' && e.path.includes('/deployments/'));

async function expectRefused(name: string, simName: string): Promise<void> {
  const g = await waitFor(
    async () => {
      const vm = await getGpuVm(namespace(), name);
      return conditionOf(vm, 'GpuReserved')?.reason === 'KubernetesHoldsGpus' ? vm : undefined;
    },
    { timeoutMs: 30_000, description: `${name} refused with KubernetesHoldsGpus` },
  );
  expect(conditionOf(g, 'GpuReserved')?.message).toMatch(/spec\.kubernetes\.state: NotConfigured/);
  expect(g.status?.phase).toBe('WaitingForGpu');
  await new Promise((r) => setTimeout(r, 1000));
  expect(deploymentPuts(sim(), simName)).toEqual([]);
}

test('1 GPU, VM first, then Kubernetes: the VM is Ready and Kubernetes is configured with no GPU', async () => {
  await addDevice('s1');
  await addGpuVm('s1-vm', 's1');
  await waitReady('s1-vm');
  await patchEdgeDeviceSpec(dev('s1'), { kubernetes: { state: 'Configured' } });
  await waitKubernetesConfigured('s1');
  expect(sim().deviceState('s1').kubernetes?.provisioningState).toBe('Created');
  expect(sim().deviceState('s1').gpus.kubernetes).toBe(0);
  await waitGpus('s1', { total: 1, vms: 1, kubernetes: 0, free: 0 });
  await waitReady('s1-vm');
});

test('1 GPU, Kubernetes first: a GpuVm is refused with KubernetesHoldsGpus and no deployment is attempted', async () => {
  await addDevice('s2');
  await waitGpus('s2', { total: 1, vms: 0, kubernetes: 1, free: 0 });
  await addGpuVm('s2-vm', 's2');
  await expectRefused('s2-vm', 's2');
});

test('2 GPUs, one VM first, then Kubernetes: the VM has one GPU and Kubernetes the other', async () => {
  await addDevice('s3');
  await addGpuVm('s3-vm', 's3');
  await waitReady('s3-vm');
  await patchEdgeDeviceSpec(dev('s3'), { kubernetes: { state: 'Configured' } });
  await waitKubernetesConfigured('s3');
  expect(sim().deviceState('s3').gpus.kubernetes).toBe(1);
  await waitGpus('s3', { total: 2, vms: 1, kubernetes: 1, free: 0 });
});

test('2 GPUs, two VMs first, then Kubernetes: both Ready and Kubernetes has no GPU', async () => {
  await addDevice('s4');
  await addGpuVm('s4-a', 's4');
  await addGpuVm('s4-b', 's4');
  await waitReady('s4-a');
  await waitReady('s4-b');
  await patchEdgeDeviceSpec(dev('s4'), { kubernetes: { state: 'Configured' } });
  await waitKubernetesConfigured('s4');
  const device = await getEdgeDevice(dev('s4'));
  expect(conditionOf(device, 'KubernetesConfigured')?.message).toMatch(/holds 0 GPU/);
  await waitGpus('s4', { total: 2, vms: 2, kubernetes: 0, free: 0 });
});

test('2 GPUs, Kubernetes first: the role is created, later GpuVms are refused with no deployment', async () => {
  await addDevice('s5', 'Configured');
  await waitKubernetesConfigured('s5');
  await waitGpus('s5', { total: 2, vms: 0, kubernetes: 2, free: 0 });
  await addGpuVm('s5-vm', 's5');
  await expectRefused('s5-vm', 's5');
});

test('Configured in the same apply as two GpuVms: the role is created only after both VMs hold their GPUs', async () => {
  const manifests = [
    deviceManifests(sim(), 'gate', namespace(), { name: dev('gate'), kubernetes: 'Configured' }),
    gpuVmManifests({ name: 'gate-a', device: dev('gate') }),
    gpuVmManifests({ name: 'gate-b', device: dev('gate') }),
  ];
  // Slow VM creation, so the gate is seen holding Kubernetes back while the VMs deploy.
  const timings = sim().timings();
  sim().setTimings({ vmCreateMs: 2500 });
  // One kubectl apply; the GpuVms are namespaced, the device is not.
  await applyManifest(manifests.join('---\n'), { namespace: namespace() });
  const waiting = await waitFor(
    async () => {
      const d = await getEdgeDevice(dev('gate'));
      const c = conditionOf(d, 'KubernetesConfigured');
      return c?.reason === 'WaitingForGpuVms' && /gate-a|gate-b/.test(c.message) ? d : undefined;
    },
    { timeoutMs: 30_000, description: 'the gate to hold Kubernetes back for the GpuVms' },
  );
  expect(conditionOf(waiting, 'KubernetesConfigured')?.status).toBe('False');
  await waitReady('gate-a');
  await waitReady('gate-b');
  sim().setTimings(timings);
  await waitKubernetesConfigured('gate');
  const audit = sim().audit();
  const rolePut = audit.find((e) => e.method === 'PUT' && e.path.includes(`/dataBoxEdgeDevices/gate/roles/`));
  expect(rolePut).toBeDefined();
  for (const vm of ['gate-a', 'gate-b']) {
    const vmSeen = audit.find((e) => e.device === 'gate' && e.method === 'GET' && e.status === 200 && e.path.endsWith(`/virtualMachines/${vm}`));
    expect(vmSeen?.seq).toBeLessThan(rolePut?.seq ?? 0);
  }
  expect(sim().deviceState('gate').gpus.kubernetes).toBe(0);
  await waitGpus('gate', { total: 2, vms: 2, kubernetes: 0, free: 0 });
});

test('NotConfigured removes the role and the waiting GpuVms proceed to Ready', async () => {
  await addDevice('remove');
  await addGpuVm('remove-vm', 'remove');
  await expectRefused('remove-vm', 'remove');
  await patchEdgeDeviceSpec(dev('remove'), { kubernetes: { state: 'NotConfigured' } });
  await waitReady('remove-vm');
  expect(sim().deviceState('remove').kubernetes).toBeNull();
  const device = await getEdgeDevice(dev('remove'));
  expect(conditionOf(device, 'KubernetesConfigured')).toMatchObject({ status: 'False', reason: 'NotConfigured' });
  await waitGpus('remove', { total: 2, vms: 1, kubernetes: 0, free: 1 });
});

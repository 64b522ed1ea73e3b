// The device facts' five ordering scenarios, the ordering gate and Kubernetes removal, end to end, on devices of
// several profiles (src/simulator/profiles.ts): api-version sets, token forms, IoT or Kubernetes compute roles,
// GPU exhaustion codes. `conservative` combines the most restrictive choice of each.
import { execFile } from 'node:child_process';
import { isDeepStrictEqual, promisify } from 'node:util';
import type { Simulator } from '../../src/simulator/index.js';
import { applyManifest, kubectl, testKubeconfigPath, useTestNamespace, waitFor } from '../support/cluster.js';
import { CLI, useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getEdgeDevice, getGpuVm, patchEdgeDeviceSpec, waitGpuVmReady } from '../support/objects.js';

// ase-2203 differs from ase-2106 only in its release (the GPU driver version), which the ordering does not
// depend on; deviceProfiles.test.ts covers it.
const PROFILES = ['default', 'ase-2106', 'ase-2205', 'ase-2403', 'conservative'] as const;
const SCENARIO_DEVICES: { name: string; gpus: 1 | 2; kubernetes?: boolean }[] = [
  { name: 's1', gpus: 1 },
  { name: 's2', gpus: 1, kubernetes: true },
  { name: 's3', gpus: 2 },
  { name: 's4', gpus: 2 },
  { name: 's5', gpus: 2 },
  { name: 'gate', gpus: 2 },
  { name: 'remove', gpus: 2, kubernetes: true },
];

const namespace = useTestNamespace('ordering');
const sim = useSimulator({
  devices: PROFILES.flatMap((profile) => SCENARIO_DEVICES.map((d) => ({ ...d, name: `${profile}-${d.name}`, profile, images: [LINUX_IMAGE] }))),
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

const waitReady = (name: string): Promise<void> => waitGpuVmReady(namespace(), name);

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

/** `gpuvm-controller explain TARGET` as a user runs it against the cluster: its output lines. */
async function explain(target: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'explain', target, '-n', namespace(), '--kubeconfig', testKubeconfigPath()]);
  return stdout.trimEnd().split('\n');
}

const line = (lines: string[], label: string): string => lines.find((l) => l.startsWith(`  ${label}: `)) ?? `(no ${label} line in:\n${lines.join('\n')})`;

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

describe.each(PROFILES)('profile %s', (profile) => {
  const d = (scenario: string) => `${profile}-${scenario}`;

  test('1 GPU, VM first, then Kubernetes: the VM is Ready and Kubernetes is configured with no GPU', async () => {
    await addDevice(d('s1'));
    await addGpuVm(d('s1-vm'), d('s1'));
    await waitReady(d('s1-vm'));
    await patchEdgeDeviceSpec(dev(d('s1')), { kubernetes: { state: 'Configured' } });
    await waitKubernetesConfigured(d('s1'));
    expect(sim().deviceState(d('s1')).kubernetes?.provisioningState).toBe('Created');
    expect(sim().deviceState(d('s1')).gpus.kubernetes).toBe(0);
    await waitGpus(d('s1'), { total: 1, vms: 1, kubernetes: 0, free: 0 });
    await waitReady(d('s1-vm'));
    const device = await explain(`edev/${dev(d('s1'))}`);
    expect(line(device, 'GPUs')).toBe('  GPUs: 1 total, 1 held by VMs, 0 by Kubernetes, 0 free');
    expect(line(device, 'Ledger')).toBe(`  Ledger: ${namespace()}/${d('s1-vm')} Held`);
    expect(line(device, 'Queue')).toBe('  Queue: no GpuVm waits for a GPU');
    expect(line(device, 'Kubernetes')).toMatch(/^ {2}Kubernetes: spec Configured; observed Configured holding 0 GPU\(s\); \w+ role /);
    expect(line(await explain(`gvm/${d('s1-vm')}`), 'To do')).toBe('  To do: nothing: the VM is Ready');
  });

  test('1 GPU, Kubernetes first: a GpuVm is refused with KubernetesHoldsGpus and no deployment is attempted', async () => {
    await addDevice(d('s2'));
    await waitGpus(d('s2'), { total: 1, vms: 0, kubernetes: 1, free: 0 });
    await addGpuVm(d('s2-vm'), d('s2'));
    await expectRefused(d('s2-vm'), d('s2'));
    const vm = await explain(`gvm/${d('s2-vm')}`);
    expect(vm[0]).toMatch(new RegExp(`^gpuvm ${namespace()}/${d('s2-vm')} on edgedevice ${dev(d('s2'))}: WaitingForGpu; `));
    expect(line(vm, 'GPU')).toMatch(/^ {2}GPU: False, KubernetesHoldsGpus: /);
    expect(line(vm, 'Queue')).toBe(`  Queue: position 1 of 1 on ${dev(d('s2'))}; its GPUs: 1 total, 0 held by VMs, 1 by Kubernetes, 0 free; 0 GpuVm(s) in its ledger`);
    expect(line(vm, 'Kubernetes')).toMatch(/^ {2}Kubernetes: holds 1 GPU\(s\) of the device/);
    expect(line(vm, 'To do')).toMatch(/^ {2}To do: wait for a GPU to free up, or free one: .*spec\.kubernetes\.state: NotConfigured$/);
    expect(line(await explain(`edev/${dev(d('s2'))}`), 'Queue')).toMatch(new RegExp(`^ {2}Queue: 1\\. ${namespace()}/${d('s2-vm')} \\(waiting \\d+s\\)$`));
  });

  test('2 GPUs, one VM first, then Kubernetes: the VM has one GPU and Kubernetes the other', async () => {
    await addDevice(d('s3'));
    await addGpuVm(d('s3-vm'), d('s3'));
    await waitReady(d('s3-vm'));
    await patchEdgeDeviceSpec(dev(d('s3')), { kubernetes: { state: 'Configured' } });
    await waitKubernetesConfigured(d('s3'));
    expect(sim().deviceState(d('s3')).gpus.kubernetes).toBe(1);
    await waitGpus(d('s3'), { total: 2, vms: 1, kubernetes: 1, free: 0 });
    const device = await explain(`edev/${dev(d('s3'))}`);
    expect(line(device, 'GPUs')).toBe('  GPUs: 2 total, 1 held by VMs, 1 by Kubernetes, 0 free');
    expect(line(device, 'Ledger')).toBe(`  Ledger: ${namespace()}/${d('s3-vm')} Held`);
  });

  test('2 GPUs, two VMs first, then Kubernetes: both Ready and Kubernetes has no GPU', async () => {
    await addDevice(d('s4'));
    await addGpuVm(d('s4-a'), d('s4'));
    await addGpuVm(d('s4-b'), d('s4'));
    await waitReady(d('s4-a'));
    await waitReady(d('s4-b'));
    await patchEdgeDeviceSpec(dev(d('s4')), { kubernetes: { state: 'Configured' } });
    await waitKubernetesConfigured(d('s4'));
    const device = await getEdgeDevice(dev(d('s4')));
    expect(conditionOf(device, 'KubernetesConfigured')?.message).toMatch(/holds 0 GPU/);
    await waitGpus(d('s4'), { total: 2, vms: 2, kubernetes: 0, free: 0 });
    const explained = await explain(`edev/${dev(d('s4'))}`);
    expect(line(explained, 'GPUs')).toBe('  GPUs: 2 total, 2 held by VMs, 0 by Kubernetes, 0 free');
    expect(line(explained, 'Ledger')).toBe(`  Ledger: ${namespace()}/${d('s4-a')} Held, ${namespace()}/${d('s4-b')} Held`);
  });

  test('2 GPUs, Kubernetes first: the role is created, later GpuVms are refused with no deployment', async () => {
    await addDevice(d('s5'), 'Configured');
    await waitKubernetesConfigured(d('s5'));
    await waitGpus(d('s5'), { total: 2, vms: 0, kubernetes: 2, free: 0 });
    await addGpuVm(d('s5-vm'), d('s5'));
    await expectRefused(d('s5-vm'), d('s5'));
    const vm = await explain(`gvm/${d('s5-vm')}`);
    expect(line(vm, 'Queue')).toBe(`  Queue: position 1 of 1 on ${dev(d('s5'))}; its GPUs: 2 total, 0 held by VMs, 2 by Kubernetes, 0 free; 0 GpuVm(s) in its ledger`);
    expect(line(vm, 'Kubernetes')).toMatch(/^ {2}Kubernetes: holds 2 GPU\(s\) of the device \(Configured\)$/);
  });

  test('Configured in the same apply as two GpuVms: the role is created only after both VMs hold their GPUs', async () => {
    const manifests = [
      deviceManifests(sim(), d('gate'), namespace(), { name: dev(d('gate')), kubernetes: 'Configured' }),
      gpuVmManifests({ name: d('gate-a'), device: dev(d('gate')) }),
      gpuVmManifests({ name: d('gate-b'), device: dev(d('gate')) }),
    ];
    // Slow VM creation, so the gate is seen holding Kubernetes back while the VMs deploy.
    const timings = sim().timings();
    sim().setTimings({ vmCreateMs: 2500 });
    // One kubectl apply; the GpuVms are namespaced, the device is not.
    await applyManifest(manifests.join('---\n'), { namespace: namespace() });
    const waiting = await waitFor(
      async () => {
        const device = await getEdgeDevice(dev(d('gate')));
        const c = conditionOf(device, 'KubernetesConfigured');
        return c?.reason === 'WaitingForGpuVms' && new RegExp(`${d('gate-a')}|${d('gate-b')}`).test(c.message) ? device : undefined;
      },
      { timeoutMs: 30_000, description: 'the gate to hold Kubernetes back for the GpuVms' },
    );
    expect(conditionOf(waiting, 'KubernetesConfigured')?.status).toBe('False');
    await waitReady(d('gate-a'));
    await waitReady(d('gate-b'));
    sim().setTimings(timings);
    await waitKubernetesConfigured(d('gate'));
    const audit = sim().audit();
    const rolePut = audit.find((e) => e.method === 'PUT' && e.path.includes(`/dataBoxEdgeDevices/${d('gate')}/roles/`));
    expect(rolePut).toBeDefined();
    for (const vm of [d('gate-a'), d('gate-b')]) {
      // The VM holds its GPU once its CreateVM deployment succeeded, which the controller knows (and shows by
      // starting the VM's driver install) before it reads the VM itself.
      const uid = (await getGpuVm(namespace(), vm))?.metadata.uid ?? '?';
      const vmSeen = audit.find(
        (e) =>
          e.device === d('gate') &&
          ((e.method === 'GET' && e.status === 200 && e.path.endsWith(`/virtualMachines/${vm}`)) || (e.method === 'PUT' && e.path.includes(`/deployments/gpuvm-gpu-${uid}`))),
      );
      expect(vmSeen?.seq).toBeLessThan(rolePut?.seq ?? 0);
    }
    expect(sim().deviceState(d('gate')).gpus.kubernetes).toBe(0);
    await waitGpus(d('gate'), { total: 2, vms: 2, kubernetes: 0, free: 0 });
  });

  test('NotConfigured removes the role and the waiting GpuVms proceed to Ready', async () => {
    await addDevice(d('remove'));
    await addGpuVm(d('remove-vm'), d('remove'));
    await expectRefused(d('remove-vm'), d('remove'));
    await patchEdgeDeviceSpec(dev(d('remove')), { kubernetes: { state: 'NotConfigured' } });
    await waitReady(d('remove-vm'));
    expect(sim().deviceState(d('remove')).kubernetes).toBeNull();
    const device = await getEdgeDevice(dev(d('remove')));
    expect(conditionOf(device, 'KubernetesConfigured')).toMatchObject({ status: 'False', reason: 'NotConfigured' });
    await waitGpus(d('remove'), { total: 2, vms: 1, kubernetes: 0, free: 1 });
  });
});

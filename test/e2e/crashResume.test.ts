import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { getGpuVm } from '../support/objects.js';

const namespace = useTestNamespace('crash');
// Long enough VM creation that the controller can be killed while the deployment runs.
const sim = useSimulator({ devices: [{ name: 'sim-a', gpus: 2, images: [LINUX_IMAGE] }], timings: { vmCreateMs: 3000 } });
const controller = useController(namespace);
const device = () => `${namespace()}-dev`;

test('a controller killed during a deployment resumes it after a restart: exactly one VM and one CreateVM deployment', async () => {
  await applyManifest(deviceManifests(sim(), 'sim-a', namespace(), { name: device() }));
  await applyManifest(gpuVmManifests({ name: 'vm1', device: device() }), { namespace: namespace() });
  const putCreateVm = () => sim().audit({ device: 'sim-a' }).filter((e) => e.method === 'PUT' && /\/deployments\/gpuvm-vm-/.test(e.path));
  await waitFor(() => putCreateVm().length > 0, { timeoutMs: 30_000, description: 'the CreateVM deployment to start' });
  expect(sim().deviceState('sim-a').deployments.find((d) => d.name.startsWith('gpuvm-vm-'))?.provisioningState).toMatch(/^(Accepted|Running)$/);

  await controller().kill();
  const afterKill = sim().audit().length;
  await controller().start();

  expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/vm1', '--timeout=60s'])).code).toBe(0);
  expect(putCreateVm()).toHaveLength(1);
  expect(sim().deviceState('sim-a').vms.map((v) => v.name)).toEqual(['vm1']);
  // The restarted controller found the deployment by its name and waited for it.
  const resumed = sim()
    .audit()
    .slice(afterKill)
    .find((e) => e.method === 'GET' && /\/deployments\/gpuvm-vm-/.test(e.path));
  expect(resumed).toBeDefined();
  const vm = await getGpuVm(namespace(), 'vm1');
  expect(vm?.status?.operation).toBeUndefined();
  expect(sim().violations()).toEqual([]);
});

import { CoreV1Api } from '@kubernetes/client-node';
import { applyManifest, kubectl, testKubeConfig, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, TEST_PASSWORD, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { getEdgeDevice, listGpuVms } from '../support/objects.js';
import { deviceClientsFor } from '../simulator/support.js';

const SYNC_PERIOD_MS = 2000;
const namespace = useTestNamespace('steady');
const sim = useSimulator({ devices: [{ name: 'sim-a', gpus: 2, images: [LINUX_IMAGE] }] });
const controller = useController(namespace, ['--sync-period', `${SYNC_PERIOD_MS}ms`]);
const device = () => `${namespace()}-dev`;

async function resourceVersions(): Promise<string[]> {
  const vms = await listGpuVms(namespace());
  return [(await getEdgeDevice(device())).metadata.resourceVersion ?? '', ...vms.map((g) => `${g.metadata.name}@${g.metadata.resourceVersion}`)];
}

test('after convergence, 3 resync periods make no ARM write and no API server write; a VM deleted behind our back is restored', async () => {
  await applyManifest(deviceManifests(sim(), 'sim-a', namespace(), { name: device() }));
  await applyManifest([gpuVmManifests({ name: 'vm1', device: device() }), gpuVmManifests({ name: 'vm2', device: device() })].join('---\n'), {
    namespace: namespace(),
  });
  for (const name of ['vm1', 'vm2']) {
    expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', `gvm/${name}`, '--timeout=60s'])).code).toBe(0);
  }
  // A new device is listed once on its way to Connected (its finalizer comes first, without reads), again when the
  // GPUs it reports in use change (each of the two VMs created: GPU accounting follows the device at once), and
  // otherwise only when its sync period is due. Each GpuVm takes its VM from a listing once its driver is installed
  // (one listing when both finish together, else one each).
  const listTimes = sim()
    .audit()
    .filter((e) => e.operation === 'vm.listAll')
    .map((e) => Date.parse(e.time));
  const early = listTimes.filter((t) => t < (listTimes[0] ?? 0) + SYNC_PERIOD_MS).length;
  expect(early).toBeGreaterThanOrEqual(1);
  expect(early).toBeLessThanOrEqual(5);

  // Let the last status writes and the device's next listing settle.
  await new Promise((r) => setTimeout(r, SYNC_PERIOD_MS + 500));

  const before = await resourceVersions();
  const auditStart = sim().audit().length;
  const events = async () =>
    (await testKubeConfig().makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: namespace() })).items.length;
  const eventsBefore = await events();
  await new Promise((r) => setTimeout(r, 3 * SYNC_PERIOD_MS + 500));

  const audit = sim().audit().slice(auditStart);
  const writes = audit.filter((e) => e.method !== 'GET' && e.operation !== 'token' && !e.operation.startsWith('identity'));
  expect(writes).toEqual([]);
  // One VM list per device per period, not a GET per VM.
  const lists = audit.filter((e) => e.operation === 'vm.listAll' || e.operation === 'vm.list');
  expect(lists.length).toBeGreaterThanOrEqual(2);
  expect(lists.length).toBeLessThanOrEqual(4);
  expect(audit.filter((e) => e.operation === 'vm.get' || e.operation === 'vm.instanceView')).toEqual([]);
  expect(await resourceVersions()).toEqual(before);
  expect(await events()).toBe(eventsBefore);

  // Drift: the VM deleted outside the controller comes back at the next resync.
  const outside = deviceClientsFor(sim(), 'sim-a');
  await outside.compute.virtualMachines.delete(sim().device('sim-a').resourceGroup, 'vm2', { updateIntervalInMs: 50 });
  expect(sim().deviceState('sim-a').vms.map((v) => v.name)).toEqual(['vm1']);
  await waitFor(
    () => sim().deviceState('sim-a').vms.some((v) => v.name === 'vm2') && sim().audit().slice(auditStart).some((e) => e.method === 'PUT'),
    { timeoutMs: 30_000, description: 'vm2 to be recreated' },
  );
  expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/vm2', '--timeout=60s'])).code).toBe(0);
  // The deleted VM's managed OS disk outlived it; the controller removed it before deploying the VM again.
  expect(sim().deviceState('sim-a').disks).toHaveLength(2);
  expect(sim().deviceState('sim-a').disks).toEqual(sim().deviceState('sim-a').vms.map((v) => v.osDisk));

  // The admin password appears in no log, Event or status.
  expect(controller().logs()).not.toContain(TEST_PASSWORD);
  const everything = JSON.stringify([
    await listGpuVms(namespace()),
    (await testKubeConfig().makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: namespace() })).items,
  ]);
  expect(everything).not.toContain(TEST_PASSWORD);
});

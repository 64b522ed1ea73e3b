// A device that refuses a request outright (an ARM 4xx on the deployment PUT): the failure reaches the GpuVm's
// status and its Events, named by the ARM error code, and a device that echoes the admin password back does not
// get it into either.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { applyManifest, testKubeConfig, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, TEST_PASSWORD, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf } from '../support/objects.js';
import { waitForReason } from '../reliability/support/badInputChecks.js';

const namespace = useTestNamespace('tenancy-action-errors');
const sim = useSimulator({ devices: [{ name: 'sim-refuses', gpus: 1, images: [LINUX_IMAGE] }] });
useController(namespace);
const device = () => `${namespace()}-dev`;

interface Event {
  type: string;
  reason: string;
  note?: string;
  regarding: { name: string; kind: string };
}

beforeAll(async () => {
  await applyManifest(deviceManifests(sim(), 'sim-refuses', namespace(), { name: device() }));
});

test('an ARM 400 on the deployment PUT becomes a VmProvisioned condition and a Warning Event named by the ARM code, without the password', async () => {
  sim().addFault({
    operation: 'deployment.put',
    kind: 'badRequest',
    device: 'sim-refuses',
    code: 'InvalidParameter',
    message: `The value '${TEST_PASSWORD}' of parameter 'adminPassword' is not allowed by a policy of this device.`,
  });
  await applyManifest(gpuVmManifests({ name: 'refused', device: device() }), { namespace: namespace() });

  const g = await waitForReason(namespace(), 'refused', 'VmProvisioned', 'InvalidParameter', 45_000);
  const provisioned = conditionOf(g, 'VmProvisioned');
  expect(provisioned).toMatchObject({ status: 'False' });
  expect(provisioned?.message).toMatch(/^deployment gpuvm-vm-\S+ failed: InvalidParameter: .*; retrying with backoff$/);
  expect(conditionOf(g, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidParameter' });
  // The operation did not start: nothing claims a deployment is in flight.
  expect(g.status?.operation).toBeUndefined();

  const events = await waitFor(
    async () => {
      const list = (await testKubeConfig()
        .makeApiClient(CustomObjectsApi)
        .listNamespacedCustomObject({ group: 'events.k8s.io', version: 'v1', plural: 'events', namespace: namespace() })) as { items: Event[] };
      const found = list.items.filter((e) => e.regarding.name === 'refused' && e.reason === 'InvalidParameter');
      return found.length > 0 ? found : undefined;
    },
    { description: 'a Warning Event with reason InvalidParameter' },
  );
  expect(events[0]).toMatchObject({ type: 'Warning' });
  expect(events[0]?.note).toMatch(/InvalidParameter/);
  for (const text of [JSON.stringify(g.status), ...events.map((e) => e.note ?? '')]) {
    expect(text).not.toContain(TEST_PASSWORD);
  }
  expect(provisioned?.message).toContain('[redacted]');

  // It keeps being retried with backoff: more than one refused PUT, and no VM.
  await waitFor(() => sim().audit({ device: 'sim-refuses' }).filter((e) => e.operation === 'deployment.put' && e.status === 400).length >= 2, {
    description: 'a retried PUT',
  });
  expect(sim().deviceState('sim-refuses').vms).toEqual([]);
});

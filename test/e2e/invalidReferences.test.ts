import { applyManifest, useTestNamespace } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf } from '../support/objects.js';
import { armWrites, waitForReason } from '../reliability/support/badInputChecks.js';

const namespace = useTestNamespace('invalid-refs');
const sim = useSimulator({ devices: [{ name: 'sim-a', gpus: 2, images: [LINUX_IMAGE] }] });
useController(namespace);
const device = () => `${namespace()}-dev`;

beforeAll(async () => {
  await applyManifest(deviceManifests(sim(), 'sim-a', namespace(), { name: device() }));
});

test.each([
  ['a missing admin Secret', { name: 'no-secret', noSecret: true }, 'VmProvisioned', 'SecretNotFound', /Secret .*\/no-secret-admin .*does not exist: create it with keys username and password or sshPublicKey/],
  ['an unknown device', { name: 'no-device', deviceOverride: 'no-such-device' }, 'GpuReserved', 'DeviceNotFound', /EdgeDevice no-such-device does not exist: create it or fix spec.deviceRef.name/],
  ['a missing image', { name: 'no-image', image: { name: 'not-uploaded', osType: 'Linux' as const } }, 'VmProvisioned', 'ImageNotFound', /image not-uploaded does not exist .* upload it to device .* or re-create the GpuVm with another image \(spec\.image cannot be changed\)/],
])('%s is reported as a condition that names the fix, with zero ARM writes', async (_what, o, type, reason, message) => {
  const before = armWrites(sim()).length;
  const { deviceOverride, ...options } = o as typeof o & { deviceOverride?: string };
  await applyManifest(gpuVmManifests({ device: deviceOverride ?? device(), ...options }), { namespace: namespace() });
  const g = await waitForReason(namespace(), options.name, type, reason);
  expect(conditionOf(g, type)?.message).toMatch(message);
  expect(conditionOf(g, 'Ready')).toMatchObject({ status: 'False', reason });
  // kstatus: in progress, not failed; the controller keeps looking.
  expect(conditionOf(g, 'Stalled')?.status).toBe('False');
  await new Promise((r) => setTimeout(r, 1500));
  expect(armWrites(sim()).slice(before)).toEqual([]);
});

test('a Secret created later unblocks the GpuVm without any other change', async () => {
  await applyManifest(
    `apiVersion: v1\nkind: Secret\nmetadata: {name: no-secret-admin}\nstringData: {username: azureuser, password: Later-Passw0rd-123}\n`,
    { namespace: namespace() },
  );
  await waitForReason(namespace(), 'no-secret', 'Ready', 'Ready');
});

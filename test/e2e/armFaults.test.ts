import type { GpuVm } from '../../src/api/types.js';
import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getGpuVm, listGpuVms } from '../support/objects.js';
import { EventLoopStalls, requestsBeforeRetryAfter } from '../reliability/support/faultAudit.js';

const namespace = useTestNamespace('arm-faults');
const sim = useSimulator({
  devices: [
    { name: 'sim-ext', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'sim-429', gpus: 2, images: [LINUX_IMAGE] },
  ],
  seed: 7,
});
const controller = useController(namespace);

beforeAll(async () => {
  await applyManifest(deviceManifests(sim(), 'sim-ext', namespace(), { name: `${namespace()}-ext` }));
  await applyManifest(deviceManifests(sim(), 'sim-429', namespace(), { name: `${namespace()}-429` }));
});

afterAll(() => {
  expect(sim().violations()).toEqual([]);
});

test('a failed GPU driver install is reported with the ARM message, keeps the VM, and is retried', async () => {
  sim().addFault({ operation: 'extension.install', kind: 'extensionFailure', device: 'sim-ext', count: 1 });
  await applyManifest(gpuVmManifests({ name: 'ext', device: `${namespace()}-ext` }), { namespace: namespace() });
  const failed = await waitFor(
    async () => {
      const g = await getGpuVm(namespace(), 'ext');
      return conditionOf(g, 'GpuDriverInstalled')?.reason === 'DriverInstallFailed' ? g : undefined;
    },
    { timeoutMs: 30_000, description: 'DriverInstallFailed' },
  );
  expect(conditionOf(failed, 'GpuDriverInstalled')?.status).toBe('False');
  expect(conditionOf(failed, 'GpuDriverInstalled')?.message).toMatch(/VMExtensionProvisioningError/);
  expect(conditionOf(failed, 'VmProvisioned')?.status).toBe('True');
  // The injected failure happens once: the retry (after its backoff) installs the driver.
  expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/ext', '--timeout=60s'])).code).toBe(0);
});

test('with 20% of requests throttled (429 + Retry-After) everything converges and no request comes early', async () => {
  sim().addFault({ operation: '*', kind: 'throttle', device: 'sim-429', rate: 0.2, retryAfterSeconds: 1 });
  // A request the in-process simulator handles late, after its event loop stalled, may have arrived in time.
  const simStalls = new EventLoopStalls().start();
  const manifests = ['t1', 't2'].map((name) => gpuVmManifests({ name, device: `${namespace()}-429` })).join('---\n');
  await applyManifest(manifests, { namespace: namespace() });
  await waitFor(
    async () => {
      const vms = (await listGpuVms(namespace())).filter((g: GpuVm) => g.spec.deviceRef.name === `${namespace()}-429`);
      return vms.length === 2 && vms.every((g) => conditionOf(g, 'Ready')?.status === 'True');
    },
    { timeoutMs: 90_000, description: 'both GpuVms Ready under throttling' },
  );
  simStalls.stop();
  const audit = sim().audit({ device: 'sim-429' });
  const throttled = audit.filter((e) => e.status === 429);
  expect(throttled.length).toBeGreaterThan(0);
  // No ARM request to the device may start within the Retry-After (1 s) of a 429 it answered.
  const early = requestsBeforeRetryAfter(audit, (e) => (e.status === 429 ? 1000 : undefined), { inFlightAllowance: (answered, start) => simStalls.within(answered, start) });
  expect(early).toEqual([]);
  expect(controller().logs()).not.toMatch(/"level":"fatal"/);
});

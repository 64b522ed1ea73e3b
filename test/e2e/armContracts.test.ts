// Contracts, not beliefs: drives the controller through the lifecycle it performs on a device (EdgeDevice
// with spec.azure and Kubernetes configured, a GpuVm to Ready, Stopped and Running again, deleted and
// re-created under the same name) with the simulator keeping every request body, then replays every body
// against the published Azure REST API specs (src/simulator/contracts/derived) in strict mode: readOnly
// properties, unknown properties, enum values, types and required properties all count.
import { formatFindings, replayAudit } from '../../src/simulator/contracts/replay.js';
import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, TEST_PASSWORD, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getEdgeDevice, getGpuVm, patchEdgeDeviceSpec, patchGpuVm } from '../support/objects.js';
import { SecretScanner, formatHits } from '../reliability/support/secretScan.js';

const namespace = useTestNamespace('contracts');
// kubernetesClaimsFreedGpus off: the deleted VM's GPU stays free for the re-created one.
const sim = useSimulator({ devices: [{ name: 'c1', gpus: 2, images: [LINUX_IMAGE] }], auditBodies: true, kubernetesClaimsFreedGpus: false });
const controller = useController(namespace);
const device = () => `${namespace()}-c1`;

async function waitReady(name: string): Promise<void> {
  const wait = await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', `gvm/${name}`, '--timeout=60s']);
  expect({ code: wait.code, out: wait.stdout + wait.stderr }).toMatchObject({ code: 0 });
}

async function waitPhase(name: string, phase: string): Promise<void> {
  await waitFor(async () => (await getGpuVm(namespace(), name))?.status?.phase === phase, { timeoutMs: 30_000, description: `${name} ${phase}` });
}

test('the controller performs the device lifecycle', async () => {
  await applyManifest(deviceManifests(sim(), 'c1', namespace(), { name: device() }));
  await applyManifest(gpuVmManifests({ name: 'vm1', device: device() }), { namespace: namespace() });
  await waitReady('vm1');
  // Powered off before Kubernetes is configured: where compute runs, Stopped is refused (StopBlocked).
  await patchGpuVm(namespace(), 'vm1', { spec: { powerState: 'Stopped' } });
  await waitPhase('vm1', 'Stopped');
  await patchGpuVm(namespace(), 'vm1', { spec: { powerState: 'Running' } });
  await waitReady('vm1');
  await waitPhase('vm1', 'Ready');

  await patchEdgeDeviceSpec(device(), { kubernetes: { state: 'Configured' } });
  await waitFor(async () => conditionOf(await getEdgeDevice(device()), 'KubernetesConfigured')?.status === 'True', { timeoutMs: 30_000, description: 'Kubernetes configured' });
  expect(sim().deviceState('c1').kubernetes?.provisioningState).toBe('Created');

  expect((await kubectl(['delete', 'gvm', 'vm1', '-n', namespace(), '--wait=true', '--timeout=60s'])).code).toBe(0);
  expect(sim().deviceState('c1').vms).toEqual([]);
  await applyManifest(gpuVmManifests({ name: 'vm1', device: device() }), { namespace: namespace() });
  await waitReady('vm1');
});

test('every request body the controller sent matches the published contract (strict replay)', () => {
  const audit = sim().audit();
  const result = replayAudit(audit);
  expect(formatFindings(result.findings)).toEqual([]);
  // The replay saw the role, both deployments of both VM lifetimes and the resources inside them.
  const checkedTypes = new Set(result.findings.map((f) => `${f.check.namespace}/${f.check.resourceType}`));
  expect([...checkedTypes].sort()).toEqual(
    [
      'Microsoft.Compute/virtualMachines',
      'Microsoft.Compute/virtualMachines/extensions',
      'Microsoft.DataBoxEdge/dataBoxEdgeDevices/roles',
      'Microsoft.Network/networkInterfaces',
      'Microsoft.Resources/deployments',
    ].sort(),
  );
  expect(result.checked).toBeGreaterThanOrEqual(5);
  expect(result.templateResources).toBeGreaterThanOrEqual(6);
  expect(result.unchecked).toEqual([]);
  // Every request the controller made with a body was accepted.
  expect(audit.filter((e) => e.body !== undefined && e.status >= 400).map((e) => `${e.method} ${e.path} ${e.status} ${e.errorCode ?? ''}`)).toEqual([]);
  // The audit keeps bodies with every secret redacted: admin password, device and service principal credentials, tokens.
  const d = sim().device('c1');
  const scanner = new SecretScanner([TEST_PASSWORD, d.password, d.servicePrincipal.clientSecret, sim().endpoints().azure.clientSecret]);
  expect(audit.filter((e) => e.body !== undefined).length).toBeGreaterThanOrEqual(5);
  expect(formatHits(scanner.scan('simulator audit', audit.map((e) => JSON.stringify(e)).join('\n')))).toBe('');
});

afterAll(() => {
  expect(sim().violations()).toEqual([]);
  expect(controller().logs()).not.toMatch(/"level":"error"/);
});

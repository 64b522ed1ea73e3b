// Hostile device answers, one device each, all served to one controller process at once: a device that never
// answers, one that trickles bytes, garbage, `{}` for a VM being deleted, a 50 MB VM list, and 429 with
// Retry-After 99999999. The controller stays up, a healthy device keeps converging, and each hostile device's
// status says what happened in a bounded message.
import { stringify } from 'yaml';
import { FINALIZER, type Condition, type EdgeDevice } from '../../src/api/types.js';
import { edgeDeviceManifests } from '../../src/simulator/edgeDeviceManifests.js';
import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { TEST_DEVICE_LABEL, useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getEdgeDevice, getGpuVm } from '../support/objects.js';
import { HostileDeviceServer, VM_LIST, vmGet, type HostileRule } from './hostileDeviceServer.js';

/** The condition message limit the controller documents (MAX_CONDITION_MESSAGE_BYTES). */
const MESSAGE_LIMIT_BYTES = 2048;
const HOSTILE = ['hang', 'trickle', 'garbage', 'empty', 'huge', 'throttle'] as const;
type HostileName = (typeof HOSTILE)[number];

const namespace = useTestNamespace('device-responses');
const sim = useSimulator({ devices: [{ name: 'healthy', gpus: 2, images: [LINUX_IMAGE] }, ...HOSTILE.map((name) => ({ name, gpus: 2, images: [LINUX_IMAGE] }))], seed: 13 });
const controller = useController(namespace);
const fronts = new Map<HostileName, HostileDeviceServer>();

const edgeDevice = (name: string): string => `${namespace()}-${name}`;
const front = (name: HostileName): HostileDeviceServer => {
  const f = fronts.get(name);
  if (f === undefined) throw new Error(`no front for ${name}`);
  return f;
};

/** The EdgeDevice of simulator device `name`, reached through its hostile front. */
function frontedDeviceManifests(name: HostileName, endpoint: string): string {
  const docs = edgeDeviceManifests(sim(), name, { name: edgeDevice(name), secretNamespace: namespace(), azure: false, labels: { [TEST_DEVICE_LABEL]: namespace() } });
  for (const doc of docs as { kind?: string; spec?: { arm: { endpoint: string; loginEndpoint: string } } }[]) {
    if (doc.kind === 'EdgeDevice' && doc.spec !== undefined) {
      doc.spec.arm.endpoint = endpoint;
      doc.spec.arm.loginEndpoint = endpoint;
    }
  }
  return docs.map((d) => stringify(d)).join('---\n');
}

async function connectedCondition(name: HostileName, reason: string, timeoutMs: number): Promise<{ device: EdgeDevice; connected: Condition }> {
  return waitFor(
    async () => {
      const device = await getEdgeDevice(edgeDevice(name));
      const connected = conditionOf(device, 'Connected');
      return connected?.status === 'False' && connected.reason === reason ? { device, connected } : undefined;
    },
    { timeoutMs, description: `EdgeDevice ${edgeDevice(name)} Connected=False ${reason}` },
  );
}

function expectBoundedStatus(device: EdgeDevice): void {
  for (const c of device.status?.conditions ?? []) expect(Buffer.byteLength(c.message)).toBeLessThanOrEqual(MESSAGE_LIMIT_BYTES);
  expect(Buffer.byteLength(JSON.stringify(device.status ?? {}))).toBeLessThan(64 * 1024);
}

beforeAll(async () => {
  const tls = { ...sim().loopbackCertificate, caPem: sim().caCertificatePem };
  const rules: Record<HostileName, HostileRule[]> = {
    hang: [{ method: 'GET', path: VM_LIST, hostility: { kind: 'hang' } }],
    trickle: [{ method: 'GET', path: VM_LIST, hostility: { kind: 'trickle', intervalMs: 200 } }],
    garbage: [{ method: 'GET', path: VM_LIST, hostility: { kind: 'garbage' } }],
    empty: [], // hostile only once its GpuVm is being deleted
    huge: [{ method: 'GET', path: VM_LIST, hostility: { kind: 'huge', bytes: 50 * 1024 * 1024, resourceGroup: sim().device('huge').resourceGroup } }],
    throttle: [{ method: 'GET', path: VM_LIST, hostility: { kind: 'retryAfter', value: '99999999' } }],
  };
  for (const name of HOSTILE) {
    const f = await HostileDeviceServer.start(sim().device(name).armEndpoint, tls);
    fronts.set(name, f);
    f.setRules(rules[name]);
    await applyManifest(frontedDeviceManifests(name, f.endpoint));
  }
  await applyManifest(deviceManifests(sim(), 'healthy', namespace(), { name: edgeDevice('healthy'), azure: false }));
});

afterAll(async () => {
  for (const f of fronts.values()) await f.stop();
});

test('a device that accepts the request and never answers is not Connected, with the timeout named', async () => {
  const { device, connected } = await connectedCondition('hang', 'DeviceUnreachable', 75_000);
  expect(connected.message).toMatch(/no answer within 30 s|did not finish its answer within 30 s/);
  expectBoundedStatus(device);
}, 90_000);

test('a device that trickles its answer byte by byte is cut off at the request timeout, not kept waiting', async () => {
  const { device, connected } = await connectedCondition('trickle', 'DeviceUnreachable', 75_000);
  expect(connected.message).toMatch(/within 30 s/);
  expectBoundedStatus(device);
}, 90_000);

test('a device answering garbage for its VM list is reported as an invalid answer, not as unreachable', async () => {
  const { device, connected } = await connectedCondition('garbage', 'InvalidDeviceResponse', 30_000);
  expect(connected.message).toMatch(/list of virtual machines: the device answered HTTP 200 without a list|deserializ/);
  expectBoundedStatus(device);
});

test('a device answering a 50 MB VM list is read no further than 4 MiB and reported with a bounded message', async () => {
  const { device, connected } = await connectedCondition('huge', 'InvalidDeviceResponse', 45_000);
  expect(connected.message).toMatch(/more than the 4194304 bytes the controller reads/);
  expectBoundedStatus(device);
}, 60_000);

test('429 with Retry-After 99999999: the device is reported throttling, waited on for at most 5 minutes, and not asked again meanwhile', async () => {
  const { device, connected } = await connectedCondition('throttle', 'DeviceThrottling', 30_000);
  expect(connected.message).toMatch(/waiting 300 s \(the most the controller waits; the device asked for Retry-After 99999999\)/);
  expectBoundedStatus(device);
  const seen = front('throttle').hostileRequests().length;
  // The EdgeDevice is requeued at the capped Retry-After and every other request fails at the throttle gate.
  await new Promise((resolve) => setTimeout(resolve, 8000));
  expect(front('throttle').hostileRequests().length).toBe(seen);
  expect(seen).toBe(1);
}, 60_000);

test('a VM that reads as 200 {} while its GpuVm is deleted is unreadable: the finalizer stays and the VM is not left behind', async () => {
  const ns = namespace();
  await applyManifest(gpuVmManifests({ name: 'owned', device: edgeDevice('empty') }), { namespace: ns });
  expect((await kubectl(['wait', '-n', ns, '--for=condition=Ready', 'gvm/owned', '--timeout=90s'])).code).toBe(0);
  front('empty').setRules([{ method: 'GET', path: vmGet('owned'), hostility: { kind: 'emptyObject' } }]);
  expect((await kubectl(['delete', '-n', ns, 'gvm/owned', '--wait=false'])).code).toBe(0);
  await waitFor(() => front('empty').hostileRequests().length >= 3, { timeoutMs: 30_000, description: 'three reads of the VM answered {}' });
  const deleting = await getGpuVm(ns, 'owned');
  expect(deleting?.metadata.finalizers ?? []).toContain(FINALIZER);
  expect(sim().deviceState('empty').vms.map((v) => v.name)).toContain('owned');
  // Once the device answers properly again, the deletion finishes and takes the VM with it.
  front('empty').setRules([]);
  await waitFor(async () => (await getGpuVm(ns, 'owned')) === undefined, { timeoutMs: 60_000, description: 'GpuVm owned deleted' });
  expect(sim().deviceState('empty').vms.map((v) => v.name)).not.toContain('owned');
}, 180_000);

test('through all of it the controller process stayed up and a healthy device converged', async () => {
  await applyManifest(gpuVmManifests({ name: 'well', device: edgeDevice('healthy') }), { namespace: namespace() });
  expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/well', '--timeout=90s'])).code).toBe(0);
  expect(controller().startCount).toBe(1);
  expect(controller().pid).toBeDefined();
  expect(() => process.kill(controller().pid ?? -1, 0)).not.toThrow();
  expect(controller().logs()).not.toMatch(/uncaught|unhandledRejection|FATAL ERROR|heap out of memory/i);
}, 120_000);

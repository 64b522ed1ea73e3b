// Tenants on a shared device: one controller watching every namespace (as installed by manifests/), three tenant
// namespaces, devices that allow only some of them. The test runs its own control plane: a controller watching
// all namespaces of the run's shared one would act on other test files' GpuVms.
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION, type EdgeDevice, type GpuVm } from '../../src/api/types.js';
import { type ControlPlane, startControlPlane } from '../../src/devenv/controlPlane.js';
import { installCrds } from '../../src/devenv/crds.js';
import { edgeDeviceManifests } from '../../src/simulator/edgeDeviceManifests.js';
import { waitFor } from '../support/cluster.js';
import { ControllerProcess, TEST_DEVICE_LABEL } from '../support/controllerHarness.js';
import { LINUX_IMAGE, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf } from '../support/objects.js';
import { isArmWrite } from '../reliability/support/badInputChecks.js';

const SYSTEM = 'tenancy-system';
const [TEAM_A, TEAM_B, TEAM_C] = ['team-a', 'team-b', 'team-c'];
const sim = useSimulator({
  devices: [
    { name: 'shared', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'single', gpus: 1, images: [LINUX_IMAGE] },
  ],
});

let plane: ControlPlane | undefined;
let controller: ControllerProcess | undefined;
const api = (): CustomObjectsApi => {
  if (plane === undefined) throw new Error('the control plane exists only inside tests and hooks');
  const kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfigPath);
  return kc.makeApiClient(CustomObjectsApi);
};

async function kubectl(args: string[], input?: string): Promise<void> {
  const r = await plane?.kubectl(args, input !== undefined ? { input } : {});
  if (r?.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed:\n${r?.stderr ?? ''}${r?.stdout ?? ''}`);
}

const apply = (manifest: string, namespace?: string): Promise<void> => kubectl(['apply', ...(namespace !== undefined ? ['-n', namespace] : []), '-f', '-'], manifest);

async function getGpuVm(namespace: string, name: string): Promise<GpuVm | undefined> {
  try {
    return (await api().getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace, name })) as GpuVm;
  } catch {
    return undefined;
  }
}

const getDevice = async (name: string): Promise<EdgeDevice> =>
  (await api().getClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name })) as EdgeDevice;

function waitForReason(namespace: string, name: string, type: string, reason: string, timeoutMs = 45_000): Promise<GpuVm> {
  return waitFor(
    async () => {
      const g = await getGpuVm(namespace, name);
      return conditionOf(g, type)?.reason === reason ? g : undefined;
    },
    { timeoutMs, intervalMs: 250, description: `${namespace}/${name} ${type} reason ${reason}` },
  );
}

/** The device's EdgeDevice, its Secrets in the controller's namespace, and (when given) spec.allowedNamespaces. */
async function applyDevice(simDevice: string, allowedNamespaces?: string[]): Promise<void> {
  const docs = edgeDeviceManifests(sim(), simDevice, { name: simDevice, secretNamespace: SYSTEM, labels: { [TEST_DEVICE_LABEL]: SYSTEM } }) as { kind: string; spec?: Record<string, unknown> }[];
  for (const doc of docs) if (doc.kind === 'EdgeDevice' && allowedNamespaces !== undefined) doc.spec = { ...doc.spec, allowedNamespaces };
  await apply(docs.map((d) => stringify(d)).join('---\n'));
}

/** Requests the simulator logged whose path names this GpuVm's UID (its deployments) or, when given, its VM name. */
const requestsFor = (simDevice: string, g: GpuVm, byName: boolean) =>
  sim()
    .audit({ device: simDevice })
    .filter((e) => {
      const segments = e.path.toLowerCase().split(/[/?]/);
      return segments.some((s) => s.includes(g.metadata.uid ?? '-') || (byName && (s === g.metadata.name || s === `${g.metadata.name ?? ''}-nic`)));
    });

const allocatedUids = async (device: string): Promise<string[]> => ((await getDevice(device)).status?.allocations ?? []).map((a) => a.uid);

beforeAll(async () => {
  plane = await startControlPlane();
  await installCrds(plane);
  for (const ns of [SYSTEM, TEAM_A, TEAM_B, TEAM_C]) await kubectl(['create', 'namespace', ns]);
  await applyDevice('shared', [TEAM_A, TEAM_B]);
  await applyDevice('single');
  // Every namespace, as the installed controller runs: `--namespace ''` undoes the harness's one-namespace scope.
  controller = new ControllerProcess({
    namespace: SYSTEM,
    kubeconfig: plane.kubeconfigPath,
    args: ['--namespace', '', '--device-selector', `${TEST_DEVICE_LABEL}=${SYSTEM}`],
    env: { POD_NAMESPACE: SYSTEM },
  });
  await controller.start();
}, 90_000);

afterAll(async () => {
  await controller?.stop();
  await plane?.stop();
});

test('a GpuVm from a namespace the device does not allow gets NamespaceNotAllowed, no reservation and not one ARM request', async () => {
  await apply(gpuVmManifests({ name: 'intruder', device: 'shared' }), TEAM_C);
  const g = await waitForReason(TEAM_C, 'intruder', 'GpuReserved', 'NamespaceNotAllowed');
  expect(conditionOf(g, 'GpuReserved')).toMatchObject({ status: 'False' });
  expect(conditionOf(g, 'GpuReserved')?.message).toMatch(/namespace team-c is not in spec.allowedNamespaces of EdgeDevice shared: ask the device's administrator to add it/);
  expect(conditionOf(g, 'Ready')).toMatchObject({ status: 'False', reason: 'NamespaceNotAllowed' });
  // Look again after the controller had time to do what it should not.
  await new Promise((r) => setTimeout(r, 2000));
  expect(await allocatedUids('shared')).not.toContain(g.metadata.uid);
  expect(requestsFor('shared', g, true)).toEqual([]);
  // Deleting it touches the device neither.
  await kubectl(['delete', 'gvm/intruder', '-n', TEAM_C, '--timeout=30s']);
  expect(requestsFor('shared', g, true)).toEqual([]);
});

test('two namespaces ask for the same VM name on one device: the older GpuVm gets it, the other VmNameConflict and never touches it', async () => {
  const manifest = (ns: string) => gpuVmManifests({ name: 'web', device: 'shared' }).replace(/metadata:\n/g, `metadata:\n  namespace: ${ns}\n`);
  await apply(`${manifest(TEAM_A)}---\n${manifest(TEAM_B)}`);
  const [a, b] = await Promise.all([getGpuVm(TEAM_A, 'web'), getGpuVm(TEAM_B, 'web')]);
  if (a === undefined || b === undefined) throw new Error('GpuVms were not created');
  const older = (x: GpuVm, y: GpuVm) => {
    const byTime = new Date(x.metadata.creationTimestamp ?? 0).getTime() - new Date(y.metadata.creationTimestamp ?? 0).getTime();
    return byTime < 0 || (byTime === 0 && (x.metadata.uid ?? '') < (y.metadata.uid ?? ''));
  };
  const [winner, loser] = older(a, b) ? [a, b] : [b, a];
  const loserNs = loser.metadata.namespace ?? '';
  const winnerNs = winner.metadata.namespace ?? '';

  const conflicted = await waitForReason(loserNs, 'web', 'VmProvisioned', 'VmNameConflict');
  expect(conditionOf(conflicted, 'VmProvisioned')?.message).toMatch(/VM name web on device shared belongs to a GpuVm in another namespace .*: rename this GpuVm/);
  // Another tenant is never named in a GpuVm's status.
  expect(JSON.stringify(conflicted.status)).not.toContain(winnerNs);
  await waitForReason(winnerNs, 'web', 'Ready', 'Ready');
  await new Promise((r) => setTimeout(r, 2000));

  // The loser made no request for the name, holds no GPU, and the VM is the winner's, deployed once.
  expect(requestsFor('shared', loser, false)).toEqual([]);
  expect(await allocatedUids('shared')).not.toContain(loser.metadata.uid);
  const state = sim().deviceState('shared');
  expect(state.vms.filter((v) => v.name === 'web')).toHaveLength(1);
  expect(state.deployments.map((d) => d.name)).toContain(`gpuvm-vm-${winner.metadata.uid ?? ''}`);
  expect(state.deployments.map((d) => d.name)).not.toContain(`gpuvm-vm-${loser.metadata.uid ?? ''}`);
  const vmWrites = sim()
    .audit({ device: 'shared' })
    .filter((e) => isArmWrite(e) && /\/virtualmachines\/web(\/|$|\?)/i.test(e.path));
  expect(vmWrites).toEqual([]);

  // Deleting the loser leaves the winner's VM, NIC and deployments alone.
  await kubectl(['delete', 'gvm/web', '-n', loserNs, '--timeout=30s']);
  expect(requestsFor('shared', loser, false)).toEqual([]);
  expect(sim().deviceState('shared').vms.filter((v) => v.name === 'web' && v.powerState === 'running')).toHaveLength(1);
  expect(sim().deviceState('shared').nics.map((n) => n.name)).toContain('web-nic');
});

test('a GpuVm whose Secret is missing holds no GPU: a younger GpuVm of another namespace gets it, and the fixed one queues in creation order', async () => {
  await apply(gpuVmManifests({ name: 'no-secret', device: 'single', noSecret: true }), TEAM_A);
  await waitForReason(TEAM_A, 'no-secret', 'VmProvisioned', 'SecretNotFound');
  await new Promise((r) => setTimeout(r, 1100)); // a later creationTimestamp (second precision)
  await apply(gpuVmManifests({ name: 'has-secret', device: 'single' }), TEAM_B);
  const ready = await waitForReason(TEAM_B, 'has-secret', 'Ready', 'Ready');
  const blocked = await getGpuVm(TEAM_A, 'no-secret');
  expect(await allocatedUids('single')).toEqual([ready.metadata.uid]);
  expect(conditionOf(blocked, 'GpuReserved')?.status).not.toBe('True');

  // Fixed: it waits first in line, and the holder in the other namespace is counted, not named.
  await apply('apiVersion: v1\nkind: Secret\nmetadata: {name: no-secret-admin}\nstringData: {username: azureuser, password: Later-Passw0rd-123}\n', TEAM_A);
  const waiting = await waitForReason(TEAM_A, 'no-secret', 'GpuReserved', 'InsufficientGpus');
  expect(conditionOf(waiting, 'GpuReserved')?.message).toMatch(/position 1 in the queue .* \(held by 1 GpuVm\(s\) in other namespaces\)/);
  expect(JSON.stringify(waiting.status)).not.toMatch(/team-b|has-secret/);

  // The GPU goes to it when released.
  await kubectl(['delete', 'gvm/has-secret', '-n', TEAM_B, '--timeout=60s']);
  await waitForReason(TEAM_A, 'no-secret', 'Ready', 'Ready', 60_000);
});

test('a namespace taken off the list keeps its existing VM, which is neither deleted nor created again, and says so', async () => {
  const winner = (await getGpuVm(TEAM_A, 'web')) ?? (await getGpuVm(TEAM_B, 'web'));
  if (winner === undefined) throw new Error('the previous test left no VM');
  const ns = winner.metadata.namespace ?? '';
  const since = sim().audit({ device: 'shared' }).at(-1)?.seq ?? 0;
  await kubectl(['patch', 'edev', 'shared', '--type', 'merge', '-p', JSON.stringify({ spec: { allowedNamespaces: [ns === TEAM_A ? TEAM_B : TEAM_A] } })]);
  const g = await waitForReason(ns, 'web', 'GpuReserved', 'NamespaceNotAllowed');
  expect(conditionOf(g, 'GpuReserved')).toMatchObject({ status: 'True' });
  expect(conditionOf(g, 'GpuReserved')?.message).toMatch(/The existing VM keeps its GPU .* not created again/);
  await new Promise((r) => setTimeout(r, 1500));
  expect(sim().audit({ device: 'shared', since }).filter((e) => isArmWrite(e) && e.path.toLowerCase().includes('/web'))).toEqual([]);
  expect(sim().deviceState('shared').vms.filter((v) => v.name === 'web' && v.powerState === 'running')).toHaveLength(1);
  expect(await allocatedUids('shared')).toContain(winner.metadata.uid);
});

// Pause (spec.suspend, Flux's convention) and reconcile now (the gpuvm.io/reconcile-requested-at annotation,
// answered in status.lastHandledReconcileAt), against the simulator's audit of every request it served.
import { RECONCILE_REQUESTED_ANNOTATION, type EdgeDevice, type GpuVm } from '../../src/api/types.js';
import type { AuditEntry } from '../../src/simulator/audit.js';
import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getEdgeDevice, getGpuVm, patchEdgeDeviceSpec, patchGpuVm, waitGpuVmReady } from '../support/objects.js';
import { deviceClientsFor } from '../simulator/support.js';

const sim = useSimulator({
  devices: [
    { name: 'pause-vm', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'pause-dev', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'now', gpus: 2, images: [LINUX_IMAGE] },
  ],
});

const auditSince = (seq: number): AuditEntry[] => sim().audit().filter((e) => e.seq > seq);
const lastSeq = (): number => sim().audit().at(-1)?.seq ?? 0;
const vmOnDevice = (simDevice: string, name: string) => sim().deviceState(simDevice).vms.find((v) => v.name === name);

/** Requests that name the GpuVm's VM, NIC, OS disk or deployments (the device's VM list names none of them). */
function requestsFor(entries: readonly AuditEntry[], gpuVm: GpuVm): AuditEntry[] {
  const marks = [`/virtualmachines/${gpuVm.metadata.name}`, `/${gpuVm.metadata.name}-nic`, gpuVm.metadata.uid ?? '', gpuVm.status?.osDiskName ?? '']
    .filter((m) => m !== '')
    .map((m) => m.toLowerCase());
  return entries.filter((e) => marks.some((m) => e.path.toLowerCase().includes(m)));
}

async function currentGpuVm(namespace: string, name: string): Promise<GpuVm> {
  const g = await getGpuVm(namespace, name);
  if (g === undefined) throw new Error(`GpuVm ${namespace}/${name} is gone`);
  return g;
}

/** Suspended=True and Reconciling=False for the object's current generation. */
function suspendedFor(o: GpuVm | EdgeDevice | undefined, reason: string): boolean {
  const suspended = conditionOf(o, 'Suspended');
  const reconciling = conditionOf(o, 'Reconciling');
  const generation = o?.metadata.generation;
  return (
    suspended?.status === 'True' &&
    suspended.reason === reason &&
    suspended.observedGeneration === generation &&
    reconciling?.status === 'False' &&
    reconciling.reason === 'Suspended' &&
    o?.status?.observedGeneration === generation
  );
}

describe('pause (spec.suspend)', () => {
  const SYNC_PERIOD_MS = 2000;
  const namespace = useTestNamespace('pause');
  useController(namespace, ['--sync-period', `${SYNC_PERIOD_MS}ms`]);

  test('a suspended GpuVm whose VM is deleted on the device stays deleted with no request for it, then is restored once resumed; its deletion waits while suspended', async () => {
    const device = `${namespace()}-vmdev`;
    await applyManifest(deviceManifests(sim(), 'pause-vm', namespace(), { name: device }));
    await applyManifest(gpuVmManifests({ name: 'held', device }), { namespace: namespace() });
    await waitGpuVmReady(namespace(), 'held');

    await patchGpuVm(namespace(), 'held', { spec: { suspend: true } });
    await waitFor(async () => suspendedFor(await getGpuVm(namespace(), 'held'), 'Suspended'), { timeoutMs: 15_000, description: 'held to say Suspended' });
    const suspended = await currentGpuVm(namespace(), 'held');
    // The last observation stands: Ready is kept as it was, for the generation it was observed at.
    expect(conditionOf(suspended, 'Ready')).toMatchObject({ status: 'True', observedGeneration: (suspended.metadata.generation ?? 0) - 1 });

    const outside = deviceClientsFor(sim(), 'pause-vm');
    await outside.compute.virtualMachines.delete(sim().device('pause-vm').resourceGroup, 'held', { updateIntervalInMs: 50 });
    expect(vmOnDevice('pause-vm', 'held')).toBeUndefined();
    const from = lastSeq();
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 2 * SYNC_PERIOD_MS + 1000));

    const during = auditSince(from).filter((e) => e.device === 'pause-vm');
    // The device itself is still listed each period; nothing is asked about the suspended GpuVm's VM.
    expect(during.filter((e) => e.operation === 'vm.listAll' || e.operation === 'vm.list').length).toBeGreaterThanOrEqual(2);
    expect(requestsFor(during, suspended)).toEqual([]);
    expect(vmOnDevice('pause-vm', 'held')).toBeUndefined();
    expect((await currentGpuVm(namespace(), 'held')).status?.vm?.resourceId).toBe(suspended.status?.vm?.resourceId);
    process.stdout.write(`suspended GpuVm: ${during.length} device requests in ${Date.now() - started} ms, 0 for the GpuVm\n`);

    const resumedAt = Date.now();
    await patchGpuVm(namespace(), 'held', { spec: { suspend: false } });
    await waitFor(
      async () => {
        const g = await getGpuVm(namespace(), 'held');
        const ready = conditionOf(g, 'Ready');
        return vmOnDevice('pause-vm', 'held') !== undefined && ready?.status === 'True' && ready.observedGeneration === g?.metadata.generation && conditionOf(g, 'Suspended') === undefined;
      },
      { timeoutMs: 30_000, description: 'held to be restored and Ready' },
    );
    expect(requestsFor(auditSince(from), suspended).some((e) => e.method === 'PUT')).toBe(true);
    process.stdout.write(`resumed GpuVm Ready again in ${Date.now() - resumedAt} ms\n`);

    // Deleting a suspended GpuVm: the finalizer stays and the VM with it until it is resumed.
    await patchGpuVm(namespace(), 'held', { spec: { suspend: true } });
    await waitFor(async () => suspendedFor(await getGpuVm(namespace(), 'held'), 'Suspended'), { timeoutMs: 15_000, description: 'held suspended again' });
    expect((await kubectl(['delete', '-n', namespace(), 'gvm/held', '--wait=false'])).code).toBe(0);
    await waitFor(async () => /deletion waits/.test(conditionOf(await getGpuVm(namespace(), 'held'), 'Suspended')?.message ?? ''), {
      timeoutMs: 15_000,
      description: 'the suspended GpuVm to say its deletion waits',
    });
    await new Promise((r) => setTimeout(r, SYNC_PERIOD_MS));
    expect((await getGpuVm(namespace(), 'held'))?.metadata.finalizers).toContain('gpuvm.io/finalizer');
    expect(vmOnDevice('pause-vm', 'held')).toBeDefined();
    await patchGpuVm(namespace(), 'held', { spec: { suspend: false } });
    await waitFor(async () => (await getGpuVm(namespace(), 'held')) === undefined && vmOnDevice('pause-vm', 'held') === undefined, {
      timeoutMs: 30_000,
      description: 'held and its VM to be deleted once resumed',
    });
  });

  test('a suspended EdgeDevice makes no request for itself or its GpuVms across two sync periods and keeps its ledger', async () => {
    const device = `${namespace()}-devdev`;
    await applyManifest(deviceManifests(sim(), 'pause-dev', namespace(), { name: device }));
    await applyManifest(gpuVmManifests({ name: 'under', device }), { namespace: namespace() });
    await waitGpuVmReady(namespace(), 'under');
    // The device records the VM as holding its GPU once it has seen the GpuVm Ready; suspended before that, it
    // would keep the earlier (Reserved) entry.
    await waitFor(async () => (await getEdgeDevice(device)).status?.allocations?.[0]?.state === 'Held', { timeoutMs: 15_000, description: 'the ledger to say Held' });

    await patchEdgeDeviceSpec(device, { suspend: true });
    await waitFor(async () => suspendedFor(await getEdgeDevice(device), 'Suspended') && suspendedFor(await getGpuVm(namespace(), 'under'), 'DeviceSuspended'), {
      timeoutMs: 15_000,
      description: 'the device and its GpuVm to say Suspended',
    });
    // `kubectl get -o wide` says why the controller leaves it alone.
    expect((await kubectl(['get', '-n', namespace(), 'gvm/under', '-o', 'wide'])).stdout).toMatch(/\bDeviceSuspended\b/);
    expect((await kubectl(['get', `edev/${device}`, '-o', 'wide'])).stdout).toMatch(/\bSuspended\b/);
    const ledger = (await getEdgeDevice(device)).status?.allocations;
    expect(ledger).toEqual([expect.objectContaining({ gpuVm: `${namespace()}/under`, state: 'Held' })]);
    // Drift on the device is not looked at while it is suspended.
    await deviceClientsFor(sim(), 'pause-dev').compute.virtualMachines.powerOff(sim().device('pause-dev').resourceGroup, 'under', { updateIntervalInMs: 50 });
    const from = lastSeq();
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 2 * SYNC_PERIOD_MS + 1000));

    const azureResource = sim().device('pause-dev').name.toLowerCase();
    const during = auditSince(from).filter((e) => e.device === 'pause-dev' || (e.device === 'azure' && e.path.toLowerCase().includes(azureResource)));
    expect(during).toEqual([]);
    expect((await getEdgeDevice(device)).status?.allocations).toEqual(ledger);
    expect(vmOnDevice('pause-dev', 'under')?.powerState).toMatch(/stopped/);
    process.stdout.write(`suspended EdgeDevice: 0 requests in ${Date.now() - started} ms (sync period ${SYNC_PERIOD_MS} ms)\n`);

    await patchEdgeDeviceSpec(device, { suspend: false });
    await waitFor(() => /running/.test(vmOnDevice('pause-dev', 'under')?.powerState ?? ''), { timeoutMs: 30_000, description: 'the drift repaired once resumed' });
    const resumed = await getEdgeDevice(device);
    expect(conditionOf(resumed, 'Suspended')).toBeUndefined();
    expect(auditSince(from).some((e) => e.device === 'pause-dev' && (e.operation === 'vm.listAll' || e.operation === 'vm.list'))).toBe(true);
  });
});

describe('reconcile now (gpuvm.io/reconcile-requested-at)', () => {
  const namespace = useTestNamespace('reconcile-now');
  // A sync period far longer than the test: only the annotation can make the device be listed again.
  useController(namespace, ['--sync-period', '10m']);

  test('a reconcile-now annotation on a device with a drifted VM lists it once and repairs the VM at once; status records the handled value', async () => {
    const device = `${namespace()}-dev`;
    await applyManifest(deviceManifests(sim(), 'now', namespace(), { name: device }));
    await applyManifest(gpuVmManifests({ name: 'drifts', device }), { namespace: namespace() });
    await waitGpuVmReady(namespace(), 'drifts');

    await deviceClientsFor(sim(), 'now').compute.virtualMachines.powerOff(sim().device('now').resourceGroup, 'drifts', { updateIntervalInMs: 50 });
    const from = lastSeq();
    await new Promise((r) => setTimeout(r, 2000));
    // Without a request, nothing notices before the 10-minute sync.
    expect(vmOnDevice('now', 'drifts')?.powerState).toMatch(/stopped/);
    expect(auditSince(from).filter((e) => e.device === 'now')).toEqual([]);

    const requestedAt = new Date().toISOString();
    const annotatedAt = Date.now();
    expect((await kubectl(['annotate', '--overwrite', `edev/${device}`, `${RECONCILE_REQUESTED_ANNOTATION}=${requestedAt}`])).code).toBe(0);
    await waitFor(() => /running/.test(vmOnDevice('now', 'drifts')?.powerState ?? ''), { timeoutMs: 10_000, intervalMs: 50, description: 'the VM started again' });
    const repairMs = Date.now() - annotatedAt;
    await waitFor(async () => (await getEdgeDevice(device)).status?.lastHandledReconcileAt === requestedAt, { timeoutMs: 10_000, description: 'lastHandledReconcileAt' });
    await waitGpuVmReady(namespace(), 'drifts');
    const lists = auditSince(from).filter((e) => e.device === 'now' && (e.operation === 'vm.listAll' || e.operation === 'vm.list'));
    expect(lists).toHaveLength(1);
    // The controller's --poll-interval is 250 ms: the start takes a few polls, nowhere near the sync period.
    expect(repairMs).toBeLessThan(5000);
    process.stdout.write(`reconcile now: VM running again ${repairMs} ms after the annotation, ${lists.length} VM list\n`);

    // On a GpuVm: the VM is read again and the value recorded.
    const vmFrom = lastSeq();
    const gpuVmRequestedAt = new Date(Date.now() + 1000).toISOString();
    expect((await kubectl(['annotate', '--overwrite', '-n', namespace(), 'gvm/drifts', `${RECONCILE_REQUESTED_ANNOTATION}=${gpuVmRequestedAt}`])).code).toBe(0);
    await waitFor(async () => (await getGpuVm(namespace(), 'drifts'))?.status?.lastHandledReconcileAt === gpuVmRequestedAt, { timeoutMs: 10_000, description: 'the GpuVm lastHandledReconcileAt' });
    expect(auditSince(vmFrom).some((e) => e.device === 'now' && e.operation === 'vm.get')).toBe(true);
  });
});

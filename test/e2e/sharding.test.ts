// Sharded mode with three controller processes against the real apiserver and the simulator, 60 devices:
// every EdgeDevice is owned by exactly one replica, the one rendezvous hashing picks (status.shard and each replica's
// gpuvm_shard_owned_devices agree); after a SIGKILL the dead replica's devices are taken by the others within lease
// duration + retry period of its last renewal; a new replica takes about a third of them back, and only those move.
// Throughout, the simulator's audit (each request's User-Agent names the replica) shows one writer per device at a
// time, and every deployment name accepted once.
import type { GpuVm } from '../../src/api/types.js';
import { ownerOf } from '../../src/runtime/hashRing.js';
import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { listGpuVms } from '../support/objects.js';
import {
  SHARD_LEASE_MS,
  SHARD_RETRY_MS,
  ShardReplica,
  countOwned,
  metricsAgree,
  ownersByStatus,
  shardLeaseRenewedAt,
  startShardReplicas,
  testEdgeDevices,
  writerProblems,
  writerRuns,
} from '../support/shardReplicas.js';
import { deploymentProblems, deploymentPuts } from '../reliability/support/crashAudit.js';

const namespace = useTestNamespace('sharding');
const COUNT = 60;
/** GpuVms at the start on every WITH_VM-th device: enough deployments for the audit, few enough to stay quick. */
const WITH_VM = 10;
/** After each handover, one more GpuVm on this many of the devices that moved. */
const LATE_VMS = 4;
/**
 * List and write latency on top of lease duration + retry period: the expiry is listed for when it is due, then
 * the claim is a PATCH; both on a loaded two-core machine.
 */
const TAKEOVER_ALLOWANCE_MS = 2_500;
const SIM_DEVICES = Array.from({ length: COUNT }, (_, i) => `sim-${String(i).padStart(2, '0')}`);
const sim = useSimulator({ devices: SIM_DEVICES.map((name) => ({ name, gpus: 2, images: [LINUX_IMAGE] })) });
const deviceName = (i: number): string => `${namespace()}-d${String(i).padStart(2, '0')}`;
const indexOf = (device: string): number => Number(device.slice(device.lastIndexOf('-d') + 2));

describe('three controller processes in sharded mode, 60 devices', () => {
  const replicas: ShardReplica[] = [];
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.proc.stop()));
  });

  /** Waits until every device is owned by the replica rendezvous hashing picks among `ids`, and the metrics agree. */
  async function settled(live: ShardReplica[], ids: string[], description: string): Promise<Map<string, string>> {
    const owners = await waitFor(
      async () => {
        const o = await ownersByStatus(namespace(), COUNT, ids);
        return o !== undefined && [...o].every(([device, owner]) => ownerOf(device, ids) === owner) ? o : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, description },
    );
    await metricsAgree(live, ids, countOwned(owners, ids));
    return owners;
  }

  async function addGpuVms(devices: string[], prefix: string): Promise<void> {
    const names = devices.map((d) => `${prefix}-${String(indexOf(d)).padStart(2, '0')}`);
    await applyManifest(devices.map((d, k) => gpuVmManifests({ name: names[k] ?? '', device: d })).join('---\n'), { namespace: namespace() });
    expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', ...names.map((n) => `gvm/${n}`), '--timeout=60s'])).code).toBe(0);
  }

  test('one owner per device; a SIGKILLed replica\'s devices move to the others, a new one takes a third back, never with two writers', async () => {
    const started = Date.now();
    const phase = (what: string): void => void process.stdout.write(`sharding e2e: ${what} at ${Date.now() - started} ms\n`);
    for (const i of [0, 1, 2]) replicas.push(await ShardReplica.create(`shard-${i}`, namespace()));
    // All three see each other before devices exist, so no device is claimed and handed over during start-up.
    const ids = await startShardReplicas(replicas);

    // kubectl applies one object after another (180 here, with the Secrets): four at once take a quarter of the time.
    const chunks = [0, 1, 2, 3].map((c) => SIM_DEVICES.flatMap((simDevice, i) => (i % 4 === c ? [deviceManifests(sim(), simDevice, namespace(), { name: deviceName(i) })] : [])));
    await Promise.all(chunks.map((docs) => applyManifest(docs.join('---\n'))));
    const initial = SIM_DEVICES.flatMap((_, i) => (i % WITH_VM === 0 ? [deviceName(i)] : []));
    const applying = addGpuVms(initial, 'vm');
    const owners = await settled(replicas, ids, 'every device to be owned by the replica the hash picks');
    const counts = countOwned(owners, ids);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(COUNT);
    await applying;
    phase(`${COUNT} devices owned, ${initial.length} GpuVms Ready`);

    // SIGKILL the replica with the most devices.
    const victim = [0, 1, 2].sort((a, b) => (counts.get(ids[b] ?? '') ?? 0) - (counts.get(ids[a] ?? '') ?? 0))[0] ?? 0;
    const victimId = ids[victim] ?? '';
    // Those with a GpuVm first: the later GpuVms go to devices the victim wrote to.
    const moved = [...owners].filter(([, owner]) => owner === victimId).map(([device]) => device).sort((a, b) => Number(!initial.includes(a)) - Number(!initial.includes(b)));
    await replicas[victim]?.proc.kill();
    const lastRenewal = await shardLeaseRenewedAt(namespace(), victimId);
    const survivors = replicas.filter((_, i) => i !== victim);
    const survivorIds = ids.filter((id) => id !== victimId);
    const after = await settled(survivors, survivorIds, 'the killed replica\'s devices to be taken by the survivors');
    // Only the victim's devices moved.
    expect([...after].filter(([device, owner]) => owners.get(device) !== victimId && owner !== owners.get(device))).toEqual([]);
    // Taken once the lease had expired (the survivors judge it by when they saw it change, which is after its
    // renewTime), and within lease duration + one retry period (a renewal is seen at the next list) + the allowance.
    const byName = new Map((await testEdgeDevices(namespace())).map((d) => [d.metadata.name ?? '', d]));
    const takenAt = moved.map((d) => Date.parse(byName.get(d)?.status?.shard?.since ?? ''));
    const first = Math.min(...takenAt) - lastRenewal;
    const last = Math.max(...takenAt) - lastRenewal;
    process.stdout.write(`sharding e2e: ${moved.length} device(s) of the SIGKILLed replica taken ${first}–${last} ms after its last renewal (lease ${SHARD_LEASE_MS} ms, retry ${SHARD_RETRY_MS} ms)\n`);
    expect(first).toBeGreaterThanOrEqual(SHARD_LEASE_MS);
    expect(last).toBeLessThanOrEqual(SHARD_LEASE_MS + SHARD_RETRY_MS + TAKEOVER_ALLOWANCE_MS);
    // The new owners act on what they took.
    await addGpuVms(moved.slice(0, LATE_VMS), 'late');
    phase('taken over; late GpuVms Ready');

    // A new replica (a restarted pod is a new identity) takes about a third of the devices: rendezvous hashing
    // moves to it only the devices it wins, each from whichever survivor held it. The bounds are 1/6 and 1/2.
    const rejoined = await ShardReplica.create(`shard-${victim}-restarted`, namespace());
    replicas.push(rejoined);
    const live = [...survivors, rejoined];
    const [rejoinedId] = await startShardReplicas([rejoined], 3);
    const liveIds = [...survivorIds, rejoinedId ?? ''];
    const final = await settled(live, liveIds, 'every device to be owned by the hash\'s pick among the survivors and the new replica');
    const back = [...final].filter(([device, owner]) => owner !== after.get(device)).sort(([a], [b]) => Number(!initial.includes(a)) - Number(!initial.includes(b)));
    expect(back.map(([, owner]) => owner)).toEqual(back.map(() => rejoinedId));
    process.stdout.write(`sharding e2e: ${back.length} of ${COUNT} devices moved to the new replica\n`);
    expect(back.length).toBeGreaterThanOrEqual(COUNT / 6);
    expect(back.length).toBeLessThanOrEqual(COUNT / 2);
    // Devices with a GpuVm from the start first (written before), not those with a late one (two GPUs a device).
    const backVms = back.map(([device]) => device).filter((d) => !moved.slice(0, LATE_VMS).includes(d)).slice(0, LATE_VMS);
    await addGpuVms(backVms, 'back');
    phase('rejoined; its GpuVms Ready');

    // The audit: every write names its replica; per device one writer at a time, none writing again after another
    // one did; the victim's devices were written by it first; every deployment name accepted once.
    const audit = sim().audit();
    const runs = writerRuns(audit);
    expect(writerProblems(runs)).toEqual([]);
    const simDevice = (device: string): string => `sim-${String(indexOf(device)).padStart(2, '0')}`;
    for (const device of moved.slice(0, LATE_VMS)) {
      const writers = runs.get(simDevice(device))?.map((r) => r.writer) ?? [];
      // The victim first if it wrote at all (a device with a GpuVm from the start), then the survivor that took it
      // (it created the late GpuVm); the new replica after them if the device moved on to it and it wrote.
      const chain = [victimId, after.get(device), final.get(device)].filter((w, k, all) => k === 0 || w !== all[k - 1]).slice(initial.includes(device) ? 0 : 1);
      expect(writers.length).toBeGreaterThanOrEqual(initial.includes(device) ? 2 : 1);
      expect(writers).toEqual(chain.slice(0, writers.length));
    }
    for (const device of backVms) expect(runs.get(simDevice(device))?.at(-1)?.writer).toBe(rejoinedId);
    const vms: GpuVm[] = await listGpuVms(namespace());
    expect(vms.length).toBe(initial.length + Math.min(LATE_VMS, moved.length) + backVms.length);
    expect(deploymentProblems(deploymentPuts(audit), new Map(vms.map((vm) => [vm.metadata.uid ?? '', vm.metadata.name ?? ''])))).toEqual([]);
    expect(sim().violations()).toEqual([]);
    process.stdout.write(`sharding e2e: ${vms.length} GpuVms, ${[...runs.values()].reduce((n, r) => n + r.length, 0)} writer runs on ${runs.size} devices, ${Date.now() - started} ms\n`);
  }, 90_000);
});

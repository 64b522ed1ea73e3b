// Crash safety in sharded mode: three replicas share a fleet while SIGKILLs land on each of them in turn, every
// killed replica coming back as a new member (a new identity, as a restarted pod is). Afterwards every GpuVm is
// Ready with exactly one VM and one run of each of its deployments, no device was written by two replicas at once,
// no EdgeDevice ever showed more GPU holders than GPUs, and deleting everything leaves nothing on the devices.
// Fewer GpuVms and kills than crashSafety.test.ts: each kill here leaves the victim's devices unowned for a lease
// duration, so the kills are spaced by seconds rather than by a process start.
import type { GpuVm } from '../../src/api/types.js';
import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { TEST_DEVICE_LABEL } from '../support/controllerHarness.js';
import { useSimulator } from '../support/devices.js';
import { watchGpuHolders, type GpuHolderWatch } from '../support/gpuHolderWatch.js';
import { listGpuVms } from '../support/objects.js';
import { scaled } from '../support/reliabilityScale.js';
import { ShardReplica, startShardReplicas, writerProblems, writerRuns } from '../support/shardReplicas.js';
import { SEED_ENV, countBy, deploymentProblems, deploymentPuts, reliabilitySeed, seconds, seeded, sleep } from './support/crashAudit.js';
import { isArmRequest } from './support/faultAudit.js';
import { deviceLeftovers, fleet, fleetDeviceManifests, fleetDevices, fleetGpuVmManifests, isReady, planGpuVms, vmMismatches } from './support/faultFleet.js';

const REPLICAS = 3;
const DEVICES = scaled(12);
const VMS_PER_DEVICE = 2;
const KILLS = scaled(6);
const SEED = reliabilitySeed(20_261_130);
/** A replica lives this long after its "starting" line: long enough to claim devices and start deployments. */
const LIFE_MS: [number, number] = [2_000, 4_500];

const namespace = useTestNamespace('rel-shard-crash');
const devices = fleetDevices(DEVICES);
const sim = useSimulator({ devices, seed: SEED, auditCapacity: 1_000_000, timings: { vmCreateMs: 1_000, extensionMs: 800, nicCreateMs: 100, deleteMs: 200 } });
const replicas: ShardReplica[] = [];
let holders: GpuHolderWatch | undefined;
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.proc.stop()));
  await holders?.stop();
});

test(`${DEVICES * VMS_PER_DEVICE} GpuVms on ${DEVICES} devices converge on ${REPLICAS} sharded replicas through ${KILLS} SIGKILLs spread over them, then delete cleanly`, async () => {
  const random = seeded(SEED);
  const f = fleet(namespace(), devices);
  const planned = planGpuVms(f, VMS_PER_DEVICE);
  console.log(`[shard-crash] seed ${SEED} (${SEED_ENV}); ${DEVICES} devices, ${planned.length} GpuVms, ${REPLICAS} replicas, ${KILLS} kills`);
  const started = Date.now();
  holders = await watchGpuHolders(`${TEST_DEVICE_LABEL}=${namespace()}`);

  for (let i = 0; i < REPLICAS; i++) replicas.push(await ShardReplica.create(`shard-${i}`, namespace()));
  await startShardReplicas(replicas);
  await applyManifest(fleetDeviceManifests(sim(), f, namespace()));
  // The GpuVms arrive while the replicas are already being killed.
  const applying = applyManifest(fleetGpuVmManifests(f, planned), { namespace: namespace() }).then(
    () => undefined,
    (error: unknown) => error,
  );
  const killedIdentities: string[] = [];
  for (let k = 0; k < KILLS; k++) {
    const slot = k % REPLICAS;
    const victim = replicas[slot];
    if (victim === undefined) throw new Error(`no replica in slot ${slot}`);
    await waitFor(() => victim.identity(), { timeoutMs: 30_000, description: `replica ${victim.name} to start` });
    await sleep(random.between(...LIFE_MS));
    await victim.proc.kill();
    killedIdentities.push(victim.identity() ?? '?');
    const next = await ShardReplica.create(`shard-${slot}-${k + 1}`, namespace());
    replicas[slot] = next;
    await next.proc.start();
  }
  const applyError = await applying;
  if (applyError !== undefined) throw applyError;
  const lastRestart = Date.now();

  let vms: GpuVm[] = [];
  await waitFor(
    async () => {
      vms = await listGpuVms(namespace());
      return vms.length === planned.length && vms.every(isReady);
    },
    { timeoutMs: 120_000, intervalMs: 500, description: `all ${planned.length} GpuVms Ready after the last restart` },
  );
  const convergedAt = Date.now();

  const nicIps = new Map(f.simDevices.flatMap((d) => sim().deviceState(d).nics.map((n) => [n.name, n.privateIPAddress] as const)));
  const notDone = vms.filter((vm) => vm.status?.phase !== 'Ready' || vm.status.operation !== undefined || vm.status.vm?.ipAddress !== nicIps.get(`${vm.metadata.name}-nic`));
  expect(notDone.map((vm) => `${vm.metadata.name}: ${JSON.stringify(vm.status)}`)).toEqual([]);
  expect(vmMismatches(sim(), f, planned)).toEqual([]);
  expect(sim().audit()[0]?.seq).toBe(1); // the audit kept every request
  const converging = sim().audit().filter(isArmRequest);
  const uids = new Map(vms.map((vm) => [vm.metadata.uid ?? '', vm.metadata.name ?? '']));
  const puts = deploymentPuts(converging);
  expect(deploymentProblems(puts, uids)).toEqual([]);
  expect(converging.filter((e) => e.method === 'DELETE').map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual([]);
  expect(converging.filter((e) => e.operation === 'vm.put').map((e) => e.path)).toEqual([]);
  // One writer per device at a time, across every kill and every new member.
  const runs = writerRuns(converging);
  expect(writerProblems(runs)).toEqual([]);
  expect(sim().violations()).toEqual([]);
  // The kills met work: some killed replica wrote to a device, and some device was written by one replica, then
  // (after a handover) by another.
  const writers = new Set([...runs.values()].flatMap((r) => r.map((w) => w.writer)));
  expect(killedIdentities.some((id) => writers.has(id))).toBe(true);
  expect([...runs.values()].some((r) => r.length >= 2)).toBe(true);

  // Deletion: GpuVms first (their finalizers remove VM, NIC and deployments), then the EdgeDevices.
  const deletionStart = Date.now();
  expect((await kubectl(['delete', 'gvm', '--all', '-n', namespace(), '--wait=false'])).code).toBe(0);
  await waitFor(async () => (await listGpuVms(namespace())).length === 0, { timeoutMs: 120_000, intervalMs: 500, description: 'every GpuVm deleted' });
  const selector = `${TEST_DEVICE_LABEL}=${namespace()}`;
  expect((await kubectl(['delete', 'edev', '-l', selector, '--wait=false'])).code).toBe(0);
  await waitFor(async () => (await kubectl(['get', 'edev', '-l', selector, '-o', 'name'])).stdout.trim() === '', { timeoutMs: 60_000, intervalMs: 500, description: 'every EdgeDevice deleted' });
  expect(deviceLeftovers(sim(), f)).toEqual([]);
  expect(sim().violations()).toEqual([]);
  // No EdgeDevice status ever showed more GPU holders than GPUs.
  const overCounts = await holders.stop();
  holders = undefined;
  expect(overCounts).toEqual([]);

  console.log(
    [
      `[shard-crash] ${KILLS} SIGKILLs over ${REPLICAS} replicas in ${seconds(lastRestart - started)}; all Ready ${seconds(convergedAt - lastRestart)} after the last restart`,
      `[shard-crash] deployment PUTs: ${[...puts.values()].flat().length} for ${puts.size} names; writers per device: ${JSON.stringify(countBy([...runs.values()].map((r) => String(r.length))))}`,
      `[shard-crash] deletion ${seconds(Date.now() - deletionStart)}; test duration ${seconds(Date.now() - started)}`,
    ].join('\n'),
  );
}, 300_000);

// Sharded mode with three controller processes against the real apiserver and the simulator: every EdgeDevice is
// owned by exactly one replica (status.shard and the metric agree); after a SIGKILL the dead replica's devices are
// taken by the others within lease duration + retry period; the simulator's audit (which keeps each request's
// User-Agent, naming the replica) shows no device written by a replica after another one took it.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { EDGEDEVICE_PLURAL, GROUP, VERSION, type EdgeDevice } from '../../src/api/types.js';
import { freePorts } from '../../src/devenv/freePort.js';
import { applyManifest, kubectl, testKubeConfig, useTestNamespace, waitFor } from '../support/cluster.js';
import { ControllerProcess, TEST_DEVICE_LABEL } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';

const namespace = useTestNamespace('sharding');
const COUNT = 12;
const SIM_DEVICES = Array.from({ length: COUNT }, (_, i) => `sim-${i}`);
const sim = useSimulator({ devices: SIM_DEVICES.map((name) => ({ name, gpus: 2, images: [LINUX_IMAGE] })) });
const deviceName = (i: number): string => `${namespace()}-d${i}`;
const LEASE_MS = 4_000;
const RETRY_MS = 500;
const TIMINGS = ['--shard-lease-duration', '4s', '--shard-renew-deadline', '3s', '--shard-retry-period', '500ms'];

interface Replica {
  proc: ControllerProcess;
  metricsPort: number;
}

function replica(name: string, metricsPort: number): Replica {
  const proc = new ControllerProcess({ namespace: namespace(), args: ['--sharding', ...TIMINGS, '--metrics-bind-address', `127.0.0.1:${metricsPort}`], env: { POD_NAME: name } });
  // The harness names the log by namespace, which the three share.
  const logFile = join(proc.logFile, '..', `controller-${namespace()}-${name}.log`);
  if (existsSync(logFile)) rmSync(logFile);
  Object.defineProperty(proc, 'logFile', { value: logFile });
  return { proc, metricsPort };
}

const logLines = (p: ControllerProcess): { msg?: string; identity?: string; members?: string[] }[] =>
  (existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8') : '')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string });
const identityOf = (r: Replica): string | undefined => logLines(r.proc).find((l) => l.msg === 'starting')?.identity;

async function devices(): Promise<EdgeDevice[]> {
  const api = testKubeConfig().makeApiClient(CustomObjectsApi);
  const list = (await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, labelSelector: `${TEST_DEVICE_LABEL}=${namespace()}` })) as { items: EdgeDevice[] };
  return list.items;
}

async function ownedMetric(r: Replica): Promise<{ replica: string; value: number } | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text();
  const match = /^gpuvm_shard_owned_devices\{replica="([^"]+)"\} (\d+)$/m.exec(text);
  return match === null ? undefined : { replica: match[1] ?? '', value: Number(match[2]) };
}

/** Every device owned (not released) by one of `identities`, counted per identity. */
async function ownership(identities: string[]): Promise<Map<string, number> | undefined> {
  const all = await devices();
  if (all.length !== COUNT) return undefined;
  const counts = new Map(identities.map((id) => [id, 0]));
  for (const d of all) {
    const shard = d.status?.shard;
    if (shard === undefined || shard.releasedAt !== undefined || !counts.has(shard.replica)) return undefined;
    counts.set(shard.replica, (counts.get(shard.replica) ?? 0) + 1);
  }
  return counts;
}

describe('three controller processes in sharded mode', () => {
  const replicas: Replica[] = [];
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.proc.stop()));
  });

  test('each device has one owner; a SIGKILLed replica\'s devices move to the others, never with two writers', async () => {
    const ports = await freePorts(3);
    replicas.push(...ports.map((port, i) => replica(`shard-${i}`, port)));
    await Promise.all(replicas.map((r) => r.proc.start()));
    const ids = await waitFor(() => {
      const found = replicas.map(identityOf);
      return found.every((id) => id !== undefined) ? (found as string[]) : undefined;
    }, { timeoutMs: 20_000, description: 'the replicas to log their identities' });
    // All three see each other before devices exist, so no device is claimed and handed over during start-up.
    await waitFor(() => replicas.every((r) => logLines(r.proc).some((l) => l.msg === 'shard members' && l.members?.length === 3)), {
      timeoutMs: 20_000,
      description: 'every replica to see three members',
    });

    const manifests = SIM_DEVICES.map((simDevice, i) => deviceManifests(sim(), simDevice, namespace(), { name: deviceName(i) })).join('---\n');
    await applyManifest(manifests);
    await applyManifest(SIM_DEVICES.map((_, i) => gpuVmManifests({ name: `vm-${i}`, device: deviceName(i) })).join('---\n'), { namespace: namespace() });

    const counts = await waitFor(() => ownership(ids), { timeoutMs: 30_000, intervalMs: 200, description: 'every device to be owned by one replica' });
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(COUNT);
    // The metric of each replica agrees with the status records.
    for (const [i, r] of replicas.entries()) expect(await ownedMetric(r)).toEqual({ replica: ids[i], value: counts.get(ids[i] ?? '') });
    expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm', '--all', '--timeout=60s'])).code).toBe(0);

    // Kill the replica with the most devices.
    const victim = [...replicas.keys()].sort((a, b) => (counts.get(ids[b] ?? '') ?? 0) - (counts.get(ids[a] ?? '') ?? 0))[0] ?? 0;
    const victimId = ids[victim] ?? '';
    const moved = (await devices()).filter((d) => d.status?.shard?.replica === victimId).map((d) => d.metadata.name ?? '');
    expect(moved.length).toBeGreaterThan(0);
    await replicas[victim]?.proc.kill();
    const killedAt = Date.now();
    const survivors = ids.filter((id) => id !== victimId);
    const after = await waitFor(() => ownership(survivors), { timeoutMs: 20_000, intervalMs: 50, description: 'the killed replica\'s devices to be taken' });
    const takeover = Date.now() - killedAt;
    process.stdout.write(`sharding e2e: ${moved.length} device(s) of a SIGKILLed replica owned by the others after ${takeover} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)\n`);
    // Not before the lease could have expired, and within lease duration + one retry period (a renewal is observed at
    // the next list, up to one retry period late; the expiry itself is listed for when due) + list and write latency.
    expect(takeover).toBeGreaterThan(LEASE_MS - RETRY_MS * 2);
    expect(takeover).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + 1_000);
    for (const [i, r] of replicas.entries()) {
      if (i === victim) continue;
      expect(await ownedMetric(r)).toEqual({ replica: ids[i], value: after.get(ids[i] ?? '') });
    }

    // The new owners act: a second GpuVm on (up to three of) the moved devices becomes Ready.
    const movedIndexes = moved.map((name) => Number(name.slice(name.lastIndexOf('-d') + 2))).slice(0, 3);
    await applyManifest(movedIndexes.map((i) => gpuVmManifests({ name: `late-${i}`, device: deviceName(i) })).join('---\n'), { namespace: namespace() });
    expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', ...movedIndexes.map((i) => `gvm/late-${i}`), '--timeout=60s'])).code).toBe(0);

    // The audit: every write names its replica; per device, once another replica wrote, an earlier writer never
    // writes again (two writers would interleave); the moved devices were written by the victim, then a survivor.
    // Token requests go to the device's identity endpoint from the identity library (its own User-Agent): not writes to the device.
    const writes = sim().audit().filter((e) => e.method !== 'GET' && e.device !== 'azure' && e.operation !== 'token' && !e.operation.startsWith('identity'));
    expect(writes.length).toBeGreaterThan(0);
    for (const [i, simDevice] of SIM_DEVICES.entries()) {
      const writers = writes.filter((e) => e.device === simDevice).map((e) => /shard\/(\S+)/.exec(e.userAgent ?? '')?.[1] ?? 'unknown');
      expect(writers).not.toContain('unknown');
      const runs = writers.filter((w, k) => k === 0 || writers[k - 1] !== w);
      expect(new Set(runs).size).toBe(runs.length);
      if (movedIndexes.includes(i)) expect(runs).toEqual([victimId, after.has(runs[1] ?? '') ? runs[1] : 'a survivor']);
    }
  }, 90_000);
});

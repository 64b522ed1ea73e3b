// Sharded mode when a replica is cut off from the kube-apiserver but keeps running (its devices still reachable):
// it stops at its renew deadline (it exits) before the others can judge its Lease expired, so the simulator's audit
// shows its last device write before the first write of another replica to any of its devices.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { GpuVm } from '../../src/api/types.js';
import { ownerOf } from '../../src/runtime/hashRing.js';
import { deploymentProblems, deploymentPuts } from '../reliability/support/crashAudit.js';
import { requestStart } from '../reliability/support/faultAudit.js';
import { applyManifest, kubectl, testKubeConfig, testKubeconfigPath, useTestNamespace, waitFor } from '../support/cluster.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { listGpuVms } from '../support/objects.js';
import {
  SHARD_LEASE_MS,
  SHARD_RENEW_DEADLINE_MS,
  ShardReplica,
  isDeviceWrite,
  ownersByStatus,
  shardLeaseRenewedAt,
  startShardReplicas,
  writerOf,
  writerProblems,
  writerRuns,
} from '../support/shardReplicas.js';
import { TcpProxy } from '../support/tcpProxy.js';

const namespace = useTestNamespace('shard-partition');
const PER_REPLICA = 2;
const COUNT = PER_REPLICA * 3;
/** How late a timer may fire in a controller process on a loaded two-core machine. */
const TIMER_ALLOWANCE_MS = 2_000;
const SIM_DEVICES = Array.from({ length: COUNT }, (_, i) => `sim-${i}`);
// Long enough that the cut replica's GpuVms are still being created when the connection is cut.
const sim = useSimulator({ devices: SIM_DEVICES.map((name) => ({ name, gpus: 2, images: [LINUX_IMAGE] })), timings: { vmCreateMs: 1_500, extensionMs: 1_000 } });

/** A copy of the test kubeconfig whose server is the proxy (same host, so the serving certificate still matches). */
function proxiedKubeconfig(port: number, name: string): string {
  const config = parse(testKubeConfig().exportConfig()) as { clusters: { cluster: { server: string } }[] };
  for (const c of config.clusters) {
    const url = new URL(c.cluster.server);
    url.port = String(port);
    c.cluster.server = url.origin;
  }
  const file = join(dirname(testKubeconfigPath()), `kubeconfig-${name}`);
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}

describe('a sharded replica partitioned from the kube-apiserver', () => {
  const replicas: ShardReplica[] = [];
  let proxy: TcpProxy | undefined;
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.proc.stop()));
    await proxy?.stop();
  });

  test('stops writing to its devices at its renew deadline, before another replica writes to any of them', async () => {
    const started = Date.now();
    const apiserver = new URL(testKubeConfig().getCurrentCluster()?.server ?? '');
    proxy = await TcpProxy.start({ host: apiserver.hostname, port: Number(apiserver.port) });
    const cut = await ShardReplica.create('cut', namespace(), { kubeconfig: proxiedKubeconfig(proxy.port, namespace()) });
    replicas.push(cut, await ShardReplica.create('peer-a', namespace()), await ShardReplica.create('peer-b', namespace()));
    const ids = await startShardReplicas(replicas);
    const cutId = ids[0] ?? '';
    const peerIds = ids.slice(1);

    // Device names picked so that each replica owns PER_REPLICA of them.
    const names: string[] = [];
    for (let i = 0; names.length < COUNT; i++) {
      const name = `${namespace()}-d${i}`;
      if (names.filter((n) => ownerOf(n, ids) === ownerOf(name, ids)).length < PER_REPLICA) names.push(name);
    }
    await applyManifest(SIM_DEVICES.map((simDevice, i) => deviceManifests(sim(), simDevice, namespace(), { name: names[i] ?? '' })).join('---\n'));
    await waitFor(() => ownersByStatus(namespace(), COUNT, ids), { timeoutMs: 20_000, description: 'every device to be owned' });
    const cutDevices = SIM_DEVICES.filter((_, i) => ownerOf(names[i] ?? '', ids) === cutId);
    const cutNames = names.filter((n) => ownerOf(n, ids) === cutId);

    // GpuVms on the cut replica's devices; the cut comes once it has started writing to them.
    await applyManifest(cutNames.map((device, k) => gpuVmManifests({ name: `vm-${k}`, device })).join('---\n'), { namespace: namespace() });
    await waitFor(() => sim().audit().some((e) => isDeviceWrite(e) && writerOf(e) === cutId && cutDevices.includes(e.device)), {
      timeoutMs: 20_000,
      intervalMs: 50,
      description: 'the replica to be cut to write to its devices',
    });
    const cutAt = proxy.cut();
    process.stdout.write(`sharding partition e2e: cut at ${cutAt - started} ms\n`);

    // It stops at its renew deadline (it exits), though its process was not killed and its devices are reachable.
    await waitFor(() => cut.exited(), { timeoutMs: SHARD_LEASE_MS * 2, intervalMs: 100, description: 'the cut replica to exit' });
    const lastRenewal = await shardLeaseRenewedAt(namespace(), cutId);
    const lost = cut.logLines().find((l) => l.msg === 'lost the shard lease; exiting');
    expect(lost?.time).toBeDefined();
    const lostAt = Date.parse(lost?.time ?? '');
    // The renew deadline runs from the last renewal the replica saw succeed. The Lease may hold a later one whose
    // answer the cut lost (the apiserver applied it): that only makes the peers wait longer. So the exit comes
    // after the cut, no later than the renew deadline after the stored renewal (plus a timer's lateness on a loaded
    // machine), and before the Lease can be judged expired.
    expect(lastRenewal).toBeLessThanOrEqual(cutAt);
    expect(lostAt).toBeGreaterThan(cutAt);
    expect(lostAt).toBeLessThanOrEqual(lastRenewal + SHARD_RENEW_DEADLINE_MS + TIMER_ALLOWANCE_MS);
    expect(lostAt).toBeLessThan(lastRenewal + SHARD_LEASE_MS);

    // The peers take its devices and finish its GpuVms.
    const owners = await waitFor(() => ownersByStatus(namespace(), COUNT, peerIds), { timeoutMs: 20_000, intervalMs: 100, description: 'the peers to take the cut replica\'s devices' });
    expect(cutNames.map((n) => peerIds.includes(owners.get(n) ?? ''))).toEqual(cutNames.map(() => true));
    expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm', '--all', '--timeout=60s'])).code).toBe(0);

    // The audit: the cut replica's last device write was answered before the first write of a peer to any of its
    // devices began, and before its renew deadline ran out; the peers' first writes come after its lease expired.
    const audit = sim().audit();
    const onCutDevices = audit.filter((e) => isDeviceWrite(e) && cutDevices.includes(e.device));
    const byCut = onCutDevices.filter((e) => writerOf(e) === cutId);
    const byPeers = onCutDevices.filter((e) => writerOf(e) !== cutId);
    expect(byCut.length).toBeGreaterThan(0);
    expect(byPeers.length).toBeGreaterThan(0);
    const cutLast = Math.max(...byCut.map((e) => Date.parse(e.time)));
    const peersFirst = Math.min(...byPeers.map(requestStart));
    process.stdout.write(
      `sharding partition e2e: last renewal ${lastRenewal - cutAt} ms from the cut, exit ${lostAt - lastRenewal} ms after it; ` +
        `the cut replica's last write ${cutLast - lastRenewal} ms after it, the peers' first ${Math.round(peersFirst - lastRenewal)} ms after it (renew deadline ${SHARD_RENEW_DEADLINE_MS} ms, lease ${SHARD_LEASE_MS} ms)\n`,
    );
    expect(cutLast).toBeLessThan(peersFirst);
    expect(cutLast).toBeLessThanOrEqual(lostAt);
    expect(peersFirst).toBeGreaterThanOrEqual(lastRenewal + SHARD_LEASE_MS);
    expect(writerProblems(writerRuns(audit))).toEqual([]);
    const vms: GpuVm[] = await listGpuVms(namespace());
    expect(vms.length).toBe(cutNames.length);
    expect(deploymentProblems(deploymentPuts(audit), new Map(vms.map((vm) => [vm.metadata.uid ?? '', vm.metadata.name ?? ''])))).toEqual([]);
    expect(sim().violations()).toEqual([]);
    process.stdout.write(`sharding partition e2e: ${Date.now() - started} ms\n`);
  }, 60_000);
});

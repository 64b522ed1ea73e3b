// Leader failover under load: three controller replicas with leader election while a fleet of GpuVms converges
// and more arrive. The leader is SIGKILLed again and again (a new standby replaces it each time); a standby takes
// over once the lease runs out. At no time do two replicas write: only the leader reconciles, every ARM write falls
// in one leadership, and every deployment runs once.
import type { GpuVm } from '../../src/api/types.js';
import { applyManifest, useTestNamespace, waitFor } from '../support/cluster.js';
import { useSimulator } from '../support/devices.js';
import { listGpuVms } from '../support/objects.js';
import { scaled } from '../support/reliabilityScale.js';
import { SEED_ENV, countBy, deploymentProblems, deploymentPuts, deploymentRetries, isArmWrite, reliabilitySeed, runningDeployments, seconds, seeded, sleep, spread } from './support/crashAudit.js';
import { isArmRequest, requestStart } from './support/faultAudit.js';
import { fleet, fleetDeviceManifests, fleetDevices, fleetGpuVmManifests, isReady, planGpuVms, vmMismatches } from './support/faultFleet.js';
import { Replica, readLease, standbyViolations } from './support/leaderReplicas.js';

const KILLS = scaled(10);
const INITIAL_GPUVMS = scaled(60);
/** Applied right after each kill, so the next leader always finds new work. */
const GPUVMS_PER_KILL = 2;
const TOTAL_GPUVMS = INITIAL_GPUVMS + KILLS * GPUVMS_PER_KILL;
const DEVICES = Math.ceil(TOTAL_GPUVMS / 2);
const REPLICAS = 3;
const SEED = reliabilitySeed(20_261_128);
/**
 * A leader is killed this long after its first ARM write (so each kill interrupts deployments in flight), or
 * after WRITE_WAIT_MS of leading without one.
 */
const AFTER_FIRST_WRITE_MS: [number, number] = [0, 2_000];
const WRITE_WAIT_MS = 20_000;
/** A request the killed leader sent just before SIGKILL may reach the device (in this process) a little later. */
const IN_FLIGHT_SLACK_MS = 250;

const namespace = useTestNamespace('rel-leader');
const devices = fleetDevices(DEVICES);
// Deployments take seconds, so the kills land while VMs and drivers are being deployed.
const sim = useSimulator({ devices, seed: SEED, auditCapacity: 2_000_000, timings: { vmCreateMs: 1_500, extensionMs: 1_000, nicCreateMs: 100 } });
const replicas: Replica[] = [];
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
});

interface Failover {
  killed: string;
  /** ARM writes the killed leader made, and deployments running on the devices when it died. */
  killedLeaderWrites: number;
  deploymentsRunning: number;
  next: string;
  killedAt: number;
  /** The Lease named the new holder (polled every 50 ms). */
  leaseTakenAt: number;
  becameLeaderAt: number;
  /** The new leader's first reconcile ended. */
  resumedAt: number;
}

test(`${KILLS} leader SIGKILLs while ${TOTAL_GPUVMS} GpuVms converge on ${DEVICES} devices: one writer at a time, each deployment run once`, async () => {
  const random = seeded(SEED);
  const f = fleet(namespace(), devices);
  const planned = planGpuVms(f, 2).slice(0, TOTAL_GPUVMS);
  console.log(`[leader] seed ${SEED} (${SEED_ENV}); ${REPLICAS} replicas, ${DEVICES} devices, ${INITIAL_GPUVMS} + ${KILLS}×${GPUVMS_PER_KILL} GpuVms, ${KILLS} kills`);
  const started = Date.now();
  await applyManifest(fleetDeviceManifests(sim(), f, namespace()));

  let replicaCount = 0;
  const startReplica = async (): Promise<Replica> => {
    const replica = new Replica(`ctl-${String(++replicaCount).padStart(2, '0')}`, namespace());
    replicas.push(replica);
    await replica.start();
    return replica;
  };
  /** The live replica the Lease names, once it has logged its leadership and finished a reconcile. */
  const leaderAtWork = async (description: string): Promise<{ leader: Replica; leaseTakenAt: number }> => {
    let leaseTakenAt = 0;
    const leader = await waitFor(
      async () => {
        const { holder } = await readLease(namespace());
        const r = replicas.find((x) => x.alive && x.holds(holder));
        if (r === undefined) return undefined;
        if (leaseTakenAt === 0) leaseTakenAt = Date.now();
        return r.firstReconcileAt() !== undefined ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50, description },
    );
    return { leader, leaseTakenAt };
  };

  for (let i = 0; i < REPLICAS; i++) await startReplica();
  await applyManifest(fleetGpuVmManifests(f, planned.slice(0, INITIAL_GPUVMS)), { namespace: namespace() });
  let { leader } = await leaderAtWork('a first leader at work');

  const failovers: Failover[] = [];
  for (let i = 0; i < KILLS; i++) {
    const delay = random.between(...AFTER_FIRST_WRITE_MS);
    const leadingSince = Date.now();
    while (!leader.lines().some((l) => l.msg === 'acting on device') && Date.now() - leadingSince < WRITE_WAIT_MS) await sleep(50);
    await sleep(delay);
    expect(leader.holds((await readLease(namespace())).holder)).toBe(true);
    const deploymentsRunning = runningDeployments(sim(), f.simDevices);
    await leader.kill();
    const killedAt = leader.killedAt ?? Date.now();
    const batch = planned.slice(INITIAL_GPUVMS + i * GPUVMS_PER_KILL, INITIAL_GPUVMS + (i + 1) * GPUVMS_PER_KILL);
    await applyManifest(fleetGpuVmManifests(f, batch), { namespace: namespace() });
    await startReplica();
    const next = await leaderAtWork(`a new leader after killing ${leader.name} (logs in ${leader.logFile})`);
    failovers.push({
      killed: leader.name,
      killedLeaderWrites: leader.lines().filter((l) => l.msg === 'acting on device').length,
      deploymentsRunning,
      next: next.leader.name,
      killedAt,
      leaseTakenAt: next.leaseTakenAt,
      becameLeaderAt: next.leader.becameLeaderAt() ?? NaN,
      resumedAt: next.leader.firstReconcileAt() ?? NaN,
    });
    leader = next.leader;
  }
  const lastFailoverAt = Date.now();

  let vms: GpuVm[] = [];
  await waitFor(
    async () => {
      vms = await listGpuVms(namespace());
      return vms.length === planned.length && vms.every(isReady);
    },
    { timeoutMs: 180_000, intervalMs: 1_000, description: `all ${planned.length} GpuVms Ready (leader log ${leader.logFile})` },
  );
  const convergedAt = Date.now();
  const lease = await readLease(namespace());

  // Leaderships, from the logs: one per kill plus the last, in the order the Lease changed hands, never overlapping.
  const leaderships = replicas
    .map((r) => ({ name: r.name, from: r.becameLeaderAt(), to: r.killedAt ?? Infinity }))
    .filter((l): l is { name: string; from: number; to: number } => l.from !== undefined)
    .sort((a, b) => a.from - b.from);
  expect(leaderships.map((l) => l.name)).toEqual([...failovers.map((x) => x.killed), leader.name]);
  const overlaps = leaderships.slice(1).flatMap((l, i) => {
    const previous = leaderships[i];
    return previous !== undefined && l.from <= previous.to ? [`${l.name} led from ${l.from}, before ${previous.name} was killed at ${previous.to}`] : [];
  });
  expect(overlaps).toEqual([]);
  expect(lease.transitions).toBe(KILLS);
  expect(leader.holds(lease.holder)).toBe(true);
  // Only the leader reconciled: no reconciler output from a replica before it became leader.
  expect(replicas.flatMap(standbyViolations)).toEqual([]);

  // Every ARM write started while its writer led: between a "became leader" and that replica's kill.
  const audit = sim().audit().filter((e) => isArmRequest(e) && requestStart(e) >= started);
  expect(sim().audit()[0]?.seq).toBe(1); // the audit kept every request
  const writes = audit.filter(isArmWrite);
  const outside = writes.filter((w) => !leaderships.some((l) => requestStart(w) >= l.from && requestStart(w) <= l.to + IN_FLIGHT_SLACK_MS));
  expect(outside.map((w) => `${new Date(requestStart(w)).toISOString()} ${w.method} ${w.path} ${w.status}`)).toEqual([]);

  // Each deployment name ran once, for its GpuVm; no VM was deleted, and each GpuVm has exactly one VM.
  const uids = new Map(vms.map((vm) => [vm.metadata.uid ?? '', vm.metadata.name ?? '']));
  const puts = deploymentPuts(audit);
  expect(deploymentProblems(puts, uids)).toEqual([]);
  expect(writes.filter((w) => w.method === 'DELETE' || w.operation === 'vm.put').map((w) => `${w.method} ${w.path}`)).toEqual([]);
  expect(vmMismatches(sim(), f, planned)).toEqual([]);
  expect(sim().violations()).toEqual([]);

  // Failover times: the lease changing hands, the new leader's "became leader", its first reconcile, and its
  // first ARM write (every write after a kill is the next leader's, as checked above).
  const firstWriteAfter = (at: number): number | undefined => writes.map(requestStart).find((t) => t > at + IN_FLIGHT_SLACK_MS);
  const rows = failovers.map((x) => ({ ...x, firstWriteAt: firstWriteAfter(x.killedAt) }));
  const ms = (t: number | undefined, from: number): string => (t === undefined || Number.isNaN(t) ? '-' : String(Math.round(t - from)));
  const summary = (pick: (r: (typeof rows)[number]) => number | undefined): string => {
    const values = rows.map((r) => pick(r)).filter((v): v is number => v !== undefined && !Number.isNaN(v));
    const s = spread(values);
    return `min ${Math.round(s.min)} / median ${Math.round(s.median)} / max ${Math.round(s.max)} ms`;
  };
  console.log(
    [
      `[leader] failovers (ms after SIGKILL: lease taken, became leader, first reconcile, first ARM write):`,
      ...rows.map(
        (r, i) =>
          `[leader]   ${i + 1}. ${r.killed} (${r.killedLeaderWrites} ARM writes, killed with ${r.deploymentsRunning} deployments running) -> ${r.next}: ` +
          `${ms(r.leaseTakenAt, r.killedAt)}, ${ms(r.becameLeaderAt, r.killedAt)}, ${ms(r.resumedAt, r.killedAt)}, ${ms(r.firstWriteAt, r.killedAt)}`,
      ),
      `[leader] lease taken: ${summary((r) => r.leaseTakenAt - r.killedAt)}`,
      `[leader] became leader: ${summary((r) => r.becameLeaderAt - r.killedAt)}`,
      `[leader] resumed (first reconcile): ${summary((r) => r.resumedAt - r.killedAt)}`,
      `[leader] first ARM write: ${summary((r) => (r.firstWriteAt === undefined ? undefined : r.firstWriteAt - r.killedAt))}`,
      `[leader] all ${planned.length} Ready ${seconds(convergedAt - lastFailoverAt)} after the last failover; ${replicas.length} replicas started; ` +
        `${writes.length} ARM writes (${JSON.stringify(countBy(writes.map((w) => `${w.operation} ${w.status}`)))}); ` +
        `${[...puts.values()].flat().length} deployment PUTs for ${puts.size} names (${deploymentRetries(puts)} retries)`,
      `[leader] test duration ${seconds(Date.now() - started)}`,
    ].join('\n'),
  );
}, 300_000 + KILLS * 20_000);

// Leader election against the real apiserver: the elector on a coordination.k8s.io/v1 Lease, then two controller
// processes competing for the lease with the simulator behind them.
import { CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  KubeLeaseStore,
  LeaderElector,
  type LeaderElectionRecord,
  type LeaseRef,
  type LeaseStore,
  type StoredLease,
  type StoppedLeadingReason,
} from '../../src/runtime/leaderElection.js';
import { applyManifest, kubectl, testKubeConfig, testKubeconfigPath, useTestNamespace, waitFor } from '../support/cluster.js';
import { ControllerProcess } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';

const namespace = useTestNamespace('leader');
const coordination = () => testKubeConfig().makeApiClient(CoordinationV1Api);
const readLease = (name: string): Promise<V1Lease> => coordination().readNamespacedLease({ name, namespace: namespace() });

/** Test timings, scaled down from 15/10/2 s so the suite stays quick; one test uses the defaults. */
const FAST = { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 };

/** A Kubernetes lease store that can be broken on demand (an apiserver this replica cannot reach). */
class BreakableStore implements LeaseStore {
  broken = false;
  /** When the last successful write was sent. */
  lastWriteSentAt = 0;
  constructor(private readonly inner: LeaseStore) {}
  private check(): void {
    if (this.broken) throw new Error('connect ECONNREFUSED (test)');
  }
  async get(ref: LeaseRef, signal: AbortSignal): Promise<StoredLease | undefined> {
    this.check();
    return this.inner.get(ref, signal);
  }
  async create(ref: LeaseRef, record: LeaderElectionRecord, signal: AbortSignal): Promise<StoredLease> {
    this.check();
    const sent = Date.now();
    const result = await this.inner.create(ref, record, signal);
    this.lastWriteSentAt = sent;
    return result;
  }
  async update(ref: LeaseRef, previous: StoredLease, record: LeaderElectionRecord, signal: AbortSignal): Promise<StoredLease> {
    this.check();
    const sent = Date.now();
    const result = await this.inner.update(ref, previous, record, signal);
    this.lastWriteSentAt = sent;
    return result;
  }
}

interface Candidate {
  name: string;
  elector: LeaderElector;
  store: BreakableStore;
  startedAt?: number;
  stopped: { reason: StoppedLeadingReason; at: number }[];
  running: Promise<void>;
}

const candidates: Candidate[] = [];
afterEach(async () => {
  await Promise.all(candidates.splice(0).map((c) => c.elector.stop({ release: true })));
});

function candidate(name: string, lockName: string, timings: Partial<typeof FAST> = FAST): Candidate {
  const store = new BreakableStore(new KubeLeaseStore(testKubeConfig()));
  const c: Candidate = { name, store, stopped: [], elector: undefined as unknown as LeaderElector, running: Promise.resolve() };
  c.elector = new LeaderElector({
    store,
    lockName,
    namespace: namespace(),
    identity: `${name}_${Math.random().toString(16).slice(2, 8)}`,
    ...timings,
    onStartedLeading: () => {
      c.startedAt = Date.now();
    },
    onStoppedLeading: (reason) => c.stopped.push({ reason, at: Date.now() }),
  });
  c.running = c.elector.run();
  candidates.push(c);
  return c;
}

async function oneLeader(a: Candidate, b: Candidate): Promise<[Candidate, Candidate]> {
  const leader = await waitFor(() => [a, b].find((c) => c.elector.isLeader()), { timeoutMs: 10_000, description: 'a leader' });
  return leader === a ? [a, b] : [b, a];
}

/** Samples both candidates for `ms`: never two leaders. */
async function neverTwoLeaders(cs: Candidate[], ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    expect(cs.filter((c) => c.elector.isLeader()).length).toBeLessThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('LeaderElector on a Lease', () => {
  test('two candidates: exactly one leads, and the Lease names it with microsecond times', async () => {
    const a = candidate('a', 'one-leader');
    const b = candidate('b', 'one-leader');
    const [leader, standby] = await oneLeader(a, b);
    await neverTwoLeaders([a, b], 3_000);
    expect(leader.elector.isLeader()).toBe(true);
    expect(standby.elector.isLeader()).toBe(false);
    expect(standby.elector.observedLeader()).toBe(leader.elector.identity);

    const lease = await readLease('one-leader');
    expect(lease.spec?.holderIdentity).toBe(leader.elector.identity);
    expect(lease.spec?.leaseDurationSeconds).toBe(4);
    expect(lease.spec?.leaseTransitions).toBe(0);
    // The raw object as the apiserver stores it: MicroTime with six fractional digits, renewed recently.
    const raw = await kubectl(['get', 'lease', 'one-leader', '-n', namespace(), '-o', 'json']);
    const spec = (JSON.parse(raw.stdout) as { spec: { renewTime: string; acquireTime: string } }).spec;
    expect(spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(Date.now() - Date.parse(spec.renewTime)).toBeLessThan(2_000);
    expect(Date.parse(spec.acquireTime)).toBeLessThan(Date.parse(spec.renewTime));
  });

  test('a killed leader (no release) is replaced within lease duration + retry period', async () => {
    const a = candidate('a', 'crash');
    const b = candidate('b', 'crash');
    const [leader, standby] = await oneLeader(a, b);
    await new Promise((r) => setTimeout(r, 1_500));
    await leader.elector.stop({ release: false });
    const killedAt = Date.now();
    expect((await readLease('crash')).spec?.holderIdentity).toBe(leader.elector.identity);

    await waitFor(() => standby.elector.isLeader(), { timeoutMs: 15_000, intervalMs: 10, description: 'the standby to take over' });
    const takeover = (standby.startedAt ?? Date.now()) - killedAt;
    process.stdout.write(`leader election e2e: crash takeover after ${takeover} ms (lease ${FAST.leaseDurationMs} ms, retry ${FAST.retryPeriodMs} ms)\n`);
    // Not before the lease could have expired, and within lease duration + one (jittered) retry period.
    expect(takeover).toBeGreaterThan(FAST.leaseDurationMs - FAST.retryPeriodMs);
    expect(takeover).toBeLessThanOrEqual(FAST.leaseDurationMs + FAST.retryPeriodMs * 1.2 + 300);
    const lease = await readLease('crash');
    expect(lease.spec).toMatchObject({ holderIdentity: standby.elector.identity, leaseTransitions: 1 });
  });

  test('a released lease is taken over within about one retry period', async () => {
    const a = candidate('a', 'release');
    const b = candidate('b', 'release');
    const [leader, standby] = await oneLeader(a, b);
    await new Promise((r) => setTimeout(r, 1_000));
    const before = Date.now();
    await leader.elector.stop({ release: true });
    const releasedAt = Date.now();
    expect(leader.stopped.map((s) => s.reason)).toEqual(['stopped']);
    await waitFor(() => standby.elector.isLeader(), { timeoutMs: 10_000, intervalMs: 10, description: 'the standby to take over' });
    const takeover = (standby.startedAt ?? Date.now()) - releasedAt;
    process.stdout.write(`leader election e2e: release takeover after ${takeover} ms (release took ${releasedAt - before} ms)\n`);
    expect(takeover).toBeLessThanOrEqual(FAST.retryPeriodMs * 1.2 + 300);
    const lease = await readLease('release');
    expect(lease.spec).toMatchObject({ holderIdentity: standby.elector.identity, leaseDurationSeconds: 4, leaseTransitions: 1 });
  });

  test('a leader whose renewals fail stops leading within the renew deadline, before the standby takes over', async () => {
    const a = candidate('a', 'partition');
    const b = candidate('b', 'partition');
    const [leader, standby] = await oneLeader(a, b);
    await new Promise((r) => setTimeout(r, 1_200));
    leader.store.broken = true;
    await waitFor(() => leader.stopped.length > 0, { timeoutMs: 10_000, intervalMs: 10, description: 'the leader to stop leading' });
    const stopped = leader.stopped[0];
    expect(stopped?.reason).toBe('renewDeadlineExceeded');
    const sinceLastRenewal = (stopped?.at ?? 0) - leader.store.lastWriteSentAt;
    process.stdout.write(`leader election e2e: failing leader stopped ${sinceLastRenewal} ms after its last successful renewal was sent\n`);
    expect(sinceLastRenewal).toBeGreaterThanOrEqual(FAST.renewDeadlineMs - 20);
    expect(sinceLastRenewal).toBeLessThanOrEqual(FAST.renewDeadlineMs + 150);
    expect(leader.elector.isLeader()).toBe(false);
    await leader.running;

    await waitFor(() => standby.elector.isLeader(), { timeoutMs: 15_000, intervalMs: 10, description: 'the standby to take over' });
    // The old leader had stopped before the standby started: no overlap.
    expect(standby.startedAt ?? 0).toBeGreaterThan(stopped?.at ?? Infinity);
  });

  test('with the default timings (15 s / 10 s / 2 s) a killed leader is replaced within 17 s', async () => {
    const defaults = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
    const a = candidate('a', 'defaults', defaults);
    const b = candidate('b', 'defaults', defaults);
    const [leader, standby] = await oneLeader(a, b);
    await new Promise((r) => setTimeout(r, 3_000));
    await leader.elector.stop({ release: false });
    const killedAt = Date.now();
    await waitFor(() => standby.elector.isLeader(), { timeoutMs: 25_000, intervalMs: 20, description: 'the standby to take over' });
    const takeover = (standby.startedAt ?? Date.now()) - killedAt;
    process.stdout.write(`leader election e2e: crash takeover with default timings after ${takeover} ms\n`);
    expect(takeover).toBeGreaterThan(15_000 - 2_000 * 1.2);
    expect(takeover).toBeLessThanOrEqual(15_000 + 2_000 * 1.2 + 500);
  }, 60_000);
});

// --- Two controller processes ---------------------------------------------------------------------------------------

const sim = useSimulator({ devices: [{ name: 'sim-a', gpus: 2, images: [LINUX_IMAGE] }] });
const device = () => `${namespace()}-dev`;
const PROCESS_TIMINGS = ['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '500ms'];

/** A controller process with its own log file (the harness names logs by namespace, and both share one). */
function controllerProcess(name: string): ControllerProcess {
  const p = new ControllerProcess({ namespace: namespace(), args: ['--leader-elect', '--leader-elect-namespace', namespace(), ...PROCESS_TIMINGS], env: { POD_NAME: name } });
  const logFile = join(p.logFile, '..', `controller-${namespace()}-${name}.log`);
  if (existsSync(logFile)) rmSync(logFile);
  Object.defineProperty(p, 'logFile', { value: logFile });
  return p;
}

const logLines = (p: ControllerProcess): { msg?: string; key?: string; reason?: string; leader?: string }[] =>
  (existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8') : '')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string });
const actions = (p: ControllerProcess) => logLines(p).filter((l) => l.msg === 'acting on device');
const leads = (p: ControllerProcess) => logLines(p).some((l) => l.msg === 'became leader');

describe('two controller processes', () => {
  const procs: ControllerProcess[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
  });

  test('only the leader reconciles; after SIGKILL the standby takes over within lease duration + retry period', async () => {
    const [p1, p2] = [controllerProcess('ctl-1'), controllerProcess('ctl-2')];
    procs.push(p1, p2);
    await p1.start();
    await waitFor(() => leads(p1), { timeoutMs: 20_000, description: 'the first process to lead' });
    await p2.start();
    await waitFor(() => logLines(p2).some((l) => l.msg === 'leader observed'), { timeoutMs: 20_000, description: 'the second process to see the leader' });

    await applyManifest(deviceManifests(sim(), 'sim-a', namespace(), { name: device() }));
    await applyManifest(gpuVmManifests({ name: 'vm1', device: device() }), { namespace: namespace() });
    expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/vm1', '--timeout=60s'])).code).toBe(0);
    expect(actions(p1).length).toBeGreaterThan(0);
    expect(actions(p2)).toEqual([]);
    expect(leads(p2)).toBe(false);
    const holder = (await readLease('gpuvm-controller-leader')).spec?.holderIdentity ?? '';
    expect(holder).toMatch(/^ctl-1_/);

    await p1.kill();
    const killedAt = Date.now();
    const writesAtKill = sim().audit().filter((e) => e.method !== 'GET').length;
    await waitFor(async () => (await readLease('gpuvm-controller-leader')).spec?.holderIdentity?.startsWith('ctl-2_'), {
      timeoutMs: 20_000,
      intervalMs: 50,
      description: 'the second process to take the lease',
    });
    const takeover = Date.now() - killedAt;
    process.stdout.write(`leader election e2e: controller process takeover after SIGKILL in ${takeover} ms (lease 4 s, retry 500 ms)\n`);
    expect(takeover).toBeLessThanOrEqual(4_000 + 500 * 1.2 + 1_000);
    expect((await readLease('gpuvm-controller-leader')).spec?.leaseTransitions).toBe(1);
    await waitFor(() => leads(p2), { timeoutMs: 10_000, description: 'the second process to log its leadership' });

    // The new leader reconciles: a second GpuVm becomes Ready through it alone.
    const p1Actions = actions(p1).length;
    await applyManifest(gpuVmManifests({ name: 'vm2', device: device() }), { namespace: namespace() });
    expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/vm2', '--timeout=60s'])).code).toBe(0);
    expect(actions(p2).some((l) => l.key === `${namespace()}/vm2`)).toBe(true);
    expect(actions(p1).length).toBe(p1Actions);
    expect(sim().audit().filter((e) => e.method !== 'GET').length).toBeGreaterThan(writesAtKill);
    expect(sim().deviceState('sim-a').vms.map((v) => v.name).sort()).toEqual(['vm1', 'vm2']);
  }, 120_000);

  test('SIGTERM: the leader releases the lease and a standby takes over within about one retry period', async () => {
    const leader = procs[1];
    if (leader === undefined || !leads(leader)) throw new Error('needs the leader of the previous test');
    const p3 = controllerProcess('ctl-3');
    procs.push(p3);
    await p3.start();
    await waitFor(() => logLines(p3).some((l) => l.msg === 'leader observed'), { timeoutMs: 20_000, description: 'the new standby to see the leader' });
    await new Promise((r) => setTimeout(r, 1_000));

    const termAt = Date.now();
    const stopping = leader.stop();
    await waitFor(async () => (await readLease('gpuvm-controller-leader')).spec?.holderIdentity?.startsWith('ctl-3_'), {
      timeoutMs: 20_000,
      intervalMs: 20,
      description: 'the standby to take the released lease',
    });
    const takeover = Date.now() - termAt;
    await stopping;
    process.stdout.write(`leader election e2e: controller process takeover after SIGTERM in ${takeover} ms (retry 500 ms)\n`);
    expect(logLines(leader).some((l) => l.msg === 'released leader lease')).toBe(true);
    expect(takeover).toBeLessThanOrEqual(500 * 1.2 + 1_000);
    expect((await readLease('gpuvm-controller-leader')).spec?.leaseTransitions).toBe(2);
    await waitFor(() => leads(p3), { timeoutMs: 10_000, description: 'the third process to log its leadership' });
  }, 60_000);
});

// --- A leader cut off from the apiserver ---------------------------------------------------------------------------

/** A TCP proxy to the apiserver that can be cut: then every connection, open or new, is dropped. */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  private readonly server: Server;
  constructor(private readonly target: URL) {
    this.server = createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  cutOff(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }
  close(): Promise<void> {
    this.cutOff();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const leaseNamespace = useTestNamespace('leader-lease');

describe('a leader cut off from the apiserver', () => {
  const procs: ControllerProcess[] = [];
  let proxy: CuttableProxy | undefined;
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await proxy?.close();
  });

  test('exits (code 1) once it cannot renew for the renew deadline, before the standby takes over', async () => {
    const kc = testKubeConfig();
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('no current cluster');
    proxy = new CuttableProxy(new URL(cluster.server));
    const proxied = await proxy.listen();
    kc.clusters = kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: proxied } : c));
    const kubeconfig = join(testKubeconfigPath(), '..', `kubeconfig-proxied-${leaseNamespace()}`);
    writeFileSync(kubeconfig, kc.exportConfig());

    const args = ['--leader-elect', '--leader-elect-namespace', leaseNamespace(), ...PROCESS_TIMINGS];
    const named = (name: string, extra: { kubeconfig?: string } = {}): ControllerProcess => {
      const p = new ControllerProcess({ namespace: namespace(), args, env: { POD_NAME: name }, ...extra });
      const logFile = join(p.logFile, '..', `controller-${namespace()}-${name}.log`);
      if (existsSync(logFile)) rmSync(logFile);
      Object.defineProperty(p, 'logFile', { value: logFile });
      procs.push(p);
      return p;
    };
    const cut = named('cut', { kubeconfig });
    const standby = named('standby');
    await cut.start();
    await waitFor(() => leads(cut), { timeoutMs: 20_000, description: 'the proxied process to lead' });
    await standby.start();
    await waitFor(() => logLines(standby).some((l) => l.msg === 'leader observed'), { timeoutMs: 20_000, description: 'the standby to see the leader' });
    // The device has two GPUs: free one (through the proxied leader) for vm3.
    await applyManifest(deviceManifests(sim(), 'sim-a', namespace(), { name: device() }));
    expect((await kubectl(['delete', 'gvm/vm2', '-n', namespace(), '--ignore-not-found', '--timeout=60s'])).code).toBe(0);
    await applyManifest(gpuVmManifests({ name: 'vm3', device: device() }), { namespace: namespace() });
    expect((await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/vm3', '--timeout=60s'])).code).toBe(0);
    expect(actions(cut).some((l) => l.key === `${namespace()}/vm3`)).toBe(true);

    const exited = (cut as unknown as { current: { exited: Promise<{ code: number | null }> } }).current.exited.then((e) => ({ ...e, at: Date.now() }));
    proxy.cutOff();
    const cutAt = Date.now();
    let takeoverAt = 0;
    await waitFor(
      async () => {
        const holder = (await coordination().readNamespacedLease({ name: 'gpuvm-controller-leader', namespace: leaseNamespace() })).spec?.holderIdentity;
        if (holder?.startsWith('standby_') === true) takeoverAt = Date.now();
        return takeoverAt > 0;
      },
      { timeoutMs: 20_000, intervalMs: 20, description: 'the standby to take the lease' },
    );
    const exit = await exited;
    process.stdout.write(
      `leader election e2e: cut-off leader exited ${exit.at - cutAt} ms after the cut (code ${exit.code}); standby led after ${takeoverAt - cutAt} ms\n`,
    );
    expect(exit.code).toBe(1);
    const cutLog = logLines(cut);
    const lostAt = cutLog.findIndex((l) => l.msg === 'lost the leader lease; exiting');
    expect(cutLog[lostAt]?.reason).toBe('renewDeadlineExceeded');
    // Nothing was done to a device after the lease was lost.
    expect(cutLog.slice(lostAt).filter((l) => l.msg === 'acting on device')).toEqual([]);
    expect(exit.at - cutAt).toBeLessThanOrEqual(3_000 + 1_000);
    // The old leader was gone before the new one started.
    expect(exit.at).toBeLessThan(takeoverAt);
    await waitFor(() => leads(standby), { timeoutMs: 10_000, description: 'the standby to log its leadership' });
  }, 90_000);
});

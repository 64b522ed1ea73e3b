// Crash safety: a fleet of GpuVms converges while its controller is SIGKILLed at random points (during the
// initial list, admission, deployment PUTs, polling and status writes) and restarted, again and again. Afterwards
// every GpuVm is Ready with exactly one VM and one run of each of its deployments, and deleting everything leaves
// nothing behind on the devices.
import type { GpuVm } from '../../src/api/types.js';
import { applyManifest, kubectl, useTestNamespace, waitFor } from '../support/cluster.js';
import { ControllerProcess, TEST_DEVICE_LABEL } from '../support/controllerHarness.js';
import { useSimulator } from '../support/devices.js';
import { listGpuVms } from '../support/objects.js';
import { scaled } from '../support/reliabilityScale.js';
import {
  SEED_ENV,
  countBy,
  deploymentProblems,
  deploymentPuts,
  deploymentRetries,
  isArmWrite,
  logSize,
  parseLogLines,
  readLogRange,
  runningDeployments,
  reliabilitySeed,
  seconds,
  seeded,
  sleep,
  waitForLogMessage,
  spread,
} from './support/crashAudit.js';
import { isArmRequest, requestStart } from './support/faultAudit.js';
import { deviceLeftovers, fleet, fleetDeviceManifests, fleetDevices, fleetGpuVmManifests, isReady, planGpuVms, vmMismatches } from './support/faultFleet.js';

const DEVICES = scaled(100);
const VMS_PER_DEVICE = 2;
const KILLS = scaled(100);
const SEED = reliabilitySeed(20_261_127);
/**
 * When each SIGKILL lands. Loading the controller's modules takes about a second, so most kills are timed from the
 * process's "starting" line: informer list, admission, deployment PUTs, polling and status writes follow within
 * ~2 s. A share are timed from the spawn and catch the process starting up or listing. Every tenth controller
 * lives a few seconds longer: each restart works through its queues from the top (informer list order), so
 * without them the fleet would barely move until the last restart and the kills would rarely meet a deployment.
 */
const EARLY_KILL_SHARE = 0.2;
const AFTER_SPAWN_MS: [number, number] = [200, 1_200];
const AFTER_STARTING_MS: [number, number] = [0, 1_200];
const LONG_LIFE_EVERY = 10;
const LONG_AFTER_STARTING_MS: [number, number] = [2_500, 5_000];
/** Device timings redrawn at every restart, so deployments of different lengths are in flight at the kills. */
const VM_CREATE_MS: [number, number] = [300, 2_000];
const EXTENSION_MS: [number, number] = [200, 1_500];

const namespace = useTestNamespace('rel-crash');
const devices = fleetDevices(DEVICES);
const sim = useSimulator({ devices, seed: SEED, auditCapacity: 3_000_000, timings: { vmCreateMs: 1_000, extensionMs: 800, nicCreateMs: 100, deleteMs: 200 } });
let controller: ControllerProcess | undefined;
afterAll(async () => {
  await controller?.stop();
});

/** One controller process lifetime, from its start to its SIGKILL. */
interface Lifetime {
  startedAt: number;
  killedAt: number;
  logFrom: number;
  logTo: number;
  /** Deployments running on the devices when it was killed. */
  deploymentsRunning: number;
  /** VMs with their GPU driver installed when it was killed. */
  vmsProvisioned: number;
}

test(`${DEVICES * VMS_PER_DEVICE} GpuVms on ${DEVICES} devices converge through ${KILLS} controller SIGKILLs, then delete cleanly`, async () => {
  const random = seeded(SEED);
  const f = fleet(namespace(), devices);
  const planned = planGpuVms(f, VMS_PER_DEVICE);
  console.log(`[crash] seed ${SEED} (${SEED_ENV}); ${DEVICES} devices, ${planned.length} GpuVms, ${KILLS} kills`);

  const started = Date.now();
  await applyManifest(fleetDeviceManifests(sim(), f, namespace()));
  const ctl = new ControllerProcess({ namespace: namespace(), args: ['--concurrency', '8'] });
  controller = ctl;
  let logFrom = logSize(ctl.logFile);
  let startedAt = Date.now();
  await ctl.start();
  // The GpuVms arrive while the first controllers are already being killed.
  const applying = applyManifest(fleetGpuVmManifests(f, planned), { namespace: namespace() }).then(
    () => undefined,
    (error: unknown) => error,
  );
  const lifetimes: Lifetime[] = [];
  for (let i = 0; i < KILLS; i++) {
    const long = i % LONG_LIFE_EVERY === LONG_LIFE_EVERY / 2;
    const early = random.between(0, 1) < EARLY_KILL_SHARE && !long;
    const delay = random.between(...(long ? LONG_AFTER_STARTING_MS : early ? AFTER_SPAWN_MS : AFTER_STARTING_MS));
    if (!early) await waitForLogMessage(ctl.logFile, logFrom, 'starting', 60_000);
    await sleep(delay);
    const deploymentsRunning = runningDeployments(sim(), f.simDevices);
    const killedAt = Date.now();
    await ctl.kill();
    const logTo = logSize(ctl.logFile);
    const vmsProvisioned = f.simDevices.reduce((n, d) => n + sim().deviceState(d).vms.filter((vm) => vm.extensions.some((e) => e.provisioningState === 'Succeeded')).length, 0);
    lifetimes.push({ startedAt, killedAt, logFrom, logTo, deploymentsRunning, vmsProvisioned });
    sim().setTimings({ vmCreateMs: Math.round(random.between(...VM_CREATE_MS)), extensionMs: Math.round(random.between(...EXTENSION_MS)) });
    logFrom = logTo;
    startedAt = Date.now();
    await ctl.start();
  }
  const applyError = await applying;
  if (applyError !== undefined) throw applyError;
  const lastRestart = startedAt;

  let vms: GpuVm[] = [];
  await waitFor(
    async () => {
      vms = await listGpuVms(namespace());
      return vms.length === planned.length && vms.every(isReady);
    },
    { timeoutMs: 300_000, intervalMs: 1_000, description: `all ${planned.length} GpuVms Ready after the last restart (controller log ${ctl.logFile})` },
  );
  const convergedAt = Date.now();

  // Every GpuVm is Ready, its operation finished, its status naming the VM's real IP.
  const nicIps = new Map(f.simDevices.flatMap((d) => sim().deviceState(d).nics.map((n) => [n.name, n.privateIPAddress] as const)));
  const notDone = vms.filter((vm) => vm.status?.phase !== 'Ready' || vm.status.operation !== undefined || vm.status.vm?.ipAddress !== nicIps.get(`${vm.metadata.name}-nic`));
  expect(notDone.map((vm) => `${vm.metadata.name}: ${JSON.stringify(vm.status)}`)).toEqual([]);
  // Exactly one VM per GpuVm, on its device, and no VM no GpuVm asked for.
  expect(vmMismatches(sim(), f, planned)).toEqual([]);
  const deletionStart = Date.now();
  expect(sim().audit()[0]?.seq).toBe(1); // the audit kept every request
  const converging = sim()
    .audit()
    .filter((e) => isArmRequest(e));
  // One run of each deterministic deployment name per GpuVm; nothing was torn down and recreated on the way.
  const uids = new Map(vms.map((vm) => [vm.metadata.uid ?? '', vm.metadata.name ?? '']));
  const puts = deploymentPuts(converging);
  expect(deploymentProblems(puts, uids)).toEqual([]);
  expect(converging.filter((e) => e.method === 'DELETE').map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual([]);
  // The controller creates VMs only through the CreateVM deployment: no direct VM PUT could add a second one.
  expect(converging.filter((e) => e.operation === 'vm.put').map((e) => e.path)).toEqual([]);
  expect(sim().violations()).toEqual([]);

  // Deletion: GpuVms first (their finalizers remove VM, NIC and deployments), then the EdgeDevices.
  expect((await kubectl(['delete', 'gvm', '--all', '-n', namespace(), '--wait=false'])).code).toBe(0);
  await waitFor(async () => (await listGpuVms(namespace())).length === 0, {
    timeoutMs: 300_000,
    intervalMs: 1_000,
    description: `every GpuVm deleted (controller log ${ctl.logFile})`,
  });
  const gpuVmsDeletedAt = Date.now();
  const selector = `${TEST_DEVICE_LABEL}=${namespace()}`;
  expect((await kubectl(['delete', 'edev', '-l', selector, '--wait=false'])).code).toBe(0);
  await waitFor(async () => (await kubectl(['get', 'edev', '-l', selector, '-o', 'name'])).stdout.trim() === '', {
    timeoutMs: 120_000,
    intervalMs: 1_000,
    description: 'every EdgeDevice deleted',
  });
  const devicesDeletedAt = Date.now();

  // Nothing left on the devices: no VM, NIC, extension, deployment record or GPU holder.
  expect(deviceLeftovers(sim(), f)).toEqual([]);
  expect(sim().violations()).toEqual([]);

  const audit = sim().audit().filter(isArmRequest);
  const deleting = audit.filter((e) => requestStart(e) >= deletionStart);
  const kills = lifetimes.map((life) => describeLifetime(life, ctl.logFile));
  const lived = spread(lifetimes.map((l) => l.killedAt - l.startedAt));
  console.log(
    [
      `[crash] ${KILLS} SIGKILLs in ${seconds(lastRestart - (lifetimes[0]?.startedAt ?? started))} (lifetimes ${lived.min}–${lived.max} ms, median ${lived.median} ms; ` +
        `spawn to "starting" ${JSON.stringify(spread(kills.flatMap((k) => (k.startupMs !== undefined ? [k.startupMs] : []))))} ms)`,
      `[crash] what each killed controller was doing: ${JSON.stringify(countBy(kills.map((k) => k.phase)))}; ` +
        `ARM actions of the killed controllers: ${JSON.stringify(countBy(kills.flatMap((k) => k.actions)))}`,
      `[crash] kills between an ARM write and the end of its reconcile: ${kills.filter((k) => k.cutAfterWrite).length}; ` +
        `deployments running at the kills: ${JSON.stringify(spread(lifetimes.map((l) => l.deploymentsRunning)))}; ` +
        `VMs provisioned at the last kill: ${lifetimes.at(-1)?.vmsProvisioned ?? 0}/${planned.length}`,
      `[crash] all Ready ${seconds(convergedAt - lastRestart)} after the last restart; total ${seconds(convergedAt - started)} from the first apply`,
      `[crash] deployment PUTs: ${[...puts.values()].flat().length} for ${puts.size} names (${deploymentRetries(puts)} retries of the same name)`,
      `[crash] ARM requests until converged (${converging.length}) by operation: ${JSON.stringify(countBy(converging.map((e) => e.operation)))}`,
      `[crash] ARM writes until converged by status: ${JSON.stringify(countBy(converging.filter(isArmWrite).map((e) => `${e.operation} ${e.status}`)))}`,
      `[crash] deletion: GpuVms gone in ${seconds(gpuVmsDeletedAt - deletionStart)}, EdgeDevices in ${seconds(devicesDeletedAt - gpuVmsDeletedAt)}; ` +
        `${deleting.length} ARM requests: ${JSON.stringify(countBy(deleting.map((e) => e.operation)))}`,
      `[crash] test duration ${seconds(Date.now() - started)}`,
    ].join('\n'),
  );
}, 600_000 + KILLS * 4_000);

interface KilledAt {
  /** What the killed controller was last doing, from its log. */
  phase: string;
  /** ARM writes it made (one "acting on device" line each), by action. */
  actions: string[];
  /** A reconcile had written to ARM and not finished (its status write may not have happened). */
  cutAfterWrite: boolean;
  /** From the spawn to the "starting" line, when it got that far. */
  startupMs?: number;
}

function describeLifetime(life: Lifetime, logFile: string): KilledAt {
  const lines = parseLogLines(readLogRange(logFile, life.logFrom, life.logTo));
  const starting = lines.find((l) => l.msg === 'starting');
  const phase = starting === undefined
    ? 'process starting'
    : !lines.some((l) => l.msg === 'controllers started')
      ? 'informers listing'
      : lines.some((l) => l.msg === 'acting on device')
        ? 'reconciling, after ARM writes'
        : 'reconciling, before any ARM write';
  // A key acted on with no later end of that reconcile in this lifetime.
  const openWrites = new Set<string>();
  for (const l of lines) {
    if (l.key === undefined) continue;
    if (l.msg === 'acting on device') openWrites.add(l.key);
    else if (l.msg.startsWith('reconcile')) openWrites.delete(l.key);
  }
  return {
    phase,
    actions: lines.filter((l) => l.msg === 'acting on device').map((l) => l.action ?? '?'),
    cutAfterWrite: openWrites.size > 0,
    ...(starting !== undefined ? { startupMs: starting.time - life.startedAt } : {}),
  };
}

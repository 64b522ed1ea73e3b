// A fleet converges while about a fifth of its ARM requests fail: 429 and 503 with Retry-After, 500, VM
// creations failing with AllocationFailed and GPU driver installs failing before they succeed.
import type { FaultKind, FaultRule } from '../../src/simulator/index.js';
import { applyManifest, useTestNamespace, waitFor } from '../support/cluster.js';
import { freePort } from '../../src/devenv/freePort.js';
import { ControllerProcess } from '../support/controllerHarness.js';
import { useSimulator } from '../support/devices.js';
import { listGpuVms } from '../support/objects.js';
import { scaled } from '../support/reliabilityScale.js';
import { SEED_ENV, countBy, reliabilitySeed } from './support/crashAudit.js';
import { ControllerLag, EventLoopStalls, isArmRequest, requestStart, requestsBeforeRetryAfter } from './support/faultAudit.js';
import { ConditionLog, fleet, fleetDeviceManifests, fleetDevices, fleetGpuVmManifests, isReady, planGpuVms, vmMismatches } from './support/faultFleet.js';

const DEVICES = scaled(20);
const VMS_PER_DEVICE = 2;
const SEED = reliabilitySeed(7020);
const RETRY_AFTER_SECONDS = 1;

// Every request operation of the device and Azure ARM APIs (not the token endpoint or identity discovery).
const ARM_OPERATIONS = ['subscription', 'operation', 'resourceGroup', 'image', 'vnet', 'subnet', 'nic', 'vm', 'extension', 'deployment', 'device', 'role', 'capacity'];
// Per ARM request, independently drawn: together about 19% of requests fail at the HTTP level, and the failed
// long-running operations add about 1% (of requests) more.
const HTTP_FAULTS: { kind: FaultKind; rate: number; retryAfterSeconds?: number }[] = [
  { kind: 'throttle', rate: 0.08, retryAfterSeconds: RETRY_AFTER_SECONDS },
  { kind: 'error503', rate: 0.06, retryAfterSeconds: RETRY_AFTER_SECONDS },
  { kind: 'error500', rate: 0.06 },
];
// Long-running operations that fail after being accepted; a retry draws again, so each eventually succeeds.
const LRO_FAULTS: FaultRule[] = [
  { operation: 'vm.create', kind: 'allocationFailed', rate: 0.3 },
  { operation: 'extension.install', kind: 'extensionFailure', rate: 0.3 },
];

const namespace = useTestNamespace('rel-arm-faults');
const devices = fleetDevices(DEVICES);
const sim = useSimulator({ devices, seed: SEED, auditCapacity: 1_000_000 });
let controllerProcess: ControllerProcess | undefined;
let metricsPort = 0;
const controller = (): ControllerProcess => {
  if (controllerProcess === undefined) throw new Error('the controller exists only inside tests and hooks');
  return controllerProcess;
};
beforeAll(async () => {
  // /metrics reports the controller's event-loop lag, which the Retry-After check allows for.
  metricsPort = await freePort();
  controllerProcess = new ControllerProcess({ namespace: namespace(), args: ['--metrics-bind-address', `127.0.0.1:${metricsPort}`] });
  await controllerProcess.start();
});
afterAll(async () => {
  await controllerProcess?.stop();
});

test(`${DEVICES * VMS_PER_DEVICE} GpuVms on ${DEVICES} devices converge while ~20% of ARM requests fail`, async () => {
  const f = fleet(namespace(), devices);
  const planned = planGpuVms(f, VMS_PER_DEVICE);
  for (const operation of ARM_OPERATIONS) {
    for (const fault of HTTP_FAULTS) sim().addFault({ operation: `${operation}.*`, ...fault });
  }
  for (const rule of LRO_FAULTS) sim().addFault(rule);
  console.log(`[arm-faults] seed ${SEED} (${SEED_ENV}); ${DEVICES} devices, ${planned.length} GpuVms`);

  // On a busy machine either side's event loop can stall for hundreds of ms: requests sent or handled in such
  // a stall were in flight when the throttling answer went out.
  const simStalls = new EventLoopStalls().start();
  const controllerLag = new ControllerLag(`http://127.0.0.1:${metricsPort}/metrics`).start();
  const started = Date.now();
  await applyManifest(fleetDeviceManifests(sim(), f, namespace()));
  await applyManifest(fleetGpuVmManifests(f, planned), { namespace: namespace() });

  const conditions = new ConditionLog();
  try {
    await waitFor(
      async () => {
        const vms = await listGpuVms(namespace());
        conditions.observe(vms);
        return vms.length === planned.length && vms.every(isReady);
      },
      { timeoutMs: 300_000, intervalMs: 500, description: `all ${planned.length} GpuVms Ready (controller log ${controller().logFile})` },
    );
  } finally {
    // Their timers would keep jest from exiting after a failure.
    simStalls.stop();
    await controllerLag.stop();
  }
  const convergedMs = Date.now() - started;

  expect(vmMismatches(sim(), f, planned)).toEqual([]);
  expect(sim().violations()).toEqual([]);

  // The fault mix really happened, at about the intended rate.
  const audit = sim().audit().filter((e) => isArmRequest(e) && requestStart(e) >= started);
  const httpFaults = countBy(audit.filter((e) => e.fault !== undefined && e.fault !== 'latency').map((e) => e.fault ?? ''));
  const lroFaults = Object.fromEntries(
    sim()
      .faults.list()
      .filter((r) => r.rule.kind === 'allocationFailed' || r.rule.kind === 'extensionFailure')
      .map((r) => [r.rule.kind, r.injected]),
  ) as Record<string, number>;
  const faults = { ...httpFaults, ...lroFaults };
  const faultCount = Object.values(faults).reduce((a, b) => a + b, 0);
  const fraction = faultCount / audit.length;
  for (const kind of ['throttle', 'error503', 'error500', 'allocationFailed', 'extensionFailure']) expect(faults[kind] ?? 0).toBeGreaterThan(0);
  expect(fraction).toBeGreaterThan(0.12);
  expect(fraction).toBeLessThan(0.28);

  // No request to a device came before the Retry-After of a 429 or 503 it answered.
  const retryAfterMs = RETRY_AFTER_SECONDS * 1000;
  const early = requestsBeforeRetryAfter(audit, (e) => (e.fault === 'throttle' || e.fault === 'error503' ? retryAfterMs : undefined), {
    inFlightAllowance: (answered, start) => simStalls.within(answered, start) + controllerLag.within(answered, start),
  });
  expect(early).toEqual([]);

  // Failures were reported on the GpuVms while they lasted.
  expect(conditions.has('GpuDriverInstalled', 'DriverInstallFailed')).toBe(true);
  expect(controller().logs()).not.toMatch(/"level":"fatal"/);

  const failed = audit.filter((e) => e.fault !== undefined && e.fault !== 'latency');
  const retried = failed.filter((f) => audit.some((e) => e.device === f.device && e.method === f.method && e.path === f.path && requestStart(e) > Date.parse(f.time))).length;
  const deploymentPuts = audit.filter((e) => e.method === 'PUT' && /\/deployments\/[^/]+$/.test(e.path));
  const extensionPuts = audit.filter((e) => e.method === 'PUT' && /\/extensions\/[^/]+$/.test(e.path));
  console.log(
    `[arm-faults] converged in ${(convergedMs / 1000).toFixed(1)} s; ${audit.length} ARM requests, ${faultCount} faults ` +
      `(${(fraction * 100).toFixed(1)}%): ${JSON.stringify(faults)}; ${retried}/${failed.length} failed requests retried; ` +
      `${deploymentPuts.length} deployment PUTs and ${extensionPuts.length} extension PUTs for ${planned.length} GpuVms; ` +
      `conditions seen: ${JSON.stringify(conditions.summary())}; longest event-loop stall: simulator ` +
      `${simStalls.longestMs()} ms, controller ${Math.round(controllerLag.longestMs())} ms`,
  );
}, 420_000);

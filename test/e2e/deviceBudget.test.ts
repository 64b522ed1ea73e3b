// The per-device ARM budget against the real apiserver and the simulator: with a write budget of 1/s (burst 1), no
// device receives two writes within a second, a device's spent budget holds no worker (the other device's GpuVms
// become Ready meanwhile), and no request reaches a device inside a Retry-After it answered.
import type { AuditEntry } from '../../src/simulator/index.js';
import { applyManifest, useTestNamespace, waitFor } from '../support/cluster.js';
import { TEST_DEVICE_LABEL, type ControllerProcess } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { watchGpuHolders, type GpuHolderWatch } from '../support/gpuHolderWatch.js';
import { startListeningController } from '../support/listeningController.js';
import { conditionOf, listGpuVms } from '../support/objects.js';
import { EventLoopStalls, isArmRequest, requestStart, requestsBeforeRetryAfter } from '../reliability/support/faultAudit.js';

/** The load: 50 GpuVms on one device (it has 2 GPUs, so 2 deploy at a time and the rest queue). */
const BUSY_GPUVMS = 50;
const WRITE_INTERVAL_MS = 1000;
const RETRY_AFTER_S = 1;
/**
 * The budget spaces writes when the controller sends them; the audit records when the simulator handled them. A
 * write can reach the simulator later than the next one by the difference in their trips (a new TLS connection, the
 * controller's event loop), on top of the simulator's own event-loop stalls, which are measured and allowed for.
 */
const TRIP_SLACK_MS = 100;

const namespace = useTestNamespace('device-budget');
const sim = useSimulator({
  devices: [
    { name: 'sim-busy', gpus: 2, images: [LINUX_IMAGE] },
    { name: 'sim-other', gpus: 2, images: [LINUX_IMAGE] },
  ],
  // The other device answers its first deployment PUT with 429 and Retry-After, while its GpuVms are busy.
  faults: [{ operation: 'deployment.put', kind: 'throttle', device: 'sim-other', count: 1, retryAfterSeconds: RETRY_AFTER_S }],
  seed: 15,
});

let controller: ControllerProcess | undefined;
let metricsPort = 0;
let holders: GpuHolderWatch | undefined;
const busy = (): string => `${namespace()}-busy`;
const other = (): string => `${namespace()}-other`;

beforeAll(async () => {
  await applyManifest([deviceManifests(sim(), 'sim-busy', namespace(), { name: busy() }), deviceManifests(sim(), 'sim-other', namespace(), { name: other() })].join('---\n'));
  holders = await watchGpuHolders(`${TEST_DEVICE_LABEL}=${namespace()}`);
  const started = await startListeningController(namespace(), ['--device-write-rate', '1', '--device-write-burst', '1']);
  controller = started.controller;
  metricsPort = started.metricsPort;
});

afterAll(async () => {
  await controller?.stop();
  expect(await holders?.stop()).toEqual([]);
  expect(sim().violations()).toEqual([]);
});

const isWrite = (e: AuditEntry): boolean => isArmRequest(e) && e.method !== 'GET' && e.method !== 'HEAD';

async function readyOn(device: string): Promise<number> {
  return (await listGpuVms(namespace())).filter((g) => g.spec.deviceRef.name === device && conditionOf(g, 'Ready')?.status === 'True').length;
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && wanted.every((w) => line.includes(w)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

test('a write budget of 1/s spaces every device’s writes a second apart, blocks no worker, and nothing is sent inside a Retry-After', async () => {
  const simStalls = new EventLoopStalls().start();
  try {
    // The busy device's GpuVms first, so the other device's are queued behind them; one admin Secret for all 50.
    const busyVms = Array.from({ length: BUSY_GPUVMS }, (_, i) =>
      gpuVmManifests({ name: `busy-${String(i).padStart(2, '0')}`, device: busy(), secretName: 'busy-admin', ...(i > 0 ? { noSecret: true } : {}) }),
    );
    const otherVms = ['o1', 'o2'].map((name) => gpuVmManifests({ name, device: other() }));
    await applyManifest([...busyVms, ...otherVms].join('---\n'), { namespace: namespace() });

    // Both devices converge at their budget's pace; a refused write holds no worker, so neither waits on the other.
    await waitFor(async () => (await readyOn(other())) === 2 && (await readyOn(busy())) === 2, {
      timeoutMs: 60_000,
      description: `both GpuVms on ${other()} and the first two on ${busy()} Ready`,
    });
    // A GpuVm's second write (its driver) comes about half a second after its first is done: the budget refused some.
    const refused = await metric('gpuvm_device_budget_refused_total', { kind: 'write', cause: 'budget' });
    expect(refused).toBeGreaterThan(0);
    expect(await metric('gpuvm_device_budget_wait_seconds_total', { kind: 'write', cause: 'budget' })).toBeGreaterThan(0);
  } finally {
    simStalls.stop();
    // Before the simulator goes (afterAll hooks run in declaration order), so no request of its is left hanging.
    await controller?.stop();
  }

  // No two writes to one device within a second: the busy device's (its budget is what paces them) and the other's.
  for (const device of ['sim-busy', 'sim-other']) {
    const writes = sim()
      .audit({ device })
      .filter(isWrite)
      .sort((a, b) => requestStart(a) - requestStart(b));
    expect(writes.length).toBeGreaterThanOrEqual(3);
    const tooClose: string[] = [];
    for (let i = 1; i < writes.length; i++) {
      const [prev, cur] = [writes[i - 1] as AuditEntry, writes[i] as AuditEntry];
      const gap = requestStart(cur) - requestStart(prev);
      const allowance = TRIP_SLACK_MS + simStalls.within(requestStart(prev) - WRITE_INTERVAL_MS, requestStart(cur));
      if (gap < WRITE_INTERVAL_MS - allowance) tooClose.push(`${device}: ${cur.method} ${cur.path} ${Math.round(gap)} ms after ${prev.method} ${prev.path}`);
    }
    expect(tooClose).toEqual([]);
  }

  // The other device answered one 429 with Retry-After; nothing was sent to it before that time was up, and it was
  // talked to again afterwards.
  const otherAudit = sim().audit({ device: 'sim-other' });
  const throttled = otherAudit.filter((e) => e.status === 429);
  expect(throttled).toHaveLength(1);
  const early = requestsBeforeRetryAfter(otherAudit, (e) => (e.status === 429 ? RETRY_AFTER_S * 1000 : undefined), {
    inFlightAllowance: (answered, start) => simStalls.within(answered, start),
  });
  expect(early).toEqual([]);
  const answered = Date.parse((throttled[0] as AuditEntry).time);
  expect(otherAudit.some((e) => isArmRequest(e) && requestStart(e) >= answered + RETRY_AFTER_S * 1000)).toBe(true);
  expect(controller?.logs() ?? '').not.toMatch(/"level":"fatal"/);
});

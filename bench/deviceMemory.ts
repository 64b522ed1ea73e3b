// The controller's heap per device for device connections alone: N simulated devices (in this process), one
// SecretBackedConnections as the controller builds it, every device asked for its VM list (token, api-version
// negotiation, list), then its clients left unused past the idle period. Prints the live heap (after a full
// GC) per device with every device's clients built and after the idle ones were dropped, and how many TLS
// connections the devices accepted for how many requests.
// Run: node --experimental-transform-types --no-warnings bench/deviceMemory.ts [--devices N] [--rounds R]
//      [--heap-snapshots DIR] (writes base, built and idle .heapsnapshot files there, for DevTools' comparison view)
import '../scripts/resolveTsSources.ts';
import { subscribe } from 'node:diagnostics_channel';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import type { V1Secret } from '@kubernetes/client-node';
import type { EdgeDevice } from '../src/api/types.ts';

const { Simulator, ZERO_TIMINGS } = await import('../src/simulator/index.ts');
const { edgeDeviceManifests } = await import('../src/simulator/edgeDeviceManifests.ts');
const { SecretBackedConnections } = await import('../src/reconcile/deviceConnections.ts');
const { FakeClock } = await import('../test/support/fakes/fakeClock.ts');

const { values } = parseArgs({ options: { devices: { type: 'string', default: '500' }, rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '16' }, 'heap-snapshots': { type: 'string' } } });
const devices = Number(values.devices);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const NAMESPACE = 'gpuvm-system';
const IDLE_MS = 2 * 60_000;
const snapshotDir = values['heap-snapshots'];

const session = new Session();
session.connect();
async function liveHeapBytes(label: string): Promise<number> {
  await session.post('HeapProfiler.collectGarbage');
  const used = getHeapStatistics().used_heap_size;
  if (snapshotDir !== undefined) writeHeapSnapshot(join(snapshotDir, `${label}.heapsnapshot`));
  return used;
}

let accepted = 0;
let requests = 0;
subscribe('net.server.socket', () => accepted++);
subscribe('http.server.request.start', () => requests++);

const names = Array.from({ length: devices }, (_, i) => `dev-${String(i).padStart(4, '0')}`);
const sim = await Simulator.start({ devices: names.map((name) => ({ name, gpus: 2 })), timings: ZERO_TIMINGS, auditCapacity: 1 });
const secrets = new Map<string, V1Secret>();
const edgeDevices: EdgeDevice[] = [];
for (const name of names) {
  for (const m of edgeDeviceManifests(sim, name, { secretNamespace: NAMESPACE, azure: false }) as (V1Secret | EdgeDevice)[]) {
    if (m.kind === 'EdgeDevice') edgeDevices.push(m as EdgeDevice);
    else secrets.set(`${NAMESPACE}/${m.metadata?.name ?? ''}`, { ...(m as V1Secret), metadata: { ...m.metadata, resourceVersion: '1' } });
  }
}
const clock = new FakeClock(Date.now());
const connections = new SecretBackedConnections({ get: (key) => secrets.get(key), byIndex: () => [] }, { idleMs: IDLE_MS, clock });

async function listAll(): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < edgeDevices.length; i = next++) {
        const device = edgeDevices[i] as EdgeDevice;
        const arm = connections.arm(device);
        if (!arm.ok) throw new Error(arm.message);
        await arm.client.listVms();
      }
    }),
  );
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`;
try {
  const base = await liveHeapBytes('base');
  for (let r = 0; r < rounds; r++) await listAll();
  const built = await liveHeapBytes('built');
  console.log(`${devices} devices, ${rounds} rounds of one VM list per device (Node ${process.version})`);
  console.log(`  requests served: ${requests}; TLS connections accepted: ${accepted} (${(accepted / devices).toFixed(2)} per device)`);
  console.log(`  live heap: ${mib(base)} before any client; ${mib(built)} with every device's clients: ${kib((built - base) / devices)} per device`);
  const counts = (connections as { clientCounts?: () => { arm: number } }).clientCounts;
  // The sweeps of the idle period and a quarter, then a moment for the closed sockets' events.
  clock.advance(IDLE_MS * 1.25);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const idle = await liveHeapBytes('idle');
  console.log(
    `  after ${(IDLE_MS * 1.25) / 60_000} idle minutes: ${mib(idle)}: ${kib((idle - base) / devices)} per device left${counts !== undefined ? ` (${counts.call(connections).arm} device(s) with clients)` : ' (this version drops nothing)'}`,
  );
} finally {
  (connections as { close?: () => void }).close?.();
  session.disconnect();
  await sim.stop();
}

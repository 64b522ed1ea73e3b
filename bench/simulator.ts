// Simulator throughput on loopback through the real SDK clients: sustained VM GET and deployment
// PUT+poll rates. Run: npm run bench:simulator  (BENCH_SECONDS, BENCH_CONCURRENCY to tune).
import '../scripts/resolveTsSources.ts';

const { Simulator, ZERO_TIMINGS } = await import('../src/simulator/index.ts');
const { createDeviceClients } = await import('../src/azure/deviceClients.ts');
const { readFileSync } = await import('node:fs');
const { join } = await import('node:path');

const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const concurrency = Number(process.env['BENCH_CONCURRENCY'] ?? 16);
const poll = { updateIntervalInMs: 1 };

const sim = await Simulator.start({ devices: [{ name: 'bench', gpus: 2 }], timings: ZERO_TIMINGS, auditCapacity: 20_000 });
const d = sim.device('bench');
const clients = createDeviceClients(
  { armEndpoint: d.armEndpoint, loginEndpoint: d.loginEndpoint, subscriptionId: d.subscriptionId, username: d.username, password: d.password, caPem: sim.caCertificatePem },
  { retryOptions: { maxRetries: 0 } },
);
const template = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'src', 'azure', 'templates', 'createVm.json'), 'utf8')) as Record<string, unknown>;
const parameters = (vm: string): Record<string, { value: unknown }> =>
  Object.fromEntries(
    Object.entries({ vmName: vm, adminUsername: 'azureuser', Password: 'Bench-passw0rd!', imageName: 'ubuntu1804-gen1', vmSize: 'Standard_NC4as_T4_v3', nicName: `${vm}-nic`, IPConfigName: 'ip' }).map(([k, v]) => [k, { value: v }]),
  );
const deploy = (name: string, vm: string): Promise<unknown> =>
  clients.resources.deployments.beginCreateOrUpdateAndWait(d.resourceGroup, name, { properties: { mode: 'Incremental', template, parameters: parameters(vm) } }, poll);

await deploy('bench-vm', 'benchvm');
await deploy('bench-vm2', 'benchvm2');

async function measure(label: string, op: (worker: number) => Promise<unknown>): Promise<{ label: string; ops: number; opsPerSecond: number; httpPerSecond: number; p50: number; p99: number }> {
  // Warm up connections and tokens.
  await Promise.all(Array.from({ length: concurrency }, (_, w) => op(w)));
  const auditBefore = sim.audit().at(-1)?.seq ?? 0;
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await op(w);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const http = (sim.audit().at(-1)?.seq ?? 0) - auditBefore;
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0) * 100) / 100;
  return { label, ops: latencies.length, opsPerSecond: Math.round(latencies.length / elapsed), httpPerSecond: Math.round(http / elapsed), p50: q(0.5), p99: q(0.99) };
}

const results = [
  await measure('VM GET (compute client, instanceView)', () => clients.compute.virtualMachines.get(d.resourceGroup, 'benchvm', { expand: 'instanceView' })),
  await measure('deployment PUT+poll (CreateVM re-deploy)', (w) => deploy(`bench-${w}`, w % 2 === 0 ? 'benchvm' : 'benchvm2')),
];
process.stdout.write(`simulator benchmark: ${seconds}s per case, concurrency ${concurrency}, loopback HTTPS, zero timings\n`);
for (const r of results) {
  process.stdout.write(`${r.label.padEnd(44)} ${String(r.opsPerSecond).padStart(6)} ops/s  ${String(r.httpPerSecond).padStart(6)} HTTP req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  (${r.ops} ops)\n`);
}
const violations = sim.violations();
if (violations.length > 0) process.stdout.write(`invariant violations: ${JSON.stringify(violations)}\n`);
await sim.stop();

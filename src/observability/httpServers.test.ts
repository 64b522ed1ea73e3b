import { Counter, Registry } from 'prom-client';
import type { EdgeDevice, GpuVm } from '../api/types.js';
import { FakeClock, flushPromises } from '../../test/support/fakes/fakeClock.js';
import { FakeListerWatcher } from '../../test/support/fakes/fakeListerWatcher.js';
import { Informer, type EventHandlers } from '../runtime/informer.js';
import { noopLogger } from '../runtime/logger.js';
import { parseBindAddress, pathOf, startHealthServer, startMetricsServer, type HealthCheck } from './httpServers.js';
import { healthOf, readinessOf, startObservability, type ObservedManager } from './wiring.js';

test.each([
  [':8080', { host: undefined, port: 8080 }],
  ['127.0.0.1:8081', { host: '127.0.0.1', port: 8081 }],
  ['[::1]:9000', { host: '::1', port: 9000 }],
  ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
  [':0', { host: undefined, port: 0 }],
  ['0', undefined],
  ['', undefined],
])('parseBindAddress(%j)', (text, expected) => {
  expect(parseBindAddress(text)).toEqual(expected);
});

test.each(['8080', 'localhost', ':http', ':70000', '::1:80'])('parseBindAddress(%j) is rejected', (text) => {
  expect(() => parseBindAddress(text)).toThrow(/bind address/);
});

test('the metrics server serves the registry on /metrics only, on an ephemeral port', async () => {
  const registry = new Registry();
  new Counter({ name: 'demo_total', help: 'demo', registers: [registry] }).inc(3);
  const server = await startMetricsServer('127.0.0.1:0', registry);
  try {
    expect(server.port).toBeGreaterThan(0);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('demo_total 3');
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: 'POST' })).status).toBe(405);
  } finally {
    await server.close();
  }
});

test('"0" disables a server', async () => {
  const server = await startMetricsServer('0', new Registry());
  expect(server).toMatchObject({ port: 0, address: 'disabled' });
  await server.close();
});

test('a port in use is an error', async () => {
  const first = await startMetricsServer('127.0.0.1:0', new Registry());
  try {
    await expect(startMetricsServer(`127.0.0.1:${first.port}`, new Registry())).rejects.toThrow(/EADDRINUSE/);
  } finally {
    await first.close();
  }
});

test('health probes answer 200 or 503 with the detail; a throwing check is a 503', async () => {
  let live: HealthCheck = { ok: true, detail: 'informers healthy' };
  const server = await startHealthServer('127.0.0.1:0', {
    healthz: () => live,
    readyz: () => {
      throw new Error('boom');
    },
  });
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
    return { status: res.status, body: await res.text() };
  };
  try {
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok: informers healthy\n' });
    live = { ok: false, detail: 'informers stalled: gpuvms' };
    expect(await get('/healthz')).toEqual({ status: 503, body: 'failed: informers stalled: gpuvms\n' });
    expect(await get('/readyz')).toEqual({ status: 503, body: 'failed: check failed: boom\n' });
    expect((await get('/metrics')).status).toBe(404);
  } finally {
    await server.close();
  }
});

class FakeInformer<T> {
  items: T[] = [];
  healthy = true;
  synced = false;
  handlers: EventHandlers<T>[] = [];
  constructor(readonly name: string) {}
  list(): T[] {
    return this.items;
  }
  addEventHandler(h: EventHandlers<T>): () => void {
    this.handlers.push(h);
    return () => (this.handlers = this.handlers.filter((x) => x !== h));
  }
  isHealthy(): boolean {
    return this.healthy;
  }
  hasSynced(): boolean {
    return this.synced;
  }
  add(item: T): void {
    this.items.push(item);
    for (const h of this.handlers) h.onAdd?.(item);
  }
}

function fakeManager() {
  const gpuVms = new FakeInformer<GpuVm>('gpuvms');
  const devices = new FakeInformer<EdgeDevice>('edgedevices');
  const secrets = new FakeInformer<never>('secrets');
  const all = [gpuVms, devices, secrets];
  const manager: ObservedManager = {
    gpuVms,
    devices,
    secrets,
    hasSynced: () => all.every((i) => i.synced),
    informersHealthy: () => all.every((i) => i.synced && i.healthy),
  };
  return { manager, gpuVms, devices, secrets, all };
}

test('startObservability: probes follow the manager, gauges follow its informers, close stops everything', async () => {
  const obs = await startObservability({ metricsBindAddress: '127.0.0.1:0', healthBindAddress: '127.0.0.1:0', log: noopLogger });
  const probe = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${obs.healthPort}${path}`);
    return `${res.status} ${(await res.text()).trim()}`;
  };
  const scrape = async () => (await fetch(`http://127.0.0.1:${obs.metricsPort}/metrics`)).text();
  try {
    expect(await probe('/healthz')).toBe('200 ok: starting');
    expect(await probe('/readyz')).toBe('503 failed: controller not started');
    const f = fakeManager();
    obs.attach(f.manager);
    f.gpuVms.synced = true;
    expect(await probe('/readyz')).toBe('503 failed: informer caches not synced: edgedevices, secrets');
    expect(await probe('/healthz')).toBe('200 ok: informer caches syncing');
    f.devices.synced = true;
    f.secrets.synced = true;
    expect(await probe('/readyz')).toBe('200 ok: caches synced');
    expect(await probe('/healthz')).toBe('200 ok: informers healthy');
    f.devices.healthy = false;
    expect(await probe('/healthz')).toBe('503 failed: informers stalled: edgedevices');
    expect(await probe('/readyz')).toBe('200 ok: caches synced');

    // Without leader election this process is the one reconciling.
    expect(await scrape()).toContain('leader_election_master_status{name="gpuvm-controller-leader"} 1');
    // The gauges are the caches' content at the time of the scrape.
    f.gpuVms.add({ apiVersion: 'gpuvm.io/v1alpha1', kind: 'GpuVm', metadata: { name: 'a', uid: 'u' }, spec: {} as GpuVm['spec'], status: { phase: 'Provisioning' } });
    expect(await scrape()).toContain('gpuvm_phase{phase="Provisioning"} 1');
    // The factories are the registry's.
    obs.controllerMetrics('gpuvm').reconciled?.('done', 5);
    expect(await scrape()).toContain('controller_runtime_reconcile_total{controller="gpuvm",result="success"} 1');
    expect(obs.armPolicy('dev').name).toBe('gpuvmArmMetricsPolicy');
    expect(() => obs.attach(f.manager)).toThrow(/already attached/);
  } finally {
    await obs.close();
  }
  await expect(fetch(`http://127.0.0.1:${obs.metricsPort}/metrics`)).rejects.toThrow();
});

test('with leader election the leader gauge starts at 0 and follows setLeader; a standby is ready', async () => {
  const obs = await startObservability({ metricsBindAddress: '127.0.0.1:0', healthBindAddress: '127.0.0.1:0', log: noopLogger, leaderElect: true, leaseName: 'my-lease' });
  try {
    const scrape = async () => (await fetch(`http://127.0.0.1:${obs.metricsPort}/metrics`)).text();
    const probe = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${obs.healthPort}${path}`);
      return `${res.status} ${(await res.text()).trim()}`;
    };
    expect(await scrape()).toContain('leader_election_master_status{name="my-lease"} 0');
    expect(await probe('/readyz')).toBe('200 ok: standby: waiting for the lease');
    const f = fakeManager();
    obs.attach(f.manager);
    expect(await probe('/readyz')).toBe('200 ok: standby: waiting for the lease');
    obs.setLeader(true);
    expect(await scrape()).toContain('leader_election_master_status{name="my-lease"} 1');
    expect(await probe('/readyz')).toBe('503 failed: informer caches not synced: gpuvms, edgedevices, secrets');
    for (const i of f.all) i.synced = true;
    expect(await probe('/readyz')).toBe('200 ok: caches synced');
    obs.setLeader(false);
    expect(await probe('/readyz')).toBe('200 ok: caches synced');
  } finally {
    await obs.close();
  }
});

test('startObservability names the flag whose address cannot be bound, and releases the other port', async () => {
  const taken = await startMetricsServer('127.0.0.1:0', new Registry());
  try {
    await expect(startObservability({ metricsBindAddress: '127.0.0.1:0', healthBindAddress: `127.0.0.1:${taken.port}`, log: noopLogger })).rejects.toThrow(
      new RegExp(`^--health-probe-bind-address 127.0.0.1:${taken.port}: .*EADDRINUSE`),
    );
    await expect(startObservability({ metricsBindAddress: 'nonsense', healthBindAddress: '0', log: noopLogger })).rejects.toThrow(/^--metrics-bind-address nonsense: bind address/);
  } finally {
    await taken.close();
  }
});

test('/healthz logic fails once a real informer stops making progress (list and watch requests hanging)', async () => {
  const clock = new FakeClock();
  const options = { clock, random: () => 0, watchTimeoutSeconds: 300, stallTimeoutMs: 30_000 };
  const gpuLw = new FakeListerWatcher<GpuVm>({ description: 'gpuvms' });
  const devLw = new FakeListerWatcher<EdgeDevice>({ description: 'edgedevices' });
  const gpuVms = new Informer<GpuVm>({ listerWatcher: gpuLw, ...options });
  const devices = new Informer<EdgeDevice>({ listerWatcher: devLw, ...options });
  const manager: ObservedManager = {
    gpuVms,
    devices,
    hasSynced: () => gpuVms.hasSynced() && devices.hasSynced(),
    informersHealthy: () => gpuVms.isHealthy() && devices.isHealthy(),
  };
  expect(healthOf(manager)).toEqual({ ok: true, detail: 'informer caches syncing' });
  gpuVms.start();
  devices.start();
  await flushPromises();
  expect(readinessOf(manager)).toEqual({ ok: true, detail: 'caches synced' });
  expect(healthOf(manager)).toEqual({ ok: true, detail: 'informers healthy' });

  // The apiserver stops answering the GpuVm informer: its open watch goes silent, every re-list hangs.
  for (let i = 0; i < 50; i++) gpuLw.listFailures.push('hang');
  for (let i = 0; i < 50; i++) gpuLw.watchFailures.push('hang');
  gpuLw.current?.close(new Error('connection reset'));
  // The device informer keeps making progress (watch roll-overs every 300 s).
  for (let t = 0; t < 8; t++) {
    await clock.advanceAsync(60_000);
    devLw.current?.close();
  }
  expect(devices.isHealthy()).toBe(true);
  expect(healthOf(manager)).toEqual({ ok: false, detail: 'informers stalled: gpuvms' });
  // Readiness is about the caches having synced once: it stays up, liveness restarts the pod.
  expect(readinessOf(manager).ok).toBe(true);
  gpuVms.stop();
  devices.stop();
});

test.each([
  ['/healthz', '/healthz'],
  ['/readyz?verbose', '/readyz'],
  ['/metrics#x', '/metrics'],
  ['http://host:8080/metrics?x=1', '/metrics'],
  [undefined, '/'],
  ['http://[', undefined],
  ['*', undefined],
  ['127.0.0.1:1', undefined],
  ['', undefined],
])('pathOf(%j) is %j', (target, expected) => {
  expect(pathOf(target)).toBe(expected);
});

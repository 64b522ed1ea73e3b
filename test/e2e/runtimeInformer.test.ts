// The runtime's informers and controller against the run's real kube-apiserver. Connection faults are real too:
// the informer under test talks to the apiserver through a TCP proxy that can cut or freeze its connections.
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION, type EdgeDevice, type GpuVm } from '../../src/api/types.js';
import { Controller, done } from '../../src/runtime/controller.js';
import { Informer, objectKey, stripManagedFields, type InformerOptions, type ListerWatcher } from '../../src/runtime/informer.js';
import { customResourceListerWatcher, secretListerWatcher } from '../../src/runtime/kubeListerWatcher.js';
import type { Logger } from '../../src/runtime/logger.js';
import { testKubeConfig, useTestNamespace, waitFor } from '../support/cluster.js';
import { edgeDevice as validEdgeDevice, gpuVm as validGpuVm } from '../support/invalidManifests.js';

const namespace = useTestNamespace('runtime');
const api = (): CustomObjectsApi => testKubeConfig().makeApiClient(CustomObjectsApi);
const suffix = Math.random().toString(16).slice(2, 8);

/** A TCP proxy to the apiserver whose connections can be cut (reset) or frozen (open, but silent). */
class FaultyProxy {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private readonly frozen = new Set<{ client: Socket; upstream: Socket }>();
  connections = 0;
  /** New connections are accepted but nothing is forwarded. */
  blackhole = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: URL): Promise<FaultyProxy> {
    const holder: { proxy?: FaultyProxy } = {};
    const server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      const pair = { client, upstream };
      if (holder.proxy) holder.proxy.connections++;
      if (holder.proxy?.blackhole) {
        client.pause();
        holder.proxy.frozen.add(pair);
      } else {
        holder.proxy?.pairs.add(pair);
        client.pipe(upstream);
        upstream.pipe(client);
      }
      const close = () => {
        holder.proxy?.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('proxy has no port');
    holder.proxy = new FaultyProxy(server, address.port);
    return holder.proxy;
  }

  /** Resets every open connection (like an apiserver restart or a load balancer dropping flows). */
  cutAll(): number {
    const n = this.pairs.size;
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
    return n;
  }

  /** Stops forwarding on every open connection but keeps it open: a black hole (new connections still work). */
  freezeAll(): number {
    const n = this.pairs.size;
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
      this.frozen.add({ client, upstream });
    }
    this.pairs.clear(); // frozen connections are left to the clients to give up on
    return n;
  }

  async close(): Promise<void> {
    this.cutAll();
    for (const { client, upstream } of this.frozen) {
      client.destroy();
      upstream.destroy();
    }
    this.frozen.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The test kubeconfig, pointed at the proxy (the apiserver's certificate is valid for 127.0.0.1). */
function kubeConfigVia(proxy: FaultyProxy): KubeConfig {
  const admin = testKubeConfig();
  const cluster = admin.getCurrentCluster();
  const user = admin.getCurrentUser();
  if (!cluster || !user) throw new Error('the test kubeconfig has no current cluster or user');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, server: `https://127.0.0.1:${proxy.port}` }],
    users: [user],
    contexts: [{ name: 'proxied', cluster: cluster.name, user: user.name }],
    currentContext: 'proxied',
  });
  return kc;
}

/** Every test labels its GpuVms with its own value and watches only those: the namespace is shared. */
const TEST_LABEL = 'runtime-e2e/test';
let testId = '';
beforeEach(() => {
  testId = `t${Math.random().toString(16).slice(2, 10)}`;
});

function gpuVm(name: string, device = 'dev-a'): GpuVm {
  const base = validGpuVm(name, { deviceRef: { name: device }, adminCredentialsSecretRef: { name: `${name}-admin` } });
  return { ...base, metadata: { name, labels: { [TEST_LABEL]: testId } } } as unknown as GpuVm;
}

async function createVm(name: string, device = 'dev-a'): Promise<void> {
  await api().createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace: namespace(), body: gpuVm(name, device) });
}

async function deleteVm(name: string): Promise<void> {
  await api().deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace: namespace(), name });
}

async function labelVm(name: string, labels: Record<string, string>): Promise<void> {
  const current = (await api().getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace: namespace(), name })) as GpuVm;
  current.metadata.labels = { ...current.metadata.labels, ...labels };
  await api().replaceNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace: namespace(), name, body: current });
}

const logLines: string[] = [];
const logger: Logger = {
  error: (o, m) => logLines.push(`error ${m} ${JSON.stringify(o)}`),
  warn: (o, m) => logLines.push(`warn ${m} ${JSON.stringify(o)}`),
  info: (_o, m) => logLines.push(`info ${m}`),
  debug: () => undefined,
};

const informers: Informer<never>[] = [];
function gpuVmInformer(kc: KubeConfig, options: Partial<InformerOptions<GpuVm>> = {}, wrap?: (lw: ListerWatcher<GpuVm>) => ListerWatcher<GpuVm>) {
  const lw = customResourceListerWatcher<GpuVm>(kc, {
    group: GROUP,
    version: VERSION,
    plural: GPUVM_PLURAL,
    namespace: namespace(),
    labelSelector: `${TEST_LABEL}=${testId}`,
  });
  const informer = new Informer<GpuVm>({
    listerWatcher: wrap ? wrap(lw) : lw,
    logger,
    transform: stripManagedFields,
    backoff: { baseMs: 200, maxMs: 2000 },
    ...options,
  });
  informers.push(informer as unknown as Informer<never>);
  const events: string[] = [];
  informer.addEventHandler({
    onAdd: (o) => events.push(`add ${o.metadata.name}`),
    onUpdate: (old, o) => {
      if (old.metadata.resourceVersion !== o.metadata.resourceVersion) events.push(`update ${o.metadata.name}`);
    },
    onDelete: (o) => events.push(`delete ${o.metadata.name}`),
  });
  return { informer, events };
}

const names = (informer: Informer<GpuVm>): string[] => informer.list().map((o) => o.metadata.name ?? '').sort();

afterEach(() => {
  for (const informer of informers.splice(0)) informer.stop();
  // RUNTIME_E2E_LOG=1 prints what the informers logged during each test.
  if (process.env.RUNTIME_E2E_LOG) console.log(`${expect.getState().currentTestName}\n${logLines.join('\n')}`);
  logLines.length = 0;
});

const TIMEOUT = 60_000;

describe('runtime informer against the apiserver', () => {
  it('lists and watches GpuVms in a namespace: adds, updates, deletes, indexes', async () => {
    await createVm('list-a', 'dev-a');
    await createVm('list-b', 'dev-b');
    const { informer, events } = gpuVmInformer(testKubeConfig());
    informer.addIndex('device', (vm) => [vm.spec.deviceRef.name]);
    informer.start();
    expect(await informer.waitForSync()).toBe(true);
    expect(names(informer)).toEqual(['list-a', 'list-b']);
    expect(events.sort()).toEqual(['add list-a', 'add list-b']);
    const stored = informer.get(`${namespace()}/list-a`);
    expect(stored).toMatchObject({ kind: 'GpuVm', spec: { deviceRef: { name: 'dev-a' } } });
    expect(stored?.metadata).not.toHaveProperty('managedFields');
    expect(informer.isHealthy()).toBe(true);

    events.length = 0;
    await createVm('list-c', 'dev-a');
    await labelVm('list-a', { tier: 'gold' });
    await deleteVm('list-b');
    await waitFor(() => events.length >= 3, { description: 'three watch events' });
    expect(events).toEqual(['add list-c', 'update list-a', 'delete list-b']);
    expect(informer.get(`${namespace()}/list-a`)?.metadata.labels).toEqual({ [TEST_LABEL]: testId, tier: 'gold' });
    expect(informer.indexKeys('device', 'dev-a').sort()).toEqual([`${namespace()}/list-a`, `${namespace()}/list-c`]);
    expect(informer.indexKeys('device', 'dev-b')).toEqual([]);
    expect(informer.stats()).toMatchObject({ lists: 1, watches: 1, failures: 0 });
  }, TIMEOUT);

  it('re-opens watches the server ends (timeoutSeconds) from the last resourceVersion, without re-listing', async () => {
    await createVm('roll-a');
    const { informer, events } = gpuVmInformer(testKubeConfig(), { watchTimeoutSeconds: 3 });
    informer.start();
    await informer.waitForSync();
    await waitFor(() => informer.stats().watches >= 3, { timeoutMs: 20_000, description: 'two watch roll-overs' });
    await createVm('roll-b');
    await waitFor(() => events.includes('add roll-b'), { description: 'the add after roll-overs' });
    const stats = informer.stats();
    expect(stats.lists).toBe(1);
    expect(stats.failures).toBe(0);
    expect(events.filter((e) => e === 'add roll-a')).toHaveLength(1);
    expect(informer.lastResourceVersion).toBe(informer.get(`${namespace()}/roll-b`)?.metadata.resourceVersion);
  }, TIMEOUT);

  it('recovers when its connections are cut, catching up with changes made meanwhile', async () => {
    const proxy = await FaultyProxy.start(new URL(testKubeConfig().getCurrentCluster()?.server ?? ''));
    try {
      await createVm('cut-a');
      await createVm('cut-b');
      const { informer, events } = gpuVmInformer(kubeConfigVia(proxy));
      informer.start();
      await informer.waitForSync();
      await waitFor(() => informer.stats().watches === 1, { description: 'the watch' });
      expect(names(informer)).toEqual(['cut-a', 'cut-b']);

      expect(proxy.cutAll()).toBeGreaterThanOrEqual(1);
      // Changes the informer may miss on its watch: it must catch up by re-listing.
      await deleteVm('cut-a');
      await createVm('cut-c');
      await waitFor(() => names(informer).join() === 'cut-b,cut-c', { timeoutMs: 20_000, description: 'the informer to catch up' });
      expect(events).toContain('delete cut-a');
      expect(events).toContain('add cut-c');
      expect(informer.stats().failures).toBeGreaterThanOrEqual(1);
      expect(informer.stats().lists).toBeGreaterThanOrEqual(2);

      // And it keeps watching afterwards.
      await createVm('cut-d');
      await waitFor(() => informer.get(`${namespace()}/cut-d`), { description: 'a later add' });
      expect(informer.isHealthy()).toBe(true);
    } finally {
      await proxy.close();
    }
  }, TIMEOUT);

  it('restarts a watch whose connection goes silent (stall detection)', async () => {
    const proxy = await FaultyProxy.start(new URL(testKubeConfig().getCurrentCluster()?.server ?? ''));
    try {
      await createVm('stall-a');
      // A frozen watch is noticed when it has said nothing for its timeoutSeconds + stallTimeoutMs.
      const { informer } = gpuVmInformer(kubeConfigVia(proxy), { watchTimeoutSeconds: 3, stallTimeoutMs: 2000, listTimeoutMs: 2000 });
      informer.start();
      await informer.waitForSync();
      await waitFor(() => informer.stats().watches === 1, { description: 'the watch' });

      expect(proxy.freezeAll()).toBeGreaterThanOrEqual(1);
      const frozenAt = Date.now();
      await createVm('stall-b');
      await deleteVm('stall-a');
      await new Promise((r) => setTimeout(r, 1000));
      expect(names(informer)).toEqual(['stall-a']); // the frozen watch delivers nothing
      await waitFor(() => names(informer).join() === 'stall-b', { timeoutMs: 20_000, description: 'recovery after the stall' });
      expect(Date.now() - frozenAt).toBeGreaterThanOrEqual(1000);
      expect(informer.stats().stalls).toBeGreaterThanOrEqual(1);
      expect(logLines.some((l) => l.startsWith('warn informer stall failed'))).toBe(true);
    } finally {
      await proxy.close();
    }
  }, TIMEOUT);

  it('aborts a list request that hangs', async () => {
    const proxy = await FaultyProxy.start(new URL(testKubeConfig().getCurrentCluster()?.server ?? ''));
    try {
      const lw = customResourceListerWatcher<GpuVm>(kubeConfigVia(proxy), {
        group: GROUP,
        version: VERSION,
        plural: GPUVM_PLURAL,
        namespace: namespace(),
        labelSelector: `${TEST_LABEL}=${testId}`,
      });
      await expect(lw.list()).resolves.toMatchObject({ items: [] });
      proxy.cutAll();
      proxy.blackhole = true;
      const abort = new AbortController();
      const started = Date.now();
      const listing = lw.list(abort.signal);
      setTimeout(() => abort.abort(), 500);
      await expect(listing).rejects.toThrow(/abort/i);
      expect(Date.now() - started).toBeLessThan(5000);
      await expect(lw.list(AbortSignal.abort())).rejects.toThrow(/abort/i);
    } finally {
      await proxy.close();
    }
  }, TIMEOUT);

  it('re-lists when the apiserver answers a watch with 410 Gone', async () => {
    await createVm('gone-a');
    let watchCalls = 0;
    const { informer, events } = gpuVmInformer(testKubeConfig(), { watchTimeoutSeconds: 2 }, (lw) => ({
      description: lw.description,
      list: () => lw.list(),
      // The second watch asks for a resourceVersion long compacted out of the watch cache.
      watch: (request, onEvent, onClose) => lw.watch(++watchCalls === 2 ? { ...request, resourceVersion: '1' } : request, onEvent, onClose),
    }));
    informer.start();
    await informer.waitForSync();
    await waitFor(() => informer.stats().expired >= 1, { timeoutMs: 20_000, description: 'a 410 from the apiserver' });
    await createVm('gone-b');
    await waitFor(() => informer.get(`${namespace()}/gone-b`), { description: 'watching again after the re-list' });
    expect(informer.stats().lists).toBeGreaterThanOrEqual(2);
    expect(informer.stats().failures).toBe(0);
    expect(events.filter((e) => e === 'add gone-a')).toHaveLength(1);
  }, TIMEOUT);

  it('recovers from injected failing watch requests', async () => {
    let failuresLeft = 3;
    const { informer } = gpuVmInformer(testKubeConfig(), {}, (lw) => ({
      description: lw.description,
      list: () => lw.list(),
      watch: (request, onEvent, onClose) => {
        if (failuresLeft-- > 0) {
          onClose(Object.assign(new Error('Internal Server Error'), { statusCode: 500 }));
          return Promise.resolve({ abort: () => undefined });
        }
        return lw.watch(request, onEvent, onClose);
      },
    }));
    informer.start();
    await informer.waitForSync();
    await waitFor(() => informer.stats().watches === 1, { timeoutMs: 20_000, description: 'a watch after three failures' });
    await createVm('inject-a');
    await waitFor(() => informer.get(`${namespace()}/inject-a`), { description: 'an add on the watch' });
    expect(informer.stats()).toMatchObject({ failures: 3, watches: 1, lists: 4 });
  }, TIMEOUT);

  it('keys cluster-scoped EdgeDevices by name and honours a label selector', async () => {
    const label = `runtime-e2e-${suffix}`;
    const device = (name: string, labelled: boolean): EdgeDevice =>
      ({ ...validEdgeDevice(name), metadata: { name, labels: labelled ? { [label]: 'yes' } : {} } }) as unknown as EdgeDevice;
    const create = (name: string, labelled: boolean) =>
      api().createClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, body: device(name, labelled) });
    await create(`dev-in-${suffix}`, true);
    await create(`dev-out-${suffix}`, false);
    const informer = new Informer<EdgeDevice>({
      listerWatcher: customResourceListerWatcher<EdgeDevice>(testKubeConfig(), { group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, labelSelector: label }),
      logger,
    });
    informers.push(informer as unknown as Informer<never>);
    informer.start();
    await informer.waitForSync();
    expect(informer.keys()).toEqual([`dev-in-${suffix}`]);
    await create(`dev-in2-${suffix}`, true);
    await create(`dev-out2-${suffix}`, false);
    await waitFor(() => informer.get(`dev-in2-${suffix}`), { description: 'the second labelled device' });
    expect(informer.keys().sort()).toEqual([`dev-in-${suffix}`, `dev-in2-${suffix}`]);
    for (const name of [`dev-in-${suffix}`, `dev-out-${suffix}`, `dev-in2-${suffix}`, `dev-out2-${suffix}`]) {
      await api().deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name });
    }
    await waitFor(() => informer.keys().length === 0, { description: 'device deletes' });
  }, TIMEOUT);

  it('delivers Secrets as typed V1Secret objects from both the list and the watch', async () => {
    const core = testKubeConfig().makeApiClient(CoreV1Api);
    const secret = (name: string): V1Secret => ({ metadata: { name }, stringData: { username: 'azureuser', password: 'not-logged' } });
    await core.createNamespacedSecret({ namespace: namespace(), body: secret('listed') });
    const informer = new Informer<V1Secret>({ listerWatcher: secretListerWatcher(testKubeConfig(), { namespace: namespace() }), logger });
    informers.push(informer as unknown as Informer<never>);
    informer.start();
    await informer.waitForSync();
    await core.createNamespacedSecret({ namespace: namespace(), body: secret('watched') });
    const watched = await waitFor(() => informer.get(`${namespace()}/watched`), { description: 'the watched Secret' });
    const listed = informer.get(`${namespace()}/listed`);
    for (const s of [listed, watched]) {
      expect(s?.metadata?.creationTimestamp).toBeInstanceOf(Date);
      expect(Buffer.from(s?.data?.password ?? '', 'base64').toString()).toBe('not-logged');
    }
  }, TIMEOUT);
});

describe('runtime controller against the apiserver', () => {
  it('reconciles each GpuVm once per change, and every GpuVm of a device on a device change', async () => {
    const label = `runtime-ctl-${suffix}`;
    const vms = gpuVmInformer(testKubeConfig()).informer;
    vms.addIndex('device', (vm) => [vm.spec.deviceRef.name]);
    const devices = new Informer<EdgeDevice>({
      listerWatcher: customResourceListerWatcher<EdgeDevice>(testKubeConfig(), { group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, labelSelector: label }),
      logger,
    });
    informers.push(devices as unknown as Informer<never>);
    const reconciled: string[] = [];
    const controller = new Controller({
      name: 'e2e',
      concurrency: 4,
      logger,
      reconcile: async (key) => {
        reconciled.push(key);
        return done();
      },
    });
    controller.watches(vms).watches(devices, { map: (d) => vms.indexKeys('device', d.metadata.name ?? '') });
    vms.start();
    devices.start();
    expect(await controller.start()).toBe(true);
    try {
      const device = `ctl-dev-${suffix}`;
      await createVm('ctl-a', device);
      await createVm('ctl-b', device);
      await createVm('ctl-c', 'elsewhere');
      const ns = namespace();
      await waitFor(() => [`${ns}/ctl-a`, `${ns}/ctl-b`, `${ns}/ctl-c`].every((k) => reconciled.includes(k)), { description: 'three reconciles' });
      reconciled.length = 0;
      await api().createClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: EDGEDEVICE_PLURAL,
        body: {
          ...validEdgeDevice(device, { gpus: 1 }, { credentialsSecretRef: { name: 'dev-arm', namespace: 'gpuvm-system' } }),
          metadata: { name: device, labels: { [label]: 'yes' } },
        },
      });
      await waitFor(() => reconciled.length >= 2, { description: 'reconciles of the device GpuVms' });
      await new Promise((r) => setTimeout(r, 300));
      expect(reconciled.sort()).toEqual([`${ns}/ctl-a`, `${ns}/ctl-b`]);
      await api().deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name: device });
    } finally {
      await controller.stop();
    }
    expect(logLines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(objectKey({ metadata: { name: 'x', namespace: 'y' } })).toBe('y/x');
  }, TIMEOUT);
});

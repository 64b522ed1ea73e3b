// The demo on an existing cluster (`demo --kubeconfig`): checks or installs the CRDs, creates the demo's objects
// through the API (no kubectl needed) and removes exactly what it created, in the order the finalizers need.
import { ApiException, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, PatchStrategy, loadAllYaml, setHeaderOptions, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { crdFiles } from '../api/crdFiles.js';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION } from '../api/types.js';
import { crdDifferences, type ComparableCrd } from '../devenv/crdCompatibility.js';
import { deviceName, deviceSelector, DEMO_DEVICES, type DemoScope } from './demoManifests.js';

/** The cluster is not one the demo may touch (exit code 2); nothing was created. */
export class DemoRefused extends Error {}

const CRD_API = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions' } as const;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const notFound = (error: unknown): boolean => error instanceof ApiException && error.code === 404;
const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Polls until `done` (true) or `ms` passed (false). */
async function until(done: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await done().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
}

export class ClusterDemo {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private installedCrds: string[] = [];
  private namespaceCreated = false;
  private devicesCreated = false;

  constructor(
    readonly kubeConfig: KubeConfig,
    readonly scope: DemoScope,
    private readonly print: (line: string) => void,
  ) {
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  /** Whether anything on the cluster is the demo's (and so needs removing). */
  get createdAnything(): boolean {
    return this.installedCrds.length > 0 || this.namespaceCreated || this.devicesCreated;
  }

  /**
   * Uses the cluster's gpuvm.io CRDs when they equal crds/ (served versions and schemas), installs them when absent
   * (saying so first; removed on exit), and refuses when they differ: changing them would break whoever owns them.
   */
  async prepareCrds(): Promise<string> {
    const wanted = crdFiles().map(({ crd }) => crd as ComparableCrd & { metadata: { name: string } });
    const absent: typeof wanted = [];
    const refusals: string[] = [];
    for (const crd of wanted) {
      let onCluster: ComparableCrd;
      try {
        onCluster = (await this.custom.getClusterCustomObject({ ...CRD_API, name: crd.metadata.name })) as ComparableCrd;
      } catch (error) {
        if (notFound(error)) {
          absent.push(crd);
          continue;
        }
        throw error;
      }
      const differences = crdDifferences(crd, onCluster);
      if (differences.length > 0) refusals.push(`  ${crd.metadata.name}: ${differences.join('; ')}`);
    }
    if (refusals.length > 0) {
      throw new DemoRefused(
        `this cluster has other versions of the gpuvm.io CRDs than this build of the demo:\n${refusals.join('\n')}\n` +
          'The demo changes nothing on it: run it against a cluster without these CRDs or with the same version, or without --kubeconfig.',
      );
    }
    if (absent.length === 0) return `  ${wanted.map((c) => c.metadata.name).join(', ')} present and the same as this build's: used as they are`;
    this.print(`installing the CRDs ${absent.map((c) => c.metadata.name).join(', ')} (absent on this cluster; removed again on exit)…`);
    for (const crd of absent) {
      await this.custom.createClusterCustomObject({ ...CRD_API, body: crd });
      this.installedCrds.push(crd.metadata.name);
    }
    const served = await until(async () => {
      await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace: this.scope.namespace, limit: 1 });
      await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, limit: 1 });
      return true;
    }, 60_000);
    if (!served) throw new Error('the API server did not start serving the installed CRDs within 60s');
    return `  ${this.installedCrds.join(', ')} installed and served`;
  }

  async createNamespace(): Promise<void> {
    await this.core.createNamespace({ body: { metadata: { name: this.scope.namespace, labels: this.scope.deviceLabels ?? {} } } });
    this.namespaceCreated = true;
  }

  /** Creates every object of a multi-document manifest; resolves with the API server's error, or '' on success. */
  async create(manifest: string): Promise<string> {
    const api = KubernetesObjectApi.makeApiClient(this.kubeConfig);
    for (const object of loadAllYaml(manifest) as KubernetesObject[]) {
      if (object.kind === 'EdgeDevice') this.devicesCreated = true;
      try {
        await api.create(object);
      } catch (error) {
        return `${object.kind ?? '?'} ${object.metadata?.name ?? '?'}: ${message(error)}`;
      }
    }
    return '';
  }

  /**
   * While the controller still runs (their finalizers need it): the GpuVms, then the EdgeDevices. Whatever is still
   * there after `ms` loses its finalizers: the devices are the demo's own simulator, nothing real is orphaned.
   */
  async removeWorkloads(ms = 60_000): Promise<string[]> {
    const removed: string[] = [];
    if (this.namespaceCreated) {
      const gvm = { group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace: this.scope.namespace };
      const names = async (): Promise<string[]> => ((await this.custom.listNamespacedCustomObject(gvm)) as { items: KubernetesObject[] }).items.map((o) => o.metadata?.name ?? '');
      const gpuVms = await names();
      for (const name of gpuVms) await this.custom.deleteNamespacedCustomObject({ ...gvm, name }).catch(() => undefined);
      if (!(await until(async () => (await names()).length === 0, ms))) {
        const stuck = await names();
        this.print(`  GpuVms ${stuck.join(', ')} still there after ${ms / 1000}s (controller.log says why): removing their finalizers; their VMs were on the demo's simulator only`);
        for (const name of stuck) await this.custom.patchNamespacedCustomObject({ ...gvm, name, body: { metadata: { finalizers: null } } }, mergePatch).catch(() => undefined);
      }
      if (gpuVms.length > 0) removed.push(`${gpuVms.length} GpuVms`);
    }
    if (this.devicesCreated) {
      const edev = { group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL };
      const selector = deviceSelector(this.scope);
      const names = async (): Promise<string[]> =>
        ((await this.custom.listClusterCustomObject({ ...edev, ...(selector !== undefined ? { labelSelector: selector } : {}) })) as { items: KubernetesObject[] }).items.map((o) => o.metadata?.name ?? '');
      const devices = await names();
      for (const name of devices) await this.custom.deleteClusterCustomObject({ ...edev, name }).catch(() => undefined);
      if (!(await until(async () => (await names()).length === 0, ms))) {
        const stuck = await names();
        this.print(`  EdgeDevices ${stuck.join(', ')} still there after ${ms / 1000}s (controller.log says why): removing their finalizers`);
        for (const name of stuck) await this.custom.patchClusterCustomObject({ ...edev, name, body: { metadata: { finalizers: null } } }, mergePatch).catch(() => undefined);
      }
      if (devices.length > 0) removed.push(`EdgeDevices ${devices.join(', ')}`);
    }
    return removed;
  }

  /** After the controller stopped: the devices' Events in `default`, the namespace, and the CRDs it installed. */
  async removeRest(): Promise<string[]> {
    const removed: string[] = [];
    if (this.devicesCreated) {
      // Events about cluster-scoped objects land in `default` (and outlive the objects for an hour otherwise).
      let events = 0;
      for (const device of DEMO_DEVICES) {
        const fieldSelector = `involvedObject.kind=EdgeDevice,involvedObject.name=${deviceName(this.scope, device)}`;
        const list = await this.core.listNamespacedEvent({ namespace: 'default', fieldSelector });
        events += list.items.length;
        if (list.items.length > 0) await this.core.deleteCollectionNamespacedEvent({ namespace: 'default', fieldSelector });
      }
      if (events > 0) removed.push(`${events} Events in default`);
    }
    if (this.namespaceCreated) {
      await this.removeNamespace();
      removed.push(`namespace ${this.scope.namespace}`);
    }
    for (const name of this.installedCrds) {
      await this.custom.deleteClusterCustomObject({ ...CRD_API, name }).catch((error: unknown) => {
        if (!notFound(error)) throw error;
      });
      if (!(await until(() => this.missing(() => this.custom.getClusterCustomObject({ ...CRD_API, name })), 60_000))) throw new Error(`CRD ${name} is still there after 60s`);
      removed.push(`CRD ${name}`);
    }
    return removed;
  }

  /**
   * Deletes the namespace and waits until it is gone. A cluster without a namespace controller (a bare API server,
   * as in the project's tests) never finishes that; there, once the namespace holds nothing the demo made, it is
   * finalized the way the namespace controller would do it.
   */
  private async removeNamespace(): Promise<void> {
    const namespace = this.scope.namespace;
    await this.core.deleteNamespace({ name: namespace }).catch((error: unknown) => {
      if (!notFound(error)) throw error;
    });
    const gone = (): Promise<boolean> => this.missing(() => this.core.readNamespace({ name: namespace }));
    if (await until(gone, 10_000)) return;
    const current = await this.core.readNamespace({ name: namespace });
    // The namespace controller sets conditions as soon as it works on a terminating namespace.
    if ((current.status?.conditions ?? []).length === 0) {
      await this.core.deleteCollectionNamespacedSecret({ namespace });
      await this.core.deleteCollectionNamespacedEvent({ namespace });
      const left = [
        ...(await this.core.listNamespacedSecret({ namespace })).items,
        ...(await this.core.listNamespacedEvent({ namespace })).items,
        ...(await this.core.listNamespacedConfigMap({ namespace })).items,
        ...(await this.core.listNamespacedServiceAccount({ namespace })).items,
        ...((await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace })) as { items: unknown[] }).items,
      ];
      if (left.length === 0) await this.core.replaceNamespaceFinalize({ name: namespace, body: { ...current, spec: { finalizers: [] } } });
    }
    if (!(await until(gone, 60_000))) throw new Error(`namespace ${namespace} is still Terminating after 70s`);
  }

  /** True once reading the object answers 404. */
  private async missing(read: () => Promise<unknown>): Promise<boolean> {
    try {
      await read();
      return false;
    } catch (error) {
      return notFound(error);
    }
  }
}

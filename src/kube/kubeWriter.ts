import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import {
  EDGEDEVICE_PLURAL,
  GPUVM_PLURAL,
  GROUP,
  VERSION,
  type EdgeDevice,
  type EdgeDeviceStatus,
  type GpuVm,
  type GpuVmStatus,
} from '../api/types.js';

/** The Kubernetes writes reconcilers make: status through the status subresource, and finalizers. */
export interface KubeStatusWriter {
  /** Writes the status if it differs from the object's; returns the updated object, or undefined when unchanged. Conflicts throw. */
  writeGpuVmStatus(gpuVm: GpuVm, status: GpuVmStatus): Promise<GpuVm | undefined>;
  writeEdgeDeviceStatus(device: EdgeDevice, status: EdgeDeviceStatus): Promise<EdgeDevice | undefined>;
  setFinalizers<T extends GpuVm | EdgeDevice>(object: T, finalizers: string[]): Promise<T>;
}

export function statusUnchanged<T>(current: T | undefined, next: T): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(current ?? {})), JSON.parse(JSON.stringify(next)));
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class ApiServerWriter implements KubeStatusWriter {
  private readonly api: CustomObjectsApi;

  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async writeGpuVmStatus(gpuVm: GpuVm, status: GpuVmStatus): Promise<GpuVm | undefined> {
    if (statusUnchanged(gpuVm.status, status)) return undefined;
    // A full replace with the cached resourceVersion: a stale view fails with 409 instead of overwriting.
    return (await this.api.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: GPUVM_PLURAL,
      namespace: gpuVm.metadata.namespace ?? '',
      name: gpuVm.metadata.name ?? '',
      body: { apiVersion: gpuVm.apiVersion, kind: gpuVm.kind, metadata: gpuVm.metadata, spec: gpuVm.spec, status },
    })) as GpuVm;
  }

  async writeEdgeDeviceStatus(device: EdgeDevice, status: EdgeDeviceStatus): Promise<EdgeDevice | undefined> {
    if (statusUnchanged(device.status, status)) return undefined;
    // The allocation ledger lives here: the resourceVersion precondition keeps a stale reconcile from
    // granting a GPU twice.
    return (await this.api.replaceClusterCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      plural: EDGEDEVICE_PLURAL,
      name: device.metadata.name ?? '',
      body: { apiVersion: device.apiVersion, kind: device.kind, metadata: device.metadata, spec: device.spec, status },
    })) as EdgeDevice;
  }

  async setFinalizers<T extends GpuVm | EdgeDevice>(object: T, finalizers: string[]): Promise<T> {
    const body = { metadata: { finalizers, resourceVersion: object.metadata.resourceVersion } };
    const common = { group: GROUP, version: VERSION, name: object.metadata.name ?? '', body };
    if (object.kind === 'GpuVm') {
      return (await this.api.patchNamespacedCustomObject(
        { ...common, plural: GPUVM_PLURAL, namespace: object.metadata.namespace ?? '' },
        mergePatch,
      )) as T;
    }
    return (await this.api.patchClusterCustomObject({ ...common, plural: EDGEDEVICE_PLURAL }, mergePatch)) as T;
  }
}

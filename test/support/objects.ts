// Typed reads of GpuVms and EdgeDevices for e2e assertions.
import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION, type Condition, type EdgeDevice, type GpuVm } from '../../src/api/types.js';
import { kubectl, testKubeConfig } from './cluster.js';

const api = (): CustomObjectsApi => testKubeConfig().makeApiClient(CustomObjectsApi);

export async function getGpuVm(namespace: string, name: string): Promise<GpuVm | undefined> {
  try {
    return (await api().getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace, name })) as GpuVm;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

export async function listGpuVms(namespace: string): Promise<GpuVm[]> {
  const list = (await api().listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace })) as { items: GpuVm[] };
  return list.items;
}

export async function getEdgeDevice(name: string): Promise<EdgeDevice> {
  return (await api().getClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name })) as EdgeDevice;
}

export async function patchEdgeDeviceSpec(name: string, spec: Record<string, unknown>): Promise<void> {
  const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  await api().patchClusterCustomObject(
    { group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name, body: { spec } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export async function patchGpuVm(namespace: string, name: string, body: Record<string, unknown>): Promise<void> {
  const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  await api().patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace, name, body },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export function conditionOf(object: { status?: { conditions?: Condition[] } } | undefined, type: string): Condition | undefined {
  return object?.status?.conditions?.find((c) => c.type === type);
}

/** `kubectl wait --for=condition=Ready` on a GpuVm, as a user would; fails the test with kubectl's stderr. */
export async function waitGpuVmReady(namespace: string, name: string, timeout = '60s'): Promise<void> {
  const r = await kubectl(['wait', '-n', namespace, '--for=condition=Ready', `gvm/${name}`, `--timeout=${timeout}`]);
  expect({ name, code: r.code, err: r.stderr }).toMatchObject({ code: 0 });
}

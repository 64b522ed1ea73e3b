import { writeFileSync } from 'node:fs';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { testKubeConfig } from './cluster.js';
import type { Simulator } from '../../src/simulator/index.js';
export async function listEdgeDevicesDebug(ns: string, sim: Simulator): Promise<void> {
  const api = testKubeConfig().makeApiClient(CustomObjectsApi);
  const devs = await api.listClusterCustomObject({ group: 'gpuvm.io', version: 'v1alpha1', plural: 'edgedevices' });
  const vms = await api.listNamespacedCustomObject({ group: 'gpuvm.io', version: 'v1alpha1', plural: 'gpuvms', namespace: ns });
  const states = Array.from({ length: 20 }, (_, i) => sim.deviceState(`sim-${String(i).padStart(2, '0')}`));
  writeFileSync('/tmp/debug-dump.json', JSON.stringify({ devs, vms, states }, null, 1));
}

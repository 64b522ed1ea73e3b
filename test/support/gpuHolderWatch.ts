// Watches the EdgeDevices of one test's controller for the whole file and records every status that shows
// more GPU holders (VMs + Kubernetes) than the device has GPUs: no e2e test may ever see one.
import { Watch } from '@kubernetes/client-node';
import { EDGEDEVICE_PLURAL, GROUP, VERSION, type EdgeDevice } from '../../src/api/types.js';
import { testKubeConfig } from './cluster.js';

export interface GpuHolderWatch {
  /** Stops watching and returns every over-count seen, one line each. */
  stop(): Promise<string[]>;
}

export async function watchGpuHolders(labelSelector: string): Promise<GpuHolderWatch> {
  const violations: string[] = [];
  let closed: Error | undefined;
  const check = (device: EdgeDevice): void => {
    const gpus = device.status?.gpus;
    if (gpus === undefined) return;
    const { total = 0, vms = 0, kubernetes = 0, free = 0 } = gpus;
    if (vms + kubernetes > total || free < 0 || vms + kubernetes + free > total) {
      violations.push(`${device.metadata.name ?? '?'} rv ${device.metadata.resourceVersion ?? '?'}: ${JSON.stringify(gpus)}`);
    }
  };
  const request = await new Watch(testKubeConfig()).watch(
    `/apis/${GROUP}/${VERSION}/${EDGEDEVICE_PLURAL}`,
    { labelSelector },
    (type: string, object: unknown) => {
      if (type === 'ADDED' || type === 'MODIFIED') check(object as EdgeDevice);
    },
    (err: unknown) => {
      if (err instanceof Error && err.name !== 'AbortError') closed = err;
    },
  );
  return {
    stop: async () => {
      request.abort();
      await new Promise((r) => setImmediate(r));
      // A watch the server ended early would hide later statuses: say so rather than pass quietly.
      if (closed !== undefined) violations.push(`the EdgeDevice watch ended early: ${closed.message}`);
      return violations;
    },
  };
}

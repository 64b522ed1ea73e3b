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
  let stopped = false;
  let resourceVersion: string | undefined;
  let current: AbortController | undefined;
  const check = (device: EdgeDevice): void => {
    resourceVersion = device.metadata.resourceVersion ?? resourceVersion;
    const gpus = device.status?.gpus;
    if (gpus === undefined) return;
    const { total = 0, vms = 0, kubernetes = 0, free = 0 } = gpus;
    if (vms + kubernetes > total || free < 0 || vms + kubernetes + free > total) {
      violations.push(`${device.metadata.name ?? '?'} rv ${device.metadata.resourceVersion ?? '?'}: ${JSON.stringify(gpus)}`);
    }
  };
  // A watch the apiserver ends (timeout, 429 under load) is opened again from the last version seen, so no
  // status goes unchecked; after an expired version, the fresh list's ADDED events cover the current state.
  const open = async (): Promise<void> => {
    current = await new Watch(testKubeConfig()).watch(
      `/apis/${GROUP}/${VERSION}/${EDGEDEVICE_PLURAL}`,
      { labelSelector, allowWatchBookmarks: true, ...(resourceVersion !== undefined ? { resourceVersion } : {}) },
      (type: string, object: unknown) => {
        if (type === 'ADDED' || type === 'MODIFIED') check(object as EdgeDevice);
        else if (type === 'BOOKMARK') resourceVersion = (object as EdgeDevice).metadata.resourceVersion ?? resourceVersion;
        else if (type === 'ERROR') resourceVersion = undefined;
      },
      () => reopen(),
    );
  };
  const reopen = (): void => {
    if (!stopped) setTimeout(() => open().catch(() => reopen()), 500);
  };
  await open();
  return {
    stop: async () => {
      stopped = true;
      current?.abort();
      await new Promise((r) => setImmediate(r));
      return violations;
    },
  };
}

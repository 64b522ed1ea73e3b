import type { EdgeDevice, GpuVm } from '../api/types.js';
import type { DeviceArm } from '../azure/deviceArm.js';
import type { AzureDevice } from '../azure/azureDevice.js';
export type { Clock } from '../runtime/clock.js';
export type { Logger } from '../runtime/logger.js';

/** Read access to an informer's cache. */
export interface ObjectStore<T> {
  get(key: string): T | undefined;
  byIndex(index: string, value: string): T[];
}

export interface Caches {
  gpuVms: ObjectStore<GpuVm>;
  devices: ObjectStore<EdgeDevice>;
}

/** Index of GpuVms by spec.deviceRef.name. */
export const BY_DEVICE = 'device';

export type Connected<T> = { ok: true; client: T } | { ok: false; reason: string; message: string };

/** Hands out ARM clients per device, built from the device's Secrets and cached until they change. */
export interface DeviceConnections {
  arm(device: EdgeDevice): Connected<DeviceArm>;
  /** undefined when spec.azure is not set. */
  azure(device: EdgeDevice): Connected<AzureDevice> | undefined;
}

export const gpuVmKey = (g: GpuVm): string => `${g.metadata.namespace}/${g.metadata.name}`;

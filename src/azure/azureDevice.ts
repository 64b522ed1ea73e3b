// The port to the device's resource in Azure (cloud ARM): device facts, GPU capacity and the Kubernetes role.
import type { LroStarted } from './deviceArm.js';

export interface AzureDeviceFacts {
  sku?: string;
  softwareVersion?: string;
  configuredRoleTypes: string[];
}

export interface AzureGpuCapacity {
  total: number;
  used: number;
  free: number;
}

/** One compute role of the device, of any kind (IOT, Kubernetes, ...). */
export interface AzureComputeRole {
  name: string;
  kind: string;
  provisioningState: string;
  roleStatus?: string;
}

export interface AzureDevice {
  getDevice(): Promise<AzureDeviceFacts>;
  /** undefined when the device does not report GPU capacity. */
  getGpuCapacity(): Promise<AzureGpuCapacity | undefined>;
  /** Every compute role of the device, whatever its kind. */
  getComputeRoles(): Promise<AzureComputeRole[]>;
  createKubernetesRole(): Promise<LroStarted>;
  deleteKubernetesRole(name: string): Promise<LroStarted>;
}

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

export interface AzureKubernetesRole {
  name: string;
  provisioningState: string;
  roleStatus?: string;
}

export interface AzureDevice {
  getDevice(): Promise<AzureDeviceFacts>;
  /** undefined when the device does not report GPU capacity. */
  getGpuCapacity(): Promise<AzureGpuCapacity | undefined>;
  /** The device's Kubernetes role, or undefined when there is none. */
  getKubernetesRole(): Promise<AzureKubernetesRole | undefined>;
  createKubernetesRole(): Promise<LroStarted>;
  deleteKubernetesRole(name: string): Promise<LroStarted>;
}

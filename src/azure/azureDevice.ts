// The port to the device's resource in Azure (cloud ARM): device facts, GPU capacity and the compute roles.
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

/** A role of the device (DataBoxEdge `roles`): Kubernetes, IOT (compute set up through the portal), ... */
export interface AzureComputeRole {
  name: string;
  /** The role's `kind` as the service reports it (IOT, ASA, Functions, Cognitive, MEC, CloudEdgeManagement, Kubernetes). */
  kind: string;
  provisioningState: string;
  roleStatus?: string;
}

export interface AzureDevice {
  getDevice(): Promise<AzureDeviceFacts>;
  /** undefined when the device does not report GPU capacity. */
  getGpuCapacity(): Promise<AzureGpuCapacity | undefined>;
  /** Every role of the device, of any kind (any of them may hold the GPUs). */
  getComputeRoles(): Promise<AzureComputeRole[]>;
  createKubernetesRole(): Promise<LroStarted>;
  deleteKubernetesRole(name: string): Promise<LroStarted>;
}

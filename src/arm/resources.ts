// The shapes of what a device's local ARM answers, as the controller reads them: shared by the planners (plan/),
// which decide on them, and the SDK adapters (azure/), which produce them, so neither imports the other.

export interface ArmError {
  code: string;
  message: string;
  details?: ArmError[];
}

export type VmPowerState = 'starting' | 'running' | 'stopping' | 'stopped' | 'deallocating' | 'deallocated' | 'unknown';

export interface ArmVm {
  name: string;
  id: string;
  vmSize: string;
  provisioningState: string;
  /** From the instance view; `unknown` when the device did not report one. */
  powerState: VmPowerState;
  computerName?: string;
  tags: Record<string, string>;
  nicIds: string[];
  /** The managed OS disk (last segment of storageProfile.osDisk.managedDisk.id, else osDisk.name). */
  osDiskName?: string;
}

/** A network interface as a listing shows it: enough to find a VM's private IP. */
export interface ArmNic {
  id: string;
  /** The first IP configuration's privateIPAddress, when the device reported one. */
  privateIp?: string;
}

export type DeploymentState = 'Accepted' | 'Running' | 'Succeeded' | 'Failed' | 'Canceled' | 'Deleting' | 'Unknown';

export interface ArmDeployment {
  name: string;
  provisioningState: DeploymentState;
  /** When the deployment last changed state (RFC 3339), as reported by ARM. */
  timestamp?: string;
  error?: ArmError;
}

export interface ArmExtension {
  name: string;
  type: string;
  typeHandlerVersion: string;
  provisioningState: string;
  /** The extension handler's message when it failed. */
  message?: string;
}

/** The api-versions the controller uses with one device's local ARM (see azure/apiVersions.ts for how they are chosen). */
export interface DeviceApiVersions {
  /** Microsoft.Compute virtualMachines, images, virtualMachines/extensions (and their operations). */
  compute: string;
  /** Microsoft.Compute disks. */
  disks: string;
  /** Microsoft.Network. */
  network: string;
  /** Microsoft.Resources (deployments, resource groups, providers). */
  resources: string;
}

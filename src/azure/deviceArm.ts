// The port through which reconcilers talk to one device's local Azure Resource Manager. Reads return
// plain observations; writes start long-running operations and return at once (a reconcile never waits
// on ARM), with the server's Retry-After when it sent one.
import type { ArmDeployment, ArmError, ArmExtension, ArmNic, ArmVm, DeviceApiVersions } from '../arm/resources.js';

export type { ArmDeployment, ArmError, ArmExtension, ArmNic, ArmVm, DeploymentState, VmPowerState } from '../arm/resources.js';

export interface LroStarted {
  /** How long the server asked us to wait before polling, in ms. */
  retryAfterMs?: number;
}

export interface TemplateDeployment {
  template: Record<string, unknown>;
  /** ARM parameter values; secure values are sent but never logged or stored. */
  parameters: Record<string, { value: unknown }>;
}

export interface DeviceArm {
  /** The api-versions used with this device, negotiated on first use and cached. */
  apiVersions(): Promise<DeviceApiVersions>;
  getVm(name: string): Promise<ArmVm | undefined>;
  /** One call: every VM in the device resource group, with power states. */
  listVms(): Promise<ArmVm[]>;
  imageExists(name: string): Promise<boolean>;
  /** One call: the names of the images in the device resource group. */
  listImages(): Promise<string[]>;
  getDeployment(name: string): Promise<ArmDeployment | undefined>;
  /** The per-resource failures of a deployment, from its operations. */
  getDeploymentFailures(name: string): Promise<ArmError[]>;
  putDeployment(name: string, deployment: TemplateDeployment): Promise<LroStarted>;
  deleteDeployment(name: string): Promise<LroStarted>;
  getExtension(vmName: string, extensionName: string): Promise<ArmExtension | undefined>;
  /** The NIC's private IP address, by NIC resource id. */
  getNicPrivateIp(nicId: string): Promise<string | undefined>;
  /** One call: the NICs in the device resource group, with their private IPs. */
  listNics(): Promise<ArmNic[]>;
  nicExists(name: string): Promise<boolean>;
  startVm(name: string): Promise<LroStarted>;
  powerOffVm(name: string): Promise<LroStarted>;
  deallocateVm(name: string): Promise<LroStarted>;
  deleteVm(name: string): Promise<LroStarted>;
  deleteNic(name: string): Promise<LroStarted>;
  /** A managed disk in the device resource group (e.g. a VM's OS disk, which outlives the VM). */
  diskExists(name: string): Promise<boolean>;
  deleteDisk(name: string): Promise<LroStarted>;
}

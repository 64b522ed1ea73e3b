import type { ComputeManagementClient, VirtualMachine } from '@azure/arm-compute';
import type { NetworkManagementClient } from '@azure/arm-network-profile-2020-09-01-hybrid';
import type { ResourceManagementClient } from '@azure/arm-resources-profile-2020-09-01-hybrid';
import { isRestError } from '@azure/core-rest-pipeline';
import type { ApiVersionNegotiator } from './apiVersionNegotiator.js';
import type { DeviceApiVersions } from './apiVersions.js';
import type {
  ArmDeployment,
  ArmError,
  ArmExtension,
  ArmVm,
  DeploymentState,
  DeviceArm,
  LroStarted,
  TemplateDeployment,
  VmPowerState,
} from './deviceArm.js';
import { retryAfterCapture, type RawResponse } from './retryAfter.js';

export interface DeviceArmClients {
  compute: ComputeManagementClient;
  resources: ResourceManagementClient;
  network: NetworkManagementClient;
  apiVersions: Pick<ApiVersionNegotiator, 'get'>;
}

/** The GPU VM sizes of Azure Stack Edge Pro GPU (domain notes); their power state decides GPU use. */
const GPU_VM_SIZES: ReadonlySet<string> = new Set(['standard_nc4as_t4_v3', 'standard_nc8as_t4_v3']);

/** The first compute api-version whose List All takes statusOnly (2017-12-01 does not; 2020-06-01 does). */
export const STATUS_ONLY_FROM = '2020-06-01';

const POWER_STATES: ReadonlySet<string> = new Set(['starting', 'running', 'stopping', 'stopped', 'deallocating', 'deallocated']);
const DEPLOYMENT_STATES: ReadonlySet<string> = new Set(['Accepted', 'Running', 'Succeeded', 'Failed', 'Canceled', 'Deleting']);

const isAbortError = (err: unknown): boolean => err instanceof Error && err.name === 'AbortError';

async function orUndefinedOn404<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isRestError(err) && err.statusCode === 404) return undefined;
    throw err;
  }
}

function toArmError(value: unknown): ArmError | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const o = value as { code?: unknown; message?: unknown; details?: unknown; error?: unknown };
  if (o.code === undefined && o.error !== undefined) return toArmError(o.error);
  const details = Array.isArray(o.details) ? o.details.map(toArmError).filter((d): d is ArmError => d !== undefined) : [];
  const error: ArmError = { code: String(o.code ?? 'Unknown'), message: String(o.message ?? '') };
  if (details.length > 0) error.details = details;
  return error;
}

/** The power state in an instance view's statuses (`PowerState/<state>`); `unknown` when there is none. */
export function powerStateOf(statuses: readonly { code?: string }[] | undefined): VmPowerState {
  const code = statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code;
  const state = code?.slice('PowerState/'.length).toLowerCase();
  return state !== undefined && POWER_STATES.has(state) ? (state as VmPowerState) : 'unknown';
}

const lastSegment = (id: string): string => id.split('/').filter((s) => s !== '').pop() ?? '';

export function toArmVm(vm: VirtualMachine): ArmVm {
  const result: ArmVm = {
    name: vm.name ?? '',
    id: vm.id ?? '',
    vmSize: vm.hardwareProfile?.vmSize ?? '',
    provisioningState: vm.provisioningState ?? 'Unknown',
    powerState: powerStateOf(vm.instanceView?.statuses),
    tags: { ...(vm.tags ?? {}) },
    nicIds: (vm.networkProfile?.networkInterfaces ?? []).map((n) => n.id ?? '').filter((id) => id !== ''),
  };
  const osDisk = vm.storageProfile?.osDisk;
  const osDiskName = osDisk?.managedDisk?.id !== undefined ? lastSegment(osDisk.managedDisk.id) : osDisk?.name;
  if (osDiskName !== undefined && osDiskName !== '') result.osDiskName = osDiskName;
  const computerName = vm.instanceView?.computerName ?? vm.osProfile?.computerName;
  if (computerName !== undefined) result.computerName = computerName;
  return result;
}

/** DeviceArm over the Azure SDK clients, scoped to the device's resource group. */
export class SdkDeviceArm implements DeviceArm {
  constructor(
    private readonly clients: DeviceArmClients,
    private readonly resourceGroup: string,
  ) {}

  apiVersions(): Promise<DeviceApiVersions> {
    return this.clients.apiVersions.get();
  }

  async getVm(name: string): Promise<ArmVm | undefined> {
    const vm = await orUndefinedOn404(() => this.clients.compute.virtualMachines.get(this.resourceGroup, name, { expand: 'instanceView' }));
    return vm === undefined ? undefined : toArmVm(vm);
  }

  async listVms(): Promise<ArmVm[]> {
    // One call for every VM with its power state: statusOnly returns the instance views of the subscription
    // (one subscription per device); other resource groups are filtered out here. VirtualMachines_ListAll has
    // statusOnly in Azure/azure-rest-api-specs Microsoft.Compute/stable/2020-06-01/compute.json (upstream commit
    // 116d7966) but not in stable/2017-12-01/compute.json (70db689a): there the list has no power states and each
    // GPU-size VM's instance view (VirtualMachines_InstanceView) is read, since those decide who holds the GPUs.
    const { compute } = await this.clients.apiVersions.get();
    const statusOnly = compute >= STATUS_ONLY_FROM;
    const vms: ArmVm[] = [];
    const rg = `/resourcegroups/${this.resourceGroup.toLowerCase()}/`;
    for await (const vm of this.clients.compute.virtualMachines.listAll(statusOnly ? { statusOnly: 'true' } : {})) {
      if ((vm.id ?? '').toLowerCase().includes(rg)) vms.push(toArmVm(vm));
    }
    if (statusOnly) return vms;
    return Promise.all(vms.map((vm) => (GPU_VM_SIZES.has(vm.vmSize.toLowerCase()) ? this.withInstanceView(vm) : vm)));
  }

  /** The VM with its power state from GET .../instanceView; a VM gone meanwhile keeps 'unknown'. */
  private async withInstanceView(vm: ArmVm): Promise<ArmVm> {
    const view = await orUndefinedOn404(() => this.clients.compute.virtualMachines.instanceView(this.resourceGroup, vm.name));
    return { ...vm, powerState: powerStateOf(view?.statuses) };
  }

  async imageExists(name: string): Promise<boolean> {
    return (await orUndefinedOn404(() => this.clients.compute.images.get(this.resourceGroup, name))) !== undefined;
  }

  async getDeployment(name: string): Promise<ArmDeployment | undefined> {
    const d = await orUndefinedOn404(() => this.clients.resources.deployments.get(this.resourceGroup, name));
    if (d === undefined) return undefined;
    const state = d.properties?.provisioningState ?? 'Unknown';
    const result: ArmDeployment = { name: d.name ?? name, provisioningState: (DEPLOYMENT_STATES.has(state) ? state : 'Unknown') as DeploymentState };
    if (d.properties?.timestamp !== undefined) result.timestamp = d.properties.timestamp.toISOString();
    const error = toArmError(d.properties?.error);
    if (error !== undefined) result.error = error;
    return result;
  }

  async getDeploymentFailures(name: string): Promise<ArmError[]> {
    const failures: ArmError[] = [];
    for await (const op of this.clients.resources.deploymentOperations.list(this.resourceGroup, name)) {
      if (op.properties?.provisioningState !== 'Failed') continue;
      const error = toArmError(op.properties.statusMessage);
      if (error !== undefined) failures.push(error);
    }
    return failures;
  }

  async putDeployment(name: string, deployment: TemplateDeployment): Promise<LroStarted> {
    const capture = retryAfterCapture();
    // The SDK's poller reads the operation status right after an accepted PUT. The controller records the
    // deployment in status and reads it by name after Retry-After, so that read is cancelled before it is sent.
    const accepted = new AbortController();
    try {
      await this.clients.resources.deployments.beginCreateOrUpdate(
        this.resourceGroup,
        name,
        { properties: { mode: 'Incremental', template: deployment.template, parameters: deployment.parameters } },
        {
          abortSignal: accepted.signal,
          onResponse: (raw) => {
            capture.onResponse(raw);
            accepted.abort();
          },
        },
      );
    } catch (err) {
      if (!(accepted.signal.aborted && isAbortError(err))) throw err;
    }
    return capture.started();
  }

  async deleteDeployment(name: string): Promise<LroStarted> {
    const capture = retryAfterCapture();
    await orUndefinedOn404(() => this.clients.resources.deployments.beginDelete(this.resourceGroup, name, { onResponse: capture.onResponse }));
    return capture.started();
  }

  async getExtension(vmName: string, extensionName: string): Promise<ArmExtension | undefined> {
    const ext = await orUndefinedOn404(() =>
      this.clients.compute.virtualMachineExtensions.get(this.resourceGroup, vmName, extensionName, { expand: 'instanceView' }),
    );
    if (ext === undefined) return undefined;
    const result: ArmExtension = {
      name: ext.name ?? extensionName,
      type: ext.typePropertiesType ?? '',
      typeHandlerVersion: ext.typeHandlerVersion ?? '',
      provisioningState: ext.provisioningState ?? 'Unknown',
    };
    const message = ext.instanceView?.statuses?.find((s) => s.level === 'Error')?.message;
    if (message !== undefined) result.message = message;
    return result;
  }

  async getNicPrivateIp(nicId: string): Promise<string | undefined> {
    const nic = await orUndefinedOn404(() => this.clients.network.networkInterfaces.get(this.resourceGroup, lastSegment(nicId)));
    return nic?.ipConfigurations?.find((c) => c.privateIPAddress !== undefined)?.privateIPAddress;
  }

  async nicExists(name: string): Promise<boolean> {
    return (await orUndefinedOn404(() => this.clients.network.networkInterfaces.get(this.resourceGroup, name))) !== undefined;
  }

  async diskExists(name: string): Promise<boolean> {
    return (await orUndefinedOn404(() => this.clients.compute.disks.get(this.resourceGroup, name))) !== undefined;
  }

  deleteDisk(name: string): Promise<LroStarted> {
    return this.submit((onResponse) => this.clients.compute.disks.delete(this.resourceGroup, name, { onResponse }));
  }

  startVm(name: string): Promise<LroStarted> {
    return this.submit((onResponse) => this.clients.compute.virtualMachines.start(this.resourceGroup, name, { onResponse }));
  }

  powerOffVm(name: string): Promise<LroStarted> {
    return this.submit((onResponse) => this.clients.compute.virtualMachines.powerOff(this.resourceGroup, name, { onResponse }));
  }

  deallocateVm(name: string): Promise<LroStarted> {
    return this.submit((onResponse) => this.clients.compute.virtualMachines.deallocate(this.resourceGroup, name, { onResponse }));
  }

  deleteVm(name: string): Promise<LroStarted> {
    return this.submit((onResponse) => this.clients.compute.virtualMachines.delete(this.resourceGroup, name, { onResponse }));
  }

  async deleteNic(name: string): Promise<LroStarted> {
    const capture = retryAfterCapture();
    await orUndefinedOn404(() => this.clients.network.networkInterfaces.beginDelete(this.resourceGroup, name, { onResponse: capture.onResponse }));
    return capture.started();
  }

  /** Sends the initial request of a compute LRO and returns without polling it to completion. */
  private async submit(start: (onResponse: (raw: RawResponse) => void) => { submitted(): Promise<void> }): Promise<LroStarted> {
    const capture = retryAfterCapture();
    await orUndefinedOn404(() => start(capture.onResponse).submitted());
    return capture.started();
  }
}

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
  ArmNic,
  ArmVm,
  DeploymentState,
  DeviceArm,
  LroStarted,
  TemplateDeployment,
  VmPowerState,
} from './deviceArm.js';
import { readBoundedList, requireListShape } from './boundedList.js';
import { DeviceResponseError } from './deviceResponseError.js';
import { retryAfterCapture, type RawResponse } from './retryAfter.js';
import { asUnreadableAnswer } from './unreadableAnswerPolicy.js';
import { truncateUtf8 } from '../text/truncateUtf8.js';

/** The Compute operation groups this adapter calls, and the pipeline they share. */
export type DeviceCompute = Pick<ComputeManagementClient, 'pipeline' | 'virtualMachines' | 'virtualMachineExtensions' | 'images' | 'disks'>;

export interface DeviceArmClients {
  compute: DeviceCompute;
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

/** The SDK call's result, undefined on 404; an answer the SDK could not deserialize is a DeviceResponseError. */
async function orUndefinedOn404<T>(read: () => Promise<T>, what = 'a request to the device'): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isRestError(err) && err.statusCode === 404) return undefined;
    throw asUnreadableAnswer(what, err);
  }
}

/** Every string a device supplies is cut to this many UTF-8 bytes when it is read (names, states, messages). */
export const MAX_DEVICE_STRING_BYTES = 1024;
/** Resource names: ARM allows 64 characters for a VM (80 for most types); a longer name is cut. */
export const MAX_NAME_BYTES = 256;
/** ARM error trees are read this deep and this wide (ARM nests two or three levels, a few details each). */
const MAX_ERROR_DEPTH = 6;
const MAX_ERROR_DETAILS = 20;
/** Tags, NICs and other per-VM lists: ARM allows 50 tags; a GPU VM has one NIC. */
const MAX_VM_LIST_ENTRIES = 50;

/** A device-supplied value as a bounded string: non-strings (numbers, objects, arrays) become '' . */
export function deviceString(value: unknown): string {
  return typeof value === 'string' ? truncateUtf8(value, MAX_DEVICE_STRING_BYTES) : '';
}

const optionalDeviceString = (value: unknown): string | undefined => (typeof value === 'string' ? deviceString(value) : undefined);

function toArmError(value: unknown, depth = 0): ArmError | undefined {
  if (value === null || typeof value !== 'object' || depth > MAX_ERROR_DEPTH) return undefined;
  const o = value as { code?: unknown; message?: unknown; details?: unknown; error?: unknown };
  if (o.code === undefined && o.error !== undefined) return toArmError(o.error, depth + 1);
  const details = Array.isArray(o.details)
    ? o.details
        .slice(0, MAX_ERROR_DETAILS)
        .map((d: unknown) => toArmError(d, depth + 1))
        .filter((d): d is ArmError => d !== undefined)
    : [];
  const code = deviceString(o.code);
  const error: ArmError = { code: code === '' ? 'Unknown' : code, message: deviceString(o.message) };
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

/** The SDK types a body as the spec says; a device may send anything, so each field is checked as it is read. */
const listOf = (value: unknown): unknown[] => (Array.isArray(value) ? value.slice(0, MAX_VM_LIST_ENTRIES) : []);

/** A NIC's private IP: the first of its IP configurations that has one. */
function privateIpOf(nic: unknown): string | undefined {
  const configurations = listOf(objectOr(nic)['ipConfigurations']).map(objectOr);
  return optionalDeviceString(configurations.find((c) => typeof c['privateIPAddress'] === 'string')?.['privateIPAddress']);
}
export const objectOr = (value: unknown): Record<string, unknown> => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {});

function tagsOf(value: unknown): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [key, tag] of Object.entries(objectOr(value)).slice(0, MAX_VM_LIST_ENTRIES)) {
    if (typeof tag === 'string') tags[deviceString(key)] = deviceString(tag);
  }
  return tags;
}

function statusCodes(value: unknown): { code?: string }[] {
  return listOf(value).map((s) => {
    const code = objectOr(s)['code'];
    return typeof code === 'string' ? { code: deviceString(code) } : {};
  });
}

/**
 * A VM as the device described it. A body without an id is not a VM the controller can reason about (a GET of a
 * VM always carries its resource id): it is unreadable, never "a VM that is not ours", which would let a
 * deletion drop its finalizer and leave the VM behind.
 */
export function toArmVm(vm: VirtualMachine, request = 'the VM'): ArmVm {
  const raw = objectOr(vm);
  const id = deviceString(raw['id']);
  if (id === '') throw new DeviceResponseError('UnreadableResponse', `${request}: the device answered a VM without an id; it cannot be told apart from a VM that is not there`);
  const hardware = objectOr(raw['hardwareProfile']);
  const instanceView = objectOr(raw['instanceView']);
  const network = objectOr(raw['networkProfile']);
  const result: ArmVm = {
    name: truncateUtf8(deviceString(raw['name']) || lastSegment(id), MAX_NAME_BYTES),
    id,
    vmSize: deviceString(hardware['vmSize']),
    provisioningState: optionalDeviceString(raw['provisioningState']) ?? 'Unknown',
    powerState: powerStateOf(statusCodes(instanceView['statuses'])),
    tags: tagsOf(raw['tags']),
    nicIds: listOf(network['networkInterfaces'])
      .map((n) => deviceString(objectOr(n)['id']))
      .filter((nic) => nic !== ''),
  };
  const osDisk = objectOr(objectOr(raw['storageProfile'])['osDisk']);
  const managedDiskId = optionalDeviceString(objectOr(osDisk['managedDisk'])['id']);
  const osDiskName = managedDiskId !== undefined ? lastSegment(managedDiskId) : optionalDeviceString(osDisk['name']);
  if (osDiskName !== undefined && osDiskName !== '') result.osDiskName = osDiskName;
  const computerName = optionalDeviceString(instanceView['computerName']) ?? optionalDeviceString(objectOr(raw['osProfile'])['computerName']);
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
    const vm = await orUndefinedOn404(() => this.clients.compute.virtualMachines.get(this.resourceGroup, name, { expand: 'instanceView' }), `GET virtualMachines/${name}`);
    return vm === undefined ? undefined : toArmVm(vm, `GET virtualMachines/${name}`);
  }

  async listVms(): Promise<ArmVm[]> {
    // One call for every VM with its power state: statusOnly returns the instance views of the subscription
    // (one subscription per device); other resource groups are filtered out here. VirtualMachines_ListAll has
    // statusOnly in Azure/azure-rest-api-specs Microsoft.Compute/stable/2020-06-01/compute.json (upstream commit
    // 116d7966) but not in stable/2017-12-01/compute.json (70db689a): there the list has no power states and each
    // GPU-size VM's instance view (VirtualMachines_InstanceView) is read, since those decide who holds the GPUs.
    const { compute } = await this.clients.apiVersions.get();
    const statusOnly = compute >= STATUS_ONLY_FROM;
    const rg = `/resourcegroups/${this.resourceGroup.toLowerCase()}/`;
    const what = 'list of virtual machines';
    const listed = await readBoundedList(
      what,
      this.clients.compute.virtualMachines.listAll({ ...(statusOnly ? { statusOnly: 'true' } : {}), onResponse: requireListShape(what) }).byPage(),
    );
    // Every entry is read (an entry without an id fails the listing): one the controller cannot place is not "none".
    const vms = listed.map((vm) => toArmVm(vm, what)).filter((vm) => vm.id.toLowerCase().includes(rg));
    if (statusOnly) return vms;
    return Promise.all(vms.map((vm) => (GPU_VM_SIZES.has(vm.vmSize.toLowerCase()) ? this.withInstanceView(vm) : vm)));
  }

  /** The VM with its power state from GET .../instanceView; a VM gone meanwhile keeps 'unknown'. */
  private async withInstanceView(vm: ArmVm): Promise<ArmVm> {
    const view = await orUndefinedOn404(() => this.clients.compute.virtualMachines.instanceView(this.resourceGroup, vm.name), `GET virtualMachines/${vm.name}/instanceView`);
    return { ...vm, powerState: powerStateOf(statusCodes(objectOr(view)['statuses'])) };
  }

  async imageExists(name: string): Promise<boolean> {
    return (await orUndefinedOn404(() => this.clients.compute.images.get(this.resourceGroup, name))) !== undefined;
  }

  async listImages(): Promise<string[]> {
    // Images_ListByResourceGroup (Microsoft.Compute, every api-version the controller speaks): the images a VM
    // in this resource group can be made from.
    const what = 'list of images';
    const listed = await readBoundedList(what, this.clients.compute.images.listByResourceGroup(this.resourceGroup, { onResponse: requireListShape(what) }).byPage());
    return listed.map((image) => deviceString(objectOr(image)['name'])).filter((name) => name !== '');
  }

  async getDeployment(name: string): Promise<ArmDeployment | undefined> {
    const d = await orUndefinedOn404(() => this.clients.resources.deployments.get(this.resourceGroup, name));
    if (d === undefined) return undefined;
    const properties = objectOr(objectOr(d)['properties']);
    const state = properties['provisioningState'];
    const result: ArmDeployment = {
      name: deviceString(objectOr(d)['name']) || name,
      provisioningState: (typeof state === 'string' && DEPLOYMENT_STATES.has(state) ? state : 'Unknown') as DeploymentState,
    };
    // The SDK turns `timestamp` into a Date whatever it held; an invalid one is left out.
    const timestamp = properties['timestamp'];
    if (timestamp instanceof Date && !Number.isNaN(timestamp.getTime())) result.timestamp = timestamp.toISOString();
    const error = toArmError(properties['error']);
    if (error !== undefined) result.error = error;
    return result;
  }

  async getDeploymentFailures(name: string): Promise<ArmError[]> {
    const what = `operations of deployment ${name}`;
    const operations = await readBoundedList(what, this.clients.resources.deploymentOperations.list(this.resourceGroup, name, { onResponse: requireListShape(what) }).byPage());
    const failures: ArmError[] = [];
    for (const op of operations) {
      const properties = objectOr(objectOr(op)['properties']);
      if (properties['provisioningState'] !== 'Failed') continue;
      const error = toArmError(properties['statusMessage']);
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
    const raw = objectOr(ext);
    const result: ArmExtension = {
      name: deviceString(raw['name']) || extensionName,
      type: deviceString(raw['typePropertiesType']),
      typeHandlerVersion: deviceString(raw['typeHandlerVersion']),
      provisioningState: optionalDeviceString(raw['provisioningState']) ?? 'Unknown',
    };
    const failed = listOf(objectOr(raw['instanceView'])['statuses']).map(objectOr).find((s) => s['level'] === 'Error');
    const message = optionalDeviceString(failed?.['message']);
    if (message !== undefined) result.message = message;
    return result;
  }

  async getNicPrivateIp(nicId: string): Promise<string | undefined> {
    return privateIpOf(await orUndefinedOn404(() => this.clients.network.networkInterfaces.get(this.resourceGroup, lastSegment(nicId))));
  }

  async listNics(): Promise<ArmNic[]> {
    // NetworkInterfaces_List (Microsoft.Network 2017-10-01 and 2018-11-01 networkInterface.json): the NICs of the
    // resource group, each with its ipConfigurations, as NetworkInterfaces_Get answers them.
    const what = 'list of network interfaces';
    const listed = await readBoundedList(what, this.clients.network.networkInterfaces.list(this.resourceGroup, { onResponse: requireListShape(what) }).byPage());
    return listed
      .map((nic) => {
        const id = deviceString(objectOr(nic)['id']);
        const privateIp = privateIpOf(nic);
        return { id, ...(privateIp !== undefined ? { privateIp } : {}) };
      })
      .filter((nic) => nic.id !== '');
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

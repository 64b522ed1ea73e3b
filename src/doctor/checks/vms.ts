// VMs on the device with their power states, and which hold a GPU: a GPU-sized VM holds its GPU unless it is
// deallocated (domain notes). One subscription-wide call with statusOnly=true, as the controller lists VMs.
import { type CheckResult, errorText, fail, pass, warn } from '../check.js';
import { armErrorText, type ReadOnlyClient } from '../readOnlyClient.js';
import { STATUS_ONLY_FROM, powerStateOf } from '../../azure/sdkDeviceArm.js';
import { GPU_VM_SIZES, powerStateHoldsGpu } from '../../plan/gpuHolders.js';

const ID = 'vms';
const TITLE = 'VMs and GPUs';
const MAX_PAGES = 50;

interface VmBody {
  id?: string;
  name?: string;
  properties?: {
    hardwareProfile?: { vmSize?: string };
    provisioningState?: string;
    instanceView?: { statuses?: { code?: string }[] };
  };
}

export interface DeviceVm {
  name: string;
  resourceGroup: string;
  size: string;
  provisioningState: string;
  powerState: string;
  holdsGpu: boolean;
}

const resourceGroupOf = (id: string): string => /\/resourceGroups\/([^/]+)\//i.exec(id)?.[1] ?? '';

type Statuses = { code?: string }[] | undefined;

export function toDeviceVm(vm: VmBody, statuses: Statuses = vm.properties?.instanceView?.statuses): DeviceVm {
  const size = vm.properties?.hardwareProfile?.vmSize ?? 'unknown';
  const powerState = powerStateOf(statuses);
  const gpuSize = [...GPU_VM_SIZES].some((g) => g.toLowerCase() === size.toLowerCase());
  return {
    name: vm.name ?? '',
    resourceGroup: resourceGroupOf(vm.id ?? ''),
    size,
    provisioningState: vm.properties?.provisioningState ?? 'unknown',
    powerState,
    // The controller's own rule: a VM that never got a PowerState (creation failed) holds no GPU.
    holdsGpu: gpuSize && powerStateHoldsGpu(powerState),
  };
}

/**
 * Every VM of the subscription with its power state, listed as the controller lists them (SdkDeviceArm.listVms):
 * statusOnly=true where the compute api-version has it (2020-06-01), else one instanceView GET per VM.
 */
export async function listDeviceVms(client: ReadOnlyClient, armEndpoint: string, subscriptionId: string, computeApiVersion: string): Promise<DeviceVm[]> {
  const statusOnly = computeApiVersion >= STATUS_ONLY_FROM;
  const bodies: VmBody[] = [];
  let url: string | undefined = `${armEndpoint}/subscriptions/${subscriptionId}/providers/Microsoft.Compute/virtualMachines?api-version=${computeApiVersion}${statusOnly ? '&statusOnly=true' : ''}`;
  for (let page = 0; url !== undefined && page < MAX_PAGES; page++) {
    const res = await client.get(url);
    if (res.status !== 200) throw new Error(armErrorText(res));
    const body = res.body as { value?: VmBody[]; nextLink?: string };
    bodies.push(...(body.value ?? []));
    url = body.nextLink;
  }
  if (statusOnly) return bodies.map((vm) => toDeviceVm(vm));
  const vms: DeviceVm[] = [];
  for (const vm of bodies) {
    const view = await client.get(`${armEndpoint}${vm.id ?? ''}/instanceView?api-version=${computeApiVersion}`);
    vms.push(toDeviceVm(vm, view.status === 200 ? (view.body as { statuses?: Statuses }).statuses : undefined));
  }
  return vms;
}

export async function checkVms(list: () => Promise<DeviceVm[]>): Promise<{ result: CheckResult; vms: DeviceVm[] }> {
  let vms: DeviceVm[];
  try {
    vms = await list();
  } catch (err) {
    return { result: fail(ID, TITLE, `cannot list VMs: ${errorText(err)}`, 'check that the ARM user may read VMs on the device'), vms: [] };
  }
  const describe = (v: DeviceVm): string => `${v.resourceGroup}/${v.name} ${v.size} ${v.powerState}${v.holdsGpu ? ' (holds a GPU)' : ''}`;
  const details = { vms };
  const gpuHolders = vms.filter((v) => v.holdsGpu);
  const summary = vms.length === 0 ? 'no VMs on the device' : `${vms.length} VM(s), ${gpuHolders.length} holding a GPU: ${vms.map(describe).join('; ')}`;
  const failed = vms.filter((v) => v.provisioningState.toLowerCase() === 'failed');
  if (failed.length > 0) {
    return { result: warn(ID, TITLE, summary, `VM(s) ${failed.map((v) => v.name).join(', ')} are in provisioning state Failed: delete them (or their GpuVms) so their GPUs are free`, details), vms };
  }
  return { result: pass(ID, TITLE, summary, details), vms };
}

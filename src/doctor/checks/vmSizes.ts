// GPU VM sizes: does the device offer the two T4 sizes (domain notes: Standard_NC4as_T4_v3, Standard_NC8as_T4_v3).
// Azure REST specs, Compute compute.json 2020-06-01 (upstream 116d7966) and 2017-12-01 (upstream 70db689a):
// VirtualMachineSizes_List at locations/{location}/vmSizes and VirtualMachines_ListAvailableSizes at
// virtualMachines/{vm}/vmSizes. The device may serve neither.
import { GPU_VM_SIZES as GPU_SIZES } from '../../plan/gpuHolders.js';
import { type CheckResult, errorText, fail, pass, warn } from '../check.js';
import { armErrorCode, type ReadOnlyClient } from '../readOnlyClient.js';

const ID = 'vmSizes';
const TITLE = 'GPU VM sizes';
const GPU_VM_SIZES = [...GPU_SIZES];

export interface VmSizesInput {
  armEndpoint: string;
  subscriptionId: string;
  location: string;
  computeApiVersion: string;
  /** A VM on the device, for virtualMachines/{vm}/vmSizes when the location list is not served. */
  someVm?: { resourceGroup: string; name: string };
}

/** Sizes from locations/{location}/vmSizes, else from virtualMachines/{vm}/vmSizes (Compute spec), else why not. */
async function listSizes(client: ReadOnlyClient, input: VmSizesInput): Promise<{ source: string; names: string[] } | { why: string }> {
  const sub = `${input.armEndpoint}/subscriptions/${input.subscriptionId}`;
  const tries = [
    { source: `locations/${input.location}/vmSizes`, url: `${sub}/providers/Microsoft.Compute/locations/${input.location}/vmSizes` },
    ...(input.someVm !== undefined
      ? [{ source: `virtualMachines/${input.someVm.name}/vmSizes`, url: `${sub}/resourceGroups/${input.someVm.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${input.someVm.name}/vmSizes` }]
      : []),
  ];
  const refused: string[] = [];
  for (const t of tries) {
    const res = await client.get(`${t.url}?api-version=${input.computeApiVersion}`);
    if (res.status === 200) {
      const names = ((res.body as { value?: { name?: string }[] }).value ?? []).map((s) => s.name).filter((n): n is string => typeof n === 'string');
      return { source: t.source, names };
    }
    refused.push(`${t.source}: ${armErrorCode(res)}`);
  }
  return { why: refused.join('; ') };
}

export async function checkVmSizes(client: ReadOnlyClient, input: VmSizesInput): Promise<CheckResult> {
  let listed;
  try {
    listed = await listSizes(client, input);
  } catch (err) {
    return fail(ID, TITLE, `cannot list VM sizes: ${errorText(err)}`, 'check that the ARM endpoint is reachable');
  }
  if ('why' in listed) {
    return warn(ID, TITLE, `the device does not serve a VM size list (${listed.why}); sizes cannot be checked from here`,
      `nothing to do: GpuVms must use ${GPU_VM_SIZES.join(' or ')}, the only GPU sizes on Azure Stack Edge Pro GPU`);
  }
  const offered = GPU_VM_SIZES.filter((g) => listed.names.some((n) => n.toLowerCase() === g.toLowerCase()));
  const details = { source: listed.source, offered, sizes: listed.names.length };
  if (offered.length === 0) {
    return fail(ID, TITLE, `${listed.source} offers none of ${GPU_VM_SIZES.join(', ')} (${listed.names.length} sizes listed)`,
      'the device has no GPU VM sizes: it needs an Azure Stack Edge Pro GPU with compute enabled; check the SKU and the GPU in the local web UI', details);
  }
  return pass(ID, TITLE, `offers ${offered.join(', ')} (${listed.source})`, details);
}

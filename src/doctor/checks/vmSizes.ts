// GPU VM sizes: does the device offer the two T4 sizes (domain notes: Standard_NC4as_T4_v3, Standard_NC8as_T4_v3).
// Standard ARM lists sizes at locations/{location}/vmSizes; the device may not serve it.
import { type CheckResult, errorText, fail, pass, warn } from '../check.js';
import { armErrorText, type ReadOnlyClient } from '../readOnlyClient.js';

const ID = 'vmSizes';
const TITLE = 'GPU VM sizes';
export const GPU_VM_SIZES: readonly string[] = ['Standard_NC4as_T4_v3', 'Standard_NC8as_T4_v3'];

export async function checkVmSizes(client: ReadOnlyClient, armEndpoint: string, subscriptionId: string, location: string, computeApiVersion: string): Promise<CheckResult> {
  const url = `${armEndpoint}/subscriptions/${subscriptionId}/providers/Microsoft.Compute/locations/${location}/vmSizes?api-version=${computeApiVersion}`;
  let res;
  try {
    res = await client.get(url);
  } catch (err) {
    return fail(ID, TITLE, `cannot list VM sizes: ${errorText(err)}`, 'check that the ARM endpoint is reachable');
  }
  if (res.status !== 200) {
    return warn(ID, TITLE, `the device does not serve locations/${location}/vmSizes (${armErrorText(res)}); sizes cannot be checked from here`,
      `nothing to do: GpuVms must use ${GPU_VM_SIZES.join(' or ')}, the only GPU sizes on Azure Stack Edge Pro GPU`);
  }
  const names = ((res.body as { value?: { name?: string }[] }).value ?? []).map((s) => s.name).filter((n): n is string => typeof n === 'string');
  const offered = GPU_VM_SIZES.filter((g) => names.some((n) => n.toLowerCase() === g.toLowerCase()));
  const details = { location, offered, sizes: names.length };
  if (offered.length === 0) {
    return fail(ID, TITLE, `the device offers none of ${GPU_VM_SIZES.join(', ')} (${names.length} sizes listed)`,
      'the device has no GPU VM sizes: it needs an Azure Stack Edge Pro GPU with compute enabled; check the SKU and the GPU in the local web UI', details);
  }
  return pass(ID, TITLE, `offers ${offered.join(', ')}`, details);
}

// Virtual network and subnet: enabling compute on a device port creates ASEVNET / ASEVNETsubNet in ASERG
// (ASE docs, "Deploy VMs via templates"); GpuVm NICs attach there.
import { type CheckResult, errorText, fail, pass } from '../check.js';
import { armErrorText, type ReadOnlyClient } from '../readOnlyClient.js';
import type { DoctorNetworkTarget } from '../target.js';

const ID = 'network';
const TITLE = 'virtual network';

interface VnetBody {
  properties?: { addressSpace?: { addressPrefixes?: string[] }; subnets?: { name?: string; properties?: { addressPrefix?: string } }[] };
}

export async function checkNetwork(client: ReadOnlyClient, armEndpoint: string, subscriptionId: string, network: DoctorNetworkTarget, networkApiVersion: string): Promise<CheckResult> {
  const where = `${network.resourceGroup}/${network.virtualNetwork}`;
  const url = `${armEndpoint}/subscriptions/${subscriptionId}/resourceGroups/${network.resourceGroup}/providers/Microsoft.Network/virtualNetworks/${network.virtualNetwork}?api-version=${networkApiVersion}`;
  let res;
  try {
    res = await client.get(url);
  } catch (err) {
    return fail(ID, TITLE, `cannot read ${where}: ${errorText(err)}`, 'check that the ARM endpoint is reachable');
  }
  if (res.status === 404) {
    return fail(ID, TITLE, `virtual network ${where} not found (${armErrorText(res)})`,
      'enable compute on a device port (local web UI > Advanced networking), which creates ASEVNET in ASERG; or name your network with --vnet-resource-group/--vnet/--subnet');
  }
  if (res.status !== 200) return fail(ID, TITLE, `cannot read ${where}: ${armErrorText(res)}`, 'check that the ARM user may read the network resource group');
  const body = res.body as VnetBody;
  const subnets = (body.properties?.subnets ?? []).map((s) => ({ name: s.name ?? '', addressPrefix: s.properties?.addressPrefix }));
  const subnet = subnets.find((s) => s.name.toLowerCase() === network.subnet.toLowerCase());
  const details = { virtualNetwork: where, addressPrefixes: body.properties?.addressSpace?.addressPrefixes ?? [], subnets };
  if (subnet === undefined) {
    return fail(ID, TITLE, `${where} has no subnet ${network.subnet} (subnets: ${subnets.map((s) => s.name).join(', ') || 'none'})`,
      'enable compute on a device port again to recreate the subnet, or name the subnet with --subnet', details);
  }
  return pass(ID, TITLE, `${where} subnet ${subnet.name}${subnet.addressPrefix !== undefined ? ` (${subnet.addressPrefix})` : ''}`, details);
}

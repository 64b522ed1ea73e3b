// Microsoft.Network on the device: the seeded virtual networks/subnets and network interfaces.
import type { DeviceState, NicRecord, VnetRecord } from '../device.js';
import { LOCATION, key } from '../device.js';
import { checkLocation, isRecord, tagsOf } from '../http.js';
import { parseResourceId, requireResourceGroup } from './compute.js';
import { ArmError, badRequest, notFound } from './errors.js';
import { injectedProvisioningFailure } from '../faults.js';

const NETWORK = 'Microsoft.Network';

export function serializeSubnet(device: DeviceState, vnet: VnetRecord, subnet: VnetRecord['subnets'][number]): Record<string, unknown> {
  const id = device.providerId(vnet.resourceGroup, NETWORK, `virtualNetworks/${vnet.name}/subnets/${subnet.name}`);
  const ipConfigurations = [...device.nics.values()]
    .filter((n) => n.subnetId.toLowerCase() === id.toLowerCase())
    .map((n) => ({ id: `${device.nicId(n)}/ipConfigurations/${n.ipConfigName}` }));
  return { id, name: subnet.name, type: 'Microsoft.Network/virtualNetworks/subnets', properties: { addressPrefix: subnet.addressPrefix, ipConfigurations, provisioningState: 'Succeeded' } };
}

export function serializeVnet(device: DeviceState, vnet: VnetRecord): Record<string, unknown> {
  return {
    id: device.providerId(vnet.resourceGroup, NETWORK, `virtualNetworks/${vnet.name}`),
    name: vnet.name,
    type: 'Microsoft.Network/virtualNetworks',
    location: LOCATION,
    tags: {},
    properties: {
      addressSpace: { addressPrefixes: [vnet.addressPrefix] },
      subnets: vnet.subnets.map((s) => serializeSubnet(device, vnet, s)),
      provisioningState: 'Succeeded',
    },
  };
}

export function findVnet(device: DeviceState, rg: string, name: string): VnetRecord {
  requireResourceGroup(device, rg);
  const vnet = device.vnets.get(key(rg, name));
  if (vnet === undefined) throw notFound('Microsoft.Network/virtualNetworks', name, rg);
  return vnet;
}

export function serializeNic(device: DeviceState, nic: NicRecord): Record<string, unknown> {
  const id = device.nicId(nic);
  return {
    id,
    name: nic.name,
    type: 'Microsoft.Network/networkInterfaces',
    location: nic.location,
    tags: nic.tags,
    properties: {
      provisioningState: nic.provisioningState,
      ipConfigurations: [
        {
          id: `${id}/ipConfigurations/${nic.ipConfigName}`,
          name: nic.ipConfigName,
          properties: {
            privateIPAddress: nic.privateIPAddress,
            privateIPAllocationMethod: nic.allocation,
            privateIPAddressVersion: 'IPv4',
            subnet: { id: nic.subnetId },
            primary: true,
            provisioningState: nic.provisioningState,
          },
        },
      ],
      ...(nic.attachedVmId !== undefined ? { virtualMachine: { id: nic.attachedVmId } } : {}),
      primary: true,
      enableIPForwarding: false,
    },
  };
}

function ipInPrefix(ip: string, prefix: string): boolean {
  const [base = '', bitsText = '32'] = prefix.split('/');
  const toInt = (s: string): number | undefined => {
    const parts = s.split('.').map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
    return ((parts[0] ?? 0) * 2 ** 24 + (parts[1] ?? 0) * 2 ** 16 + (parts[2] ?? 0) * 2 ** 8 + (parts[3] ?? 0)) >>> 0;
  };
  const a = toInt(ip);
  const b = toInt(base);
  const bits = Number(bitsText);
  if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) return false;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

/** PUT networkInterfaces/{name}. */
export function putNic(device: DeviceState, rg: string, name: string, body: Record<string, unknown>): { status: 200 | 201; nic: NicRecord; job: Promise<void> } {
  const rgName = requireResourceGroup(device, rg);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/.test(name)) throw badRequest('InvalidResourceName', `Resource name ${name} is invalid.`, 'name');
  checkLocation(body, LOCATION);
  const props = isRecord(body['properties']) ? body['properties'] : {};
  const ipConfigs = props['ipConfigurations'];
  if (!Array.isArray(ipConfigs) || ipConfigs.length === 0 || !isRecord(ipConfigs[0])) {
    throw badRequest('InvalidRequestFormat', 'A network interface needs at least one IP configuration.', 'properties.ipConfigurations');
  }
  const ipConfig = ipConfigs[0];
  const ipProps = isRecord(ipConfig['properties']) ? ipConfig['properties'] : {};
  const ipConfigName = typeof ipConfig['name'] === 'string' && ipConfig['name'] !== '' ? ipConfig['name'] : 'ipconfig1';
  const subnetRef = isRecord(ipProps['subnet']) ? ipProps['subnet']['id'] : undefined;
  const nicId = device.providerId(rgName, NETWORK, `networkInterfaces/${name}`);
  const parsed = typeof subnetRef === 'string' ? parseResourceId(subnetRef) : undefined;
  const vnet = parsed && parsed.path.length === 4 ? device.vnets.get(key(parsed.resourceGroup, parsed.path[1] ?? '')) : undefined;
  const subnet = vnet?.subnets.find((s) => s.name.toLowerCase() === (parsed?.path[3] ?? '').toLowerCase());
  if (vnet === undefined || subnet === undefined || parsed?.path[0]?.toLowerCase() !== 'virtualnetworks' || parsed.path[2]?.toLowerCase() !== 'subnets') {
    throw badRequest('InvalidResourceReference', `Resource ${String(subnetRef)} referenced by resource ${nicId} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`, 'subnet');
  }
  const existing = device.nics.get(key(rgName, name));
  const method = String(ipProps['privateIPAllocationMethod'] ?? 'Dynamic');
  if (method !== 'Dynamic' && method !== 'Static') throw badRequest('InvalidRequestFormat', `privateIPAllocationMethod '${method}' is not valid.`, 'privateIPAllocationMethod');
  const requested = typeof ipProps['privateIPAddress'] === 'string' ? ipProps['privateIPAddress'] : '';
  let ip: string;
  if (method === 'Static') {
    if (requested === '') throw badRequest('PrivateIPAddressRequired', 'A static allocation needs a privateIPAddress.', 'privateIPAddress');
    if (!ipInPrefix(requested, subnet.addressPrefix)) {
      throw badRequest('PrivateIPAddressNotInSubnet', `IP address ${requested} does not belong to subnet ${subnet.name} (${subnet.addressPrefix}).`, 'privateIPAddress');
    }
    const holder = [...device.nics.values()].find((n) => n.privateIPAddress === requested && n !== existing);
    if (holder !== undefined) throw badRequest('PrivateIPAddressInUse', `IP address ${requested} is already used by ${device.nicId(holder)}.`, 'privateIPAddress');
    ip = requested;
  } else {
    const allocated = existing?.privateIPAddress ?? device.allocateIp(subnet.addressPrefix);
    if (allocated === undefined) throw badRequest('SubnetIsFull', `Subnet ${subnet.name} has no free address.`, 'subnet');
    ip = allocated;
  }
  const subnetId = device.providerId(vnet.resourceGroup, NETWORK, `virtualNetworks/${vnet.name}/subnets/${subnet.name}`);
  const nic: NicRecord = {
    name: existing?.name ?? name,
    resourceGroup: rgName,
    location: LOCATION,
    tags: tagsOf(body),
    ipConfigName,
    allocation: method,
    privateIPAddress: ip,
    subnetId,
    ...(existing?.attachedVmId !== undefined ? { attachedVmId: existing.attachedVmId } : {}),
    provisioningState: 'Updating',
  };
  device.nics.set(key(rgName, name), nic);
  const job = (async () => {
    await device.ctx.clock.delay(device.ctx.timings().nicCreateMs);
    const failure = injectedProvisioningFailure(device.ctx.faults, 'nic.create', device.name);
    if (failure !== undefined) {
      nic.provisioningState = 'Failed';
      throw new ArmError(409, failure.code, failure.message);
    }
    nic.provisioningState = 'Succeeded';
  })();
  return { status: existing === undefined ? 201 : 200, nic, job };
}

export function findNic(device: DeviceState, rg: string, name: string): NicRecord {
  requireResourceGroup(device, rg);
  const nic = device.nics.get(key(rg, name));
  if (nic === undefined) throw notFound('Microsoft.Network/networkInterfaces', name, rg);
  return nic;
}

/** DELETE networkInterfaces/{name}; undefined when it does not exist. */
export function deleteNic(device: DeviceState, rg: string, name: string): Promise<void> | undefined {
  requireResourceGroup(device, rg);
  const nic = device.nics.get(key(rg, name));
  if (nic === undefined) return undefined;
  if (nic.attachedVmId !== undefined) {
    throw badRequest('NicInUse', `Network Interface ${device.nicId(nic)} is used by existing resource ${nic.attachedVmId}. In order to delete the network interface, it must be dissociated from the resource.`);
  }
  nic.provisioningState = 'Deleting';
  return (async () => {
    await device.ctx.clock.delay(device.ctx.timings().deleteMs);
    if (device.nics.get(key(rg, name)) === nic) device.nics.delete(key(rg, name));
  })();
}

// Microsoft.Compute/disks on the device: the managed OS disk a VM gets when it is provisioned, its name
// (ARM-style generated when the VM names none), its lifetime after the VM (profile osDiskSurvivesVmDelete)
// and GET/list/DELETE. Shape: Compute disk.json 2019-07-01 (Azure/azure-rest-api-specs,
// specification/compute/resource-manager/Microsoft.Compute/stable/2019-07-01/disk.json, definition Disk) and
// compute.json 2017-03-30 (Disk, without diskState).
import { randomUUID } from 'node:crypto';
import type { DeviceState, DiskRecord, VmRecord } from '../device.js';
import { LOCATION, key } from '../device.js';
import { ArmError, conflict, notFound } from './errors.js';

/** ARM's name for an OS disk the VM does not name: <vm>_OsDisk_1_<32 hex>. */
export function generatedOsDiskName(vmName: string): string {
  return `${vmName}_OsDisk_1_${randomUUID().replace(/-/g, '')}`;
}

/**
 * A VM PUT names a disk that exists and belongs to no VM or another VM: Azure refuses to create over it
 * (FromImage); only attaching would work. Wording as Azure answers it (ConflictingUserInput; assumed for the device).
 */
export function checkOsDiskFree(device: DeviceState, rg: string, diskName: string, vmId: string): void {
  const disk = device.disks.get(key(rg, diskName));
  if (disk !== undefined && disk.managedBy?.toLowerCase() !== vmId.toLowerCase()) {
    throw new ArmError(409, 'ConflictingUserInput', `Disk ${disk.name} already exists in resource group ${rg.toUpperCase()}. Only CreateOption.Attach is supported.`, 'osDisk.name');
  }
}

/** The VM's OS disk, created when the VM is provisioned (or reused when a failed VM is re-created). */
export function provisionOsDisk(device: DeviceState, vm: VmRecord): void {
  const vmId = device.vmId(vm);
  const existing = device.disks.get(key(vm.resourceGroup, vm.requestedOsDiskName));
  if (existing === undefined) {
    device.disks.set(key(vm.resourceGroup, vm.requestedOsDiskName), {
      name: vm.requestedOsDiskName,
      resourceGroup: vm.resourceGroup,
      uniqueId: randomUUID(),
      osType: vm.image.osType,
      hyperVGeneration: vm.image.generation,
      imageId: vm.imageId,
      diskSizeGB: vm.image.osType === 'Windows' ? 127 : 30,
      timeCreated: new Date().toISOString(),
      managedBy: vmId,
    });
  } else {
    existing.managedBy = vmId;
  }
  vm.osDiskName = vm.requestedOsDiskName;
}

/** The VM is gone: its OS disk is detached (survives) or deleted with it, per the device profile. */
export function releaseOsDisk(device: DeviceState, vm: VmRecord): void {
  if (vm.osDiskName === undefined) return;
  const k = key(vm.resourceGroup, vm.osDiskName);
  const disk = device.disks.get(k);
  if (disk === undefined) return;
  if (device.config.profile.osDiskSurvivesVmDelete) delete disk.managedBy;
  else device.disks.delete(k);
}

export function serializeDisk(device: DeviceState, disk: DiskRecord, apiVersion: string | null): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    osType: disk.osType,
    hyperVGeneration: disk.hyperVGeneration,
    creationData: { createOption: 'FromImage', imageReference: { id: disk.imageId } },
    diskSizeGB: disk.diskSizeGB,
    timeCreated: disk.timeCreated,
    provisioningState: 'Succeeded',
    uniqueId: disk.uniqueId,
  };
  // diskState arrived after 2017-03-30 (it is in 2019-07-01's DiskProperties).
  if (apiVersion !== '2017-03-30') properties['diskState'] = disk.managedBy === undefined ? 'Unattached' : 'Attached';
  return {
    id: device.diskId(disk),
    name: disk.name,
    type: 'Microsoft.Compute/disks',
    location: LOCATION,
    tags: {},
    ...(disk.managedBy !== undefined ? { managedBy: disk.managedBy } : {}),
    sku: { name: 'Standard_LRS', tier: 'Standard' },
    properties,
  };
}

export function findDisk(device: DeviceState, rg: string, name: string): DiskRecord {
  const disk = device.disks.get(key(rg, name));
  if (disk === undefined) throw notFound('Microsoft.Compute/disks', name, rg);
  return disk;
}

/** DELETE disks/{name}; undefined when it does not exist; 409 while a VM uses it. */
export function deleteDisk(device: DeviceState, rg: string, name: string): Promise<void> | undefined {
  const disk = device.disks.get(key(rg, name));
  if (disk === undefined) return undefined;
  if (disk.managedBy !== undefined) {
    throw conflict('OperationNotAllowed', `Disk ${disk.name} is attached to VM ${disk.managedBy}.`);
  }
  return (async () => {
    await device.ctx.clock.delay(device.ctx.timings().deleteMs);
    if (device.disks.get(key(rg, name)) === disk && disk.managedBy === undefined) device.disks.delete(key(rg, name));
  })();
}

// Microsoft.Compute on the device: images, virtual machines (power actions, instance view) and
// VM extensions, with the GPU rules of the device.
import { randomUUID } from 'node:crypto';
import type { DeviceState, ExtensionRecord, ImageRecord, VmRecord } from '../device.js';
import { LOCATION, isGpuSize, isKnownSize, key } from '../device.js';
import { checkLocation, isRecord, tagsOf } from '../http.js';
import { checkOsDiskFree, generatedOsDiskName, provisionOsDisk, releaseOsDisk } from './disks.js';
import type { ArmErrorBody } from './errors.js';
import { ArmError, badRequest, conflict, notFound } from './errors.js';

const COMPUTE = 'Microsoft.Compute';

export function requireResourceGroup(device: DeviceState, rg: string): string {
  const record = device.resourceGroups.get(key(rg));
  if (record === undefined) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
  return record.name;
}

function parseId(id: string): string[] {
  return id.split('/').filter((s) => s !== '');
}

/** Splits /subscriptions/s/resourceGroups/rg/providers/ns/type/name into its parts (lower-case compare). */
export function parseResourceId(id: string): { subscriptionId: string; resourceGroup: string; namespace: string; path: string[] } | undefined {
  const s = parseId(id);
  if (s.length < 8 || s[0]?.toLowerCase() !== 'subscriptions' || s[2]?.toLowerCase() !== 'resourcegroups' || s[4]?.toLowerCase() !== 'providers') return undefined;
  return { subscriptionId: s[1] ?? '', resourceGroup: s[3] ?? '', namespace: s[5] ?? '', path: s.slice(6) };
}

// ---------- images ----------

export function serializeImage(device: DeviceState, image: ImageRecord): Record<string, unknown> {
  return {
    id: device.providerId(image.resourceGroup, COMPUTE, `images/${image.name}`),
    name: image.name,
    type: 'Microsoft.Compute/images',
    location: LOCATION,
    tags: {},
    properties: {
      storageProfile: { osDisk: { osType: image.osType, osState: 'Generalized', caching: 'ReadWrite' }, dataDisks: [] },
      hyperVGeneration: image.generation,
      provisioningState: 'Succeeded',
    },
  };
}

export function putImage(device: DeviceState, rg: string, name: string, body: Record<string, unknown>): { status: 200 | 201; image: ImageRecord } {
  const rgName = requireResourceGroup(device, rg);
  checkLocation(body, LOCATION);
  const props = isRecord(body['properties']) ? body['properties'] : {};
  const storage = isRecord(props['storageProfile']) ? props['storageProfile'] : {};
  const osDisk = isRecord(storage['osDisk']) ? storage['osDisk'] : {};
  const osType = osDisk['osType'];
  if (osType !== 'Windows' && osType !== 'Linux') throw badRequest('InvalidParameter', "Required parameter 'osDisk.osType' is missing or invalid.", 'osType');
  const generation = props['hyperVGeneration'] === 'V2' ? 'V2' : 'V1';
  const existing = device.images.get(key(rgName, name));
  const image: ImageRecord = { name: existing?.name ?? name, resourceGroup: rgName, osType, generation, config: existing?.config ?? { name, osType, generation } };
  device.images.set(key(rgName, name), image);
  return { status: existing === undefined ? 201 : 200, image };
}

// ---------- virtual machines ----------

const POWER_DISPLAY: Record<VmRecord['power'], string> = {
  starting: 'VM starting',
  running: 'VM running',
  stopping: 'VM stopping',
  stopped: 'VM stopped',
  deallocating: 'VM deallocating',
  deallocated: 'VM deallocated',
};

/**
 * The provisioning state ARM reports: a VM whose extension failed reads Failed (with the extension's
 * error) until the extension succeeds or is removed, while staying usable (power actions, re-PUTs).
 */
export function effectiveVmState(vm: VmRecord): { state: VmRecord['provisioningState']; error?: ArmErrorBody } {
  if (vm.provisioningState !== 'Succeeded') return { state: vm.provisioningState, ...(vm.error !== undefined ? { error: vm.error } : {}) };
  const failed = [...vm.extensions.values()].find((e) => e.provisioningState === 'Failed');
  return failed?.error !== undefined ? { state: 'Failed', error: failed.error } : { state: 'Succeeded' };
}

export function vmInstanceView(device: DeviceState, vm: VmRecord): Record<string, unknown> {
  const time = new Date().toISOString();
  const effective = effectiveVmState(vm);
  const statuses: Record<string, unknown>[] = [
    effective.state === 'Failed'
      ? { code: `ProvisioningState/failed/${effective.error?.code ?? 'InternalError'}`, level: 'Error', displayStatus: 'Provisioning failed', message: effective.error?.message ?? '', time }
      : vm.provisioningState === 'Succeeded'
        ? { code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded', time }
        : { code: `ProvisioningState/${vm.provisioningState.toLowerCase()}`, level: 'Info', displayStatus: `Provisioning ${vm.provisioningState.toLowerCase()}` },
  ];
  if (vm.provisioningState !== 'Failed') statuses.push({ code: `PowerState/${vm.power}`, level: 'Info', displayStatus: POWER_DISPLAY[vm.power] });
  return {
    computerName: vm.computerName,
    osName: vm.image.config.os?.name ?? vm.image.osType,
    osVersion: vm.image.config.os?.version ?? '',
    hyperVGeneration: vm.image.generation,
    extensions: [...vm.extensions.values()].map((e) => ({
      name: e.name,
      type: `${e.publisher}.${e.type}`,
      typeHandlerVersion: e.typeHandlerVersion,
      statuses: [
        e.provisioningState === 'Failed'
          ? { code: 'ProvisioningState/failed', level: 'Error', displayStatus: 'Provisioning failed', message: e.error?.message ?? '' }
          : { code: `ProvisioningState/${e.provisioningState.toLowerCase()}`, level: 'Info', displayStatus: `Provisioning ${e.provisioningState.toLowerCase()}` },
      ],
    })),
    statuses,
  };
}

export function serializeVm(device: DeviceState, vm: VmRecord, expandInstanceView: boolean): Record<string, unknown> {
  const osProfile: Record<string, unknown> = { computerName: vm.computerName, adminUsername: vm.adminUsername };
  if (vm.linuxConfiguration !== undefined) osProfile['linuxConfiguration'] = vm.linuxConfiguration;
  if (vm.windowsConfiguration !== undefined) osProfile['windowsConfiguration'] = vm.windowsConfiguration;
  const properties: Record<string, unknown> = {
    vmId: vm.vmId,
    hardwareProfile: { vmSize: vm.size },
    storageProfile: {
      imageReference: { id: vm.imageId },
      osDisk: {
        osType: vm.image.osType,
        name: vm.osDiskName ?? vm.requestedOsDiskName,
        createOption: 'FromImage',
        caching: 'ReadWrite',
        managedDisk: { ...(vm.osDiskName !== undefined ? { id: device.diskId({ resourceGroup: vm.resourceGroup, name: vm.osDiskName }) } : {}), storageAccountType: 'Standard_LRS' },
      },
      dataDisks: [],
    },
    osProfile,
    networkProfile: { networkInterfaces: vm.nicIds.map((id, i) => ({ id, properties: { primary: i === 0 } })) },
    provisioningState: effectiveVmState(vm).state,
  };
  if (expandInstanceView) properties['instanceView'] = vmInstanceView(device, vm);
  const out: Record<string, unknown> = {
    id: device.vmId(vm),
    name: vm.name,
    type: 'Microsoft.Compute/virtualMachines',
    location: vm.location,
    tags: vm.tags,
    properties,
  };
  if (vm.extensions.size > 0) {
    out['resources'] = [...vm.extensions.values()].map((e) => ({ id: extensionId(device, vm, e) }));
  }
  return out;
}

export function findVm(device: DeviceState, rg: string, name: string): VmRecord {
  const vm = device.vms.get(key(rg, name));
  if (vm === undefined) throw notFound('Microsoft.Compute/virtualMachines', name, rg);
  return vm;
}

/**
 * "No GPU free", as the device profile's gpuExhaustion says it: AllocationFailed (Azure's allocation error),
 * OtherCode (assumed: the troubleshooting article shows the real code only as a screenshot), or
 * BareDeploymentFailed (DeploymentFailed without any detail; deployments.ts keeps it bare).
 */
function noGpuError(device: DeviceState, vmName: string): ArmError {
  const holders = device.describeGpuHolders();
  switch (device.config.profile.gpuExhaustion) {
    case 'OtherCode':
      return new ArmError(409, 'GpuNotAvailable', `The GPU required by VM '${vmName}' is not available on device '${device.name}' (${holders}).`);
    case 'BareDeploymentFailed':
      return new ArmError(409, BARE_FAILURE_CODE, 'The deployment failed.');
    case 'AllocationFailed':
      return new ArmError(
        409,
        'AllocationFailed',
        `Allocation failed for VM '${vmName}': no GPU is free on device '${device.name}' (${holders}). ` +
          'Deallocate or delete a GPU VM, or remove the Kubernetes role, then retry.',
      );
  }
}

/** The code of a bare failure (profile gpuExhaustion BareDeploymentFailed): no details anywhere. */
export const BARE_FAILURE_CODE = 'DeploymentFailed';

function injectedAllocationFailure(device: DeviceState, operation: string, vmName: string): ArmError | undefined {
  const fired = device.ctx.faults.take(operation, device.name, ['allocationFailed']);
  if (fired.length === 0) return undefined;
  return new ArmError(409, 'AllocationFailed', `Allocation failed for VM '${vmName}' (injected fault). Please try again later.`);
}

function str(obj: Record<string, unknown>, field: string): string | undefined {
  const v = obj[field];
  return typeof v === 'string' ? v : undefined;
}

function sub(obj: Record<string, unknown>, field: string): Record<string, unknown> {
  const v = obj[field];
  return isRecord(v) ? v : {};
}

/** PUT virtualMachines/{name}: validates now, provisions in the returned job. */
export function putVm(device: DeviceState, rg: string, name: string, body: Record<string, unknown>): { status: 200 | 201; vm: VmRecord; job: Promise<void> } {
  const rgName = requireResourceGroup(device, rg);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) throw badRequest('InvalidParameter', `The VM name '${name}' is invalid.`, 'name');
  checkLocation(body, LOCATION);
  const props = sub(body, 'properties');
  const size = str(sub(props, 'hardwareProfile'), 'vmSize');
  if (size === undefined) throw badRequest('InvalidParameter', "Required parameter 'hardwareProfile.vmSize' is missing.", 'hardwareProfile.vmSize');
  if (!isKnownSize(size)) throw badRequest('InvalidParameter', `The value '${size}' provided for the VM size is not valid on this device.`, 'vmSize');
  const imageId = str(sub(sub(props, 'storageProfile'), 'imageReference'), 'id');
  if (imageId === undefined) throw badRequest('InvalidParameter', "Required parameter 'storageProfile.imageReference.id' is missing.", 'imageReference');
  const parsedImage = parseResourceId(imageId);
  if (parsedImage === undefined || parsedImage.namespace.toLowerCase() !== 'microsoft.compute' || parsedImage.path[0]?.toLowerCase() !== 'images' || parsedImage.path.length !== 2) {
    throw badRequest('InvalidParameter', `The image reference '${imageId}' is not a Microsoft.Compute/images id.`, 'imageReference');
  }
  const image = device.images.get(key(parsedImage.resourceGroup, parsedImage.path[1] ?? ''));
  if (image === undefined) throw new ArmError(404, 'ImageNotFound', `The image '${imageId}' was not found.`, 'imageReference');
  if (image.resourceGroup.toLowerCase() !== rgName.toLowerCase()) {
    throw badRequest('InvalidParameter', `The image '${image.name}' is in resource group '${image.resourceGroup}'; it must be in the VM's resource group '${rgName}'.`, 'imageReference');
  }
  if (isGpuSize(size) && image.generation === 'V2') throw badRequest('InvalidParameter', `GPU VM sizes need a Gen1 image; '${image.name}' is Gen2.`, 'imageReference');
  const nicRefs = sub(props, 'networkProfile')['networkInterfaces'];
  if (!Array.isArray(nicRefs) || nicRefs.length === 0) throw badRequest('InvalidParameter', "Required parameter 'networkProfile.networkInterfaces' is missing.", 'networkInterfaces');
  const existing = device.vms.get(key(rgName, name));
  const vmIdFor = device.providerId(rgName, 'Microsoft.Compute', `virtualMachines/${existing?.name ?? name}`);
  const nicIds = nicRefs.map((ref): string => {
    const id = isRecord(ref) ? str(ref, 'id') : undefined;
    const parsed = id === undefined ? undefined : parseResourceId(id);
    const nic = parsed === undefined ? undefined : device.nics.get(key(parsed.resourceGroup, parsed.path[1] ?? ''));
    if (id === undefined || nic === undefined || parsed?.path[0]?.toLowerCase() !== 'networkinterfaces') {
      throw badRequest('InvalidResourceReference', `Resource ${String(id)} referenced by resource ${vmIdFor} was not found.`, 'networkInterfaces');
    }
    if (nic.attachedVmId !== undefined && nic.attachedVmId.toLowerCase() !== vmIdFor.toLowerCase()) {
      throw badRequest('NicInUse', `Network interface ${id} is used by existing VM ${nic.attachedVmId}.`, 'networkInterfaces');
    }
    return device.nicId(nic);
  });
  const osProfile = sub(props, 'osProfile');
  const adminUsername = str(osProfile, 'adminUsername') ?? existing?.adminUsername;
  const linux = osProfile['linuxConfiguration'];
  const hasKey = isRecord(linux) && Array.isArray(sub(linux, 'ssh')['publicKeys']) && (sub(linux, 'ssh')['publicKeys'] as unknown[]).length > 0;
  if (existing === undefined || existing.provisioningState === 'Failed') {
    if (adminUsername === undefined || adminUsername === '') throw badRequest('InvalidParameter', "Required parameter 'osProfile.adminUsername' is missing.", 'adminUsername');
    if (str(osProfile, 'adminPassword') === undefined && !hasKey) {
      throw badRequest('InvalidParameter', "Required parameter 'adminPassword' is missing (or give linuxConfiguration.ssh.publicKeys).", 'adminPassword');
    }
  }
  const tags = tagsOf(body);
  const namedDisk = str(sub(sub(props, 'storageProfile'), 'osDisk'), 'name');

  if (existing !== undefined && existing.provisioningState !== 'Failed') {
    if (existing.busy || existing.provisioningState !== 'Succeeded') {
      throw conflict('OperationNotAllowed', `Operation 'PUT' is not allowed on VM '${name}' since another operation is in progress.`);
    }
    if (existing.size.toLowerCase() !== size.toLowerCase()) {
      throw conflict('OperationNotAllowed', `Changing the size of VM '${name}' from ${existing.size} to ${size} is not supported on this device; delete and recreate it.`);
    }
    if (existing.imageId.toLowerCase() !== imageId.toLowerCase()) {
      throw conflict('PropertyChangeNotAllowed', "Changing property 'imageReference' is not allowed.");
    }
    existing.tags = tags;
    return { status: 200, vm: existing, job: Promise.resolve() };
  }

  // New VM (or re-creation of a failed one).
  if (existing !== undefined && existing.busy) throw conflict('OperationNotAllowed', `Operation 'PUT' is not allowed on VM '${name}' since another operation is in progress.`);
  const requestedOsDiskName = namedDisk ?? existing?.requestedOsDiskName ?? generatedOsDiskName(existing?.name ?? name);
  checkOsDiskFree(device, rgName, requestedOsDiskName, vmIdFor);
  for (const nic of device.nics.values()) {
    if (nic.attachedVmId?.toLowerCase() === vmIdFor.toLowerCase()) delete nic.attachedVmId;
  }
  const vm: VmRecord = {
    name: existing?.name ?? name,
    resourceGroup: rgName,
    location: LOCATION,
    tags,
    vmId: existing?.vmId ?? randomUUID(),
    size,
    imageId: device.providerId(image.resourceGroup, 'Microsoft.Compute', `images/${image.name}`),
    image,
    computerName: str(osProfile, 'computerName') ?? name,
    adminUsername: adminUsername ?? '',
    ...(isRecord(linux) ? { linuxConfiguration: linux } : {}),
    ...(isRecord(osProfile['windowsConfiguration']) ? { windowsConfiguration: osProfile['windowsConfiguration'] } : {}),
    nicIds,
    provisioningState: 'Creating',
    power: 'starting',
    extensions: existing?.extensions ?? new Map<string, ExtensionRecord>(),
    busy: true,
    createdAt: new Date().toISOString(),
    requestedOsDiskName,
    ...(existing?.osDiskName !== undefined ? { osDiskName: existing.osDiskName } : {}),
  };
  device.vms.set(key(rgName, name), vm);
  for (const id of nicIds) {
    const parsed = parseResourceId(id);
    const nic = parsed && device.nics.get(key(parsed.resourceGroup, parsed.path[1] ?? ''));
    if (nic) nic.attachedVmId = device.vmId(vm);
  }
  const fullId = device.vmId(vm);
  const injected = injectedAllocationFailure(device, 'vm.create', vm.name);
  const claimed = injected === undefined && (!isGpuSize(size) || device.ledger.claimForVm(fullId, vm.name));
  const failure = injected ?? (claimed ? undefined : noGpuError(device, vm.name));
  const timings = device.ctx.timings();
  const job = (async () => {
    await device.ctx.clock.delay(failure === undefined ? timings.vmCreateMs : timings.vmCreateMs / 4);
    vm.busy = false;
    if (failure !== undefined) {
      vm.provisioningState = 'Failed';
      vm.power = 'deallocated';
      vm.error = failure.body();
      throw failure;
    }
    provisionOsDisk(device, vm);
    vm.provisioningState = 'Succeeded';
    vm.power = 'running';
    delete vm.error;
  })();
  return { status: existing === undefined ? 201 : 200, vm, job };
}

export type VmAction = 'start' | 'powerOff' | 'deallocate' | 'restart';

/** POST virtualMachines/{name}/{action}. */
export function vmAction(device: DeviceState, rg: string, name: string, action: VmAction): Promise<void> {
  requireResourceGroup(device, rg);
  const vm = findVm(device, rg, name);
  if (vm.provisioningState !== 'Succeeded' || vm.busy) {
    throw conflict('OperationNotAllowed', `Operation '${action}' is not allowed on VM '${vm.name}' while its provisioning state is ${vm.provisioningState}${vm.busy ? ' and another operation is in progress' : ''}.`);
  }
  const timings = device.ctx.timings();
  const id = device.vmId(vm);
  const finish = async (transient: VmRecord['power'], final: VmRecord['power'], after?: () => void): Promise<void> => {
    vm.busy = true;
    vm.power = transient;
    await device.ctx.clock.delay(timings.powerActionMs);
    vm.power = final;
    vm.busy = false;
    after?.();
  };
  switch (action) {
    case 'start': {
      if (vm.power === 'running') return Promise.resolve();
      delete vm.takeoverTicket;
      // A deallocated GPU VM, or a stopped one whose GPU Kubernetes took over, needs a GPU again.
      const needsGpu = isGpuSize(vm.size) && !device.ledger.holdsVm(id);
      if (vm.power === 'deallocated' || needsGpu) {
        const injected = injectedAllocationFailure(device, 'vm.start', vm.name);
        const failure = injected ?? (needsGpu && !device.ledger.claimForVm(id, vm.name) ? noGpuError(device, vm.name) : undefined);
        if (failure !== undefined) {
          return (async () => {
            await device.ctx.clock.delay(timings.powerActionMs / 4);
            throw failure;
          })();
        }
        delete vm.gpuTakenOver;
      }
      return finish('starting', 'running');
    }
    case 'powerOff':
      if (vm.power === 'stopped' || vm.power === 'deallocated') return Promise.resolve();
      return finish('stopping', 'stopped', () => {
        if (isGpuSize(vm.size)) device.scheduleStoppedTakeover(vm);
      });
    case 'deallocate':
      if (vm.power === 'deallocated') return Promise.resolve();
      delete vm.takeoverTicket;
      return finish('deallocating', 'deallocated', () => {
        delete vm.gpuTakenOver;
        if (device.ledger.releaseVm(id)) device.gpuFreed();
      });
    case 'restart':
      if (vm.power !== 'running') throw conflict('OperationNotAllowed', `Cannot restart VM '${vm.name}': it is not running (${vm.power}).`);
      return finish('starting', 'running');
  }
}

/** DELETE virtualMachines/{name}; undefined when it does not exist. */
export function deleteVm(device: DeviceState, rg: string, name: string): Promise<void> | undefined {
  requireResourceGroup(device, rg);
  const vm = device.vms.get(key(rg, name));
  if (vm === undefined) return undefined;
  if (vm.busy && vm.provisioningState === 'Deleting') throw conflict('OperationNotAllowed', `VM '${vm.name}' is already being deleted.`);
  vm.busy = true;
  vm.provisioningState = 'Deleting';
  const id = device.vmId(vm);
  return (async () => {
    await device.ctx.clock.delay(device.ctx.timings().deleteMs);
    removeVmNow(device, vm);
    if (device.ledger.releaseVm(id)) device.gpuFreed();
  })();
}

export function removeVmNow(device: DeviceState, vm: VmRecord): void {
  const id = device.vmId(vm).toLowerCase();
  device.vms.delete(key(vm.resourceGroup, vm.name));
  for (const nic of device.nics.values()) if (nic.attachedVmId?.toLowerCase() === id) delete nic.attachedVmId;
  releaseOsDisk(device, vm);
}

// ---------- extensions ----------

export function extensionId(device: DeviceState, vm: VmRecord, ext: ExtensionRecord): string {
  return `${device.vmId(vm)}/extensions/${ext.name}`;
}

export function serializeExtension(device: DeviceState, vm: VmRecord, ext: ExtensionRecord): Record<string, unknown> {
  return {
    id: extensionId(device, vm, ext),
    name: ext.name,
    type: 'Microsoft.Compute/virtualMachines/extensions',
    location: vm.location,
    tags: ext.tags,
    properties: {
      publisher: ext.publisher,
      type: ext.type,
      typeHandlerVersion: ext.typeHandlerVersion,
      autoUpgradeMinorVersion: ext.autoUpgradeMinorVersion,
      settings: ext.settings,
      provisioningState: ext.provisioningState,
      ...(ext.error !== undefined
        ? { instanceView: { name: ext.name, statuses: [{ code: 'ProvisioningState/failed', level: 'Error', message: ext.error.message }] } }
        : {}),
    },
  };
}

/** The typeHandlerVersion the device release supports for the NVIDIA extension. */
export function expectedGpuExtensionVersion(release: number, osType: 'Windows' | 'Linux'): string {
  if (release < 2205) return '1.3';
  return osType === 'Windows' ? '1.5' : '1.8';
}

function gpuExtensionProblem(device: DeviceState, vm: VmRecord, ext: ExtensionRecord): string | undefined {
  const gpuTypes: Record<string, 'Windows' | 'Linux'> = { nvidiagpudriverwindows: 'Windows', nvidiagpudriverlinux: 'Linux' };
  const os = gpuTypes[ext.type.toLowerCase()];
  if (ext.publisher.toLowerCase() !== 'microsoft.hpccompute' || os === undefined) return undefined;
  if (!isGpuSize(vm.size)) return `The VM size '${vm.size}' has no GPU; the NVIDIA GPU driver extension needs Standard_NC4as_T4_v3 or Standard_NC8as_T4_v3.`;
  if (os !== vm.image.osType) return `The extension ${ext.type} is for ${os} but VM '${vm.name}' runs ${vm.image.osType}.`;
  const expected = expectedGpuExtensionVersion(device.release, os);
  const given = ext.typeHandlerVersion.split('.').slice(0, 2).join('.');
  if (given !== expected) {
    return `The handler version ${ext.typeHandlerVersion} of ${ext.type} is not available on device release ${device.release}; use ${expected}.`;
  }
  if (vm.image.config.gpuUnsupported === true) {
    const osName = vm.image.config.os ? `${vm.image.config.os.name} ${vm.image.config.os.version}` : vm.image.name;
    return `The guest OS ${osName} is not supported by the NVIDIA GPU driver extension.`;
  }
  return undefined;
}

export function findExtension(device: DeviceState, vm: VmRecord, name: string): ExtensionRecord {
  const ext = vm.extensions.get(name.toLowerCase());
  if (ext === undefined) throw notFound('Microsoft.Compute/virtualMachines/extensions', `${vm.name}/${name}`, vm.resourceGroup);
  return ext;
}

/** PUT virtualMachines/{vm}/extensions/{name}. */
export function putExtension(device: DeviceState, rg: string, vmName: string, name: string, body: Record<string, unknown>): { status: 200 | 201; vm: VmRecord; ext: ExtensionRecord; job: Promise<void> } {
  requireResourceGroup(device, rg);
  const vm = device.vms.get(key(rg, vmName));
  if (vm === undefined) throw new ArmError(404, 'ParentResourceNotFound', `Can not perform requested operation on nested resource. Parent resource '${vmName}' not found.`);
  checkLocation(body, LOCATION, true);
  const props = sub(body, 'properties');
  const publisher = str(props, 'publisher');
  const type = str(props, 'type');
  const typeHandlerVersion = str(props, 'typeHandlerVersion');
  if (publisher === undefined || type === undefined || typeHandlerVersion === undefined) {
    throw badRequest('InvalidParameter', "Required parameters 'publisher', 'type' and 'typeHandlerVersion' of the extension are missing.", 'properties');
  }
  const existing = vm.extensions.get(name.toLowerCase());
  if (existing !== undefined && (existing.provisioningState === 'Creating' || existing.provisioningState === 'Updating' || existing.provisioningState === 'Deleting')) {
    throw conflict('OperationNotAllowed', `Extension '${name}' of VM '${vm.name}' has an operation in progress.`);
  }
  if (vm.provisioningState !== 'Succeeded' || vm.busy || vm.power !== 'running') {
    throw conflict('OperationNotAllowed', `Cannot modify extensions of VM '${vm.name}': it is not running (provisioning ${vm.provisioningState}, power ${vm.power}).`);
  }
  const ext: ExtensionRecord = {
    name: existing?.name ?? name,
    publisher,
    type,
    typeHandlerVersion,
    autoUpgradeMinorVersion: props['autoUpgradeMinorVersion'] === true,
    settings: props['settings'] ?? {},
    provisioningState: existing === undefined ? 'Creating' : 'Updating',
    tags: tagsOf(body),
  };
  vm.extensions.set(name.toLowerCase(), ext);
  const job = (async () => {
    await device.ctx.clock.delay(device.ctx.timings().extensionMs);
    const injected = device.ctx.faults.take('extension.install', device.name, ['extensionFailure']).length > 0;
    const problem = injected ? 'The extension install failed (injected fault).' : gpuExtensionProblem(device, vm, ext);
    if (problem !== undefined) {
      const error: ArmErrorBody = {
        code: 'VMExtensionProvisioningError',
        message: `VM has reported a failure when processing extension '${ext.name}'. Error message: "${problem}"`,
      };
      ext.provisioningState = 'Failed';
      ext.error = error;
      throw new ArmError(409, error.code, error.message);
    }
    ext.provisioningState = 'Succeeded';
    delete ext.error;
  })();
  return { status: existing === undefined ? 201 : 200, vm, ext, job };
}

export function deleteExtension(device: DeviceState, rg: string, vmName: string, name: string): Promise<void> | undefined {
  requireResourceGroup(device, rg);
  const vm = device.vms.get(key(rg, vmName));
  const ext = vm?.extensions.get(name.toLowerCase());
  if (vm === undefined || ext === undefined) return undefined;
  ext.provisioningState = 'Deleting';
  return (async () => {
    await device.ctx.clock.delay(device.ctx.timings().deleteMs);
    vm.extensions.delete(name.toLowerCase());
  })();
}

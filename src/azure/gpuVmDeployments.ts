import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuVm } from '../api/types.js';
import { GPU_EXTENSION_PUBLISHER, defaultDriverSettings, deviceRelease, type GpuDriverChoice } from '../arm/gpuExtension.js';
import { GPU_EXTENSION_NAME, OWNER_TAG, nicName } from '../naming/armNames.js';
import type { TemplateDeployment } from './deviceArm.js';

export interface AdminCredentials {
  username: string;
  password?: string;
  sshPublicKey?: string;
}

// Templates live in src/azure/templates (copied beside dist/azure by the build). They follow the official ones
// (Azure-Samples/azure-stack-edge-deploy-vms: Templates/VmTemplates/CreateVM and
// Templates/ExtensionTemplates/GpuExtension/addGPUextensiontoVM.json): apiProfile 2018-03-01-hybrid, Compute
// 2017-03-30, Network 2017-10-01, and a VM that names no OS disk (the device names it).
const TEMPLATE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'templates');
const templateCache = new Map<string, Record<string, unknown>>();

function template(file: string): Record<string, unknown> {
  let t = templateCache.get(file);
  if (t === undefined) {
    t = JSON.parse(readFileSync(join(TEMPLATE_DIR, file), 'utf8')) as Record<string, unknown>;
    templateCache.set(file, t);
  }
  return structuredClone(t);
}

type VmResource = { type: string; properties: { osProfile: Record<string, unknown> } };

/**
 * Switches the VM's osProfile from a password to an SSH public key (Linux only). The key and the username
 * stay parameter values: ARM evaluates `[...]` expressions in template text, never in parameter values.
 */
function useSshKey(t: Record<string, unknown>): void {
  const vm = (t.resources as VmResource[]).find((r) => r.type === 'Microsoft.Compute/virtualMachines');
  if (vm === undefined) return;
  const parameters = t.parameters as Record<string, unknown>;
  delete parameters.Password;
  parameters.sshPublicKey = { type: 'securestring', metadata: { description: 'OpenSSH public key of adminUsername.' } };
  delete vm.properties.osProfile.adminPassword;
  vm.properties.osProfile.linuxConfiguration = {
    disablePasswordAuthentication: true,
    ssh: { publicKeys: [{ path: "[concat('/home/', parameters('adminUsername'), '/.ssh/authorized_keys')]", keyData: "[parameters('sshPublicKey')]" }] },
  };
}

/** The CreateVM template deployment with the official parameters; the password goes as a securestring. */
export function buildCreateVmDeployment(gpuVm: GpuVm, credentials: AdminCredentials): TemplateDeployment {
  const name = gpuVm.metadata.name ?? '';
  const network = gpuVm.spec.network ?? {};
  const t = template('createVm.json');
  const parameters: TemplateDeployment['parameters'] = {
    vmName: { value: name },
    adminUsername: { value: credentials.username },
    imageName: { value: gpuVm.spec.image.name },
    vmSize: { value: gpuVm.spec.size },
    vnetName: { value: network.virtualNetwork ?? 'ASEVNET' },
    vnetRG: { value: network.virtualNetworkResourceGroup ?? 'ASERG' },
    subnetName: { value: network.subnet ?? 'ASEVNETsubNet' },
    nicName: { value: nicName(name) },
    IPConfigName: { value: `${name}-ipconfig` },
    privateIPAddress: { value: network.privateIPAddress ?? '' },
    tags: { value: { [OWNER_TAG]: gpuVm.metadata.uid ?? '', 'gpuvm.io-name': `${gpuVm.metadata.namespace}.${name}` } },
  };
  if (credentials.password !== undefined) {
    parameters.Password = { value: credentials.password };
  } else if (credentials.sshPublicKey !== undefined && gpuVm.spec.image.osType === 'Linux') {
    useSshKey(t);
    parameters.sshPublicKey = { value: credentials.sshPublicKey };
  }
  return { template: t, parameters };
}

/**
 * The GPU driver extension template deployment: the official settings for the OS and device release
 * (defaultDriverSettings), overridden key by key by spec.gpuDriver.settings.
 */
export function buildGpuDriverDeployment(gpuVm: GpuVm, driver: GpuDriverChoice, softwareVersion?: string): TemplateDeployment {
  const settings = { ...defaultDriverSettings(gpuVm.spec.image.osType, deviceRelease(softwareVersion)), ...(gpuVm.spec.gpuDriver?.settings ?? {}) };
  return {
    template: template('gpuDriverExtension.json'),
    parameters: {
      vmName: { value: gpuVm.metadata.name ?? '' },
      extensionName: { value: GPU_EXTENSION_NAME },
      publisher: { value: GPU_EXTENSION_PUBLISHER },
      type: { value: driver.extensionType },
      typeHandlerVersion: { value: driver.typeHandlerVersion },
      settings: { value: settings },
    },
  };
}

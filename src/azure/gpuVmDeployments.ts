import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuVm } from '../api/types.js';
import { GPU_EXTENSION_PUBLISHER, type GpuDriverChoice } from '../plan/gpuDriver.js';
import { GPU_EXTENSION_NAME, OWNER_TAG, nicName } from '../plan/gpuVmPlan.js';
import type { TemplateDeployment } from './deviceArm.js';

export interface AdminCredentials {
  username: string;
  password?: string;
  sshPublicKey?: string;
}

// Templates live in src/azure/templates (copied beside dist/azure by the build).
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

/** Switches the VM's osProfile from a password to an SSH public key (Linux only). */
function useSshKey(t: Record<string, unknown>, username: string, key: string): void {
  const vm = (t.resources as VmResource[]).find((r) => r.type === 'Microsoft.Compute/virtualMachines');
  if (vm === undefined) return;
  delete vm.properties.osProfile.adminPassword;
  vm.properties.osProfile.linuxConfiguration = {
    disablePasswordAuthentication: true,
    ssh: { publicKeys: [{ path: `/home/${username}/.ssh/authorized_keys`, keyData: key }] },
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
    useSshKey(t, credentials.username, credentials.sshPublicKey);
    delete (t.parameters as Record<string, unknown>).Password;
  }
  return { template: t, parameters };
}

/** The GPU driver extension template deployment. */
export function buildGpuDriverDeployment(gpuVm: GpuVm, driver: GpuDriverChoice): TemplateDeployment {
  return {
    template: template('gpuDriverExtension.json'),
    parameters: {
      vmName: { value: gpuVm.metadata.name ?? '' },
      extensionName: { value: GPU_EXTENSION_NAME },
      publisher: { value: GPU_EXTENSION_PUBLISHER },
      type: { value: driver.extensionType },
      typeHandlerVersion: { value: driver.typeHandlerVersion },
      settings: { value: gpuVm.spec.gpuDriver?.settings ?? {} },
    },
  };
}

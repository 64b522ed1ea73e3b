// Shared helpers of the simulator conformance tests: a simulator with zero timings and the real SDK clients.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAzureClients } from '../../src/azure/azureClients.js';
import type { AzureClients } from '../../src/azure/azureClients.js';
import { createDeviceClients } from '../../src/azure/deviceClients.js';
import type { DeviceClients } from '../../src/azure/deviceClients.js';
import { Simulator, ZERO_TIMINGS } from '../../src/simulator/index.js';
import type { SimulatorInput } from '../../src/simulator/index.js';

export const FAST_POLL = { updateIntervalInMs: 1 } as const;
export const FAST_RETRY = { maxRetries: 3, retryDelayInMs: 1, maxRetryDelayInMs: 5 } as const;

export async function startSim(input: SimulatorInput = {}): Promise<Simulator> {
  return Simulator.start({ ...input, timings: { ...ZERO_TIMINGS, ...(input.timings ?? {}) } });
}

export function deviceClientsFor(sim: Simulator, name: string): DeviceClients {
  const d = sim.device(name);
  return createDeviceClients(
    { armEndpoint: d.armEndpoint, loginEndpoint: d.loginEndpoint, subscriptionId: d.subscriptionId, username: d.username, password: d.password, caPem: sim.caCertificatePem },
    { retryOptions: FAST_RETRY },
  );
}

export function azureClientsFor(sim: Simulator): AzureClients {
  const a = sim.endpoints().azure;
  return createAzureClients(
    { endpoint: a.endpoint, authorityHost: a.authorityHost, tenantId: a.tenantId, clientId: a.clientId, clientSecret: a.clientSecret, caPem: sim.caCertificatePem },
    a.subscriptionId,
    { retryOptions: FAST_RETRY },
  );
}

const templateDir = join(import.meta.dirname, '..', '..', 'src', 'azure', 'templates');
export const createVmTemplate = (): Record<string, unknown> => JSON.parse(readFileSync(join(templateDir, 'createVm.json'), 'utf8')) as Record<string, unknown>;
export const gpuExtensionTemplate = (): Record<string, unknown> => JSON.parse(readFileSync(join(templateDir, 'gpuDriverExtension.json'), 'utf8')) as Record<string, unknown>;

export function createVmParameters(vmName: string, overrides: Record<string, unknown> = {}): Record<string, { value: unknown }> {
  const values: Record<string, unknown> = {
    vmName,
    adminUsername: 'azureuser',
    Password: 'S3cret-password!',
    imageName: 'ubuntu1804-gen1',
    vmSize: 'Standard_NC4as_T4_v3',
    vnetName: 'ASEVNET',
    vnetRG: 'ASERG',
    subnetName: 'ASEVNETsubNet',
    nicName: `${vmName}-nic`,
    IPConfigName: `${vmName}-ipconfig`,
    privateIPAddress: '',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v }]));
}

/** CreateVM template deployment through the hybrid Resources client; resolves when it succeeded. */
export async function deployVm(clients: DeviceClients, rg: string, vmName: string, overrides: Record<string, unknown> = {}): Promise<unknown> {
  return clients.resources.deployments.beginCreateOrUpdateAndWait(
    rg,
    `createvm-${vmName}`,
    { properties: { mode: 'Incremental', template: createVmTemplate(), parameters: createVmParameters(vmName, overrides) } },
    FAST_POLL,
  );
}

export async function deployGpuExtension(clients: DeviceClients, rg: string, vmName: string, type: string, typeHandlerVersion: string): Promise<unknown> {
  return clients.resources.deployments.beginCreateOrUpdateAndWait(
    rg,
    `gpuext-${vmName}`,
    {
      properties: {
        mode: 'Incremental',
        template: gpuExtensionTemplate(),
        parameters: { vmName: { value: vmName }, extensionName: { value: 'gpu' }, type: { value: type }, typeHandlerVersion: { value: typeHandlerVersion }, settings: { value: {} } },
      },
    },
    FAST_POLL,
  );
}

export const kubernetesRoleBody = {
  kind: 'Kubernetes',
  hostPlatform: 'Linux',
  kubernetesClusterInfo: { version: 'v1.27.1' },
  kubernetesRoleResources: { compute: { vmProfile: 'DS5' } },
  roleStatus: 'Enabled',
} as const;

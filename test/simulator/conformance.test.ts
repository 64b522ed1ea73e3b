// Each operation through the real SDK clients: success, LRO failure, 429 retried after Retry-After,
// and api-version rejection.
import { ComputeManagementClient } from '@azure/arm-compute';
import { ResourceManagementClient } from '@azure/arm-resources-profile-2020-09-01-hybrid';
import { createPipelineRequest } from '@azure/core-rest-pipeline';
import { ClientSecretCredential } from '@azure/identity';
import { createDeviceCredential } from '../../src/azure/deviceClients.js';
import type { DeviceClients } from '../../src/azure/deviceClients.js';
import type { Simulator } from '../../src/simulator/index.js';
import { FAST_POLL, azureClientsFor, createVmParameters, createVmTemplate, deployVm, deviceClientsFor, kubernetesRoleBody, startSim } from './support.js';

const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

describe('SDK conformance', () => {
  let sim: Simulator;
  let c: DeviceClients;
  let rg: string;
  let subnetId: string;
  let imageId: string;

  beforeAll(async () => {
    sim = await startSim({ devices: [{ name: 'dev', gpus: 2 }] });
    c = deviceClientsFor(sim, 'dev');
    rg = sim.device('dev').resourceGroup;
    const sub = sim.device('dev').subscriptionId;
    subnetId = `/subscriptions/${sub}/resourceGroups/ASERG/providers/Microsoft.Network/virtualNetworks/ASEVNET/subnets/ASEVNETsubNet`;
    imageId = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/images/ubuntu1804-gen1`;
  });
  afterEach(() => {
    sim.faults.clear();
  });
  afterAll(async () => {
    expect(sim.violations()).toEqual([]);
    await sim.stop();
  });

  /** Injects 429 (Retry-After 0) on the next two calls of an operation and checks the SDK retried. */
  async function throttled<T>(operation: string, device: string, call: () => Promise<T>): Promise<T> {
    sim.faults.add({ operation, kind: 'throttle', sequence: [true, true], retryAfterSeconds: 0 });
    const since = sim.audit().at(-1)?.seq ?? 0;
    const result = await call();
    const statuses = sim.audit({ since, device }).filter((e) => e.operation === operation).map((e) => e.status);
    expect(statuses.slice(0, 3)).toEqual([429, 429, statuses[2]]);
    expect(statuses[2]).toBeLessThan(300);
    return result;
  }

  /**
   * The same on the Azure side, whose clients (src/azure/azureClients.ts) fail a throttled request at once with
   * the device's Retry-After instead of retrying inside the call: the caller retries, and the third call gets through.
   */
  async function throttledFailFast<T>(operation: string, call: () => Promise<T>): Promise<T> {
    sim.faults.add({ operation, kind: 'throttle', sequence: [true, true], retryAfterSeconds: 0 });
    const since = sim.audit().at(-1)?.seq ?? 0;
    for (let i = 0; i < 2; i++) await expect(call()).rejects.toMatchObject({ name: 'DeviceThrottledError', retryAfterMs: 0 });
    const result = await call();
    const statuses = sim.audit({ since, device: 'azure' }).filter((e) => e.operation === operation).map((e) => e.status);
    expect(statuses.slice(0, 3)).toEqual([429, 429, statuses[2]]);
    expect(statuses[2]).toBeLessThan(300);
    return result;
  }

  it('resource groups', async () => {
    const created = await throttled('resourceGroup.put', 'dev', () => c.resources.resourceGroups.createOrUpdate('rg-extra', { location: 'dbelocal', tags: { a: 'b' } }));
    expect(created.name).toBe('rg-extra');
    expect((await c.resources.resourceGroups.get('rg-extra')).tags).toEqual({ a: 'b' });
    expect((await collect(c.resources.resourceGroups.list())).map((g) => g.name)).toEqual(expect.arrayContaining(['ASERG', rg, 'rg-extra']));
    await c.resources.resourceGroups.beginDeleteAndWait('rg-extra', FAST_POLL);
    await expect(c.resources.resourceGroups.get('rg-extra')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });
    await expect(c.resources.resourceGroups.createOrUpdate('rg-bad', { location: 'westus' })).rejects.toMatchObject({ statusCode: 400, code: 'LocationNotAvailableForResourceType' });
  });

  it('images, virtual networks and subnets', async () => {
    const images = await throttled('image.list', 'dev', () => collect(c.compute.images.listByResourceGroup(rg)));
    expect(images.map((i) => i.name)).toEqual(['ubuntu1804-gen1', 'windows2019-gen1']);
    expect((await c.compute.images.get(rg, 'ubuntu1804-gen1')).storageProfile?.osDisk?.osType).toBe('Linux');
    const vnet = await throttled('vnet.get', 'dev', () => c.network.virtualNetworks.get('ASERG', 'ASEVNET'));
    expect(vnet.subnets?.map((s) => s.name)).toEqual(['ASEVNETsubNet']);
    expect((await c.network.subnets.get('ASERG', 'ASEVNET', 'ASEVNETsubNet')).id).toBe(subnetId);
    await expect(c.compute.images.get(rg, 'missing')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('network interfaces', async () => {
    const nic = await throttled('nic.put', 'dev', () =>
      c.network.networkInterfaces.beginCreateOrUpdateAndWait(rg, 'nic1', { location: 'dbelocal', ipConfigurations: [{ name: 'ip1', subnet: { id: subnetId }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.57.48.99' }] }, FAST_POLL),
    );
    expect(nic.ipConfigurations?.[0]?.privateIPAddress).toBe('10.57.48.99');
    expect((await throttled('nic.get', 'dev', () => c.network.networkInterfaces.get(rg, 'nic1'))).provisioningState).toBe('Succeeded');
    expect((await collect(c.network.networkInterfaces.list(rg))).map((n) => n.name)).toContain('nic1');
    await expect(
      c.network.networkInterfaces.beginCreateOrUpdateAndWait(rg, 'nic2', { location: 'dbelocal', ipConfigurations: [{ name: 'ip', subnet: { id: subnetId }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.57.48.99' }] }, FAST_POLL),
    ).rejects.toMatchObject({ statusCode: 400, code: 'PrivateIPAddressInUse' });
    await expect(
      c.network.networkInterfaces.beginCreateOrUpdateAndWait(rg, 'nic2', { location: 'dbelocal', ipConfigurations: [{ name: 'ip', subnet: { id: `${subnetId}x` } }] }, FAST_POLL),
    ).rejects.toMatchObject({ code: 'InvalidResourceReference' });
    sim.faults.add({ operation: 'nic.create', kind: 'provisioningFailed', sequence: [true], code: 'SubnetBusy', message: 'The subnet is busy.' });
    await expect(
      c.network.networkInterfaces.beginCreateOrUpdateAndWait(rg, 'nic3', { location: 'dbelocal', ipConfigurations: [{ name: 'ip', subnet: { id: subnetId } }] }, FAST_POLL),
    ).rejects.toThrow(/SubnetBusy/);
    expect((await c.network.networkInterfaces.get(rg, 'nic3')).provisioningState).toBe('Failed');
    await c.network.networkInterfaces.beginDeleteAndWait(rg, 'nic3', FAST_POLL);
    await c.network.networkInterfaces.beginDeleteAndWait(rg, 'nic1', FAST_POLL);
    await expect(c.network.networkInterfaces.get(rg, 'nic1')).rejects.toMatchObject({ statusCode: 404 });
  });

  async function directVm(name: string): Promise<void> {
    const nic = await c.network.networkInterfaces.beginCreateOrUpdateAndWait(rg, `${name}-nic`, { location: 'dbelocal', ipConfigurations: [{ name: 'ip', subnet: { id: subnetId } }] }, FAST_POLL);
    await c.compute.virtualMachines.createOrUpdate(rg, name, {
      location: 'dbelocal',
      hardwareProfile: { vmSize: 'Standard_NC4as_T4_v3' },
      storageProfile: { imageReference: { id: imageId } },
      osProfile: { computerName: name, adminUsername: 'azureuser', adminPassword: 'Passw0rd!x' },
      networkProfile: { networkInterfaces: [{ id: nic.id ?? '' }] },
    }, FAST_POLL);
  }

  it('virtual machines: create, get with instance view, list, power actions, delete', async () => {
    await throttled('vm.put', 'dev', () => directVm('vm1'));
    const vm = await throttled('vm.get', 'dev', () => c.compute.virtualMachines.get(rg, 'vm1', { expand: 'instanceView' }));
    expect(vm.provisioningState).toBe('Succeeded');
    expect(vm.instanceView?.statuses?.map((s) => s.code)).toEqual(['ProvisioningState/succeeded', 'PowerState/running']);
    expect((await collect(c.compute.virtualMachines.list(rg))).map((v) => v.name)).toEqual(['vm1']);
    const all = await collect(c.compute.virtualMachines.listAll({ statusOnly: 'true' }));
    expect(all.map((v) => [v.name, v.instanceView?.statuses?.[1]?.code])).toEqual([['vm1', 'PowerState/running']]);
    const power = async (): Promise<string | undefined> => (await c.compute.virtualMachines.get(rg, 'vm1', { expand: 'instanceView' })).instanceView?.statuses?.[1]?.code;
    await throttled('vm.powerOff', 'dev', () => c.compute.virtualMachines.powerOff(rg, 'vm1', FAST_POLL));
    expect(await power()).toBe('PowerState/stopped');
    expect(sim.deviceState('dev').vms[0]?.holdsGpu).toBe(true);
    await c.compute.virtualMachines.start(rg, 'vm1', FAST_POLL);
    await c.compute.virtualMachines.restart(rg, 'vm1', FAST_POLL);
    expect(await power()).toBe('PowerState/running');
    await c.compute.virtualMachines.deallocate(rg, 'vm1', FAST_POLL);
    expect(await power()).toBe('PowerState/deallocated');
    expect(sim.deviceState('dev').gpus.free).toBe(2);
    await expect(c.compute.virtualMachines.restart(rg, 'vm1', FAST_POLL)).rejects.toMatchObject({ code: 'OperationNotAllowed' });
    await throttled('vm.delete', 'dev', () => c.compute.virtualMachines.delete(rg, 'vm1', FAST_POLL));
    await expect(c.compute.virtualMachines.get(rg, 'vm1')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('virtual machines: LRO failure (AllocationFailed) leaves a Failed VM that a re-PUT retries', async () => {
    sim.faults.add({ operation: 'vm.create', kind: 'allocationFailed', sequence: [true] });
    await expect(directVm('vm2')).rejects.toThrow(/AllocationFailed/);
    expect((await c.compute.virtualMachines.get(rg, 'vm2')).provisioningState).toBe('Failed');
    expect(sim.deviceState('dev').gpus.free).toBe(2);
    await directVm('vm2');
    expect((await c.compute.virtualMachines.get(rg, 'vm2')).provisioningState).toBe('Succeeded');
    await c.compute.virtualMachines.delete(rg, 'vm2', FAST_POLL);
  });

  it('VM extensions: direct PUT, get, list, delete; injected failure', async () => {
    await directVm('vm3');
    const ext = await throttled('extension.put', 'dev', () =>
      c.compute.virtualMachineExtensions.createOrUpdate(rg, 'vm3', 'gpu', { location: 'dbelocal', publisher: 'Microsoft.HpcCompute', typePropertiesType: 'NvidiaGpuDriverLinux', typeHandlerVersion: '1.8', autoUpgradeMinorVersion: true }, FAST_POLL),
    );
    expect(ext.provisioningState).toBe('Succeeded');
    expect((await c.compute.virtualMachineExtensions.list(rg, 'vm3')).value?.map((e) => e.name)).toEqual(['gpu']);
    sim.faults.add({ operation: 'extension.install', kind: 'extensionFailure', sequence: [true] });
    await expect(
      c.compute.virtualMachineExtensions.createOrUpdate(rg, 'vm3', 'gpu', { location: 'dbelocal', publisher: 'Microsoft.HpcCompute', typePropertiesType: 'NvidiaGpuDriverLinux', typeHandlerVersion: '1.8' }, FAST_POLL),
    ).rejects.toThrow(/VMExtensionProvisioningError/);
    await c.compute.virtualMachineExtensions.delete(rg, 'vm3', 'gpu', FAST_POLL);
    await expect(c.compute.virtualMachineExtensions.get(rg, 'vm3', 'gpu')).rejects.toMatchObject({ statusCode: 404 });
    await c.compute.virtualMachines.delete(rg, 'vm3', FAST_POLL);
  });

  it('deployments: create, get, list, operations, delete; InvalidTemplate; failure wrapping', async () => {
    await throttled('deployment.put', 'dev', () => deployVm(c, rg, 'dvm'));
    await throttled('operation.status', 'dev', () => deployVm(c, rg, 'dvm2'));
    const d = await throttled('deployment.get', 'dev', () => c.resources.deployments.get(rg, 'createvm-dvm'));
    expect(d.properties?.provisioningState).toBe('Succeeded');
    expect(d.properties?.outputResources?.map((r) => r.id?.split('/').slice(-2).join('/'))).toEqual(['networkInterfaces/dvm-nic', 'virtualMachines/dvm']);
    expect((await collect(c.resources.deployments.listByResourceGroup(rg))).map((x) => x.name)).toEqual(expect.arrayContaining(['createvm-dvm', 'createvm-dvm2']));
    const ops = await throttled('deployment.operations', 'dev', () => collect(c.resources.deploymentOperations.list(rg, 'createvm-dvm')));
    expect(ops.map((o) => [o.properties?.targetResource?.resourceType, o.properties?.provisioningState])).toEqual([
      ['Microsoft.Network/networkInterfaces', 'Succeeded'],
      ['Microsoft.Compute/virtualMachines', 'Succeeded'],
    ]);
    const single = await c.resources.deploymentOperations.get(rg, 'createvm-dvm', ops[1]?.operationId ?? '');
    expect(single.properties?.targetResource?.resourceName).toBe('dvm');
    await expect(c.resources.deploymentOperations.get(rg, 'createvm-dvm', 'NOPE')).rejects.toMatchObject({ statusCode: 404 });
    const nicIp = (await c.network.networkInterfaces.get(rg, 'dvm-nic')).ipConfigurations?.[0]?.privateIPAddress;
    expect(nicIp).toMatch(/^10\.57\.48\./);
    await c.resources.deployments.beginDeleteAndWait(rg, 'createvm-dvm', FAST_POLL);
    await expect(c.resources.deployments.get(rg, 'createvm-dvm')).rejects.toMatchObject({ statusCode: 404, code: 'DeploymentNotFound' });
    const bad = createVmTemplate();
    (bad['variables'] as Record<string, string>)['oops'] = "[reticulate('splines')]";
    await expect(
      c.resources.deployments.beginCreateOrUpdateAndWait(rg, 'bad', { properties: { mode: 'Incremental', template: bad, parameters: createVmParameters('x') } }, FAST_POLL),
    ).rejects.toMatchObject({ statusCode: 400, code: 'InvalidTemplate', message: expect.stringContaining("'reticulate'") });
    const missingParam = createVmParameters('x') as Record<string, unknown>;
    delete missingParam['vmName'];
    await expect(
      c.resources.deployments.beginCreateOrUpdateAndWait(rg, 'bad', { properties: { mode: 'Incremental', template: createVmTemplate(), parameters: missingParam } }, FAST_POLL),
    ).rejects.toMatchObject({ code: 'InvalidTemplate', message: expect.stringContaining("'vmName' is not provided") });
    await expect(deployVm(c, rg, 'noimg', { imageName: 'nope' })).rejects.toThrow(/DeploymentFailed/);
    const failed = await c.resources.deployments.get(rg, 'createvm-noimg');
    expect(failed.properties?.error?.details?.[0]?.details?.[0]?.code).toBe('ImageNotFound');
  });

  it('Azure side: device, roles, capacity', async () => {
    const a = azureClientsFor(sim);
    const arg = sim.endpoints().azure.resourceGroup;
    const device = await throttledFailFast('device.get', () => a.dataBoxEdge.devices.get('dev', arg));
    expect([device.sku?.name, device.deviceSoftwareVersion, device.configuredRoleTypes]).toEqual(['EdgeP_High', '3.2.2403.1234', []]);
    const role = await throttledFailFast('role.put', () => a.dataBoxEdge.roles.beginCreateOrUpdateAndWait('dev', 'k8s', arg, kubernetesRoleBody, FAST_POLL));
    expect(role.kind).toBe('Kubernetes');
    expect((await throttledFailFast('role.get', () => a.dataBoxEdge.roles.get('dev', 'k8s', arg))).name).toBe('k8s');
    expect((await collect(a.dataBoxEdge.roles.listByDataBoxEdgeDevice('dev', arg))).map((r) => r.name)).toEqual(['k8s']);
    expect((await a.dataBoxEdge.devices.get('dev', arg)).configuredRoleTypes).toEqual(['Kubernetes']);
    const cap = await throttledFailFast('capacity.get', () => a.getGpuCapacity(sim.device('dev').azureResourceId));
    expect(cap.gpuTotalUnitsCount).toBe(2);
    await expect(a.dataBoxEdge.roles.beginCreateOrUpdateAndWait('dev', 'other', arg, kubernetesRoleBody, FAST_POLL)).rejects.toMatchObject({ code: 'RoleAlreadyExists' });
    await a.dataBoxEdge.roles.beginDeleteAndWait('dev', 'k8s', arg, FAST_POLL);
    await expect(a.dataBoxEdge.roles.get('dev', 'k8s', arg)).rejects.toMatchObject({ statusCode: 404 });
    // LRO failure: the role ends Failed without GPUs; a re-PUT retries it.
    sim.faults.add({ operation: 'role.create', kind: 'provisioningFailed', device: 'dev', sequence: [true] });
    await expect(a.dataBoxEdge.roles.beginCreateOrUpdateAndWait('dev', 'k8s', arg, kubernetesRoleBody, FAST_POLL)).rejects.toThrow(/InternalOperationError/);
    expect((await a.dataBoxEdge.roles.get('dev', 'k8s', arg)) as { provisioningState?: string }).toMatchObject({ provisioningState: 'Failed' });
    expect(sim.deviceState('dev').gpus.kubernetes).toBe(0);
    expect((await a.dataBoxEdge.devices.get('dev', arg)).configuredRoleTypes).toEqual([]);
    await a.dataBoxEdge.roles.beginCreateOrUpdateAndWait('dev', 'k8s', arg, kubernetesRoleBody, FAST_POLL);
    await a.dataBoxEdge.roles.beginDeleteAndWait('dev', 'k8s', arg, FAST_POLL);
    await expect(a.dataBoxEdge.devices.get('nope', arg)).rejects.toMatchObject({ statusCode: 404 });
  });

  it('5xx with Retry-After and plain 500 are retried by the SDK', async () => {
    sim.faults.add({ operation: 'vnet.get', kind: 'error503', sequence: [true], retryAfterSeconds: 0 });
    sim.faults.add({ operation: 'subnet.get', kind: 'error500', sequence: [true] });
    sim.faults.add({ operation: 'image.get', kind: 'latency', latencyMs: 50, sequence: [true] });
    await c.network.virtualNetworks.get('ASERG', 'ASEVNET');
    await c.network.subnets.get('ASERG', 'ASEVNET', 'ASEVNETsubNet');
    const t = Date.now();
    await c.compute.images.get(rg, 'ubuntu1804-gen1');
    expect(Date.now() - t).toBeGreaterThanOrEqual(45);
    const statuses = sim.audit({ device: 'dev' }).filter((e) => ['vnet.get', 'subnet.get'].includes(e.operation)).slice(-4).map((e) => e.status);
    expect(statuses).toEqual([503, 200, 500, 200]);
  });

  it('rejects api-versions outside the device profile (the unpinned Compute client, a wrong Resources version)', async () => {
    const d = sim.device('dev');
    const credential = createDeviceCredential({ ...d, caPem: sim.caCertificatePem });
    const unpinned = new ComputeManagementClient(credential, d.subscriptionId, { endpoint: d.armEndpoint, credentials: { scopes: [`${d.armEndpoint}/.default`] }, tlsOptions: { ca: sim.caCertificatePem } });
    await expect(unpinned.virtualMachines.get(rg, 'dvm')).rejects.toMatchObject({ statusCode: 400, code: 'NoRegisteredProviderFound' });
    const resources = new ResourceManagementClient(credential, d.subscriptionId, { endpoint: d.armEndpoint, credentialScopes: [`${d.armEndpoint}/.default`], tlsOptions: { ca: sim.caCertificatePem }, apiVersion: '2021-04-01' });
    await expect(resources.deployments.get(rg, 'createvm-dvm2')).rejects.toMatchObject({ statusCode: 400, code: 'NoRegisteredProviderFound' });
    // Sent through a client without the controller's api-version policy, which would rewrite the version.
    const res = await resources.sendRequest(createPipelineRequest({ url: `${d.armEndpoint}/subscriptions/${d.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/networkInterfaces?api-version=2023-09-01`, method: 'GET' }));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.bodyAsText ?? '{}')).toMatchObject({ error: { code: 'NoRegisteredProviderFound' } });
  });

  it('issues tokens to a service principal (client credentials) on the device ADFS', async () => {
    const d = sim.device('dev');
    const credential = new ClientSecretCredential('adfs', d.servicePrincipal.clientId, d.servicePrincipal.clientSecret, { authorityHost: d.loginEndpoint, tlsOptions: { ca: sim.caCertificatePem } });
    const token = await credential.getToken(`${d.armEndpoint}/.default`);
    expect(token.token.split('.')).toHaveLength(3);
    const bad = new ClientSecretCredential('adfs', d.servicePrincipal.clientId, 'nope', { authorityHost: d.loginEndpoint, tlsOptions: { ca: sim.caCertificatePem } });
    await expect(bad.getToken(`${d.armEndpoint}/.default`)).rejects.toThrow(/invalid_client|secret/i);
  });

  it('refuses a wrong EdgeArmUser password at the token endpoint', async () => {
    const d = sim.device('dev');
    const credential = createDeviceCredential({ ...d, password: 'wrong', caPem: sim.caCertificatePem });
    await expect(credential.getToken(`${d.armEndpoint}/.default`)).rejects.toThrow(/invalid_grant|MSIS9659|password/i);
  });
});

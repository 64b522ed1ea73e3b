// Device profiles through real SDK clients (and raw HTTP where a client cannot express the request):
// api-versions and the providers endpoint per set, ADFS token forms, IoT/hidden compute roles, the stopped
// GPU VM takeover, the GPU exhaustion variants and managed OS disks.
import type { IoTRole, KubernetesRole } from '@azure/arm-databoxedge';
import { UsernamePasswordCredential } from '@azure/identity';
import { API_VERSION_SETS } from '../../src/simulator/index.js';
import type { ApiVersionSetName, DeviceProfileInput, Simulator } from '../../src/simulator/index.js';
import { RawClient, errorCode } from './raw.js';
import type { RawResponse } from './raw.js';
import { FAST_POLL, azureClientsFor, createVmParameters, createVmTemplate, deployVm, deviceClientsFor, kubernetesRoleBody, startSim } from './support.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(read: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(20);
  }
}

const message = (res: RawResponse): string => (res.json as { error?: { message?: string } } | undefined)?.error?.message ?? '';

describe('api-versions and the providers endpoint per profile', () => {
  const sets: ApiVersionSetName[] = ['ase-article', 'hybrid-2020-09-01', 'both', 'future-only'];
  let sim: Simulator;
  let raw: RawClient;
  beforeAll(async () => {
    sim = await startSim({ devices: sets.map((s) => ({ name: s, gpus: 1, profile: { apiVersions: s } })) });
    raw = new RawClient(sim.caCertificatePem);
  });
  afterAll(async () => {
    raw.close();
    expect(sim.violations()).toEqual([]);
    await sim.stop();
  });

  it('lists exactly the accepted versions per resource type (Resources client, Providers_List / Providers_Get)', async () => {
    for (const name of sets) {
      const set = API_VERSION_SETS[name];
      const resources = deviceClientsFor(sim, name).resources;
      const compute = await resources.providers.get('Microsoft.Compute');
      expect(compute).toMatchObject({ namespace: 'Microsoft.Compute', registrationState: 'Registered' });
      const versionsOf = (type: string): string[] => [...(compute.resourceTypes?.find((t) => t.resourceType === type)?.apiVersions ?? [])].sort();
      expect(versionsOf('virtualMachines')).toEqual([...set.compute].sort());
      expect(versionsOf('virtualMachines/extensions')).toEqual([...set.compute].sort());
      expect(versionsOf('disks')).toEqual([...set.disks].sort());
      expect(compute.resourceTypes?.map((t) => t.resourceType).sort()).toEqual(['disks', 'images', 'locations', 'locations/operations', 'virtualMachines', 'virtualMachines/extensions']);
      expect(compute.resourceTypes?.every((t) => t.locations?.join() === 'dbelocal')).toBe(true);
      const all = [];
      for await (const p of resources.providers.list()) all.push(p);
      expect(all.map((p) => p.namespace).sort()).toEqual(['Microsoft.Compute', 'Microsoft.Network', 'Microsoft.Resources']);
      const network = all.find((p) => p.namespace === 'Microsoft.Network');
      expect(network?.resourceTypes?.map((t) => [t.resourceType, [...(t.apiVersions ?? [])].sort()])).toEqual([
        ['networkInterfaces', [...set.network].sort()],
        ['virtualNetworks', [...set.network].sort()],
      ]);
      const rm = all.find((p) => p.namespace === 'Microsoft.Resources');
      expect(rm?.resourceTypes?.map((t) => t.resourceType)).toEqual(['deployments', 'deployments/operations', 'resourceGroups']);
      expect([...(rm?.resourceTypes?.[0]?.apiVersions ?? [])].sort()).toEqual([...set.resources].sort());
      await expect(resources.providers.get('Microsoft.Storage')).rejects.toMatchObject({ statusCode: 404 });
    }
  });

  it('accepts every listed version and refuses the others, with subscriptions and operation-status URLs working', async () => {
    for (const name of sets) {
      const set = API_VERSION_SETS[name];
      const d = sim.device(name);
      const token = await raw.deviceToken(sim, name);
      const sub = `${d.armEndpoint}/subscriptions/${d.subscriptionId}`;
      const rg = `${sub}/resourceGroups/${d.resourceGroup}`;
      const get = (url: string): Promise<RawResponse> => raw.request(url, 'GET', { token });
      const urls: [string, readonly string[]][] = [
        [`${rg}/providers/Microsoft.Compute/virtualMachines`, set.compute],
        [`${rg}/providers/Microsoft.Compute/images`, set.compute],
        [`${rg}/providers/Microsoft.Compute/disks`, set.disks],
        [`${rg}/providers/Microsoft.Network/networkInterfaces`, set.network],
        [`${rg}/providers/Microsoft.Resources/deployments`, set.resources],
        [`${sub}/resourcegroups`, set.resources],
        [sub, set.subscriptions],
      ];
      for (const [url, versions] of urls) {
        for (const v of versions) expect([url, v, (await get(`${url}?api-version=${v}`)).status]).toEqual([url, v, 200]);
      }
      const others = Object.values(API_VERSION_SETS).flatMap((s) => s.compute).filter((v) => !set.compute.includes(v));
      for (const v of others) {
        const refused = await get(`${rg}/providers/Microsoft.Compute/virtualMachines?api-version=${v}`);
        expect([refused.status, errorCode(refused)]).toEqual([400, 'NoRegisteredProviderFound']);
        expect(message(refused)).toContain(`supported api-versions are '${set.compute.join(', ')}'`);
      }
      // ARM's own endpoints answer InvalidApiVersionParameter, as does a value that is no api-version at all.
      const badRg = await get(`${sub}/resourcegroups?api-version=2015-01-01`);
      expect([badRg.status, errorCode(badRg)]).toEqual([400, 'InvalidApiVersionParameter']);
      expect(message(badRg)).toBe(`The api-version '2015-01-01' is invalid. The supported versions are '${set.resources.join(',')}'.`);
      const garbage = await get(`${rg}/providers/Microsoft.Compute/virtualMachines?api-version=latest`);
      expect(errorCode(garbage)).toBe('InvalidApiVersionParameter');
      // An image PUT is an LRO: its Azure-AsyncOperation URL answers whatever the set.
      const put = await raw.request(`${rg}/providers/Microsoft.Compute/images/copy?api-version=${set.compute[0] ?? ''}`, 'PUT', {
        token,
        body: JSON.stringify({ location: 'dbelocal', properties: { storageProfile: { osDisk: { osType: 'Linux', osState: 'Generalized' } } } }),
      });
      expect(put.status).toBe(201);
      const status = await get(String(put.headers['azure-asyncoperation']));
      expect([status.status, (status.json as { status?: string }).status]).toEqual([200, 'Succeeded']);
    }
  });

  it('gives no instance views in the 2017-12-01 list of every VM (no statusOnly); instanceView is served', async () => {
    const d = sim.device('ase-article');
    const token = await raw.deviceToken(sim, 'ase-article');
    const sub = `${d.armEndpoint}/subscriptions/${d.subscriptionId}`;
    const rgUrl = `${sub}/resourceGroups/${d.resourceGroup}`;
    // A VM from the official-style template (Compute 2017-03-30 inside the template), deployed with Resources 2020-06-01.
    const deployment = await raw.request(`${rgUrl}/providers/Microsoft.Resources/deployments/createvm-v1?api-version=2020-06-01`, 'PUT', {
      token,
      body: JSON.stringify({ properties: { mode: 'Incremental', template: createVmTemplate(), parameters: createVmParameters('v1') } }),
    });
    expect(deployment.status).toBe(201);
    await until(() => sim.deviceState('ase-article').vms, (vms) => vms[0]?.powerState === 'running');
    const listAll = await raw.request(`${sub}/providers/Microsoft.Compute/virtualMachines?api-version=2017-12-01&statusOnly=true`, 'GET', { token });
    expect(listAll.status).toBe(200);
    const vms = (listAll.json as { value: { name: string; properties: Record<string, unknown> }[] }).value;
    expect(vms.map((v) => [v.name, 'instanceView' in v.properties])).toEqual([['v1', false]]);
    const view = await raw.request(`${rgUrl}/providers/Microsoft.Compute/virtualMachines/v1/instanceView?api-version=2017-12-01`, 'GET', { token });
    expect((view.json as { statuses: { code: string }[] }).statuses.map((s) => s.code)).toContain('PowerState/running');
  });
});

describe('ADFS token forms per profile', () => {
  let sim: Simulator;
  let raw: RawClient;
  beforeAll(async () => {
    sim = await startSim({ devices: [{ name: 'adal', gpus: 1, profile: { tokenAudience: 'resource' } }, { name: 'msal', gpus: 1 }] });
    raw = new RawClient(sim.caCertificatePem);
  });
  afterAll(async () => {
    raw.close();
    await sim.stop();
  });
  const subscriptionGet = async (device: string, token: string): Promise<number> => {
    const d = sim.device(device);
    return (await raw.request(`${d.armEndpoint}/subscriptions/${d.subscriptionId}?api-version=2016-06-01`, 'GET', { token })).status;
  };

  it('resource-only: the documented resource= form works, the MSAL scope= form is refused ADFS-style', async () => {
    const d = sim.device('adal');
    const withResource = await raw.deviceTokenRequest(sim, 'adal', { resource: `${d.armEndpoint}/` });
    expect(withResource.status).toBe(200);
    expect(await subscriptionGet('adal', (withResource.json as { access_token: string }).access_token)).toBe(200);
    const withScope = await raw.deviceTokenRequest(sim, 'adal', { scope: `${d.armEndpoint}/.default openid profile offline_access` });
    expect(withScope.status).toBe(400);
    expect(withScope.json).toMatchObject({ error: 'invalid_request', error_codes: [90056] });
    expect((withScope.json as { error_description: string }).error_description).toMatch(/^AADSTS90056/);
    // The SDK's MSAL-based credential cannot sign in to such a device; the controller's (resource form) can.
    const msal = new UsernamePasswordCredential('adfs', d.clientId, d.username, d.password, { authorityHost: d.loginEndpoint, tlsOptions: { ca: sim.caCertificatePem } });
    await expect(msal.getToken(`${d.armEndpoint}/.default`)).rejects.toThrow(/AADSTS90056/);
    await expect(deviceClientsFor(sim, 'adal').resources.providers.get('Microsoft.Compute')).resolves.toMatchObject({ namespace: 'Microsoft.Compute' });
  });

  it('resource-or-scope: both forms work; a resource or scope naming another host is refused; a wrong password reads AADSTS50126', async () => {
    const d = sim.device('msal');
    for (const fields of [{ resource: `${d.armEndpoint}/` }, { scope: `${d.armEndpoint}/.default openid offline_access` }] as Record<string, string>[]) {
      const res = await raw.deviceTokenRequest(sim, 'msal', fields);
      expect(res.status).toBe(200);
      expect(await subscriptionGet('msal', (res.json as { access_token: string }).access_token)).toBe(200);
    }
    const other = sim.device('adal').armEndpoint;
    for (const fields of [{ resource: `${other}/` }, { scope: `${other}/.default` }, { resource: 'https://management.azure.com/' }] as Record<string, string>[]) {
      const res = await raw.deviceTokenRequest(sim, 'msal', fields);
      expect([res.status, (res.json as { error?: string }).error, (res.json as { error_codes?: number[] }).error_codes]).toEqual([400, 'invalid_resource', [90056]]);
    }
    const wrong = await raw.request(`${d.loginEndpoint}/adfs/oauth2/token`, 'POST', {
      body: new URLSearchParams({ grant_type: 'password', username: d.username, password: 'nope', client_id: d.clientId, resource: `${d.armEndpoint}/` }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(wrong.json).toMatchObject({ error: 'invalid_grant', error_codes: [50126] });
    // A token of one device is refused by another device's ARM.
    expect(await subscriptionGet('adal', await raw.deviceToken(sim, 'msal', 'resource'))).toBe(401);
  });
});

describe('compute roles on the Azure side per profile', () => {
  let sim: Simulator;
  const rgOf = (): string => sim.endpoints().azure.resourceGroup;
  const roles = async (device: string): Promise<(IoTRole | KubernetesRole)[]> => {
    const out: (IoTRole | KubernetesRole)[] = [];
    for await (const r of azureClientsFor(sim).dataBoxEdge.roles.listByDataBoxEdgeDevice(device, rgOf())) out.push(r as IoTRole | KubernetesRole);
    return out;
  };
  const used = async (device: string): Promise<number> => (await azureClientsFor(sim).getGpuCapacity(sim.device(device).azureResourceId)).gpuUsedUnitsCount;
  beforeAll(async () => {
    const device = (name: string, profile: DeviceProfileInput): { name: string; gpus: number; kubernetes: boolean; profile: DeviceProfileInput } => ({ name, gpus: 2, kubernetes: true, profile });
    sim = await startSim({ devices: [device('iot', { computeRole: 'IOT' }), device('hidden', { computeRole: 'none' }), device('k8s', 'default')] });
  });
  afterAll(async () => {
    expect(sim.violations()).toEqual([]);
    await sim.stop();
  });

  it('IOT: an IoT role (RoleGet.json shape) holds every GPU and configuredRoleTypes says IOT', async () => {
    const [role, ...more] = await roles('iot');
    expect(more).toEqual([]);
    expect(role).toMatchObject({ kind: 'IOT', hostPlatform: 'Linux', hostPlatformType: 'KubernetesCluster', roleStatus: 'Enabled', shareMappings: [] });
    expect((role as IoTRole).ioTDeviceDetails?.deviceId).toBeDefined();
    expect((role as IoTRole).ioTEdgeDeviceDetails?.ioTHostHub).toBeDefined();
    expect((await azureClientsFor(sim).dataBoxEdge.devices.get('iot', rgOf())).configuredRoleTypes).toEqual(['IOT']);
    expect(await used('iot')).toBe(2);
  });

  it('IOT: a Kubernetes role PUT is its own role; both are listed', async () => {
    const created = await azureClientsFor(sim).dataBoxEdge.roles.beginCreateOrUpdateAndWait('iot', 'k8s', rgOf(), kubernetesRoleBody, FAST_POLL);
    expect(created).toMatchObject({ kind: 'Kubernetes', hostPlatform: 'Linux', hostPlatformType: 'KubernetesCluster', provisioningState: 'Created' });
    expect((await roles('iot')).map((r) => r.kind).sort()).toEqual(['IOT', 'Kubernetes']);
    expect([...((await azureClientsFor(sim).dataBoxEdge.devices.get('iot', rgOf())).configuredRoleTypes ?? [])].sort()).toEqual(['IOT', 'Kubernetes']);
    expect(sim.deviceState('iot').gpus).toMatchObject({ kubernetes: 2, free: 0 });
  });

  it('none: no role is listed, yet capacity shows the GPUs in use', async () => {
    expect(await roles('hidden')).toEqual([]);
    expect((await azureClientsFor(sim).dataBoxEdge.devices.get('hidden', rgOf())).configuredRoleTypes).toEqual([]);
    expect(await used('hidden')).toBe(2);
    expect(sim.deviceState('hidden').roles).toEqual([expect.objectContaining({ listed: false, provisioningState: 'Created' })]);
  });

  it('default: a Kubernetes role with hostPlatform Linux and provisioningState', async () => {
    expect((await roles('k8s')).map((r) => [r.kind, (r as KubernetesRole).provisioningState, r.hostPlatform])).toEqual([['Kubernetes', 'Created', 'Linux']]);
  });
});

describe('stopped GPU VMs and Kubernetes (release notes 2103–2205 known issue)', () => {
  let sim: Simulator;
  afterEach(async () => {
    expect(sim.violations()).toEqual([]);
    await sim.stop();
  });
  const start = async (profile: DeviceProfileInput): Promise<void> => {
    sim = await startSim({ devices: [{ name: 'd', gpus: 2, profile }] });
    await deployVm(deviceClientsFor(sim, 'd'), sim.device('d').resourceGroup, 'vm1');
    await azureClientsFor(sim).dataBoxEdge.roles.beginCreateOrUpdateAndWait('d', 'k8s', sim.endpoints().azure.resourceGroup, kubernetesRoleBody, FAST_POLL);
  };
  const vm = (): NonNullable<ReturnType<Simulator['deviceState']>['vms'][number]> => {
    const v = sim.deviceState('d').vms[0];
    if (v === undefined) throw new Error('no VM');
    return v;
  };

  it('a VM stopped long enough loses its GPU; starting it then fails and it stays stopped without a GPU', async () => {
    await start({ stoppedGpuTakeoverMs: 30 });
    const c = deviceClientsFor(sim, 'd');
    const rg = sim.device('d').resourceGroup;
    await c.compute.virtualMachines.beginPowerOffAndWait(rg, 'vm1', FAST_POLL);
    await until(vm, (v) => v.gpuTakenOver);
    expect(vm()).toMatchObject({ powerState: 'stopped', holdsGpu: false, gpuTakenOver: true });
    expect(sim.deviceState('d').gpus).toMatchObject({ kubernetes: 2, free: 0 });
    await expect(c.compute.virtualMachines.beginStartAndWait(rg, 'vm1', FAST_POLL)).rejects.toMatchObject({ code: 'AllocationFailed' });
    expect(vm()).toMatchObject({ powerState: 'stopped', holdsGpu: false });
    // Deallocation and the role's removal give it back a GPU.
    await c.compute.virtualMachines.beginDeallocateAndWait(rg, 'vm1', FAST_POLL);
    await azureClientsFor(sim).dataBoxEdge.roles.beginDeleteAndWait('d', 'k8s', sim.endpoints().azure.resourceGroup, FAST_POLL);
    await c.compute.virtualMachines.beginStartAndWait(rg, 'vm1', FAST_POLL);
    expect(vm()).toMatchObject({ powerState: 'running', holdsGpu: true, gpuTakenOver: false });
  });

  it('the failed start of a VM that lost its GPU follows gpuExhaustion', async () => {
    await start({ stoppedGpuTakeoverMs: 30, gpuExhaustion: 'OtherCode' });
    const c = deviceClientsFor(sim, 'd');
    const rg = sim.device('d').resourceGroup;
    await c.compute.virtualMachines.beginPowerOffAndWait(rg, 'vm1', FAST_POLL);
    await until(vm, (v) => v.gpuTakenOver);
    await expect(c.compute.virtualMachines.beginStartAndWait(rg, 'vm1', FAST_POLL)).rejects.toMatchObject({ code: 'GpuNotAvailable' });
    expect(vm()).toMatchObject({ powerState: 'stopped', holdsGpu: false, gpuTakenOver: true });
  });

  it('a VM started before the delay keeps its GPU; without the setting nothing is taken', async () => {
    await start({ stoppedGpuTakeoverMs: 300 });
    const c = deviceClientsFor(sim, 'd');
    const rg = sim.device('d').resourceGroup;
    await c.compute.virtualMachines.beginPowerOffAndWait(rg, 'vm1', FAST_POLL);
    await c.compute.virtualMachines.beginStartAndWait(rg, 'vm1', FAST_POLL);
    await c.compute.virtualMachines.beginPowerOffAndWait(rg, 'vm1', FAST_POLL);
    await c.compute.virtualMachines.beginStartAndWait(rg, 'vm1', FAST_POLL);
    await sleep(400);
    expect(vm()).toMatchObject({ powerState: 'running', holdsGpu: true, gpuTakenOver: false });
    await sim.stop();
    await start('default');
    await deviceClientsFor(sim, 'd').compute.virtualMachines.beginPowerOffAndWait(sim.device('d').resourceGroup, 'vm1', FAST_POLL);
    await sleep(100);
    expect(vm()).toMatchObject({ powerState: 'stopped', holdsGpu: true });
  });
});

describe('GPU exhaustion variants', () => {
  let sim: Simulator;
  beforeAll(async () => {
    const device = (name: string, gpuExhaustion: string): { name: string; gpus: number; kubernetes: boolean; profile: DeviceProfileInput } => ({ name, gpus: 1, kubernetes: true, profile: { gpuExhaustion } as DeviceProfileInput });
    sim = await startSim({ devices: [device('alloc', 'AllocationFailed'), device('other', 'OtherCode'), device('bare', 'BareDeploymentFailed')] });
  });
  afterAll(async () => {
    expect(sim.violations()).toEqual([]);
    await sim.stop();
  });

  const failedDeployment = async (device: string): Promise<{ codes: string[]; operations: { state?: string; hasStatusMessage: boolean }[] }> => {
    const c = deviceClientsFor(sim, device);
    const rg = sim.device(device).resourceGroup;
    await expect(deployVm(c, rg, 'vm1')).rejects.toThrow();
    const d = await c.resources.deployments.get(rg, 'createvm-vm1');
    const codes: string[] = [];
    for (let e = d.properties?.error; e !== undefined; e = e.details?.[0]) codes.push(e.code ?? '');
    const operations = [];
    for await (const op of c.resources.deploymentOperations.list(rg, 'createvm-vm1')) {
      if (op.properties?.targetResource?.resourceType === 'Microsoft.Compute/virtualMachines') operations.push({ state: op.properties.provisioningState, hasStatusMessage: op.properties.statusMessage !== undefined });
    }
    const vm = await c.compute.virtualMachines.instanceView(rg, 'vm1');
    expect(vm.statuses?.map((s) => s.code).filter((x) => x?.startsWith('PowerState/'))).toEqual([]);
    expect(sim.deviceState(device).vms.filter((v) => v.name === 'vm1')).toEqual([expect.objectContaining({ provisioningState: 'Failed', holdsGpu: false, osDisk: null })]);
    return { codes, operations };
  };

  it('AllocationFailed: the nested chain ends with AllocationFailed', async () => {
    expect((await failedDeployment('alloc')).codes).toEqual(['DeploymentFailed', 'ResourceDeploymentFailure', 'AllocationFailed']);
  });

  it('OtherCode: the nested chain ends with another code', async () => {
    expect((await failedDeployment('other')).codes).toEqual(['DeploymentFailed', 'ResourceDeploymentFailure', 'GpuNotAvailable']);
  });

  it('BareDeploymentFailed: DeploymentFailed without details, the operation without statusMessage', async () => {
    const { codes, operations } = await failedDeployment('bare');
    expect(codes).toEqual(['DeploymentFailed']);
    expect(operations).toEqual([{ state: 'Failed', hasStatusMessage: false }]);
  });

  it('applies to a direct VM PUT too', async () => {
    for (const [device, code] of [['alloc', 'AllocationFailed'], ['other', 'GpuNotAvailable'], ['bare', 'DeploymentFailed']] as const) {
      const c = deviceClientsFor(sim, device);
      const rg = sim.device(device).resourceGroup;
      await expect(deployVm(c, rg, 'vm2')).rejects.toThrow();
      const existing = await c.compute.virtualMachines.get(rg, 'vm2');
      await expect(c.compute.virtualMachines.beginCreateOrUpdateAndWait(rg, 'vm2', { ...existing, location: 'dbelocal', osProfile: { ...existing.osProfile, adminPassword: 'S3cret-password!' } }, FAST_POLL)).rejects.toThrow(new RegExp(`has failed\\. ${code}\\.`));
      expect((await c.compute.virtualMachines.get(rg, 'vm2')).provisioningState).toBe('Failed');
    }
  });
});

describe('managed OS disks', () => {
  let sim: Simulator;
  let raw: RawClient;
  beforeAll(async () => {
    sim = await startSim({ devices: [{ name: 'keep', gpus: 2, profile: { osDiskSurvivesVmDelete: true } }, { name: 'drop', gpus: 2, profile: { osDiskSurvivesVmDelete: false } }] });
    raw = new RawClient(sim.caCertificatePem);
  });
  afterAll(async () => {
    raw.close();
    expect(sim.violations()).toEqual([]);
    await sim.stop();
  });
  const diskUrl = (device: string, name = ''): string => {
    const d = sim.device(device);
    return `${d.armEndpoint}/subscriptions/${d.subscriptionId}/resourceGroups/${d.resourceGroup}/providers/Microsoft.Compute/disks${name === '' ? '' : `/${name}`}?api-version=2019-07-01`;
  };

  /** The CreateVM template with the OS disk named (the official one names none). */
  const namedDiskTemplate = (): Record<string, unknown> => {
    const t = createVmTemplate();
    const vm = (t['resources'] as { type: string; properties: { storageProfile: Record<string, unknown> } }[]).find((r) => r.type === 'Microsoft.Compute/virtualMachines');
    if (vm !== undefined) vm.properties.storageProfile['osDisk'] = { name: "[concat(parameters('vmName'), '-osdisk')]", createOption: 'FromImage' };
    return t;
  };

  it('a VM gets the disk its template names; attached disks cannot be deleted; the disk survives the VM and blocks its re-creation', async () => {
    const c = deviceClientsFor(sim, 'keep');
    const rg = sim.device('keep').resourceGroup;
    const token = await raw.deviceToken(sim, 'keep');
    await deployVm(c, rg, 'vm1', {}, namedDiskTemplate());
    const vm = await c.compute.virtualMachines.get(rg, 'vm1');
    expect(vm.storageProfile?.osDisk?.name).toBe('vm1-osdisk');
    expect(vm.storageProfile?.osDisk?.managedDisk?.id).toMatch(/\/providers\/Microsoft\.Compute\/disks\/vm1-osdisk$/);
    const disk = await raw.request(diskUrl('keep', 'vm1-osdisk'), 'GET', { token });
    expect(disk.json).toMatchObject({ name: 'vm1-osdisk', type: 'Microsoft.Compute/disks', managedBy: vm.id, properties: { osType: 'Linux', diskState: 'Attached', provisioningState: 'Succeeded' } });
    const attached = await raw.request(diskUrl('keep', 'vm1-osdisk'), 'DELETE', { token });
    expect([attached.status, errorCode(attached)]).toEqual([409, 'OperationNotAllowed']);
    await c.compute.virtualMachines.beginDeleteAndWait(rg, 'vm1', FAST_POLL);
    const left = await raw.request(diskUrl('keep'), 'GET', { token });
    expect((left.json as { value: Record<string, unknown>[] }).value).toEqual([expect.objectContaining({ name: 'vm1-osdisk', properties: expect.objectContaining({ diskState: 'Unattached' }) })]);
    expect('managedBy' in ((left.json as { value: Record<string, unknown>[] }).value[0] ?? {})).toBe(false);
    expect(sim.deviceState('keep').disks).toEqual(['vm1-osdisk']);
    // Re-creating the VM with a template naming the same disk conflicts.
    await expect(c.resources.deployments.beginCreateOrUpdateAndWait(rg, 'createvm-again', { properties: { mode: 'Incremental', template: namedDiskTemplate(), parameters: createVmParameters('vm1', { nicName: 'vm1-nic' }) } }, FAST_POLL)).rejects.toThrow();
    const again = await c.resources.deployments.get(rg, 'createvm-again');
    expect(again.properties?.error?.details?.[0]?.details?.[0]?.code).toBe('ConflictingUserInput');
    expect(sim.deviceState('keep').vms).toEqual([]);
    expect(sim.deviceState('keep').gpus.free).toBe(2);
    const deleted = await raw.request(diskUrl('keep', 'vm1-osdisk'), 'DELETE', { token });
    expect(deleted.status).toBe(202);
    await until(() => sim.deviceState('keep').disks, (d) => d.length === 0);
    expect(sim.deviceState('keep').disks).toEqual([]);
    expect((await raw.request(diskUrl('keep', 'vm1-osdisk'), 'GET', { token })).status).toBe(404);
  });

  it('a VM whose PUT names no OS disk gets <vm>_OsDisk_1_<32 hex>; under osDiskSurvivesVmDelete false it goes with the VM', async () => {
    const c = deviceClientsFor(sim, 'drop');
    const rg = sim.device('drop').resourceGroup;
    await deployVm(c, rg, 'tmpl');
    const template = await c.compute.virtualMachines.get(rg, 'tmpl');
    await c.compute.virtualMachines.beginDeleteAndWait(rg, 'tmpl', FAST_POLL);
    expect(sim.deviceState('drop').disks).toEqual([]);
    // Direct PUT reusing the freed NIC, without an OS disk name.
    const { osDisk: _named, ...storage } = template.storageProfile ?? {};
    await c.compute.virtualMachines.beginCreateOrUpdateAndWait(rg, 'vm2', { location: 'dbelocal', hardwareProfile: template.hardwareProfile, storageProfile: storage, osProfile: { computerName: 'vm2', adminUsername: 'azureuser', adminPassword: 'S3cret-password!' }, networkProfile: template.networkProfile }, FAST_POLL);
    const vm = await c.compute.virtualMachines.get(rg, 'vm2');
    expect(vm.storageProfile?.osDisk?.name).toMatch(/^vm2_OsDisk_1_[0-9a-f]{32}$/);
    expect(sim.deviceState('drop').disks).toEqual([vm.storageProfile?.osDisk?.name]);
    await c.compute.virtualMachines.beginDeleteAndWait(rg, 'vm2', FAST_POLL);
    expect(sim.deviceState('drop').disks).toEqual([]);
  });
});

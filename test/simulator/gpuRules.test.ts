// The GPU ordering rule of Azure Stack Edge (src/simulator/README.md, "Behaviour and its source") reproduced through the real SDK clients, plus the
// deallocation and GPU-extension rules.
import type { Simulator } from '../../src/simulator/index.js';
import { FAST_POLL, azureClientsFor, deployGpuExtension, deployVm, deviceClientsFor, kubernetesRoleBody, startSim } from './support.js';

interface LroError {
  message: string;
}

const rg = (x: string): string => x;

async function configureKubernetes(sim: Simulator, device: string): Promise<void> {
  const azure = azureClientsFor(sim);
  const role = await azure.dataBoxEdge.roles.beginCreateOrUpdateAndWait(device, 'k8s', sim.endpoints().azure.resourceGroup, kubernetesRoleBody, FAST_POLL);
  expect(role.kind).toBe('Kubernetes');
  expect((role as { provisioningState?: string }).provisioningState).toBe('Created');
}

async function capacity(sim: Simulator, device: string): Promise<{ used: number; free: number; total: number }> {
  const c = await azureClientsFor(sim).getGpuCapacity(sim.device(device).azureResourceId);
  return { used: c.gpuUsedUnitsCount, free: c.gpuFreeUnitsCount, total: c.gpuTotalUnitsCount };
}

/** Deploys and expects failure; returns the deployment's nested error chain codes and the innermost message. */
async function deployExpectingFailure(sim: Simulator, device: string, vmName: string): Promise<{ codes: string[]; message: string }> {
  const clients = deviceClientsFor(sim, device);
  const rg = sim.device(device).resourceGroup;
  await expect(deployVm(clients, rg, vmName)).rejects.toThrow(/DeploymentFailed|long-running operation has failed/);
  const deployment = await clients.resources.deployments.get(rg, `createvm-${vmName}`);
  expect(deployment.properties?.provisioningState).toBe('Failed');
  const codes: string[] = [];
  let error = deployment.properties?.error;
  let message = '';
  while (error !== undefined) {
    codes.push(error.code ?? '');
    message = error.message ?? '';
    error = error.details?.[0];
  }
  const operations = [];
  for await (const op of clients.resources.deploymentOperations.list(rg, `createvm-${vmName}`)) operations.push(op);
  expect(operations.some((o) => o.properties?.provisioningState === 'Failed' && o.properties.targetResource?.resourceType === 'Microsoft.Compute/virtualMachines')).toBe(true);
  return { codes, message };
}

describe('GPU ordering rule (the five documented scenarios)', () => {
  let sim: Simulator;
  beforeEach(async () => {
    sim = await startSim({ devices: [{ name: 'one', gpus: 1 }, { name: 'two', gpus: 2 }] });
  });
  afterEach(async () => {
    expect(sim.violations()).toEqual([]);
    await sim.stop();
  });

  it('1 GPU: VM first, then Kubernetes -> both succeed, Kubernetes has no GPU', async () => {
    await deployVm(deviceClientsFor(sim, 'one'), sim.device('one').resourceGroup, 'vm1');
    await configureKubernetes(sim, 'one');
    expect(sim.deviceState('one').gpus).toMatchObject({ total: 1, free: 0, kubernetes: 0 });
    expect(await capacity(sim, 'one')).toEqual({ used: 1, free: 0, total: 1 });
    const device = await azureClientsFor(sim).dataBoxEdge.devices.get('one', sim.endpoints().azure.resourceGroup);
    expect(device.configuredRoleTypes).toEqual(['Kubernetes']);
    expect(device.sku?.name).toBe('EdgeP_Base');
  });

  it('1 GPU: Kubernetes first -> VM creation fails with AllocationFailed (no GPU free)', async () => {
    await configureKubernetes(sim, 'one');
    const { codes, message } = await deployExpectingFailure(sim, 'one', 'vm1');
    expect(codes).toEqual(['DeploymentFailed', 'ResourceDeploymentFailure', 'AllocationFailed']);
    expect(message).toMatch(/no GPU is free/);
    expect(sim.deviceState('one').gpus.kubernetes).toBe(1);
  });

  it('2 GPUs: one VM first, then Kubernetes -> VM 1 GPU, Kubernetes 1 GPU', async () => {
    await deployVm(deviceClientsFor(sim, 'two'), sim.device('two').resourceGroup, 'vm1');
    await configureKubernetes(sim, 'two');
    const state = sim.deviceState('two');
    expect(state.gpus).toMatchObject({ total: 2, free: 0, kubernetes: 1 });
    expect(state.vms.map((v) => v.holdsGpu)).toEqual([true]);
    expect((await azureClientsFor(sim).dataBoxEdge.devices.get('two', sim.endpoints().azure.resourceGroup)).sku?.name).toBe('EdgeP_High');
  });

  it('2 GPUs: two VMs first, then Kubernetes -> Kubernetes configured without GPU', async () => {
    const clients = deviceClientsFor(sim, 'two');
    const rg = sim.device('two').resourceGroup;
    await Promise.all([deployVm(clients, rg, 'vm1'), deployVm(clients, rg, 'vm2')]);
    await configureKubernetes(sim, 'two');
    expect(sim.deviceState('two').gpus).toMatchObject({ free: 0, kubernetes: 0 });
    expect(await capacity(sim, 'two')).toEqual({ used: 2, free: 0, total: 2 });
  });

  it('2 GPUs: Kubernetes first -> it holds both GPUs and VM creation fails', async () => {
    await configureKubernetes(sim, 'two');
    expect(sim.deviceState('two').gpus.kubernetes).toBe(2);
    const { codes, message } = await deployExpectingFailure(sim, 'two', 'vm1');
    expect(codes.at(-1)).toBe('AllocationFailed');
    expect(message).toMatch(/no GPU is free/);
  });

  it('removing the Kubernetes role frees its GPUs for VMs', async () => {
    await configureKubernetes(sim, 'one');
    await azureClientsFor(sim).dataBoxEdge.roles.beginDeleteAndWait('one', 'k8s', sim.endpoints().azure.resourceGroup, FAST_POLL);
    expect(sim.deviceState('one').gpus).toMatchObject({ free: 1, kubernetes: 0 });
    await deployVm(deviceClientsFor(sim, 'one'), sim.device('one').resourceGroup, 'vm1');
  });

  it('a third GPU VM on two GPUs fails; deallocation frees the GPU for it', async () => {
    const clients = deviceClientsFor(sim, 'two');
    const rg = sim.device('two').resourceGroup;
    await deployVm(clients, rg, 'vm1');
    await deployVm(clients, rg, 'vm2');
    const { message } = await deployExpectingFailure(sim, 'two', 'vm3');
    expect(message).toMatch(/no GPU is free.*vm1, vm2/);
    await clients.compute.virtualMachines.deallocate(rg, 'vm1', FAST_POLL);
    await deployVm(clients, rg, 'vm3');
    await expect(clients.compute.virtualMachines.start(rg, 'vm1', FAST_POLL)).rejects.toThrow(/AllocationFailed|no GPU is free/);
  });
});

describe('a device configured with Kubernetes at start', () => {
  it('reports the role and holds every GPU, so a GPU VM fails', async () => {
    const sim = await startSim({ devices: [{ name: 'k', gpus: 2, kubernetes: true }] });
    try {
      const azure = azureClientsFor(sim);
      const arg = sim.endpoints().azure.resourceGroup;
      const roles = [];
      for await (const r of azure.dataBoxEdge.roles.listByDataBoxEdgeDevice('k', arg)) roles.push(r);
      expect(roles.map((r) => [r.kind, (r as { provisioningState?: string }).provisioningState])).toEqual([['Kubernetes', 'Created']]);
      expect(await capacity(sim, 'k')).toEqual({ used: 2, free: 0, total: 2 });
      const { codes } = await deployExpectingFailure(sim, 'k', 'vm1');
      expect(codes.at(-1)).toBe('AllocationFailed');
    } finally {
      await sim.stop();
    }
  });
});

describe('many GPU VMs at once', () => {
  it('gives exactly as many VMs a GPU as the device has; the rest fail with AllocationFailed', async () => {
    const sim = await startSim({ devices: [{ name: 'two', gpus: 2 }] });
    try {
      const clients = deviceClientsFor(sim, 'two');
      const rg = sim.device('two').resourceGroup;
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => deployVm(clients, rg, `burst${i}`)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
      const state = sim.deviceState('two');
      expect(state.vms.filter((v) => v.holdsGpu)).toHaveLength(2);
      expect(state.vms.filter((v) => v.provisioningState === 'Failed')).toHaveLength(8);
      expect(sim.violations()).toEqual([]);
    } finally {
      await sim.stop();
    }
  });
});

describe('deallocation on a Kubernetes-configured device', () => {
  it.each([
    [true, 'Kubernetes claims the freed GPU and the VM cannot start again'],
    [false, 'the GPU stays free and the VM starts again'],
  ])('kubernetesClaimsFreedGpus=%s: %s', async (claims) => {
    const sim = await startSim({ devices: [{ name: 'one', gpus: 1 }], kubernetesClaimsFreedGpus: claims });
    try {
      const clients = deviceClientsFor(sim, 'one');
      const rg = sim.device('one').resourceGroup;
      await deployVm(clients, rg, 'vm1');
      await configureKubernetes(sim, 'one');
      await clients.compute.virtualMachines.powerOff(rg, 'vm1', FAST_POLL);
      expect(sim.deviceState('one').vms[0]).toMatchObject({ powerState: 'stopped', holdsGpu: true });
      await clients.compute.virtualMachines.deallocate(rg, 'vm1', FAST_POLL);
      expect(sim.deviceState('one').gpus.kubernetes).toBe(claims ? 1 : 0);
      const start = clients.compute.virtualMachines.start(rg, 'vm1', FAST_POLL);
      if (claims) await expect(start).rejects.toThrow(/AllocationFailed|no GPU is free/);
      else await start;
      expect(sim.violations()).toEqual([]);
    } finally {
      await sim.stop();
    }
  });
});

describe('GPU driver extension rules', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSim({
      devices: [
        {
          name: 'new',
          gpus: 2,
          softwareVersion: '2.2.2205.5015',
          images: [
            { name: 'ubuntu1804-gen1', osType: 'Linux', os: { name: 'Ubuntu', version: '18.04' } },
            { name: 'win2019', osType: 'Windows' },
            { name: 'debian12', osType: 'Linux', os: { name: 'Debian', version: '12' }, gpuUnsupported: true },
          ],
        },
        { name: 'old', gpus: 2, softwareVersion: '2.1.2111.1234' },
      ],
    });
  });
  afterAll(() => sim.stop());

  async function extensionError(device: string, vm: string, type: string, version: string): Promise<string | undefined> {
    const clients = deviceClientsFor(sim, device);
    const rg = sim.device(device).resourceGroup;
    try {
      await deployGpuExtension(clients, rg, vm, type, version);
      return undefined;
    } catch {
      const d = await clients.resources.deployments.get(rg, `gpuext-${vm}`);
      const inner = d.properties?.error?.details?.[0]?.details?.[0];
      expect(inner?.code).toBe('VMExtensionProvisioningError');
      const ext = await clients.compute.virtualMachineExtensions.get(rg, vm, 'gpu');
      expect(ext.provisioningState).toBe('Failed');
      const failedVm = await clients.compute.virtualMachines.get(rg, vm, { expand: 'instanceView' });
      expect(failedVm.provisioningState).toBe('Failed');
      expect(failedVm.instanceView?.statuses?.[0]?.code).toBe('ProvisioningState/failed/VMExtensionProvisioningError');
      return inner?.message;
    }
  }

  it('installs with the version of the device release and fails otherwise', async () => {
    const newRg = sim.device('new').resourceGroup;
    const c = deviceClientsFor(sim, 'new');
    await deployVm(c, newRg, 'lin');
    await deployVm(c, newRg, 'win', { imageName: 'win2019' });
    expect(await extensionError('new', 'lin', 'NvidiaGpuDriverLinux', '1.8')).toBeUndefined();
    expect(await extensionError('new', 'win', 'NvidiaGpuDriverWindows', '1.5')).toBeUndefined();
    expect(await extensionError('new', 'win', 'NvidiaGpuDriverWindows', '1.3')).toMatch(/not available on device release 2205; use 1.5/);
    expect(await extensionError('new', 'win', 'NvidiaGpuDriverLinux', '1.8')).toMatch(/is for Linux but VM 'win' runs Windows/);
    await c.compute.virtualMachines.delete(rg(newRg), 'win', FAST_POLL);
    await deployVm(c, newRg, 'deb', { imageName: 'debian12' });
    expect(await extensionError('new', 'deb', 'NvidiaGpuDriverLinux', '1.8')).toMatch(/Debian 12 is not supported/);
    const oldRg = sim.device('old').resourceGroup;
    await deployVm(deviceClientsFor(sim, 'old'), oldRg, 'lin-old');
    expect(await extensionError('old', 'lin-old', 'NvidiaGpuDriverLinux', '1.8')).toMatch(/use 1.3/);
    expect(await extensionError('old', 'lin-old', 'NvidiaGpuDriverLinux', '1.3')).toBeUndefined();
    expect((await deviceClientsFor(sim, 'old').compute.virtualMachines.get(oldRg, 'lin-old')).provisioningState).toBe('Succeeded');
  });

  it('fails on a VM size without GPU', async () => {
    const c = deviceClientsFor(sim, 'new');
    const rg = sim.device('new').resourceGroup;
    const image = `/subscriptions/${sim.device('new').subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/images/ubuntu1804-gen1`;
    const subnet = `/subscriptions/${sim.device('new').subscriptionId}/resourceGroups/ASERG/providers/Microsoft.Network/virtualNetworks/ASEVNET/subnets/ASEVNETsubNet`;
    const nic = await c.network.networkInterfaces.beginCreateOrUpdateAndWait(rg, 'cpu-nic', { location: 'dbelocal', ipConfigurations: [{ name: 'ip', subnet: { id: subnet } }] }, FAST_POLL);
    await c.compute.virtualMachines.createOrUpdate(rg, 'cpu', {
      location: 'dbelocal',
      hardwareProfile: { vmSize: 'Standard_D2_v2' },
      storageProfile: { imageReference: { id: image } },
      osProfile: { computerName: 'cpu', adminUsername: 'u', adminPassword: 'Passw0rd!x' },
      networkProfile: { networkInterfaces: [{ id: nic.id ?? '' }] },
    }, FAST_POLL);
    expect(sim.deviceState('new').vms.find((v) => v.name === 'cpu')?.holdsGpu).toBe(false);
    expect(await extensionError('new', 'cpu', 'NvidiaGpuDriverLinux', '1.8')).toMatch(/has no GPU/);
    const failed: LroError | undefined = await c.compute.virtualMachineExtensions
      .createOrUpdate(rg, 'cpu', 'gpu', { location: 'dbelocal', publisher: 'Microsoft.HpcCompute', typePropertiesType: 'NvidiaGpuDriverLinux', typeHandlerVersion: '1.8' }, FAST_POLL)
      .then(() => undefined, (e: unknown) => e as LroError);
    expect(failed?.message).toMatch(/VMExtensionProvisioningError|has no GPU/);
    expect(sim.violations()).toEqual([]);
  });
});

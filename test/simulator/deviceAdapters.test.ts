// The controller's device adapters (credential, api-version negotiation, SdkDeviceArm, SdkAzureDevice) through
// the real SDK clients against simulated devices of different profiles.
import { createPipelineRequest, type PipelinePolicy } from '@azure/core-rest-pipeline';
import { UsernamePasswordCredential } from '@azure/identity';
import { AdfsPasswordCredential, AdfsTokenError } from '../../src/azure/adfsPasswordCredential.js';
import { createAzureClients } from '../../src/azure/azureClients.js';
import { createDeviceClients, type DeviceClients } from '../../src/azure/deviceClients.js';
import { SdkAzureDevice } from '../../src/azure/sdkAzureDevice.js';
import { SdkDeviceArm } from '../../src/azure/sdkDeviceArm.js';
import { createCertificateAuthority } from '../../src/tls/certificateAuthority.js';
import type { Simulator } from '../../src/simulator/index.js';
import { FAST_POLL, FAST_RETRY, deployVm, startSim } from './support.js';

const ARTICLE = { compute: '2017-12-01', disks: '2017-03-30', network: '2017-10-01', resources: '2020-06-01' };
const HYBRID = { compute: '2020-06-01', disks: '2019-07-01', network: '2018-11-01', resources: '2019-10-01' };

describe('device adapters against simulated device profiles', () => {
  let sim: Simulator;

  beforeAll(async () => {
    sim = await startSim({
      devices: [
        { name: 'article', gpus: 2, profile: 'conservative' },
        { name: 'hybrid', gpus: 2, profile: { apiVersions: 'hybrid-2020-09-01', tokenAudience: 'resource' } },
        { name: 'both', gpus: 2, kubernetes: true, profile: 'default' },
        { name: 'future', gpus: 2, profile: 'future-only' },
        { name: 'iot', gpus: 2, kubernetes: true, profile: 'ase-2106' },
      ],
    });
  });
  afterAll(async () => {
    expect(sim.violations()).toEqual([]);
    await sim.stop();
  });

  const conn = (name: string, overrides: { password?: string } = {}) => {
    const d = sim.device(name);
    return { armEndpoint: d.armEndpoint, loginEndpoint: d.loginEndpoint, subscriptionId: d.subscriptionId, username: d.username, password: d.password, caPem: sim.caCertificatePem, ...overrides };
  };
  const clientsFor = (name: string): DeviceClients => createDeviceClients(conn(name), { retryOptions: FAST_RETRY });
  const armFor = (name: string): { arm: SdkDeviceArm; clients: DeviceClients } => {
    const clients = clientsFor(name);
    return { arm: new SdkDeviceArm(clients, sim.device(name).resourceGroup), clients };
  };
  const tokenRequests = (device: string): number => sim.audit({ device }).filter((e) => e.operation === 'token').length;

  describe('EdgeArmUser credential', () => {
    it('gets a token in the resource form where the device refuses the scope form', async () => {
      const d = sim.device('article');
      const scope = `${d.armEndpoint}/.default`;
      const msal = new UsernamePasswordCredential('adfs', d.clientId, d.username, d.password, { authorityHost: d.loginEndpoint, tlsOptions: { ca: sim.caCertificatePem } });
      await expect(msal.getToken(scope)).rejects.toThrow(/AADSTS90056/);
      const token = await new AdfsPasswordCredential({ ...conn('article') }).getToken(scope);
      expect(token.token.split('.')).toHaveLength(3);
      expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now());
    });

    it('caches the token and shares one request between concurrent callers', async () => {
      const credential = new AdfsPasswordCredential({ ...conn('hybrid') });
      const scope = `${sim.device('hybrid').armEndpoint}/.default`;
      const before = tokenRequests('hybrid');
      const tokens = await Promise.all([credential.getToken(scope), credential.getToken(scope), credential.getToken(scope)]);
      expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
      expect((await credential.getToken(scope)).token).toBe(tokens[0]?.token);
      expect(tokenRequests('hybrid') - before).toBe(1);
    });

    it('renews the token shortly before it expires', async () => {
      let now = Date.now();
      const credential = new AdfsPasswordCredential({ ...conn('hybrid'), now: () => now });
      const scope = `${sim.device('hybrid').armEndpoint}/.default`;
      const first = await credential.getToken(scope);
      const before = tokenRequests('hybrid');
      now = first.expiresOnTimestamp - 60_000;
      await credential.getToken(scope);
      expect(tokenRequests('hybrid') - before).toBe(1);
    });

    it('names the ADFS code and the Secret on a wrong password, never the password', async () => {
      const password = 'Wr0ng-pa55word!';
      const credential = new AdfsPasswordCredential({ ...conn('article', { password }), credentialsSource: 'Secret gpuvm-system/article-arm' });
      const error = await credential.getToken(`${sim.device('article').armEndpoint}/.default`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AdfsTokenError);
      const e = error as AdfsTokenError;
      expect(e.code).toBe('invalid_grant');
      expect(e.stsCodes).toContain('AADSTS50126');
      expect(e.message).toMatch(/AADSTS50126.*username or password is wrong: fix Secret gpuvm-system\/article-arm/);
      expect(e.message).not.toContain(password);
    });

    it('trusts only the configured CA for the device', async () => {
      const other = createCertificateAuthority('other-device-ca');
      const credential = new AdfsPasswordCredential({ ...conn('article'), caPem: other.certificatePem });
      await expect(credential.getToken(`${sim.device('article').armEndpoint}/.default`)).rejects.toThrow(/not trusted: put the device root CA in spec\.arm\.caBundleSecretRef/);
    });
  });

  describe('api-version negotiation', () => {
    it.each([
      ['article', ARTICLE],
      ['hybrid', HYBRID],
      ['both', { compute: '2020-06-01', disks: '2019-07-01', network: '2018-11-01', resources: '2020-06-01' }],
    ])('%s device → %o, and every request carries it', async (name, expected) => {
      const { arm, clients } = armFor(name);
      expect(await arm.apiVersions()).toEqual(expected);
      const since = sim.audit().at(-1)?.seq ?? 0;
      await arm.imageExists('ubuntu1804-gen1');
      await arm.nicExists('none');
      await arm.getDeployment('none');
      await arm.diskExists('none');
      const sent = sim.audit({ since, device: name }).filter((e) => e.operation !== 'token');
      expect(sent.map((e) => [e.operation.split('.')[0], e.apiVersion])).toEqual([
        ['image', expected.compute],
        ['nic', expected.network],
        ['deployment', expected.resources],
        ['disk', expected.disks],
      ]);
      expect(sent.filter((e) => e.status === 400)).toEqual([]);
      // Negotiated once per device connection.
      await arm.apiVersions();
      expect(clients.apiVersions).toBe(clients.apiVersions);
    });

    it('fails with a typed error naming what the device serves and what the controller supports', async () => {
      const { arm } = armFor('future');
      await expect(arm.apiVersions()).rejects.toMatchObject({
        name: 'UnsupportedApiVersionsError',
        message: expect.stringMatching(/Microsoft\.Compute\/virtualMachines serves 2024-03-01 \(supported: 2020-06-01, 2017-12-01\)/),
      });
      await expect(arm.getVm('x')).rejects.toMatchObject({ name: 'UnsupportedApiVersionsError' });
    });
  });

  describe('VMs and disks', () => {
    it('lists power states under Compute 2017-12-01 from each GPU VM instance view', async () => {
      const { arm, clients } = armFor('article');
      const rg = sim.device('article').resourceGroup;
      await deployVm(clients, rg, 'a1');
      await deployVm(clients, rg, 'a2');
      await clients.compute.virtualMachines.powerOff(rg, 'a2', FAST_POLL);
      const since = sim.audit().at(-1)?.seq ?? 0;
      const vms = await arm.listVms();
      expect(Object.fromEntries(vms.map((v) => [v.name, v.powerState]))).toEqual({ a1: 'running', a2: 'stopped' });
      const sent = sim.audit({ since, device: 'article' }).filter((e) => e.operation !== 'token');
      expect(sent.every((e) => e.apiVersion === '2017-12-01' && e.status === 200)).toBe(true);
      expect(sent.filter((e) => e.path.toLowerCase().endsWith('/instanceview')).map((e) => e.path.split('/').at(-2)).sort()).toEqual(['a1', 'a2']);
      // Frees the GPUs for the next test on this device.
      await clients.compute.virtualMachines.deallocate(rg, 'a1', FAST_POLL);
      await clients.compute.virtualMachines.deallocate(rg, 'a2', FAST_POLL);
      expect((await arm.listVms()).map((v) => v.powerState)).toEqual(['deallocated', 'deallocated']);
    });

    it('lists power states in one call under Compute 2020-06-01', async () => {
      const { arm, clients } = armFor('hybrid');
      const rg = sim.device('hybrid').resourceGroup;
      await deployVm(clients, rg, 'h1');
      const since = sim.audit().at(-1)?.seq ?? 0;
      expect((await arm.listVms()).map((v) => [v.name, v.powerState])).toEqual([['h1', 'running']]);
      expect(sim.audit({ since, device: 'hybrid' }).filter((e) => e.operation !== 'token')).toHaveLength(1);
    });

    it('reads the OS disk name from the VM and deletes the disk once the VM is gone', async () => {
      const { arm, clients } = armFor('article');
      const rg = sim.device('article').resourceGroup;
      await deployVm(clients, rg, 'd1');
      const vm = await arm.getVm('d1');
      expect(vm?.osDiskName).toMatch(/^d1_OsDisk_1_[0-9a-f]{32}$/);
      const disk = vm?.osDiskName ?? '';
      expect(await arm.diskExists(disk)).toBe(true);
      await expect(arm.deleteDisk(disk)).rejects.toMatchObject({ statusCode: 409 });
      await clients.compute.virtualMachines.delete(rg, 'd1', FAST_POLL);
      expect(await arm.diskExists(disk)).toBe(true);
      await arm.deleteDisk(disk);
      await waitFor(async () => !(await arm.diskExists(disk)));
      expect(sim.deviceState('article').disks).not.toContain(disk);
    });

    it('keeps an ARM expression in an SSH key literal', async () => {
      const { clients } = armFor('hybrid');
      const rg = sim.device('hybrid').resourceGroup;
      const { buildCreateVmDeployment } = await import('../../src/azure/gpuVmDeployments.js');
      const key = "ssh-rsa AAAAB3 [concat('a','b')]";
      const deployment = buildCreateVmDeployment(
        { apiVersion: 'gpuvm.io/v1alpha1', kind: 'GpuVm', metadata: { name: 's1', namespace: 'ns', uid: 'u-s1' }, spec: { deviceRef: { name: 'hybrid' }, size: 'Standard_NC4as_T4_v3', image: { name: 'ubuntu1804-gen1', osType: 'Linux' }, adminCredentialsSecretRef: { name: 'x' } } },
        { username: 'azureuser', sshPublicKey: key },
      );
      await clients.resources.deployments.beginCreateOrUpdateAndWait(rg, 'createvm-s1', { properties: { mode: 'Incremental', ...deployment } }, FAST_POLL);
      const vm = await clients.compute.virtualMachines.get(rg, 's1');
      expect(vm.osProfile?.linuxConfiguration?.ssh?.publicKeys).toEqual([{ path: '/home/azureuser/.ssh/authorized_keys', keyData: key }]);
    });
  });

  describe('compute roles (Azure side)', () => {
    const azure = (name: string, capture?: PipelinePolicy): SdkAzureDevice => {
      const a = sim.endpoints().azure;
      const clients = createAzureClients(
        { endpoint: a.endpoint, authorityHost: a.authorityHost, tenantId: a.tenantId, clientId: a.clientId, clientSecret: a.clientSecret, caPem: sim.caCertificatePem },
        a.subscriptionId,
        { retryOptions: FAST_RETRY, ...(capture !== undefined ? { additionalPolicies: [{ policy: capture, position: 'perCall' as const }] } : {}) },
      );
      return new SdkAzureDevice(clients, sim.device(name).azureResourceId);
    };

    it('lists roles of every kind', async () => {
      expect((await azure('iot').getComputeRoles()).map((r) => r.kind)).toEqual(['IOT']);
      expect((await azure('both').getComputeRoles()).map((r) => [r.kind, r.provisioningState])).toEqual([['Kubernetes', 'Created']]);
      expect(await azure('hybrid').getComputeRoles()).toEqual([]);
    });

    it('creates the Kubernetes role with a body valid under DataBoxEdge 2021-06-01, at that api-version', async () => {
      const sent: { url: string; body: unknown }[] = [];
      const capture: PipelinePolicy = {
        name: 'capture',
        sendRequest: async (request, next) => {
          if (request.method === 'PUT') sent.push({ url: request.url, body: JSON.parse(String(request.body)) });
          return next(request);
        },
      };
      const device = azure('hybrid', capture);
      await device.createKubernetesRole();
      expect(new URL(sent[0]?.url ?? 'https://x').searchParams.get('api-version')).toBe('2021-06-01');
      expect(sent[0]?.body).toEqual({
        kind: 'Kubernetes',
        properties: { hostPlatform: 'Linux', kubernetesClusterInfo: { version: '' }, kubernetesRoleResources: { compute: { vmProfile: 'DBE_AKS_Small' } }, roleStatus: 'Enabled' },
      });
      await waitFor(async () => (await device.getComputeRoles()).some((r) => r.kind === 'Kubernetes'));
    });

    it('reads GPU capacity at 2023-12-01', async () => {
      const since = sim.audit().at(-1)?.seq ?? 0;
      await azure('both').getGpuCapacity();
      const capacity = sim.audit({ since, device: 'azure' }).filter((e) => e.path.toLowerCase().includes('/devicecapacityinfo/'));
      expect(capacity.map((e) => e.apiVersion)).toEqual(['2023-12-01']);
    });
  });

  it('rewrites any request of the device clients, whatever version it names (next links, LRO polls)', async () => {
    const { clients } = armFor('article');
    const d = sim.device('article');
    await clients.apiVersions.get();
    const since = sim.audit().at(-1)?.seq ?? 0;
    const res = await clients.resources.sendRequest(
      createPipelineRequest({ url: `${d.armEndpoint}/subscriptions/${d.subscriptionId}/resourceGroups/${d.resourceGroup}/providers/Microsoft.Compute/images?api-version=2026-03-02`, method: 'GET' }),
    );
    expect(res.status).toBe(200);
    expect(sim.audit({ since, device: 'article' }).filter((e) => e.operation !== 'token').map((e) => e.apiVersion)).toEqual(['2017-12-01']);
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition not reached');
}

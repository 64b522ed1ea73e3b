// Request bodies against the published contracts, through the real SDK clients: a direct PUT breaking its
// contract is a 400 naming the property; a template resource breaking its contract fails its deployment.
import type { Simulator } from '../../src/simulator/index.js';
import { FAST_POLL, azureClientsFor, createVmParameters, createVmTemplate, deviceClientsFor, startSim } from './support.js';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSim({ devices: [{ name: 'dev', gpus: 2 }] });
});
afterAll(async () => {
  expect(sim.violations()).toEqual([]);
  await sim.stop();
});

it('a role with hostPlatform KubernetesCluster is refused with the allowed values', async () => {
  const azure = azureClientsFor(sim);
  const role = { kind: 'Kubernetes', hostPlatform: 'KubernetesCluster', kubernetesClusterInfo: { version: '' }, kubernetesRoleResources: { compute: { vmProfile: 'DS5' } }, roleStatus: 'Enabled' } as const;
  await expect(azure.dataBoxEdge.roles.beginCreateOrUpdate('dev', 'kubernetes', sim.endpoints().azure.resourceGroup, role as never, FAST_POLL)).rejects.toMatchObject({
    statusCode: 400,
    code: 'InvalidParameter',
    message: expect.stringMatching(/properties\.hostPlatform.*Windows, Linux/),
  });
  expect(sim.deviceState('dev').kubernetes).toBeNull();
});

it('a template resource with an unknown property fails its deployment operation with the contract error', async () => {
  const clients = deviceClientsFor(sim, 'dev');
  const rg = sim.device('dev').resourceGroup;
  const template = createVmTemplate() as { resources: { type: string; properties: Record<string, unknown> }[] };
  const vm = template.resources.find((r) => r.type === 'Microsoft.Compute/virtualMachines');
  if (vm === undefined) throw new Error('the CreateVM template has no VM');
  vm.properties['gpuCount'] = 1;
  await expect(
    clients.resources.deployments.beginCreateOrUpdateAndWait(rg, 'createvm-bad', { properties: { mode: 'Incremental', template, parameters: createVmParameters('bad') } }, FAST_POLL),
  ).rejects.toThrow(/DeploymentFailed|long-running operation has failed/);
  const failed = [];
  for await (const op of clients.resources.deploymentOperations.list(rg, 'createvm-bad')) if (op.properties?.provisioningState === 'Failed') failed.push(op);
  expect(failed.map((o) => [o.properties?.targetResource?.resourceType, o.properties?.statusCode, (o.properties?.statusMessage as { error?: { code?: string; target?: string } } | undefined)?.error])).toEqual([
    ['Microsoft.Compute/virtualMachines', 'BadRequest', expect.objectContaining({ code: 'InvalidRequestContent', target: 'properties.gpuCount' })],
  ]);
  expect(sim.deviceState('dev').vms).toEqual([]);
});

it('keeps no request bodies in the audit unless auditBodies is set', () => {
  const entries = sim.audit({ device: 'dev' });
  expect(entries.some((e) => e.method === 'PUT')).toBe(true);
  expect(entries.filter((e) => e.body !== undefined)).toEqual([]);
});

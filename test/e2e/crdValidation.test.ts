import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION } from '../../src/api/types.js';
import { kubectl, testKubeConfig, useTestNamespace } from '../support/cluster.js';
import { INVALID_EDGEDEVICES, INVALID_GPUVMS, edgeDevice, gpuVm, without, type Json } from '../support/invalidManifests.js';

const namespace = useTestNamespace('crd');
const api = (): CustomObjectsApi => testKubeConfig().makeApiClient(CustomObjectsApi);
let unique = 0;
const uniqueName = (prefix: string): string => `${prefix}-${process.pid}-${++unique}`;

async function rejection(create: () => Promise<unknown>): Promise<string> {
  try {
    await create();
  } catch (err) {
    if (err instanceof ApiException) {
      const status = JSON.parse(String(err.body)) as { code: number; message: string };
      expect(status.code).toBe(422);
      return status.message;
    }
    throw err;
  }
  throw new Error('the API server accepted an invalid object');
}

const createGpuVm = (body: Json) => () =>
  api().createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: namespace(), plural: GPUVM_PLURAL, body });
const createEdgeDevice = (body: Json) => () =>
  api().createClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, body });

describe('CRD schemas reject invalid GpuVms at apply time', () => {
  const cases = INVALID_GPUVMS;

  it.each(cases)('rejects %s', async (_what, body, field) => {
    const message = await rejection(createGpuVm(body));
    expect(message).toMatch(field);
  });

  describe('immutable fields', () => {
    const changes: [string, Json, RegExp][] = [
      ['size', { size: 'Standard_NC8as_T4_v3' }, /spec\.size: .*spec\.size is immutable: to resize/],
      ['deviceRef', { deviceRef: { name: 'dev-b' } }, /spec\.deviceRef: .*spec\.deviceRef is immutable/],
      ['image', { image: { name: 'other-image', osType: 'Linux' } }, /spec\.image: .*spec\.image is immutable/],
    ];

    it.each(changes)('rejects a change of %s on update', async (_field, change, expected) => {
      const name = uniqueName('immutable');
      const created = (await createGpuVm(gpuVm(name))()) as Json;
      const updated = { ...created, spec: { ...(created.spec as Json), ...change } };
      const message = await rejection(() =>
        api().replaceNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: namespace(),
          plural: GPUVM_PLURAL,
          name,
          body: updated,
        }),
      );
      expect(message).toMatch(expected);
    });

    it('still allows mutable fields to change', async () => {
      const name = uniqueName('mutable');
      const created = (await createGpuVm(gpuVm(name))()) as Json;
      const updated = { ...created, spec: { ...(created.spec as Json), powerState: 'Stopped' } };
      await api().replaceNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: namespace(),
        plural: GPUVM_PLURAL,
        name,
        body: updated,
      });
    });
  });

  it('fills in the documented defaults', async () => {
    const created = (await createGpuVm(gpuVm(uniqueName('defaults')))()) as { spec: Json };
    expect(created.spec).toMatchObject({
      powerState: 'Running',
      deletionPolicy: 'Delete',
      suspend: false,
      network: { virtualNetwork: 'ASEVNET', virtualNetworkResourceGroup: 'ASERG', subnet: 'ASEVNETsubNet', privateIPAddress: '' },
      gpuDriver: { install: true, typeHandlerVersion: '' },
    });
  });
});

describe('CRD schemas reject invalid EdgeDevices at apply time', () => {
  const cases = INVALID_EDGEDEVICES;

  it.each(cases)('rejects %s', async (_what, body, field) => {
    const message = await rejection(createEdgeDevice({ ...body, metadata: { name: uniqueName('edev') } }));
    expect(message).toMatch(field);
  });

  it('accepts an EdgeDevice whose GPU count is discovered through Azure', async () => {
    const body = without(edgeDevice(uniqueName('discovered')), 'spec.gpus');
    (body.spec as Json).azure = {
      resourceId: '/subscriptions/0d8a4cf4-7e9b-4c2a-9b7e-2f1f7c3e5a10/resourceGroups/rg/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/dev',
    };
    const created = (await createEdgeDevice(body)()) as { spec: Json };
    expect(created.spec).toMatchObject({
      azure: { endpoint: 'https://management.azure.com', authorityHost: 'https://login.microsoftonline.com' },
      kubernetes: { state: 'Unmanaged' },
      drain: false,
      suspend: false,
    });
  });
});

describe('kubectl', () => {
  const samples = join(import.meta.dirname, '..', '..', 'manifests', 'samples');

  it('rejects unknown fields with the field named', async () => {
    const manifest = JSON.stringify({ ...gpuVm(uniqueName('unknown')), spec: { ...(gpuVm('x').spec as Json), gpuCount: 2 } });
    const result = await kubectl(['apply', '-n', namespace(), '-f', '-'], { input: manifest });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/unknown field "spec\.gpuCount"/);
  });

  it('accepts the samples and shows the printer columns', async () => {
    for (const file of ['gpuvm-linux.yaml', 'gpuvm-windows.yaml']) {
      const result = await kubectl(['apply', '-n', namespace(), '-f', join(samples, file)]);
      expect(result).toMatchObject({ code: 0 });
    }
    const device = readFileSync(join(samples, 'edgedevice.yaml'), 'utf8');
    const applied = await kubectl(['apply', '-f', '-'], { input: device });
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(/edgedevice\.gpuvm\.io\/dev-a (created|configured|unchanged)/);

    const table = await kubectl(['get', 'gvm', '-n', namespace(), '-o', 'wide']);
    expect(table.code).toBe(0);
    const header = table.stdout.split('\n')[0]?.trim().split(/\s+/);
    expect(header).toEqual(['NAME', 'DEVICE', 'SIZE', 'IP', 'POWER', 'PHASE', 'READY', 'REASON', 'SUSPENDED', 'AGE']);
    expect(table.stdout).toMatch(/vm1\s+dev-a\s+Standard_NC4as_T4_v3/);
    expect(table.stdout).toMatch(/win1\s+dev-a\s+Standard_NC8as_T4_v3/);

    const byShortName = await kubectl(['get', 'gpuvm', '-n', namespace()]);
    expect(byShortName.stdout).toMatch(/vm1/);
  });

  it('lists EdgeDevice columns', async () => {
    await createEdgeDevice(edgeDevice(uniqueName('cols')))();
    const table = await kubectl(['get', 'edev']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]?.trim().split(/\s+/)).toEqual(['NAME', 'GPUS', 'VMS', 'K8S', 'FREE', 'READY', 'AGE']);
  });
});

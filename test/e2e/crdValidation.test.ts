import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_VERSION, EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION } from '../../src/api/types.js';
import { kubectl, testKubeConfig, useTestNamespace } from '../support/cluster.js';

type Json = Record<string, unknown>;

const namespace = useTestNamespace('crd');
const api = (): CustomObjectsApi => testKubeConfig().makeApiClient(CustomObjectsApi);
let unique = 0;
const uniqueName = (prefix: string): string => `${prefix}-${process.pid}-${++unique}`;

function gpuVm(name: string, spec: Json = {}): Json {
  return {
    apiVersion: API_VERSION,
    kind: 'GpuVm',
    metadata: { name },
    spec: {
      deviceRef: { name: 'dev-a' },
      size: 'Standard_NC4as_T4_v3',
      image: { name: 'ubuntu1804-gen1', osType: 'Linux', os: { name: 'Ubuntu', version: '18.04' } },
      adminCredentialsSecretRef: { name: 'vm1-admin' },
      ...spec,
    },
  };
}

function edgeDevice(name: string, spec: Json = {}, arm: Json = {}): Json {
  return {
    apiVersion: API_VERSION,
    kind: 'EdgeDevice',
    metadata: { name },
    spec: {
      arm: {
        endpoint: 'https://management.dbe-1.contoso.local',
        loginEndpoint: 'https://login.dbe-1.contoso.local',
        subscriptionId: '0d8a4cf4-7e9b-4c2a-9b7e-2f1f7c3e5a10',
        resourceGroup: 'ASERG-vms',
        credentialsSecretRef: { name: 'dev-a-arm' },
        ...arm,
      },
      gpus: 2,
      ...spec,
    },
  };
}

function without(obj: Json, path: string): Json {
  const copy = structuredClone(obj);
  const keys = path.split('.');
  const last = keys.pop() as string;
  let cursor = copy;
  for (const key of keys) cursor = cursor[key] as Json;
  Reflect.deleteProperty(cursor, last);
  return copy;
}

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
  const cases: [string, Json, RegExp][] = [
    ['a size that cannot attach a GPU', gpuVm('x', { size: 'Standard_D2_v2' }), /spec\.size: Unsupported value: "Standard_D2_v2"/],
    ['a missing size', without(gpuVm('x'), 'spec.size'), /spec\.size: Required value/],
    ['a missing deviceRef', without(gpuVm('x'), 'spec.deviceRef'), /spec\.deviceRef: Required value/],
    ['an empty device name', gpuVm('x', { deviceRef: { name: '' } }), /spec\.deviceRef\.name/],
    ['a missing image', without(gpuVm('x'), 'spec.image'), /spec\.image: Required value/],
    ['an unknown osType', gpuVm('x', { image: { name: 'img', osType: 'Mac' } }), /spec\.image\.osType: Unsupported value: "Mac"/],
    ['an image without a name', gpuVm('x', { image: { osType: 'Linux' } }), /spec\.image\.name: Required value/],
    ['an image name with a slash', gpuVm('x', { image: { name: 'rg/img', osType: 'Linux' } }), /spec\.image\.name/],
    ['a missing admin Secret reference', without(gpuVm('x'), 'spec.adminCredentialsSecretRef'), /spec\.adminCredentialsSecretRef: Required value/],
    ['an unknown powerState', gpuVm('x', { powerState: 'Paused' }), /spec\.powerState: Unsupported value: "Paused"/],
    ['an unknown deletionPolicy', gpuVm('x', { deletionPolicy: 'Keep' }), /spec\.deletionPolicy: Unsupported value: "Keep"/],
    ['an IPv4 address out of range', gpuVm('x', { network: { privateIPAddress: '10.0.0.300' } }), /spec\.network\.privateIPAddress/],
    ['an IPv6 private address', gpuVm('x', { network: { privateIPAddress: 'fe80::1' } }), /spec\.network\.privateIPAddress/],
    ['an empty subnet', gpuVm('x', { network: { subnet: '' } }), /spec\.network\.subnet/],
    ['a driver version that is not major.minor', gpuVm('x', { gpuDriver: { typeHandlerVersion: 'latest' } }), /spec\.gpuDriver\.typeHandlerVersion/],
    ['a driver install flag that is not a boolean', gpuVm('x', { gpuDriver: { install: 'yes' } }), /spec\.gpuDriver\.install: Invalid value: "string"/],
    [
      'a Windows VM name longer than a Windows computer name',
      gpuVm('windows-name-too-long', { image: { name: 'ws2019', osType: 'Windows' } }),
      /metadata\.name: Invalid value: .*at most 15 characters/,
    ],
  ];

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
      network: { virtualNetwork: 'ASEVNET', virtualNetworkResourceGroup: 'ASERG', subnet: 'ASEVNETsubNet', privateIPAddress: '' },
      gpuDriver: { install: true, typeHandlerVersion: '' },
    });
  });
});

describe('CRD schemas reject invalid EdgeDevices at apply time', () => {
  const cases: [string, Json, RegExp][] = [
    ['an http ARM endpoint', edgeDevice('x', {}, { endpoint: 'http://management.dbe-1.contoso.local' }), /spec\.arm\.endpoint: .*must be an https:\/\/ URL/],
    ['an ARM endpoint that is not a URL', edgeDevice('x', {}, { endpoint: 'management dbe-1' }), /spec\.arm\.endpoint: .*must be an https:\/\/ URL/],
    ['an http login endpoint', edgeDevice('x', {}, { loginEndpoint: 'http://login.dbe-1.contoso.local' }), /spec\.arm\.loginEndpoint: .*https:\/\//],
    ['a subscription id that is not a GUID', edgeDevice('x', {}, { subscriptionId: 'my-subscription' }), /spec\.arm\.subscriptionId: Invalid value: "my-subscription"/],
    ['an empty resource group', edgeDevice('x', {}, { resourceGroup: '' }), /spec\.arm\.resourceGroup/],
    ['a missing credentials Secret reference', without(edgeDevice('x'), 'spec.arm.credentialsSecretRef'), /spec\.arm\.credentialsSecretRef: Required value/],
    ['a missing arm section', without(edgeDevice('x'), 'spec.arm'), /spec\.arm: Required value/],
    ['three GPUs', edgeDevice('x', { gpus: 3 }), /spec\.gpus: Invalid value: 3: spec\.gpus in body should be less than or equal to 2/],
    ['zero GPUs', edgeDevice('x', { gpus: 0 }), /spec\.gpus: Invalid value: 0/],
    ['no GPU count and no Azure resource', without(edgeDevice('x'), 'spec.gpus'), /spec\.gpus: Required value: spec\.gpus is required when spec\.azure is not set/],
    ['an unknown Kubernetes state', edgeDevice('x', { kubernetes: { state: 'Enabled' } }), /spec\.kubernetes\.state: Unsupported value: "Enabled"/],
    ['a malformed Azure resource id', edgeDevice('x', { azure: { resourceId: '/subscriptions/abc/devices/x' } }), /spec\.azure\.resourceId: Invalid value/],
    [
      'an http Azure endpoint',
      edgeDevice('x', {
        azure: {
          resourceId: '/subscriptions/0d8a4cf4-7e9b-4c2a-9b7e-2f1f7c3e5a10/resourceGroups/rg/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/dev',
          endpoint: 'http://management.azure.com',
        },
      }),
      /spec\.azure\.endpoint: .*https:\/\//,
    ],
    ['a drain flag that is not a boolean', edgeDevice('x', { drain: 'true' }), /spec\.drain: Invalid value: "string"/],
  ];

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
    expect(header).toEqual(['NAME', 'DEVICE', 'SIZE', 'IP', 'POWER', 'PHASE', 'READY', 'REASON', 'AGE']);
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

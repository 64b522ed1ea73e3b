// Valid base GpuVm and EdgeDevice manifests (gpuVm, edgeDevice) and invalid variants with the error each must
// produce, naming its field. The API server (test/e2e/crdValidation.test.ts) and the offline validator
// (test/unit/validate.test.ts) are held to the same table.
import { API_VERSION } from '../../src/api/types.js';

export type Json = Record<string, unknown>;

export function gpuVm(name: string, spec: Json = {}): Json {
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

export function edgeDevice(name: string, spec: Json = {}, arm: Json = {}): Json {
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

export function without(obj: Json, path: string): Json {
  const copy = structuredClone(obj);
  const keys = path.split('.');
  const last = keys.pop() as string;
  let cursor = copy;
  for (const key of keys) cursor = cursor[key] as Json;
  Reflect.deleteProperty(cursor, last);
  return copy;
}

export const INVALID_GPUVMS: [string, Json, RegExp][] = [
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

export const INVALID_EDGEDEVICES: [string, Json, RegExp][] = [
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

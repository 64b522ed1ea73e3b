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
  // Checked by the API server before any schema; `validate` must say the same.
  ['a name that is not a DNS subdomain', gpuVm('Bad_Name'), /metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '\.', and must start and end with an alphanumeric character \(e\.g\. 'example\.com', regex used for validation is '\[a-z0-9\]\(\[-a-z0-9\]\*\[a-z0-9\]\)\?\(\\\.\[a-z0-9\]\(\[-a-z0-9\]\*\[a-z0-9\]\)\?\)\*'\)/],
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
  ['a name longer than a VM name may be', gpuVm('v'.repeat(65)), /metadata\.name: Too long: may not be more than 64 bytes/],
  ['no spec at all', without(gpuVm('x'), 'spec'), /spec: Required value/],
  ['a deviceRef without a name', without(gpuVm('x'), 'spec.deviceRef.name'), /spec\.deviceRef\.name: Required value/],
  ['a device name that is not a DNS subdomain', gpuVm('x', { deviceRef: { name: 'Dev_A' } }), /spec\.deviceRef\.name: Invalid value: "Dev_A"/],
  ['a device name longer than 253 characters', gpuVm('x', { deviceRef: { name: 'd'.repeat(254) } }), /spec\.deviceRef\.name: Too long/],
  ['a size in the wrong case', gpuVm('x', { size: 'standard_nc4as_t4_v3' }), /spec\.size: Unsupported value: "standard_nc4as_t4_v3"/],
  ['an image name longer than 80 characters', gpuVm('x', { image: { name: 'i'.repeat(81), osType: 'Linux' } }), /spec\.image\.name: Too long/],
  ['an image name ending in a dash', gpuVm('x', { image: { name: 'ubuntu-', osType: 'Linux' } }), /spec\.image\.name: Invalid value: "ubuntu-"/],
  ['an image without an osType', gpuVm('x', { image: { name: 'ubuntu1804-gen1' } }), /spec\.image\.osType: Required value/],
  [
    'a guest OS version longer than 32 characters',
    gpuVm('x', { image: { name: 'ubuntu1804-gen1', osType: 'Linux', os: { name: 'Ubuntu', version: '1'.repeat(33) } } }),
    /spec\.image\.os\.version: Too long/,
  ],
  ['an admin Secret reference with an empty name', gpuVm('x', { adminCredentialsSecretRef: { name: '' } }), /spec\.adminCredentialsSecretRef\.name: Invalid value: ""/],
  ['an admin Secret name with capitals', gpuVm('x', { adminCredentialsSecretRef: { name: 'VM1-Admin' } }), /spec\.adminCredentialsSecretRef\.name: Invalid value: "VM1-Admin"/],
  ['a virtual network resource group longer than 90 characters', gpuVm('x', { network: { virtualNetworkResourceGroup: 'r'.repeat(91) } }), /spec\.network\.virtualNetworkResourceGroup: Too long/],
  ['a private IP address in CIDR notation', gpuVm('x', { network: { privateIPAddress: '10.0.0.5/24' } }), /spec\.network\.privateIPAddress: Invalid value: "10\.0\.0\.5\/24"/],
  ['a network that is not an object', gpuVm('x', { network: 'ASEVNET' }), /spec\.network: Invalid value: "string"/],
  ['a powerState that is not a string', gpuVm('x', { powerState: true }), /spec\.powerState: Invalid value: "boolean"/],
  ['driver settings that are not an object', gpuVm('x', { gpuDriver: { settings: 'CUDA' } }), /spec\.gpuDriver\.settings: Invalid value: "string"/],
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
  ['a missing ARM endpoint', without(edgeDevice('x'), 'spec.arm.endpoint'), /spec\.arm\.endpoint: Required value/],
  ['a missing login endpoint', without(edgeDevice('x'), 'spec.arm.loginEndpoint'), /spec\.arm\.loginEndpoint: Required value/],
  ['a missing subscription id', without(edgeDevice('x'), 'spec.arm.subscriptionId'), /spec\.arm\.subscriptionId: Required value/],
  ['a missing resource group', without(edgeDevice('x'), 'spec.arm.resourceGroup'), /spec\.arm\.resourceGroup: Required value/],
  ['an ARM endpoint without a host', edgeDevice('x', {}, { endpoint: 'https://' }), /spec\.arm\.endpoint: .*must be an https:\/\/ URL/],
  ['an ARM endpoint longer than 512 characters', edgeDevice('x', {}, { endpoint: `https://${'m'.repeat(60)}.${'a'.repeat(460)}.local` }), /spec\.arm\.endpoint: Too long/],
  ['a resource group ending in a dot', edgeDevice('x', {}, { resourceGroup: 'ASERG.' }), /spec\.arm\.resourceGroup: Invalid value: "ASERG\."/],
  ['a resource group longer than 90 characters', edgeDevice('x', {}, { resourceGroup: 'r'.repeat(91) }), /spec\.arm\.resourceGroup: Too long/],
  ['a credentials Secret reference with an empty name', edgeDevice('x', {}, { credentialsSecretRef: { name: '' } }), /spec\.arm\.credentialsSecretRef\.name: Invalid value: ""/],
  [
    'a credentials Secret namespace that is not a DNS label',
    edgeDevice('x', {}, { credentialsSecretRef: { name: 'dev-a-arm', namespace: 'gpuvm.system' } }),
    /spec\.arm\.credentialsSecretRef\.namespace: Invalid value: "gpuvm\.system"/,
  ],
  ['a CA bundle reference without a name', edgeDevice('x', {}, { caBundleSecretRef: { key: 'ca.crt' } }), /spec\.arm\.caBundleSecretRef\.name: Required value/],
  ['a CA bundle reference with an empty key', edgeDevice('x', {}, { caBundleSecretRef: { name: 'dev-a-ca', key: '' } }), /spec\.arm\.caBundleSecretRef\.key: Invalid value: ""/],
  ['an Azure section without a resource id', edgeDevice('x', { azure: { endpoint: 'https://management.azure.com' } }), /spec\.azure\.resourceId: Required value/],
  [
    'an Azure resource id of another provider',
    edgeDevice('x', { azure: { resourceId: '/subscriptions/0d8a4cf4-7e9b-4c2a-9b7e-2f1f7c3e5a10/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/dev' } }),
    /spec\.azure\.resourceId: Invalid value/,
  ],
  [
    'an http Azure authority host',
    edgeDevice('x', {
      azure: {
        resourceId: '/subscriptions/0d8a4cf4-7e9b-4c2a-9b7e-2f1f7c3e5a10/resourceGroups/rg/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/dev',
        authorityHost: 'http://login.microsoftonline.com',
      },
    }),
    /spec\.azure\.authorityHost: .*https:\/\//,
  ],
  [
    'an Azure credentials Secret name with a slash',
    edgeDevice('x', {
      azure: {
        resourceId: '/subscriptions/0d8a4cf4-7e9b-4c2a-9b7e-2f1f7c3e5a10/resourceGroups/rg/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/dev',
        credentialsSecretRef: { name: 'gpuvm-system/dev-a-azure' },
      },
    }),
    /spec\.azure\.credentialsSecretRef\.name: Invalid value: "gpuvm-system\/dev-a-azure"/,
  ],
  ['a negative GPU count', edgeDevice('x', { gpus: -1 }), /spec\.gpus: Invalid value: -1/],
  ['a GPU count given as a string', edgeDevice('x', { gpus: '2' }), /spec\.gpus: Invalid value: "string"/],
  ['a Kubernetes state in lower case', edgeDevice('x', { kubernetes: { state: 'configured' } }), /spec\.kubernetes\.state: Unsupported value: "configured"/],
];

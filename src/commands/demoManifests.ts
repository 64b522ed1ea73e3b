// The demo's world: two simulated Azure Stack Edge devices and four GpuVms, as Kubernetes manifests that
// point at the in-process simulator (local ARM endpoints, the simulator's CA, its Azure side).
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { API_VERSION } from '../api/types.js';
import { edgeDeviceManifests } from '../simulator/edgeDeviceManifests.js';
import type { DeviceInput, Simulator } from '../simulator/index.js';

/**
 * Where the demo's objects go and what its devices are called. Locally: namespace `demo`, Secrets in
 * gpuvm-system, devices by their plain names. On an existing cluster everything gets a unique name so the demo
 * never meets (or removes) anything it did not create.
 */
export interface DemoScope {
  /** The GpuVms' namespace. */
  namespace: string;
  /** Where the device Secrets live (the controller namespace). */
  secretNamespace: string;
  /** Appended to each demo device's name (the simulator's devices are named the same, so its audit log matches). */
  deviceSuffix: string;
  /** On every EdgeDevice, and the in-process controller's device selector. */
  deviceLabels?: Record<string, string>;
}

export const LOCAL_SCOPE: DemoScope = { namespace: 'demo', secretNamespace: 'gpuvm-system', deviceSuffix: '' };

/** Label on the EdgeDevices of a demo run on an existing cluster; its value is the run's id. */
export const DEMO_RUN_LABEL = 'gpuvm.io/demo-run';

/** A unique scope for a run on an existing cluster: namespace `gpuvm-demo-<id>`, devices `edge-2gpu-<id>`. */
export function clusterScope(id = randomBytes(3).toString('hex')): DemoScope {
  const namespace = `gpuvm-demo-${id}`;
  return { namespace, secretNamespace: namespace, deviceSuffix: `-${id}`, deviceLabels: { [DEMO_RUN_LABEL]: id } };
}

export const deviceName = (scope: DemoScope, device: DemoDevice | string): string => `${typeof device === 'string' ? device : device.name}${scope.deviceSuffix}`;

export const deviceSelector = (scope: DemoScope): string | undefined =>
  scope.deviceLabels === undefined ? undefined : Object.entries(scope.deviceLabels).map(([k, v]) => `${k}=${v}`).join(',');

const LINUX_IMAGE = { name: 'ubuntu1804-gen1', osType: 'Linux' as const, os: { name: 'Ubuntu', version: '18.04' } };
const WINDOWS_IMAGE = { name: 'ws2019-gen1', osType: 'Windows' as const, os: { name: 'WindowsServer', version: '2019' } };

export interface DemoDevice {
  name: string;
  gpus: 1 | 2;
  kubernetes: 'Unmanaged' | 'Configured';
}

export interface DemoGpuVm {
  name: string;
  device: string;
  os: 'Linux' | 'Windows';
}

export const DEMO_DEVICES: readonly DemoDevice[] = [
  { name: 'edge-2gpu', gpus: 2, kubernetes: 'Configured' },
  { name: 'edge-1gpu', gpus: 1, kubernetes: 'Unmanaged' },
];

/** Applied in this order; on edge-1gpu the first one takes the only GPU and the second one waits. */
export const DEMO_GPUVMS: readonly DemoGpuVm[] = [
  { name: 'vision-linux', device: 'edge-2gpu', os: 'Linux' },
  { name: 'cad-windows', device: 'edge-2gpu', os: 'Windows' },
  { name: 'train-1', device: 'edge-1gpu', os: 'Linux' },
  { name: 'train-2', device: 'edge-1gpu', os: 'Linux' },
];

/** The simulator's devices: the demo's, with the images the GpuVms use. */
export function simulatorDevices(scope: DemoScope): DeviceInput[] {
  return DEMO_DEVICES.map((d) => ({ name: deviceName(scope, d), gpus: d.gpus, softwareVersion: '3.2.2403.1234', images: [LINUX_IMAGE, WINDOWS_IMAGE] }));
}

const yaml = (docs: object[]): string => docs.map((doc) => stringify(doc)).join('---\n');

export function namespaceManifests(scope: DemoScope): string {
  return yaml([...new Set([scope.namespace, scope.secretNamespace])].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })));
}

/** Secrets (device ARM user, device CA, Azure service principal) + EdgeDevice for each demo device. */
export function deviceManifests(sim: Simulator, scope: DemoScope): string {
  return yaml(
    DEMO_DEVICES.flatMap((device) =>
      edgeDeviceManifests(sim, deviceName(scope, device), {
        secretNamespace: scope.secretNamespace,
        kubernetes: device.kubernetes,
        ...(scope.deviceLabels !== undefined ? { labels: scope.deviceLabels } : {}),
      }),
    ),
  );
}

/** Admin Secret + GpuVm for each demo GpuVm (in the demo namespace), shaped like manifests/samples. */
export function gpuVmManifests(scope: DemoScope): string {
  return yaml(
    DEMO_GPUVMS.flatMap((vm) => {
      const windows = vm.os === 'Windows';
      return [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: `${vm.name}-admin`, namespace: scope.namespace },
          stringData: { username: windows ? 'azureadmin' : 'azureuser', password: `Demo-${randomBytes(9).toString('base64url')}1!` },
        },
        {
          apiVersion: API_VERSION,
          kind: 'GpuVm',
          metadata: { name: vm.name, namespace: scope.namespace },
          spec: {
            deviceRef: { name: deviceName(scope, vm.device) },
            size: windows ? 'Standard_NC8as_T4_v3' : 'Standard_NC4as_T4_v3',
            image: windows ? WINDOWS_IMAGE : LINUX_IMAGE,
            adminCredentialsSecretRef: { name: `${vm.name}-admin` },
            network: { virtualNetwork: 'ASEVNET', virtualNetworkResourceGroup: 'ASERG', subnet: 'ASEVNETsubNet' },
            gpuDriver: windows
              ? {
                  install: true,
                  settings: {
                    DriverURL: 'https://go.microsoft.com/fwlink/?linkid=874181',
                    DriverCertificateUrl: 'https://go.microsoft.com/fwlink/?linkid=871664',
                    DriverType: 'CUDA',
                  },
                }
              : { install: true },
            powerState: 'Running',
            deletionPolicy: 'Delete',
          },
        },
      ];
    }),
  );
}

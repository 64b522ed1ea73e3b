// Manifests that connect EdgeDevices of a test namespace to the in-process simulator.
import { stringify } from 'yaml';
import { API_VERSION } from '../../src/api/types.js';
import type { Simulator, SimulatorInput } from '../../src/simulator/index.js';
import { Simulator as SimulatorClass, ZERO_TIMINGS } from '../../src/simulator/index.js';
import { TEST_DEVICE_LABEL } from './controllerHarness.js';
import { edgeDeviceManifests } from '../../src/simulator/edgeDeviceManifests.js';

export const LINUX_IMAGE = { name: 'ubuntu1804-gen1', osType: 'Linux' as const, os: { name: 'Ubuntu', version: '18.04' } };
export const WINDOWS_IMAGE = { name: 'ws2019-gen1', osType: 'Windows' as const, os: { name: 'WindowsServer', version: '2019' } };

/** A simulator with small but non-zero timings, so operations are observed in flight. */
export function useSimulator(input: SimulatorInput): () => Simulator {
  let sim: Simulator | undefined;
  beforeAll(async () => {
    sim = await SimulatorClass.start({
      ...input,
      timings: { ...ZERO_TIMINGS, vmCreateMs: 300, extensionMs: 200, powerActionMs: 100, roleMs: 200, deleteMs: 100, retryAfterSeconds: 0, ...input.timings },
    });
  });
  afterAll(async () => {
    await sim?.stop();
  });
  return () => {
    if (sim === undefined) throw new Error('the simulator exists only inside tests and hooks');
    return sim;
  };
}

export interface DeviceOptions {
  /** EdgeDevice name (cluster-scoped: make it unique per test file). */
  name: string;
  kubernetes?: 'Unmanaged' | 'Configured' | 'NotConfigured';
  drain?: boolean;
  /** Set spec.azure (capacity and Kubernetes role through the simulator's Azure side). Default true. */
  azure?: boolean;
  /** Namespace of the device's Secrets, i.e. its controller's --controller-namespace (default: the test namespace). */
  secretNamespace?: string;
}

/** Secrets (in `namespace` unless options say otherwise) + EdgeDevice for simulator device `simDevice`, labelled for the controller of `namespace`. */
export function deviceManifests(sim: Simulator, simDevice: string, namespace: string, options: DeviceOptions): string {
  return edgeDeviceManifests(sim, simDevice, { ...options, secretNamespace: options.secretNamespace ?? namespace, labels: { [TEST_DEVICE_LABEL]: namespace } })
    .map((doc) => stringify(doc))
    .join('---\n');
}

export interface GpuVmOptions {
  name: string;
  device: string;
  image?: { name: string; osType: 'Linux' | 'Windows'; os?: { name: string; version: string } };
  size?: string;
  powerState?: 'Running' | 'Stopped' | 'Deallocated';
  deletionPolicy?: 'Delete' | 'Orphan';
  password?: string;
  secretName?: string;
  annotations?: Record<string, string>;
  /** Leave out the admin Secret. */
  noSecret?: boolean;
}

export const TEST_PASSWORD = 'Sup3r-Secret-Adm1n-Passw0rd!';

/** Admin Secret + GpuVm. */
export function gpuVmManifests(o: GpuVmOptions): string {
  const secretName = o.secretName ?? `${o.name}-admin`;
  const docs: object[] = [
    ...(o.noSecret === true
      ? []
      : [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: secretName }, stringData: { username: 'azureuser', password: o.password ?? TEST_PASSWORD } }]),
    {
      apiVersion: API_VERSION,
      kind: 'GpuVm',
      metadata: { name: o.name, ...(o.annotations !== undefined ? { annotations: o.annotations } : {}) },
      spec: {
        deviceRef: { name: o.device },
        size: o.size ?? 'Standard_NC4as_T4_v3',
        image: o.image ?? LINUX_IMAGE,
        adminCredentialsSecretRef: { name: secretName },
        powerState: o.powerState ?? 'Running',
        deletionPolicy: o.deletionPolicy ?? 'Delete',
      },
    },
  ];
  return docs.map((doc) => stringify(doc)).join('---\n');
}

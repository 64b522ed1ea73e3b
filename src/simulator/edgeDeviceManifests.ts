import { API_VERSION } from '../api/types.js';
import type { Simulator } from './server.js';

export interface EdgeDeviceManifestOptions {
  /** EdgeDevice name (default: the simulator device's name). */
  name?: string;
  /** Namespace of the device's Secrets. */
  secretNamespace: string;
  kubernetes?: 'Unmanaged' | 'Configured' | 'NotConfigured';
  drain?: boolean;
  labels?: Record<string, string>;
  /** Point spec.azure at the simulator's Azure side (GPU discovery, Kubernetes role). Default true; without it spec.gpus is set. */
  azure?: boolean;
}

/**
 * The Secrets (ARM user, CA bundle, Azure service principal) and the EdgeDevice that connect the controller to
 * one simulated device, as plain objects ready to serialize.
 */
export function edgeDeviceManifests(sim: Simulator, simDevice: string, options: EdgeDeviceManifestOptions): object[] {
  const d = sim.device(simDevice);
  const azure = sim.endpoints().azure;
  const name = options.name ?? simDevice;
  const namespace = options.secretNamespace;
  const withAzure = options.azure ?? true;
  return [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-arm`, namespace }, stringData: { username: d.username, password: d.password } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-ca`, namespace }, stringData: { 'ca.crt': sim.caCertificatePem } },
    ...(withAzure
      ? [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: `${name}-azure`, namespace },
            stringData: { tenantId: azure.tenantId, clientId: azure.clientId, clientSecret: azure.clientSecret },
          },
        ]
      : []),
    {
      apiVersion: API_VERSION,
      kind: 'EdgeDevice',
      metadata: { name, ...(options.labels !== undefined ? { labels: options.labels } : {}) },
      spec: {
        arm: {
          endpoint: d.armEndpoint,
          loginEndpoint: d.loginEndpoint,
          subscriptionId: d.subscriptionId,
          resourceGroup: d.resourceGroup,
          credentialsSecretRef: { name: `${name}-arm`, namespace },
          caBundleSecretRef: { name: `${name}-ca`, namespace, key: 'ca.crt' },
        },
        ...(withAzure
          ? {
              azure: {
                resourceId: d.azureResourceId,
                endpoint: azure.endpoint,
                authorityHost: azure.authorityHost,
                credentialsSecretRef: { name: `${name}-azure`, namespace },
              },
            }
          : { gpus: d.gpus }),
        kubernetes: { state: options.kubernetes ?? 'Unmanaged' },
        drain: options.drain ?? false,
      },
    },
  ];
}

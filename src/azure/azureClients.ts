// Azure-side clients: the DataBoxEdge management client (device, roles) and a raw request for
// deviceCapacityInfo/default (api-version 2023-12-01, not in the npm SDK), with api-versions pinned and a
// timeout on every request (token requests included).
import { DataBoxEdgeManagementClient } from '@azure/arm-databoxedge';
import type { TokenCredential } from '@azure/core-auth';
import type { AdditionalPolicyConfig } from '@azure/core-client';
import type { PipelineRetryOptions } from '@azure/core-rest-pipeline';
import { createPipelineRequest } from '@azure/core-rest-pipeline';
import { ClientSecretCredential, DefaultAzureCredential } from '@azure/identity';
import { isAzureCloudAuthority } from './authorityHosts.js';
import { CAPACITY_API_VERSION, dataBoxEdgeApiVersionPolicy } from './dataBoxEdgeApiVersionPolicy.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, requestTimeoutPolicy } from './requestTimeout.js';

export { CAPACITY_API_VERSION };

export interface AzureConnection {
  /** Azure Resource Manager endpoint (default https://management.azure.com). */
  endpoint?: string;
  /** Entra authority host (default https://login.microsoftonline.com). */
  authorityHost?: string;
  /** Service principal; absent = DefaultAzureCredential (workload identity etc.). */
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** Extra CA to trust (PEM), e.g. the simulator's. */
  caPem?: string;
}

export interface GpuCapacity {
  gpuType?: string;
  gpuUsedUnitsCount: number;
  gpuFreeUnitsCount: number;
  gpuTotalUnitsCount: number;
}

export interface AzureClients {
  credential: TokenCredential;
  dataBoxEdge: DataBoxEdgeManagementClient;
  /** GET <deviceResourceId>/deviceCapacityInfo/default at api-version 2023-12-01. */
  getGpuCapacity(deviceResourceId: string): Promise<GpuCapacity>;
}

const trimSlash = (url: string): string => url.replace(/\/+$/, '');

export function createAzureCredential(conn: AzureConnection, timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS): TokenCredential {
  const authorityHost = trimSlash(conn.authorityHost ?? 'https://login.microsoftonline.com');
  if (!/^https:\/\//i.test(authorityHost)) throw new Error(`authorityHost must be an https:// URL (got ${authorityHost})`);
  const known = isAzureCloudAuthority(authorityHost);
  const options = {
    authorityHost,
    // Instance discovery asks login.microsoftonline.com about the host: skip it for any other authority.
    disableInstanceDiscovery: !known,
    additionalPolicies: [{ policy: requestTimeoutPolicy(timeoutMs), position: 'perRetry' as const }],
    ...(conn.caPem !== undefined ? { tlsOptions: { ca: conn.caPem } } : {}),
  };
  if (conn.tenantId !== undefined && conn.clientId !== undefined && conn.clientSecret !== undefined) {
    return new ClientSecretCredential(conn.tenantId, conn.clientId, conn.clientSecret, options);
  }
  return new DefaultAzureCredential(options);
}

/** Parses the subscription out of a DataBoxEdge device resource id. */
export function subscriptionOf(deviceResourceId: string): string {
  const match = /^\/subscriptions\/([^/]+)\//i.exec(deviceResourceId);
  if (match?.[1] === undefined) throw new Error(`not an Azure resource id: ${deviceResourceId}`);
  return match[1];
}

export function createAzureClients(
  conn: AzureConnection,
  subscriptionId: string,
  options: {
    retryOptions?: PipelineRetryOptions;
    additionalPolicies?: AdditionalPolicyConfig[];
    /** Per HTTP attempt, token requests included (default DEFAULT_REQUEST_TIMEOUT_MS, 30 s). */
    requestTimeoutMs?: number;
  } = {},
): AzureClients {
  const endpoint = trimSlash(conn.endpoint ?? 'https://management.azure.com');
  if (!/^https:\/\//i.test(endpoint)) throw new Error(`endpoint must be an https:// URL (got ${endpoint})`);
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const credential = createAzureCredential(conn, timeoutMs);
  const dataBoxEdge = new DataBoxEdgeManagementClient(credential, subscriptionId, {
    endpoint,
    credentialScopes: [`${endpoint}/.default`],
    ...(conn.caPem !== undefined ? { tlsOptions: { ca: conn.caPem } } : {}),
    ...(options.retryOptions !== undefined ? { retryOptions: options.retryOptions } : {}),
    additionalPolicies: [
      { policy: dataBoxEdgeApiVersionPolicy(), position: 'perCall' },
      { policy: requestTimeoutPolicy(timeoutMs), position: 'perRetry' },
      ...(options.additionalPolicies ?? []),
    ],
  });
  return {
    credential,
    dataBoxEdge,
    async getGpuCapacity(deviceResourceId) {
      const url = `${endpoint}${deviceResourceId}/deviceCapacityInfo/default?api-version=${CAPACITY_API_VERSION}`;
      const response = await dataBoxEdge.sendRequest(createPipelineRequest({ url, method: 'GET' }));
      let body: unknown;
      try {
        body = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
      } catch {
        body = undefined;
      }
      if (response.status !== 200) {
        const err = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
        const error = new Error(`deviceCapacityInfo: ${response.status} ${err?.code ?? ''} ${err?.message ?? ''}`.trim()) as Error & { statusCode?: number; code?: string };
        error.statusCode = response.status;
        if (err?.code !== undefined) error.code = err.code;
        throw error;
      }
      const gpu = (body as { properties?: { clusterComputeCapacityInfo?: { gpuCapacity?: Partial<GpuCapacity> } } } | undefined)?.properties?.clusterComputeCapacityInfo?.gpuCapacity;
      return {
        ...(gpu?.gpuType !== undefined ? { gpuType: gpu.gpuType } : {}),
        gpuUsedUnitsCount: Number(gpu?.gpuUsedUnitsCount ?? 0),
        gpuFreeUnitsCount: Number(gpu?.gpuFreeUnitsCount ?? 0),
        gpuTotalUnitsCount: Number(gpu?.gpuTotalUnitsCount ?? 0),
      };
    },
  };
}

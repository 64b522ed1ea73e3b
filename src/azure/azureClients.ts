// Azure-side clients: the DataBoxEdge management client (device, roles) and a raw request for
// deviceCapacityInfo/default (api-version 2023-12-01, not in the npm SDK), with api-versions pinned and a
// timeout on every request (token requests included). With an extra CA (a private cloud, the simulator) the
// client set has its own keep-alive agent holding that trust, parsed once; otherwise every device shares the
// SDK's default agent for the Azure clouds.
import type { Agent } from 'node:https';
import { DataBoxEdgeManagementClient } from '@azure/arm-databoxedge';
import type { TokenCredential } from '@azure/core-auth';
import type { AdditionalPolicyConfig } from '@azure/core-client';
import type { PipelineRetryOptions } from '@azure/core-rest-pipeline';
import { RestError, createPipelineRequest } from '@azure/core-rest-pipeline';
import { ClientSecretCredential, DefaultAzureCredential } from '@azure/identity';
import { isAzureCloudAuthority } from './authorityHosts.js';
import { CAPACITY_API_VERSION, dataBoxEdgeApiVersionPolicy } from './dataBoxEdgeApiVersionPolicy.js';
import { DeviceResponseError } from './deviceResponseError.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, requestTimeoutPolicy } from './requestTimeout.js';
import { responseSizeLimitPolicy } from './responseSizeLimit.js';
import { sameOriginPolicy } from './sameOriginPolicy.js';
import { unreadableAnswerPolicy } from './unreadableAnswerPolicy.js';
import { DeviceAgent } from './deviceAgent.js';
import { ThrottleGate } from './throttleGate.js';
import { truncateUtf8 } from '../text/truncateUtf8.js';

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
  /** Closes the connections of this client set's own agent (with an extra CA); a later request opens new ones. */
  close(): void;
}

const trimSlash = (url: string): string => url.replace(/\/+$/, '');

/** The most GPUs one device can report: Azure Stack Edge Pro GPU carries one or two, a cluster of them a few more. */
export const MAX_DEVICE_GPUS = 64;
const CAPACITY_PATH = 'properties.clusterComputeCapacityInfo.gpuCapacity';

/** A GPU count from deviceCapacityInfo: absent is 0; anything but a whole number from 0 to MAX_DEVICE_GPUS is an error naming the field. */
export function gpuCountOf(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0;
  const count = typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : value;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > MAX_DEVICE_GPUS) {
    const shown = truncateUtf8(typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? typeof value), 60);
    throw new DeviceResponseError('ValueOutOfRange', `deviceCapacityInfo ${CAPACITY_PATH}.${field} is ${shown}: expected a whole number from 0 to ${MAX_DEVICE_GPUS}`);
  }
  return count;
}

export function createAzureCredential(conn: AzureConnection, timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS, agent?: Agent): TokenCredential {
  const authorityHost = trimSlash(conn.authorityHost ?? 'https://login.microsoftonline.com');
  if (!/^https:\/\//i.test(authorityHost)) throw new Error(`authorityHost must be an https:// URL (got ${authorityHost})`);
  const known = isAzureCloudAuthority(authorityHost);
  const options = {
    authorityHost,
    // Instance discovery asks login.microsoftonline.com about the host: skip it for any other authority.
    disableInstanceDiscovery: !known,
    additionalPolicies: [{ policy: requestTimeoutPolicy(timeoutMs), position: 'perRetry' as const }],
    ...(agent !== undefined ? { agent } : conn.caPem !== undefined ? { tlsOptions: { ca: conn.caPem } } : {}),
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
  // The agent's trust is exactly conn.caPem (which the caller builds from the public roots plus the extra CA).
  const agent = conn.caPem !== undefined ? new DeviceAgent(conn.caPem) : undefined;
  const credential = createAzureCredential(conn, timeoutMs, agent);
  // Azure answers 429 with Retry-After too: honoured by requeueing, like the device's (a gate per client set).
  const gate = new ThrottleGate();
  const dataBoxEdge = new DataBoxEdgeManagementClient(credential, subscriptionId, {
    endpoint,
    credentialScopes: [`${endpoint}/.default`],
    ...(agent !== undefined ? { agent } : {}),
    ...(options.retryOptions !== undefined ? { retryOptions: options.retryOptions } : {}),
    additionalPolicies: [
      { policy: unreadableAnswerPolicy(), position: 'perCall' },
      { policy: sameOriginPolicy(endpoint), position: 'perCall' },
      { policy: dataBoxEdgeApiVersionPolicy(), position: 'perCall' },
      { policy: requestTimeoutPolicy(timeoutMs), position: 'perRetry' },
      { policy: gate.policy, position: 'perRetry' },
      ...(options.additionalPolicies ?? []),
      { policy: responseSizeLimitPolicy(), position: 'perRetry' },
    ],
  });
  return {
    credential,
    dataBoxEdge,
    close: () => agent?.close(),
    async getGpuCapacity(deviceResourceId) {
      const url = `${endpoint}${deviceResourceId}/deviceCapacityInfo/default?api-version=${CAPACITY_API_VERSION}`;
      const response = await dataBoxEdge.sendRequest(createPipelineRequest({ url, method: 'GET' }));
      let body: unknown;
      try {
        body = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
      } catch {
        body = undefined;
      }
      const field = (o: unknown, key: string): unknown => (o !== null && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>)[key] : undefined);
      const text = (value: unknown): string => (typeof value === 'string' ? truncateUtf8(value, 1024) : '');
      if (response.status !== 200) {
        const err = field(body, 'error');
        const code = text(field(err, 'code'));
        throw new RestError(`deviceCapacityInfo: ${response.status} ${code} ${text(field(err, 'message'))}`.trim(), {
          statusCode: response.status,
          ...(code !== '' ? { code } : {}),
        });
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new DeviceResponseError('UnreadableResponse', 'deviceCapacityInfo: the answer is not a JSON object');
      }
      const gpu = field(field(field(body, 'properties'), 'clusterComputeCapacityInfo'), 'gpuCapacity');
      const gpuType = field(gpu, 'gpuType');
      const capacity: GpuCapacity = {
        ...(typeof gpuType === 'string' ? { gpuType: truncateUtf8(gpuType, 256) } : {}),
        gpuUsedUnitsCount: gpuCountOf(field(gpu, 'gpuUsedUnitsCount'), 'gpuUsedUnitsCount'),
        gpuFreeUnitsCount: gpuCountOf(field(gpu, 'gpuFreeUnitsCount'), 'gpuFreeUnitsCount'),
        gpuTotalUnitsCount: gpuCountOf(field(gpu, 'gpuTotalUnitsCount'), 'gpuTotalUnitsCount'),
      };
      if (capacity.gpuUsedUnitsCount > capacity.gpuTotalUnitsCount) {
        throw new DeviceResponseError(
          'ValueOutOfRange',
          `deviceCapacityInfo ${CAPACITY_PATH}.gpuUsedUnitsCount (${capacity.gpuUsedUnitsCount}) is more than gpuTotalUnitsCount (${capacity.gpuTotalUnitsCount})`,
        );
      }
      return capacity;
    },
  };
}

// Azure SDK clients for one device's local ARM: the EdgeArmUser credential (ADFS, resource form), Compute,
// the 2020-09-01-hybrid Resources (deployments) and Network clients, all trusting the device CA only, with
// api-versions negotiated per device, a timeout on every request, a bounded answer size, and no request to any
// other origin than the device's endpoint. They share one keep-alive HTTPS agent (deviceAgent.ts), token
// requests included: the device's connections and its CA, parsed once, serve all of them.
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network-profile-2020-09-01-hybrid';
import { ResourceManagementClient } from '@azure/arm-resources-profile-2020-09-01-hybrid';
import type { Agent } from 'node:https';
import type { TokenCredential } from '@azure/core-auth';
import type { AdditionalPolicyConfig } from '@azure/core-client';
import { createPipelineRequest, tracingPolicyName, type PipelineRetryOptions } from '@azure/core-rest-pipeline';
import { AdfsPasswordCredential, DEVICE_ARM_CLIENT_ID, type AdfsTokenCache } from './adfsPasswordCredential.js';
import { ApiVersionNegotiator, type ProviderRead } from './apiVersionNegotiator.js';
import { deviceApiVersionPolicy } from './apiVersionPolicy.js';
import type { DeviceApiVersions } from './apiVersions.js';
import { DeviceAgent } from './deviceAgent.js';
import type { DeviceCompute } from './sdkDeviceArm.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, requestTimeoutPolicy } from './requestTimeout.js';
import { responseSizeLimitPolicy } from './responseSizeLimit.js';
import { sameOriginPolicy } from './sameOriginPolicy.js';
import { unreadableAnswerPolicy } from './unreadableAnswerPolicy.js';

export { DEVICE_ARM_CLIENT_ID };

export interface DeviceConnection {
  /** https://management.<device>.<domain> */
  armEndpoint: string;
  /** https://login.<device>.<domain> (the ADFS authority is <loginEndpoint>/adfs) */
  loginEndpoint: string;
  subscriptionId: string;
  username: string;
  password: string;
  /** The device's root CA (PEM); when set it is the only CA trusted for the device. */
  caPem?: string;
  /** Public client id (default: the ASE local ARM client). */
  clientId?: string;
  /** Where username and password come from, named in token errors (e.g. "Secret gpuvm-system/dev-arm"). */
  credentialsSource?: string;
}

export interface DeviceClientOptions {
  retryOptions?: PipelineRetryOptions;
  /** Extra pipeline policies for every client of the device (throttle gate, metrics). */
  additionalPolicies?: AdditionalPolicyConfig[];
  /** Extra User-Agent prefix. */
  userAgentPrefix?: string;
  /** Per HTTP attempt, token requests included (default DEFAULT_REQUEST_TIMEOUT_MS, 30 s). */
  requestTimeoutMs?: number;
  /** Api-versions negotiated for this device by clients built earlier: used without reading the providers again. */
  knownApiVersions?: DeviceApiVersions;
  /** Hears each negotiated set of api-versions (to pass it as knownApiVersions to clients built later). */
  onApiVersions?: (versions: DeviceApiVersions) => void;
  /** The device's ADFS tokens, kept by the caller so clients built later for the same credentials reuse them. */
  tokenCache?: AdfsTokenCache;
  /** The clock tokens are timed by (default Date.now): the one that also sweeps a kept tokenCache. */
  now?: () => number;
}

export interface DeviceClients {
  credential: TokenCredential;
  compute: DeviceCompute;
  resources: ResourceManagementClient;
  network: NetworkManagementClient;
  /** The device's api-versions (negotiated on first request, shared by the three clients). */
  apiVersions: ApiVersionNegotiator;
  /** Token scope used for the device ARM. */
  scope: string;
  /** The device's connections (ARM and ADFS). */
  agent: DeviceAgent;
  /** Closes the device's connections; a request made afterwards opens a new one. */
  close(): void;
}

const trimSlash = (url: string): string => url.replace(/\/+$/, '');

function requireHttps(name: string, url: string): void {
  if (!/^https:\/\//i.test(url)) throw new Error(`${name} must be an https:// URL (got ${url})`);
}

/** The EdgeArmUser credential against the device's ADFS. */
export function createDeviceCredential(conn: DeviceConnection, options: { timeoutMs?: number; agent?: Agent; tokenCache?: AdfsTokenCache; now?: () => number } = {}): TokenCredential {
  requireHttps('loginEndpoint', conn.loginEndpoint);
  return new AdfsPasswordCredential({
    loginEndpoint: conn.loginEndpoint,
    username: conn.username,
    password: conn.password,
    ...(conn.caPem !== undefined ? { caPem: conn.caPem } : {}),
    ...(options.agent !== undefined ? { agent: options.agent } : {}),
    ...(conn.clientId !== undefined ? { clientId: conn.clientId } : {}),
    ...(conn.credentialsSource !== undefined ? { credentialsSource: conn.credentialsSource } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.tokenCache !== undefined ? { tokenCache: options.tokenCache } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
}

export function createDeviceClients(conn: DeviceConnection, options: DeviceClientOptions = {}): DeviceClients {
  requireHttps('armEndpoint', conn.armEndpoint);
  const endpoint = trimSlash(conn.armEndpoint);
  const scope = `${endpoint}/.default`;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const agent = new DeviceAgent(conn.caPem);
  const credential = createDeviceCredential(conn, {
    timeoutMs,
    agent,
    ...(options.tokenCache !== undefined ? { tokenCache: options.tokenCache } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
  const common = {
    endpoint,
    // The agent carries the trust (the device CA only, when set): the SDK's own agent per tlsOptions would
    // parse it on every connection.
    agent,
    ...(options.retryOptions !== undefined ? { retryOptions: options.retryOptions } : {}),
    ...(options.userAgentPrefix !== undefined ? { userAgentOptions: { userAgentPrefix: options.userAgentPrefix } } : {}),
  };
  // The negotiation reads through the Resources client (same credential, throttle gate and timeout); the
  // version policy leaves Providers_List and Providers_Get alone, so the reads do not wait on themselves.
  const readProviders: ProviderRead = async (namespace, apiVersion) => {
    const url = `${endpoint}/subscriptions/${encodeURIComponent(conn.subscriptionId)}/providers${namespace === undefined ? '' : `/${namespace}`}?api-version=${apiVersion}`;
    const response = await resources.sendRequest(createPipelineRequest({ url, method: 'GET' }));
    let body: unknown;
    try {
      body = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  };
  const apiVersions = new ApiVersionNegotiator(readProviders, {
    ...(options.knownApiVersions !== undefined ? { known: options.knownApiVersions } : {}),
    ...(options.onApiVersions !== undefined ? { onChosen: options.onApiVersions } : {}),
  });
  // Per retry, outermost first: the timeout, the caller's policies (throttle gate, metrics), then the body reader,
  // which must sit next to the HTTP client.
  const policies: AdditionalPolicyConfig[] = [
    { policy: unreadableAnswerPolicy(), position: 'perCall' },
    { policy: sameOriginPolicy(endpoint), position: 'perCall' },
    { policy: deviceApiVersionPolicy(apiVersions), position: 'perCall' },
    { policy: requestTimeoutPolicy(timeoutMs), position: 'perRetry' },
    ...(options.additionalPolicies ?? []),
    { policy: responseSizeLimitPolicy(), position: 'perRetry' },
  ];
  const computeClient = new ComputeManagementClient(credential, conn.subscriptionId, { ...common, credentials: { scopes: [scope] }, additionalPolicies: policies });
  // The Compute client builds about fifty operation groups of closures (35 KiB per device); the device keeps
  // the ones it calls and lets the rest go with the client.
  const compute: DeviceCompute = {
    pipeline: computeClient.pipeline,
    virtualMachines: computeClient.virtualMachines,
    virtualMachineExtensions: computeClient.virtualMachineExtensions,
    images: computeClient.images,
    disks: computeClient.disks,
  };
  const resources = new ResourceManagementClient(credential, conn.subscriptionId, { ...common, credentialScopes: [scope], additionalPolicies: policies });
  // Network sends through the Resources client's pipeline: both are core-client ServiceClients for the same
  // device, credential and policies, and a second pipeline (its own logging and tracing sanitizers, retry and
  // bearer policies) would cost about 11 KiB more per device. The client keeps a given pipeline's bearer policy.
  const network = new NetworkManagementClient(credential, conn.subscriptionId, { endpoint, pipeline: resources.pipeline, credentialScopes: [scope] });
  // No tracer is registered in the controller (it ships no OpenTelemetry instrumentation), so the tracing policy
  // would only build span attributes for a no-op span on every request, and hold its own URL sanitizer per pipeline.
  for (const pipeline of [compute.pipeline, resources.pipeline]) pipeline.removePolicy({ name: tracingPolicyName });
  return { credential, compute, resources, network, apiVersions, scope, agent, close: () => agent.close() };
}

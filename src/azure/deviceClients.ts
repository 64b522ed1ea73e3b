// Azure SDK clients for one device's local ARM: ADFS password credential, Compute (api-version pinned),
// the 2020-09-01-hybrid Resources (deployments) and Network clients, all trusting the device CA.
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network-profile-2020-09-01-hybrid';
import { ResourceManagementClient } from '@azure/arm-resources-profile-2020-09-01-hybrid';
import type { TokenCredential } from '@azure/core-auth';
import type { AdditionalPolicyConfig } from '@azure/core-client';
import type { PipelineRetryOptions } from '@azure/core-rest-pipeline';
import { UsernamePasswordCredential } from '@azure/identity';
import { pinApiVersionPolicy } from './apiVersionPolicy.js';

/** The fixed public client id of Azure Stack Edge local ARM. */
export const DEVICE_ARM_CLIENT_ID = '1950a258-227b-4e31-a9cf-717495945fc2';

export interface DeviceConnection {
  /** https://management.<device>.<domain> */
  armEndpoint: string;
  /** https://login.<device>.<domain> (the ADFS authority is <loginEndpoint>/adfs) */
  loginEndpoint: string;
  subscriptionId: string;
  username: string;
  password: string;
  /** The device's root CA (PEM); trusted in addition to the system CAs. */
  caPem?: string;
  /** Public client id (default: the ASE local ARM client). */
  clientId?: string;
}

export interface DeviceClientOptions {
  retryOptions?: PipelineRetryOptions;
  /** Extra pipeline policies for every client of the device (throttle gate, metrics). */
  additionalPolicies?: AdditionalPolicyConfig[];
  /** Extra User-Agent prefix. */
  userAgentPrefix?: string;
}

export interface DeviceClients {
  credential: TokenCredential;
  compute: ComputeManagementClient;
  resources: ResourceManagementClient;
  network: NetworkManagementClient;
  /** Token scope used for the device ARM. */
  scope: string;
}

const trimSlash = (url: string): string => url.replace(/\/+$/, '');

function requireHttps(name: string, url: string): void {
  if (!/^https:\/\//i.test(url)) throw new Error(`${name} must be an https:// URL (got ${url})`);
}

/** The EdgeArmUser credential against the device's ADFS (tenant "adfs", authority host = login endpoint). */
export function createDeviceCredential(conn: DeviceConnection): TokenCredential {
  requireHttps('loginEndpoint', conn.loginEndpoint);
  return new UsernamePasswordCredential('adfs', conn.clientId ?? DEVICE_ARM_CLIENT_ID, conn.username, conn.password, {
    authorityHost: trimSlash(conn.loginEndpoint),
    ...(conn.caPem !== undefined ? { tlsOptions: { ca: conn.caPem } } : {}),
  });
}

export function createDeviceClients(conn: DeviceConnection, options: DeviceClientOptions = {}): DeviceClients {
  requireHttps('armEndpoint', conn.armEndpoint);
  const endpoint = trimSlash(conn.armEndpoint);
  const scope = `${endpoint}/.default`;
  const credential = createDeviceCredential(conn);
  const common = {
    endpoint,
    ...(conn.caPem !== undefined ? { tlsOptions: { ca: conn.caPem } } : {}),
    ...(options.retryOptions !== undefined ? { retryOptions: options.retryOptions } : {}),
    ...(options.userAgentPrefix !== undefined ? { userAgentOptions: { userAgentPrefix: options.userAgentPrefix } } : {}),
  };
  const extra = options.additionalPolicies ?? [];
  const compute = new ComputeManagementClient(credential, conn.subscriptionId, {
    ...common,
    credentials: { scopes: [scope] },
    additionalPolicies: [{ policy: pinApiVersionPolicy(), position: 'perCall' }, ...extra],
  });
  const resources = new ResourceManagementClient(credential, conn.subscriptionId, { ...common, credentialScopes: [scope], additionalPolicies: extra });
  const network = new NetworkManagementClient(credential, conn.subscriptionId, { ...common, credentialScopes: [scope], additionalPolicies: extra });
  return { credential, compute, resources, network, scope };
}

// Runs every doctor check against one device, in order: TLS, token, api-versions, then the device's resources and
// the Azure side. A check that needs an earlier one (a token, known api-versions) is skipped when that one failed.
import { rootCertificates } from 'node:tls';
import { createAzureClients, subscriptionOf } from '../azure/azureClients.js';
import { createDeviceCredential } from '../azure/deviceClients.js';
import type { AzureDevice } from '../azure/azureDevice.js';
import { SdkAzureDevice } from '../azure/sdkAzureDevice.js';
import { type CheckResult, errorText, fail, skip } from './check.js';
import { type AzureSideOutcome, checkAzureSide } from './checks/azureSide.js';
import { checkGpuExtension } from './checks/gpuExtension.js';
import { checkImages } from './checks/images.js';
import { checkNetwork } from './checks/network.js';
import { checkProviders } from './checks/providers.js';
import { checkTls } from './checks/tls.js';
import { checkToken } from './checks/token.js';
import { checkVmSizes } from './checks/vmSizes.js';
import { checkVms, listDeviceVms } from './checks/vms.js';
import { createReadOnlyClient } from './readOnlyClient.js';
import type { DoctorTarget } from './target.js';

/** The device's only location (domain notes). */
const DEVICE_LOCATION = 'dbelocal';

export interface DoctorOptions {
  /** Per request and per check. */
  timeoutMs: number;
}

export interface DoctorRun {
  source: string;
  startedAt: string;
  finishedAt: string;
  results: CheckResult[];
  /** True when any check failed. */
  failed: boolean;
}

const trimSlash = (url: string): string => url.replace(/\/+$/, '');

function azureReader(target: DoctorTarget, timeoutMs: number): AzureDevice | undefined {
  const azure = target.azure;
  if (azure === undefined) return undefined;
  // Public roots plus the device CA (a private cloud or the simulator may be signed by it), as the controller does.
  const caPem = target.arm.caPem !== undefined ? [...rootCertificates, target.arm.caPem].join('\n') : undefined;
  const clients = createAzureClients(
    {
      ...(azure.endpoint !== undefined ? { endpoint: azure.endpoint } : {}),
      ...(azure.authorityHost !== undefined ? { authorityHost: azure.authorityHost } : {}),
      ...(azure.tenantId !== undefined ? { tenantId: azure.tenantId } : {}),
      ...(azure.clientId !== undefined ? { clientId: azure.clientId } : {}),
      ...(azure.clientSecret !== undefined ? { clientSecret: azure.clientSecret } : {}),
      ...(caPem !== undefined ? { caPem } : {}),
    },
    subscriptionOf(azure.resourceId),
    // One try per request: doctor reports, the controller retries.
    { retryOptions: { maxRetries: 0 }, requestTimeoutMs: timeoutMs },
  );
  return new SdkAzureDevice(clients, azure.resourceId);
}

export async function runDoctor(target: DoctorTarget, options: DoctorOptions): Promise<DoctorRun> {
  const startedAt = new Date().toISOString();
  const results: CheckResult[] = [];
  const arm = { ...target.arm, endpoint: trimSlash(target.arm.endpoint), loginEndpoint: trimSlash(target.arm.loginEndpoint) };
  const timeoutMs = options.timeoutMs;

  results.push(...(await Promise.all([
    checkTls('tls.arm', 'TLS: ARM endpoint', arm.endpoint, arm.caPem, timeoutMs),
    checkTls('tls.login', 'TLS: login endpoint', arm.loginEndpoint, arm.caPem, timeoutMs),
  ])));

  const scope = `${arm.endpoint}/.default`;
  const credential = createDeviceCredential({ armEndpoint: arm.endpoint, loginEndpoint: arm.loginEndpoint, subscriptionId: arm.subscriptionId, username: arm.username, password: arm.password, ...(arm.caPem !== undefined ? { caPem: arm.caPem } : {}), ...(arm.credentialsSource !== undefined ? { credentialsSource: arm.credentialsSource } : {}) }, { timeoutMs });
  const token = await checkToken({ credential, scope, loginEndpoint: arm.loginEndpoint, username: arm.username, timeoutMs });
  results.push(token);

  const deviceChecks: [string, string][] = [['apiVersions', 'providers and api-versions'], ['vmSizes', 'GPU VM sizes'], ['images', 'VM images'], ['network', 'virtual network'], ['vms', 'VMs and GPUs'], ['gpuExtension', 'GPU driver extension']];
  const client = createReadOnlyClient({
    ...(arm.caPem !== undefined ? { ca: arm.caPem } : {}),
    timeoutMs,
    token: async () => {
      const t = await credential.getToken(scope);
      if (t === null) throw new Error('no token');
      return t.token;
    },
  });

  let softwareVersion = target.softwareVersion;
  let azureResult: AzureSideOutcome | undefined;
  try {
    const azure = azureReader(target, timeoutMs);
    if (azure !== undefined && target.azure !== undefined) azureResult = await checkAzureSide(azure, target.azure.resourceId, timeoutMs);
  } catch (err) {
    // Settings the Azure clients refuse (not a resource id, not https).
    azureResult = { result: fail('azure', 'Azure-side device', `cannot connect to Azure: ${errorText(err)}`, 'give the device resource id as /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/<name> and https:// endpoints') };
  }
  softwareVersion = azureResult?.softwareVersion ?? softwareVersion;

  if (token.status === 'FAIL') {
    results.push(...deviceChecks.map(([id, title]) => skip(id, title, 'skipped: no token (see "ADFS token")')));
  } else {
    const providers = await checkProviders(client, arm.endpoint, arm.subscriptionId);
    results.push(providers.result);
    const versions = providers.versions;
    if (versions === undefined) {
      results.push(...deviceChecks.slice(1).map(([id, title]) => skip(id, title, 'skipped: no api-version the controller knows (see "providers and api-versions")')));
    } else {
      const vms = await checkVms(() => listDeviceVms(client, arm.endpoint, arm.subscriptionId, versions.compute));
      const someVm = vms.vms[0];
      results.push(await checkVmSizes(client, { armEndpoint: arm.endpoint, subscriptionId: arm.subscriptionId, location: DEVICE_LOCATION, computeApiVersion: versions.compute, ...(someVm !== undefined ? { someVm } : {}) }));
      results.push(await checkImages(client, arm.endpoint, arm.subscriptionId, arm.resourceGroup, versions.compute));
      results.push(await checkNetwork(client, arm.endpoint, arm.subscriptionId, target.network, versions.network));
      results.push(vms.result);
      results.push(await checkGpuExtension(client, { armEndpoint: arm.endpoint, subscriptionId: arm.subscriptionId, location: DEVICE_LOCATION, computeApiVersion: versions.compute, softwareVersion }));
    }
  }
  results.push(azureResult?.result ?? skip('azure', 'Azure-side device', 'skipped: no Azure resource id given (--azure-resource-id or spec.azure)'));
  return { source: target.source, startedAt, finishedAt: new Date().toISOString(), results, failed: results.some((r) => r.status === 'FAIL') };
}

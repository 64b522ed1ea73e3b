// A doctor target from an EdgeDevice in the cluster and the Secrets it names (read only; the same keys the
// controller reads: username/password, the CA bundle key, tenantId/clientId/clientSecret).
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { EDGEDEVICE_PLURAL, GROUP, VERSION, type EdgeDevice } from '../api/types.js';
import { abortable } from '../runtime/kubeListerWatcher.js';
import type { DoctorNetworkTarget, DoctorTarget } from './target.js';

const DEFAULT_SECRET_NAMESPACE = 'gpuvm-system';

interface SecretRef {
  name: string;
  namespace?: string;
}

async function readSecret(core: CoreV1Api, ref: SecretRef, field: string, timeoutMs: number): Promise<V1Secret> {
  const namespace = ref.namespace ?? DEFAULT_SECRET_NAMESPACE;
  try {
    return await core.readNamespacedSecret({ name: ref.name, namespace }, abortable(AbortSignal.timeout(timeoutMs)));
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) throw new Error(`Secret ${namespace}/${ref.name} (${field}) does not exist`, { cause: err });
    if (err instanceof ApiException && err.code === 403) throw new Error(`not allowed to read Secret ${namespace}/${ref.name} (${field}): doctor needs get on secrets there`, { cause: err });
    throw err;
  }
}

function value(secret: V1Secret, key: string, field: string): string {
  const data = secret.data?.[key];
  const text = data !== undefined ? Buffer.from(data, 'base64').toString('utf8') : secret.stringData?.[key];
  if (text === undefined || text === '') throw new Error(`Secret ${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''} (${field}) has no key ${key}`);
  return text;
}

/** Reads the EdgeDevice and its Secrets; each API request is aborted after `timeoutMs`. */
export async function targetFromEdgeDevice(kubeConfig: KubeConfig, name: string, network: DoctorNetworkTarget, timeoutMs: number): Promise<DoctorTarget> {
  let device: EdgeDevice;
  try {
    device = (await kubeConfig.makeApiClient(CustomObjectsApi).getClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name }, abortable(AbortSignal.timeout(timeoutMs)))) as EdgeDevice;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) throw new Error(`EdgeDevice ${name} not found in the cluster`, { cause: err });
    throw err;
  }
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const arm = device.spec.arm;
  const creds = await readSecret(core, arm.credentialsSecretRef, 'spec.arm.credentialsSecretRef', timeoutMs);
  const caRef = arm.caBundleSecretRef;
  const caPem = caRef !== undefined ? value(await readSecret(core, caRef, 'spec.arm.caBundleSecretRef', timeoutMs), caRef.key ?? 'ca.crt', 'spec.arm.caBundleSecretRef') : undefined;
  const azure = device.spec.azure;
  let principal: { tenantId?: string; clientId?: string; clientSecret?: string } = {};
  if (azure?.credentialsSecretRef !== undefined) {
    const s = await readSecret(core, azure.credentialsSecretRef, 'spec.azure.credentialsSecretRef', timeoutMs);
    const field = 'spec.azure.credentialsSecretRef';
    principal = { tenantId: value(s, 'tenantId', field), clientId: value(s, 'clientId', field), clientSecret: value(s, 'clientSecret', field) };
  }
  return {
    source: `EdgeDevice ${name}`,
    arm: {
      endpoint: arm.endpoint,
      loginEndpoint: arm.loginEndpoint,
      subscriptionId: arm.subscriptionId,
      resourceGroup: arm.resourceGroup,
      username: value(creds, 'username', 'spec.arm.credentialsSecretRef'),
      password: value(creds, 'password', 'spec.arm.credentialsSecretRef'),
      ...(caPem !== undefined ? { caPem } : {}),
      credentialsSource: `Secret ${arm.credentialsSecretRef.namespace ?? DEFAULT_SECRET_NAMESPACE}/${arm.credentialsSecretRef.name}`,
    },
    network,
    ...(azure !== undefined
      ? {
          azure: {
            resourceId: azure.resourceId,
            ...(azure.endpoint !== undefined ? { endpoint: azure.endpoint } : {}),
            ...(azure.authorityHost !== undefined ? { authorityHost: azure.authorityHost } : {}),
            ...principal,
          },
        }
      : {}),
    ...(device.status?.softwareVersion !== undefined ? { softwareVersion: device.status.softwareVersion } : {}),
  };
}

import type { V1Secret } from '@kubernetes/client-node';
import { rootCertificates } from 'node:tls';
import type { EdgeDevice } from '../api/types.js';
import { createAzureClients, subscriptionOf } from '../azure/azureClients.js';
import type { AzureDevice } from '../azure/azureDevice.js';
import { createDeviceClients } from '../azure/deviceClients.js';
import type { DeviceArm } from '../azure/deviceArm.js';
import { SdkAzureDevice } from '../azure/sdkAzureDevice.js';
import { SdkDeviceArm } from '../azure/sdkDeviceArm.js';
import { ThrottleGate } from '../azure/throttleGate.js';
import type { AdditionalPolicyConfig } from '@azure/core-client';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import type { Connected, DeviceConnections, ObjectStore } from './ports.js';

interface SecretRef {
  name: string;
  namespace?: string;
}

function secretKey(ref: SecretRef): string {
  return `${ref.namespace ?? 'gpuvm-system'}/${ref.name}`;
}

function secretValue(secret: V1Secret, key: string): string | undefined {
  const data = secret.data?.[key];
  if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8');
  return secret.stringData?.[key];
}

type Failure = { ok: false; reason: string; message: string };

function readSecret(secrets: ObjectStore<V1Secret>, ref: SecretRef, field: string, keys: readonly string[]): { values: string[] } | Failure {
  const key = secretKey(ref);
  const secret = secrets.get(key);
  if (secret === undefined) return { ok: false, reason: 'SecretNotFound', message: `Secret ${key} (${field}) does not exist: create it with keys ${keys.join(', ')}` };
  const values: string[] = [];
  for (const k of keys) {
    const value = secretValue(secret, k);
    if (value === undefined || value === '') {
      return { ok: false, reason: 'SecretInvalid', message: `Secret ${key} (${field}) has no key ${k}: add it` };
    }
    values.push(value);
  }
  return { values };
}

interface Cached<T> {
  fingerprint: string;
  value: Connected<T>;
}

/**
 * Builds SDK clients per device from its Secrets and caches them (token caches included) until the device's
 * connection settings or the Secrets' resourceVersions change.
 */
export class SecretBackedConnections implements DeviceConnections {
  private readonly armCache = new Map<string, Cached<DeviceArm>>();
  private readonly azureCache = new Map<string, Cached<AzureDevice>>();

  private readonly gates = new Map<string, ThrottleGate>();

  constructor(
    private readonly secrets: ObjectStore<V1Secret>,
    private readonly options: {
      userAgentPrefix?: string;
      /** Extra per-device pipeline policies (metrics), by device name. */
      extraPolicies?: (device: string) => PipelinePolicy[];
      /** Per HTTP attempt to a device or Azure, token requests included (default 30 s, DEFAULT_REQUEST_TIMEOUT_MS). */
      requestTimeoutMs?: number;
    } = {},
  ) {}

  /** The device's throttle gate outlives client rebuilds: a Secret change must not forget a Retry-After. */
  private policies(device: string): AdditionalPolicyConfig[] {
    let gate = this.gates.get(device);
    if (gate === undefined) {
      gate = new ThrottleGate();
      this.gates.set(device, gate);
    }
    return [gate.policy, ...(this.options.extraPolicies?.(device) ?? [])].map((policy) => ({ policy, position: 'perRetry' as const }));
  }

  arm(device: EdgeDevice): Connected<DeviceArm> {
    const spec = device.spec.arm;
    const refs: SecretRef[] = [spec.credentialsSecretRef, ...(spec.caBundleSecretRef !== undefined ? [spec.caBundleSecretRef] : [])];
    const fingerprint = JSON.stringify([spec, refs.map((r) => this.secrets.get(secretKey(r))?.metadata?.resourceVersion)]);
    const name = device.metadata.name ?? '';
    const cached = this.armCache.get(name);
    if (cached?.fingerprint === fingerprint) return cached.value;

    const value = this.buildArm(device);
    this.armCache.set(name, { fingerprint, value });
    return value;
  }

  azure(device: EdgeDevice): Connected<AzureDevice> | undefined {
    const spec = device.spec.azure;
    const name = device.metadata.name ?? '';
    if (spec === undefined) {
      this.azureCache.delete(name);
      return undefined;
    }
    const refs: SecretRef[] = [
      ...(spec.credentialsSecretRef !== undefined ? [spec.credentialsSecretRef] : []),
      ...(device.spec.arm.caBundleSecretRef !== undefined ? [device.spec.arm.caBundleSecretRef] : []),
    ];
    const fingerprint = JSON.stringify([spec, refs.map((r) => this.secrets.get(secretKey(r))?.metadata?.resourceVersion)]);
    const cached = this.azureCache.get(name);
    if (cached?.fingerprint === fingerprint) return cached.value;
    const value = this.buildAzure(device);
    this.azureCache.set(name, { fingerprint, value });
    return value;
  }

  forget(deviceName: string): void {
    this.armCache.delete(deviceName);
    this.azureCache.delete(deviceName);
    this.gates.delete(deviceName);
  }

  private caPem(device: EdgeDevice): { pem?: string } | Failure {
    const ref = device.spec.arm.caBundleSecretRef;
    if (ref === undefined) return {};
    const ca = readSecret(this.secrets, ref, 'spec.arm.caBundleSecretRef', [ref.key ?? 'ca.crt']);
    if ('ok' in ca) return ca;
    const pem = ca.values[0] ?? '';
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      return { ok: false, reason: 'SecretInvalid', message: `Secret ${secretKey(ref)} key ${ref.key ?? 'ca.crt'} is not a PEM certificate: put the device's root CA there` };
    }
    return { pem };
  }

  private buildArm(device: EdgeDevice): Connected<DeviceArm> {
    const spec = device.spec.arm;
    const creds = readSecret(this.secrets, spec.credentialsSecretRef, 'spec.arm.credentialsSecretRef', ['username', 'password']);
    if ('ok' in creds) return creds;
    const ca = this.caPem(device);
    if ('ok' in ca) return ca;
    const [username = '', password = ''] = creds.values;
    const clients = createDeviceClients(
      {
        armEndpoint: spec.endpoint,
        loginEndpoint: spec.loginEndpoint,
        subscriptionId: spec.subscriptionId,
        username,
        password,
        credentialsSource: `Secret ${secretKey(spec.credentialsSecretRef)} (spec.arm.credentialsSecretRef, keys username and password)`,
        ...(ca.pem !== undefined ? { caPem: ca.pem } : {}),
      },
      {
        ...(this.options.userAgentPrefix !== undefined ? { userAgentPrefix: this.options.userAgentPrefix } : {}),
        ...(this.options.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.options.requestTimeoutMs } : {}),
        additionalPolicies: this.policies(device.metadata.name ?? ''),
      },
    );
    return { ok: true, client: new SdkDeviceArm(clients, spec.resourceGroup) };
  }

  private buildAzure(device: EdgeDevice): Connected<AzureDevice> {
    const spec = device.spec.azure;
    if (spec === undefined) return { ok: false, reason: 'AzureNotConfigured', message: 'spec.azure is not set' };
    let tenant: { tenantId?: string; clientId?: string; clientSecret?: string } = {};
    if (spec.credentialsSecretRef !== undefined) {
      const creds = readSecret(this.secrets, spec.credentialsSecretRef, 'spec.azure.credentialsSecretRef', ['tenantId', 'clientId', 'clientSecret']);
      if ('ok' in creds) return creds;
      const [tenantId, clientId, clientSecret] = creds.values;
      tenant = { tenantId, clientId, clientSecret };
    }
    // The Azure side trusts the public roots plus the device CA (a simulator or private cloud may be signed
    // by it): Node's `ca` option replaces the default roots, so both are passed.
    const ca = this.caPem(device);
    const caPem = 'ok' in ca || ca.pem === undefined ? undefined : [...rootCertificates, ca.pem].join('\n');
    const clients = createAzureClients(
      {
        ...(spec.endpoint !== undefined ? { endpoint: spec.endpoint } : {}),
        ...(spec.authorityHost !== undefined ? { authorityHost: spec.authorityHost } : {}),
        ...tenant,
        ...(caPem !== undefined ? { caPem } : {}),
      },
      subscriptionOf(spec.resourceId),
      {
        additionalPolicies: [...(this.options.extraPolicies?.(`${device.metadata.name ?? ''}/azure`) ?? [])].map((policy) => ({ policy, position: 'perRetry' as const })),
        ...(this.options.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.options.requestTimeoutMs } : {}),
      },
    );
    return { ok: true, client: new SdkAzureDevice(clients, spec.resourceId) };
  }
}

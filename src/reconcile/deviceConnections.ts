import type { V1Secret } from '@kubernetes/client-node';
import { rootCertificates } from 'node:tls';
import type { EdgeDevice } from '../api/types.js';
import { AZURE_CLOUD_ARM_HOSTS, AZURE_CLOUD_AUTHORITY_HOSTS, DEFAULT_AUTHORITY_HOST, authorityHostName, isAzureCloudAuthority } from '../azure/authorityHosts.js';
import { createAzureClients, subscriptionOf } from '../azure/azureClients.js';
import type { AzureDevice } from '../azure/azureDevice.js';
import type { AdfsTokenCache } from '../azure/adfsPasswordCredential.js';
import { newestRecorded, type DeviceApiVersions } from '../azure/apiVersions.js';
import { createDeviceClients } from '../azure/deviceClients.js';
import type { DeviceArm } from '../azure/deviceArm.js';
import { SdkAzureDevice } from '../azure/sdkAzureDevice.js';
import { SdkDeviceArm } from '../azure/sdkDeviceArm.js';
import { DeviceBudgets } from '../azure/deviceBudget.js';
import type { AdditionalPolicyConfig } from '@azure/core-client';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { systemClock, type Clock, type TimerHandle } from '../runtime/clock.js';
import { checkCaBundle } from './caBundle.js';
import type { Connected, DeviceConnections, ObjectStore } from './ports.js';

interface SecretRef {
  name: string;
  namespace?: string;
}

export const DEFAULT_CONTROLLER_NAMESPACE = 'gpuvm-system';

function secretValue(secret: V1Secret, key: string): string | undefined {
  const data = secret.data?.[key];
  if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8');
  return secret.stringData?.[key];
}

type Failure = { ok: false; reason: string; message: string };

interface Cached<T> {
  fingerprint: string;
  value: Connected<T>;
  /** When a reconcile last asked for it (clock ms). */
  usedAt: number;
  /** Closes the clients' connections (their agent). */
  close?: () => void;
}

/**
 * Clients unused this long are dropped (and built again on the next use): 2 minutes. Well under the sync period
 * (10 minutes by default), so a device that only has its periodic VM list holds clients about a fifth of the time;
 * a device with work (operation polls, every 15 s by default; waiting GpuVms, rechecked every minute) keeps them.
 */
export const DEFAULT_CLIENT_IDLE_MS = 2 * 60_000;

export interface SecretBackedConnectionsOptions {
  /** The only namespace device Secrets are read from (default gpuvm-system); a reference elsewhere is refused. */
  controllerNamespace?: string;
  /**
   * Authority hosts besides the Azure clouds' that the controller's own (ambient) identity may be sent to, e.g. an
   * Azure Stack Hub's. A credentials Secret of the EdgeDevice may go to any authority: it is the user's own.
   */
  extraAuthorityHosts?: readonly string[];
  userAgentPrefix?: string;
  /** Extra per-device pipeline policies (metrics), by device name. */
  extraPolicies?: (device: string) => PipelinePolicy[];
  /** Per HTTP attempt to a device or Azure, token requests included (default 30 s, DEFAULT_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** The devices' ARM budgets and Retry-After gates (default: ARM's per-subscription limits). */
  budgets?: DeviceBudgets;
  /** How long a device's clients stay unused before they are dropped (default DEFAULT_CLIENT_IDLE_MS). */
  idleMs?: number;
  clock?: Clock;
}
/**
 * Builds SDK clients per device from its Secrets and caches them (token caches and the device's connections
 * included) until the device's connection settings or the Secrets' resourceVersions change, or until they were
 * not asked for during the idle period: a converged fleet holds clients only for the devices it works on.
 * What must outlive a drop stays outside the clients: the throttle gates, the negotiated api-versions and the
 * ADFS tokens (so clients built again cost no request while the device's token lasts).
 */
export class SecretBackedConnections implements DeviceConnections {
  private readonly armCache = new Map<string, Cached<DeviceArm>>();
  private readonly azureCache = new Map<string, Cached<AzureDevice>>();
  /** Per device: the api-versions its clients negotiated, and for which endpoint and subscription. */
  private readonly apiVersions = new Map<string, { target: string; versions: DeviceApiVersions }>();
  /** Per device: its ADFS tokens, and for which connection settings and credentials Secret version. */
  private readonly tokens = new Map<string, { target: string; cache: AdfsTokenCache }>();
  private readonly idleMs: number;
  private readonly clock: Clock;
  private sweepTimer: TimerHandle | undefined;

  private readonly budgets: DeviceBudgets;

  private readonly controllerNamespace: string;

  constructor(
    private readonly secrets: ObjectStore<V1Secret>,
    private readonly options: SecretBackedConnectionsOptions = {},
  ) {
    this.controllerNamespace = options.controllerNamespace ?? DEFAULT_CONTROLLER_NAMESPACE;
    this.budgets = options.budgets ?? new DeviceBudgets();
    this.idleMs = options.idleMs ?? DEFAULT_CLIENT_IDLE_MS;
    this.clock = options.clock ?? systemClock;
  }

  /** The Secret's namespace/name: the controller's namespace when the reference names none. */
  secretKey(ref: SecretRef): string {
    return `${ref.namespace ?? this.controllerNamespace}/${ref.name}`;
  }

  private readSecret(ref: SecretRef, field: string, keys: readonly string[]): { values: string[] } | Failure {
    if (ref.namespace !== undefined && ref.namespace !== this.controllerNamespace) {
      // Whoever may edit an EdgeDevice must not make the controller read (and send to a device) any Secret of the cluster.
      return {
        ok: false,
        reason: 'SecretNamespaceNotAllowed',
        message: `${field}.namespace is ${ref.namespace}: device Secrets are read only from the controller's namespace ${this.controllerNamespace}; create Secret ${ref.name} there and set ${field}.namespace to ${this.controllerNamespace}`,
      };
    }
    const key = this.secretKey(ref);
    const secret = this.secrets.get(key);
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

  /** The device's budget (with its Retry-After gate) outlives client rebuilds: a Secret change forgets neither. */
  private policies(device: string): AdditionalPolicyConfig[] {
    return [this.budgets.policy(device), ...(this.options.extraPolicies?.(device) ?? [])].map((policy) => ({ policy, position: 'perRetry' as const }));
  }

  arm(device: EdgeDevice): Connected<DeviceArm> {
    const spec = device.spec.arm;
    const refs: SecretRef[] = [spec.credentialsSecretRef, ...(spec.caBundleSecretRef !== undefined ? [spec.caBundleSecretRef] : [])];
    const fingerprint = JSON.stringify([spec, refs.map((r) => this.secrets.get(this.secretKey(r))?.metadata?.resourceVersion)]);
    const name = device.metadata.name ?? '';
    return this.cached(this.armCache, name, fingerprint, () => this.buildArm(device, fingerprint));
  }

  azure(device: EdgeDevice): Connected<AzureDevice> | undefined {
    const spec = device.spec.azure;
    const name = device.metadata.name ?? '';
    if (spec === undefined) {
      this.drop(this.azureCache, name);
      return undefined;
    }
    const refs: SecretRef[] = [
      ...(spec.credentialsSecretRef !== undefined ? [spec.credentialsSecretRef] : []),
      ...(device.spec.arm.caBundleSecretRef !== undefined ? [device.spec.arm.caBundleSecretRef] : []),
    ];
    const fingerprint = JSON.stringify([spec, refs.map((r) => this.secrets.get(this.secretKey(r))?.metadata?.resourceVersion)]);
    return this.cached(this.azureCache, name, fingerprint, () => this.buildAzure(device));
  }

  forget(deviceName: string): void {
    this.drop(this.armCache, deviceName);
    this.drop(this.azureCache, deviceName);
    this.apiVersions.delete(deviceName);
    this.tokens.delete(deviceName);
  }

  /** How many devices have ARM / Azure clients built now (for tests and measurements). */
  clientCounts(): { arm: number; azure: number } {
    return { arm: this.armCache.size, azure: this.azureCache.size };
  }

  /** Closes every device's connections and drops all clients (on shutdown). */
  close(): void {
    if (this.sweepTimer !== undefined) this.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const name of [...this.armCache.keys()]) this.drop(this.armCache, name);
    for (const name of [...this.azureCache.keys()]) this.drop(this.azureCache, name);
  }

  /** The cached clients while their fingerprint holds, else new ones. */
  private cached<T>(cache: Map<string, Cached<T>>, name: string, fingerprint: string, build: () => { value: Connected<T>; close?: () => void }): Connected<T> {
    const now = this.clock.now();
    const entry = cache.get(name);
    if (entry?.fingerprint === fingerprint) {
      entry.usedAt = now;
      return entry.value;
    }
    this.drop(cache, name);
    const built = build();
    cache.set(name, { fingerprint, value: built.value, usedAt: now, ...(built.close !== undefined ? { close: built.close } : {}) });
    this.scheduleSweep();
    return built.value;
  }

  private drop<T>(cache: Map<string, Cached<T>>, name: string): void {
    cache.get(name)?.close?.();
    cache.delete(name);
  }

  /**
   * Every quarter of the idle period while any clients exist, drops those not asked for during it (so clients
   * live between one and 1.25 idle periods after their last use). The timer never keeps the process alive, and
   * close() stops it. A drop closes the device's agent gracefully: a reconcile still holding those clients
   * finishes its request, and opens a new connection if it sends another.
   */
  private scheduleSweep(): void {
    if (this.sweepTimer !== undefined || (this.armCache.size === 0 && this.azureCache.size === 0)) return;
    const handle = this.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      const now = this.clock.now();
      for (const cache of [this.armCache, this.azureCache] as Map<string, Cached<unknown>>[]) {
        for (const [name, entry] of cache) if (now - entry.usedAt >= this.idleMs) this.drop(cache, name);
      }
      this.dropExpiredTokens(now);
      this.scheduleSweep();
    }, this.idleMs / 4);
    (handle as { unref?: () => void }).unref?.();
    this.sweepTimer = handle;
  }

  /** A token past its expiry serves nothing: it goes at a sweep (tokens outlive clients, not themselves). */
  private dropExpiredTokens(now: number): void {
    for (const [name, { cache }] of this.tokens) {
      for (const [resource, { token }] of cache) if (token.expiresOnTimestamp <= now) cache.delete(resource);
      if (cache.size === 0) this.tokens.delete(name);
    }
  }

  /** The device's token cache while its connection settings and credentials Secret are those it was filled with. */
  private tokenCache(name: string, target: string): AdfsTokenCache {
    const known = this.tokens.get(name);
    if (known?.target === target) return known.cache;
    const cache: AdfsTokenCache = new Map();
    this.tokens.set(name, { target, cache });
    return cache;
  }

  private caPem(device: EdgeDevice): { pem?: string } | Failure {
    const ref = device.spec.arm.caBundleSecretRef;
    if (ref === undefined) return {};
    const key = ref.key ?? 'ca.crt';
    const ca = this.readSecret(ref, 'spec.arm.caBundleSecretRef', [key]);
    if ('ok' in ca) return ca;
    const bundle = checkCaBundle(ca.values[0] ?? '');
    if (!bundle.ok) {
      return {
        ok: false,
        reason: 'SecretInvalid',
        message: `Secret ${this.secretKey(ref)} key ${key} (spec.arm.caBundleSecretRef) ${bundle.problem}: put the device's root CA certificate(s) there in PEM form`,
      };
    }
    return { pem: bundle.pem };
  }

  /** The controller's own identity goes only to the Azure clouds' authorities and those the operator added. */
  private ambientAuthorityRefused(authority: string): Failure | undefined {
    const host = authorityHostName(authority);
    const extra = (this.options.extraAuthorityHosts ?? []).map((h) => h.toLowerCase());
    if (host !== undefined && (isAzureCloudAuthority(authority) || extra.includes(host))) return undefined;
    return {
      ok: false,
      reason: 'AuthorityNotAllowed',
      message:
        `spec.azure.authorityHost ${host ?? '(not an https:// URL)'} is not an Azure cloud authority (${AZURE_CLOUD_AUTHORITY_HOSTS.join(', ')}), so the controller's own identity is not sent there: ` +
        `set spec.azure.credentialsSecretRef to a service principal for that authority, or have the operator allow the host with --azure-authority-host`,
    };
  }

  /**
   * The Azure side trusts the public roots, plus the device CA only where neither the endpoint nor the authority is
   * an Azure cloud's (a private cloud or a simulator may be signed by it): the device CA is never trusted for
   * Azure itself. Node's `ca` option replaces the default roots, so both are passed.
   */
  private azureCaPem(device: EdgeDevice): string | undefined {
    const spec = device.spec.azure;
    const endpointHost = authorityHostName(spec?.endpoint ?? 'https://management.azure.com');
    if (endpointHost === undefined || AZURE_CLOUD_ARM_HOSTS.includes(endpointHost) || isAzureCloudAuthority(spec?.authorityHost ?? DEFAULT_AUTHORITY_HOST)) return undefined;
    const ca = this.caPem(device);
    return 'ok' in ca || ca.pem === undefined ? undefined : [...rootCertificates, ca.pem].join('\n');
  }

  private buildArm(device: EdgeDevice, fingerprint: string): { value: Connected<DeviceArm>; close?: () => void } {
    const spec = device.spec.arm;
    const creds = this.readSecret(spec.credentialsSecretRef, 'spec.arm.credentialsSecretRef', ['username', 'password']);
    if ('ok' in creds) return { value: creds };
    const ca = this.caPem(device);
    if ('ok' in ca) return { value: ca };
    const [username = '', password = ''] = creds.values;
    const name = device.metadata.name ?? '';
    // Versions negotiated against another endpoint or subscription are not this device's.
    const target = JSON.stringify([spec.endpoint, spec.subscriptionId]);
    // Negotiated by these clients' predecessors, else (after a restart) recorded in the device's status when they
    // are the newest the controller speaks: neither costs a providers read.
    const known = this.apiVersions.get(name);
    const recorded = newestRecorded(device.status?.apiVersions);
    const clients = createDeviceClients(
      {
        armEndpoint: spec.endpoint,
        loginEndpoint: spec.loginEndpoint,
        subscriptionId: spec.subscriptionId,
        username,
        password,
        credentialsSource: `Secret ${this.secretKey(spec.credentialsSecretRef)} (spec.arm.credentialsSecretRef, keys username and password)`,
        ...(ca.pem !== undefined ? { caPem: ca.pem } : {}),
      },
      {
        ...(this.options.userAgentPrefix !== undefined ? { userAgentPrefix: this.options.userAgentPrefix } : {}),
        ...(this.options.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.options.requestTimeoutMs } : {}),
        additionalPolicies: this.policies(device.metadata.name ?? ''),
        ...(known?.target === target ? { knownApiVersions: known.versions } : recorded !== undefined ? { knownApiVersions: recorded } : {}),
        onApiVersions: (versions) => this.apiVersions.set(name, { target, versions }),
        // The fingerprint holds the credentials Secret's resourceVersion: a new password gets a new token.
        tokenCache: this.tokenCache(name, fingerprint),
        now: () => this.clock.now(),
      },
    );
    return { value: { ok: true, client: new SdkDeviceArm(clients, spec.resourceGroup) }, close: clients.close };
  }

  private buildAzure(device: EdgeDevice): { value: Connected<AzureDevice>; close?: () => void } {
    const spec = device.spec.azure;
    if (spec === undefined) return { value: { ok: false, reason: 'AzureNotConfigured', message: 'spec.azure is not set' } };
    let tenant: { tenantId?: string; clientId?: string; clientSecret?: string } = {};
    if (spec.credentialsSecretRef !== undefined) {
      const creds = this.readSecret(spec.credentialsSecretRef, 'spec.azure.credentialsSecretRef', ['tenantId', 'clientId', 'clientSecret']);
      if ('ok' in creds) return { value: creds };
      const [tenantId, clientId, clientSecret] = creds.values;
      tenant = { tenantId, clientId, clientSecret };
    } else {
      const refused = this.ambientAuthorityRefused(spec.authorityHost ?? DEFAULT_AUTHORITY_HOST);
      if (refused !== undefined) return { value: refused };
    }
    const caPem = this.azureCaPem(device);
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
    return { value: { ok: true, client: new SdkAzureDevice(clients, spec.resourceId) }, close: clients.close };
  }
}

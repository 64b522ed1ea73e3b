// GpuVm admin-credential Secrets, read on demand (GET) in the GpuVm's own namespace: no Secret of a tenant
// namespace is listed or watched, and the controller needs only `get` there (a RoleBinding the namespace's admin
// creates). Found Secrets are kept briefly (a minute from the read) in a small bounded cache, so the reconciles of
// one deployment, and the GpuVms sharing a Secret, make one request, and reads at the same time share one request;
// missing, forbidden or invalid Secrets are never cached, so a fix is seen on the next retry.
import { ApiException, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { AdminCredentials } from '../azure/gpuVmDeployments.js';
import type { SecretView } from '../plan/gpuVmPlan.js';
import { abortable } from '../runtime/kubeListerWatcher.js';
import type { Clock } from './ports.js';

export type SecretFetchResult = { kind: 'found'; secret: V1Secret } | { kind: 'missing' } | { kind: 'forbidden' };
export type SecretFetch = (namespace: string, name: string) => Promise<SecretFetchResult>;

export interface AdminSecret {
  view: SecretView;
  credentials?: AdminCredentials;
}

/** Entries (Secrets) the cache holds at most, and how long one is trusted. */
export const ADMIN_SECRET_CACHE_ENTRIES = 128;
export const ADMIN_SECRET_CACHE_TTL_MS = 60_000;

/** GET /api/v1/namespaces/{ns}/secrets/{name}; 404 and 403 are answers, anything else throws (the reconcile retries). */
export function kubeSecretFetch(kubeConfig: KubeConfig, timeoutMs = 30_000): SecretFetch {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return async (namespace, name) => {
    try {
      return { kind: 'found', secret: await api.readNamespacedSecret({ namespace, name }, abortable(AbortSignal.timeout(timeoutMs))) };
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return { kind: 'missing' };
      if (err instanceof ApiException && err.code === 403) return { kind: 'forbidden' };
      // A failed GET returns a Status, never the Secret's data.
      throw new Error(`reading Secret ${namespace}/${name} failed: ${err instanceof ApiException ? `HTTP ${err.code}` : String(err)}`, { cause: err });
    }
  };
}

export function decodeAdminSecret(secret: V1Secret | undefined): AdminSecret {
  if (secret === undefined) return { view: { state: 'missing' } };
  const read = (key: string): string | undefined => {
    const data = secret.data?.[key];
    if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8');
    return secret.stringData?.[key];
  };
  const username = read('username');
  const password = read('password');
  const sshPublicKey = read('sshPublicKey');
  if (username === undefined || username === '') return { view: { state: 'invalid', problem: 'key username is missing or empty' } };
  if ((password === undefined || password === '') && (sshPublicKey === undefined || sshPublicKey === '')) {
    return { view: { state: 'invalid', problem: 'it needs a key password or sshPublicKey' } };
  }
  const credentials: AdminCredentials = { username };
  if (password !== undefined && password !== '') credentials.password = password;
  if (sshPublicKey !== undefined && sshPublicKey !== '') credentials.sshPublicKey = sshPublicKey;
  return { view: { state: 'ok' }, credentials };
}

interface Entry {
  credentials: AdminCredentials;
  expiresAt: number;
}

export class AdminSecretReader {
  /** Insertion order is recency order (a hit is moved to the end): the first key is the least recently used. */
  private readonly cache = new Map<string, Entry>();
  /** GETs in flight, by Secret: a read while one is on its way waits for it. */
  private readonly inFlight = new Map<string, Promise<AdminSecret>>();
  private fetches = 0;

  constructor(
    private readonly fetch: SecretFetch,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly limits: { entries: number; ttlMs: number } = { entries: ADMIN_SECRET_CACHE_ENTRIES, ttlMs: ADMIN_SECRET_CACHE_TTL_MS },
  ) {}

  async read(namespace: string, name: string): Promise<AdminSecret> {
    const key = `${namespace}/${name}`;
    const cached = this.cache.get(key);
    this.cache.delete(key);
    if (cached !== undefined && cached.expiresAt > this.clock.now()) {
      this.cache.set(key, cached);
      return { view: { state: 'ok' }, credentials: cached.credentials };
    }
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = this.fetchAndKeep(key, namespace, name).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async fetchAndKeep(key: string, namespace: string, name: string): Promise<AdminSecret> {
    this.fetches++;
    const fetched = await this.fetch(namespace, name);
    if (fetched.kind === 'forbidden') return { view: { state: 'forbidden' } };
    const decoded = decodeAdminSecret(fetched.kind === 'found' ? fetched.secret : undefined);
    if (decoded.credentials !== undefined) {
      this.cache.set(key, { credentials: decoded.credentials, expiresAt: this.clock.now() + this.limits.ttlMs });
      for (const oldest of this.cache.keys()) {
        if (this.cache.size <= this.limits.entries) break;
        this.cache.delete(oldest);
      }
    }
    return decoded;
  }

  get cachedEntries(): number {
    return this.cache.size;
  }

  /** GET requests made so far (cache misses). */
  get requests(): number {
    return this.fetches;
  }
}

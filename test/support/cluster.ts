// Helpers for e2e tests against the run's real control plane (started by globalSetup.ts).
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { runKubectl, type KubectlOptions, type KubectlResult } from '../../src/devenv/kubectl.js';

export type { KubectlResult } from '../../src/devenv/kubectl.js';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: e2e tests run through jest's e2e project (globalSetup starts the control plane)`);
  return value;
}

/** Path of the admin kubeconfig for this test run. */
export function testKubeconfigPath(): string {
  return requiredEnv('GPUVM_TEST_KUBECONFIG');
}

/** An admin KubeConfig (system:masters) for the run's apiserver. */
export function testKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testKubeconfigPath());
  return kc;
}

/** Runs the built kubectl with the test kubeconfig; resolves with {code, stdout, stderr} and never throws on a non-zero exit. */
export function kubectl(args: readonly string[], options: KubectlOptions = {}): Promise<KubectlResult> {
  const cache = process.env.GPUVM_TEST_KUBECTL_CACHE;
  return runKubectl(requiredEnv('GPUVM_TEST_KUBECTL'), testKubeconfigPath(), [...(cache ? [`--cache-dir=${cache}`] : []), ...args], options);
}

/** `kubectl apply -f -` of a manifest (optionally into a namespace); throws with kubectl's output on failure. */
export async function applyManifest(manifest: string, options: { namespace?: string } = {}): Promise<string> {
  const args = ['apply', ...(options.namespace ? ['-n', options.namespace] : []), '-f', '-'];
  const result = await kubectl(args, { input: manifest });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${String(result.code)}):\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Names what is awaited in the timeout error. */
  description?: string;
}

/**
 * Polls `predicate` until it returns a truthy value and resolves with it. Errors thrown by the predicate count
 * as "not yet"; the last one is reported on timeout.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, options: WaitForOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 30_000, intervalMs = 200, description = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description} (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Label on every namespace created by useTestNamespace. */
export const TEST_NAMESPACE_LABEL = 'gpuvm.io/e2e-test';

/**
 * A fresh namespace for the enclosing test file (or describe block): created in beforeAll, deleted in afterAll.
 * Returns a getter, valid inside tests and hooks. The control plane runs no kube-controller-manager, so a
 * deleted namespace stays Terminating with its contents until the run's etcd is thrown away.
 */
export function useTestNamespace(prefix: string): () => string {
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40).replace(/^-+|-+$/g, '') || 'test';
  let name: string | undefined;
  beforeAll(async () => {
    const candidate = `${base}-${randomBytes(4).toString('hex')}`;
    await testKubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: candidate, labels: { [TEST_NAMESPACE_LABEL]: 'true' } } } });
    name = candidate;
  });
  afterAll(async () => {
    if (!name) return;
    try {
      await testKubeConfig().makeApiClient(CoreV1Api).deleteNamespace({ name });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
    }
  });
  return () => {
    if (!name) throw new Error(`the test namespace "${base}-…" exists only inside tests and hooks (after beforeAll)`);
    return name;
  };
}

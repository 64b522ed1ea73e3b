import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { PooledKubeConfig, REBUILD_AFTER_MS } from './pooledKubeConfig.js';

// Any PEM-shaped data: the dispatcher is built, never connected, in these tests.
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');

function kubeconfig(server: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server, 'certificate-authority-data': CA } }],
    users: [{ name: 'u', user: { token: 'not-a-secret' } }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'ctx',
  });
}

async function dispatcherOf(config: PooledKubeConfig): Promise<unknown> {
  const context = new RequestContext('https://apiserver.example:6443/api/v1/namespaces', HttpMethod.GET);
  await config.applySecurityAuthentication(context);
  return context.getDispatcher();
}

describe('PooledKubeConfig', () => {
  it('gives every request the same dispatcher, so requests share keep-alive connections', async () => {
    const config = new PooledKubeConfig(() => 0);
    config.loadFromString(kubeconfig('https://apiserver.example:6443'));
    const first = await dispatcherOf(config);
    expect(first).toBeDefined();
    expect(await dispatcherOf(config)).toBe(first);
  });

  it('builds a new one when the cluster changes, and after REBUILD_AFTER_MS (rotated credential files)', async () => {
    let now = 0;
    const config = new PooledKubeConfig(() => now);
    config.loadFromString(kubeconfig('https://apiserver.example:6443'));
    const first = await dispatcherOf(config);
    config.loadFromString(kubeconfig('https://other.example:6443'));
    const second = await dispatcherOf(config);
    expect(second).not.toBe(first);
    now = REBUILD_AFTER_MS - 1;
    expect(await dispatcherOf(config)).toBe(second);
    now = REBUILD_AFTER_MS;
    expect(await dispatcherOf(config)).not.toBe(second);
  });
});

import type { V1Secret } from '@kubernetes/client-node';
import type { EdgeDevice } from '../api/types.js';
import { SecretBackedConnections } from './deviceConnections.js';
import type { ObjectStore } from './ports.js';

// Only what decides whether clients are built: no request is made by building them.
const secrets = new Map<string, V1Secret>([
  ['ctl/dev-arm', { metadata: { name: 'dev-arm', namespace: 'ctl', resourceVersion: '1' }, stringData: { username: 'EdgeArmUser', password: 'p' } }],
  ['team/dev-arm', { metadata: { name: 'dev-arm', namespace: 'team', resourceVersion: '1' }, stringData: { username: 'EdgeArmUser', password: 'p' } }],
]);
const store: ObjectStore<V1Secret> = { get: (key) => secrets.get(key), byIndex: () => [] };

function device(arm: Partial<EdgeDevice['spec']['arm']>, azure?: EdgeDevice['spec']['azure']): EdgeDevice {
  return {
    apiVersion: 'gpuvm.io/v1alpha1',
    kind: 'EdgeDevice',
    metadata: { name: 'dev' },
    spec: {
      arm: { endpoint: 'https://management.dev.local', loginEndpoint: 'https://login.dev.local', subscriptionId: 's', resourceGroup: 'rg', credentialsSecretRef: { name: 'dev-arm' }, ...arm },
      ...(azure !== undefined ? { azure } : {}),
    },
  } as EdgeDevice;
}
const resourceId = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/dev';

describe('SecretBackedConnections', () => {
  it("reads device Secrets from the controller's namespace only; another namespace is refused by field", () => {
    const connections = new SecretBackedConnections(store, { controllerNamespace: 'ctl' });
    expect(connections.arm(device({})).ok).toBe(true);
    expect(connections.arm(device({ credentialsSecretRef: { name: 'dev-arm', namespace: 'ctl' } })).ok).toBe(true);
    expect(connections.arm(device({ credentialsSecretRef: { name: 'dev-arm', namespace: 'team' } }))).toEqual({
      ok: false,
      reason: 'SecretNamespaceNotAllowed',
      message:
        "spec.arm.credentialsSecretRef.namespace is team: device Secrets are read only from the controller's namespace ctl; create Secret dev-arm there and set spec.arm.credentialsSecretRef.namespace to ctl",
    });
    expect(connections.azure(device({}, { resourceId, credentialsSecretRef: { name: 'sp', namespace: 'team' } }))).toMatchObject({ ok: false, reason: 'SecretNamespaceNotAllowed' });
  });

  it("sends the controller's own identity only to Azure cloud authorities and those the operator added", () => {
    const connections = new SecretBackedConnections(store, { controllerNamespace: 'ctl', extraAuthorityHosts: ['Login.Stack.Example'] });
    for (const authorityHost of [undefined, 'https://login.microsoftonline.us', 'https://LOGIN.chinacloudapi.cn/', 'https://login.stack.example']) {
      expect({ authorityHost, ok: connections.azure(device({}, { resourceId, ...(authorityHost !== undefined ? { authorityHost } : {}) }))?.ok }).toEqual({ authorityHost, ok: true });
    }
    for (const authorityHost of ['https://attacker.example', 'https://login.microsoftonline.com.attacker.example', 'https://127.0.0.1:8443']) {
      expect(connections.azure(device({}, { resourceId, authorityHost }))).toMatchObject({ ok: false, reason: 'AuthorityNotAllowed', message: expect.stringContaining('--azure-authority-host') as unknown });
    }
  });
});

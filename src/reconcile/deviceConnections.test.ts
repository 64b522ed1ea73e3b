import type { V1Secret } from '@kubernetes/client-node';
import { FakeClock } from '../../test/support/fakes/fakeClock.js';
import type { EdgeDevice } from '../api/types.js';
import { SecretBackedConnections } from './deviceConnections.js';
import type { ObjectStore } from './ports.js';

// Only what decides whether clients are built: no request is made by building them.
const secrets = new Map<string, V1Secret>([
  ['ctl/dev-arm', { metadata: { name: 'dev-arm', namespace: 'ctl', resourceVersion: '1' }, stringData: { username: 'EdgeArmUser', password: 'p' } }],
  ['team/dev-arm', { metadata: { name: 'dev-arm', namespace: 'team', resourceVersion: '1' }, stringData: { username: 'EdgeArmUser', password: 'p' } }],
]);
const store: ObjectStore<V1Secret> = { get: (key) => secrets.get(key), byIndex: () => [] };

function device(arm: Partial<EdgeDevice['spec']['arm']>, azure?: EdgeDevice['spec']['azure'], name = 'dev'): EdgeDevice {
  return {
    apiVersion: 'gpuvm.io/v1alpha1',
    kind: 'EdgeDevice',
    metadata: { name },
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

describe('SecretBackedConnections: idle clients', () => {
  const IDLE_MS = 120_000;

  it("keeps a device's clients while it is used and builds them again once they went unused for the idle period, not before", () => {
    const clock = new FakeClock();
    const connections = new SecretBackedConnections(store, { controllerNamespace: 'ctl', idleMs: IDLE_MS, clock });
    const first = connections.arm(device({}));
    expect(first.ok).toBe(true);
    clock.advance(IDLE_MS - 1);
    expect(connections.arm(device({}))).toBe(first);
    // Used just now: the period starts again.
    clock.advance(IDLE_MS - 1);
    expect(connections.arm(device({}))).toBe(first);
    // Swept every quarter of the period: gone at most a quarter period after it ran out.
    clock.advance(IDLE_MS * 1.25);
    expect(connections.clientCounts().arm).toBe(0);
    const second = connections.arm(device({}));
    expect(second.ok).toBe(true);
    expect(second).not.toBe(first);
    expect(connections.arm(device({}))).toBe(second);
  });

  it('drops idle clients device by device, stops sweeping once none are left, and drops all on close', () => {
    const clock = new FakeClock();
    const connections = new SecretBackedConnections(store, { controllerNamespace: 'ctl', idleMs: IDLE_MS, clock });
    connections.arm(device({}, undefined, 'a'));
    connections.azure(device({}, { resourceId }, 'a'));
    connections.arm(device({}, undefined, 'b'));
    expect(connections.clientCounts()).toEqual({ arm: 2, azure: 1 });
    clock.advance(IDLE_MS / 2);
    connections.arm(device({}, undefined, 'b'));
    clock.advance(IDLE_MS / 2);
    expect(connections.clientCounts()).toEqual({ arm: 1, azure: 0 });
    clock.advance(IDLE_MS / 2);
    expect(connections.clientCounts()).toEqual({ arm: 0, azure: 0 });
    expect(clock.pendingTimers()).toBe(0);

    connections.arm(device({}, undefined, 'a'));
    expect(clock.pendingTimers()).toBe(1);
    connections.close();
    expect(connections.clientCounts()).toEqual({ arm: 0, azure: 0 });
    expect(clock.pendingTimers()).toBe(0);
  });

  it('builds new clients at once when the Secret changes, whatever the idle period', () => {
    const clock = new FakeClock();
    const changing = new Map(secrets);
    const connections = new SecretBackedConnections({ get: (key) => changing.get(key), byIndex: () => [] }, { controllerNamespace: 'ctl', idleMs: IDLE_MS, clock });
    const first = connections.arm(device({}));
    changing.set('ctl/dev-arm', { metadata: { name: 'dev-arm', namespace: 'ctl', resourceVersion: '2' }, stringData: { username: 'EdgeArmUser', password: 'q' } });
    expect(connections.arm(device({}))).not.toBe(first);
    expect(connections.clientCounts().arm).toBe(1);
  });
});

import { API_VERSION, type EdgeDevice, type GpuVm } from '../api/types.js';
import { deployBlocker, mayReserveGpu, namespaceAllowed, vmNameHeldElsewhere } from './tenancy.js';

const device = (allowedNamespaces?: string[]): Pick<EdgeDevice, 'spec'> => ({
  spec: {
    arm: { endpoint: 'https://m', loginEndpoint: 'https://l', subscriptionId: 's', resourceGroup: 'rg', credentialsSecretRef: { name: 'x' } },
    ...(allowedNamespaces !== undefined ? { allowedNamespaces } : {}),
  },
});

function gpuVm(namespace: string, second: number, o: { uid?: string; status?: GpuVm['status'] } = {}): GpuVm {
  return {
    apiVersion: API_VERSION,
    kind: 'GpuVm',
    metadata: { name: 'web', namespace, uid: o.uid ?? `uid-${namespace}`, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, second)) },
    spec: { deviceRef: { name: 'd' }, size: 'Standard_NC4as_T4_v3', image: { name: 'i', osType: 'Linux' }, adminCredentialsSecretRef: { name: 's' } },
    status: o.status ?? { observedGeneration: 1 },
  };
}

const withVm: GpuVm['status'] = { observedGeneration: 1, vm: { resourceId: '/vm/web' } };
const provisioned = (reason: string): GpuVm['status'] => ({
  observedGeneration: 1,
  conditions: [{ type: 'VmProvisioned', status: 'False', reason, message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }],
});

describe('namespaceAllowed', () => {
  it.each([
    [undefined, 'any', true],
    [['team-a'], 'team-a', true],
    [['team-a'], 'team-b', false],
    [[], 'team-a', false],
  ])('allowedNamespaces %j, namespace %s: %s', (allowed, namespace, expected) => {
    expect(namespaceAllowed(device(allowed), namespace)).toBe(expected);
  });
});

describe('vmNameHeldElsewhere', () => {
  it.each([
    ['an older GpuVm of another namespace holds it', gpuVm('b', 2), [gpuVm('a', 1)], true],
    ['a younger one does not', gpuVm('a', 1), [gpuVm('b', 2)], false],
    ['same second: the lower uid wins', gpuVm('b', 1, { uid: 'uid-2' }), [gpuVm('a', 1, { uid: 'uid-1' })], true],
    ['a younger GpuVm that has the VM keeps it', gpuVm('a', 1), [gpuVm('b', 2, { status: withVm })], true],
    ['a GpuVm that has the VM never loses it', gpuVm('b', 2, { status: withVm }), [gpuVm('a', 1)], false],
    ['a disallowed namespace takes no name', gpuVm('b', 2), [gpuVm('x', 1)], false],
  ])('%s', (_what, self, others, expected) => {
    expect(vmNameHeldElsewhere(self, device(['a', 'b']), [self, ...others])).toBe(expected);
  });
});

describe('deployBlocker and mayReserveGpu', () => {
  it.each([
    ['not looked at yet', gpuVm('a', 1, { status: {} }), 'NotYetObserved'],
    ['Secret missing', gpuVm('a', 1, { status: provisioned('SecretNotFound') }), 'SecretNotFound'],
    ['Secret invalid', gpuVm('a', 1, { status: provisioned('SecretInvalid') }), 'SecretInvalid'],
    ['image missing', gpuVm('a', 1, { status: provisioned('ImageNotFound') }), 'ImageNotFound'],
    ['VM name taken', gpuVm('a', 1, { status: provisioned('VmNameConflict') }), 'VmNameConflict'],
    ['a deployment that failed (retried, may deploy)', gpuVm('a', 1, { status: provisioned('AllocationFailed') }), undefined],
    ['ready to deploy', gpuVm('a', 1), undefined],
  ])('%s: %s', (_what, g, expected) => {
    expect(deployBlocker(g)).toBe(expected);
    expect(mayReserveGpu(g, device(), [g])).toBe(expected === undefined);
  });
});

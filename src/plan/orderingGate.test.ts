import { orderingGate } from './orderingGate.js';

describe('orderingGate', () => {
  it('stays shut while an admitted GpuVm has not taken its GPU', () => {
    const gate = orderingGate([{ gpuVm: 'a/vm1', uid: '1', state: 'Reserved' }, { gpuVm: 'a/vm2', uid: '2', state: 'Held' }], 0);
    expect(gate).toMatchObject({ open: false, waitingFor: ['a/vm1'] });
    expect(gate.message).toMatch(/a\/vm1/);
  });

  it('opens when every admitted GpuVm holds its GPU, saying what Kubernetes gets', () => {
    expect(orderingGate([{ gpuVm: 'a/vm1', uid: '1', state: 'Held' }], 1)).toMatchObject({ open: true, kubernetesGpus: 1 });
    const none = orderingGate([{ gpuVm: 'a/vm1', uid: '1', state: 'Held' }, { gpuVm: 'a/vm2', uid: '2', state: 'Held' }], 0);
    expect(none).toMatchObject({ open: true, kubernetesGpus: 0 });
    expect(none.message).toMatch(/with no GPU/);
  });

  it('stays shut until the device GpuVms have settled', () => {
    const gate = orderingGate([], 2, 4000);
    expect(gate).toMatchObject({ open: false, retryAfterMs: 4000 });
    expect(gate.message).toMatch(/waiting 4s for GpuVms applied together/);
  });

  it('opens on a device without GpuVms', () => {
    expect(orderingGate([], 2)).toMatchObject({ open: true, kubernetesGpus: 2 });
  });
});

import { admit, compareQueueOrder, type AdmissionCandidate, type AdmissionInput } from './admission.js';

let seq = 0;
function vm(name: string, overrides: Partial<AdmissionCandidate> = {}): AdmissionCandidate {
  seq++;
  return {
    key: `ns/${name}`,
    uid: `uid-${name}`,
    creationTimestamp: `2026-01-01T00:00:${String(seq).padStart(2, '0')}Z`,
    wantsGpu: true,
    vmHoldsGpu: false,
    ...overrides,
  };
}

function input(overrides: Partial<AdmissionInput>): AdmissionInput {
  return { totalGpus: 2, kubernetesGpus: 0, foreignGpuVms: 0, candidates: [], ledger: [], ...overrides };
}

describe('admit', () => {
  beforeEach(() => {
    seq = 0;
  });

  it('reserves free GPUs for the oldest waiting GpuVms and queues the rest in order', () => {
    const [a, b, c] = [vm('a'), vm('b'), vm('c')];
    const result = admit(input({ candidates: [c, a, b] }));
    expect(result.allocations).toEqual([
      { gpuVm: 'ns/a', uid: 'uid-a', state: 'Reserved' },
      { gpuVm: 'ns/b', uid: 'uid-b', state: 'Reserved' },
    ]);
    expect(result.waiting).toEqual([{ key: 'ns/c', uid: 'uid-c', position: 1 }]);
    expect(result.gpus).toEqual({ total: 2, vms: 0, kubernetes: 0, free: 0 });
  });

  it('keeps existing reservations even when a GpuVm created earlier arrives later', () => {
    const older = vm('older');
    const newer = vm('newer');
    const result = admit(
      input({ totalGpus: 1, candidates: [older, newer], ledger: [{ gpuVm: 'ns/newer', uid: 'uid-newer', state: 'Reserved' }] }),
    );
    expect(result.allocations).toEqual([{ gpuVm: 'ns/newer', uid: 'uid-newer', state: 'Reserved' }]);
    expect(result.waiting).toEqual([{ key: 'ns/older', uid: 'uid-older', position: 1 }]);
  });

  it('marks GpuVms whose VM holds a GPU as Held, with or without a previous entry', () => {
    const result = admit(input({ candidates: [vm('a', { vmHoldsGpu: true }), vm('b')] }));
    expect(result.allocations).toEqual([
      { gpuVm: 'ns/a', uid: 'uid-a', state: 'Held' },
      { gpuVm: 'ns/b', uid: 'uid-b', state: 'Reserved' },
    ]);
    expect(result.gpus).toEqual({ total: 2, vms: 1, kubernetes: 0, free: 0 });
  });

  it('gives Kubernetes-held and foreign-held GPUs to nobody else', () => {
    expect(admit(input({ kubernetesGpus: 2, candidates: [vm('a')] })).waiting).toHaveLength(1);
    const mixed = admit(input({ kubernetesGpus: 1, foreignGpuVms: 1, candidates: [vm('a')] }));
    expect(mixed.allocations).toEqual([]);
    expect(mixed.gpus).toEqual({ total: 2, vms: 1, kubernetes: 1, free: 0 });
  });

  it('releases the entry of a GpuVm that is gone or no longer wants a GPU', () => {
    const ledger = [
      { gpuVm: 'ns/gone', uid: 'uid-gone', state: 'Held' as const },
      { gpuVm: 'ns/dealloc', uid: 'uid-dealloc', state: 'Reserved' as const },
    ];
    const result = admit(input({ totalGpus: 1, candidates: [vm('dealloc', { wantsGpu: false }), vm('next')], ledger }));
    expect(result.allocations).toEqual([{ gpuVm: 'ns/next', uid: 'uid-next', state: 'Reserved' }]);
  });

  it('keeps a deleting GpuVm Held while its VM still exists', () => {
    const result = admit(input({ totalGpus: 1, candidates: [vm('deleting', { wantsGpu: false, vmHoldsGpu: true }), vm('next')] }));
    expect(result.allocations).toEqual([{ gpuVm: 'ns/deleting', uid: 'uid-deleting', state: 'Held' }]);
    expect(result.waiting.map((w) => w.key)).toEqual(['ns/next']);
  });

  it('never promises more GPUs than are free, even when reality is over-committed', () => {
    const result = admit(
      input({ totalGpus: 1, kubernetesGpus: 1, candidates: [vm('a', { vmHoldsGpu: true }), vm('b')] }),
    );
    expect(result.gpus.free).toBe(0);
    expect(result.allocations.filter((a) => a.state === 'Reserved')).toEqual([]);
  });

  it('is stable: applying it to its own output changes nothing', () => {
    const candidates = [vm('a'), vm('b'), vm('c'), vm('d', { vmHoldsGpu: true })];
    const first = admit(input({ totalGpus: 2, candidates }));
    const second = admit(input({ totalGpus: 2, candidates, ledger: first.allocations }));
    expect(second).toEqual(first);
  });

  it('holds the capacity invariant for every small combination', () => {
    for (let total = 1; total <= 2; total++) {
      for (let k8s = 0; k8s <= total; k8s++) {
        for (let foreign = 0; foreign <= 2; foreign++) {
          for (let n = 0; n <= 4; n++) {
            const candidates = Array.from({ length: n }, (_, i) => vm(`v${i}`));
            const r = admit(input({ totalGpus: total, kubernetesGpus: k8s, foreignGpuVms: foreign, candidates }));
            const reserved = r.allocations.length;
            expect(reserved).toBeLessThanOrEqual(Math.max(0, total - k8s - foreign));
            expect(reserved + r.waiting.length).toBe(n);
          }
        }
      }
    }
  });
});

describe('compareQueueOrder', () => {
  it('orders by creationTimestamp, then namespace/name', () => {
    const items = [
      { key: 'b/x', creationTimestamp: '2026-01-01T00:00:01Z' },
      { key: 'a/y', creationTimestamp: '2026-01-01T00:00:01Z' },
      { key: 'z/z', creationTimestamp: '2026-01-01T00:00:00Z' },
    ];
    expect([...items].sort(compareQueueOrder).map((i) => i.key)).toEqual(['z/z', 'a/y', 'b/x']);
  });
});

describe('admit: GpuVms that may not get a GPU now', () => {
  beforeEach(() => {
    seq = 0;
  });

  it('queues only those that may reserve; the blocked one keeps its place in creation order once it may', () => {
    const [blocked, b, c] = [vm('blocked', { mayReserve: false }), vm('b'), vm('c')];
    const first = admit(input({ totalGpus: 1, candidates: [blocked, b, c] }));
    expect(first.allocations).toEqual([{ gpuVm: 'ns/b', uid: 'uid-b', state: 'Reserved' }]);
    expect(first.waiting).toEqual([{ key: 'ns/c', uid: 'uid-c', position: 1 }]);
    const fixed = admit(input({ totalGpus: 1, candidates: [{ ...blocked, mayReserve: true }, b, c], ledger: first.allocations }));
    expect(fixed.waiting.map((w) => w.key)).toEqual(['ns/blocked', 'ns/c']);
  });

  it.each([
    ['without anything on the device, its reservation goes back', {}, []],
    ['with an operation in flight, it keeps it', { keepsReservation: true }, ['ns/a']],
    ['with a VM being created, it keeps it', { vmExists: true }, ['ns/a']],
  ])('a reserved GpuVm that may no longer reserve: %s', (_what, extra, kept) => {
    const a = vm('a', { mayReserve: false, ...extra });
    const result = admit(input({ candidates: [a], ledger: [{ gpuVm: 'ns/a', uid: 'uid-a', state: 'Reserved' }] }));
    expect(result.allocations.map((x) => x.gpuVm)).toEqual(kept);
    expect(result.waiting).toEqual([]);
  });

  it('a VM that holds a GPU stays Held whatever else is true', () => {
    const result = admit(input({ candidates: [vm('a', { mayReserve: false, vmHoldsGpu: true })] }));
    expect(result.allocations).toEqual([{ gpuVm: 'ns/a', uid: 'uid-a', state: 'Held' }]);
  });
});

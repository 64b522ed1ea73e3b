import type { EdgeDevice, GpuVm } from '../api/types.js';
import { gpuVmDeviceView, gpuVmsWithChangedView } from './deviceView.js';

const gpuVm = (name: string, created: string): GpuVm =>
  ({
    apiVersion: 'gpuvm.io/v1alpha1',
    kind: 'GpuVm',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, creationTimestamp: created },
    spec: { deviceRef: { name: 'dev' }, size: 'Standard_NC4as_T4_v3', image: { name: 'img', osType: 'Linux' }, adminCredentialsSecretRef: { name: 's' } },
    status: { observedGeneration: 1 },
  }) as unknown as GpuVm;

const device = (allocations: { uid: string; gpuVm: string; state: 'Reserved' | 'Held' }[], free: number): EdgeDevice =>
  ({
    apiVersion: 'gpuvm.io/v1alpha1',
    kind: 'EdgeDevice',
    metadata: { name: 'dev', generation: 1 },
    spec: { arm: {}, gpus: 2 },
    status: { conditions: [{ type: 'Connected', status: 'True', reason: 'Connected', message: 'ok' }], gpus: { total: 2, free }, allocations },
  }) as unknown as EdgeDevice;

const a = gpuVm('a', '2026-01-01T00:00:00Z');
const b = gpuVm('b', '2026-01-01T00:00:01Z');
const c = gpuVm('c', '2026-01-01T00:00:02Z');
const all = [a, b, c];

test('a GpuVm with an allocation sees its reservation; the others their queue position in creation order', () => {
  const d = device([{ uid: 'uid-a', gpuVm: 'ns/a', state: 'Reserved' }], 1);
  expect(gpuVmDeviceView(a, d, all)).toMatchObject({ reservation: 'Reserved', freeGpus: 1, holders: ['ns/a'] });
  expect(gpuVmDeviceView(b, d, all).queuePosition).toBe(1);
  expect(gpuVmDeviceView(c, d, all).queuePosition).toBe(2);
});

test('losing the connection changes every GpuVm\'s view', () => {
  const up = device([{ uid: 'uid-a', gpuVm: 'ns/a', state: 'Held' }], 1);
  const down = JSON.parse(JSON.stringify(up)) as EdgeDevice;
  for (const c of down.status?.conditions ?? []) c.status = 'False';
  expect(gpuVmsWithChangedView(up, down, all).map((g) => g.metadata.name)).toEqual(['a', 'b', 'c']);
});

test('a sibling getting a GPU changes the view of the waiting GpuVms and of the holder (free count), nothing else', () => {
  const before = device([{ uid: 'uid-a', gpuVm: 'ns/a', state: 'Held' }], 1);
  const after = device(
    [
      { uid: 'uid-a', gpuVm: 'ns/a', state: 'Held' },
      { uid: 'uid-b', gpuVm: 'ns/b', state: 'Reserved' },
    ],
    0,
  );
  expect(gpuVmsWithChangedView(before, after, all).map((g) => g.metadata.name)).toEqual(['a', 'b', 'c']);
});

test('a status change no GpuVm plans on (an allocation turning Held, observedGeneration) reconciles none', () => {
  const reserved = device([{ uid: 'uid-a', gpuVm: 'ns/a', state: 'Reserved' }], 1);
  const held = device([{ uid: 'uid-a', gpuVm: 'ns/a', state: 'Held' }], 1);
  expect(gpuVmsWithChangedView(reserved, held, all)).toEqual([]);
  const later = JSON.parse(JSON.stringify(held)) as EdgeDevice;
  (later.status as { observedGeneration?: number }).observedGeneration = 7;
  expect(gpuVmsWithChangedView(held, later, all)).toEqual([]);
});

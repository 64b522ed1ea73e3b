import type { EdgeDevice, GpuVm } from '../api/types.js';
import { auditEntries, renderTables, Timeline, verdict, type Snapshot } from './demoView.js';

const cond = (type: string, status: 'True' | 'False', reason: string, message = '') => ({ type, status, reason, message, lastTransitionTime: '2026-01-01T00:00:00Z' });

function gpuVm(name: string, device: string, phase: string | undefined, conditions: ReturnType<typeof cond>[] = [], ip?: string): GpuVm {
  return {
    apiVersion: 'gpuvm.io/v1alpha1',
    kind: 'GpuVm',
    metadata: { name, namespace: 'demo', uid: `00000000-0000-4000-a000-00000000000${name.length % 10}`, generation: 1 },
    spec: { deviceRef: { name: device }, size: 'Standard_NC4as_T4_v3', image: { name: 'ubuntu1804-gen1', osType: 'Linux' }, adminCredentialsSecretRef: { name: 'x' } },
    ...(phase === undefined ? {} : { status: { observedGeneration: 1, phase, conditions, ...(ip ? { vm: { ipAddress: ip } } : {}) } }),
  } as GpuVm;
}

function device(name: string, k8s: 'Configured' | 'Unmanaged', ready: boolean, role: string, k8sCondition = cond('KubernetesConfigured', 'True', 'Configured')): EdgeDevice {
  return {
    apiVersion: 'gpuvm.io/v1alpha1',
    kind: 'EdgeDevice',
    metadata: { name, generation: 1 },
    spec: { arm: {} as EdgeDevice['spec']['arm'], kubernetes: { state: k8s } },
    status: {
      observedGeneration: 1,
      gpus: { total: 2, vms: 2, kubernetes: 0, free: 0 },
      kubernetes: { state: role, gpus: 0 },
      conditions: [ready ? cond('Ready', 'True', 'Ready') : cond('Ready', 'False', 'WaitingForGpuVms'), k8sCondition],
    },
  } as EdgeDevice;
}

const readyVm = (name: string, dev: string) => gpuVm(name, dev, 'Ready', [cond('Ready', 'True', 'Ready')], '10.0.0.4');
const waitingVm = (name: string, dev: string) =>
  gpuVm(name, dev, 'WaitingForGpu', [cond('Ready', 'False', 'InsufficientGpus', 'position 1 in the queue'), cond('GpuReserved', 'False', 'InsufficientGpus', 'position 1 in the queue')]);

describe('verdict', () => {
  it('is settled when every GpuVm is Ready or waits for a GPU with a reason and every device is Ready with its role', () => {
    const s: Snapshot = { elapsedS: 10, gpuVms: [readyVm('a', 'd2'), waitingVm('b', 'd1')], devices: [device('d2', 'Configured', true, 'Configured')] };
    expect(verdict(s, ['a', 'b'], ['d2'])).toEqual({ settled: true, failed: [] });
  });

  it('is pending while a GpuVm deploys, has no status yet, or a Configured device has no role', () => {
    const deploying = gpuVm('a', 'd2', 'Provisioning', [cond('Ready', 'False', 'Deploying')]);
    const s: Snapshot = {
      elapsedS: 1,
      gpuVms: [deploying, gpuVm('b', 'd2', undefined)],
      devices: [device('d2', 'Configured', false, 'NotConfigured', cond('KubernetesConfigured', 'False', 'WaitingForGpuVms'))],
    };
    const v = verdict(s, ['a', 'b', 'c'], ['d2', 'd9']);
    expect(v.settled).toBe(false);
    expect(v.settled === false && v.pending).toEqual([
      'gpuvm a: Provisioning (Deploying)',
      'gpuvm b: not observed yet',
      'gpuvm c: not observed yet',
      'edgedevice d2: WaitingForGpuVms',
      'edgedevice d9: not observed yet',
    ]);
  });

  it('reports a stalled GpuVm as settled but failed', () => {
    const stalled = gpuVm('a', 'd2', 'Failed', [cond('Ready', 'False', 'ImageNotFound'), cond('Stalled', 'True', 'ImageNotFound', 'no image')]);
    const s: Snapshot = { elapsedS: 1, gpuVms: [stalled], devices: [device('d2', 'Unmanaged', true, 'NotConfigured')] };
    expect(verdict(s, ['a'], ['d2'])).toEqual({ settled: true, failed: ['gpuvm a: ImageNotFound: no image'] });
  });
});

describe('Timeline', () => {
  it('records each change of phase or Kubernetes role once, and deletions', () => {
    const t = new Timeline();
    const dev = device('d2', 'Configured', false, 'NotConfigured', cond('KubernetesConfigured', 'False', 'WaitingForGpuVms'));
    expect(t.update({ elapsedS: 1, gpuVms: [waitingVm('b', 'd2')], devices: [dev] }).map((e) => `${e.kind} ${e.name} ${e.change}`)).toEqual([
      'gpuvm b phase WaitingForGpu (InsufficientGpus)',
      'edgedevice d2 kubernetes NotConfigured (WaitingForGpuVms)',
      'edgedevice d2 ready False (WaitingForGpuVms)',
    ]);
    expect(t.update({ elapsedS: 2, gpuVms: [waitingVm('b', 'd2')], devices: [dev] })).toEqual([]);
    expect(t.update({ elapsedS: 3, gpuVms: [], devices: [device('d2', 'Configured', true, 'Configured')] }).map((e) => `+${e.elapsedS} ${e.kind} ${e.name} ${e.change}`)).toEqual([
      '+3 edgedevice d2 kubernetes Configured holding 0 GPU(s)',
      '+3 edgedevice d2 ready True',
      '+3 gpuvm b deleted',
    ]);
  });
});

describe('auditEntries', () => {
  it('names accepted VM and driver deployments by GpuVm and Kubernetes role writes by device', () => {
    const vm = readyVm('abc', 'd2');
    const uid = vm.metadata.uid ?? '';
    const t0 = Date.parse('2026-01-01T00:00:00.000Z');
    const entries = auditEntries(
      [
        { time: '2026-01-01T00:00:01.500Z', device: 'd2', method: 'PUT', path: `/subscriptions/s/resourceGroups/r/providers/Microsoft.Resources/deployments/gpuvm-vm-${uid}`, operation: 'deployment.put', status: 201 },
        { time: '2026-01-01T00:00:02.000Z', device: 'd2', method: 'PUT', path: `/subscriptions/s/resourceGroups/r/providers/Microsoft.Resources/deployments/gpuvm-gpu-${uid}`, operation: 'deployment.put', status: 429 },
        { time: '2026-01-01T00:00:03.000Z', device: 'azure', method: 'PUT', path: '/subscriptions/s/resourceGroups/r/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/d2/roles/kubernetes', operation: 'role.put', status: 200 },
        { time: '2026-01-01T00:00:04.000Z', device: 'd2', method: 'GET', path: `/deployments/gpuvm-vm-${uid}`, operation: 'deployment.get', status: 200 },
      ],
      [vm],
      t0,
    );
    expect(entries).toEqual([
      { elapsedS: 1.5, kind: 'arm', name: 'd2', change: 'CreateVM deployment for abc' },
      { elapsedS: 3, kind: 'azure', name: 'd2', change: 'Kubernetes role create (kubernetes)' },
    ]);
  });
});

test('renderTables shows both tables and why a GpuVm is not Ready', () => {
  const text = renderTables({ elapsedS: 1, gpuVms: [readyVm('a', 'd2'), waitingVm('b', 'd2')], devices: [device('d2', 'Configured', true, 'Configured')] });
  expect(text.split('\n')).toEqual([
    'GPUVM   DEVICE   PHASE           READY   REASON             IP',
    'a       d2       Ready           True    Ready              10.0.0.4',
    'b       d2       WaitingForGpu   False   InsufficientGpus   -',
    '',
    'EDGEDEVICE   GPUS   VMS   K8S   FREE   READY   K8S SPEC     K8S ROLE',
    'd2           2      2     0     0      True    Configured   Configured',
    '',
    'why:',
    '  b: position 1 in the queue',
  ]);
});

import { API_VERSION, type Condition, type EdgeDevice, type GpuVm } from '../api/types.js';
import { age, explainEdgeDevice, explainGpuVm, waitingQueue } from './explanation.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const cond = (type: string, status: Condition['status'], reason: string, message: string): Condition => ({ type, status, reason, message, lastTransitionTime: '2026-03-01T11:00:00Z' });

function gpuVm(name: string, second: number, status?: GpuVm['status'], namespace = 'team-a'): GpuVm {
  return {
    apiVersion: API_VERSION,
    kind: 'GpuVm',
    metadata: { name, namespace, uid: `uid-${name}`, generation: 1, creationTimestamp: new Date(Date.UTC(2026, 2, 1, 11, 59, second)) },
    spec: { deviceRef: { name: 'dev-a' }, size: 'Standard_NC4as_T4_v3', image: { name: 'img', osType: 'Linux' }, adminCredentialsSecretRef: { name: 's' } },
    ...(status !== undefined ? { status: { observedGeneration: 1, ...status } } : {}),
  };
}

function device(status: EdgeDevice['status'], kubernetes: 'Configured' | 'Unmanaged' = 'Unmanaged'): EdgeDevice {
  return {
    apiVersion: API_VERSION,
    kind: 'EdgeDevice',
    metadata: { name: 'dev-a', generation: 1 },
    spec: { arm: { endpoint: 'https://m', loginEndpoint: 'https://l', subscriptionId: 's', resourceGroup: 'rg', credentialsSecretRef: { name: 'c' } }, kubernetes: { state: kubernetes } },
    status: { observedGeneration: 1, ...status },
  };
}

const ready = gpuVm('vm1', 1, { phase: 'Ready', vm: { resourceId: '/x/vm1', ipAddress: '10.0.0.4', powerState: 'running' }, conditions: [cond('Ready', 'True', 'Ready', 'VM running'), cond('GpuReserved', 'True', 'Held', 'holds a GPU')] });
const waiting = gpuVm('vm2', 2, { phase: 'WaitingForGpu', conditions: [cond('Ready', 'False', 'WaitingForGpu', 'waiting'), cond('GpuReserved', 'False', 'KubernetesHoldsGpus', 'Kubernetes holds the GPU: set spec.kubernetes.state: NotConfigured')] });
const later = gpuVm('vm3', 3, { phase: 'WaitingForGpu' });
const full = device(
  {
    gpus: { total: 2, vms: 1, kubernetes: 1, free: 0 },
    allocations: [{ gpuVm: 'team-a/vm1', uid: 'uid-vm1', state: 'Held' }],
    kubernetes: { state: 'Configured', gpus: 1, roles: [{ name: 'k8s', kind: 'Kubernetes', provisioningState: 'Succeeded' }] },
    conditions: [cond('Ready', 'True', 'Ready', '0 of 2 GPU(s) free'), cond('Connected', 'True', 'Connected', 'signed in'), cond('KubernetesConfigured', 'True', 'Configured', 'holds 1 GPU')],
  },
  'Configured',
);
const input = { now: NOW, gpuVms: [ready, waiting, later], devices: [full] };

test.each([
  [undefined, 'unknown'],
  ['2026-03-01T11:59:30Z', '30s'],
  ['2026-03-01T11:55:00Z', '5m'],
  ['2026-03-01T08:48:00Z', '3h12m'],
  ['2026-02-27T08:00:00Z', '2d4h'],
  ['not a date', 'unknown'],
])('age(%j) is %s', (since, expected) => {
  expect(age(since, NOW)).toBe(expected);
});

test('the queue holds the GpuVms not in the ledger and without a VM, oldest first', () => {
  expect(waitingQueue(full, input.gpuVms).map((g) => g.metadata.name)).toEqual(['vm2', 'vm3']);
});

test('a device: GPUs, ledger, queue and the Kubernetes role, one labelled line each', () => {
  expect(explainEdgeDevice(full, input)).toEqual([
    'edgedevice dev-a: Ready True, Ready: 0 of 2 GPU(s) free',
    '  Connected: True, Connected: signed in',
    '  GPUs: 2 total, 1 held by VMs, 1 by Kubernetes, 0 free',
    '  Ledger: team-a/vm1 Held',
    '  Queue: 1. team-a/vm2 (waiting 58s), 2. team-a/vm3 (waiting 57s)',
    '  Kubernetes: spec Configured; observed Configured holding 1 GPU(s); Kubernetes role k8s (Succeeded); Configured',
  ]);
});

test('a waiting GpuVm: its place in the queue, who holds the GPUs, and what frees one', () => {
  const lines = explainGpuVm(waiting, input);
  expect(lines[0]).toBe('gpuvm team-a/vm2 on edgedevice dev-a: WaitingForGpu; Ready False, WaitingForGpu: waiting');
  expect(lines).toContain('  GPU: False, KubernetesHoldsGpus: Kubernetes holds the GPU: set spec.kubernetes.state: NotConfigured');
  expect(lines).toContain('  Queue: position 1 of 2 on dev-a; its GPUs: 2 total, 1 held by VMs, 1 by Kubernetes, 0 free; 1 GpuVm(s) in its ledger');
  expect(lines).toContain('  Kubernetes: holds 1 GPU(s) of the device (Configured)');
  expect(lines.at(-1)).toMatch(/^ {2}To do: wait for a GPU to free up, or free one/);
});

test('a Ready GpuVm: its address and nothing to do', () => {
  const lines = explainGpuVm(ready, input);
  expect(lines).toContain('  Ledger: Held on dev-a');
  expect(lines).toContain('  Address: 10.0.0.4 (power state running)');
  expect(lines.at(-1)).toBe('  To do: nothing: the VM is Ready');
});

test('an operation in flight: its kind, deployment and age', () => {
  const deploying = gpuVm('vm4', 4, { phase: 'Provisioning', operation: { kind: 'CreateVm', deploymentName: 'gpuvm-vm-uid-vm4', startedAt: '2026-03-01T11:58:00Z', attempts: 2 }, conditions: [cond('Ready', 'False', 'Deploying', 'deploying')] });
  const lines = explainGpuVm(deploying, { ...input, gpuVms: [...input.gpuVms, deploying] });
  expect(lines).toContain('  ARM: CreateVm (deployment gpuvm-vm-uid-vm4) running for 2m, attempt 2');
});

test('a status older than the spec and a missing device are said plainly', () => {
  const stale = { ...waiting, metadata: { ...waiting.metadata, generation: 2 } };
  expect(explainGpuVm(stale, input)).toContain('  Observed: generation 2 not reconciled yet (status is for 1); is the controller running?');
  const orphan = explainGpuVm(waiting, { ...input, devices: [] });
  expect(orphan).toContain('  Device: edgedevice dev-a does not exist (or you cannot read it)');
  expect(orphan.at(-1)).toMatch(/create edgedevice dev-a/);
});

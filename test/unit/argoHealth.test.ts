// The Argo CD health check (manifests/argocd/health.lua) run by a real Lua VM (fengari) on GpuVm and
// EdgeDevice objects as the controller writes them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runHealthScript } from './luaRunner.js';

const root = join(import.meta.dirname, '..', '..');
const script = readFileSync(join(root, 'manifests', 'argocd', 'health.lua'), 'utf8');
const health = (obj: unknown) => runHealthScript(script, obj);

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
}

const cond = (type: string, status: Condition['status'], reason: string, message: string, observedGeneration = 2): Condition => ({
  type,
  status,
  reason,
  message,
  observedGeneration,
  lastTransitionTime: '2026-11-27T03:00:00Z',
} as Condition);

function gpuVm(conditions: Condition[] | undefined, generation = 2, observedGeneration: number | undefined = 2): object {
  return {
    apiVersion: 'gpuvm.io/v1alpha1',
    kind: 'GpuVm',
    metadata: { name: 'vm1', namespace: 'team-a', generation, uid: 'u-1' },
    spec: { deviceRef: { name: 'dev-a' }, size: 'Standard_NC4as_T4_v3', powerState: 'Running' },
    ...(conditions === undefined ? {} : { status: { observedGeneration, phase: 'Ready', conditions, vm: { ipAddress: '10.0.0.4' } } }),
  };
}

function edgeDevice(conditions: Condition[], generation = 2, observedGeneration = 2): object {
  return {
    apiVersion: 'gpuvm.io/v1alpha1',
    kind: 'EdgeDevice',
    metadata: { name: 'dev-a', generation },
    spec: { gpus: 2, kubernetes: { state: 'Configured' } },
    status: { observedGeneration, gpus: { total: 2, vms: 1, kubernetes: 0, free: 1 }, allocations: [{ gpuVm: 'team-a/vm1', uid: 'u-1', state: 'Held' }], conditions },
  };
}

describe('GpuVm', () => {
  test('Ready=True for the current generation is Healthy', () => {
    const obj = gpuVm([
      cond('GpuReserved', 'True', 'Reserved', 'GPU reserved'),
      cond('Ready', 'True', 'Ready', 'VM running with its GPU driver installed'),
      cond('Reconciling', 'False', 'Ready', ''),
      cond('Stalled', 'False', 'Ready', ''),
    ]);
    expect(health(obj)).toEqual({ status: 'Healthy', message: 'VM running with its GPU driver installed' });
  });

  test('provisioning is Progressing with the Ready message', () => {
    const obj = gpuVm([
      cond('Ready', 'False', 'Deploying', 'CreateVM deployment gpuvm-vm-u-1 is running'),
      cond('Reconciling', 'True', 'Deploying', 'CreateVM deployment gpuvm-vm-u-1 is running'),
    ]);
    expect(health(obj)).toEqual({ status: 'Progressing', message: 'CreateVM deployment gpuvm-vm-u-1 is running' });
  });

  test('waiting for a GPU is Progressing, not Degraded', () => {
    const obj = gpuVm([cond('GpuReserved', 'False', 'InsufficientGpus', 'queued: 2nd for device dev-a'), cond('Ready', 'False', 'InsufficientGpus', 'queued: 2nd for device dev-a')]);
    expect(health(obj)).toEqual({ status: 'Progressing', message: 'queued: 2nd for device dev-a' });
  });

  test('Stalled=True is Degraded with its message', () => {
    const obj = gpuVm([
      cond('Ready', 'False', 'KubernetesHoldsGpus', 'Kubernetes holds both GPUs of dev-a'),
      cond('Stalled', 'True', 'KubernetesHoldsGpus', 'set kubernetes.state: NotConfigured on EdgeDevice dev-a to free its GPUs'),
    ]);
    expect(health(obj)).toEqual({
      status: 'Degraded',
      message: 'set kubernetes.state: NotConfigured on EdgeDevice dev-a to free its GPUs (Kubernetes holds both GPUs of dev-a)',
    });
  });

  test('a status for an older generation is Progressing, even when it said Ready or Stalled', () => {
    const ready = gpuVm([cond('Ready', 'True', 'Ready', 'VM running', 2)], 3, 2);
    expect(health(ready)).toEqual({ status: 'Progressing', message: 'Waiting for the controller to observe generation 3' });
    const stalled = gpuVm([cond('Ready', 'False', 'ImageNotFound', 'no image x', 2), cond('Stalled', 'True', 'ImageNotFound', 'no image x', 2)], 3, 2);
    expect(health(stalled).status).toBe('Progressing');
    // status.observedGeneration current but the Ready condition still from the previous generation
    const lagging = gpuVm([cond('Ready', 'True', 'Ready', 'VM running', 2)], 3, 3);
    expect(health(lagging).status).toBe('Progressing');
  });

  test('no status yet is Progressing', () => {
    expect(health(gpuVm(undefined))).toEqual({ status: 'Progressing', message: 'Waiting for the controller to report status' });
    expect(health(gpuVm([], 1, undefined)).status).toBe('Progressing');
  });

  test('Ready=Unknown without a message falls back to the reason', () => {
    expect(health(gpuVm([{ type: 'Ready', status: 'Unknown', reason: 'DeviceUnreachable', observedGeneration: 2 } as Condition]))).toEqual({
      status: 'Progressing',
      message: 'DeviceUnreachable',
    });
  });
});

describe('EdgeDevice', () => {
  test('Healthy, Progressing, Degraded', () => {
    expect(health(edgeDevice([cond('Connected', 'True', 'Connected', 'ARM reachable'), cond('Ready', 'True', 'Ready', '2 GPUs: 1 VM, 1 free')]))).toEqual({
      status: 'Healthy',
      message: '2 GPUs: 1 VM, 1 free',
    });
    expect(
      health(edgeDevice([cond('KubernetesConfigured', 'False', 'WaitingForGpuVms', 'waiting for GpuVm team-a/vm2'), cond('Ready', 'False', 'WaitingForGpuVms', 'waiting for GpuVm team-a/vm2')])),
    ).toEqual({ status: 'Progressing', message: 'waiting for GpuVm team-a/vm2' });
    expect(health(edgeDevice([cond('Ready', 'False', 'SecretNotFound', 'Secret gpuvm-system/dev-a-arm not found'), cond('Stalled', 'True', 'SecretNotFound', 'Secret gpuvm-system/dev-a-arm not found')]))).toEqual({
      status: 'Degraded',
      message: 'Secret gpuvm-system/dev-a-arm not found',
    });
    expect(health(edgeDevice([cond('Ready', 'True', 'Ready', 'ok', 1)], 2, 1)).status).toBe('Progressing');
  });
});

test('the argocd-cm patch embeds health.lua unchanged for both kinds', () => {
  const patch = parse(readFileSync(join(root, 'manifests', 'argocd', 'argocd-cm-patch.yaml'), 'utf8')) as { data: Record<string, string> };
  expect(Object.keys(patch.data).sort()).toEqual(['resource.customizations.health.gpuvm.io_EdgeDevice', 'resource.customizations.health.gpuvm.io_GpuVm']);
  for (const embedded of Object.values(patch.data)) expect(embedded).toBe(script);
});

test('the script is Lua 5.1 (gopher-lua): no goto, integer division, bitwise operators or utf8 library', () => {
  const code = script.replace(/--.*$/gm, '');
  expect(code).not.toMatch(/\bgoto\b|::\w+::|\/\/|\butf8\.|[~&|]\s*\w|<<|>>/);
});

describe('Suspended (spec.suspend, as Argo CD reports suspended Flux objects)', () => {
  const suspendedConditions = (observedGeneration = 2) => [
    cond('Ready', 'True', 'Ready', 'VM running', 1),
    cond('Suspended', 'True', 'Suspended', 'spec.suspend is true: no call is made to the device for this GpuVm until it is set to false', observedGeneration),
    cond('Reconciling', 'False', 'Suspended', 'spec.suspend is true', observedGeneration),
  ];

  test('a suspended GpuVm is Suspended with the controller message, whatever Ready last said', () => {
    const obj = gpuVm(suspendedConditions()) as { spec: Record<string, unknown> };
    obj.spec.suspend = true;
    expect(health(obj)).toEqual({ status: 'Suspended', message: 'spec.suspend is true: no call is made to the device for this GpuVm until it is set to false' });
  });

  test('spec.suspend before the controller has answered is already Suspended', () => {
    const obj = gpuVm(undefined) as { spec: Record<string, unknown> };
    obj.spec.suspend = true;
    expect(health(obj)).toEqual({ status: 'Suspended', message: 'spec.suspend is true' });
  });

  test("a GpuVm of a suspended device (Suspended=True for its generation) is Suspended", () => {
    expect(health(gpuVm([cond('Suspended', 'True', 'DeviceSuspended', 'EdgeDevice dev-a has spec.suspend true')])).status).toBe('Suspended');
  });

  test('once resumed, a Suspended condition of an older generation no longer counts', () => {
    expect(health(gpuVm(suspendedConditions(1), 3, 1)).status).toBe('Progressing');
  });

  test('a suspended EdgeDevice is Suspended', () => {
    const obj = edgeDevice([cond('Ready', 'True', 'Ready', 'ok'), cond('Suspended', 'True', 'Suspended', 'spec.suspend is true: no call is made to the device')]) as { spec: Record<string, unknown> };
    obj.spec.suspend = true;
    expect(health(obj)).toEqual({ status: 'Suspended', message: 'spec.suspend is true: no call is made to the device' });
  });
});

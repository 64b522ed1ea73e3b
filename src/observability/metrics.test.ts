import { createEmptyPipeline, createHttpHeaders, createPipelineRequest, RestError, type HttpClient, type HttpMethods, type PipelineRequest } from '@azure/core-rest-pipeline';
import type { EdgeDevice, GpuVm } from '../api/types.js';
import { DeviceBudgets } from '../azure/deviceBudget.js';
import { armOperation, Metrics, reconcileResult } from './metrics.js';

async function value(m: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = m.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const matching = values.filter((v) => Object.entries(labels).every(([k, l]) => String((v.labels as Record<string, unknown>)[k]) === l));
  return matching.length === 0 ? undefined : matching.reduce((a, v) => a + v.value, 0);
}

const metrics = () => new Metrics({ processMetrics: false });

test('reconcile outcomes map to controller-runtime results', () => {
  expect(reconcileResult('done')).toBe('success');
  expect(reconcileResult('error')).toBe('error');
  expect(reconcileResult('requeueAfter', 1000)).toBe('requeue_after');
  expect(reconcileResult('requeueAfter', 0)).toBe('requeue');
});

test('controller metrics: totals by result, errors, reconcile time; all series exist from the start', async () => {
  const m = metrics();
  const c = m.controllerMetrics('gpuvm');
  expect(await value(m, 'controller_runtime_reconcile_total', { controller: 'gpuvm', result: 'requeue' })).toBe(0);
  expect(await value(m, 'controller_runtime_reconcile_errors_total', { controller: 'gpuvm' })).toBe(0);
  c.reconciled?.('done', 20);
  c.reconciled?.('requeueAfter', 10);
  c.reconciled?.('error', 1500);
  expect(await value(m, 'controller_runtime_reconcile_total', { controller: 'gpuvm', result: 'success' })).toBe(1);
  expect(await value(m, 'controller_runtime_reconcile_total', { controller: 'gpuvm', result: 'requeue_after' })).toBe(1);
  expect(await value(m, 'controller_runtime_reconcile_total', { controller: 'gpuvm', result: 'error' })).toBe(1);
  expect(await value(m, 'controller_runtime_reconcile_errors_total', { controller: 'gpuvm' })).toBe(1);
  const text = await m.registry.metrics();
  expect(text).toContain('controller_runtime_reconcile_time_seconds_count{controller="gpuvm"} 3');
  expect(text).toContain('controller_runtime_reconcile_time_seconds_sum{controller="gpuvm"} 1.53');
  expect(text).toContain('controller_runtime_reconcile_time_seconds_bucket{le="0.025",controller="gpuvm"} 2');
});

test('work queue metrics', async () => {
  const m = metrics();
  const q = m.queueMetrics('edgedevice');
  q.added?.('a');
  q.added?.('b');
  q.depth?.(2);
  q.queueLatency?.(5);
  q.depth?.(1);
  q.workDuration?.(250);
  q.retried?.('a');
  expect(await value(m, 'workqueue_adds_total', { name: 'edgedevice' })).toBe(2);
  expect(await value(m, 'workqueue_depth', { name: 'edgedevice' })).toBe(1);
  expect(await value(m, 'workqueue_retries_total', { name: 'edgedevice' })).toBe(1);
  const text = await m.registry.metrics();
  expect(text).toContain('workqueue_queue_duration_seconds_sum{name="edgedevice"} 0.005');
  expect(text).toContain('workqueue_work_duration_seconds_count{name="edgedevice"} 1');
});

test.each([
  ['PUT', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/gpuvm-vm-1?api-version=2019-10-01', 'PUT deployments'],
  ['GET', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1?$expand=instanceView', 'GET virtualMachines'],
  ['GET', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines', 'GET virtualMachines'],
  ['get', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/instanceView', 'GET virtualMachines/instanceView'],
  ['POST', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/start', 'POST virtualMachines/start'],
  ['PUT', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/extensions/gpu', 'PUT virtualMachines/extensions'],
  ['GET', '/subscriptions/s/resourcegroups/rg/providers/Microsoft.Resources/deployments/d/operationStatuses/08584', 'GET deployments/operationStatuses'],
  ['GET', '/subscriptions/s/providers/Microsoft.Compute/locations/dbelocal/operations/1b2c3d4e-aaaa-bbbb-cccc-0123456789ab', 'GET locations/operations'],
  ['DELETE', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/vm1-nic', 'DELETE networkInterfaces'],
  ['GET', '/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/d/deviceCapacityInfo/default', 'GET dataBoxEdgeDevices/deviceCapacityInfo'],
  ['GET', '/subscriptions/s/resourceGroups/rg', 'GET resourceGroups'],
  ['GET', '/subscriptions/s', 'GET subscriptions'],
  ['GET', '/subscriptions/s/providers/Microsoft.Compute', 'GET Microsoft.Compute'],
])('armOperation(%s %s) = %s', (method, path, expected) => {
  expect(armOperation(method, `https://management.dev.example${path}`)).toBe(expected);
});

function fakeClient(answer: (req: PipelineRequest) => number | Error): HttpClient {
  return {
    async sendRequest(request) {
      const status = answer(request);
      if (status instanceof Error) throw status;
      return { request, status, headers: createHttpHeaders() };
    },
  };
}

test('the ARM policy counts every request by device, operation and status code, errors included', async () => {
  const m = metrics();
  const pipeline = createEmptyPipeline();
  pipeline.addPolicy(m.armMetricsPolicy('dev-a'));
  let n = 0;
  const client = fakeClient(() => {
    n++;
    if (n === 3) return new RestError('socket hang up', { code: 'ECONNRESET' });
    if (n === 4) {
      const request = createPipelineRequest({ url: 'https://x/' });
      return new RestError('throttled', { statusCode: 429, response: { request, status: 429, headers: createHttpHeaders() } });
    }
    return n === 1 ? 201 : 200;
  });
  const url = 'https://management.dev.example/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/d';
  await pipeline.sendRequest(client, createPipelineRequest({ url, method: 'PUT' }));
  await pipeline.sendRequest(client, createPipelineRequest({ url, method: 'GET' }));
  await expect(pipeline.sendRequest(client, createPipelineRequest({ url, method: 'GET' }))).rejects.toThrow('socket hang up');
  await expect(pipeline.sendRequest(client, createPipelineRequest({ url, method: 'GET' }))).rejects.toThrow('throttled');
  expect(await value(m, 'gpuvm_arm_requests_total', { device: 'dev-a', operation: 'PUT deployments', code: '201' })).toBe(1);
  expect(await value(m, 'gpuvm_arm_requests_total', { device: 'dev-a', operation: 'GET deployments', code: '200' })).toBe(1);
  expect(await value(m, 'gpuvm_arm_requests_total', { device: 'dev-a', operation: 'GET deployments', code: 'error' })).toBe(1);
  expect(await value(m, 'gpuvm_arm_requests_total', { device: 'dev-a', operation: 'GET deployments', code: '429' })).toBe(1);
  expect(await m.registry.metrics()).toContain('gpuvm_arm_request_duration_seconds_count{operation="GET deployments"} 3');
});

test('the device budget counts refused requests and the time they were told to wait, by device, kind and cause', async () => {
  const m = metrics();
  let now = 1_000_000;
  const budgets = new DeviceBudgets({ limits: { read: { ratePerSecond: 2, burst: 1 }, write: { ratePerSecond: 1, burst: 1 } }, now: () => now, metrics: m.deviceBudgetMetrics() });
  const pipeline = createEmptyPipeline();
  pipeline.addPolicy(budgets.policy('dev-a'));
  let answer = 200;
  const client: HttpClient = { sendRequest: async (request) => ({ request, status: answer, headers: createHttpHeaders(answer === 429 ? { 'retry-after': '3' } : {}) }) };
  const url = 'https://management.dev.example/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/deployments/d';
  const send = (method: HttpMethods) => pipeline.sendRequest(client, createPipelineRequest({ url, method }));
  await send('PUT');
  await expect(send('DELETE')).rejects.toMatchObject({ name: 'DeviceThrottledError', retryAfterMs: 1000 });
  await send('GET');
  await expect(send('GET')).rejects.toMatchObject({ retryAfterMs: 500 });
  now += 1000;
  answer = 429;
  await expect(send('GET')).rejects.toMatchObject({ retryAfterMs: 3000 });
  answer = 200;
  await expect(send('PUT')).rejects.toMatchObject({ retryAfterMs: 3000 });
  expect(await value(m, 'gpuvm_device_budget_refused_total', { device: 'dev-a', kind: 'write', cause: 'budget' })).toBe(1);
  expect(await value(m, 'gpuvm_device_budget_refused_total', { device: 'dev-a', kind: 'read', cause: 'budget' })).toBe(1);
  expect(await value(m, 'gpuvm_device_budget_refused_total', { device: 'dev-a', kind: 'write', cause: 'retry_after' })).toBe(1);
  expect(await value(m, 'gpuvm_device_budget_wait_seconds_total', { device: 'dev-a', kind: 'write', cause: 'budget' })).toBe(1);
  expect(await value(m, 'gpuvm_device_budget_wait_seconds_total', { device: 'dev-a', kind: 'read', cause: 'budget' })).toBe(0.5);
  expect(await value(m, 'gpuvm_device_budget_wait_seconds_total', { device: 'dev-a', kind: 'write', cause: 'retry_after' })).toBe(3);
  // The 429 itself was sent: it is the device's answer, not a refusal.
  expect(await value(m, 'gpuvm_device_budget_refused_total', { kind: 'read', cause: 'retry_after' })).toBeUndefined();
});

function gpuVm(name: string, phase: string | undefined, extra: { created?: string; readyAt?: string; uid?: string } = {}): GpuVm {
  return {
    apiVersion: 'gpuvm.io/v1alpha1',
    kind: 'GpuVm',
    metadata: { name, namespace: 'ns', uid: extra.uid ?? `uid-${name}`, creationTimestamp: (extra.created ?? '2030-01-01T00:00:00Z') as unknown as Date },
    spec: {} as GpuVm['spec'],
    ...(phase === undefined
      ? {}
      : {
          status: {
            phase: phase as NonNullable<GpuVm['status']>['phase'],
            ...(extra.readyAt !== undefined ? { conditions: [{ type: 'Ready', status: 'True' as const, reason: 'Ready', message: '', lastTransitionTime: extra.readyAt }] } : {}),
          },
        }),
  };
}

test('phase counts cover every phase; GpuVms without status count as Pending', async () => {
  const m = metrics();
  m.observeGpuVms([gpuVm('a', 'Ready'), gpuVm('b', 'Ready'), gpuVm('c', 'WaitingForGpu'), gpuVm('d', undefined)]);
  expect(await value(m, 'gpuvm_phase', { phase: 'Ready' })).toBe(2);
  expect(await value(m, 'gpuvm_phase', { phase: 'WaitingForGpu' })).toBe(1);
  expect(await value(m, 'gpuvm_phase', { phase: 'Pending' })).toBe(1);
  expect(await value(m, 'gpuvm_phase', { phase: 'Failed' })).toBe(0);
  m.observeGpuVms([]);
  expect(await value(m, 'gpuvm_phase', { phase: 'Ready' })).toBe(0);
});

test('time to Ready is observed once per GpuVm, only for Ready transitions after the process started', async () => {
  const start = Date.parse('2030-01-01T00:00:10Z');
  const m = new Metrics({ processMetrics: false, now: () => start });
  const before = gpuVm('old', 'Ready', { created: '2030-01-01T00:00:00Z', readyAt: '2030-01-01T00:00:05Z' });
  const pending = gpuVm('new', 'Provisioning', { created: '2030-01-01T00:00:08Z' });
  m.observeGpuVms([before, pending]);
  const ready = gpuVm('new', 'Ready', { created: '2030-01-01T00:00:08Z', readyAt: '2030-01-01T00:01:38Z' });
  m.observeGpuVms([before, ready]);
  m.observeGpuVm(ready);
  m.observeGpuVms([before, ready]);
  const text = await m.registry.metrics();
  expect(text).toContain('gpuvm_time_to_ready_seconds_count 1');
  expect(text).toContain('gpuvm_time_to_ready_seconds_sum 90');
  expect(text).toContain('gpuvm_time_to_ready_seconds_bucket{le="120"} 1');
  expect(text).toContain('gpuvm_time_to_ready_seconds_bucket{le="60"} 0');
});

test('device GPUs by holder follow the EdgeDevice status; removed devices disappear', async () => {
  const m = metrics();
  const dev = (name: string, gpus?: { total: number; vms: number; kubernetes: number; free: number }) =>
    ({ apiVersion: 'gpuvm.io/v1alpha1', kind: 'EdgeDevice', metadata: { name }, spec: {} as EdgeDevice['spec'], ...(gpus ? { status: { gpus } } : {}) }) as EdgeDevice;
  m.observeDevices([dev('a', { total: 2, vms: 1, kubernetes: 0, free: 1 }), dev('b', { total: 2, vms: 0, kubernetes: 2, free: 0 }), dev('c')]);
  expect(await value(m, 'gpuvm_device_gpus', { device: 'a', holder: 'vm' })).toBe(1);
  expect(await value(m, 'gpuvm_device_gpus', { device: 'a', holder: 'free' })).toBe(1);
  expect(await value(m, 'gpuvm_device_gpus', { device: 'b', holder: 'kubernetes' })).toBe(2);
  expect(await value(m, 'gpuvm_device_gpus', { device: 'c' })).toBeUndefined();
  m.observeDevices([dev('b', { total: 2, vms: 0, kubernetes: 2, free: 0 })]);
  expect(await value(m, 'gpuvm_device_gpus', { device: 'a' })).toBeUndefined();
});

test('leader status and the exposition of every metric name', async () => {
  const m = new Metrics({ leaseName: 'gpuvm-controller-leader' });
  expect(await value(m, 'leader_election_master_status', { name: 'gpuvm-controller-leader' })).toBe(0);
  m.setLeader(true);
  expect(await value(m, 'leader_election_master_status', { name: 'gpuvm-controller-leader' })).toBe(1);
  m.controllerMetrics('gpuvm');
  m.queueMetrics('gpuvm');
  const text = await m.registry.metrics();
  for (const name of [
    'controller_runtime_reconcile_total',
    'controller_runtime_reconcile_errors_total',
    'controller_runtime_reconcile_time_seconds',
    'workqueue_depth',
    'workqueue_adds_total',
    'workqueue_retries_total',
    'workqueue_queue_duration_seconds',
    'workqueue_work_duration_seconds',
    'gpuvm_arm_requests_total',
    'gpuvm_arm_request_duration_seconds',
    'gpuvm_time_to_ready_seconds',
    'gpuvm_device_gpus',
    'gpuvm_phase',
    'leader_election_master_status',
    'process_cpu_user_seconds_total',
    'nodejs_heap_size_used_bytes',
  ]) {
    expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
  }
});

test('with followCaches the gauges are computed from the caches at each scrape, not before', async () => {
  const m = metrics();
  let gpuVms = [gpuVm('a', 'Ready')];
  let reads = 0;
  m.followCaches({
    gpuVms: () => {
      reads += 1;
      return gpuVms;
    },
    devices: () => [],
  });
  expect(reads).toBe(0);
  expect(await value(m, 'gpuvm_phase', { phase: 'Ready' })).toBe(1);
  gpuVms = [gpuVm('a', 'Ready'), gpuVm('b', 'Ready'), gpuVm('c', 'Stopped')];
  expect(await value(m, 'gpuvm_phase', { phase: 'Ready' })).toBe(2);
  expect(await value(m, 'gpuvm_phase', { phase: 'Stopped' })).toBe(1);
  // One cache read per read of the gauge: three reads above.
  expect(reads).toBe(3);
});

import { API_VERSION, FINALIZER, RECONCILE_REQUESTED_ANNOTATION, type Condition, type EdgeDevice, type GpuVm } from '../api/types.js';
import { findCondition } from './conditions.js';
import { planEdgeDevice } from './edgeDevicePlan.js';
import { OWNER_TAG } from '../naming/armNames.js';
import { type DeviceView } from './gpuVmPlan.js';
import { gpuVmPlanAnsweringRest } from '../../test/support/decidedGpuVmPlan.js';
import { unhandledReconcileRequest } from './reconcileRequest.js';
import { deviceSuspension, gpuVmSuspension, planSuspended } from './suspension.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const EARLIER = '2026-03-01T11:00:00Z';
const UID = 'uid-vm1';
const at = (type: string, status: Condition['status'], reason: string, observedGeneration = 1): Condition => ({
  type,
  status,
  reason,
  message: reason,
  observedGeneration,
  lastTransitionTime: EARLIER,
});
const READY_STATUS = {
  observedGeneration: 1,
  phase: 'Ready' as const,
  conditions: [at('Ready', 'True', 'Ready'), at('Reconciling', 'False', 'Ready'), at('Stalled', 'False', 'Progressing'), at('VmProvisioned', 'True', 'Provisioned')],
  vm: { resourceId: '/x/vm1', powerState: 'running', provisioningState: 'Succeeded', ipAddress: '10.0.0.4', computerName: 'vm1' },
  operation: { kind: 'Start', startedAt: EARLIER, attempts: 1 },
};

function gpuVm(spec: Partial<GpuVm['spec']> = {}, metadata: Partial<GpuVm['metadata']> = {}, status: GpuVm['status'] = READY_STATUS): GpuVm {
  return {
    apiVersion: API_VERSION,
    kind: 'GpuVm',
    metadata: { name: 'vm1', namespace: 'team', uid: UID, generation: 2, finalizers: [FINALIZER], ...metadata },
    spec: { deviceRef: { name: 'dev-a' }, size: 'Standard_NC4as_T4_v3', image: { name: 'img', osType: 'Linux' }, adminCredentialsSecretRef: { name: 'a' }, ...spec },
    status,
  };
}

function device(spec: Partial<EdgeDevice['spec']> = {}, metadata: Partial<EdgeDevice['metadata']> = {}): EdgeDevice {
  return {
    apiVersion: API_VERSION,
    kind: 'EdgeDevice',
    metadata: { name: 'dev-a', generation: 3, finalizers: [FINALIZER], ...metadata },
    spec: { arm: { endpoint: 'https://arm', loginEndpoint: 'https://login', subscriptionId: 's', resourceGroup: 'rg', credentialsSecretRef: { name: 's' } }, gpus: 2, ...spec },
    status: {
      observedGeneration: 2,
      conditions: [at('Ready', 'True', 'Ready', 2), at('Connected', 'True', 'Connected', 2)],
      allocations: [{ gpuVm: 'team/vm1', uid: UID, state: 'Held' }],
      gpus: { total: 2, vms: 1, kubernetes: 0, free: 1 },
    },
  };
}

describe('who is suspended', () => {
  it.each([
    ['neither', {}, {}, undefined],
    ['the GpuVm (spec.suspend)', { suspend: true }, {}, 'Suspended'],
    ['its EdgeDevice', {}, { suspend: true }, 'DeviceSuspended'],
    ['both: the GpuVm says its own', { suspend: true }, { suspend: true }, 'Suspended'],
    ['suspend: false on both', { suspend: false }, { suspend: false }, undefined],
  ])('%s', (_what, vmSpec, deviceSpec, reason) => {
    const s = gpuVmSuspension(gpuVm(vmSpec), device(deviceSpec));
    expect(s.suspended ? s.reason : undefined).toBe(reason);
  });

  it('a GpuVm whose device does not exist is not suspended by it', () => {
    expect(gpuVmSuspension(gpuVm(), undefined).suspended).toBe(false);
  });
});

describe('planSuspended: the last observation, marked suspended for the current generation', () => {
  const suspension = gpuVmSuspension(gpuVm({ suspend: true }), device());
  if (!suspension.suspended) throw new Error('expected a suspension');

  it('keeps every observed field and the other conditions as last observed, the operation included', () => {
    const { status, event } = planSuspended(gpuVm({ suspend: true }), suspension, NOW);
    expect(status).toMatchObject({ observedGeneration: 2, phase: 'Ready', vm: READY_STATUS.vm, operation: READY_STATUS.operation });
    expect(findCondition(status.conditions, 'Ready')).toEqual(at('Ready', 'True', 'Ready'));
    expect(findCondition(status.conditions, 'Suspended')).toMatchObject({ status: 'True', reason: 'Suspended', observedGeneration: 2 });
    // kstatus: Reconciling=False and Stalled=False for the current status is Current, not InProgress.
    expect(findCondition(status.conditions, 'Reconciling')).toMatchObject({ status: 'False', reason: 'Suspended', observedGeneration: 2 });
    expect(event).toMatchObject({ type: 'Normal', reason: 'Suspended' });
  });

  it('records the Event once, when the suspension begins', () => {
    const first = planSuspended(gpuVm({ suspend: true }), suspension, NOW);
    const again = planSuspended(gpuVm({ suspend: true }, {}, first.status), suspension, NOW);
    expect(again.event).toBeUndefined();
    expect(again.status).toEqual(first.status);
  });

  it('says that a deletion waits, with the finalizer kept', () => {
    const deleting = gpuVm({ suspend: true }, { deletionTimestamp: NOW });
    expect(findCondition(planSuspended(deleting, suspension, NOW).status.conditions, 'Suspended')?.message).toMatch(/deletion waits for it \(the finalizer stays\)/);
  });

  it('keeps an EdgeDevice ledger as it was', () => {
    const d = device({ suspend: true });
    const s = deviceSuspension(d);
    if (!s.suspended) throw new Error('expected a suspension');
    const { status } = planSuspended(d, s, NOW);
    expect(status.allocations).toEqual(d.status?.allocations);
    expect(status.gpus).toEqual(d.status?.gpus);
    expect(status.observedGeneration).toBe(3);
  });
});

describe('resuming', () => {
  const deviceView: DeviceView = {
    name: 'dev-a', connected: true, connectionMessage: '', kubernetesConfigured: false, kubernetesGpus: 0, totalGpus: 2, freeGpus: 1, drain: false,
    reservation: 'Held', holders: [], otherNamespaceHolders: 0, namespaceAllowed: true, vmNameHeldElsewhere: false,
  };

  it('the GpuVm planner drops the Suspended condition and plans from what it reads again', () => {
    const suspended = gpuVm({}, {}, { ...READY_STATUS, conditions: [...READY_STATUS.conditions, at('Suspended', 'True', 'Suspended')] });
    const plan = gpuVmPlanAnsweringRest({ now: NOW, gpuVm: suspended, device: deviceView, secret: { state: 'ok' }, arm: { vm: null } });
    expect(findCondition(plan.status.conditions, 'Suspended')).toBeUndefined();
    // The VM deleted while it was suspended is seen at the first read after it.
    expect(plan.status.vm).toBeUndefined();
  });

  it('the EdgeDevice planner drops the Suspended condition', () => {
    const d = device();
    d.status = { ...d.status, conditions: [...(d.status?.conditions ?? []), at('Suspended', 'True', 'Suspended', 2)] };
    const plan = planEdgeDevice({ now: NOW, device: d, connection: { connected: true }, armVms: [], gpuVms: [] }, { pollIntervalMs: 1000 });
    expect(findCondition(plan.status.conditions, 'Suspended')).toBeUndefined();
  });
});

describe('reconcile now (gpuvm.io/reconcile-requested-at)', () => {
  const requested = (value: string | undefined, handled: string | undefined) => ({
    metadata: { annotations: value === undefined ? ({} as Record<string, string>) : { [RECONCILE_REQUESTED_ANNOTATION]: value } },
    status: handled === undefined ? {} : { lastHandledReconcileAt: handled },
  });

  it.each([
    ['no annotation', undefined, undefined, undefined],
    ['a new value', '2026-03-01T12:00:00Z', undefined, '2026-03-01T12:00:00Z'],
    ['a value already answered', '2026-03-01T12:00:00Z', '2026-03-01T12:00:00Z', undefined],
    ['a value changed since the last answer', '2026-03-01T12:05:00Z', '2026-03-01T12:00:00Z', '2026-03-01T12:05:00Z'],
    ['any string, as Flux takes it', 'now', '2026-03-01T12:00:00Z', 'now'],
  ])('%s', (_what, value, handled, unhandled) => {
    expect(unhandledReconcileRequest(requested(value, handled))).toBe(unhandled);
  });

  it('the GpuVm planner records the value it answered', () => {
    const g = gpuVm({}, { annotations: { [RECONCILE_REQUESTED_ANNOTATION]: 'r1' } });
    expect(gpuVmPlanAnsweringRest({ now: NOW, gpuVm: g, secret: { state: 'ok' } }).status.lastHandledReconcileAt).toBe('r1');
  });

  it('the EdgeDevice planner records it only for a reconcile that listed the device', () => {
    const d = device({}, { annotations: { [RECONCILE_REQUESTED_ANNOTATION]: 'r1' } });
    const armVms = [{ name: 'vm1', id: '/x/vm1', vmSize: 's', provisioningState: 'Succeeded', powerState: 'running' as const, tags: { [OWNER_TAG]: UID }, nicIds: [] }];
    const listed = planEdgeDevice({ now: NOW, device: d, connection: { connected: true }, armVms, gpuVms: [] }, { pollIntervalMs: 1000 });
    expect(listed.status.lastHandledReconcileAt).toBe('r1');
    const unreachable = planEdgeDevice({ now: NOW, device: d, connection: { connected: false, reason: 'DeviceUnreachable', message: 'down' }, gpuVms: [] }, { pollIntervalMs: 1000 });
    expect(unreachable.status.lastHandledReconcileAt).toBeUndefined();
  });
});

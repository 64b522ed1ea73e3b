import { hasFinalizer, isBeingDeleted } from '../api/deletion.js';
import type { Condition, EdgeDevice, GpuVm } from '../api/types.js';
import { condition, findCondition, setConditions } from './conditions.js';
import type { PlanEvent } from './gpuVmPlan.js';

/**
 * Pause follows Flux's `spec.suspend`: while set, the controller makes no call to the device for the object (for
 * a device, for any of its GpuVms too) and keeps its status as last observed, adding Suspended=True and
 * Reconciling=False so kstatus reads it as settled. Nothing is forgotten: operations resume from status.operation.
 */
export type Suspension = { suspended: false } | { suspended: true; reason: 'Suspended' | 'DeviceSuspended'; message: string };

export const SUSPENDED_CONDITION = 'Suspended';

export function deviceSuspension(device: EdgeDevice): Suspension {
  if (device.spec.suspend !== true) return { suspended: false };
  return { suspended: true, reason: 'Suspended', message: 'spec.suspend is true: no call is made to the device, for it or its GpuVms, until it is set to false' };
}

export function gpuVmSuspension(gpuVm: GpuVm, device: EdgeDevice | undefined): Suspension {
  if (gpuVm.spec.suspend === true) {
    return { suspended: true, reason: 'Suspended', message: 'spec.suspend is true: no call is made to the device for this GpuVm until it is set to false' };
  }
  if (device?.spec.suspend === true) {
    return {
      suspended: true,
      reason: 'DeviceSuspended',
      message: `EdgeDevice ${device.metadata.name ?? ''} has spec.suspend true: no call is made to it for this GpuVm until it is set to false`,
    };
  }
  return { suspended: false };
}

interface SuspendableStatus {
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface SuspendedPlan<S> {
  status: S;
  event?: PlanEvent;
}

/** The last observed status, marked suspended for the current generation; a pending deletion says it waits. */
export function planSuspended<S extends SuspendableStatus>(
  obj: { metadata: GpuVm['metadata']; status?: S | undefined },
  suspension: Extract<Suspension, { suspended: true }>,
  now: Date,
): SuspendedPlan<S> {
  const generation = obj.metadata.generation ?? 0;
  const previous = obj.status ?? ({} as S);
  const deleting = isBeingDeleted(obj) && hasFinalizer(obj);
  const message = deleting ? `${suspension.message}; deletion waits for it (the finalizer stays)` : suspension.message;
  const status: S = {
    ...previous,
    observedGeneration: generation,
    conditions: setConditions(
      previous.conditions,
      [condition(SUSPENDED_CONDITION, 'True', suspension.reason, message), condition('Reconciling', 'False', 'Suspended', message)],
      generation,
      now,
    ),
  };
  const plan: SuspendedPlan<S> = { status };
  if (findCondition(previous.conditions, SUSPENDED_CONDITION)?.status !== 'True') plan.event = { type: 'Normal', reason: suspension.reason, message };
  return plan;
}

/** Once resumed, the Suspended condition goes: the planner's conditions say the rest. */
export function withoutSuspended(conditions: Condition[]): Condition[] {
  return conditions.filter((c) => c.type !== SUSPENDED_CONDITION);
}

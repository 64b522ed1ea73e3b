import { armViewField, planGpuVm, type ArmView, type GpuVmObservation, type GpuVmPlan, type GpuVmRead, type PlanSettings } from '../../src/plan/gpuVmPlan.js';

/** The planner's decision for an observation that holds every read it asks for; a read it still asks for fails the test. */
export function decidedGpuVmPlan(obs: GpuVmObservation, settings?: PlanSettings): GpuVmPlan {
  const step = planGpuVm(obs, settings);
  if (step.kind === 'read') throw new Error(`the planner asked to read ${step.read}`);
  return step.plan;
}

/** What a device with nothing else on it answers to each read. */
const NOTHING_THERE: Required<ArmView> = {
  imageExists: true,
  vm: null,
  vmDeployment: null,
  vmDeploymentFailures: [],
  extension: null,
  extensionDeployment: null,
  extensionDeploymentFailures: [],
  nicIp: null,
  nicExists: false,
  osDiskExists: false,
  capacityCheck: { state: 'pending' },
};

/**
 * Plans as the reconcile loop does, answering each read the observation lacks as an empty device would: for tests
 * that vary one read's answer and need a decision whatever else the planner asks.
 */
export function gpuVmPlanAnsweringRest(obs: GpuVmObservation, settings?: PlanSettings): GpuVmPlan {
  let current: GpuVmObservation = { ...obs, arm: { ...obs.arm } };
  const asked = new Set<GpuVmRead>();
  for (;;) {
    const step = planGpuVm(current, settings);
    if (step.kind === 'plan') return step.plan;
    if (asked.has(step.read)) throw new Error(`the planner asked twice for ${step.read}`);
    asked.add(step.read);
    current =
      step.read === 'adminSecret'
        ? { ...current, secret: { state: 'ok' } }
        : { ...current, arm: { ...current.arm, [armViewField(step.read)]: NOTHING_THERE[armViewField(step.read)] } };
  }
}

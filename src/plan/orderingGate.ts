import type { Allocation } from '../api/types.js';

export type GateDecision =
  | { open: true; kubernetesGpus: number; message: string }
  | { open: false; waitingFor: string[]; message: string; retryAfterMs?: number };

/**
 * VM-before-Kubernetes: the Kubernetes role claims every free GPU when it is created, so it may be
 * created only when no GpuVm of the device is about to take a GPU that is free now (a Reserved entry:
 * admitted, VM not yet holding it). GpuVms that wait with no free GPU do not hold the gate shut.
 */
export function orderingGate(allocations: readonly Allocation[], freeGpus: number, settleRemainingMs = 0): GateDecision {
  // GpuVms applied together with the device (one kubectl apply, a GitOps sync) arrive a moment after it:
  // the role waits until the device's GpuVms have been quiet for the settle period.
  if (settleRemainingMs > 0) {
    return {
      open: false,
      waitingFor: [],
      retryAfterMs: settleRemainingMs,
      message: `waiting ${Math.ceil(settleRemainingMs / 1000)}s for GpuVms applied together with this device before creating the Kubernetes role, which would claim every free GPU`,
    };
  }
  const reserved = allocations.filter((a) => a.state === 'Reserved').map((a) => a.gpuVm);
  if (reserved.length > 0) {
    return {
      open: false,
      waitingFor: reserved,
      message: `waiting for GpuVm(s) ${reserved.join(', ')} to take their reserved GPU(s) before creating the Kubernetes role, which would claim every free GPU`,
    };
  }
  return {
    open: true,
    kubernetesGpus: freeGpus,
    message:
      freeGpus === 0
        ? 'GPU VMs hold every GPU: the Kubernetes role is configured with no GPU'
        : `the Kubernetes role will claim the ${freeGpus} free GPU(s)`,
  };
}

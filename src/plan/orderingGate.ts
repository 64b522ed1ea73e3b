import type { Allocation } from '../api/types.js';

export type GateDecision =
  | { open: true; kubernetesGpus: number; message: string }
  | { open: false; waitingFor: string[]; message: string };

/**
 * VM-before-Kubernetes: the Kubernetes role claims every free GPU when it is created, so it may be
 * created only when no GpuVm of the device is about to take a GPU that is free now (a Reserved entry:
 * admitted, VM not yet holding it). GpuVms that wait with no free GPU do not hold the gate shut.
 */
export function orderingGate(allocations: readonly Allocation[], freeGpus: number): GateDecision {
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

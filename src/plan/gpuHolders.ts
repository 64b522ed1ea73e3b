// Which VMs hold one of the device's GPUs. Only the two T4 sizes carry a GPU (domain facts: a GPU VM takes one
// whole GPU). A VM holds it from the moment it is allocated until it is deallocated or deleted; a VM whose
// instance view reports no PowerState (its creation failed, e.g. AllocationFailed) was never allocated.
import type { ArmVm, VmPowerState } from '../arm/resources.js';

export const GPU_VM_SIZES: ReadonlySet<string> = new Set(['Standard_NC4as_T4_v3', 'Standard_NC8as_T4_v3']);

const HOLDING: ReadonlySet<string> = new Set<VmPowerState>(['starting', 'running', 'stopping', 'stopped', 'deallocating']);

/** True when a VM in this power state is allocated, so holds its GPU. */
export function powerStateHoldsGpu(powerState: string | undefined): boolean {
  return powerState !== undefined && HOLDING.has(powerState);
}

/** True when a VM listed on the device holds one of its GPUs. */
export function armVmHoldsGpu(vm: Pick<ArmVm, 'vmSize' | 'powerState'>): boolean {
  return GPU_VM_SIZES.has(vm.vmSize) && powerStateHoldsGpu(vm.powerState);
}

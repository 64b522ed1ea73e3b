// How the controller names what it creates on a device's ARM, and how it marks a VM as its own. Deterministic
// names make every create idempotent (a resumed deployment is found by name). No imports: both the planners and
// the ARM adapters use these.

export const vmDeploymentName = (uid: string): string => `gpuvm-vm-${uid}`;
export const driverDeploymentName = (uid: string): string => `gpuvm-gpu-${uid}`;
export const nicName = (vmName: string): string => `${vmName}-nic`;
export const GPU_EXTENSION_NAME = 'gpu-driver';
/** VM tag that records which GpuVm (by UID) owns a VM on the device. */
export const OWNER_TAG = 'gpuvm.io-uid';

// Who may use a device, and which GpuVm a VM name on it belongs to. Both reconcilers apply these same rules: the
// EdgeDevice one when it hands out GPUs, the GpuVm one before it reads or writes anything on the device.
import type { EdgeDevice, GpuVm } from '../api/types.js';
import { findCondition } from './conditions.js';

/** spec.allowedNamespaces absent: every namespace (as before the field existed); a list: only those. */
export function namespaceAllowed(device: Pick<EdgeDevice, 'spec'>, namespace: string | undefined): boolean {
  const allowed = device.spec.allowedNamespaces;
  return allowed === undefined || (namespace !== undefined && allowed.includes(namespace));
}

/** The GpuVm has (or is creating) something on the device: a VM it recorded, or an operation in flight. */
export function hasDeviceFootprint(gpuVm: GpuVm): boolean {
  const resourceId = gpuVm.status?.vm?.resourceId;
  return (resourceId !== undefined && resourceId !== '') || gpuVm.status?.operation !== undefined;
}

const createdAt = (g: GpuVm): number => new Date(g.metadata.creationTimestamp ?? 0).getTime() || 0;

/**
 * True when the VM name (metadata.name) of `gpuVm` belongs to a GpuVm of another namespace on the same device.
 * A GpuVm that has a VM keeps its name; otherwise the oldest GpuVm (creationTimestamp, then uid) from an
 * allowed namespace has it. A GpuVm of a namespace the device does not allow never takes a name from anyone.
 */
export function vmNameHeldElsewhere(gpuVm: GpuVm, device: Pick<EdgeDevice, 'spec'>, gpuVmsOfDevice: readonly GpuVm[]): boolean {
  if (hasDeviceFootprint(gpuVm)) return false;
  const name = gpuVm.metadata.name;
  return gpuVmsOfDevice.some((other) => {
    if (other.metadata.name !== name || other.metadata.namespace === gpuVm.metadata.namespace) return false;
    if (hasDeviceFootprint(other)) return true;
    if (!namespaceAllowed(device, other.metadata.namespace)) return false;
    const byTime = createdAt(other) - createdAt(gpuVm);
    return byTime < 0 || (byTime === 0 && (other.metadata.uid ?? '') < (gpuVm.metadata.uid ?? ''));
  });
}

/** VmProvisioned reasons that say the GpuVm cannot deploy until its user fixes something. */
const CANNOT_DEPLOY: ReadonlySet<string> = new Set(['SecretNotFound', 'SecretInvalid', 'SecretForbidden', 'ImageNotFound', 'VmNameConflict']);

/**
 * Why the GpuVm cannot deploy now, as its own reconciler last reported it; undefined when nothing stands in
 * the way. A GpuVm its reconciler has not looked at yet cannot deploy either: its Secret and image are unchecked.
 * A failed read never writes one of these reasons (the reconcile fails and the status stays), so a transient
 * error does not make a GpuVm lose its place.
 */
export function deployBlocker(gpuVm: GpuVm): string | undefined {
  if (gpuVm.status?.observedGeneration === undefined) return 'NotYetObserved';
  const provisioned = findCondition(gpuVm.status.conditions, 'VmProvisioned');
  return provisioned?.status === 'False' && CANNOT_DEPLOY.has(provisioned.reason) ? provisioned.reason : undefined;
}

/** Whether the device may reserve a GPU for this GpuVm now (it keeps one it has while it has a device footprint). */
export function mayReserveGpu(gpuVm: GpuVm, device: Pick<EdgeDevice, 'spec'>, gpuVmsOfDevice: readonly GpuVm[]): boolean {
  return namespaceAllowed(device, gpuVm.metadata.namespace) && !vmNameHeldElsewhere(gpuVm, device, gpuVmsOfDevice) && deployBlocker(gpuVm) === undefined;
}

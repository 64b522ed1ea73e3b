// What one GpuVm sees of its EdgeDevice: connection, capacity, its own allocation or its place in the queue.
import { isDeepStrictEqual } from 'node:util';
import { isBeingDeleted } from '../api/deletion.js';
import type { EdgeDevice, GpuVm } from '../api/types.js';
import { compareQueueOrder } from '../plan/admission.js';
import { findCondition } from '../plan/conditions.js';
import { effectivePowerState, type DeviceView } from '../plan/gpuVmPlan.js';
import { mayReserveGpu, namespaceAllowed, vmNameHeldElsewhere } from '../plan/tenancy.js';
import { gpuVmKey } from './ports.js';

/** The device as `gpuVm` sees it; `gpuVmsOfDevice` are the GpuVms referencing the device (for the queue position). */
export function gpuVmDeviceView(gpuVm: GpuVm, device: EdgeDevice, gpuVmsOfDevice: readonly GpuVm[]): DeviceView {
  const status = device.status ?? {};
  const uid = gpuVm.metadata.uid ?? '';
  const connected = findCondition(status.conditions, 'Connected');
  const allocations = status.allocations ?? [];
  const reservation = allocations.find((a) => a.uid === uid)?.state;
  const view: DeviceView = {
    name: device.metadata.name ?? '',
    connected: connected?.status === 'True',
    connectionMessage: connected?.message ?? 'the device has not been contacted yet',
    kubernetesConfigured: status.kubernetes?.state === 'Configured',
    kubernetesGpus: status.kubernetes?.gpus ?? 0,
    totalGpus: status.gpus?.total ?? device.spec.gpus ?? 0,
    freeGpus: status.gpus?.free ?? 0,
    // An expired drain no longer holds the VMs off (see the EdgeDevice plan).
    drain: device.spec.drain === true && findCondition(status.conditions, 'Drained')?.reason !== 'DrainExpired',
    namespaceAllowed: namespaceAllowed(device, gpuVm.metadata.namespace),
    vmNameHeldElsewhere: vmNameHeldElsewhere(gpuVm, device, gpuVmsOfDevice),
    // Other tenants' GpuVms are only counted: a GpuVm's status is readable by its namespace's users.
    holders: allocations.filter((a) => sameNamespace(a.gpuVm, gpuVm)).map((a) => a.gpuVm),
    otherNamespaceHolders: allocations.filter((a) => !sameNamespace(a.gpuVm, gpuVm)).length,
  };
  if (status.softwareVersion !== undefined) view.softwareVersion = status.softwareVersion;
  if (reservation !== undefined) {
    view.reservation = reservation;
  } else {
    // Same order as the device's admission queue: the GpuVms of the device that want a GPU and have none.
    const allocated = new Set(allocations.map((a) => a.uid));
    // Others queue once their status says they could deploy; this GpuVm's own status is being decided right now.
    const queued = (g: GpuVm): boolean =>
      g.metadata.uid === uid ? view.namespaceAllowed && !view.vmNameHeldElsewhere : mayReserveGpu(g, device, gpuVmsOfDevice);
    const queue = gpuVmsOfDevice
      .filter((g) => !isBeingDeleted(g) && !allocated.has(g.metadata.uid ?? '') && effectivePowerState(g, undefined) !== 'Deallocated' && queued(g))
      .map((g) => ({ key: gpuVmKey(g), creationTimestamp: new Date(g.metadata.creationTimestamp ?? 0).toISOString() }))
      .sort(compareQueueOrder);
    const position = queue.findIndex((q) => q.key === gpuVmKey(gpuVm));
    if (position >= 0) view.queuePosition = position + 1;
  }
  return view;
}

const sameNamespace = (key: string, gpuVm: GpuVm): boolean => key.startsWith(`${gpuVm.metadata.namespace ?? ''}/`);

/**
 * The GpuVms whose view of the device differs between two versions of it. A device's status changes with every
 * allocation and GPU count; only the GpuVms that would plan differently need a reconcile (and its ARM reads).
 */
export function gpuVmsWithChangedView(oldDevice: EdgeDevice, newDevice: EdgeDevice, gpuVmsOfDevice: readonly GpuVm[]): GpuVm[] {
  // The planner asks only whether a GPU is set aside; Reserved turning Held follows the VM the GpuVm already knows of.
  const planned = (g: GpuVm, d: EdgeDevice) => {
    const view = gpuVmDeviceView(g, d, gpuVmsOfDevice);
    return { ...view, reservation: view.reservation !== undefined };
  };
  return gpuVmsOfDevice.filter((g) => !isDeepStrictEqual(planned(g, oldDevice), planned(g, newDevice)));
}

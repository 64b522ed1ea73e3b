import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { EdgeDeviceSpec, EdgeDeviceStatus, GpuVmSpec, GpuVmStatus } from './generated/types.js';

export type * from './generated/types.js';

export const GROUP = 'gpuvm.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const GPUVM_PLURAL = 'gpuvms';
export const EDGEDEVICE_PLURAL = 'edgedevices';

/** Finalizer that keeps a GpuVm (or EdgeDevice) until its device-side resources are handled. */
export const FINALIZER = 'gpuvm.io/finalizer';
/** Annotation that lets a GpuVm be deallocated on a device where Kubernetes is configured. */
export const ALLOW_GPU_RELEASE_ANNOTATION = 'gpuvm.io/allow-gpu-release';
/**
 * Reconcile now (Flux's `reconcile.fluxcd.io/requestedAt` convention): a new value makes the controller look at
 * the device at once; status.lastHandledReconcileAt echoes the value it answered.
 */
export const RECONCILE_REQUESTED_ANNOTATION = 'gpuvm.io/reconcile-requested-at';

export interface GpuVm {
  apiVersion: typeof API_VERSION;
  kind: 'GpuVm';
  metadata: V1ObjectMeta;
  spec: GpuVmSpec;
  status?: GpuVmStatus;
}

export interface EdgeDevice {
  apiVersion: typeof API_VERSION;
  kind: 'EdgeDevice';
  metadata: V1ObjectMeta;
  spec: EdgeDeviceSpec;
  status?: EdgeDeviceStatus;
}

export type Condition = NonNullable<GpuVmStatus['conditions']>[number];
export type ConditionStatus = Condition['status'];
export type GpuVmPhase = NonNullable<GpuVmStatus['phase']>;
export type GpuVmSize = GpuVmSpec['size'];
export type PowerState = NonNullable<GpuVmSpec['powerState']>;
export type KubernetesRoleState = NonNullable<NonNullable<EdgeDeviceSpec['kubernetes']>['state']>;
export type Allocation = NonNullable<EdgeDeviceStatus['allocations']>[number];

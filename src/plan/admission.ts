import type { Allocation } from '../api/types.js';

/** What the device reconciler knows about one GpuVm bound to the device. */
export interface AdmissionCandidate {
  /** namespace/name */
  key: string;
  uid: string;
  creationTimestamp: string;
  /** The GpuVm wants its VM to hold a GPU: not being deleted and not desired Deallocated. */
  wantsGpu: boolean;
  /** The device reports this GpuVm's VM as allocated (holding its GPU), whatever the spec says. */
  vmHoldsGpu: boolean;
  /** A VM of this GpuVm exists on the device (e.g. still being created): its reservation is never revoked. */
  vmExists?: boolean;
  /** Its last CreateVM deployment failed: only such a reservation is withdrawn when the device cannot back it. */
  deployFailed?: boolean;
  /**
   * false: the GpuVm may not get a GPU now (its namespace is not allowed, its VM name is another tenant's, or its
   * Secret or image is missing). It is not queued, and a reservation it has goes back unless `keepsReservation`.
   * Default true.
   */
  mayReserve?: boolean;
  /** Something of it is on the device or being made there (a VM, an operation in flight): its reservation stays. */
  keepsReservation?: boolean;
}

export interface AdmissionInput {
  totalGpus: number;
  kubernetesGpus: number;
  /** GPU VMs on the device that no GpuVm owns and that are not deallocated. */
  foreignGpuVms: number;
  candidates: readonly AdmissionCandidate[];
  ledger: readonly Allocation[];
}

export interface Waiting {
  key: string;
  uid: string;
  /** 1-based place in the device's queue. */
  position: number;
}

export interface AdmissionResult {
  allocations: Allocation[];
  gpus: { total: number; vms: number; kubernetes: number; free: number };
  waiting: Waiting[];
  /** GpuVms (namespace/name) whose reservation was revoked because the device no longer has a GPU for it. */
  revoked: string[];
}

/** Queue order: oldest first, then namespace/name, so every replica and every restart agrees. */
export function compareQueueOrder(
  a: Pick<AdmissionCandidate, 'creationTimestamp' | 'key'>,
  b: Pick<AdmissionCandidate, 'creationTimestamp' | 'key'>,
): number {
  const byTime = Date.parse(a.creationTimestamp) - Date.parse(b.creationTimestamp);
  if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * Computes the device's allocation ledger. A GpuVm whose VM holds a GPU is `Held`; one that wants a GPU
 * keeps its `Reserved` entry; the rest of the free GPUs go to the queue head(s). Free GPUs are never
 * over-promised: free = total − VMs holding GPUs − Kubernetes − reservations not yet backed by a VM.
 */
export function admit(input: AdmissionInput): AdmissionResult {
  const previous = new Map(input.ledger.map((a) => [a.uid, a]));
  const allocations: Allocation[] = [];
  const queue: AdmissionCandidate[] = [];

  for (const c of [...input.candidates].sort(compareQueueOrder)) {
    if (c.vmHoldsGpu) {
      allocations.push({ gpuVm: c.key, uid: c.uid, state: 'Held' });
    } else if (c.wantsGpu && previous.has(c.uid) && (c.mayReserve !== false || c.keepsReservation === true || c.vmExists === true)) {
      allocations.push({ gpuVm: c.key, uid: c.uid, state: 'Reserved' });
    } else if (c.wantsGpu && c.mayReserve !== false) {
      queue.push(c);
    }
  }

  const held = allocations.filter((a) => a.state === 'Held').length;
  const vms = held + input.foreignGpuVms;
  const revoked = revokeUnbacked(allocations, input, vms);
  queue.push(...input.candidates.filter((c) => revoked.includes(c.key)));
  queue.sort(compareQueueOrder);
  let free = Math.max(0, input.totalGpus - vms - input.kubernetesGpus - (allocations.length - held));

  const waiting: Waiting[] = [];
  for (const c of queue) {
    if (free > 0) {
      allocations.push({ gpuVm: c.key, uid: c.uid, state: 'Reserved' });
      free--;
    } else {
      waiting.push({ key: c.key, uid: c.uid, position: waiting.length + 1 });
    }
  }

  return {
    allocations: allocations.sort((a, b) => (a.gpuVm < b.gpuVm ? -1 : a.gpuVm > b.gpuVm ? 1 : 0)),
    gpus: { total: input.totalGpus, vms, kubernetes: input.kubernetesGpus, free },
    waiting,
    revoked,
  };
}

/**
 * Reservations are promises of a free GPU. When the device shows fewer GPUs than are held and promised (a VM
 * made by hand, a compute role that claimed them), the promises it cannot keep are withdrawn from `allocations`,
 * youngest first, but only from GpuVms whose CreateVM already failed on the device: a count that is off for a
 * moment (reads of a device that is changing) never takes a GPU from a GpuVm that is deploying or waiting to.
 */
function revokeUnbacked(allocations: Allocation[], input: AdmissionInput, vms: number): string[] {
  const byKey = new Map(input.candidates.map((c) => [c.key, c]));
  const reserved = allocations.filter((a) => a.state === 'Reserved');
  let over = vms + input.kubernetesGpus + reserved.length - input.totalGpus;
  if (over <= 0) return [];
  const revocable = reserved
    .map((a) => byKey.get(a.gpuVm))
    .filter((c): c is AdmissionCandidate => c !== undefined && c.vmExists !== true && c.deployFailed === true)
    .sort((a, b) => compareQueueOrder(b, a));
  const revoked: string[] = [];
  for (const c of revocable) {
    if (over <= 0) break;
    allocations.splice(
      allocations.findIndex((a) => a.gpuVm === c.key),
      1,
    );
    revoked.push(c.key);
    over--;
  }
  return revoked;
}

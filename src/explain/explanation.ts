// `explain`: what a GpuVm or EdgeDevice waits for, in plain words, from what the API server holds (specs,
// statuses, the device's admission ledger). Pure functions: the CLI, the kubectl plugin and the demo print the
// same lines. Each line starts with a fixed label so people and tests can find it.
import type { Condition, EdgeDevice, GpuVm } from '../api/types.js';
import { findCondition } from '../plan/conditions.js';

export interface ExplainInput {
  now: Date;
  /** Every GpuVm the reader can see (for a device's queue), including `gpuVm` itself. */
  gpuVms: readonly GpuVm[];
  devices: readonly EdgeDevice[];
}

const conditionOf = (o: { status?: { conditions?: Condition[] } }, type: string): Condition | undefined => findCondition(o.status?.conditions, type);
const keyOf = (g: GpuVm): string => `${g.metadata.namespace ?? ''}/${g.metadata.name ?? ''}`;
const created = (o: { metadata: { creationTimestamp?: Date | string } }): number => new Date(o.metadata.creationTimestamp ?? 0).getTime() || 0;

/** "42s", "5m", "3h12m", "2d4h": the age of a timestamp. */
export function age(since: string | Date | undefined, now: Date): string {
  if (since === undefined) return 'unknown';
  const s = Math.max(0, Math.floor((now.getTime() - new Date(since).getTime()) / 1000));
  if (!Number.isFinite(s)) return 'unknown';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 > 0 ? `${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d${h % 24 > 0 ? `${h % 24}h` : ''}`;
}

const describe = (c: Condition | undefined): string => (c === undefined ? 'not reported' : `${c.status}, ${c.reason}: ${c.message}`);

/** GpuVms bound to `device` that want a GPU and are not in its ledger, in admission order (creation, then name). */
export function waitingQueue(device: EdgeDevice, gpuVms: readonly GpuVm[]): GpuVm[] {
  const inLedger = new Set((device.status?.allocations ?? []).map((a) => a.uid));
  return gpuVms
    .filter((g) => g.spec.deviceRef.name === device.metadata.name && g.metadata.deletionTimestamp === undefined)
    .filter((g) => !inLedger.has(g.metadata.uid ?? '') && g.status?.vm?.resourceId === undefined)
    .sort((a, b) => created(a) - created(b) || keyOf(a).localeCompare(keyOf(b)));
}

function gpuLine(device: EdgeDevice): string {
  const g = device.status?.gpus;
  if (g === undefined) return 'GPUs: not reported yet';
  return `GPUs: ${g.total ?? 0} total, ${g.vms ?? 0} held by VMs, ${g.kubernetes ?? 0} by Kubernetes, ${g.free ?? 0} free`;
}

function kubernetesLine(device: EdgeDevice): string {
  const k = conditionOf(device, 'KubernetesConfigured');
  const spec = device.spec.kubernetes?.state ?? 'Unmanaged';
  const observed = device.status?.kubernetes;
  const roles = (observed?.roles ?? []).map((r) => `${r.kind} role ${r.name} (${r.provisioningState ?? 'unknown'})`).join(', ');
  const base = `Kubernetes: spec ${spec}; observed ${observed?.state ?? 'unknown'}${observed?.gpus !== undefined ? ` holding ${observed.gpus} GPU(s)` : ''}${roles !== '' ? `; ${roles}` : ''}`;
  if (k?.reason === 'WaitingForGpuVms') return `${base}; gate closed: the role waits so it does not take GPUs the GpuVms need (${k.message})`;
  return k === undefined ? base : `${base}; ${k.reason}`;
}

/** Lines explaining one EdgeDevice. */
export function explainEdgeDevice(device: EdgeDevice, input: ExplainInput): string[] {
  const name = device.metadata.name ?? '';
  const ready = conditionOf(device, 'Ready');
  const lines = [`edgedevice ${name}: Ready ${describe(ready)}`];
  if (device.status?.observedGeneration !== device.metadata.generation) {
    lines.push(`  Observed: generation ${device.metadata.generation ?? '?'} not reconciled yet (status is for ${device.status?.observedGeneration ?? 'none'}); is the controller running?`);
  }
  const suspended = suspendedLine(device);
  if (suspended !== undefined) lines.push(suspended);
  lines.push(`  Connected: ${describe(conditionOf(device, 'Connected'))}`);
  lines.push(`  ${gpuLine(device)}`);
  const ledger = device.status?.allocations ?? [];
  lines.push(`  Ledger: ${ledger.length === 0 ? 'no GpuVm holds or has reserved a GPU' : ledger.map((a) => `${a.gpuVm} ${a.state}`).join(', ')}`);
  const queue = waitingQueue(device, input.gpuVms);
  lines.push(`  Queue: ${queue.length === 0 ? 'no GpuVm waits for a GPU' : queue.map((g, i) => `${i + 1}. ${keyOf(g)} (waiting ${age(g.metadata.creationTimestamp, input.now)})`).join(', ')}`);
  if ((device.status?.foreignVms ?? []).length > 0) lines.push(`  Foreign VMs: ${(device.status?.foreignVms ?? []).join(', ')} hold GPUs but belong to no GpuVm`);
  lines.push(`  ${kubernetesLine(device)}`);
  const drained = conditionOf(device, 'Drained');
  if (device.spec.drain === true || drained?.reason === 'DrainExpired') lines.push(`  Drain: ${describe(drained)}`);
  const stalled = conditionOf(device, 'Stalled');
  if (suspended !== undefined) lines.push(`  To do: set spec.suspend: false to resume`);
  else if (stalled?.status === 'True') lines.push(`  To do: ${stalled.message}`);
  else if (ready?.status !== 'True' && ready !== undefined) lines.push(`  To do: wait, or act on the reason above (${ready.reason})`);
  return lines;
}

function operationLine(g: GpuVm, now: Date): string | undefined {
  const op = g.status?.operation;
  if (op === undefined) return undefined;
  const attempts = op.attempts !== undefined && op.attempts > 1 ? `, attempt ${op.attempts}` : '';
  return `ARM: ${op.kind}${op.deploymentName !== undefined ? ` (deployment ${op.deploymentName})` : ''} running for ${age(op.startedAt, now)}${attempts}`;
}

/** Lines explaining one GpuVm. */
export function explainGpuVm(g: GpuVm, input: ExplainInput): string[] {
  const { now } = input;
  const ready = conditionOf(g, 'Ready');
  const phase = g.status?.phase ?? 'no phase';
  const lines = [`gpuvm ${keyOf(g)} on edgedevice ${g.spec.deviceRef.name}: ${phase}; Ready ${describe(ready)}`];
  if (g.status?.observedGeneration !== g.metadata.generation) {
    lines.push(`  Observed: generation ${g.metadata.generation ?? '?'} not reconciled yet (status is for ${g.status?.observedGeneration ?? 'none'}); is the controller running?`);
  }
  const suspended = suspendedLine(g);
  if (suspended !== undefined) lines.push(suspended);
  const device = input.devices.find((d) => d.metadata.name === g.spec.deviceRef.name);
  if (device === undefined) lines.push(`  Device: edgedevice ${g.spec.deviceRef.name} does not exist (or you cannot read it)`);
  const reserved = conditionOf(g, 'GpuReserved');
  lines.push(`  GPU: ${describe(reserved)}`);
  if (device !== undefined) {
    const allocation = (device.status?.allocations ?? []).find((a) => a.uid === g.metadata.uid);
    if (allocation !== undefined) {
      lines.push(`  Ledger: ${allocation.state} on ${device.metadata.name ?? ''}`);
    } else if (g.metadata.deletionTimestamp === undefined && g.status?.vm?.resourceId === undefined) {
      const queue = waitingQueue(device, input.gpuVms);
      const position = queue.findIndex((q) => q.metadata.uid === g.metadata.uid);
      const holders = (device.status?.allocations ?? []).length;
      lines.push(
        `  Queue: ${position >= 0 ? `position ${position + 1} of ${queue.length}` : 'not queued'} on ${device.metadata.name ?? ''}; ${gpuLine(device).replace('GPUs: ', 'its GPUs: ')}; ${holders} GpuVm(s) in its ledger`,
      );
      const k = conditionOf(device, 'KubernetesConfigured');
      if ((device.status?.kubernetes?.gpus ?? 0) > 0) lines.push(`  Kubernetes: holds ${device.status?.kubernetes?.gpus ?? 0} GPU(s) of the device (${k?.reason ?? 'observed'})`);
    }
  }
  const provisioned = conditionOf(g, 'VmProvisioned');
  if (provisioned !== undefined) lines.push(`  VM: ${describe(provisioned)}`);
  const driver = conditionOf(g, 'GpuDriverInstalled');
  if (driver !== undefined) lines.push(`  Driver: ${describe(driver)}`);
  const op = operationLine(g, now);
  if (op !== undefined) lines.push(`  ${op}`);
  if (g.status?.vm?.ipAddress !== undefined) lines.push(`  Address: ${g.status.vm.ipAddress} (power state ${g.status.vm.powerState ?? 'unknown'})`);
  if (g.metadata.deletionTimestamp !== undefined) lines.push(`  Deleting: since ${age(g.metadata.deletionTimestamp, now)}; finalizers ${(g.metadata.finalizers ?? []).join(', ') || 'none'}`);
  lines.push(`  To do: ${toDo(g, ready, reserved, device)}`);
  return lines;
}

/** Paused (spec.suspend): the lines that follow are as last observed, not current. */
function suspendedLine(o: GpuVm | EdgeDevice): string | undefined {
  const suspended = conditionOf(o, 'Suspended');
  if (suspended?.status !== 'True') return undefined;
  return `  Suspended: ${suspended.message}; what follows is as last observed`;
}

function toDo(g: GpuVm, ready: Condition | undefined, reserved: Condition | undefined, device: EdgeDevice | undefined): string {
  const suspended = conditionOf(g, 'Suspended');
  if (suspended?.status === 'True') {
    return suspended.reason === 'DeviceSuspended' ? `set spec.suspend: false on edgedevice ${g.spec.deviceRef.name} to resume` : 'set spec.suspend: false to resume';
  }
  const stalled = conditionOf(g, 'Stalled');
  if (stalled?.status === 'True') return `${stalled.message} (the controller retries only after a change)`;
  if (ready?.status === 'True') return 'nothing: the VM is Ready';
  if (device === undefined) return `create edgedevice ${g.spec.deviceRef.name}, or re-create the GpuVm with a deviceRef that exists`;
  if (reserved?.status === 'False' && g.status?.vm?.resourceId === undefined) {
    return 'wait for a GPU to free up, or free one: delete or deallocate another GpuVm on the device, or set the device\'s spec.kubernetes.state: NotConfigured';
  }
  if (g.status?.operation !== undefined) return 'wait: the operation above is in progress';
  return `wait${ready !== undefined ? ` (${ready.reason})` : ''}`;
}

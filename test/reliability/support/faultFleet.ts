// A fleet for the fault tests: simulated two-GPU devices with their EdgeDevices, GpuVms spread over them, and the
// checks that the fleet converged (every GpuVm Ready, exactly one VM per GpuVm on its own device).
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { GPUVM_PLURAL, GROUP, VERSION, type GpuVm } from '../../../src/api/types.js';
import type { DeviceInput, Simulator } from '../../../src/simulator/index.js';
import { LINUX_IMAGE, deviceManifests, gpuVmManifests } from '../../support/devices.js';
import { conditionOf } from '../../support/objects.js';

export interface Fleet {
  /** Simulator devices, `sim-00`, `sim-01`, … */
  readonly simDevices: readonly string[];
  /** The EdgeDevice for a simulator device (cluster-scoped, so prefixed with the namespace). */
  edgeDevice(simDevice: string): string;
}

/** `count` simulator devices with `gpus` GPUs each and the Linux image. */
export function fleetDevices(count: number, gpus = 2): DeviceInput[] {
  return Array.from({ length: count }, (_, i) => ({ name: `sim-${String(i).padStart(2, '0')}`, gpus, images: [LINUX_IMAGE] }));
}

export function fleet(namespace: string, devices: readonly DeviceInput[]): Fleet {
  return { simDevices: devices.map((d) => d.name), edgeDevice: (simDevice) => `${namespace}-${simDevice}` };
}

/** Secrets and EdgeDevices for every device of the fleet, as one multi-document manifest. */
export function fleetDeviceManifests(sim: Simulator, f: Fleet, namespace: string): string {
  return f.simDevices.map((d) => deviceManifests(sim, d, namespace, { name: f.edgeDevice(d) })).join('---\n');
}

export interface PlannedGpuVm {
  name: string;
  simDevice: string;
}

/** `perDevice` GpuVms on each device, named `<prefix>-<device index>-<i>`. */
export function planGpuVms(f: Fleet, perDevice: number, prefix = 'vm'): PlannedGpuVm[] {
  return f.simDevices.flatMap((simDevice, d) =>
    Array.from({ length: perDevice }, (_, i) => ({ name: `${prefix}-${String(d).padStart(2, '0')}-${i}`, simDevice })),
  );
}

/** Admin Secrets and GpuVms for the planned VMs, as one multi-document manifest. */
export function fleetGpuVmManifests(f: Fleet, vms: readonly PlannedGpuVm[]): string {
  return vms.map((vm) => gpuVmManifests({ name: vm.name, device: f.edgeDevice(vm.simDevice) })).join('---\n');
}

/** Lists the GpuVms of a namespace through the given cluster's API. */
export function gpuVmLister(kubeConfig: () => KubeConfig): (namespace: string) => Promise<GpuVm[]> {
  return async (namespace) => {
    const api = kubeConfig().makeApiClient(CustomObjectsApi);
    const list = (await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace })) as { items: GpuVm[] };
    return list.items;
  };
}

export const isReady = (vm: GpuVm): boolean => conditionOf(vm, 'Ready')?.status === 'True';

/**
 * Everything that contradicts "exactly one VM per planned GpuVm, on its device": missing VMs, VMs on the wrong
 * device, duplicates, and VMs no GpuVm asked for. Empty when the fleet is consistent.
 */
export function vmMismatches(sim: Simulator, f: Fleet, vms: readonly PlannedGpuVm[]): string[] {
  const where = new Map<string, string[]>();
  for (const device of f.simDevices) {
    for (const vm of sim.deviceState(device).vms) where.set(vm.name, [...(where.get(vm.name) ?? []), device]);
  }
  const problems: string[] = [];
  for (const vm of vms) {
    const found = where.get(vm.name) ?? [];
    if (found.length !== 1 || found[0] !== vm.simDevice) problems.push(`GpuVm ${vm.name} (device ${vm.simDevice}): VMs on [${found.join(', ')}]`);
    where.delete(vm.name);
  }
  for (const [name, devices] of where) problems.push(`VM ${name} on [${devices.join(', ')}] belongs to no GpuVm`);
  return problems;
}

/** What is left on the fleet's devices: VMs, NICs, deployment records, GPU holders. Empty after a clean deletion. */
export function deviceLeftovers(sim: Simulator, f: Fleet): string[] {
  return f.simDevices.flatMap((d) => {
    const s = sim.deviceState(d);
    return [
      ...s.vms.map((vm) => `${d}: VM ${vm.name}`),
      ...s.nics.map((nic) => `${d}: NIC ${nic.name}`),
      ...s.deployments.map((dep) => `${d}: deployment ${dep.name} (${dep.provisioningState})`),
      ...(s.gpus.free === s.gpus.total ? [] : [`${d}: ${s.gpus.total - s.gpus.free} GPUs held`]),
    ];
  });
}

/**
 * Conditions (type/reason) GpuVms reported on their way to Ready while polled: evidence that failures were
 * reported while they lasted. Ready itself and Reconciling (in progress is normal) are left out; Stalled counts
 * when True.
 */
export class ConditionLog {
  private readonly counts = new Map<string, number>();
  private readonly seen = new Set<string>();

  /** Records each such condition once per GpuVm, type, reason and transition. */
  observe(vms: readonly GpuVm[]): void {
    for (const vm of vms) {
      for (const c of vm.status?.conditions ?? []) {
        const reported = c.type === 'Stalled' ? c.status === 'True' : c.type !== 'Ready' && c.type !== 'Reconciling' && c.status === 'False';
        if (!reported) continue;
        const key = `${vm.metadata?.name ?? ''}/${c.type}/${c.reason}/${c.lastTransitionTime}`;
        if (this.seen.has(key)) continue;
        this.seen.add(key);
        const label = `${c.type}=${c.reason}`;
        this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
      }
    }
  }

  /** How often each `Type=Reason` was seen (distinct GpuVm and transition). */
  summary(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  has(type: string, reason: string): boolean {
    return this.counts.has(`${type}=${reason}`);
  }
}

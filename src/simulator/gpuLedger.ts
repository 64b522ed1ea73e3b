// Who holds each GPU of a device: a GPU VM (until deallocated or deleted) or a compute role (Kubernetes or
// IoT, kind 'kubernetes' here: the device's Kubernetes runs either).
export type GpuHolder = { kind: 'vm'; vmId: string; name: string } | { kind: 'kubernetes'; role: string };

export class GpuLedger {
  private readonly slots: (GpuHolder | null)[];

  constructor(readonly total: number) {
    this.slots = Array.from({ length: total }, () => null);
  }

  free(): number {
    return this.slots.filter((s) => s === null).length;
  }

  kubernetesCount(): number {
    return this.slots.filter((s) => s?.kind === 'kubernetes').length;
  }

  vmHolders(): string[] {
    return this.slots.flatMap((s) => (s?.kind === 'vm' ? [s.vmId] : []));
  }

  holdsVm(vmId: string): boolean {
    const key = vmId.toLowerCase();
    return this.slots.some((s) => s?.kind === 'vm' && s.vmId.toLowerCase() === key);
  }

  /** Gives the VM a free GPU; false when none is free. Idempotent for a VM that already holds one. */
  claimForVm(vmId: string, name: string): boolean {
    if (this.holdsVm(vmId)) return true;
    const index = this.slots.indexOf(null);
    if (index < 0) return false;
    this.slots[index] = { kind: 'vm', vmId, name };
    return true;
  }

  releaseVm(vmId: string): boolean {
    const key = vmId.toLowerCase();
    const index = this.slots.findIndex((s) => s?.kind === 'vm' && s.vmId.toLowerCase() === key);
    if (index < 0) return false;
    this.slots[index] = null;
    return true;
  }

  /** The compute role takes every free GPU; returns how many it took. */
  claimFreeForKubernetes(role = 'k8s'): number {
    let taken = 0;
    for (let i = 0; i < this.slots.length; i++) {
      if (this.slots[i] === null) {
        this.slots[i] = { kind: 'kubernetes', role: role.toLowerCase() };
        taken++;
      }
    }
    return taken;
  }

  /** Kubernetes takes the GPU of a (stopped) VM; false when the VM holds none. */
  takeFromVm(vmId: string, role: string): boolean {
    const key = vmId.toLowerCase();
    const index = this.slots.findIndex((s) => s?.kind === 'vm' && s.vmId.toLowerCase() === key);
    if (index < 0) return false;
    this.slots[index] = { kind: 'kubernetes', role: role.toLowerCase() };
    return true;
  }

  /** Roles holding GPUs (lower-case names). */
  kubernetesRoles(): string[] {
    return [...new Set(this.slots.flatMap((s) => (s?.kind === 'kubernetes' ? [s.role] : [])))];
  }

  /** Releases the GPUs of one role (or of every role). */
  releaseKubernetes(role?: string): number {
    let released = 0;
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i];
      if (slot?.kind === 'kubernetes' && (role === undefined || slot.role === role.toLowerCase())) {
        this.slots[i] = null;
        released++;
      }
    }
    return released;
  }

  snapshot(): (GpuHolder | null)[] {
    return this.slots.map((s) => (s === null ? null : { ...s }));
  }
}

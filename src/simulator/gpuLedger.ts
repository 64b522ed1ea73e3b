// Who holds each GPU of a device: a GPU VM (until deallocated or deleted) or the Kubernetes role.
export type GpuHolder = { kind: 'vm'; vmId: string; name: string } | { kind: 'kubernetes' };

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

  /** Kubernetes takes every free GPU; returns how many it took. */
  claimFreeForKubernetes(): number {
    let taken = 0;
    for (let i = 0; i < this.slots.length; i++) {
      if (this.slots[i] === null) {
        this.slots[i] = { kind: 'kubernetes' };
        taken++;
      }
    }
    return taken;
  }

  releaseKubernetes(): number {
    let released = 0;
    for (let i = 0; i < this.slots.length; i++) {
      if (this.slots[i]?.kind === 'kubernetes') {
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

// Watches the bench's GpuVms (the project's own informer over a real watch) and records, per GpuVm, when it was
// created, when it first became Ready or started waiting for a GPU, and how many distinct status states it went through.
import type { KubeConfig } from '@kubernetes/client-node';
import type { GpuVm } from '../../src/api/types.ts';
import { GPUVM_PLURAL, GROUP, VERSION } from '../../src/api/types.ts';
import { Informer, stripManagedFields } from '../../src/runtime/informer.ts';
import { customResourceListerWatcher } from '../../src/runtime/kubeListerWatcher.ts';

export interface GpuVmRecord {
  name: string;
  uid: string;
  /** When the bench's create call returned (ms since epoch). */
  appliedAt?: number;
  readyAt?: number;
  waitingAt?: number;
  waitingReason?: string;
  /** Distinct consecutive status states (phase + each condition's type/status/reason) seen, the first included. */
  statusStates: number;
  lastState: string;
  /** Object versions seen after the first (every write the apiserver accepted). */
  updates: number;
}

const condition = (g: GpuVm, type: string) => g.status?.conditions?.find((c) => c.type === type);

/** What a status "transition" is: a change of phase or of any condition's status or reason. */
function statusState(g: GpuVm): string {
  const conditions = (g.status?.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`).sort();
  return `${g.status?.phase ?? ''}|${conditions.join(',')}`;
}

export class GpuVmTracker {
  readonly records = new Map<string, GpuVmRecord>();
  private readonly informer: Informer<GpuVm>;
  private readonly byUid = new Map<string, GpuVmRecord>();

  constructor(kubeConfig: KubeConfig, private readonly namespace: string) {
    this.informer = new Informer<GpuVm>({
      listerWatcher: customResourceListerWatcher<GpuVm>(kubeConfig, { group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace }),
      transform: stripManagedFields,
    });
    this.informer.addEventHandler({
      onAdd: (g) => this.observe(g),
      onUpdate: (_old, g) => this.observe(g),
    });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  stop(): void {
    this.informer.stop();
  }

  /** Lists and watches the tracker made (to subtract from the apiserver's counts). */
  informerRequests(): { lists: number; watches: number } {
    const s = this.informer.stats();
    return { lists: s.lists, watches: s.watches };
  }

  applied(name: string, at: number): void {
    this.record(name).appliedAt ??= at;
  }

  byUidOf(uid: string): GpuVmRecord | undefined {
    return this.byUid.get(uid);
  }

  get readyCount(): number {
    let n = 0;
    for (const r of this.records.values()) if (r.readyAt !== undefined) n++;
    return n;
  }

  isReady(name: string): boolean {
    const g = this.informer.get(this.key(name));
    return g !== undefined && condition(g, 'Ready')?.status === 'True';
  }

  isWaiting(name: string): boolean {
    const g = this.informer.get(this.key(name));
    return g !== undefined && g.status?.phase === 'WaitingForGpu';
  }

  private key(name: string): string {
    return `${this.namespace}/${name}`;
  }

  private record(name: string): GpuVmRecord {
    let r = this.records.get(name);
    if (r === undefined) {
      r = { name, uid: '', statusStates: 0, lastState: '', updates: -1 };
      this.records.set(name, r);
    }
    return r;
  }

  private observe(g: GpuVm): void {
    const now = Date.now();
    const name = g.metadata.name ?? '';
    const r = this.record(name);
    r.updates++;
    if (r.uid === '' && g.metadata.uid !== undefined) {
      r.uid = g.metadata.uid;
      this.byUid.set(r.uid, r);
    }
    const state = statusState(g);
    if (state !== r.lastState) {
      r.statusStates++;
      r.lastState = state;
    }
    if (r.readyAt === undefined && condition(g, 'Ready')?.status === 'True') r.readyAt = now;
    if (r.waitingAt === undefined && g.status?.phase === 'WaitingForGpu') {
      r.waitingAt = now;
      r.waitingReason = condition(g, 'GpuReserved')?.reason;
    }
  }
}

// What the demo shows: tables of GpuVms and EdgeDevices, a timeline of the changes it saw, whether the
// demo has settled, and the closing explanation. Pure functions of snapshots of the objects.
import type { Condition, EdgeDevice, GpuVm } from '../api/types.js';
import { explainEdgeDevice, explainGpuVm } from '../explain/explanation.js';

export interface Snapshot {
  /** Seconds since the controller started. */
  elapsedS: number;
  gpuVms: GpuVm[];
  devices: EdgeDevice[];
}

export interface TimelineEntry {
  elapsedS: number;
  /** gpuvm/edgedevice: seen in the object's status; arm/azure: a write the simulator accepted (its audit). */
  kind: 'gpuvm' | 'edgedevice' | 'arm' | 'azure';
  name: string;
  /** e.g. "phase Provisioning", "kubernetes Creating (WaitingForGpuVms)". */
  change: string;
}

const condition = (o: { status?: { conditions?: Condition[] } }, type: string): Condition | undefined =>
  o.status?.conditions?.find((c) => c.type === type);

const gvmName = (g: GpuVm): string => g.metadata.name ?? '';

function gvmRow(g: GpuVm): string[] {
  const ready = condition(g, 'Ready');
  return [gvmName(g), g.spec.deviceRef.name, g.status?.phase ?? '-', ready?.status ?? '-', ready?.reason ?? '-', g.status?.vm?.ipAddress ?? '-'];
}

/** The Kubernetes role as the device reports it, with the controller's reason while it is not configured. */
function roleState(d: EdgeDevice): string {
  const state = d.status?.kubernetes?.state ?? '-';
  const k8s = condition(d, 'KubernetesConfigured');
  return k8s !== undefined && k8s.status !== 'True' && k8s.reason !== state ? `${state} (${k8s.reason})` : state;
}

function edevRow(d: EdgeDevice): string[] {
  const gpus = d.status?.gpus;
  const num = (n: number | undefined): string => (n === undefined ? '-' : String(n));
  return [d.metadata.name ?? '', num(gpus?.total), num(gpus?.vms), num(gpus?.kubernetes), num(gpus?.free), condition(d, 'Ready')?.status ?? '-', d.spec.kubernetes?.state ?? 'Unmanaged', roleState(d)];
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const byName = <T extends { metadata: { name?: string } }>(a: T, b: T): number => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');

/** The two tables and, for every GpuVm not Ready, the condition message that says why. */
export function renderTables(s: Snapshot, options: { why?: boolean } = {}): string {
  const gpuVms = [...s.gpuVms].sort((a, b) => a.spec.deviceRef.name.localeCompare(b.spec.deviceRef.name) || byName(a, b));
  const devices = [...s.devices].sort(byName);
  const out = [
    table(['GPUVM', 'DEVICE', 'PHASE', 'READY', 'REASON', 'IP'], gpuVms.map(gvmRow)),
    '',
    table(['EDGEDEVICE', 'GPUS', 'VMS', 'K8S', 'FREE', 'READY', 'K8S SPEC', 'K8S ROLE'], devices.map(edevRow)),
  ];
  const why = gpuVms.flatMap((g) => {
    const ready = condition(g, 'Ready');
    return ready === undefined || ready.status === 'True' || !ready.message ? [] : [`  ${gvmName(g)}: ${ready.message}`];
  });
  const gate = devices.flatMap((d) => {
    const k8s = condition(d, 'KubernetesConfigured');
    return k8s?.reason === 'WaitingForGpuVms' ? [`  ${d.metadata.name ?? ''}: ${k8s.message ?? ''}`] : [];
  });
  if (options.why !== false && why.length + gate.length > 0) out.push('', 'why:', ...why, ...gate);
  return out.join('\n');
}

/** What the timeline tracks per object; a change in it is one timeline entry. */
function observed(s: Snapshot): Map<string, { kind: TimelineEntry['kind']; name: string; text: string }> {
  const m = new Map<string, { kind: TimelineEntry['kind']; name: string; text: string }>();
  for (const g of s.gpuVms) {
    const ready = condition(g, 'Ready');
    const phase = g.status?.phase;
    if (phase === undefined) continue;
    const reason = ready?.status === 'True' ? '' : ready?.reason !== undefined && ready.reason !== phase ? ` (${ready.reason})` : '';
    const ip = phase === 'Ready' && g.status?.vm?.ipAddress ? ` ip ${g.status.vm.ipAddress}` : '';
    m.set(`gpuvm/${gvmName(g)}`, { kind: 'gpuvm', name: gvmName(g), text: `phase ${phase}${reason}${ip}` });
  }
  for (const d of s.devices) {
    const name = d.metadata.name ?? '';
    const state = d.status?.kubernetes?.state;
    if (state !== undefined) {
      const k8s = condition(d, 'KubernetesConfigured');
      const reason = k8s !== undefined && k8s.status !== 'True' && k8s.reason !== state ? ` (${k8s.reason})` : '';
      const gpus = state === 'Configured' ? ` holding ${d.status?.kubernetes?.gpus ?? 0} GPU(s)` : '';
      m.set(`kubernetes/${name}`, { kind: 'edgedevice', name, text: `kubernetes ${state}${reason}${gpus}` });
    }
    const ready = condition(d, 'Ready');
    if (ready !== undefined) m.set(`ready/${name}`, { kind: 'edgedevice', name, text: `ready ${ready.status}${ready.status === 'True' ? '' : ` (${ready.reason})`}` });
  }
  return m;
}

/** Remembers what it saw last and turns each new snapshot into the changes since. */
export class Timeline {
  readonly entries: TimelineEntry[] = [];
  private last = new Map<string, string>();

  update(s: Snapshot): TimelineEntry[] {
    const added: TimelineEntry[] = [];
    const now = observed(s);
    for (const [key, o] of now) {
      if (this.last.get(key) === o.text) continue;
      this.last.set(key, o.text);
      added.push({ elapsedS: s.elapsedS, kind: o.kind, name: o.name, change: o.text });
    }
    for (const key of [...this.last.keys()]) {
      if (now.has(key)) continue;
      this.last.delete(key);
      const [what = '', name = ''] = key.split('/');
      if (what === 'gpuvm') added.push({ elapsedS: s.elapsedS, kind: 'gpuvm', name, change: 'deleted' });
      else if (what === 'ready' && !s.devices.some((d) => d.metadata.name === name)) added.push({ elapsedS: s.elapsedS, kind: 'edgedevice', name, change: 'deleted' });
    }
    return this.add(added);
  }

  /** Adds entries (e.g. from the simulator's audit); returns them sorted by time. */
  add(entries: TimelineEntry[]): TimelineEntry[] {
    const sorted = [...entries].sort((a, b) => a.elapsedS - b.elapsedS);
    this.entries.push(...sorted);
    return sorted;
  }
}

/** The simulator's audit record of one request, as far as the timeline needs it. */
export interface AuditRecord {
  time: string;
  device: string;
  method: string;
  path: string;
  operation: string;
  status: number;
}

/**
 * Timeline entries for the writes the simulator accepted that tell the story: VM and driver deployments
 * per GpuVm (named by the GpuVm's UID) and Kubernetes role creation and removal on the Azure side.
 */
export function auditEntries(records: readonly AuditRecord[], gpuVms: readonly GpuVm[], startedAtMs: number): TimelineEntry[] {
  const nameOf = (uid: string): string => gpuVms.find((g) => g.metadata.uid === uid)?.metadata.name ?? uid;
  const out: TimelineEntry[] = [];
  for (const r of records) {
    if (r.status >= 300) continue;
    const elapsedS = (Date.parse(r.time) - startedAtMs) / 1000;
    const deployment = /\/deployments\/gpuvm-(vm|gpu)-([0-9a-f-]{36})$/i.exec(r.path);
    if (r.operation === 'deployment.put' && deployment !== null) {
      const what = deployment[1] === 'vm' ? 'CreateVM deployment' : 'GPU driver extension deployment';
      out.push({ elapsedS, kind: 'arm', name: r.device, change: `${what} for ${nameOf(deployment[2] ?? '')}` });
    }
    const role = /\/dataBoxEdgeDevices\/([^/]+)\/roles\/([^/?]+)$/i.exec(r.path);
    if (role !== null && (r.operation === 'role.put' || r.operation === 'role.delete')) {
      out.push({ elapsedS, kind: 'azure', name: role[1] ?? '', change: `Kubernetes role ${r.operation === 'role.put' ? 'create' : 'delete'} (${role[2] ?? ''})` });
    }
  }
  return out;
}

export function formatEntry(e: TimelineEntry): string {
  return `${`+${e.elapsedS.toFixed(1)}s`.padStart(8)}  ${`${e.kind} ${e.name}`.padEnd(24)}  ${e.change}`;
}

export type Verdict = { settled: false; pending: string[] } | { settled: true; failed: string[] };

/**
 * Settled: every expected GpuVm is Ready or waits for a GPU with a stated reason (or failed for good), and
 * every expected device is Ready with its Kubernetes role where its spec wants it; all statuses current.
 */
export function verdict(s: Snapshot, expectedGpuVms: readonly string[], expectedDevices: readonly string[]): Verdict {
  const pending: string[] = [];
  const failed: string[] = [];
  for (const name of expectedGpuVms) {
    const g = s.gpuVms.find((x) => gvmName(x) === name);
    if (g === undefined || g.status?.observedGeneration !== g.metadata.generation) {
      pending.push(`gpuvm ${name}: not observed yet`);
      continue;
    }
    const ready = condition(g, 'Ready');
    const stalled = condition(g, 'Stalled');
    if (ready?.status === 'True') continue;
    if (stalled?.status === 'True' || g.status?.phase === 'Failed') failed.push(`gpuvm ${name}: ${stalled?.reason ?? ready?.reason ?? 'Failed'}: ${stalled?.message ?? ready?.message ?? ''}`);
    else if (g.status?.phase === 'WaitingForGpu' && condition(g, 'GpuReserved')?.reason) continue;
    else pending.push(`gpuvm ${name}: ${g.status?.phase ?? 'no phase'} (${ready?.reason ?? '-'})`);
  }
  for (const name of expectedDevices) {
    const d = s.devices.find((x) => x.metadata.name === name);
    if (d === undefined || d.status?.observedGeneration !== d.metadata.generation) {
      pending.push(`edgedevice ${name}: not observed yet`);
      continue;
    }
    const ready = condition(d, 'Ready');
    if (condition(d, 'Stalled')?.status === 'True') failed.push(`edgedevice ${name}: ${condition(d, 'Stalled')?.message ?? ''}`);
    else if (ready?.status !== 'True') pending.push(`edgedevice ${name}: ${ready?.reason ?? 'not ready'}`);
    else if (d.spec.kubernetes?.state === 'Configured' && condition(d, 'KubernetesConfigured')?.status !== 'True') pending.push(`edgedevice ${name}: Kubernetes role not configured yet`);
  }
  return pending.length > 0 ? { settled: false, pending } : { settled: true, failed };
}

const firstTime = (entries: readonly TimelineEntry[], kind: TimelineEntry['kind'], name: string, prefix: string): number | undefined =>
  entries.find((e) => e.kind === kind && e.name === name && e.change.startsWith(prefix))?.elapsedS;

const at = (t: number | undefined): string => (t === undefined ? '' : ` at +${t.toFixed(1)}s`);

/**
 * The closing explanation: per device, who holds its GPUs, who waits and why, and the ordering rule; then what
 * `gpuvm-controller explain` says about each device and each GpuVm that is not Ready.
 */
export function explain(s: Snapshot, timeline: readonly TimelineEntry[], now = new Date()): string {
  const lines: string[] = [];
  for (const d of [...s.devices].sort(byName)) {
    const name = d.metadata.name ?? '';
    const vms = s.gpuVms.filter((g) => g.spec.deviceRef.name === name).sort(byName);
    const gpus = d.status?.gpus;
    lines.push(`${name} (${gpus?.total ?? '?'} GPU(s), spec.kubernetes.state: ${d.spec.kubernetes?.state ?? 'Unmanaged'}):`);
    for (const g of vms) {
      const ready = condition(g, 'Ready');
      if (ready?.status === 'True') {
        lines.push(`  - ${gvmName(g)} (${g.spec.image.osType}) got a GPU and became Ready${at(firstTime(timeline, 'gpuvm', gvmName(g), 'phase Ready'))}, IP ${g.status?.vm?.ipAddress ?? '-'}.`);
      } else {
        const reserved = condition(g, 'GpuReserved');
        lines.push(`  - ${gvmName(g)} (${g.spec.image.osType}) waits: ${reserved?.type ?? 'Ready'}=False, reason ${reserved?.reason ?? ready?.reason ?? '?'}: ${reserved?.message ?? ready?.message ?? ''}`);
      }
    }
    if (d.spec.kubernetes?.state === 'Configured') {
      const gated = timeline.find((e) => e.kind === 'edgedevice' && e.name === name && e.change.includes('WaitingForGpuVms'))?.elapsedS;
      const vmDeployments = timeline.filter((e) => e.kind === 'arm' && e.name === name && e.change.startsWith('CreateVM')).map((e) => e.elapsedS);
      const roleCreated = firstTime(timeline, 'azure', name, 'Kubernetes role create');
      const configured = firstTime(timeline, 'edgedevice', name, 'kubernetes Configured');
      const times = (ts: number[]): string => ts.map((t) => `+${t.toFixed(1)}s`).join(', ');
      lines.push(
        '  - The Kubernetes role claims every GPU that is free when it is created, so the controller held it back' +
          (gated !== undefined ? ` (KubernetesConfigured=False, WaitingForGpuVms${at(gated)})` : '') +
          ' until the GpuVms admitted to this device had taken their GPUs.',
        `    ARM order: CreateVM deployments ${vmDeployments.length > 0 ? times(vmDeployments) : '(none seen)'}; Kubernetes role requested${roleCreated === undefined ? ' (not seen)' : at(roleCreated)};` +
          ` configured${at(configured)} holding ${d.status?.kubernetes?.gpus ?? 0} GPU(s).`,
      );
    } else {
      lines.push(`  - Kubernetes is observed only here (role: ${d.status?.kubernetes?.state ?? 'unknown'}).`);
    }
  }
  lines.push(
    '',
    'Rules at work: GpuVms get GPUs in creation order (then by name); one without a free GPU waits with',
    'GpuReserved=False (InsufficientGpus) and no ARM deployment is attempted; it deploys as soon as a GPU frees up.',
    'With kubernetes.state Configured, the role is created only after the waiting GpuVms have taken the free GPUs.',
  );
  const input = { now, gpuVms: s.gpuVms, devices: s.devices };
  const notReady = s.gpuVms.filter((g) => condition(g, 'Ready')?.status !== 'True').sort(byName);
  lines.push('', 'What `gpuvm-controller explain --all` says (also `kubectl gpuvm explain`):');
  for (const block of [...[...s.devices].sort(byName).map((d) => explainEdgeDevice(d, input)), ...notReady.map((g) => explainGpuVm(g, input))]) lines.push(...block);
  return lines.join('\n');
}

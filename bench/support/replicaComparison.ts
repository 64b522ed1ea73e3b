// One scenario run with different replica counts, side by side: what sharding buys (wall time, per-replica CPU and
// heap) and what it costs (ARM requests must not rise; apiserver requests may rise by the shard bookkeeping only).
import type { Numbers } from './baseline.ts';
import { fixed, heading, line } from './scaleReport.ts';

interface ReplicaRun {
  replicas: number;
  numbers: Numbers;
}

/**
 * Rows: a headline number; for a single process, the number its per-replica maximum falls back to (`single`) or
 * the value it has by definition (`absentIs`: a single process keeps no shard bookkeeping).
 */
const ROWS: { label: string; key: string; single?: string; absentIs?: number; digits: number }[] = [
  { label: 'converge (s)', key: 'convergeSeconds', digits: 1 },
  { label: 'apply → first ARM PUT p99 (ms)', key: 'applyToPutP99Ms', digits: 0 },
  { label: 'controller CPU, all replicas (s)', key: 'controllerCpuSeconds', digits: 1 },
  { label: 'controller CPU, busiest replica (s)', key: 'controllerCpuSecondsMaxReplica', single: 'controllerCpuSeconds', digits: 1 },
  { label: 'live heap, all replicas (MiB)', key: 'controllerLiveHeapMiB', digits: 0 },
  { label: 'live heap, largest replica (MiB)', key: 'controllerLiveHeapMiBMaxReplica', single: 'controllerLiveHeapMiB', digits: 0 },
  { label: 'peak RSS, largest replica (MiB)', key: 'controllerPeakRssMiBMaxReplica', single: 'controllerPeakRssMiB', digits: 0 },
  { label: 'ARM requests ÷ floor', key: 'armFloorRatio', digits: 3 },
  { label: 'apiserver requests per GpuVm', key: 'apiserverRequestsPerGpuVm', digits: 2 },
  { label: '  of which shard bookkeeping', key: 'apiserverShardBookkeepingPerGpuVm', absentIs: 0, digits: 2 },
  { label: 'gpuvm reconciles per object', key: 'gpuvmReconcilesPerObject', digits: 2 },
  { label: 'edgedevice reconciles per object', key: 'edgedeviceReconcilesPerObject', digits: 2 },
  { label: 'restart until steady (s)', key: 'restartSeconds', digits: 1 },
];

function value(run: ReplicaRun, key: string): number | undefined {
  const row = ROWS.find((r) => r.key === key);
  return run.numbers[key] ?? (run.replicas === 1 && row?.single !== undefined ? run.numbers[row.single] : undefined) ?? row?.absentIs;
}

export function replicaComparison(scenario: string, runs: readonly ReplicaRun[]): void {
  const first = runs[0];
  if (first === undefined) return;
  heading(`${scenario}: ${runs.map((r) => `${r.replicas} replica${r.replicas > 1 ? 's' : ''}`).join(' against ')}`);
  line('', runs.map((r) => `${r.replicas} repl.`.padStart(12)).join(''));
  for (const row of ROWS) {
    const values = runs.map((r) => value(r, row.key));
    if (values.every((v) => v === undefined)) continue;
    line(row.label, values.map((v) => (v === undefined ? 'n/a' : fixed(v, row.digits)).padStart(12)).join(''));
  }
  // The issue's two conditions, stated as differences from the first run.
  for (const run of runs.slice(1)) {
    const arm = (value(run, 'armFloorRatio') ?? NaN) - (value(first, 'armFloorRatio') ?? NaN);
    const apiserver = (value(run, 'apiserverRequestsPerGpuVm') ?? NaN) - (value(first, 'apiserverRequestsPerGpuVm') ?? NaN);
    const bookkeeping = (value(run, 'apiserverShardBookkeepingPerGpuVm') ?? NaN) - (value(first, 'apiserverShardBookkeepingPerGpuVm') ?? NaN);
    line(`${run.replicas} against ${first.replicas}: ARM ratio change`, `${arm >= 0 ? '+' : ''}${fixed(arm, 3)}`);
    line(`${run.replicas} against ${first.replicas}: apiserver per GpuVm change`, `${apiserver >= 0 ? '+' : ''}${fixed(apiserver, 2)}, of which shard bookkeeping ${fixed(bookkeeping, 2)}, the rest ${fixed(apiserver - bookkeeping, 2)}`);
  }
}

// Warm start time of the local control plane (call -> kube-apiserver /readyz) and the peak resident memory of
// etcd + kube-apiserver: `npm run bench:control-plane [-- runs]`. Needs the binaries built (scripts/build-control-plane.sh).
import '../scripts/resolveTsSources.ts';
import { readFileSync } from 'node:fs';

const { startControlPlane } = await import('../src/devenv/controlPlane.ts');

/** Peak resident set size (VmHWM) of a live process, in MiB. */
function peakRssMiB(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

const runs = Number(process.argv[2] ?? 3);
const starts: number[] = [];
const peaks: number[] = [];
for (let run = 1; run <= runs; run++) {
  const plane = await startControlPlane();
  try {
    const probe = await plane.kubectl(['get', '--raw', '/readyz']);
    if (probe.code !== 0) throw new Error(`kubectl against the fresh control plane failed: ${probe.stderr}`);
    const etcd = peakRssMiB(plane.pids.etcd);
    const apiserver = peakRssMiB(plane.pids.apiserver);
    starts.push(plane.timings.readyMs);
    peaks.push(etcd + apiserver);
    console.log(
      `run ${run}: etcd healthy ${(plane.timings.etcdReadyMs / 1000).toFixed(2)} s, apiserver ready ${(plane.timings.readyMs / 1000).toFixed(2)} s; ` +
        `peak RSS etcd ${etcd.toFixed(0)} MiB + kube-apiserver ${apiserver.toFixed(0)} MiB`,
    );
  } finally {
    const stopping = performance.now();
    await plane.stop();
    console.log(`       stopped in ${((performance.now() - stopping) / 1000).toFixed(2)} s`);
  }
}
const mean = starts.reduce((a, b) => a + b, 0) / starts.length;
console.log(`warm start (start -> /readyz), mean of ${runs}: ${(mean / 1000).toFixed(2)} s (max ${(Math.max(...starts) / 1000).toFixed(2)} s)`);
console.log(`peak RSS etcd + kube-apiserver: ${Math.max(...peaks).toFixed(0)} MiB`);

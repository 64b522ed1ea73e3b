import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Peak resident memory (VmHWM) of a live process in MiB, or undefined when it cannot be read. */
function peakRssMiB(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

// Stops the run's control plane (state removed; logs stay under .tmp/e2e/run-*/logs).
export default async function globalTeardown(): Promise<void> {
  const plane = globalThis.__gpuvmControlPlane;
  globalThis.__gpuvmControlPlane = undefined;
  if (plane) {
    const etcd = peakRssMiB(plane.pids.etcd);
    const apiserver = peakRssMiB(plane.pids.apiserver);
    await plane.stop();
    console.log(`[e2e] control plane stopped; peak RSS etcd ${String(etcd)} MiB, kube-apiserver ${String(apiserver)} MiB`);
  }
  if (globalThis.__gpuvmTestRunDir) rmSync(join(globalThis.__gpuvmTestRunDir, 'kubeconfig'), { force: true });
}

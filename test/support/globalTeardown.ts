import { rmSync } from 'node:fs';
import { join } from 'node:path';

// Stops the run's control plane (state removed; logs stay under .tmp/e2e/run-*/logs).
export default async function globalTeardown(): Promise<void> {
  const plane = globalThis.__gpuvmControlPlane;
  globalThis.__gpuvmControlPlane = undefined;
  await plane?.stop();
  if (globalThis.__gpuvmTestRunDir) rmSync(join(globalThis.__gpuvmTestRunDir, 'kubeconfig'), { force: true });
}

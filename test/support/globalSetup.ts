// One real control plane (etcd + kube-apiserver) per jest run, with every CRD in crds/ installed and Established.
// Test workers find it through GPUVM_TEST_KUBECONFIG / GPUVM_TEST_KUBECTL (see cluster.ts).
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import '../../scripts/resolveTsSources.ts';
import type { ControlPlane } from '../../src/devenv/controlPlane.js';
import { isAlive } from '../../src/devenv/processes.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KEEP_RUNS = 5;

declare global {
  var __gpuvmControlPlane: ControlPlane | undefined;
  var __gpuvmTestRunDir: string | undefined;
}

export default async function globalSetup(): Promise<void> {
  const runsDir = join(root, '.tmp', 'e2e');
  pruneOldRuns(runsDir);
  const runDir = join(runsDir, `run-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`);
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'owner'), `${process.pid}\n`);

  const { startControlPlane } = await import('../../src/devenv/controlPlane.js');
  const plane = await startControlPlane({ logDir: join(runDir, 'logs') });
  try {
    const { installCrds } = await import('../../src/devenv/crds.js');
    const crds = await installCrds(plane, join(root, 'crds'));
    const kubeconfig = join(runDir, 'kubeconfig');
    writeFileSync(kubeconfig, plane.kubeconfigYaml, { mode: 0o600 });
    process.env.GPUVM_TEST_KUBECONFIG = kubeconfig;
    process.env.GPUVM_TEST_KUBECTL = plane.kubectlPath;
    process.env.GPUVM_TEST_KUBECTL_CACHE = join(plane.stateDir, 'kubectl-cache');
    globalThis.__gpuvmControlPlane = plane;
    globalThis.__gpuvmTestRunDir = runDir;
    console.log(
      `\n[e2e] control plane ${plane.server} ready in ${(plane.timings.readyMs / 1000).toFixed(1)} s; ` +
        `${crds.length} CRD(s) Established; kubeconfig ${relative(process.cwd(), kubeconfig)}; logs ${relative(process.cwd(), plane.logDir)}`,
    );
  } catch (error) {
    await plane.stop();
    throw error;
  }
}

/** Keeps the logs of the last few runs under .tmp/e2e; older runs whose jest process is gone are removed. */
function pruneOldRuns(runsDir: string): void {
  let runs: string[];
  try {
    runs = readdirSync(runsDir).filter((name) => name.startsWith('run-'));
  } catch {
    return;
  }
  const byAge = runs
    .map((name) => ({ path: join(runsDir, name), mtime: statSync(join(runsDir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const run of byAge.slice(KEEP_RUNS - 1)) {
    try {
      const owner = Number.parseInt(readFileSync(join(run.path, 'owner'), 'utf8'), 10);
      if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) continue;
    } catch {
      // no owner file: an old run
    }
    rmSync(run.path, { recursive: true, force: true });
  }
}


// One real control plane (etcd + kube-apiserver) per jest run, with every CRD in crds/ installed and Established.
// Test workers find it through GPUVM_TEST_KUBECONFIG / GPUVM_TEST_KUBECTL (see cluster.ts).
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import '../../scripts/resolveTsSources.ts';
import { parseAllDocuments } from 'yaml';
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

/** Applies every CRD in `dir` and waits until each is Established and served by discovery. */
async function installCrds(plane: ControlPlane, dir: string): Promise<string[]> {
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  const crds: { name: string; group: string; versions: string[]; plural: string }[] = [];
  const crdFiles = new Set<string>();
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const crd = doc.toJS() as {
        kind?: string;
        metadata?: { name?: string };
        spec?: { group?: string; names?: { plural?: string }; versions?: { name: string; served?: boolean }[] };
      } | null;
      if (crd?.kind !== 'CustomResourceDefinition' || !crd.metadata?.name || !crd.spec?.group) continue;
      crdFiles.add(file);
      crds.push({
        name: crd.metadata.name,
        group: crd.spec.group,
        plural: crd.spec.names?.plural ?? '',
        versions: (crd.spec.versions ?? []).filter((v) => v.served !== false).map((v) => v.name),
      });
    }
  }
  if (crds.length === 0) return [];

  const apply = await plane.kubectl(['apply', '--server-side', '--force-conflicts', ...[...crdFiles].flatMap((f) => ['-f', join(dir, f)])]);
  if (apply.code !== 0) throw new Error(`installing the CRDs in ${dir} failed:\n${apply.stderr}${apply.stdout}`);
  const names = crds.map((c) => `crd/${c.name}`);
  const established = await plane.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names]);
  if (established.code !== 0) throw new Error(`CRDs did not become Established:\n${established.stderr}${established.stdout}`);

  // Established means the apiserver accepted the schema; wait until discovery serves every version too.
  const deadline = Date.now() + 30_000;
  for (const crd of crds) {
    for (const version of crd.versions) {
      for (;;) {
        const discovery = await plane.kubectl(['get', '--raw', `/apis/${crd.group}/${version}`]);
        if (discovery.code === 0 && discovery.stdout.includes(`"name":"${crd.plural}"`)) break;
        if (Date.now() > deadline) throw new Error(`discovery does not serve ${crd.plural}.${crd.group}/${version}: ${discovery.stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  return crds.map((c) => c.name);
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


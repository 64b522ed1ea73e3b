// Installs CRDs into a control plane and waits until the apiserver serves every version of each.
import { CRD_DIR, crdFiles } from '../api/crdFiles.js';
import type { ControlPlane } from './controlPlane.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ServedCrd {
  file: string;
  name: string;
  group: string;
  plural: string;
  versions: string[];
}

function servedCrds(dir: string): ServedCrd[] {
  return crdFiles(dir).flatMap(({ file, crd }) => {
    if (!crd.metadata?.name || !crd.spec.group) return [];
    const versions = crd.spec.versions.filter((v) => v.served !== false).map((v) => v.name);
    return [{ file, name: crd.metadata.name, group: crd.spec.group, plural: crd.spec.names.plural ?? '', versions }];
  });
}

/**
 * Applies every CRD in `dir` (default crds/) and waits until each is Established and discovery serves each of its
 * versions: Established alone means the schema was accepted, not that clients can use the resource yet.
 * Returns the CRD names.
 */
export async function installCrds(plane: ControlPlane, dir = CRD_DIR): Promise<string[]> {
  const crds = servedCrds(dir);
  if (crds.length === 0) return [];
  const apply = await plane.kubectl(['apply', '--server-side', '--force-conflicts', ...crds.flatMap((c) => ['-f', c.file])]);
  if (apply.code !== 0) throw new Error(`installing the CRDs in ${dir} failed:\n${apply.stderr}${apply.stdout}`);
  const established = await plane.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((c) => `crd/${c.name}`)]);
  if (established.code !== 0) throw new Error(`the CRDs did not become Established:\n${established.stderr}${established.stdout}`);
  const deadline = Date.now() + 30_000;
  for (const crd of crds) {
    for (const version of crd.versions) {
      for (;;) {
        const discovery = await plane.kubectl(['get', '--raw', `/apis/${crd.group}/${version}`]);
        if (discovery.code === 0 && discovery.stdout.includes(`"name":"${crd.plural}"`)) break;
        if (Date.now() > deadline) throw new Error(`the apiserver does not serve ${crd.plural}.${crd.group}/${version}: ${discovery.stderr}`);
        await sleep(100);
      }
    }
  }
  return crds.map((c) => c.name);
}

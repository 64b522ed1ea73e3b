// Installs the project's CRDs into a control plane and waits until the apiserver serves them.
import { crdFileNames } from '../api/crdFiles.js';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION } from '../api/types.js';
import type { ControlPlane } from './controlPlane.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Applies crds/*.yaml and waits until each CRD is Established and its resources are served. */
export async function installCrds(plane: ControlPlane): Promise<string[]> {
  const files = crdFileNames();
  const apply = await plane.kubectl(['apply', '--server-side', ...files.flatMap((f) => ['-f', f]), '-o', 'name']);
  if (apply.code !== 0) throw new Error(`installing the CRDs failed:\n${apply.stderr}${apply.stdout}`);
  const names = apply.stdout.split('\n').filter((n) => n.trim() !== '');
  const established = await plane.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names]);
  if (established.code !== 0) throw new Error(`the CRDs did not become Established:\n${established.stderr}${established.stdout}`);
  const deadline = Date.now() + 30_000;
  for (const plural of [GPUVM_PLURAL, EDGEDEVICE_PLURAL]) {
    for (;;) {
      const discovery = await plane.kubectl(['get', '--raw', `/apis/${GROUP}/${VERSION}`]);
      if (discovery.code === 0 && discovery.stdout.includes(`"name":"${plural}"`)) break;
      if (Date.now() > deadline) throw new Error(`the apiserver does not serve ${plural}.${GROUP}/${VERSION}`);
      await sleep(100);
    }
  }
  return names.map((n) => n.replace(/^.*\//, ''));
}


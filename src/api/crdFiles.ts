import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { CustomResourceDefinition } from './schemaToTypeScript.js';

/** The repository's crds/ folder (also shipped next to dist/ in the package). */
export const CRD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'crds');

export function crdFileNames(dir = CRD_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
}

/** Every CustomResourceDefinition in the folder with its file (other files there, e.g. a kustomization, are skipped). */
export function crdFiles(dir = CRD_DIR): { file: string; crd: CustomResourceDefinition }[] {
  return crdFileNames(dir).flatMap((file) => {
    const doc = parse(readFileSync(file, 'utf8')) as (CustomResourceDefinition & { kind?: string }) | null;
    return doc?.kind === 'CustomResourceDefinition' ? [{ file, crd: doc }] : [];
  });
}

/** Every CustomResourceDefinition in the folder. */
export function loadCrds(dir = CRD_DIR): CustomResourceDefinition[] {
  return crdFiles(dir).map(({ crd }) => crd);
}

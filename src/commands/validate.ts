import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { loadCrds } from '../api/crdFiles.js';
import { validateAgainstSchema, type ValidatedSchema } from '../api/schemaValidation.js';

export const VALIDATE_USAGE = `usage: gpuvm-controller validate FILE... ("-" reads standard input)

Checks every GpuVm and EdgeDevice in the YAML files against the CRD schemas and their CEL rules, offline, as the
API server would at kubectl apply (rules comparing with the stored object, such as immutable fields, need the
API server). Other kinds are skipped. Exit code 1 when anything is invalid.
`;

interface Found {
  source: string;
  kind: string;
  name: string;
  errors: string[];
}

function schemasByKind(): Map<string, { apiVersions: Set<string>; schema: ValidatedSchema }> {
  const byKind = new Map<string, { apiVersions: Set<string>; schema: ValidatedSchema }>();
  for (const crd of loadCrds()) {
    const spec = crd.spec as typeof crd.spec & { group: string };
    for (const version of crd.spec.versions) {
      byKind.set(crd.spec.names.kind, {
        apiVersions: new Set([`${spec.group}/${version.name}`]),
        schema: version.schema.openAPIV3Schema as ValidatedSchema,
      });
    }
  }
  return byKind;
}

/** Validates the documents of one YAML text; returns a result per GpuVm/EdgeDevice found. */
export function validateManifests(text: string, source: string): Found[] {
  const schemas = schemasByKind();
  const found: Found[] = [];
  // YAML 1.1, as kubectl reads it: a plain `install: yes` is the boolean true there, not the string "yes".
  parseAllDocuments(text, { version: '1.1' }).forEach((doc, index) => {
    const where = `${source} (document ${index + 1})`;
    if (doc.errors.length > 0) {
      found.push({ source: where, kind: 'YAML', name: '', errors: doc.errors.map((e) => e.message) });
      return;
    }
    const object = doc.toJS() as { kind?: unknown; apiVersion?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
    if (object === null || typeof object !== 'object' || typeof object.kind !== 'string') return;
    const target = schemas.get(object.kind);
    if (target === undefined) return;
    const name = [object.metadata?.namespace, object.metadata?.name].filter((p) => typeof p === 'string').join('/');
    const errors: string[] = [];
    if (typeof object.apiVersion !== 'string' || !target.apiVersions.has(object.apiVersion)) {
      errors.push(`apiVersion: Unsupported value: ${JSON.stringify(object.apiVersion)}: supported values: ${[...target.apiVersions].map((v) => `"${v}"`).join(', ')}`);
    }
    if (typeof object.metadata?.name !== 'string' || object.metadata.name === '') errors.push('metadata.name: Required value: name or generateName is required');
    errors.push(...validateAgainstSchema(object, target.schema));
    found.push({ source: where, kind: object.kind, name, errors });
  });
  return found;
}

export async function main(args: string[]): Promise<number> {
  if (args.length === 0 || args.includes('-h') || args.includes('--help')) {
    process.stdout.write(VALIDATE_USAGE);
    return args.length === 0 ? 2 : 0;
  }
  let invalid = 0;
  let checked = 0;
  for (const file of args) {
    const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
    for (const result of validateManifests(text, file === '-' ? '<stdin>' : file)) {
      checked++;
      if (result.errors.length === 0) {
        process.stdout.write(`${result.source}: ${result.kind} ${result.name}: valid\n`);
        continue;
      }
      invalid++;
      for (const error of result.errors) process.stdout.write(`${result.source}: ${result.kind} ${result.name}: ${error}\n`);
    }
  }
  process.stdout.write(`${checked - invalid} valid, ${invalid} invalid\n`);
  return invalid > 0 ? 1 : 0;
}

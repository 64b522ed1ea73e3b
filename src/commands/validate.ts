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

// The API server's own name rules and messages (k8s.io/apimachinery/pkg/util/validation: IsDNS1123Subdomain for
// object names, IsDNS1123Label for namespaces), checked before any schema.
const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;

function objectNameErrors(field: string, value: string, rule: 'subdomain' | 'label'): string[] {
  const errors: string[] = [];
  const max = rule === 'subdomain' ? 253 : 63;
  if (value.length > max) errors.push(`${field}: Invalid value: ${JSON.stringify(value)}: must be no more than ${max} characters`);
  const pattern = rule === 'subdomain' ? DNS1123_SUBDOMAIN : DNS1123_LABEL;
  if (!new RegExp(`^${pattern}$`).test(value)) {
    errors.push(
      rule === 'subdomain'
        ? `${field}: Invalid value: ${JSON.stringify(value)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '${DNS1123_SUBDOMAIN}')`
        : `${field}: Invalid value: ${JSON.stringify(value)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '${DNS1123_LABEL}')`,
    );
  }
  return errors;
}

interface Placed {
  kind?: unknown;
  metadata?: { name?: unknown; namespace?: unknown };
  spec?: { adminCredentialsSecretRef?: { name?: unknown } };
}

/**
 * A GpuVm reads its admin Secret from its own namespace. When the file puts that Secret in a namespace and the
 * GpuVm in none (or another), `kubectl apply` succeeds and the GpuVm then cannot find its Secret: say so now.
 */
function namespaceMismatches(docs: readonly (Placed | null)[], source: string, found: Found[]): Found[] {
  const secrets = docs.filter((d): d is Placed => d?.kind === 'Secret' && typeof d.metadata?.name === 'string');
  const out: Found[] = [];
  docs.forEach((doc, index) => {
    if (doc?.kind !== 'GpuVm' || typeof doc.spec?.adminCredentialsSecretRef?.name !== 'string') return;
    const ref = doc.spec.adminCredentialsSecretRef.name;
    const own = typeof doc.metadata?.namespace === 'string' ? doc.metadata.namespace : undefined;
    const candidates = secrets.filter((s) => s.metadata?.name === ref);
    if (candidates.length === 0 || candidates.some((s) => (typeof s.metadata?.namespace === 'string' ? s.metadata.namespace : undefined) === own)) return;
    const theirs = candidates.map((s) => (typeof s.metadata?.namespace === 'string' ? s.metadata.namespace : '(none)')).join(', ');
    const error =
      own === undefined
        ? `metadata.namespace: Required value: the GpuVm has no namespace but its Secret ${ref} in this file is in namespace ${theirs}; a GpuVm reads its Secret from its own namespace: set metadata.namespace: ${theirs}`
        : `metadata.namespace: Invalid value: "${own}": its Secret ${ref} in this file is in namespace ${theirs}; a GpuVm reads its Secret from its own namespace: put both in one namespace`;
    const where = `${source} (document ${index + 1})`;
    const existing = found.find((f) => f.source === where);
    if (existing !== undefined) existing.errors.push(error);
    else out.push({ source: where, kind: 'GpuVm', name: String(doc.metadata?.name ?? ''), errors: [error] });
  });
  return out;
}

/** Validates the documents of one YAML text; returns a result per GpuVm/EdgeDevice found. */
export function validateManifests(text: string, source: string): Found[] {
  const schemas = schemasByKind();
  const found: Found[] = [];
  // YAML 1.1, as kubectl reads it: a plain `install: yes` is the boolean true there, not the string "yes".
  const parsed = parseAllDocuments(text, { version: '1.1' });
  parsed.forEach((doc, index) => {
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
    else errors.push(...objectNameErrors('metadata.name', object.metadata.name, 'subdomain'));
    if (typeof object.metadata?.namespace === 'string') errors.push(...objectNameErrors('metadata.namespace', object.metadata.namespace, 'label'));
    errors.push(...validateAgainstSchema(object, target.schema));
    found.push({ source: where, kind: object.kind, name, errors });
  });
  found.push(...namespaceMismatches(parsed.map((d) => (d.errors.length > 0 ? null : (d.toJS() as Placed | null))), source, found));
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

// Derives the simulator's request contracts from Microsoft's published REST API specs
// (Azure/azure-rest-api-specs): for each request body the simulator accepts, the property names, types,
// required properties, enum values (x-ms-enum is treated as closed), readOnly flags, nested objects and
// arrays, with allOf flattened, $refs resolved (common-types and sibling files) and `discriminator`
// subtypes listed. Descriptions are dropped. The specs are read, never copied.
//
//   node scripts/derive-arm-contracts.ts --specs <dir> [--out src/simulator/contracts/derived]
//
// <dir> holds the spec files as <Namespace>/<api-version>/<file>.json plus common-types/, and a SOURCES.md
// whose table names each file's upstream path and last upstream commit (the provenance written into every
// derived file's header). An extract's own `x-extract` block names its upstream path and commit.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DerivedContract, DerivedProfiles, ObjectNode, PropertyNode, SchemaNode, SpecSource } from '../src/simulator/contracts/schemaTypes.ts';

const REPOSITORY = 'Azure/azure-rest-api-specs';
const NOTE = 'Derived by scripts/derive-arm-contracts.ts: request-body facts only (no descriptions); readOnly properties are not described further; x-ms-enum values are closed except HardwareProfile.vmSize, whose description declares its list not exhaustive.';

const param = '\\{[^}/]+\\}';
const ROOTS = {
  compute: {
    virtualMachines: new RegExp(`/providers/Microsoft\\.Compute/virtualMachines/${param}$`, 'i'),
    'virtualMachines/extensions': new RegExp(`/providers/Microsoft\\.Compute/virtualMachines/${param}/extensions/${param}$`, 'i'),
    images: new RegExp(`/providers/Microsoft\\.Compute/images/${param}$`, 'i'),
  },
  network: { networkInterfaces: new RegExp(`/providers/Microsoft\\.Network/networkInterfaces/${param}$`, 'i') },
  resources: {
    deployments: new RegExp(`^/subscriptions/${param}/resourcegroups/${param}/providers/Microsoft\\.Resources/deployments/${param}$`, 'i'),
    resourceGroups: new RegExp(`^/subscriptions/${param}/resourcegroups/${param}$`, 'i'),
  },
  dataBoxEdge: { 'dataBoxEdgeDevices/roles': new RegExp(`/dataBoxEdgeDevices/${param}/roles/${param}$`, 'i') },
};

/** What the simulator accepts: namespace, api-version, spec file (relative to --specs), resource types. */
const TARGETS: { namespace: string; apiVersion: string; file: string; roots: Record<string, RegExp> }[] = [
  { namespace: 'Microsoft.Compute', apiVersion: '2017-03-30', file: 'Microsoft.Compute/2017-03-30/compute.json', roots: ROOTS.compute },
  { namespace: 'Microsoft.Compute', apiVersion: '2017-12-01', file: 'Microsoft.Compute/2017-12-01/compute.json', roots: ROOTS.compute },
  { namespace: 'Microsoft.Compute', apiVersion: '2020-06-01', file: 'Microsoft.Compute/2020-06-01/compute.json', roots: ROOTS.compute },
  { namespace: 'Microsoft.Network', apiVersion: '2017-10-01', file: 'Microsoft.Network/2017-10-01/networkInterface.json', roots: ROOTS.network },
  { namespace: 'Microsoft.Network', apiVersion: '2018-11-01', file: 'Microsoft.Network/2018-11-01/networkInterface.json', roots: ROOTS.network },
  { namespace: 'Microsoft.Resources', apiVersion: '2019-10-01', file: 'Microsoft.Resources/2019-10-01/resources.json', roots: ROOTS.resources },
  { namespace: 'Microsoft.Resources', apiVersion: '2020-06-01', file: 'Microsoft.Resources/2020-06-01/resources.json', roots: ROOTS.resources },
  { namespace: 'Microsoft.DataBoxEdge', apiVersion: '2021-06-01', file: 'Microsoft.DataBoxEdge/2021-06-01/databoxedge.json', roots: ROOTS.dataBoxEdge },
  { namespace: 'Microsoft.DataBoxEdge', apiVersion: '2023-12-01', file: 'Microsoft.DataBoxEdge/2023-12-01/openapi.extract.json', roots: ROOTS.dataBoxEdge },
];

/**
 * The one enum the specs themselves declare open: HardwareProfile.vmSize. Its description says "The available
 * VM sizes depend on region … For a list of available sizes use these APIs" (every version) and, in
 * 2020-06-01, "This list of sizes is no longer updated"; the GPU sizes of Azure Stack Edge
 * (Standard_NC4as_T4_v3, Standard_NC8as_T4_v3) are in none of the lists. Every other x-ms-enum stays closed.
 */
const OPEN_ENUMS = new Set(['HardwareProfile.vmSize']);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------- provenance (SOURCES.md) ----------------

/** Stored file (relative to --specs) → upstream path and commit, from the SOURCES.md table. */
function readProvenance(specsDir: string): Map<string, SpecSource> {
  const map = new Map<string, SpecSource>();
  const sources = join(specsDir, 'SOURCES.md');
  if (!existsSync(sources)) return map;
  const text = readFileSync(sources, 'utf8');
  // Abbreviated commits ("bad63a8a…") expand to the full hash written elsewhere in the file.
  const full = [...new Set(text.match(/\b[0-9a-f]{40}\b/g) ?? [])];
  const expand = (sha: string): string => (sha.length === 40 ? sha : (full.find((f) => f.startsWith(sha)) ?? sha));
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 5 || !cells[1]?.endsWith('.json')) continue;
    const [stored = '', upstream = '', commits = ''] = cells.slice(1, 4);
    const upstreamBase = upstream.replace(/\s*\(.*$/, '').replace(/…$/, '');
    const defaultCommit = /\b([0-9a-f]{7,40})\b/.exec(commits)?.[1] ?? '';
    // "dir/{a, b}.json" lists several sibling files; a cell may name per-file commits ("applicationGateway <sha>").
    const braces = /^(.*)\{([^}]*)\}\.json$/.exec(stored);
    const names = braces === null ? [stored] : (braces[2] ?? '').split(',').map((n) => `${braces[1] ?? ''}${n.trim()}.json`);
    for (const name of names) {
      const file = basename(name, '.json');
      const own = new RegExp(`\\b${file}\\s+([0-9a-f]{7,40})\\b`).exec(commits)?.[1];
      const upstreamPath = `specification/${upstreamBase.endsWith('.json') ? upstreamBase : join(upstreamBase, basename(name))}`;
      map.set(name, { path: upstreamPath, commit: expand(own ?? defaultCommit) });
    }
  }
  return map;
}

// ---------------- spec loading and $ref resolution ----------------

class Specs {
  private readonly files = new Map<string, Json>();
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  load(abs: string): Json {
    let doc = this.files.get(abs);
    if (doc === undefined) {
      doc = JSON.parse(readFileSync(abs, 'utf8')) as Json;
      this.files.set(abs, doc);
    }
    return doc;
  }

  /** Resolves a $ref seen in `from` to the file and JSON pointer it names; common-types map onto <root>/common-types. */
  target(ref: string, from: string): { file: string; pointer: string[] } {
    const [filePart = '', pointer = ''] = ref.split('#');
    let file = from;
    if (filePart !== '') {
      const common = filePart.indexOf('common-types/');
      file = common >= 0 ? join(this.root, filePart.slice(common)) : resolve(dirname(from), filePart);
    }
    return { file, pointer: pointer.split('/').filter((p) => p !== '') };
  }

  at(file: string, pointer: string[]): unknown {
    let node: unknown = this.load(file);
    for (const p of pointer) node = isObject(node) ? node[p] : undefined;
    return node;
  }

  loadedFiles(): string[] {
    return [...this.files.keys()];
  }
}

// ---------------- conversion ----------------

class Deriver {
  readonly definitions: Record<string, SchemaNode> = {};
  private readonly keys = new Map<string, string>();
  private readonly queue: { file: string; name: string; key: string }[] = [];
  private readonly specs: Specs;

  constructor(specs: Specs) {
    this.specs = specs;
  }

  /** The definition key of file#/definitions/name (the bare name unless another file already took it). */
  private keyOf(file: string, name: string): string {
    const id = `${file}#${name}`;
    let key = this.keys.get(id);
    if (key === undefined) {
      const taken = new Set(this.keys.values());
      key = taken.has(name) ? `${basename(file, '.json')}.${name}` : name;
      this.keys.set(id, key);
      this.queue.push({ file, name, key });
    }
    return key;
  }

  refNode(ref: string, from: string): SchemaNode {
    const { file, pointer } = this.specs.target(ref, from);
    if (pointer[0] !== 'definitions' || pointer.length !== 2) throw new Error(`unsupported $ref ${ref} in ${from}`);
    if (this.specs.at(file, pointer) === undefined) throw new Error(`unresolved $ref ${ref} in ${from}`);
    return { ref: this.keyOf(file, pointer[1] ?? '') };
  }

  drain(): void {
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      const schema = this.specs.at(next.file, ['definitions', next.name]);
      if (!isObject(schema)) throw new Error(`definition ${next.name} missing in ${next.file}`);
      const node = this.convert(schema, next.file, false, next.name);
      if ('type' in node && node.type === 'object' && typeof schema['discriminator'] === 'string') {
        node.discriminator = this.discriminator(schema, next.file, next.name);
      }
      this.definitions[next.key] = node;
    }
  }

  convert(schema: Json, file: string, followRef = true, defName = ''): SchemaNode {
    if (typeof schema['$ref'] === 'string' && followRef) return this.refNode(schema['$ref'], file);
    if (typeof schema['$ref'] === 'string') {
      const { file: f, pointer } = this.specs.target(schema['$ref'], file);
      const target = this.specs.at(f, pointer);
      if (!isObject(target)) throw new Error(`unresolved $ref ${schema['$ref']}`);
      return this.convert(target, f, false);
    }
    const type = schema['type'];
    if (type === 'array') {
      const items = schema['items'];
      return { type: 'array', items: isObject(items) ? this.convert(items, file) : { type: 'any' } };
    }
    if (type === 'object' || schema['properties'] !== undefined || schema['allOf'] !== undefined || schema['additionalProperties'] !== undefined) {
      return this.object(schema, file, defName);
    }
    if (type === 'string' || type === 'integer' || type === 'number' || type === 'boolean') {
      const values = schema['enum'];
      if (Array.isArray(values)) {
        // x-ms-enum modelAsString/extensible still lists the values the service knows: treated as closed.
        return type === 'string' ? { type, enum: values.map(String) } : { type, enum: values as (number | boolean)[] };
      }
      return { type };
    }
    return { type: 'any' };
  }

  /** An object with its allOf bases merged in (properties, required, additionalProperties). */
  private object(schema: Json, file: string, defName: string): ObjectNode {
    const node: ObjectNode = { type: 'object' };
    const properties: Record<string, PropertyNode> = {};
    const required = new Set<string>();
    for (const base of Array.isArray(schema['allOf']) ? schema['allOf'] : []) {
      if (!isObject(base)) continue;
      let flat: SchemaNode;
      if (typeof base['$ref'] === 'string') {
        const { file: f, pointer } = this.specs.target(base['$ref'], file);
        const target = this.specs.at(f, pointer);
        if (!isObject(target)) throw new Error(`unresolved allOf $ref ${base['$ref']} in ${file}`);
        flat = this.object(target, f, pointer.at(-1) ?? '');
      } else {
        flat = this.convert(base, file);
      }
      if (!('type' in flat) || flat.type !== 'object') continue;
      Object.assign(properties, flat.properties ?? {});
      for (const r of flat.required ?? []) required.add(r);
      if (flat.additional !== undefined && flat.properties === undefined) continue;
      if (flat.additional !== undefined) node.additional = flat.additional;
    }
    const own = isObject(schema['properties']) ? schema['properties'] : {};
    for (const [name, p] of Object.entries(own)) {
      if (!isObject(p)) continue;
      // What a client sends in a readOnly property is dropped by ARM: only the flag matters.
      const node = p['readOnly'] === true ? { readOnly: true as const } : this.convert(p, file);
      if (OPEN_ENUMS.has(`${defName}.${name}`) && 'enum' in node) delete node.enum;
      properties[name] = node;
    }
    for (const r of Array.isArray(schema['required']) ? schema['required'] : []) if (typeof r === 'string') required.add(r);
    const additional = schema['additionalProperties'];
    if (isObject(additional)) node.additional = this.convert(additional, file);
    else if (additional === true) node.additional = 'any';
    if (Object.keys(properties).length > 0) node.properties = properties;
    else if (node.additional === undefined) node.additional = 'any'; // `type: object` with nothing else: free-form
    if (required.size > 0) node.required = [...required];
    return node;
  }

  /** The subtypes of a polymorphic definition: definitions of its file whose allOf names it. */
  private discriminator(schema: Json, file: string, name: string): { property: string; values: Record<string, string> } {
    const property = String(schema['discriminator']);
    const values: Record<string, string> = {};
    const defs = this.specs.at(file, ['definitions']);
    for (const [sub, def] of Object.entries(isObject(defs) ? defs : {})) {
      if (!isObject(def) || !Array.isArray(def['allOf'])) continue;
      const extendsBase = def['allOf'].some((b) => isObject(b) && typeof b['$ref'] === 'string' && b['$ref'].endsWith(`#/definitions/${name}`));
      if (!extendsBase) continue;
      const value = typeof def['x-ms-discriminator-value'] === 'string' ? def['x-ms-discriminator-value'] : sub;
      values[value] = this.keyOf(file, sub);
    }
    return { property, values };
  }
}

/** The body schema of the PUT whose path matches. */
function putBodySchema(specs: Specs, file: string, pattern: RegExp): Json | undefined {
  const paths = specs.at(file, ['paths']);
  for (const [path, item] of Object.entries(isObject(paths) ? paths : {})) {
    if (!pattern.test(path) || !isObject(item) || !isObject(item['put'])) continue;
    const params = [...(Array.isArray(item['parameters']) ? item['parameters'] : []), ...(Array.isArray(item['put']['parameters']) ? item['put']['parameters'] : [])];
    for (const raw of params) {
      let p: unknown = raw;
      if (isObject(p) && typeof p['$ref'] === 'string') {
        const { file: f, pointer } = specs.target(p['$ref'], file);
        p = specs.at(f, pointer);
      }
      if (isObject(p) && p['in'] === 'body' && isObject(p['schema'])) return p['schema'];
    }
  }
  return undefined;
}

function main(): void {
  const { values } = parseArgs({ options: { specs: { type: 'string' }, out: { type: 'string' } } });
  if (values.specs === undefined) {
    process.stderr.write('usage: node scripts/derive-arm-contracts.ts --specs <dir-of-specs> [--out <dir>]\n');
    process.exit(2);
  }
  const specsDir = resolve(values.specs);
  const outDir = resolve(values.out ?? join(import.meta.dirname, '..', 'src', 'simulator', 'contracts', 'derived'));
  mkdirSync(outDir, { recursive: true });
  const provenance = readProvenance(specsDir);
  const sourceOf = (abs: string): SpecSource => {
    const rel = relative(specsDir, abs);
    const doc = JSON.parse(readFileSync(abs, 'utf8')) as Json;
    const extract = doc['x-extract'];
    if (isObject(extract) && typeof extract['upstreamPath'] === 'string') {
      return { path: `${extract['upstreamPath']} (extract)`, commit: String(extract['upstreamCommit'] ?? '') };
    }
    const known = provenance.get(rel);
    if (known === undefined) throw new Error(`${rel}: no provenance in SOURCES.md`);
    return known;
  };

  for (const t of TARGETS) {
    const specs = new Specs(specsDir);
    const deriver = new Deriver(specs);
    const main = join(specsDir, t.file);
    const roots: Record<string, string> = {};
    for (const [type, pattern] of Object.entries(t.roots)) {
      const body = putBodySchema(specs, main, pattern);
      if (body === undefined) throw new Error(`${t.file}: no PUT body for ${type}`);
      const node = deriver.convert(body, main);
      if (!('ref' in node)) throw new Error(`${t.file}: the ${type} body is not a named definition`);
      roots[type] = node.ref;
    }
    deriver.drain();
    const files = [main, ...specs.loadedFiles().filter((f) => f !== main)].map(sourceOf);
    const contract: DerivedContract = { derivedFrom: { repository: REPOSITORY, files, note: NOTE }, namespace: t.namespace, apiVersion: t.apiVersion, roots, definitions: deriver.definitions };
    const out = join(outDir, `${t.namespace}_${t.apiVersion}.json`);
    writeFileSync(out, JSON.stringify(contract) + '\n');
    process.stdout.write(`${relative(process.cwd(), out)}: ${Object.keys(deriver.definitions).length} definitions\n`);
  }

  // Hybrid api profiles: which api-version a template resource without one gets.
  const profilesFile = join(specsDir, 'profiles.json');
  if (existsSync(profilesFile)) {
    const doc = JSON.parse(readFileSync(profilesFile, 'utf8')) as Json;
    const source = isObject(doc['x-source']) ? doc['x-source'] : {};
    const paths = isObject(source['paths']) ? source['paths'] : {};
    const files = Object.values(paths).filter(isObject).map((p) => ({ path: `profile/${basename(String(p['path']))}`.replace(/^profile\/profile\//, 'profile/'), commit: String(p['lastUpstreamCommit'] ?? '') }));
    const derived: DerivedProfiles = { derivedFrom: { repository: REPOSITORY, files, note: 'Derived by scripts/derive-arm-contracts.ts: the api-version each hybrid profile assigns to the resource types templates use.' }, profiles: (doc['profiles'] ?? {}) as DerivedProfiles['profiles'] };
    writeFileSync(join(outDir, 'profiles.json'), JSON.stringify(derived, null, 1) + '\n');
  }
}

main();

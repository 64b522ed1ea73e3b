// Regenerates src/api/generated/types.ts from crds/*.yaml: `npm run generate`.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { renderCrdTypes, type CustomResourceDefinition } from '../src/api/schemaToTypeScript.ts';

const root = join(import.meta.dirname, '..');
const crdDir = join(root, 'crds');
const crds = readdirSync(crdDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => parse(readFileSync(join(crdDir, f), 'utf8')) as CustomResourceDefinition & { kind?: string })
  .filter((doc) => doc.kind === 'CustomResourceDefinition');
const out = join(root, 'src', 'api', 'generated', 'types.ts');
writeFileSync(out, renderCrdTypes(crds));
console.log(`wrote ${out}`);

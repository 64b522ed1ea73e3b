// What ships in the production image is what the controller imports, nothing a test needs: every production
// dependency is imported by shipped code (src/, not tests), and no package only tests use (certificate minting,
// test runners) is installed with `npm ci --omit=dev`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };

function shippedSources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return shippedSources(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

const imports = new Set(
  shippedSources(join(root, 'src')).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/from '([^'.][^']*)'|import\('([^'.][^']*)'\)/g)].map((m) => {
      const spec = m[1] ?? m[2] ?? '';
      return spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? '');
    }),
  ),
);

test('every production dependency is imported by shipped code', () => {
  const unused = Object.keys(pkg.dependencies).filter((name) => !imports.has(name));
  expect(unused).toEqual([]);
});

test.each(['node-forge', 'jest', '@swc/core', 'typescript', 'eslint'])('%s is not installed in production', (name) => {
  const entry = lock.packages[`node_modules/${name}`];
  if (entry !== undefined) expect({ name, devOnly: entry.dev === true || entry.devOptional === true }).toEqual({ name, devOnly: true });
  expect(Object.keys(pkg.dependencies)).not.toContain(name);
});

test('no test double is shipped: nothing under src/ outside tests exports a Fake* or Memory* class', () => {
  const doubles = shippedSources(join(root, 'src')).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/export (?:class|function|const) ((?:Fake|Memory)\w*)/g)].map((m) => `${file.slice(root.length + 1)}: ${m[1] ?? ''}`),
  );
  expect(doubles).toEqual([]);
});

// The Dockerfile, checked without a container engine (none in CI; hadolint is not packaged for Debian):
// its stages and instructions are parsed and checked against what the Deployment relies on, and the image's
// entrypoint command is run from a production-only install (`npm ci --omit=dev`) in a temporary directory.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}
interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped, grouped by FROM. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') startLine = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '' || full.startsWith('#')) return;
    const match = /^(\w+)\s+(.*)$/s.exec(full);
    if (match === null) throw new Error(`Dockerfile line ${startLine}: cannot parse "${full}"`);
    const keyword = (match[1] ?? '').toUpperCase();
    const args = match[2] ?? '';
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (from === null) throw new Error(`Dockerfile line ${startLine}: cannot parse FROM ${args}`);
      stages.push({ image: from[1] ?? '', name: from[2], instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (stage === undefined) throw new Error(`Dockerfile line ${startLine}: ${keyword} before the first FROM`);
      stage.instructions.push({ keyword, args, line: startLine });
    }
  });
  return stages;
}

const stages = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const final = stages.at(-1) as Stage;
const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const only = (stage: Stage, keyword: string): Instruction => {
  const found = all(stage, keyword);
  expect(found).toHaveLength(1);
  return found[0] as Instruction;
};
const execForm = (i: Instruction): string[] => JSON.parse(i.args) as string[];

test('multi-stage: build, production dependencies and a runtime stage; every COPY --from names an earlier stage', () => {
  expect(stages.length).toBeGreaterThanOrEqual(2);
  const names = new Set<string>();
  for (const stage of stages) {
    for (const copy of all(stage, 'COPY')) {
      const from = /--from=(\S+)/.exec(copy.args)?.[1];
      if (from !== undefined) expect({ line: copy.line, known: names.has(from) }).toEqual({ line: copy.line, known: true });
    }
    if (stage.name !== undefined) names.add(stage.name);
  }
});

test('the build stage copies every script `npm run build` runs, before it runs it', () => {
  const build = stages.find((stage) => all(stage, 'RUN').some((r) => r.args === 'npm run build'));
  expect(build).toBeDefined();
  const runAt = all(build as Stage, 'RUN').find((r) => r.args === 'npm run build')?.line ?? 0;
  const copied = all(build as Stage, 'COPY')
    .filter((c) => c.line < runAt && !c.args.startsWith('--from'))
    .flatMap((c) => c.args.split(/\s+/).slice(0, -1));
  const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const scripts = packageJson.scripts.build?.match(/scripts\/[\w.-]+\.ts/g) ?? [];
  expect(scripts.length).toBeGreaterThan(0);
  for (const script of scripts) expect({ script, copied: copied.includes(script) }).toEqual({ script, copied: true });
});

test('base images are pinned to Node.js 24 (major tag), never latest or untagged', () => {
  for (const { image } of stages) {
    const [repository = '', tag] = image.split(':');
    expect({ image, tagged: tag !== undefined && tag !== '' && tag !== 'latest' }).toEqual({ image, tagged: true });
    if (repository === 'node' || repository.endsWith('/node')) expect({ image, tag }).toEqual({ image, tag: expect.stringMatching(/^24(-|$)/) });
    else expect(image).toMatch(/^gcr\.io\/distroless\/nodejs24-debian\d+:/);
  }
});

test('the runtime stage: non-root numeric USER, no RUN (distroless has no shell), NODE_ENV=production', () => {
  const user = only(final, 'USER').args;
  expect(user).toMatch(/^\d+(:\d+)?$/);
  expect(Number(user.split(':')[0])).toBeGreaterThan(0);
  // The Deployment's securityContext says the same.
  const deployment = readFileSync(join(root, 'manifests', 'deployment.yaml'), 'utf8');
  expect(deployment).toContain(`runAsUser: ${user.split(':')[0]}`);
  expect(all(final, 'RUN')).toEqual([]);
  expect(all(final, 'ENV').map((e) => e.args)).toContain('NODE_ENV=production');
});

test('ENTRYPOINT is node running the CLI copied into the image, CMD ["run"] (exec form)', () => {
  const entrypoint = execForm(only(final, 'ENTRYPOINT'));
  expect(entrypoint).toEqual(['/nodejs/bin/node', '/app/dist/cli.js']);
  expect(execForm(only(final, 'CMD'))).toEqual(['run']);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  expect(pkg.bin['gpuvm-controller']).toBe('dist/cli.js');
  // dist/ lands at /app/dist: WORKDIR /app and COPY --from=<build> .../dist ./dist
  const workdir = only(final, 'WORKDIR').args;
  const distCopy = all(final, 'COPY').find((c) => /\/dist\s+\.?\/?dist\/?$/.test(c.args));
  expect(distCopy).toBeDefined();
  expect(posix.join(workdir, 'dist', 'cli.js')).toBe(entrypoint[1]);
  // dist/ is ESM: node needs package.json ("type": "module") beside it.
  const pkgType = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { type?: string }).type;
  if (pkgType === 'module') expect(all(final, 'COPY').some((c) => /(^|\s)package\.json(\s|$)/.test(c.args) && !c.args.includes('--from='))).toBe(true);
  // The CRDs are read at run time next to dist/ (src/api/crdFiles.ts).
  expect(all(final, 'COPY').some((c) => /^crds\/?\s+\.\/crds\/?$/.test(c.args))).toBe(true);
});

test('node_modules in the runtime stage come from `npm ci --omit=dev`', () => {
  const copy = all(final, 'COPY').find((c) => c.args.includes('node_modules'));
  const from = /--from=(\S+)/.exec(copy?.args ?? '')?.[1];
  const deps = stages.find((s) => s.name === from);
  expect(deps).toBeDefined();
  const runs = all(deps as Stage, 'RUN').map((r) => r.args);
  expect(runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
  expect(runs.some((r) => /\bnpm (install|i)\b/.test(r))).toBe(false);
});

test('every file the Dockerfile copies from the build context exists', () => {
  for (const stage of stages) {
    for (const copy of all(stage, 'COPY')) {
      if (copy.args.includes('--from=')) continue;
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) expect({ source, exists: existsSync(join(root, source)) }).toEqual({ source, exists: true });
    }
  }
});

const cliBuilt = existsSync(join(root, 'dist', 'cli.js'));
(cliBuilt ? test : test.skip)(
  'the entrypoint command runs from a production-only install (npm ci --omit=dev), outside a container',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'gpuvm-prod-install-'));
    try {
      cpSync(join(root, 'package.json'), join(dir, 'package.json'));
      cpSync(join(root, 'package-lock.json'), join(dir, 'package-lock.json'));
      const npm = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 240_000,
      });
      expect({ code: npm.status, out: npm.status === 0 ? '' : `${npm.stdout}${npm.stderr}` }).toEqual({ code: 0, out: '' });
      // No development dependency was installed.
      for (const dev of ['typescript', 'jest', 'eslint', '@swc/core', 'fengari']) expect({ dev, installed: existsSync(join(dir, 'node_modules', dev)) }).toEqual({ dev, installed: false });
      cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
      cpSync(join(root, 'crds'), join(dir, 'crds'), { recursive: true });
      const env = { PATH: process.env.PATH ?? '', HOME: dir, NODE_ENV: 'production' };
      const help = spawnSync(process.execPath, [join(dir, 'dist', 'cli.js'), '--help'], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
      expect({ code: help.status, stderr: help.stderr }).toEqual({ code: 0, stderr: '' });
      expect(help.stdout).toMatch(/\brun\b/);
      const run = spawnSync(process.execPath, [join(dir, 'dist', 'cli.js'), 'run', '--help'], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
      expect({ code: run.status, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(/--kubeconfig/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  300_000,
);

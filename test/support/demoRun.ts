// Runs `gpuvm-controller demo` as a user does: the built CLI in a child process, its output collected.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CLI } from './controllerHarness.js';

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Starts the demo; `onOutput` sees the output so far on every chunk and may signal the child. */
export function runDemo(args: string[], timeoutMs: number, onOutput?: (output: string, pid: number) => void): Promise<Run> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (scripts/test does)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (child.pid !== undefined) onOutput?.(output, child.pid);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

export interface Entry {
  t: number;
  subject: string;
  change: string;
}

/** Timeline lines: `  +12.3s  gpuvm train-1   phase Ready ip 10.57.48.10`. */
export function timeline(output: string): Entry[] {
  return [...output.matchAll(/^\s*\+(\d+\.\d)s\s{2}(\w+ \S+)\s+(.+)$/gm)].map((m) => ({ t: Number(m[1]), subject: m[2] ?? '', change: m[3] ?? '' }));
}

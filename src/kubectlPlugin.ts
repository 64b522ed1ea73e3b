#!/usr/bin/env node
// kubectl-gpuvm: the kubectl plugin (kubectl finds an executable named kubectl-gpuvm on PATH and runs it for
// `kubectl gpuvm …`, passing the rest of the arguments). Today it has one command, explain.
import { installCrashPolicy } from './crashPolicy.js';

const USAGE = `usage: kubectl gpuvm explain (gvm/NAME | edev/NAME | --all) [flags]   (see kubectl gpuvm explain --help)\n`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'explain') return (await import('./commands/explain.js')).main(rest);
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  process.stderr.write(`kubectl gpuvm: unknown command "${command}"\n${USAGE}`);
  return 2;
}

installCrashPolicy('kubectl-gpuvm');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`kubectl gpuvm: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

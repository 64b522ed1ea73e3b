#!/usr/bin/env node
// gpuvm-controller <command>: each command lives in its own module and is loaded only when used.
import { installCrashPolicy } from './crashPolicy.js';

const USAGE = `usage: gpuvm-controller <command> [flags]

commands:
  run        run the controller
  simulate   run the Azure Stack Edge device simulator
  demo       local control plane + simulator + controller + sample manifests
  validate   check GpuVm/EdgeDevice manifests offline against the CRD schemas
  doctor     read-only checks of a real device (TLS, token, api-versions, images, network, GPUs)
  explain    what a GpuVm or EdgeDevice waits for and what to do, from any cluster (also: kubectl gpuvm explain)
`;

type CommandMain = (args: string[]) => Promise<number>;

const commands: Record<string, () => Promise<CommandMain>> = {
  run: async () => (await import('./commands/run.js')).main,
  validate: async () => (await import('./commands/validate.js')).main,
  simulate: async () => (await import('./simulator/cli.js')).main,
  demo: async () => (await import('./commands/demo.js')).main,
  doctor: async () => (await import('./commands/doctor.js')).main,
  explain: async () => (await import('./commands/explain.js')).main,
};

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

async function main(argv: string[]): Promise<number> {
  if (NODE_MAJOR < 22) {
    process.stderr.write(`gpuvm-controller needs Node.js 22 or later (this is ${process.version}); scripts/node-env.sh installs Node.js 24\n`);
    return 1;
  }
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (load === undefined) {
    process.stderr.write(`gpuvm-controller: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  return (await load())(rest);
}

installCrashPolicy('gpuvm-controller');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`gpuvm-controller: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

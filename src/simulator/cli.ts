// `gpuvm-controller simulate`: runs the device simulator as a standalone server until SIGINT/SIGTERM.
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { normalizeConfig, parseConfigYaml } from './config.js';
import { Simulator } from './server.js';

const USAGE = `usage: gpuvm-controller simulate [--config FILE] [--port N] [--state-dir DIR]

  --config FILE     YAML: devices (name, gpus, softwareVersion, profile, images, kubernetes), timings, faults, seed
  --port N          first port: the Azure side on N, device i on N+1+i (default: ephemeral ports)
  --state-dir DIR   where ca.pem and credentials.json are written (default: a directory under ${tmpdir()})
`;

export async function main(args: string[]): Promise<number> {
  let values: { config?: string; port?: string; 'state-dir'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { config: { type: 'string' }, port: { type: 'string' }, 'state-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`simulate: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65000) {
    process.stderr.write(`simulate: --port must be a port number\n`);
    return 2;
  }
  let config;
  try {
    config = values.config === undefined ? normalizeConfig({}) : parseConfigYaml(await readFile(values.config, 'utf8'));
  } catch (e) {
    process.stderr.write(`simulate: ${values.config ?? 'config'}: ${(e as Error).message}\n`);
    return 2;
  }
  const stateDir = values['state-dir'] ?? join(tmpdir(), `gpuvm-simulator-${process.pid}`);
  const sim = await Simulator.start(config, { port, stateDir });
  const ep = sim.endpoints();
  const lines = ['Azure Stack Edge simulator running', ''];
  for (const d of ep.devices) {
    lines.push(`device ${d.name} (${d.gpus} GPU, software ${d.softwareVersion})`);
    lines.push(`  ARM endpoint:     ${d.armEndpoint}`);
    lines.push(`  login endpoint:   ${d.loginEndpoint}   (authority ${d.authority})`);
    lines.push(`  subscription:     ${d.subscriptionId}   resource group ${d.resourceGroup}`);
    lines.push(`  Azure resource:   ${d.azureResourceId}`);
  }
  lines.push('', `Azure side:         ${ep.azure.endpoint}   (authority host ${ep.azure.authorityHost}, tenant ${ep.azure.tenantId})`);
  lines.push(`credentials file:   ${ep.credentialsPath ?? ''}`);
  lines.push(`CA certificate:     ${ep.caPath ?? ''}`);
  lines.push(`admin API:          ${ep.adminUrl}/{audit,violations,state,faults,timings}`, '', 'Press Ctrl-C to stop.', '');
  process.stdout.write(lines.join('\n'));
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sim.stop();
  process.stdout.write('simulator stopped\n');
  return 0;
}

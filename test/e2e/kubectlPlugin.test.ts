// `kubectl gpuvm explain` works the way kubectl plugins do: kubectl finds the `kubectl-gpuvm` executable on PATH.
// No controller runs here, so the explanation says the objects were never reconciled.
import { chmodSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { API_VERSION } from '../../src/api/types.js';
import { execFile } from 'node:child_process';
import { applyManifest, kubectl, testKubeconfigPath, useTestNamespace } from '../support/cluster.js';
import { CLI } from '../support/controllerHarness.js';

const namespace = useTestNamespace('plugin');
const root = join(import.meta.dirname, '..', '..');
const binDir = join(root, '.tmp', `kubectl-plugin-${process.pid}`);
const device = () => `${namespace()}-dev`;

beforeAll(async () => {
  mkdirSync(binDir, { recursive: true });
  const plugin = join(dirname(CLI), 'kubectlPlugin.js');
  chmodSync(plugin, 0o755); // npm sets the bin's mode on install; the build output has none
  symlinkSync(plugin, join(binDir, 'kubectl-gpuvm'));
  await applyManifest(
    stringify({
      apiVersion: API_VERSION,
      kind: 'EdgeDevice',
      metadata: { name: device() },
      spec: { arm: { endpoint: 'https://management.dev.example', loginEndpoint: 'https://login.dev.example', subscriptionId: '0d8a4cf4-7e9b-4c2a-9b7e-2f1f7c3e5a10', resourceGroup: 'rg', credentialsSecretRef: { name: 'c' } }, gpus: 1 },
    }) +
      '---\n' +
      stringify({
        apiVersion: API_VERSION,
        kind: 'GpuVm',
        metadata: { name: 'vm1' },
        spec: { deviceRef: { name: device() }, size: 'Standard_NC4as_T4_v3', image: { name: 'img', osType: 'Linux' }, adminCredentialsSecretRef: { name: 'a' } },
      }),
    { namespace: namespace() },
  );
});

afterAll(async () => {
  rmSync(binDir, { recursive: true, force: true });
  await kubectl(['delete', 'edgedevice', device(), '--ignore-not-found', '--wait=false']);
});

/** `kubectl gpuvm ARGS` (kubectl refuses flags before a plugin's name, so --kubeconfig goes after it). */
function plugin(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // kubectl looks the plugin up on PATH; node must be found there too (the plugin's #! line).
  const env = { ...process.env, PATH: `${binDir}:${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  return new Promise((resolve) => {
    execFile(process.env.GPUVM_TEST_KUBECTL ?? 'kubectl', ['gpuvm', ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

test('kubectl gpuvm explain gvm/NAME: an unreconciled GpuVm says so and names its device', async () => {
  const r = await plugin(['explain', 'gvm/vm1', '-n', namespace(), '--kubeconfig', testKubeconfigPath()]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines[0]).toBe(`gpuvm ${namespace()}/vm1 on edgedevice ${device()}: no phase; Ready not reported`);
  expect(lines).toContain('  Observed: generation 1 not reconciled yet (status is for none); is the controller running?');
});

test('kubectl gpuvm explain edev/NAME and a name that does not exist', async () => {
  const r = await plugin(['explain', `edev/${device()}`, '--kubeconfig', testKubeconfigPath()]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`edgedevice ${device()}: Ready not reported`);
  expect(r.stdout).toContain(`  Queue: 1. ${namespace()}/vm1 (waiting `);
  const missing = await plugin(['explain', 'gvm/nope', '-n', namespace(), '--kubeconfig', testKubeconfigPath()]);
  expect({ code: missing.code, stderr: missing.stderr }).toEqual({ code: 1, stderr: `gpuvm ${namespace()}/nope not found\n` });
  const bad = await plugin(['explain', 'pods/x', '--kubeconfig', testKubeconfigPath()]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('"pods/x" is not gvm/NAME or edev/NAME');
});

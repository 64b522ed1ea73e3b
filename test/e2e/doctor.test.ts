// `gpuvm-controller doctor --edge-device NAME`: reads the EdgeDevice and its Secrets from the cluster and checks
// the device it names, read-only, with no secret in the output or the report.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DoctorReport } from '../../src/doctor/report.js';
import { applyManifest, testKubeconfigPath, useTestNamespace } from '../support/cluster.js';
import { CLI } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, useSimulator } from '../support/devices.js';

const namespace = useTestNamespace('doctor');
const sim = useSimulator({ devices: [{ name: 'checked', gpus: 1, images: [LINUX_IMAGE] }] });

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function doctor(args: string[], cwd: string): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'doctor', '--kubeconfig', testKubeconfigPath(), ...args], { cwd }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doctor-e2e-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('checks the device an EdgeDevice names, with its Secrets, sending only GETs and the token request', async () => {
  const name = `${namespace()}-checked`;
  await applyManifest(deviceManifests(sim(), 'checked', namespace(), { name }));
  const since = sim().audit().at(-1)?.seq ?? 0;
  const report = join(dir, 'report.json');
  const result = await doctor(['--edge-device', name, '--report', report, '--timeout', '20s'], dir);
  expect(result.stderr).toBe('');
  expect(result.stdout).toContain(`EdgeDevice ${name}`);
  expect(result.stdout).toMatch(/^PASS\s+TLS: ARM endpoint/m);
  expect(result.stdout).toMatch(/^PASS\s+ADFS token/m);
  expect(result.stdout).toMatch(/^PASS\s+VM images\s+ubuntu1804-gen1 \(V1, Linux\)/m);
  expect(result.stdout).toMatch(/^PASS\s+Azure-side device/m);
  expect(result.code).toBe(0);

  const text = await readFile(report, 'utf8');
  const parsed = JSON.parse(text) as DoctorReport;
  expect(parsed.source).toBe(`EdgeDevice ${name}`);
  for (const secret of [sim().device('checked').password, sim().endpoints().azure.clientSecret]) {
    expect(text).not.toContain(secret);
    expect(result.stdout).not.toContain(secret);
  }
  const entries = sim().audit({ since });
  expect(entries.some((e) => e.operation === 'token')).toBe(true);
  expect(entries.filter((e) => e.method !== 'GET' && !(e.method === 'POST' && e.operation === 'token'))).toEqual([]);
});

test('names the EdgeDevice that does not exist', async () => {
  const result = await doctor(['--edge-device', `${namespace()}-missing`, '--report', join(dir, 'missing.json')], dir);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(`EdgeDevice ${namespace()}-missing not found in the cluster`);
});

// `gpuvm-controller doctor` against the in-process simulator: a healthy device passes, a device serving only
// unknown api-versions, a wrong CA and a wrong password each fail by name; only GETs and the token POST are
// sent, and neither the output nor the report carries a secret.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jest } from '@jest/globals';
import { doctor } from '../../src/commands/doctor.js';
import { checkTls } from '../../src/doctor/checks/tls.js';
import type { DoctorReport } from '../../src/doctor/report.js';
import type { AuditEntry, Simulator } from '../../src/simulator/index.js';
import { BUILT_IN_PROFILE_NAMES } from '../../src/simulator/profiles.js';
import { createCertificateAuthority } from '../../src/tls/certificateAuthority.js';
import { FAST_POLL, azureClientsFor, deployVm, deviceClientsFor, kubernetesRoleBody, startSim } from './support.js';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

interface Files {
  dir: string;
  credentials: string;
  ca: string;
  report: string;
}

async function filesFor(sim: Simulator, device: string, overrides: { password?: string; caPem?: string } = {}): Promise<Files> {
  const dir = await mkdtemp(join(tmpdir(), 'doctor-'));
  const d = sim.device(device);
  const a = sim.endpoints().azure;
  const credentials = join(dir, 'credentials.yaml');
  await writeFile(credentials, `username: ${d.username}\npassword: '${overrides.password ?? d.password}'\ntenantId: ${a.tenantId}\nclientId: ${a.clientId}\nclientSecret: '${a.clientSecret}'\n`);
  const ca = join(dir, 'ca.pem');
  await writeFile(ca, overrides.caPem ?? sim.caCertificatePem);
  return { dir, credentials, ca, report: join(dir, 'report.json') };
}

function flags(sim: Simulator, device: string, files: Files): string[] {
  const d = sim.device(device);
  const a = sim.endpoints().azure;
  return [
    '--arm-endpoint', d.armEndpoint, '--login-endpoint', d.loginEndpoint, '--subscription-id', d.subscriptionId,
    '--resource-group', d.resourceGroup, '--credentials-file', files.credentials, '--ca-file', files.ca,
    '--azure-resource-id', d.azureResourceId, '--azure-endpoint', a.endpoint, '--authority-host', a.authorityHost,
    '--report', files.report, '--timeout', '10s',
  ];
}

/** Every secret the run could have seen: the device password, the service principal secret, issued tokens. */
function secretsOf(sim: Simulator, device: string, extra: string[] = []): string[] {
  return [sim.device(device).password, sim.endpoints().azure.clientSecret, ...extra];
}

function writesIn(entries: AuditEntry[]): AuditEntry[] {
  return entries.filter((e) => e.method !== 'GET' && !(e.method === 'POST' && e.operation === 'token'));
}

async function runDoctor(args: string[]): Promise<{ code: number; out: string }> {
  const chunks: string[] = [];
  const code = await doctor(args, (t) => chunks.push(t));
  return { code, out: chunks.join('') };
}

const statusOf = (report: DoctorReport, id: string): string | undefined => report.checks.find((c) => c.id === id)?.status;

/** Every built-in profile but the one made to be incompatible. */
const SUPPORTED_PROFILES = BUILT_IN_PROFILE_NAMES.filter((p) => p !== 'future-only');

describe('gpuvm-controller doctor', () => {
  let sim: Simulator;
  let wrongCaPem: string;
  const dirs: string[] = [];

  beforeAll(async () => {
    sim = await startSim({
      devices: [
        { name: 'edge-ok', gpus: 1 },
        { name: 'edge-future', gpus: 1, profile: 'future-only' },
        { name: 'edge-old', gpus: 1, profile: 'conservative' },
        ...SUPPORTED_PROFILES.map((profile) => ({ name: `edge-${profile}`, gpus: 2 as const, profile })),
        {
          name: 'edge-busy',
          gpus: 2,
          images: [
            { name: 'ubuntu1804-gen1', osType: 'Linux' },
            { name: 'ubuntu2204-gen2', osType: 'Linux', generation: 'V2' },
          ],
        },
      ],
    });
    wrongCaPem = createCertificateAuthority('some other root CA').certificatePem;
  });
  afterAll(async () => {
    await sim.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('passes a healthy device with GETs and the token request only, and keeps secrets out of the output and the report', async () => {
    const files = await filesFor(sim, 'edge-ok');
    dirs.push(files.dir);
    const since = sim.audit().at(-1)?.seq ?? 0;
    const { code, out } = await runDoctor(flags(sim, 'edge-ok', files));
    expect(out).toMatch(/^PASS\s+TLS: ARM endpoint/m);
    expect(out).toMatch(/^PASS\s+ADFS token/m);
    expect(out).toMatch(/^PASS\s+providers and api-versions/m);
    expect(out).toMatch(/^PASS\s+virtual network\s+ASERG\/ASEVNET subnet ASEVNETsubNet/m);
    expect(out).toMatch(/^PASS\s+Azure-side device/m);
    expect(code).toBe(0);
    const text = await readFile(files.report, 'utf8');
    const report = JSON.parse(text) as DoctorReport;
    expect(report.result).not.toBe('FAIL');
    expect(statusOf(report, 'images')).toBe('PASS');
    expect(statusOf(report, 'vms')).toBe('PASS');
    const entries = sim.audit({ since });
    expect(entries.filter((e) => e.operation === 'token').length).toBeGreaterThan(0);
    expect(entries.filter((e) => e.method === 'GET').length).toBeGreaterThan(5);
    expect(writesIn(entries)).toEqual([]);
    for (const secret of secretsOf(sim, 'edge-ok')) {
      expect(text).not.toContain(secret);
      expect(out).not.toContain(secret);
    }
    expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
  });

  it.each(SUPPORTED_PROFILES)('passes a device of profile %s with no FAIL and no write', async (profile) => {
    const device = `edge-${profile}`;
    const files = await filesFor(sim, device);
    dirs.push(files.dir);
    const since = sim.audit().at(-1)?.seq ?? 0;
    const { code, out } = await runDoctor(flags(sim, device, files));
    expect({ code, fails: out.split('\n').filter((l) => l.startsWith('FAIL')) }).toEqual({ code: 0, fails: [] });
    expect(out).toMatch(/^PASS\s+providers and api-versions/m);
    expect(writesIn(sim.audit({ since }))).toEqual([]);
  });

  it('fails naming the api-versions when the device serves none the controller knows', async () => {
    const files = await filesFor(sim, 'edge-future');
    dirs.push(files.dir);
    const since = sim.audit().at(-1)?.seq ?? 0;
    const { code, out } = await runDoctor(flags(sim, 'edge-future', files));
    expect(code).toBe(1);
    expect(out).toMatch(/^FAIL\s+providers and api-versions\s+the controller does not know these api-versions:/m);
    expect(out).toMatch(/^FAIL: providers and api-versions$/m);
    const report = JSON.parse(await readFile(files.report, 'utf8')) as DoctorReport;
    expect(statusOf(report, 'apiVersions')).toBe('FAIL');
    const summary = report.checks.find((c) => c.id === 'apiVersions')?.summary ?? '';
    expect(summary).toMatch(/^the controller does not know these api-versions: Microsoft\.Compute\/virtualMachines 2024-03-01/);
    expect(summary).toContain('Microsoft.Network/networkInterfaces 2023-09-01');
    expect(statusOf(report, 'images')).toBe('SKIP');
    expect(writesIn(sim.audit({ since }))).toEqual([]);
  });

  it('fails the TLS and token checks with a wrong CA bundle', async () => {
    const files = await filesFor(sim, 'edge-ok', { caPem: wrongCaPem });
    dirs.push(files.dir);
    const { code, out } = await runDoctor(flags(sim, 'edge-ok', files));
    expect(code).toBe(1);
    expect(out).toMatch(/^FAIL\s+TLS: ARM endpoint\s+.*certificate not trusted/m);
    expect(out).toMatch(/^FAIL\s+ADFS token/m);
    expect(out).toMatch(/^SKIP\s+providers and api-versions/m);
    for (const secret of secretsOf(sim, 'edge-ok')) expect(out + (await readFile(files.report, 'utf8'))).not.toContain(secret);
  });

  it('fails the token check with a wrong password, and the password appears nowhere', async () => {
    const wrong = 'Wr0ng-Passw0rd-For-Doctor!';
    const files = await filesFor(sim, 'edge-ok', { password: wrong });
    dirs.push(files.dir);
    const { code, out } = await runDoctor(flags(sim, 'edge-ok', files));
    expect(code).toBe(1);
    expect(out).toMatch(/^PASS\s+TLS: ARM endpoint/m);
    expect(out).toMatch(/^FAIL\s+ADFS token\s+.*refused a token for EdgeArmUser/m);
    expect(out).toMatch(/user name or password is wrong/);
    const text = await readFile(files.report, 'utf8');
    for (const secret of secretsOf(sim, 'edge-ok', [wrong])) {
      expect(text).not.toContain(secret);
      expect(out).not.toContain(secret);
    }
  });

  it('shows VMs holding GPUs, compute roles of any kind, and warns about a Gen2 image', async () => {
    await deployVm(deviceClientsFor(sim, 'edge-busy'), sim.device('edge-busy').resourceGroup, 'gpu-vm-1');
    const azure = sim.endpoints().azure;
    await azureClientsFor(sim).dataBoxEdge.roles.beginCreateOrUpdateAndWait('edge-busy', 'k8s', azure.resourceGroup, kubernetesRoleBody, FAST_POLL);
    const files = await filesFor(sim, 'edge-busy');
    dirs.push(files.dir);
    const since = sim.audit().at(-1)?.seq ?? 0;
    const { code, out } = await runDoctor(flags(sim, 'edge-busy', files));
    expect(code).toBe(0);
    expect(out).toMatch(/^WARN\s+VM images/m);
    const report = JSON.parse(await readFile(files.report, 'utf8')) as DoctorReport;
    const check = (id: string) => report.checks.find((c) => c.id === id);
    expect(check('images')?.summary).toMatch(/Gen2 image\(s\) ubuntu2204-gen2 cannot run GPU VMs/);
    expect(check('images')?.fix).toMatch(/Gen1/);
    expect(check('vms')?.summary).toMatch(/1 VM\(s\), 1 holding a GPU: ASERG-vms\/gpu-vm-1 Standard_NC4as_T4_v3 running \(holds a GPU\)/);
    // Kubernetes, configured after the VM, claimed the other GPU (domain notes).
    expect(check('azure')?.summary).toMatch(/roles k8s \(Kubernetes, /);
    expect(check('azure')?.summary).toMatch(/GPUs 2 total, 2 used, 0 free/);
    expect(writesIn(sim.audit({ since }))).toEqual([]);
  });

  it('reads power states through instance views where the compute api-version has no statusOnly (2017-12-01)', async () => {
    await deployVm(deviceClientsFor(sim, 'edge-old'), sim.device('edge-old').resourceGroup, 'old-vm');
    const files = await filesFor(sim, 'edge-old');
    dirs.push(files.dir);
    const since = sim.audit().at(-1)?.seq ?? 0;
    const { code } = await runDoctor(flags(sim, 'edge-old', files));
    expect(code).toBe(0);
    const report = JSON.parse(await readFile(files.report, 'utf8')) as DoctorReport;
    expect(report.checks.find((c) => c.id === 'apiVersions')?.details?.['chosen']).toMatchObject({ compute: '2017-12-01', network: '2017-10-01' });
    expect(report.checks.find((c) => c.id === 'vms')?.summary).toMatch(/ASERG-vms\/old-vm Standard_NC4as_T4_v3 running \(holds a GPU\)/);
    expect(report.checks.find((c) => c.id === 'gpuExtension')?.summary).toMatch(/NvidiaGpuDriverLinux 1\.3/);
    expect(sim.audit({ since }).some((e) => e.operation === 'vm.instanceView')).toBe(true);
    expect(writesIn(sim.audit({ since }))).toEqual([]);
  });

  it('warns when a certificate of the chain expires within 30 days', async () => {
    const endpoint = sim.device('edge-ok').armEndpoint;
    const today = await checkTls('tls.arm', 'TLS: ARM endpoint', endpoint, sim.caCertificatePem, 5000);
    expect(today.status).toBe('PASS');
    const validTo = Date.parse((today.details?.['chain'] as { validTo: string }[])[0]?.validTo ?? '');
    const soon = await checkTls('tls.arm', 'TLS: ARM endpoint', endpoint, sim.caCertificatePem, 5000, new Date(validTo - 10 * 86_400_000));
    expect(soon).toMatchObject({ status: 'WARN', fix: expect.stringMatching(/renew the device certificates/) });
    expect(soon.summary).toMatch(/expires in (9|10) day/);
  });

  it('refuses incomplete flags, plain-HTTP endpoints and a credentials file without a password (exit 2), naming no secret', async () => {
    const files = await filesFor(sim, 'edge-ok');
    dirs.push(files.dir);
    const errors: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      errors.push(String(chunk));
      return true;
    });
    try {
      expect((await runDoctor(['--arm-endpoint', 'https://x'])).code).toBe(2);
      expect(errors.join('')).toMatch(/missing: --login-endpoint, --subscription-id, --resource-group, --credentials-file/);
      const plain = flags(sim, 'edge-ok', files).map((a) => a.replace(/^https:/, 'http:'));
      expect((await runDoctor(plain)).code).toBe(2);
      expect(errors.join('')).toMatch(/--arm-endpoint must be an https:\/\/ URL/);
      await writeFile(files.credentials, 'username: EdgeArmUser\n');
      expect((await runDoctor(flags(sim, 'edge-ok', files))).code).toBe(2);
      expect(errors.join('')).toMatch(/username and password are required/);
    } finally {
      spy.mockRestore();
    }
    expect(errors.join('')).not.toContain(sim.device('edge-ok').password);
  });

  it('runs as the built CLI process', async () => {
    const files = await filesFor(sim, 'edge-ok');
    dirs.push(files.dir);
    await run('npm', ['run', '-s', 'build'], { cwd: root });
    const ok = await run(process.execPath, [join(root, 'dist', 'cli.js'), 'doctor', ...flags(sim, 'edge-ok', files)], { cwd: files.dir });
    expect(ok.stdout).toMatch(/^PASS\s+ADFS token/m);
    expect(ok.stdout).not.toContain(sim.device('edge-ok').password);

    const future = await filesFor(sim, 'edge-future');
    dirs.push(future.dir);
    const failed = await run(process.execPath, [join(root, 'dist', 'cli.js'), 'doctor', ...flags(sim, 'edge-future', future)], { cwd: future.dir }).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/the controller does not know these api-versions/);
  });
});

// Runs last (test/support/reliabilitySequencer.cjs): scans everything the run captured for secrets. Every
// controller log of this run, the control plane's logs, all Events and every GpuVm and EdgeDevice must hold
// none of the secret values found in the cluster's Secrets (admin passwords, device passwords, service
// principal client secrets, tokens), no JWT and no Bearer credential.
import { CoreV1Api, CustomObjectsApi, EventsV1Api, type V1Secret } from '@kubernetes/client-node';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION } from '../../src/api/types.js';
import { createDeviceCredential } from '../../src/azure/deviceClients.js';
import { testKubeConfig, testKubeconfigPath, waitFor } from '../support/cluster.js';
import { TEST_PASSWORD, useSimulator } from '../support/devices.js';
import { MIN_SECRET_LENGTH, SecretScanner, formatHits, secretValuesOf, type SecretHit } from './support/secretScan.js';

const root = join(import.meta.dirname, '..', '..');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('the scanner', () => {
  const sim = useSimulator({ devices: [{ name: 'scan-a', gpus: 1, images: [] }] });

  test('finds a leaked password (plain, JSON-escaped, base64), a real device token and a Bearer header, and masks them', async () => {
    const d = sim().device('scan-a');
    const access = await createDeviceCredential({ ...d, caPem: sim().caCertificatePem }).getToken(`${d.armEndpoint}/.default`);
    if (access === null) throw new Error('the simulated device issued no token');
    const { token } = access;
    const quoted = 'Adm"in-Passw0rd-with-a-quote';
    const secrets: V1Secret[] = [
      { data: { username: b64(d.username), password: b64(d.password) } },
      { data: { password: b64(quoted), clientSecret: b64('short') } },
    ];
    const { values, tooShort } = secretValuesOf(secrets);
    expect(values.sort()).toEqual([d.password, quoted].sort());
    expect(tooShort).toBe(1);

    const scanner = new SecretScanner(values);
    const lines = [
      // What the logger writes: censored fields and headers.
      JSON.stringify({ level: 'debug', msg: 'token acquired', password: '[REDACTED]', headers: { authorization: 'Bearer [REDACTED]' } }),
      JSON.stringify({ level: 'error', msg: `sign-in failed for EdgeArmUser with ${d.password}` }),
      JSON.stringify({ level: 'debug', body: { adminPassword: quoted } }),
      JSON.stringify({ level: 'debug', secret: { data: { password: b64(d.password) } } }),
      JSON.stringify({ level: 'debug', msg: 'request', headers: { authorization: `Bearer ${token}` } }),
      `{"level":"trace","msg":"token ${token.split('.').slice(0, 3).join('.')} cached"}`,
    ];
    const hits = scanner.scan('controller-synthetic.log', lines.join('\n'));
    expect(hits.map((h) => [h.line, h.what.replace(/ #\d+$/, '')])).toEqual([
      [2, 'secret value'],
      [3, 'secret value (JSON-escaped)'],
      [4, 'secret value (base64)'],
      [5, 'JWT'],
      [5, 'Bearer credential'],
      [6, 'JWT'],
    ]);
    const report = formatHits(hits);
    expect(report).toMatch(/^controller-synthetic\.log:2: secret value #\d: .*…\[\d+ chars masked\]/);
    for (const secret of [d.password, b64(d.password), token, token.split('.')[2] ?? token]) expect(report).not.toContain(secret);
    expect(scanner.linesScanned).toBe(lines.length);
  });
});

/** This run's directory (globalSetup writes the kubeconfig there): control-plane logs and the owner file. */
const runDir = (): string => dirname(testKubeconfigPath());

/** Controller processes of this run still alive (their kubeconfigs live in the run directory); Linux /proc. */
function liveControllers(dir: string): number[] {
  if (!existsSync('/proc')) return [];
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .filter((p) => {
      try {
        const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return cmdline.some((a) => a.endsWith(join('dist', 'cli.js'))) && cmdline.includes('run') && cmdline.some((a) => a.startsWith(dir));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A list call, retried while the API server answers 429 "storage is (re)initializing" (a fresh watch cache). */
const listed = <T>(list: () => Promise<T>): Promise<NonNullable<T>> => waitFor(list, { timeoutMs: 30_000, description: 'a list call' });

describe('everything captured during the run', () => {
  test('holds no secret: controller and control-plane logs, Events, GpuVms and EdgeDevices', async () => {
    const dir = runDir();
    // With several jest workers another file may still be running: wait until its controllers are gone.
    await waitFor(() => liveControllers(dir).length === 0, { timeoutMs: 600_000, intervalMs: 1000, description: 'controllers of this run to exit' });

    const kc = testKubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const secrets = (await listed(() => core.listSecretForAllNamespaces())).items;
    const { values, tooShort } = secretValuesOf(secrets, [TEST_PASSWORD]);
    const scanner = new SecretScanner(values);
    const hits: SecretHit[] = [];

    // Controller logs are named after the namespace their controller served: those of this cluster's namespaces
    // written since this run started (other runs in the same checkout have their own namespaces).
    const namespaces = (await listed(() => core.listNamespace())).items.map((n) => n.metadata?.name ?? '').filter((n) => n !== '');
    const runStarted = statSync(join(dir, 'owner')).mtimeMs;
    const logsDir = dirname(dir);
    const controllerLogs = readdirSync(logsDir)
      .filter((f) => /^controller-.*\.log$/.test(f) && namespaces.some((ns) => f === `controller-${ns}.log` || f.startsWith(`controller-${ns}-`)))
      .map((f) => join(logsDir, f))
      .filter((f) => statSync(f).mtimeMs >= runStarted);
    const planeLogs = readdirSync(join(dir, 'logs')).map((f) => join(dir, 'logs', f));
    expect(planeLogs.length).toBeGreaterThan(0);
    for (const file of [...controllerLogs, ...planeLogs]) hits.push(...scanner.scan(relative(root, file), readFileSync(file, 'utf8')));
    const logLines = scanner.linesScanned;

    const coreEvents = (await listed(() => core.listEventForAllNamespaces())).items;
    const events = (await listed(() => kc.makeApiClient(EventsV1Api).listEventForAllNamespaces())).items;
    for (const e of [...coreEvents, ...events]) hits.push(...scanner.scan(`Event ${e.metadata?.namespace}/${e.metadata?.name}`, JSON.stringify(e)));

    const gpuVms = (await listed(() => custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, resourcePlural: GPUVM_PLURAL })) as { items: Obj[] }).items;
    const devices = (await listed(() => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL })) as { items: Obj[] }).items;
    // Every namespace whose GpuVms a controller reconciled (status written) had its controller log scanned.
    const reconciledIn = new Set(gpuVms.filter((g) => g.status?.observedGeneration !== undefined).map((g) => g.metadata.namespace));
    const logged = (ns: string | undefined): boolean => controllerLogs.some((f) => f.includes(`controller-${ns}`));
    expect([...reconciledIn].filter((ns) => !logged(ns))).toEqual([]);
    for (const o of [...gpuVms, ...devices]) {
      hits.push(...scanner.scan(`${o.kind} ${[o.metadata.namespace, o.metadata.name].filter(Boolean).join('/')}`, JSON.stringify(o)));
    }

    console.log(
      `[secrets] searched ${values.length} distinct secret values from ${secrets.length} Secrets (+ JWTs, Bearer credentials; ${tooShort} values under ${MIN_SECRET_LENGTH} chars skipped) in ` +
        `${controllerLogs.length} controller logs and ${planeLogs.length} control-plane logs (${logLines} lines), ` +
        `${coreEvents.length} Events through core/v1 and ${events.length} through events.k8s.io/v1, ${gpuVms.length} GpuVms and ${devices.length} EdgeDevices: ${hits.length} hits`,
    );
    if (hits.length > 0) throw new Error(`${hits.length} secret(s) found in what the run captured:\n${formatHits(hits.slice(0, 50))}`);
  }, 660_000);
});

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string };
  status?: { observedGeneration?: number };
}

// A real, local Kubernetes control plane (etcd + kube-apiserver on loopback) for the test suite and the demo.
// Nothing is faked: token authentication with an admin in system:masters, RBAC authorization, TLS serving
// with a CA the kubeconfig trusts, service-account signing keys. Both processes die with this one.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  accessSync,
  appendFileSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createCertificateAuthority } from '../tls/certificateAuthority.js';
import { freePorts } from './freePort.js';
import { runKubectl, type KubectlOptions, type KubectlResult } from './kubectl.js';
import { isAlive, processMatches, spawnManaged, tailFile, type ManagedProcess } from './processes.js';

export type { KubectlOptions, KubectlResult } from './kubectl.js';

export interface ControlPlaneOptions {
  /** Directory holding kube-apiserver, kubectl and etcd. Default: $GPUVM_CONTROL_PLANE_BIN, else built by scripts/build-control-plane.sh. */
  binDir?: string;
  /** Where etcd data, keys and the kubeconfig go. Default: a fresh directory on /dev/shm (tmpfs) or the temp dir. Removed by stop() only if this module created it. */
  stateDir?: string;
  /** Where etcd.log and kube-apiserver.log go (appended, kept after stop()). Default: `<stateDir>/logs`. */
  logDir?: string;
  /** How long to wait for etcd and /readyz. Default 60 s. */
  startTimeoutMs?: number;
  /** SIGTERM-to-SIGKILL grace period per process in stop(). Default 10 s. */
  stopGraceMs?: number;
  /** Extra kube-apiserver flags (e.g. `--v=4`), appended after the defaults. */
  apiserverArgs?: readonly string[];
}

export interface ControlPlaneTimings {
  /** From the call to etcd answering /health. */
  etcdReadyMs: number;
  /** From the call to kube-apiserver answering /readyz with 200: the start time. */
  readyMs: number;
}

export interface ControlPlane {
  /** The apiserver URL, `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** Admin kubeconfig (token user in system:masters, CA data embedded). */
  readonly kubeconfigPath: string;
  readonly kubeconfigYaml: string;
  readonly adminToken: string;
  /** The CA that signed the apiserver's serving certificate. */
  readonly caPem: string;
  readonly binDir: string;
  readonly kubectlPath: string;
  readonly stateDir: string;
  readonly logDir: string;
  readonly etcdEndpoint: string;
  /** The running processes (the apiserver's pid changes when it is started again; 0 while it is stopped). */
  readonly pids: { readonly etcd: number; readonly apiserver: number };
  readonly timings: ControlPlaneTimings;
  /** Runs the built kubectl with the admin kubeconfig; resolves with the exit code and output, never throws on failure. */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<KubectlResult>;
  /**
   * Stops kube-apiserver alone, as an apiserver outage does: SIGTERM (it stops listening at once), SIGKILL after
   * `graceMs` (default: the stop grace period; open watches can keep it alive that long). etcd, the port,
   * certificates and all state stay. Resolves once it has exited. Idempotent.
   */
  stopApiserver(options?: { graceMs?: number }): Promise<void>;
  /**
   * Starts kube-apiserver again on the same etcd, port, certificates and tokens (so every kubeconfig and client
   * stays valid); resolves once /readyz answers 200, with the time that took. A no-op while it runs.
   */
  startApiserver(): Promise<{ readyMs: number }>;
  /** stopApiserver({ graceMs }), `downMs` (default 0) with no apiserver, startApiserver(); resolves with the measured times. */
  restartApiserver(options?: { downMs?: number; graceMs?: number }): Promise<ApiserverRestart>;
  /** SIGTERM kube-apiserver then etcd (SIGKILL after the grace period) and remove the state. Idempotent. */
  stop(): Promise<void>;
}

export interface ApiserverRestart {
  /** From the stop request until the new kube-apiserver answered /readyz with 200: the whole outage. */
  outageMs: number;
  /** From spawning the new kube-apiserver until /readyz answered 200. */
  readyMs: number;
}

const STATE_DIR_PREFIX = 'gpuvm-control-plane-';
const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/16';
const KUBERNETES_SERVICE_IP = '10.96.0.1';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const MAX_ATTEMPTS = 3;

/** Environment variable naming a file to which each started control plane appends `<pid> <stateDir>` lines (scripts/test kills leftovers). */
export const PIDFILE_ENV = 'GPUVM_CONTROL_PLANE_PIDFILE';
export const BIN_DIR_ENV = 'GPUVM_CONTROL_PLANE_BIN';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

class PortInUseError extends Error {}

/** Starts etcd and kube-apiserver and resolves once /readyz answers 200. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = await resolveBinDir(options.binDir);
  const started = performance.now();
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const stopGraceMs = options.stopGraceMs ?? 10_000;

  sweepStaleStateDirs();
  const ownsStateDir = options.stateDir === undefined;
  const stateDir = options.stateDir ? resolve(options.stateDir) : mkdtempSync(join(stateRoot(), STATE_DIR_PREFIX));
  mkdirSync(stateDir, { recursive: true });
  const ownsLogDir = options.logDir === undefined;
  const logDir = options.logDir ? resolve(options.logDir) : join(stateDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  if (ownsStateDir) writeFileSync(join(stateDir, 'owner'), `${process.pid}\n`);

  const created = [join(stateDir, 'pki'), join(stateDir, 'etcd'), join(stateDir, 'apiserver'), join(stateDir, 'kubeconfig'), join(stateDir, 'kubectl-cache'), join(stateDir, 'pids')];
  const removeState = (keepLogs: boolean): void => {
    if (ownsStateDir && !(keepLogs && ownsLogDir)) rmSync(stateDir, { recursive: true, force: true });
    else for (const path of created) rmSync(path, { recursive: true, force: true });
  };

  try {
    const pki = writePki(stateDir);
    for (let attempt = 1; ; attempt++) {
      try {
        return await startProcesses({ binDir, stateDir, logDir, pki, started, startTimeoutMs, stopGraceMs, removeState, extraArgs: options.apiserverArgs ?? [] });
      } catch (error) {
        if (!(error instanceof PortInUseError) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  } catch (error) {
    removeState(true);
    throw error;
  }
}

interface Pki {
  adminToken: string;
  caPem: string;
  tokenFile: string;
  servingCert: string;
  servingKey: string;
  saPublicKey: string;
  saPrivateKey: string;
}

function writePki(stateDir: string): Pki {
  const dir = join(stateDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = createCertificateAuthority('gpuvm-controller local control plane CA');
  const serving = ca.issueServerCertificate(
    ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    ['127.0.0.1', KUBERNETES_SERVICE_IP],
  );
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const adminToken = randomBytes(32).toString('hex');
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  return {
    adminToken,
    caPem: ca.certificatePem,
    // token,user,uid,"group1,group2"
    tokenFile: file('tokens.csv', `${adminToken},admin,gpuvm-local-admin,"system:masters"\n`),
    servingCert: file('apiserver.crt', serving.certificatePem),
    servingKey: file('apiserver.key', serving.privateKeyPem),
    saPublicKey: file('sa.pub', sa.publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    saPrivateKey: file('sa.key', sa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
  };
}

interface StartContext {
  binDir: string;
  stateDir: string;
  logDir: string;
  pki: Pki;
  started: number;
  startTimeoutMs: number;
  stopGraceMs: number;
  removeState: (keepLogs: boolean) => void;
  extraArgs: readonly string[];
}

async function startProcesses(ctx: StartContext): Promise<ControlPlane> {
  const { binDir, stateDir, logDir, pki } = ctx;
  const deadline = ctx.started + ctx.startTimeoutMs;
  const [etcdClientPort, etcdPeerPort, apiserverPort] = (await freePorts(3)) as [number, number, number];
  const etcdEndpoint = `http://127.0.0.1:${etcdClientPort}`;
  const etcdPeer = `http://127.0.0.1:${etcdPeerPort}`;
  const server = `https://127.0.0.1:${apiserverPort}`;
  const etcdLog = join(logDir, 'etcd.log');
  const apiserverLog = join(logDir, 'kube-apiserver.log');
  const etcdData = join(stateDir, 'etcd');
  rmSync(etcdData, { recursive: true, force: true });

  const processes: ManagedProcess[] = [];
  const stopAll = async (): Promise<void> => {
    // The apiserver first, so it never sees etcd vanish under it.
    for (const child of [...processes].reverse()) await child.stop(ctx.stopGraceMs);
  };
  const exitHandler = (): void => {
    for (const child of processes) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    try {
      ctx.removeState(false);
    } catch {
      // best effort while exiting
    }
  };
  process.on('exit', exitHandler);

  try {
    appendFileSync(etcdLog, `=== ${new Date().toISOString()} starting etcd on ${etcdEndpoint}\n`);
    const etcd = await spawnManaged('etcd', join(binDir, 'etcd'), {
      logFile: etcdLog,
      env: withoutEtcdVariables(process.env),
      args: [
        '--name=gpuvm-local',
        `--data-dir=${etcdData}`,
        `--listen-client-urls=${etcdEndpoint}`,
        `--advertise-client-urls=${etcdEndpoint}`,
        `--listen-peer-urls=${etcdPeer}`,
        `--initial-advertise-peer-urls=${etcdPeer}`,
        `--initial-cluster=gpuvm-local=${etcdPeer}`,
        '--initial-cluster-state=new',
        // Throwaway data on tmpfs: durability buys nothing and fsync costs seconds.
        '--unsafe-no-fsync',
        // A single member elects itself after one election timeout: 100 ms instead of the default 1 s.
        '--heartbeat-interval=10',
        '--election-timeout=100',
        '--log-level=warn',
      ],
    });
    processes.push(etcd);
    recordPid(etcd, stateDir);
    await waitUntil(deadline, [etcd], async () => (await httpGet(`${etcdEndpoint}/health`)).body.includes('"health":"true"'), 'etcd /health');
    const etcdReadyMs = performance.now() - ctx.started;

    const apiserverDir = join(stateDir, 'apiserver');
    mkdirSync(apiserverDir, { recursive: true });
    const apiserverArgs = [
      `--etcd-servers=${etcdEndpoint}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiserverPort}`,
      `--cert-dir=${apiserverDir}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--token-auth-file=${pki.tokenFile}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${pki.saPublicKey}`,
      `--service-account-signing-key-file=${pki.saPrivateKey}`,
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      '--profiling=false',
      '--v=1',
      ...ctx.extraArgs,
    ];
    // Spawns kube-apiserver and waits for /readyz; a child that never gets ready is stopped before the error is thrown.
    const launchApiserver = async (until: number): Promise<ManagedProcess> => {
      appendFileSync(apiserverLog, `=== ${new Date().toISOString()} starting kube-apiserver on ${server}\n`);
      const child = await spawnManaged('kube-apiserver', join(binDir, 'kube-apiserver'), { logFile: apiserverLog, args: apiserverArgs });
      processes.push(child);
      recordPid(child, stateDir);
      try {
        await waitUntil(
          until,
          [etcd, child],
          async () => {
            const response = await httpGet(`${server}/readyz`, { ca: pki.caPem, token: pki.adminToken });
            return response.status === 200;
          },
          'kube-apiserver /readyz',
        );
      } catch (error) {
        await child.stop(ctx.stopGraceMs);
        processes.splice(processes.indexOf(child), 1);
        throw error;
      }
      return child;
    };
    let apiserver: ManagedProcess | undefined = await launchApiserver(deadline);
    const readyMs = performance.now() - ctx.started;

    const kubeconfigPath = join(stateDir, 'kubeconfig');
    const kubeconfigYaml = renderKubeconfig(server, pki.caPem, pki.adminToken);
    writeFileSync(kubeconfigPath, kubeconfigYaml, { mode: 0o600 });
    const kubectlPath = join(binDir, 'kubectl');
    const kubectlCache = join(stateDir, 'kubectl-cache');

    let stopping: Promise<void> | undefined;
    // Stops and starts of the apiserver run one at a time, in call order.
    let transition: Promise<unknown> = Promise.resolve();
    const serialized = <T>(operation: () => Promise<T>): Promise<T> => {
      const next = transition.then(operation);
      transition = next.catch(() => undefined);
      return next;
    };
    const stopApiserver = ({ graceMs = ctx.stopGraceMs }: { graceMs?: number } = {}): Promise<void> =>
      serialized(async () => {
        const child = apiserver;
        if (child === undefined || stopping !== undefined) return;
        apiserver = undefined;
        await child.stop(graceMs);
        processes.splice(processes.indexOf(child), 1);
      });
    const startApiserver = (): Promise<{ readyMs: number }> =>
      serialized(async () => {
        if (stopping !== undefined) throw new Error('control plane: startApiserver() after stop()');
        if (apiserver !== undefined) return { readyMs: 0 };
        const began = performance.now();
        const child = await launchApiserver(began + ctx.startTimeoutMs);
        // stop() ran meanwhile and may have missed this child.
        if (stopping !== undefined) {
          await child.stop(ctx.stopGraceMs);
          throw new Error('control plane: stopped while kube-apiserver was starting');
        }
        apiserver = child;
        return { readyMs: performance.now() - began };
      });
    return {
      server,
      kubeconfigPath,
      kubeconfigYaml,
      adminToken: pki.adminToken,
      caPem: pki.caPem,
      binDir,
      kubectlPath,
      stateDir,
      logDir,
      etcdEndpoint,
      get pids() {
        return { etcd: etcd.pid, apiserver: apiserver?.pid ?? 0 };
      },
      timings: { etcdReadyMs, readyMs },
      kubectl: (args, options) => runKubectl(kubectlPath, kubeconfigPath, [`--cache-dir=${kubectlCache}`, ...args], options),
      stopApiserver,
      startApiserver,
      async restartApiserver({ downMs = 0, graceMs } = {}) {
        const began = performance.now();
        await stopApiserver(graceMs === undefined ? {} : { graceMs });
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        const { readyMs: apiserverReadyMs } = await startApiserver();
        return { outageMs: performance.now() - began, readyMs: apiserverReadyMs };
      },
      stop() {
        stopping ??= (async () => {
          await stopAll();
          process.off('exit', exitHandler);
          ctx.removeState(false);
        })();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    process.off('exit', exitHandler);
    if (error instanceof StartupError && /address already in use/i.test(error.logs)) {
      throw new PortInUseError(error.message);
    }
    throw error;
  }
}

class StartupError extends Error {
  readonly logs: string;
  constructor(message: string, logs: string) {
    super(message);
    this.logs = logs;
  }
}

/** Polls `check` until it returns true; fails early (with log tails) when a process exits, or at the deadline. */
async function waitUntil(deadline: number, processes: readonly ManagedProcess[], check: () => Promise<boolean>, what: string): Promise<void> {
  let lastError = '';
  for (;;) {
    const dead = processes.find((p) => p.exitStatus() !== undefined);
    if (dead) {
      const status = dead.exitStatus();
      throw startupError(`${dead.name} exited (code ${String(status?.code)}, signal ${String(status?.signal)}) while waiting for ${what}`, processes);
    }
    try {
      if (await check()) return;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (performance.now() > deadline) {
      throw startupError(`timed out waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`, processes);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function startupError(message: string, processes: readonly ManagedProcess[]): StartupError {
  const logs = processes.map((p) => `--- ${p.name}: ${p.logFile} (last lines)\n${tailFile(p.logFile, 30)}`).join('\n');
  return new StartupError(`control plane: ${message}\n${logs}`, logs);
}

interface HttpResponse {
  status: number;
  body: string;
}

function httpGet(url: string, auth?: { ca: string; token: string }): Promise<HttpResponse> {
  return new Promise((resolvePromise, reject) => {
    const onResponse = (response: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolvePromise({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    };
    const req: ClientRequest = auth
      ? httpsRequest(url, { ca: auth.ca, headers: { authorization: `Bearer ${auth.token}` }, timeout: 2000 }, onResponse)
      : httpRequest(url, { timeout: 2000 }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`timeout GET ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

function renderKubeconfig(server: string, caPem: string, token: string): string {
  const name = 'gpuvm-local';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name, context: { cluster: name, user: 'admin', namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  });
}

function withoutEtcdVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('ETCD_')));
}

function stateRoot(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/** Appends the pid to `<stateDir>/pids` and to $GPUVM_CONTROL_PLANE_PIDFILE, if set, for out-of-process cleanup. */
function recordPid(child: ManagedProcess, stateDir: string): void {
  appendFileSync(join(stateDir, 'pids'), `${child.pid} ${child.name}\n`);
  const pidfile = process.env[PIDFILE_ENV];
  if (pidfile) {
    try {
      appendFileSync(pidfile, `${child.pid} ${stateDir}\n`);
    } catch {
      // the pidfile is a safety net only
    }
  }
}

/**
 * Removes state directories left by control planes whose owning process died without cleaning up (for example
 * SIGKILL; their etcd and apiserver already died with it through the parent-death signal). Processes still
 * listed there are killed if their command line names the directory.
 */
export function sweepStaleStateDirs(): void {
  for (const root of new Set([stateRoot(), tmpdir()])) {
    let entries: string[];
    try {
      entries = readdirSync(root).filter((name) => name.startsWith(STATE_DIR_PREFIX));
    } catch {
      continue;
    }
    for (const name of entries) {
      const dir = join(root, name);
      try {
        const owner = Number.parseInt(readFileSync(join(dir, 'owner'), 'utf8'), 10);
        if (!Number.isInteger(owner) || isAlive(owner)) continue;
        const pidsFile = join(dir, 'pids');
        if (existsSync(pidsFile)) {
          for (const line of readFileSync(pidsFile, 'utf8').split('\n')) {
            const pid = Number.parseInt(line, 10);
            if (Number.isInteger(pid) && processMatches(pid, dir)) process.kill(pid, 'SIGKILL');
          }
        }
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // not ours, or raced with its owner: leave it
      }
    }
  }
}


/** The control-plane binaries: the option, else $GPUVM_CONTROL_PLANE_BIN, else scripts/build-control-plane.sh (cached build). */
export async function resolveBinDir(binDir?: string): Promise<string> {
  const dir = binDir ?? process.env[BIN_DIR_ENV] ?? (await runBuildScript());
  for (const binary of ['etcd', 'kube-apiserver', 'kubectl']) {
    try {
      accessSync(join(dir, binary), constants.X_OK);
    } catch {
      throw new Error(`control plane: ${join(dir, binary)} is missing or not executable (run scripts/build-control-plane.sh)`);
    }
  }
  return resolve(dir);
}

async function runBuildScript(): Promise<string> {
  const script = join(repoRoot, 'scripts', 'build-control-plane.sh');
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      const dir = Buffer.concat(out).toString('utf8').trim().split('\n').pop() ?? '';
      if (code === 0 && dir) resolvePromise(dir);
      else reject(new Error(`control plane: ${script} failed with exit code ${String(code)}`));
    });
  });
}

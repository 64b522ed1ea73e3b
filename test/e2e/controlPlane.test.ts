import { ApiException, AuthenticationV1Api, CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { spawn } from 'node:child_process';
import { startControlPlane, sweepStaleStateDirs } from '../../src/devenv/controlPlane.js';
import { TEST_NAMESPACE_LABEL, kubectl, testKubeConfig, testKubeconfigPath, useTestNamespace, waitFor } from '../support/cluster.js';
import { isAlive } from '../../src/devenv/processes.js';

const fileStarted = new Date();
const namespace = useTestNamespace('cp');

/** A KubeConfig for the test apiserver that authenticates with `token` instead of the admin's. */
function kubeConfigWithToken(token: string): KubeConfig {
  const admin = testKubeConfig();
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the test kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'c', cluster: cluster.name, user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

async function statusCode(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 200;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    throw error;
  }
}

describe('test namespaces', () => {
  it('gives each test file a fresh, empty, labelled namespace', async () => {
    expect(namespace()).toMatch(/^cp-[0-9a-f]{8}$/);
    const ns = await testKubeConfig().makeApiClient(CoreV1Api).readNamespace({ name: namespace() });
    expect(ns.metadata?.labels?.[TEST_NAMESPACE_LABEL]).toBe('true');
    // creationTimestamp has one-second resolution.
    expect(ns.metadata?.creationTimestamp?.getTime()).toBeGreaterThanOrEqual(Math.floor(fileStarted.getTime() / 1000) * 1000);
    const contents = await kubectl(['get', 'all,configmaps,secrets,serviceaccounts', '-n', namespace(), '-o', 'name']);
    expect(contents).toMatchObject({ code: 0, stdout: '' });
  });

  describe('inside a describe block', () => {
    const inner = useTestNamespace('cp-inner');
    let innerName = '';
    it('gets its own namespace', () => {
      innerName = inner();
      expect(innerName).not.toBe(namespace());
    });
    afterAll(() => expect(innerName).not.toBe(''));
  });

  it('deletes a namespace after its block (it stays Terminating: no namespace controller runs)', async () => {
    const names = await kubectl(['get', 'namespaces', '-l', TEST_NAMESPACE_LABEL, '-o', 'jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\\n"}{end}']);
    const inner = names.stdout.split('\n').find((line) => line.startsWith('cp-inner-'));
    expect(inner).toMatch(/^cp-inner-[0-9a-f]{8} \d{4}-/);
  });
});

describe('the control plane', () => {
  it('serves /readyz and reports the pinned Kubernetes version', async () => {
    const readyz = await kubectl(['get', '--raw', '/readyz?verbose']);
    expect(readyz.code).toBe(0);
    expect(readyz.stdout).toContain('[+]etcd ok');
    expect(readyz.stdout).toContain('[+]poststarthook/rbac/bootstrap-roles ok');
    expect(readyz.stdout).toContain('readyz check passed');
    const version = await testKubeConfig().makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe('v1.35.4');
  });

  it('hands out a kubeconfig that trusts the apiserver CA and authenticates an admin in system:masters', async () => {
    const kubeconfig = parse(readFileSync(testKubeconfigPath(), 'utf8')) as {
      clusters: { cluster: Record<string, unknown> }[];
      users: { user: Record<string, unknown> }[];
    };
    const cluster = kubeconfig.clusters[0]?.cluster ?? {};
    expect(cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(Buffer.from(String(cluster['certificate-authority-data']), 'base64').toString()).toContain('BEGIN CERTIFICATE');
    expect(cluster).not.toHaveProperty('insecure-skip-tls-verify');
    expect(kubeconfig.users[0]?.user.token).toMatch(/^[0-9a-f]{64}$/);

    const whoami = await kubectl(['auth', 'whoami', '-o', 'json']);
    expect(whoami.code).toBe(0);
    const review = JSON.parse(whoami.stdout) as { status: { userInfo: { username: string; groups: string[] } } };
    expect(review.status.userInfo.username).toBe('admin');
    expect(review.status.userInfo.groups).toContain('system:masters');
  });

  it('rejects unknown tokens (401)', async () => {
    const stranger = kubeConfigWithToken('not-a-valid-token');
    expect(await statusCode(() => stranger.makeApiClient(CoreV1Api).listNamespace())).toBe(401);
  });

  it('enforces RBAC: a token user outside system:masters gets only what a RoleBinding grants', async () => {
    const ns = namespace();
    expect(await kubectl(['create', 'serviceaccount', 'reader', '-n', ns])).toMatchObject({ code: 0 });
    // A real bound service-account token, signed with the control plane's service-account key.
    const token = await kubectl(['create', 'token', 'reader', '-n', ns, '--duration=10m']);
    expect(token.code).toBe(0);
    const reader = kubeConfigWithToken(token.stdout.trim());
    const core = reader.makeApiClient(CoreV1Api);

    const review = await reader.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:reader`);
    expect(review.status?.userInfo?.groups).not.toContain('system:masters');

    expect(await statusCode(() => core.listNamespacedConfigMap({ namespace: ns }))).toBe(403);
    expect(await statusCode(() => core.listNamespace())).toBe(403);

    expect(await kubectl(['create', 'role', 'configmap-reader', '-n', ns, '--verb=get,list', '--resource=configmaps'])).toMatchObject({ code: 0 });
    expect(
      await kubectl(['create', 'rolebinding', 'reader', '-n', ns, '--role=configmap-reader', `--serviceaccount=${ns}:reader`]),
    ).toMatchObject({ code: 0 });

    await waitFor(async () => (await statusCode(() => core.listNamespacedConfigMap({ namespace: ns }))) === 200, {
      description: 'the RoleBinding to take effect',
      timeoutMs: 10_000,
    });
    expect(await statusCode(() => core.listNamespacedSecret({ namespace: ns }))).toBe(403);
    expect(await statusCode(() => core.listNamespacedConfigMap({ namespace: 'default' }))).toBe(403);
    expect(await statusCode(() => core.listNamespace())).toBe(403);
  }, 30_000);
});

describe('startControlPlane', () => {
  it('starts a second, independent control plane; stop() is idempotent and leaves no process or state', async () => {
    const plane = await startControlPlane();
    const { pids, stateDir } = plane;
    try {
      expect(plane.timings.readyMs).toBeLessThan(15_000);
      expect(plane.server).not.toBe(testKubeConfig().getCurrentCluster()?.server);
      const namespaces = await plane.kubectl(['get', 'namespace', 'default', '-o', 'name']);
      expect(namespaces).toMatchObject({ code: 0, stdout: 'namespace/default\n' });
      expect(isAlive(pids.apiserver) && isAlive(pids.etcd)).toBe(true);
    } finally {
      await Promise.all([plane.stop(), plane.stop()]);
    }
    await plane.stop();
    expect(isAlive(pids.apiserver)).toBe(false);
    expect(isAlive(pids.etcd)).toBe(false);
    expect(existsSync(stateDir)).toBe(false);
  }, 60_000);

  it('restarts kube-apiserver alone on the same etcd, address and credentials; stop() then leaves nothing', async () => {
    const plane = await startControlPlane();
    const { stateDir } = plane;
    const first = plane.pids;
    try {
      expect(await plane.kubectl(['create', 'configmap', 'kept', '-n', 'default', '--from-literal=k=v'])).toMatchObject({ code: 0 });
      await plane.stopApiserver();
      expect(isAlive(first.apiserver)).toBe(false);
      expect(plane.pids).toEqual({ etcd: first.etcd, apiserver: 0 });
      const down = await plane.kubectl(['get', 'configmap', 'kept', '-n', 'default', '--request-timeout=2s']);
      expect(down.code).not.toBe(0);
      expect(down.stderr).toMatch(/connection refused/);

      const restart = await plane.restartApiserver({ downMs: 200 });
      expect(restart.outageMs).toBeGreaterThanOrEqual(restart.readyMs);
      expect(plane.pids.etcd).toBe(first.etcd);
      expect(plane.pids.apiserver).not.toBe(first.apiserver);
      expect(isAlive(plane.pids.apiserver)).toBe(true);
      // The same kubeconfig (address, CA, admin token) reaches the new apiserver, which serves what etcd kept.
      expect(await plane.kubectl(['get', 'configmap', 'kept', '-n', 'default', '-o', 'jsonpath={.data.k}'])).toMatchObject({ code: 0, stdout: 'v' });
      // The new pid is recorded for out-of-process cleanup like the first ones.
      expect(readFileSync(join(stateDir, 'pids'), 'utf8')).toContain(`${plane.pids.apiserver} kube-apiserver`);
      expect(await plane.startApiserver()).toEqual({ readyMs: 0 });
    } finally {
      await plane.stop();
    }
    const last = plane.pids;
    expect(isAlive(last.apiserver) || isAlive(last.etcd)).toBe(false);
    expect(existsSync(stateDir)).toBe(false);
    await expect(plane.startApiserver()).rejects.toThrow(/after stop/);
  }, 90_000);

  it('fails fast with the log tail and its path when kube-apiserver cannot start, leaving nothing running', async () => {
    const before = runningControlPlanePids();
    const logDir = mkdtempSync(join(tmpdir(), 'gpuvm-cp-test-logs-'));
    try {
      const failure = startControlPlane({ logDir, apiserverArgs: ['--no-such-flag=1'] });
      await expect(failure).rejects.toThrow(/kube-apiserver exited \(code 1[\s\S]*kube-apiserver\.log[\s\S]*unknown flag: --no-such-flag/);
      expect(runningControlPlanePids()).toEqual(before);
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('takes etcd and kube-apiserver down with the Node process that started them, even on SIGKILL', async () => {
    const child = spawn(process.execPath, ['--no-warnings', join(import.meta.dirname, '..', 'support', 'controlPlaneChild.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
        });
        child.once('exit', (code) => reject(new Error(`the child exited early with code ${String(code)}`)));
      });
      const { pids, stateDir } = JSON.parse(line) as { pids: { etcd: number; apiserver: number }; stateDir: string };
      expect(isRunning(pids.apiserver) && isRunning(pids.etcd)).toBe(true);

      child.kill('SIGKILL');
      await waitFor(() => !isRunning(pids.apiserver) && !isRunning(pids.etcd), { timeoutMs: 10_000, description: 'orphans to die' });

      // The state directory of a dead owner is swept by the next start.
      expect(existsSync(stateDir)).toBe(true);
      sweepStaleStateDirs();
      expect(existsSync(stateDir)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('names the missing binary when the binary directory is wrong', async () => {
    await expect(startControlPlane({ binDir: '/nonexistent' })).rejects.toThrow('/nonexistent/etcd is missing or not executable');
  });
});

/** Alive and not a zombie (an orphan that died waits for init to reap it). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/** Pids of kube-apiserver and etcd processes that are children of this jest worker. */
function runningControlPlanePids(): number[] {
  const pids: number[] = [];
  for (const entry of readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/)) {
    const pid = Number(entry);
    if (!pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (/kube-apiserver|etcd/.test(cmd)) pids.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return pids.sort();
}

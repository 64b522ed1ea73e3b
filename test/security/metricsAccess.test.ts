// With --metrics-secure, /metrics answers over HTTPS and only to a bearer token the apiserver authenticates
// (TokenReview) whose user may get /metrics (SubjectAccessReview): the shipped ClusterRole
// gpuvm-controller-metrics-reader grants that.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { applyManifest, kubectl, useTestNamespace } from '../support/cluster.js';
import type { ControllerProcess } from '../support/controllerHarness.js';
import { startListeningController } from '../support/listeningController.js';

const namespace = useTestNamespace('sec-metrics');
const ports = { metrics: 0, health: 0 };
let controller: ControllerProcess | undefined;
const binding = () => `${namespace()}-prometheus`;
const tokens = { reader: '', other: '' };

function get(path: string, authorization?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      // The certificate is self-signed (no --metrics-cert-dir): this test checks who gets in, not the chain.
      { host: '127.0.0.1', port: ports.metrics, path, rejectUnauthorized: false, headers: authorization !== undefined ? { authorization } : {}, timeout: 10_000 },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function token(serviceAccount: string): Promise<string> {
  const r = await kubectl(['-n', namespace(), 'create', 'token', serviceAccount, '--duration', '10m']);
  if (r.code !== 0) throw new Error(`kubectl create token ${serviceAccount}: ${r.stderr}`);
  return r.stdout.trim();
}

beforeAll(async () => {
  const rbac = parseAllDocuments(readFileSync(join(import.meta.dirname, '..', '..', 'manifests', 'rbac.yaml'), 'utf8')).map((d) => d.toJSON() as { kind: string; metadata: { name: string } });
  const reader = rbac.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'gpuvm-controller-metrics-reader');
  if (reader === undefined) throw new Error('manifests/rbac.yaml has no ClusterRole gpuvm-controller-metrics-reader');
  await applyManifest(JSON.stringify(reader));
  await applyManifest(
    [
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'prometheus', namespace: namespace() } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'someone-else', namespace: namespace() } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: binding() },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'gpuvm-controller-metrics-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: namespace() }],
      },
    ]
      .map((o) => JSON.stringify(o))
      .join('\n---\n'),
  );
  tokens.reader = await token('prometheus');
  tokens.other = await token('someone-else');
  const started = await startListeningController(namespace(), ['--metrics-secure']);
  controller = started.controller;
  Object.assign(ports, { metrics: started.metricsPort, health: started.healthPort });
});

afterAll(async () => {
  await controller?.stop();
  await kubectl(['delete', 'clusterrolebinding', binding(), '--ignore-not-found']);
});

test('without a token: 401', async () => {
  expect((await get('/metrics')).status).toBe(401);
});

test('with a token the apiserver does not know: 401', async () => {
  expect((await get('/metrics', 'Bearer not-a-real-token')).status).toBe(401);
  expect((await get('/metrics', `Bearer ${tokens.reader.slice(0, -4)}AAAA`)).status).toBe(401);
});

test('with a ServiceAccount token that has no grant: 403, naming the ClusterRole to bind', async () => {
  const r = await get('/metrics', `Bearer ${tokens.other}`);
  expect(r.status).toBe(403);
  expect(r.body).toContain('gpuvm-controller-metrics-reader');
  expect(r.body).not.toContain(tokens.other);
});

test('with a token bound to gpuvm-controller-metrics-reader: the metrics', async () => {
  const r = await get('/metrics', `Bearer ${tokens.reader}`);
  expect(r.status).toBe(200);
  expect(r.body).toContain('leader_election_master_status');
});

test('plain HTTP gets no metrics', async () => {
  const r = await fetch(`http://127.0.0.1:${ports.metrics}/metrics`).then(
    (res) => res.status,
    () => 'refused',
  );
  expect(r).not.toBe(200);
});

test('no token reaches the logs', () => {
  const logs = controller?.logs() ?? '';
  expect(logs).not.toContain(tokens.reader);
  expect(logs).not.toContain(tokens.other);
});

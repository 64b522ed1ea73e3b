// The Helm chart (manifests/helm/gpuvm-controller) renders the same objects as the kustomize base, so the two
// installs cannot drift; its values change exactly what they say; and `helm install --dry-run=server` is
// accepted by the real API server. helm is built from the Go module proxy (scripts/build-helm.sh) and handed
// over in GPUVM_HELM by scripts/test.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runKubectl, type KubectlResult } from '../../src/devenv/kubectl.js';
import { kubectl, testKubeconfigPath, useTestNamespace } from '../support/cluster.js';

const root = join(import.meta.dirname, '..', '..');
const MANIFESTS = join(root, 'manifests');
const CHART = join(MANIFESTS, 'helm', 'gpuvm-controller');
const RELEASE = 'gpuvm-controller';
const SYSTEM_NAMESPACE = 'gpuvm-system';
const DEPLOYMENT = `Deployment/${SYSTEM_NAMESPACE}/gpuvm-controller`;

/**
 * The documented differences between the chart and the kustomize base (manifests/helm/gpuvm-controller/README.md):
 * - no Namespace object: Helm users pass --namespace/--create-namespace;
 * - Helm's standard labels on every templated object's metadata (never in selectors or pod labels);
 * - the CRDs in the chart's crds/ are crds/ unchanged (Helm never templates crds/), so they lack the
 *   app.kubernetes.io/part-of label kustomize adds.
 */
const HELM_ONLY_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: Json | undefined;
}

const namespace = useTestNamespace('helm');
const workDir = join(root, '.tmp', 'e2e', `helm-${randomBytes(4).toString('hex')}`);

function helmPath(): string {
  const path = process.env.GPUVM_HELM;
  if (!path) throw new Error('GPUVM_HELM is not set: run the tests through scripts/test, which builds helm with scripts/build-helm.sh and exports its path');
  return path;
}

/** helm with the test kubeconfig (it takes kubectl's --kubeconfig flag) and its state kept out of $HOME. */
function helm(args: readonly string[]): Promise<KubectlResult> {
  const env = { ...process.env, HELM_CACHE_HOME: join(workDir, 'cache'), HELM_CONFIG_HOME: join(workDir, 'config'), HELM_DATA_HOME: join(workDir, 'data') };
  return runKubectl(helmPath(), testKubeconfigPath(), args, { env, timeoutMs: 90_000 });
}

async function ok(result: Promise<KubectlResult>, what: string): Promise<string> {
  const r = await result;
  if (r.code !== 0) throw new Error(`${what} failed (${String(r.code)}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function parseDocs(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJSON() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null);
}

const keyOf = (o: K8sObject): string => [o.kind, o.metadata.namespace, o.metadata.name].filter((p) => p !== undefined).join('/');

function byKey(objects: K8sObject[]): Map<string, K8sObject> {
  return new Map(objects.map((o) => [keyOf(o), o]));
}

/** `helm template` with the given --set flags, CRDs included, keyed by kind/namespace/name. */
async function renderChart(set: string[] = [], releaseNamespace = SYSTEM_NAMESPACE): Promise<Map<string, K8sObject>> {
  const args = ['template', RELEASE, CHART, '--namespace', releaseNamespace, '--include-crds', ...set.flatMap((s) => ['--set', s])];
  return byKey(parseDocs(await ok(helm(args), `helm ${args.join(' ')}`)));
}

function withoutLabels(o: K8sObject, keys: readonly string[]): K8sObject {
  const labels = Object.fromEntries(Object.entries(o.metadata.labels ?? {}).filter(([k]) => !keys.includes(k)));
  const { labels: _dropped, ...metadata } = o.metadata;
  return { ...o, metadata: Object.keys(labels).length > 0 ? { ...metadata, labels } : metadata };
}

const show = (v: Json | undefined): string => (v === undefined ? '(absent)' : JSON.stringify(v).slice(0, 300));

/** Every field where a and b differ, as "path: a → b"; arrays of different lengths are one difference. */
function fieldDiffs(a: Json | undefined, b: Json | undefined, path: string): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) return a.flatMap((v, i) => fieldDiffs(v, b[i], `${path}[${String(i)}]`));
  const isMap = (v: Json | undefined): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isMap(a) && isMap(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => fieldDiffs(a[k], b[k], path === '' ? k : `${path}.${k}`));
  }
  return [`${path}: ${show(a)} → ${show(b)}`];
}

/** The differences between two renders, one line per differing object or field, named by kind/namespace/name. */
function diff(before: Map<string, K8sObject>, after: Map<string, K8sObject>): string[] {
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort();
  return keys.flatMap((key) => {
    const a = before.get(key);
    const b = after.get(key);
    if (a === undefined) return [`${key}: only in the second`];
    if (b === undefined) return [`${key}: only in the first`];
    return fieldDiffs(a as Json, b as Json, '').map((d) => `${key} ${d}`);
  });
}

/** Only the paths of the differences, for asserting exactly what an override changes. */
const changedPaths = (before: Map<string, K8sObject>, after: Map<string, K8sObject>): string[] => diff(before, after).map((d) => d.replace(/: .*$/, ''));

function container(objects: Map<string, K8sObject>, key = DEPLOYMENT): { image: string; args: string[] } {
  const deployment = objects.get(key) as unknown as { spec: { template: { spec: { containers: { image: string; args: string[] }[] } } } } | undefined;
  const first = deployment?.spec.template.spec.containers[0];
  if (first === undefined) throw new Error(`${key} has no container`);
  return first;
}

let defaults = new Map<string, K8sObject>();

beforeAll(async () => {
  mkdirSync(workDir, { recursive: true });
  defaults = await renderChart();
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('helm template with default values', () => {
  test("equals `kubectl kustomize manifests/` object for object, except the chart README's documented differences", async () => {
    const base = parseDocs(await ok(kubectl(['kustomize', MANIFESTS]), 'kubectl kustomize manifests/'));
    expect(base.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name)).toEqual([SYSTEM_NAMESPACE]);
    const expected = byKey(
      base.filter((o) => o.kind !== 'Namespace').map((o) => (o.kind === 'CustomResourceDefinition' ? withoutLabels(o, ['app.kubernetes.io/part-of']) : o)),
    );
    const rendered = byKey([...defaults.values()].map((o) => withoutLabels(o, HELM_ONLY_LABELS)));
    expect(diff(expected, rendered)).toEqual([]);
    // Guards against an empty comparison: every kind the base installs is there.
    expect([...new Set([...rendered.values()].map((o) => o.kind))].sort()).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'CustomResourceDefinition',
      'Deployment',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
  });

  test('helm lint --strict passes', async () => {
    const out = await ok(helm(['lint', '--strict', CHART]), 'helm lint --strict');
    expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  test("the chart's crds/ are the repository's crds/ byte for byte", () => {
    for (const file of ['gpuvm.io_edgedevices.yaml', 'gpuvm.io_gpuvms.yaml']) {
      expect({ file, same: readFileSync(join(CHART, 'crds', file), 'utf8') === readFileSync(join(root, 'crds', file), 'utf8') }).toEqual({ file, same: true });
    }
  });

  test("Helm's labels are on metadata only: selectors and pod labels are the base's", () => {
    const labels = defaults.get(DEPLOYMENT)?.metadata.labels ?? {};
    expect(labels['app.kubernetes.io/managed-by']).toBe('Helm');
    expect(labels['app.kubernetes.io/instance']).toBe(RELEASE);
    expect(labels['helm.sh/chart']).toBe('gpuvm-controller-0.1.0');
  });
});

describe('values change exactly what they say', () => {
  test('image.digest replaces the tag in the image, and nothing else', async () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const rendered = await renderChart([`image.digest=${digest}`]);
    expect(changedPaths(defaults, rendered)).toEqual([`${DEPLOYMENT} spec.template.spec.containers[0].image`]);
    expect(container(rendered).image).toBe(`ghcr.io/gpuvm/gpuvm-controller@${digest}`);
  });

  test('replicaCount sets spec.replicas only', async () => {
    const rendered = await renderChart(['replicaCount=3']);
    expect(diff(defaults, rendered)).toEqual([`${DEPLOYMENT} spec.replicas: 2 → 3`]);
  });

  test('metrics.secure=false drops --metrics-secure, the token/access review grants and the metrics-reader ClusterRole', async () => {
    const rendered = await renderChart(['metrics.secure=false']);
    expect(changedPaths(defaults, rendered)).toEqual([
      'ClusterRole/gpuvm-controller rules',
      'ClusterRole/gpuvm-controller-metrics-reader',
      `${DEPLOYMENT} spec.template.spec.containers[0].args`,
    ]);
    expect(container(rendered).args).toEqual(container(defaults).args.filter((a) => a !== '--metrics-secure'));
    const rules = (o: K8sObject | undefined): Json | undefined => o?.rules;
    const secureRules = rules(defaults.get('ClusterRole/gpuvm-controller'));
    const plainRules = rules(rendered.get('ClusterRole/gpuvm-controller'));
    expect(Array.isArray(secureRules) && Array.isArray(plainRules) ? secureRules.slice(0, plainRules.length) : 'no rules').toEqual(plainRules);
    expect(JSON.stringify(plainRules)).not.toMatch(/tokenreviews|subjectaccessreviews/);
  });

  test('networkPolicy.enabled=false removes the NetworkPolicy only', async () => {
    const rendered = await renderChart(['networkPolicy.enabled=false']);
    expect(diff(defaults, rendered)).toEqual([`NetworkPolicy/${SYSTEM_NAMESPACE}/gpuvm-controller: only in the first`]);
  });

  test('singleNamespace and leader-election timings become flags; the release namespace moves every namespaced object', async () => {
    const rendered = await renderChart(['singleNamespace=true', 'leaderElection.leaseDuration=30s', 'extraArgs={--sync-period=5m}'], 'ops');
    const args = container(rendered, 'Deployment/ops/gpuvm-controller').args;
    expect(args).toEqual([...container(defaults).args.slice(0, 2), '--leader-elect-lease-duration=30s', ...container(defaults).args.slice(2), '--namespace=ops', '--sync-period=5m']);
    const namespaced = [...rendered.values()].filter((o) => o.metadata.namespace !== undefined);
    expect(new Set(namespaced.map((o) => o.metadata.namespace))).toEqual(new Set(['ops']));
    const subjects = [...rendered.values()].flatMap((o) => (Array.isArray(o.subjects) ? o.subjects : []));
    expect(subjects).toHaveLength(3);
    expect(subjects.every((s) => typeof s === 'object' && s !== null && !Array.isArray(s) && s.namespace === 'ops')).toBe(true);
  });

  test('a metrics.bindAddress that does not end with the metrics port is refused', async () => {
    const result = await helm(['template', RELEASE, CHART, '--namespace', SYSTEM_NAMESPACE, '--set', 'metrics.bindAddress=:9443']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('metrics.bindAddress ":9443" must end with :8443 (metrics.port)');
  });
});

describe('against the API server', () => {
  // --take-ownership: the run's other tests may have applied the kustomize base's cluster-scoped RBAC; without it
  // helm refuses objects it does not own. A dry run writes nothing either way.
  const install = (extra: string[]) =>
    helm(['install', RELEASE, CHART, '--namespace', namespace(), '--dry-run=server', '--take-ownership', ...extra]);

  test('helm install --dry-run=server is accepted', async () => {
    const out = await ok(install([]), 'helm install --dry-run=server');
    expect(out).toMatch(/STATUS: pending-install/);
    expect(out).toContain(`kind: Deployment`);
    // Nothing was installed: the release and its namespaced objects do not exist.
    expect((await kubectl(['get', 'deployment,serviceaccount', '-n', namespace(), '-o', 'name'])).stdout.trim()).toBe('');
  });

  test('the rendered objects pass the API server’s own validation (kubectl apply --dry-run=server)', async () => {
    const manifest = await ok(helm(['template', RELEASE, CHART, '--namespace', namespace()]), 'helm template');
    const out = await ok(kubectl(['apply', '--dry-run=server', '-f', '-'], { input: manifest }), 'kubectl apply --dry-run=server');
    expect(out).toContain('deployment.apps/gpuvm-controller created (server dry run)');
  });

  test('the dry run reads the cluster: without --take-ownership, an object the release does not own is refused', async () => {
    await ok(kubectl(['create', 'serviceaccount', 'gpuvm-controller', '-n', namespace()]), 'kubectl create serviceaccount');
    const result = await helm(['install', RELEASE, CHART, '--namespace', namespace(), '--dry-run=server']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`ServiceAccount "gpuvm-controller" in namespace "${namespace()}" exists and cannot be imported into the current release`);
  });

  // helm's own dry run does not validate field types; the API server's does.
  test('a value of the wrong type is refused by the API server', async () => {
    const manifest = await ok(helm(['template', RELEASE, CHART, '--namespace', namespace(), '--set-string', 'replicaCount=two']), 'helm template');
    const result = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: manifest });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/replicas/);
  });
});

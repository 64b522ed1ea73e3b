// The kustomize install (manifests/): rendered and checked, accepted by the apiserver (server-side dry run),
// and its RBAC proven least-privilege: the controller runs end to end as the ServiceAccount (a TokenRequest
// token in its own kubeconfig), with device Secrets in its own namespace and a GpuVm in a tenant namespace
// bound by the tenant-secrets component, and that identity is refused what the controller never needs: no
// Secret of any other namespace can be read.
import { ApiException, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { GPUVM_PLURAL, GROUP, VERSION, type GpuVm } from '../../src/api/types.js';
import { LEADER_ELECTION_LEASE_NAME } from '../../src/runtime/leaderElection.js';
import { runKubectl, type KubectlResult } from '../../src/devenv/kubectl.js';
import { applyManifest, kubectl, testKubeConfig, useTestNamespace, waitFor } from '../support/cluster.js';
import { ControllerProcess } from '../support/controllerHarness.js';
import { LINUX_IMAGE, TEST_PASSWORD, deviceManifests, gpuVmManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getGpuVm } from '../support/objects.js';

const root = join(import.meta.dirname, '..', '..');
const MANIFESTS = join(root, 'manifests');
const SYSTEM_NAMESPACE = 'gpuvm-system';
const SA = 'gpuvm-controller';
const SA_USER = `system:serviceaccount:${SYSTEM_NAMESPACE}:${SA}`;
const POD = 'gpuvm-controller-7d9f8-sa-test';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string | number } };
  readinessProbe: { httpGet: { path: string; port: string | number } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Record<string, unknown>;
}
interface Deployment extends K8sObject {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; securityContext: Record<string, unknown>; containers: Container[] } };
  };
}

const namespace = useTestNamespace('install');
const otherNamespace = useTestNamespace('install-other');
/** Stands in for gpuvm-system: the controller namespace, holding the device Secrets. */
const controllerNamespace = useTestNamespace('install-ctrl');
const sim = useSimulator({ devices: [{ name: 'sim-a', gpus: 2, softwareVersion: '2.2.2309.1000', images: [LINUX_IMAGE] }] });
const workDir = join(root, '.tmp', 'e2e', `install-${randomBytes(4).toString('hex')}`);

function parseDocs(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJSON() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null);
}

async function ok(result: Promise<KubectlResult>, what: string): Promise<string> {
  const r = await result;
  if (r.code !== 0) throw new Error(`${what} failed (${String(r.code)}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function kustomize(dir: string): Promise<K8sObject[]> {
  return parseDocs(await ok(kubectl(['kustomize', dir]), `kubectl kustomize ${dir}`));
}

/** A kustomization in workDir: the base plus the single-namespace component (kustomize wants relative paths). */
function singleNamespaceVariant(): string {
  const dir = join(workDir, 'single-namespace');
  mkdirSync(dir, { recursive: true });
  const base = relative(dir, MANIFESTS);
  writeFileSync(join(dir, 'kustomization.yaml'), stringify({ resources: [base], components: [`${base}/components/single-namespace`] }));
  return dir;
}

/** A namespace admin's kustomization: the tenant-secrets component in `tenant`. */
function tenantVariant(tenant: string): string {
  const dir = join(workDir, `tenant-${tenant}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kustomization.yaml'), stringify({ namespace: tenant, components: [`${relative(dir, MANIFESTS)}/components/tenant-secrets`] }));
  return dir;
}

const find = (docs: K8sObject[], kind: string, name: string): K8sObject => {
  const found = docs.find((d) => d.kind === kind && d.metadata.name === name);
  if (found === undefined) throw new Error(`${kind}/${name} is not in the kustomize output (${docs.map((d) => `${d.kind}/${d.metadata.name}`).join(', ')})`);
  return found;
};

let base: K8sObject[] = [];

beforeAll(async () => {
  mkdirSync(workDir, { recursive: true });
  base = await kustomize(MANIFESTS);
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

describe('kustomize output', () => {
  test('every kind of the install, the CRDs from crds/ unchanged, all namespaced objects in gpuvm-system', () => {
    const names = base.map((d) => `${d.kind}/${d.metadata.name}`).sort();
    expect(names).toEqual(
      [
        'ClusterRole/gpuvm-controller',
        'ClusterRole/gpuvm-controller-metrics-reader',
        'ClusterRole/gpuvm-controller-tenant-secrets',
        'ClusterRoleBinding/gpuvm-controller',
        'Role/gpuvm-controller-secrets',
        'RoleBinding/gpuvm-controller-secrets',
        'CustomResourceDefinition/edgedevices.gpuvm.io',
        'CustomResourceDefinition/gpuvms.gpuvm.io',
        'Deployment/gpuvm-controller',
        'Namespace/gpuvm-system',
        'NetworkPolicy/gpuvm-controller',
        'PodDisruptionBudget/gpuvm-controller',
        'Role/gpuvm-controller-leader-election',
        'RoleBinding/gpuvm-controller-leader-election',
        'Service/gpuvm-controller-metrics',
        'ServiceAccount/gpuvm-controller',
      ].sort(),
    );
    for (const file of ['gpuvm.io_edgedevices.yaml', 'gpuvm.io_gpuvms.yaml']) {
      const crd = parse(readFileSync(join(root, 'crds', file), 'utf8')) as K8sObject;
      const rendered = find(base, 'CustomResourceDefinition', crd.metadata.name);
      // kustomize adds the part-of label; the rest is the file as written.
      expect({ ...rendered, metadata: { ...rendered.metadata, labels: undefined } }).toEqual({ ...crd, metadata: { ...crd.metadata, labels: undefined } });
    }
    const clusterScoped = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding']);
    for (const d of base) {
      if (clusterScoped.has(d.kind)) expect({ object: `${d.kind}/${d.metadata.name}`, namespace: d.metadata.namespace }).toEqual({ object: `${d.kind}/${d.metadata.name}`, namespace: undefined });
      else expect({ object: `${d.kind}/${d.metadata.name}`, namespace: d.metadata.namespace }).toEqual({ object: `${d.kind}/${d.metadata.name}`, namespace: SYSTEM_NAMESPACE });
    }
  });

  test('crds/ is included through crds/Kustomization; every crds/*.yaml stays a CRD (the demo applies them all)', () => {
    const files = readdirSync(join(root, 'crds')).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
    for (const file of files) expect({ file, kind: (parse(readFileSync(join(root, 'crds', file), 'utf8')) as K8sObject).kind }).toEqual({ file, kind: 'CustomResourceDefinition' });
    expect(base.filter((d) => d.kind === 'CustomResourceDefinition')).toHaveLength(files.length);
  });

  test('Deployment: 2 replicas with leader election, probes, ports, resources, downward API, restricted security context', () => {
    const deployment = find(base, 'Deployment', 'gpuvm-controller') as Deployment;
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(SA);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0] as Container;
    expect(c.image).toBe('ghcr.io/gpuvm/gpuvm-controller:0.1.0');
    expect(c.args[0]).toBe('run');
    expect(c.args).toEqual(expect.arrayContaining(['--leader-elect', '--metrics-bind-address=:8443', '--metrics-secure', '--health-probe-bind-address=:8081']));
    expect(c.ports).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'metrics', containerPort: 8443 }), expect.objectContaining({ name: 'health', containerPort: 8081 })]));
    const healthPort = (port: string | number) => (typeof port === 'number' ? port : c.ports.find((p) => p.name === port)?.containerPort);
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(healthPort(c.livenessProbe.httpGet.port)).toBe(8081);
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(healthPort(c.readinessProbe.httpGet.port)).toBe(8081);
    expect(Object.keys(c.resources.requests).sort()).toEqual(['cpu', 'memory']);
    expect(Object.keys(c.resources.limits).sort()).toEqual(['cpu', 'memory']);
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ]),
    );
  });

  test('the NetworkPolicy admits ingress only to the metrics and probe ports, and selects the controller pods', () => {
    const policy = find(base, 'NetworkPolicy', 'gpuvm-controller') as K8sObject & { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: { from?: unknown; ports: { port: string }[] }[] } };
    const deployment = find(base, 'Deployment', 'gpuvm-controller') as Deployment;
    expect(deployment.spec.template.metadata.labels).toMatchObject(policy.spec.podSelector.matchLabels);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress.flatMap((i) => i.ports.map((p) => p.port)).sort()).toEqual(['health', 'metrics']);
    const named = new Set(deployment.spec.template.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)));
    for (const port of ['health', 'metrics']) expect(named.has(port)).toBe(true);
  });

  test('a release that sets an image digest runs exactly that image', async () => {
    const dir = join(workDir, 'digest');
    mkdirSync(dir, { recursive: true });
    const digest = `sha256:${'ab'.repeat(32)}`;
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      stringify({ resources: [relative(dir, MANIFESTS)], images: [{ name: 'ghcr.io/gpuvm/gpuvm-controller', digest }] }),
    );
    const docs = await kustomize(dir);
    expect((find(docs, 'Deployment', 'gpuvm-controller') as Deployment).spec.template.spec.containers[0]?.image).toBe(`ghcr.io/gpuvm/gpuvm-controller@${digest}`);
  });

  test('metrics Service and PodDisruptionBudget select the controller pods', () => {
    const labels = (find(base, 'Deployment', 'gpuvm-controller') as Deployment).spec.template.metadata.labels;
    const service = find(base, 'Service', 'gpuvm-controller-metrics') as K8sObject & { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] } };
    expect(labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports).toEqual([expect.objectContaining({ name: 'metrics', port: 8443, targetPort: 'metrics' })]);
    const pdb = find(base, 'PodDisruptionBudget', 'gpuvm-controller') as K8sObject & { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } };
    expect(pdb.spec.minAvailable).toBe(1);
    expect(labels).toMatchObject(pdb.spec.selector.matchLabels);
  });

  test('RBAC: exactly the rules the controller needs, no wildcards, Secrets and Leases only in gpuvm-system', () => {
    const rules = (kind: string, name: string) => (find(base, kind, name) as K8sObject & { rules: PolicyRule[] }).rules;
    expect(rules('ClusterRole', 'gpuvm-controller')).toEqual([
      { apiGroups: ['gpuvm.io'], resources: ['gpuvms', 'edgedevices'], verbs: ['get', 'list', 'watch', 'update', 'patch'] },
      { apiGroups: ['gpuvm.io'], resources: ['gpuvms/status', 'edgedevices/status'], verbs: ['update', 'patch'] },
      { apiGroups: ['gpuvm.io'], resources: ['gpuvms/finalizers', 'edgedevices/finalizers'], verbs: ['update'] },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ]);
    expect(rules('ClusterRole', 'gpuvm-controller-metrics-reader')).toEqual([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
    expect(rules('Role', 'gpuvm-controller-secrets')).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }]);
    expect(rules('ClusterRole', 'gpuvm-controller-tenant-secrets')).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]);
    // Nothing binds Secret access cluster-wide: the only ClusterRoleBinding's role has no Secret rule.
    const clusterBindings = base.filter((d) => d.kind === 'ClusterRoleBinding') as (K8sObject & { roleRef: { name: string } })[];
    expect(clusterBindings.map((b) => b.roleRef.name)).toEqual(['gpuvm-controller']);
    expect(rules('ClusterRole', 'gpuvm-controller').some((r) => r.resources.includes('secrets'))).toBe(false);
    expect(find(base, 'RoleBinding', 'gpuvm-controller-secrets')).toMatchObject({ metadata: { namespace: SYSTEM_NAMESPACE }, roleRef: { kind: 'Role', name: 'gpuvm-controller-secrets' } });
    expect(rules('Role', 'gpuvm-controller-leader-election')).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'list', 'delete'] }]);
    for (const d of base.filter((x) => x.kind.endsWith('Binding'))) {
      expect((d as K8sObject & { subjects: unknown[] }).subjects).toEqual([{ kind: 'ServiceAccount', name: SA, namespace: SYSTEM_NAMESPACE }]);
    }
  });

  test('the single-namespace component: GpuVms in gpuvm-system only, Secrets still readable there only', async () => {
    const docs = await kustomize(singleNamespaceVariant());
    expect(docs.filter((d) => d.kind === 'ClusterRoleBinding').map((d) => d.metadata.name)).toEqual(['gpuvm-controller']);
    expect(find(docs, 'RoleBinding', 'gpuvm-controller-secrets')).toMatchObject({ metadata: { namespace: SYSTEM_NAMESPACE }, roleRef: { kind: 'Role', name: 'gpuvm-controller-secrets' } });
    expect((find(docs, 'Deployment', 'gpuvm-controller') as Deployment).spec.template.spec.containers[0]?.args).toContain(`--namespace=${SYSTEM_NAMESPACE}`);
  });

  test("the tenant-secrets component: a RoleBinding in the tenant's namespace for the controller's ServiceAccount", async () => {
    const docs = await kustomize(tenantVariant('team-a'));
    expect(docs).toEqual([
      expect.objectContaining({
        kind: 'RoleBinding',
        metadata: expect.objectContaining({ name: 'gpuvm-controller-tenant-secrets', namespace: 'team-a' }) as unknown,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'gpuvm-controller-tenant-secrets' },
        subjects: [{ kind: 'ServiceAccount', name: SA, namespace: SYSTEM_NAMESPACE }],
      }),
    ]);
  });
});

describe('against the apiserver', () => {
  beforeAll(async () => {
    // Server-side dry runs of namespaced objects need their namespace to exist.
    await applyManifest(stringify(find(base, 'Namespace', SYSTEM_NAMESPACE)));
  });

  test('kubectl apply -k manifests/ --dry-run=server is accepted (base and the single-namespace variant)', async () => {
    const out = await ok(kubectl(['apply', '-k', MANIFESTS, '--dry-run=server']), 'kubectl apply -k manifests/ --dry-run=server');
    for (const d of base) expect(out).toContain(`${d.metadata.name}`);
    expect(out).toMatch(/deployment\.apps\/gpuvm-controller (created|configured|unchanged) \(server dry run\)/);
    await ok(kubectl(['apply', '-k', singleNamespaceVariant(), '--dry-run=server']), 'dry run of the single-namespace variant');
  });

  describe('RBAC as the ServiceAccount', () => {
    let saKubeconfig = '';
    let controller: ControllerProcess | undefined;
    const asController = (args: string[]) => runKubectl(process.env.GPUVM_TEST_KUBECTL ?? 'kubectl', saKubeconfig, args);
    const canI = async (...args: string[]) => (await asController(['auth', 'can-i', ...args])).stdout.trim();

    const tenantBinding = async () => stringify((await kustomize(tenantVariant(namespace())))[0]);

    beforeAll(async () => {
      // The base install's RBAC, for real, with the device-Secret Role moved to this test's controller namespace,
      // and the tenant-secrets component applied in the GpuVms' namespace, as its admin would.
      const rbacKinds = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
      const rbac = base
        .filter((d) => rbacKinds.has(d.kind))
        .map((d) => (d.metadata.name === 'gpuvm-controller-secrets' ? { ...d, metadata: { ...d.metadata, namespace: controllerNamespace() } } : d));
      await applyManifest(rbac.map((d) => stringify(d)).join('---\n'));
      await applyManifest(await tenantBinding());

      // A token for the ServiceAccount (TokenRequest: there is no token controller) in a kubeconfig of its own.
      const admin = testKubeConfig();
      const token = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
        name: SA,
        namespace: SYSTEM_NAMESPACE,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      });
      const cluster = admin.getCurrentCluster();
      if (cluster === null || token.status?.token === undefined) throw new Error('no cluster in the admin kubeconfig or no token issued');
      const ca = cluster.caData !== undefined ? { 'certificate-authority-data': cluster.caData } : { 'certificate-authority': cluster.caFile };
      saKubeconfig = join(workDir, 'gpuvm-controller.kubeconfig');
      writeFileSync(
        saKubeconfig,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'test', cluster: { server: cluster.server, ...ca } }],
          users: [{ name: SA, user: { token: token.status.token } }],
          contexts: [{ name: SA, context: { cluster: 'test', user: SA, namespace: namespace() } }],
          'current-context': SA,
        }),
        { mode: 0o600 },
      );
    });

    afterAll(async () => {
      await controller?.stop();
      // Cluster-scoped grants are not left behind for other tests of this run.
      await kubectl(['delete', 'clusterrolebinding', 'gpuvm-controller', '--ignore-not-found']);
    });

    test('the kubeconfig authenticates as the ServiceAccount', async () => {
      const whoami = await ok(asController(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']), 'kubectl auth whoami');
      expect(whoami).toBe(SA_USER);
    });

    test('the controller runs end to end as the ServiceAccount: an EdgeDevice and a GpuVm become Ready; without the tenant RoleBinding a GpuVm waits, and resumes once it is back', async () => {
      const device = `${namespace()}-dev`;
      await applyManifest(deviceManifests(sim(), 'sim-a', namespace(), { name: device, secretNamespace: controllerNamespace() }));
      await applyManifest(gpuVmManifests({ name: 'vm1', device }), { namespace: namespace() });
      // As in the Deployment: --leader-elect, the Lease in the default namespace (gpuvm-system outside a pod).
      controller = new ControllerProcess({
        namespace: namespace(),
        controllerNamespace: controllerNamespace(),
        kubeconfig: saKubeconfig,
        args: ['--leader-elect'],
        env: { POD_NAME: POD, POD_NAMESPACE: SYSTEM_NAMESPACE },
      });
      await controller.start();
      const lease = await waitFor(
        async () => {
          const l = await testKubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: SYSTEM_NAMESPACE, name: LEADER_ELECTION_LEASE_NAME });
          return l.spec?.holderIdentity?.startsWith(POD) === true ? l : undefined;
        },
        { description: `the ServiceAccount's controller to hold the Lease ${SYSTEM_NAMESPACE}/${LEADER_ELECTION_LEASE_NAME}` },
      );
      expect(lease.metadata?.namespace).toBe(SYSTEM_NAMESPACE);

      const wait = await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/vm1', '--timeout=55s']);
      expect({ code: wait.code, out: wait.code === 0 ? '' : `${wait.stdout}${wait.stderr}\n${controller.tail(20)}` }).toEqual({ code: 0, out: '' });
      expect((await kubectl(['wait', '--for=condition=Ready', `edev/${device}`, '--timeout=30s'])).code).toBe(0);

      const vm = (await testKubeConfig()
        .makeApiClient(CustomObjectsApi)
        .getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace: namespace(), name: 'vm1' })) as GpuVm;
      expect(vm.metadata.finalizers?.length).toBeGreaterThan(0);
      expect(vm.status?.vm?.ipAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

      // Its Events were written by the ServiceAccount through events.k8s.io/v1.
      await waitFor(
        async () => {
          const events = (await testKubeConfig()
            .makeApiClient(CustomObjectsApi)
            .listNamespacedCustomObject({ group: 'events.k8s.io', version: 'v1', plural: 'events', namespace: namespace() })) as { items: { regarding: { name: string } }[] };
          return events.items.some((e) => e.regarding.name === 'vm1');
        },
        { description: 'Events for vm1' },
      );

      // Deleting goes through the finalizer (update on gpuvms/finalizers) without help from the admin.
      const deleted = await kubectl(['delete', '-n', namespace(), 'gvm/vm1', '--timeout=60s']);
      expect({ code: deleted.code, out: deleted.code === 0 ? '' : `${deleted.stderr}\n${controller.tail(20)}` }).toEqual({ code: 0, out: '' });

      // Nothing it tried so far was refused.
      expect(controller.logs()).not.toMatch(/forbidden|\b403\b/i);

      // Without the tenant RoleBinding the admin Secret's GET is refused (403): a clear condition, no ARM write ...
      await ok(kubectl(['delete', 'rolebinding', 'gpuvm-controller-tenant-secrets', '-n', namespace()]), 'deleting the tenant RoleBinding');
      await waitFor(async () => (await canI('get', 'secrets', '-n', namespace())) === 'no', { description: 'the tenant RoleBinding to be gone' });
      const since = sim().audit().at(-1)?.seq ?? 0;
      await applyManifest(gpuVmManifests({ name: 'vm2', device }), { namespace: namespace() });
      const refused = await waitFor(async () => {
        const g = await getGpuVm(namespace(), 'vm2');
        return conditionOf(g, 'VmProvisioned')?.reason === 'SecretForbidden' ? g : undefined;
      }, { description: 'vm2 VmProvisioned=False SecretForbidden' });
      expect(conditionOf(refused, 'VmProvisioned')?.message).toMatch(
        new RegExp(`may not read Secret ${namespace()}/vm2-admin \\(spec\\.adminCredentialsSecretRef\\): grant it in namespace ${namespace()} with a RoleBinding of ClusterRole gpuvm-controller-tenant-secrets`),
      );
      expect(sim().audit({ since }).filter((e) => e.method !== 'GET' && e.operation !== 'token' && !e.operation.startsWith('identity'))).toEqual([]);
      // ... and once the namespace's admin binds it again, the GpuVm resumes on its own (Secrets are not watched:
      // the Secret retry backoff, at most 30 s, brings it back).
      const rebound = Date.now();
      await applyManifest(await tenantBinding());
      const resumed = await kubectl(['wait', '-n', namespace(), '--for=condition=Ready', 'gvm/vm2', '--timeout=75s']);
      expect({ code: resumed.code, out: resumed.code === 0 ? '' : `${resumed.stdout}${resumed.stderr}\n${controller.tail(20)}` }).toEqual({ code: 0, out: '' });
      process.stdout.write(`vm2 Ready ${Date.now() - rebound} ms after the tenant RoleBinding came back\n`);
      expect((await kubectl(['delete', '-n', namespace(), 'gvm/vm2', '--timeout=60s'])).code).toBe(0);

      // SIGTERM releases the Lease (an update the Role allows).
      await controller.stop();
      expect(controller.logs()).toMatch(/released leader lease/);
      // No secret leaked into its logs.
      expect(controller.logs()).not.toContain(TEST_PASSWORD);
    });

    test('granted: what the controller uses', async () => {
      const ns = namespace();
      const granted: string[][] = [
        ['list', 'gpuvms.gpuvm.io', '--all-namespaces'],
        ['watch', 'edgedevices.gpuvm.io'],
        ['patch', 'gpuvms.gpuvm.io', '--subresource=status', '-n', ns],
        ['update', 'edgedevices.gpuvm.io', '--subresource=status'],
        ['update', 'gpuvms.gpuvm.io', '--subresource=finalizers', '-n', ns],
        ['create', 'events.events.k8s.io', '-n', ns],
        ['create', 'events.events.k8s.io', '-n', 'default'],
        ['watch', 'secrets', '-n', controllerNamespace()],
        ['get', 'secrets', '-n', ns],
        ['update', 'leases.coordination.k8s.io', '-n', SYSTEM_NAMESPACE],
        // --sharding lists the replicas' shard Leases and deletes a crashed replica's.
        ['list', 'leases.coordination.k8s.io', '-n', SYSTEM_NAMESPACE],
        ['delete', 'leases.coordination.k8s.io', '-n', SYSTEM_NAMESPACE],
        // --metrics-secure checks each scrape's token.
        ['create', 'tokenreviews.authentication.k8s.io'],
        ['create', 'subjectaccessreviews.authorization.k8s.io'],
      ];
      for (const args of granted) expect({ args, answer: await canI(...args) }).toEqual({ args, answer: 'yes' });
    });

    test('denied: everything else (CRDs, deletes, creates, Secrets elsewhere, writes to Secrets, Leases elsewhere, pods)', async () => {
      const ns = namespace();
      const denied: string[][] = [
        ['delete', 'customresourcedefinitions'],
        ['create', 'customresourcedefinitions'],
        ['delete', 'gpuvms.gpuvm.io', '-n', ns],
        ['create', 'gpuvms.gpuvm.io', '-n', ns],
        ['delete', 'edgedevices.gpuvm.io'],
        ['create', 'edgedevices.gpuvm.io'],
        ['get', 'secrets', '-n', otherNamespace()],
        ['get', 'secrets', '-n', 'kube-system'],
        ['get', 'secrets', '-n', SYSTEM_NAMESPACE],
        ['list', 'secrets', '-n', ns],
        ['watch', 'secrets', '-n', ns],
        ['list', 'secrets', '-n', 'kube-system'],
        ['list', 'secrets', '--all-namespaces'],
        ['delete', 'secrets', '-n', ns],
        ['create', 'secrets', '-n', ns],
        ['update', 'secrets', '-n', ns],
        ['update', 'secrets', '-n', controllerNamespace()],
        ['create', 'pods', '-n', ns],
        ['create', 'pods', '-n', SYSTEM_NAMESPACE],
        ['get', 'configmaps', '-n', SYSTEM_NAMESPACE],
        ['create', 'leases.coordination.k8s.io', '-n', ns],
        ['list', 'leases.coordination.k8s.io', '-n', ns],
        ['delete', 'leases.coordination.k8s.io', '-n', ns],
        ['watch', 'leases.coordination.k8s.io', '-n', SYSTEM_NAMESPACE],
        ['patch', 'leases.coordination.k8s.io', '-n', SYSTEM_NAMESPACE],
        ['deletecollection', 'leases.coordination.k8s.io', '-n', SYSTEM_NAMESPACE],
        ['delete', 'events.events.k8s.io', '-n', ns],
        ['create', 'clusterrolebindings'],
        ['impersonate', 'serviceaccounts'],
        ['*', '*'],
      ];
      for (const args of denied) expect({ args, answer: await canI(...args) }).toEqual({ args, answer: 'no' });

      // And really refused by the apiserver, not only by can-i's review.
      await applyManifest(stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'elsewhere' }, stringData: { password: 'x' } }), { namespace: otherNamespace() });
      const forbidden = async (args: string[], input?: string) => {
        const r = await runKubectl(process.env.GPUVM_TEST_KUBECTL ?? 'kubectl', saKubeconfig, args, input !== undefined ? { input } : {});
        expect({ args, code: r.code, forbidden: /forbidden/i.test(r.stderr) }).toEqual({ args, code: 1, forbidden: true });
      };
      await forbidden(['get', 'secret', 'elsewhere', '-n', otherNamespace()]);
      await forbidden(['delete', 'secret', `${ns}-dev-arm`, '-n', controllerNamespace()]);
      // The controller's own client, as it reads an admin Secret: a 403 from the apiserver for the unrelated one.
      const sa = new KubeConfig();
      sa.loadFromFile(saKubeconfig);
      const status = await sa
        .makeApiClient(CoreV1Api)
        .readNamespacedSecret({ namespace: otherNamespace(), name: 'elsewhere' })
        .then(() => 200, (e: unknown) => (e instanceof ApiException ? e.code : -1));
      expect(status).toBe(403);
      await forbidden(['delete', 'crd', 'gpuvms.gpuvm.io']);
      await forbidden(['create', '-n', ns, '-f', '-'], stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }));
      expect((await kubectl(['get', 'crd', 'gpuvms.gpuvm.io'])).code).toBe(0);
      expect((await kubectl(['get', 'secret', `${ns}-dev-arm`, '-n', controllerNamespace()])).code).toBe(0);
    });

    test('Leases: get, create, update, list and delete in gpuvm-system only', async () => {
      const sa = new KubeConfig();
      sa.loadFromFile(saKubeconfig);
      const leases = sa.makeApiClient(CoordinationV1Api);
      const name = `rbac-probe-${randomBytes(3).toString('hex')}`;
      const body = { metadata: { name }, spec: { holderIdentity: 'test', leaseDurationSeconds: 15 } };
      const created = await leases.createNamespacedLease({ namespace: SYSTEM_NAMESPACE, body });
      const read = await leases.readNamespacedLease({ namespace: SYSTEM_NAMESPACE, name });
      await leases.replaceNamespacedLease({ namespace: SYSTEM_NAMESPACE, name, body: { ...read, spec: { ...read.spec, holderIdentity: 'other' } } });
      expect(created.metadata?.name).toBe(name);
      const code = async (p: Promise<unknown>) => p.then(() => 0, (e: unknown) => (e instanceof ApiException ? e.code : -1));
      expect(await code(leases.createNamespacedLease({ namespace: namespace(), body }))).toBe(403);
      expect(await code(leases.listNamespacedLease({ namespace: namespace() }))).toBe(403);
      // Sharded mode: the shard Leases are listed by label, and a crashed replica's is deleted only if unchanged.
      const listed = await leases.listNamespacedLease({ namespace: SYSTEM_NAMESPACE });
      expect(listed.items.map((l) => l.metadata?.name)).toContain(name);
      await leases.deleteNamespacedLease({ namespace: SYSTEM_NAMESPACE, name });
      expect(await code(leases.readNamespacedLease({ namespace: SYSTEM_NAMESPACE, name }))).toBe(404);
    });

    test('with the base install applied, no Secret outside the controller namespace and the bound tenant namespace is readable', async () => {
      for (const target of [otherNamespace(), 'kube-system', 'default', SYSTEM_NAMESPACE]) {
        for (const verb of ['get', 'list', 'watch']) expect({ target, verb, answer: await canI(verb, 'secrets', '-n', target) }).toEqual({ target, verb, answer: 'no' });
      }
    });
  });
});

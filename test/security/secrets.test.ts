// Secrets and trust: an EdgeDevice cannot make the controller use a Secret outside the controller's namespace,
// cannot send the controller's own Azure identity to an authority of its choosing, and a CA bundle that is not a
// certificate is refused by name. Real parts: the controller process, the apiserver, the simulator over HTTPS,
// and a local HTTPS listener standing in for a foreign authority.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { edgeDeviceManifests } from '../../src/simulator/edgeDeviceManifests.js';
import { createCertificateAuthority } from '../../src/tls/certificateAuthority.js';
import { applyManifest, useTestNamespace, waitFor } from '../support/cluster.js';
import { ControllerProcess, TEST_DEVICE_LABEL } from '../support/controllerHarness.js';
import { LINUX_IMAGE, useSimulator } from '../support/devices.js';
import { conditionOf, getEdgeDevice } from '../support/objects.js';

/** A tenant's namespace, managed by the first controller, whose own namespace is `system`. */
const tenant = useTestNamespace('sec-tenant');
const system = useTestNamespace('sec-system');
/** The second controller's namespace and controller namespace at once (device Secrets live there). */
const own = useTestNamespace('sec-own');
const sim = useSimulator({
  devices: ['sim-xns', 'sim-authority', 'sim-ca'].map((name) => ({ name, gpus: 1, images: [LINUX_IMAGE] })),
});

// The controller's ambient identity (EnvironmentCredential, the first of DefaultAzureCredential's chain): a client
// secret that must reach no authority an EdgeDevice names. Also stored as a Secret so the secrets scan checks it.
const AMBIENT = { AZURE_TENANT_ID: 'ambient-tenant', AZURE_CLIENT_ID: 'ambient-client', AZURE_CLIENT_SECRET: 'Ambient-Identity-Secret-9f2c71' };

/** A local HTTPS "authority" that counts every TCP connection and request it gets. */
const foreign = { server: undefined as Server | undefined, connections: 0, requests: [] as string[], caPem: '', url: '' };
let tenantController: ControllerProcess | undefined;
let controller: ControllerProcess | undefined;

beforeAll(async () => {
  const ca = createCertificateAuthority('foreign authority test CA');
  const leaf = ca.issueServerCertificate(['localhost'], ['127.0.0.1']);
  const server = createServer({ key: leaf.privateKeyPem, cert: leaf.certificatePem }, (req, res) => {
    foreign.requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    res.writeHead(500).end();
  });
  server.on('connection', () => foreign.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  foreign.server = server;
  foreign.caPem = ca.certificatePem;
  foreign.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  await applyManifest(stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ambient-identity' }, stringData: { clientSecret: AMBIENT.AZURE_CLIENT_SECRET } }), {
    namespace: own(),
  });
  tenantController = new ControllerProcess({ namespace: tenant(), controllerNamespace: system() });
  controller = new ControllerProcess({ namespace: own(), controllerNamespace: own(), env: AMBIENT });
  await Promise.all([tenantController.start(), controller.start()]);
});

afterAll(async () => {
  await Promise.all([tenantController?.stop(), controller?.stop()]);
  await new Promise<void>((resolve) => (foreign.server === undefined ? resolve() : foreign.server.close(() => resolve())));
});

type Doc = { kind: string; metadata: { name: string; namespace?: string }; stringData?: Record<string, string>; spec?: EdgeDeviceSpec };
type EdgeDeviceSpec = { arm: Record<string, unknown>; azure?: Record<string, unknown>; kubernetes: { state: string } };

/** The simulator device's Secrets (in `secretNamespace`) and EdgeDevice, labelled for the controller of `namespace`. */
function device(simDevice: string, name: string, namespace: string, secretNamespace: string): { docs: Doc[]; spec: EdgeDeviceSpec; secret: (suffix: string) => Doc } {
  const docs = edgeDeviceManifests(sim(), simDevice, { name, secretNamespace, labels: { [TEST_DEVICE_LABEL]: namespace } }) as Doc[];
  const edgeDevice = docs.find((d) => d.kind === 'EdgeDevice');
  if (edgeDevice?.spec === undefined) throw new Error('no EdgeDevice in the manifests');
  const spec = edgeDevice.spec;
  const secret = (suffix: string): Doc => {
    const found = docs.find((d) => d.kind === 'Secret' && d.metadata.name.endsWith(suffix));
    if (found === undefined) throw new Error(`no Secret *${suffix}`);
    return found;
  };
  return { docs, spec, secret };
}

const apply = (docs: readonly object[]): Promise<string> => applyManifest(docs.map((d) => stringify(d)).join('---\n'));

async function connectedCondition(name: string, reason: string) {
  return waitFor(
    async () => {
      const c = conditionOf(await getEdgeDevice(name), 'Connected');
      if (c?.reason !== reason) throw new Error(`Connected: ${JSON.stringify(c)}`);
      return c;
    },
    { description: `EdgeDevice ${name} Connected reason ${reason}`, timeoutMs: 30_000 },
  );
}

test("an EdgeDevice naming a Secret outside the controller's namespace: refused by name, and no sign-in is tried with it", async () => {
  const name = `${tenant()}-xns`;
  // Secrets in a tenant's namespace that happen to hold what signs in to the device (an attacker would point at
  // any username/password Secret and a device of their own): the EdgeDevice must not be able to use them.
  const d = device('sim-xns', name, tenant(), tenant());
  await apply(d.docs);

  // The first verdict on the device, whichever it is: from then on nothing may have reached the device.
  await waitFor(async () => conditionOf(await getEdgeDevice(name), 'Connected'), { description: `a Connected condition on ${name}` });
  await new Promise((r) => setTimeout(r, 2000));
  expect(sim().audit({ device: 'sim-xns' }).map((e) => `${e.method} ${e.operation} ${e.status}`)).toEqual([]);
  const c = await connectedCondition(name, 'SecretNamespaceNotAllowed');
  expect(c.status).toBe('False');
  expect(c.message).toBe(
    `spec.arm.credentialsSecretRef.namespace is ${tenant()}: device Secrets are read only from the controller's namespace ${system()}; ` +
      `create Secret ${name}-arm there and set spec.arm.credentialsSecretRef.namespace to ${system()}`,
  );
  expect(sim().audit({ device: 'sim-xns' })).toEqual([]);
});

test("an EdgeDevice naming a foreign Azure authority without credentials: the controller's own identity is not sent there", async () => {
  const name = `${own()}-authority`;
  const d = device('sim-authority', name, own(), own());
  // The foreign authority's CA travels in the device's CA bundle, so a controller that did send would be heard.
  const ca = d.secret('-ca');
  ca.stringData = { 'ca.crt': `${sim().caCertificatePem}\n${foreign.caPem}` };
  const azure = d.spec.azure ?? {};
  delete azure.credentialsSecretRef;
  d.spec.azure = { ...azure, authorityHost: foreign.url };
  d.spec.kubernetes = { state: 'NotConfigured' };
  await apply(d.docs.filter((x) => x.kind !== 'Secret' || !x.metadata.name.endsWith('-azure')));

  // The device itself still connects (its own ADFS, its own Secret) ...
  await connectedCondition(name, 'Connected');
  // ... and whatever the Azure side reports, nothing reached the foreign authority, even seconds later ...
  await waitFor(async () => foreign.connections > 0 || conditionOf(await getEdgeDevice(name), 'KubernetesConfigured')?.reason === 'AzureNotConfigured', {
    description: 'a verdict on the Azure side',
  });
  await new Promise((r) => setTimeout(r, 2000));
  expect({ connections: foreign.connections, requests: foreign.requests }).toEqual({ connections: 0, requests: [] });
  // ... and the condition says why it was not read, naming the field and both fixes.
  const kubernetes = await waitFor(
    async () => {
      const k = conditionOf(await getEdgeDevice(name), 'KubernetesConfigured');
      if (k?.message.includes('authorityHost') !== true) throw new Error(`KubernetesConfigured: ${JSON.stringify(k)}`);
      return k;
    },
    { description: 'the KubernetesConfigured condition to name spec.azure.authorityHost', timeoutMs: 30_000 },
  );
  expect(kubernetes.message).toMatch(
    /^spec\.azure\.authorityHost 127\.0\.0\.1 is not an Azure cloud authority \(login\.microsoftonline\.com, .*\), so the controller's own identity is not sent there: set spec\.azure\.credentialsSecretRef .* or have the operator allow the host with --azure-authority-host$/,
  );
  expect({ connections: foreign.connections, requests: foreign.requests }).toEqual({ connections: 0, requests: [] });
  expect(controller?.logs()).not.toContain(AMBIENT.AZURE_CLIENT_SECRET);
});

test('a CA bundle that is not a certificate: Connected=False SecretInvalid naming the Secret key and the fix, no request to the device; fixing the Secret connects it', async () => {
  const name = `${own()}-ca`;
  const d = device('sim-ca', name, own(), own());
  const ca = d.secret('-ca');
  const good = ca.stringData;
  ca.stringData = { 'ca.crt': '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n' };
  await apply(d.docs);

  const c = await connectedCondition(name, 'SecretInvalid');
  expect(c.message).toBe(
    `Secret ${own()}/${name}-ca key ca.crt (spec.arm.caBundleSecretRef) PEM block 1 is not a parsable X.509 certificate: put the device's root CA certificate(s) there in PEM form`,
  );
  expect(sim().audit({ device: 'sim-ca' })).toEqual([]);

  // The CA Secret is watched (controller namespace): fixing it retries the device at once.
  const fixedAt = Date.now();
  await apply([{ ...ca, stringData: good }]);
  await connectedCondition(name, 'Connected');
  process.stdout.write(`EdgeDevice Connected ${Date.now() - fixedAt} ms after its CA Secret was fixed\n`);
});

// ARM evaluates any template string that starts with "[" and ends with "]" as an expression (ARM template
// syntax: "Template expressions"); a parameter's value is never evaluated. So what a user puts in a Secret
// (sshPublicKey, username) must reach the device only as parameter values: an expression there stays text.
import { stringify } from 'yaml';
import { API_VERSION } from '../../src/api/types.js';
import { applyManifest, useTestNamespace } from '../support/cluster.js';
import { useController } from '../support/controllerHarness.js';
import { LINUX_IMAGE, deviceManifests, useSimulator } from '../support/devices.js';
import { conditionOf, getGpuVm, waitGpuVmReady } from '../support/objects.js';

const namespace = useTestNamespace('sec-inject');
const sim = useSimulator({ devices: [{ name: 'sim-inject', gpus: 2, softwareVersion: '2.2.2309.1000', images: [LINUX_IMAGE] }], auditBodies: true });
useController(namespace);
const device = () => `${namespace()}-dev`;

beforeAll(async () => {
  await applyManifest(deviceManifests(sim(), 'sim-inject', namespace(), { name: device() }));
});

test.each([
  // Evaluated, this names a parameter the template does not declare: the deployment would fail.
  ['an sshPublicKey holding an ARM expression', 'vm-key', { username: 'azureuser', sshPublicKey: "[parameters('notDeclaredAnywhere')]" }],
  ['an sshPublicKey with an expression reading the subscription', 'vm-sub', { username: 'azureuser', sshPublicKey: "[concat('ssh-rsa AAAAB3NzaC1yc2E ', subscription().subscriptionId)]" }],
])('%s is deployed as text, never evaluated', async (_what, name, stringData) => {
  await applyManifest(
    [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-admin` }, stringData },
      {
        apiVersion: API_VERSION,
        kind: 'GpuVm',
        metadata: { name },
        spec: { deviceRef: { name: device() }, size: 'Standard_NC4as_T4_v3', image: LINUX_IMAGE, adminCredentialsSecretRef: { name: `${name}-admin` } },
      },
    ]
      .map((d) => stringify(d))
      .join('---\n'),
    { namespace: namespace() },
  );
  await waitGpuVmReady(namespace(), name, '90s');
  expect(conditionOf(await getGpuVm(namespace(), name), 'VmProvisioned')?.status).toBe('True');
  // The key travelled as a parameter value: no template the controller sent contains it.
  const puts = sim()
    .audit({ device: 'sim-inject' })
    .filter((e) => e.operation === 'deployment.put');
  expect(puts.length).toBeGreaterThan(0);
  for (const put of puts) expect(JSON.stringify(put.body ?? {})).not.toContain('notDeclaredAnywhere');
  for (const put of puts) expect(JSON.stringify(put.body ?? {})).not.toContain('subscription().subscriptionId');
});

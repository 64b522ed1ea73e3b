// Bad input at `kubectl apply`: every invalid GpuVm and EdgeDevice of the shared table (plus the cases only the
// API server can judge: unknown fields, object names, immutable fields) is refused by the real API server with
// a message naming the field, and nothing is stored.
import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION } from '../../src/api/types.js';
import { kubectl, testKubeConfig, useTestNamespace, type KubectlResult } from '../support/cluster.js';
import { listGpuVms } from '../support/objects.js';
import { INVALID_EDGEDEVICES, INVALID_GPUVMS, edgeDevice, gpuVm, type Json } from '../support/invalidManifests.js';

const namespace = useTestNamespace('bad-input');
const api = (): CustomObjectsApi => testKubeConfig().makeApiClient(CustomObjectsApi);
let unique = 0;

/** The table's placeholder name "x" becomes a fresh one; names that are themselves the problem are kept. */
function named(body: Json, prefix: string): Json {
  const metadata = body.metadata as { name: string };
  if (metadata.name !== 'x') return body;
  return { ...body, metadata: { ...metadata, name: `${prefix}-${process.pid}-${++unique}` } };
}

const nameOf = (body: Json): string => (body.metadata as { name: string }).name;
const kindOf = (body: Json): string => body.kind as string;

async function stored(body: Json): Promise<Json | undefined> {
  try {
    if (kindOf(body) === 'GpuVm') {
      return (await api().getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace: namespace(), name: nameOf(body) })) as Json;
    }
    return (await api().getClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, name: nameOf(body) })) as Json;
  } catch (err) {
    // 404, or 400/422 for a name the API server cannot even look up.
    if (err instanceof ApiException && [400, 404, 422].includes(err.code)) return undefined;
    throw err;
  }
}

/**
 * Documents as JSON (valid YAML): kubectl reads YAML 1.1, where a plain `yes` would turn into a boolean, so
 * every value reaches the API server exactly as written here.
 */
const manifest = (docs: Json[]): string => docs.map((d) => JSON.stringify(d)).join('\n---\n');

const apply = (docs: Json[]): Promise<KubectlResult> => kubectl(['apply', '-n', namespace(), '-f', '-'], { input: manifest(docs) });

/** `kubectl apply` as a user would; resolves with kubectl's error output, failing the test if it succeeded. */
async function applyRejected(docs: Json[]): Promise<string> {
  const result = await apply(docs);
  if (result.code === 0) throw new Error(`kubectl apply accepted an invalid object:\n${result.stdout}`);
  return result.stderr;
}

async function expectRejectedAndNotStored(body: Json, field: RegExp): Promise<void> {
  const stderr = await applyRejected([body]);
  expect(stderr).toMatch(field);
  expect(await stored(body)).toBeUndefined();
}

const AZURE_ID = '/subscriptions/0d8a4cf4-7e9b-4c2a-9b7e-2f1f7c3e5a10/resourceGroups/rg/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/dev';

/**
 * Cases outside the shared table because only the API server judges them: unknown fields (kubectl asks for
 * strict field validation; a plain API create would prune them), generic object-name rules and API versions.
 */
const API_SERVER_ONLY: [string, Json, RegExp][] = [
  ['a GpuVm with an unknown spec field', { ...gpuVm('x'), spec: { ...(gpuVm('x').spec as Json), gpuCount: 2 } }, /unknown field "spec\.gpuCount"/],
  ['a GpuVm with a misspelt spec', { ...gpuVm('x'), specs: gpuVm('x').spec }, /unknown field "specs"/],
  ['a GpuVm with the admin password inline', gpuVm('x', { adminCredentialsSecretRef: { name: 'vm1-admin', password: 'Inline-Passw0rd' } }), /unknown field "spec\.adminCredentialsSecretRef\.password"/],
  ['an EdgeDevice with the ARM password inline', edgeDevice('x', {}, { password: 'Inline-Passw0rd' }), /unknown field "spec\.arm\.password"/],
  ['an EdgeDevice with an unknown Azure field', edgeDevice('x', { azure: { resourceId: AZURE_ID, tenantId: 'c0257de7-538f-415c-993a-1b87a031879d' } }), /unknown field "spec\.azure\.tenantId"/],
  ['a GpuVm of an API version that is not served', { ...gpuVm('x'), apiVersion: 'gpuvm.io/v1' }, /no matches for kind "GpuVm" in version "gpuvm\.io\/v1"/],
  ['an EdgeDevice name with capitals', edgeDevice('Dev-A'), /metadata\.name: Invalid value: "Dev-A"/],
  ['an EdgeDevice name longer than 253 characters', edgeDevice(`dev-${'a'.repeat(250)}`), /metadata\.name: Invalid value: .*must be no more than 253 characters/],
  ['a GpuVm name with an underscore', gpuVm('vm_1'), /metadata\.name: Invalid value: "vm_1"/],
  ['a GPU count that is not a whole number', edgeDevice('x', { gpus: 1.5 }), /spec\.gpus: Invalid value: "number"/],
];

/** Updates the `self == oldSelf` rules refuse; each changes one immutable field of a stored GpuVm. */
const IMMUTABLE_CHANGES: [string, Json, RegExp][] = [
  ['size', { size: 'Standard_NC8as_T4_v3' }, /spec\.size: Invalid value: .*spec\.size is immutable: to resize/],
  ['deviceRef', { deviceRef: { name: 'dev-b' } }, /spec\.deviceRef: Invalid value: .*spec\.deviceRef is immutable/],
  ['image name', { image: { name: 'ubuntu2004-gen1', osType: 'Linux', os: { name: 'Ubuntu', version: '18.04' } } }, /spec\.image: Invalid value: .*spec\.image is immutable/],
  ['image osType', { image: { name: 'ubuntu1804-gen1', osType: 'Windows', os: { name: 'Ubuntu', version: '18.04' } } }, /spec\.image: Invalid value: .*spec\.image is immutable/],
  ['declared guest OS', { image: { name: 'ubuntu1804-gen1', osType: 'Linux', os: { name: 'Ubuntu', version: '20.04' } } }, /spec\.image: Invalid value: .*spec\.image is immutable/],
  ['image, by removing it', { image: null }, /spec\.image: Required value/],
];

const total = INVALID_GPUVMS.length + INVALID_EDGEDEVICES.length + API_SERVER_ONLY.length + IMMUTABLE_CHANGES.length;
const started = Date.now();
afterAll(() => {
  console.log(`[bad-input] ${total} invalid manifests rejected by kubectl apply in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

describe('kubectl apply rejects invalid GpuVms, naming the field, and stores nothing', () => {
  it.each(INVALID_GPUVMS)('%s', async (_what, body, field) => {
    await expectRejectedAndNotStored(named(body, 'bad-vm'), field);
  });
});

describe('kubectl apply rejects invalid EdgeDevices, naming the field, and stores nothing', () => {
  it.each(INVALID_EDGEDEVICES)('%s', async (_what, body, field) => {
    await expectRejectedAndNotStored(named(body, 'bad-edev'), field);
  });
});

describe('kubectl apply rejects what only the API server can judge', () => {
  it.each(API_SERVER_ONLY)('%s', async (_what, body, field) => {
    const renamed = named(body, kindOf(body) === 'GpuVm' ? 'bad-vm' : 'bad-edev');
    await expectRejectedAndNotStored(renamed, field);
  });
});

describe('kubectl apply refuses changes of immutable fields and the stored GpuVm stays as it was', () => {
  it.each(IMMUTABLE_CHANGES)('%s', async (_field, change, expected) => {
    const original = named(gpuVm('x'), 'immutable');
    const created = await apply([original]);
    expect(created).toMatchObject({ code: 0 });
    const before = await stored(original);

    const changed = { ...original, spec: { ...(original.spec as Json), ...change } };
    expect(await applyRejected([changed])).toMatch(expected);

    const after = await stored(original);
    expect(after?.spec).toEqual(before?.spec);
    expect((after?.metadata as { resourceVersion?: string }).resourceVersion).toBe((before?.metadata as { resourceVersion?: string }).resourceVersion);
  });
});

test('one apply of every invalid GpuVm beside a valid one stores only the valid one', async () => {
  const invalid = INVALID_GPUVMS.map(([, body]) => named(body, 'batch'));
  const valid = named(gpuVm('x'), 'batch-valid');
  const before = new Set((await listGpuVms(namespace())).map((g) => g.metadata.name));

  const result = await apply([...invalid, valid]);
  expect(result.code).not.toBe(0);
  expect(result.stdout).toMatch(new RegExp(`gpuvm\\.gpuvm\\.io/${nameOf(valid)} created`));
  // kubectl reports each refused document on its own and carries on with the rest.
  for (const [index, [, , field]] of INVALID_GPUVMS.entries()) {
    const name = nameOf(invalid[index] as Json);
    expect(result.stderr).toMatch(new RegExp(`"${name}" is invalid: [^\\n]*${field.source}`));
  }
  const added = (await listGpuVms(namespace())).map((g) => g.metadata.name).filter((n) => !before.has(n));
  expect(added).toEqual([nameOf(valid)]);
});

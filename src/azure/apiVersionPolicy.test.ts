import { createHttpHeaders, createPipelineRequest, type PipelineResponse, type SendRequest } from '@azure/core-rest-pipeline';
import type { ProviderRead } from './apiVersionNegotiator.js';
import { ApiVersionNegotiator } from './apiVersionNegotiator.js';
import { apiVersionKindOf, deviceApiVersionPolicy } from './apiVersionPolicy.js';

const SUB = '/subscriptions/0000';

describe('apiVersionKindOf', () => {
  it.each([
    [`${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm`, 'compute'],
    [`${SUB}/providers/Microsoft.Compute/virtualMachines`, 'compute'],
    [`${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/gpu`, 'compute'],
    [`${SUB}/resourceGroups/rg/providers/Microsoft.Compute/images/img`, 'compute'],
    [`${SUB}/providers/Microsoft.Compute/locations/dbelocal/operations/1`, 'compute'],
    [`${SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/vm_OsDisk_1_abc`, 'disks'],
    [`${SUB}/providers/Microsoft.Compute/locations/dbelocal/DiskOperations/1`, 'disks'],
    [`${SUB}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic`, 'network'],
    [`${SUB}/resourceGroups/rg/providers/Microsoft.Resources/deployments/d/operations`, 'resources'],
    [`${SUB}/resourcegroups/rg`, 'resources'],
    [`${SUB}/resourcegroups`, 'resources'],
    [`${SUB}/providers/Microsoft.Compute`, undefined],
    [`${SUB}/providers`, undefined],
    [SUB, undefined],
    [`${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s`, undefined],
  ])('%s → %s', (path, kind) => {
    expect(apiVersionKindOf(path)).toBe(kind);
  });
});

describe('deviceApiVersionPolicy', () => {
  const base = 'https://management.dev.example';
  const served: Record<string, string[]> = { compute: ['2017-12-01'], network: ['2017-10-01'], resources: ['2020-06-01'] };
  const listingFor = (namespace: string): unknown => {
    const types: Record<string, [string, string[] | undefined]> = {
      'Microsoft.Compute': ['virtualMachines', served.compute],
      'Microsoft.Network': ['networkInterfaces', served.network],
      'Microsoft.Resources': ['deployments', served.resources],
    };
    const [resourceType, apiVersions] = types[namespace] ?? ['', []];
    return { namespace, resourceTypes: [{ resourceType, apiVersions }] };
  };
  let reads: string[];
  /** Whether the device serves Providers_List (else only Providers_Get). */
  let listServed: boolean;
  const read: ProviderRead = async (namespace, apiVersion) => {
    reads.push(`${namespace ?? '*'}@${apiVersion}`);
    if (namespace === undefined && !listServed) return { status: 404, body: { error: { code: 'NotFound', message: 'no' } } };
    if (!(served.resources ?? []).includes(apiVersion)) return { status: 400, body: { error: { code: 'InvalidApiVersionParameter', message: 'no' } } };
    if (namespace === undefined) return { status: 200, body: { value: ['Microsoft.Compute', 'Microsoft.Network', 'Microsoft.Resources'].map(listingFor) } };
    return { status: 200, body: listingFor(namespace) };
  };
  const answer = (status: number, body: unknown = {}): SendRequest => async (request) =>
    ({ request, status, headers: createHttpHeaders(), bodyAsText: JSON.stringify(body) }) as PipelineResponse;

  beforeEach(() => {
    reads = [];
    listServed = true;
    served.compute = ['2017-12-01'];
    served.resources = ['2020-06-01'];
  });

  it('lists the providers in one read with the first Resources version the device accepts, newest first', async () => {
    served.resources = ['2019-10-01'];
    expect((await new ApiVersionNegotiator(read).get()).resources).toBe('2019-10-01');
    expect(reads).toEqual(['*@2020-06-01', '*@2019-10-01']);
  });

  it('reads each namespace on its own from a device that does not serve the providers list', async () => {
    served.resources = ['2019-10-01'];
    listServed = false;
    expect((await new ApiVersionNegotiator(read).get()).resources).toBe('2019-10-01');
    expect(reads).toEqual(['*@2020-06-01', 'Microsoft.Resources@2020-06-01', 'Microsoft.Resources@2019-10-01', 'Microsoft.Compute@2019-10-01', 'Microsoft.Network@2019-10-01']);
  });

  it('negotiates once and rewrites every kind of request', async () => {
    const policy = deviceApiVersionPolicy(new ApiVersionNegotiator(read));
    const sent: string[] = [];
    const record: SendRequest = async (request) => {
      sent.push(request.url);
      return answer(200)(request);
    };
    await policy.sendRequest(createPipelineRequest({ url: `${base}${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm?api-version=2026-03-02&$expand=instanceView` }), record);
    await policy.sendRequest(createPipelineRequest({ url: `${base}${SUB}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n?api-version=2018-11-01` }), record);
    await policy.sendRequest(createPipelineRequest({ url: `${base}${SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/d?api-version=2026-03-02` }), record);
    await policy.sendRequest(createPipelineRequest({ url: `${base}${SUB}/resourcegroups/rg?api-version=2019-10-01` }), record);
    expect(sent.map((u) => new URL(u).searchParams.get('api-version'))).toEqual(['2017-12-01', '2017-10-01', '2017-03-30', '2020-06-01']);
    expect(new URL(sent[0] ?? '').searchParams.get('$expand')).toBe('instanceView');
    expect(reads).toEqual(['*@2020-06-01']);
  });

  it('negotiates again after a refused version and resends once with the new one', async () => {
    const negotiator = new ApiVersionNegotiator(read);
    const policy = deviceApiVersionPolicy(negotiator);
    expect((await negotiator.get()).compute).toBe('2017-12-01');
    served.compute = ['2020-06-01']; // the device was updated
    const sent: string[] = [];
    const device: SendRequest = async (request) => {
      sent.push(new URL(request.url).searchParams.get('api-version') ?? '');
      return sent.length === 1 ? answer(400, { error: { code: 'NoRegisteredProviderFound', message: 'no' } })(request) : answer(200)(request);
    };
    const response = await policy.sendRequest(createPipelineRequest({ url: `${base}${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm?api-version=x` }), device);
    expect(response.status).toBe(200);
    expect(sent).toEqual(['2017-12-01', '2020-06-01']);
  });

  it('passes a refusal through when negotiating again changes nothing', async () => {
    const policy = deviceApiVersionPolicy(new ApiVersionNegotiator(read));
    let calls = 0;
    const device: SendRequest = async (request) => {
      calls += 1;
      return answer(400, { error: { code: 'InvalidApiVersionParameter', message: 'no' } })(request);
    };
    const response = await policy.sendRequest(createPipelineRequest({ url: `${base}${SUB}/resourceGroups/rg/providers/Microsoft.Compute/images/i?api-version=x` }), device);
    expect(response.status).toBe(400);
    expect(calls).toBe(1);
  });

  it('fails every request with the typed error when the device serves no tested version', async () => {
    served.compute = ['2024-03-01'];
    const policy = deviceApiVersionPolicy(new ApiVersionNegotiator(read));
    await expect(
      policy.sendRequest(createPipelineRequest({ url: `${base}${SUB}/resourceGroups/rg/providers/Microsoft.Compute/images/i?api-version=x` }), answer(200)),
    ).rejects.toMatchObject({ name: 'UnsupportedApiVersionsError', message: expect.stringContaining('serves 2024-03-01') });
  });
});

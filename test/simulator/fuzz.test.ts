// Bad requests get ARM-shaped errors, and 10,000 seeded random malformed requests neither crash the
// simulator nor break an invariant.
import type { Simulator } from '../../src/simulator/index.js';
import { seededRandom } from '../../src/simulator/random.js';
import type { RawResponse } from './raw.js';
import { RawClient, errorCode } from './raw.js';
import { createVmParameters, createVmTemplate, startSim } from './support.js';

function isArmError(res: RawResponse): boolean {
  const e = (res.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return typeof e?.code === 'string' && typeof e.message === 'string';
}

describe('bad requests', () => {
  let sim: Simulator;
  let raw: RawClient;
  let token: string;
  let vmUrl: (name: string) => string;

  beforeAll(async () => {
    sim = await startSim({ devices: [{ name: 'dev', gpus: 1 }] });
    raw = new RawClient(sim.caCertificatePem);
    token = await raw.deviceToken(sim, 'dev');
    const d = sim.device('dev');
    vmUrl = (name) => `${d.armEndpoint}/subscriptions/${d.subscriptionId}/resourceGroups/${d.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${name}?api-version=2020-06-01`;
  });
  afterAll(async () => {
    raw.close();
    await sim.stop();
  });

  it.each([
    ['malformed JSON', '{"location": "dbelocal", ', 400, 'InvalidRequestContent'],
    ['a JSON array', '[1,2]', 400, 'InvalidRequestContent'],
    ['an empty body', '', 400, 'InvalidRequestContent'],
    ['missing vmSize', JSON.stringify({ location: 'dbelocal', properties: {} }), 400, 'InvalidParameter'],
    ['an unknown size', JSON.stringify({ location: 'dbelocal', properties: { hardwareProfile: { vmSize: 'Standard_Huge' } } }), 400, 'InvalidParameter'],
    ['a wrong location', JSON.stringify({ location: 'westus', properties: {} }), 400, 'LocationNotAvailableForResourceType'],
    ['no location', JSON.stringify({ properties: {} }), 400, 'LocationRequired'],
  ])('PUT VM with %s -> %i %s', async (_what, body, status, code) => {
    const res = await raw.request(vmUrl('vm1'), 'PUT', { token, body });
    expect([res.status, errorCode(res)]).toEqual([status, code]);
    expect(isArmError(res)).toBe(true);
  });

  it('answers unknown types, namespaces, paths, methods and oversized bodies with ARM errors', async () => {
    const d = sim.device('dev');
    const rgUrl = `${d.armEndpoint}/subscriptions/${d.subscriptionId}/resourceGroups/${d.resourceGroup}`;
    const cases: [string, string, number, string][] = [
      [`${rgUrl}/providers/Microsoft.Compute/galaxies/x?api-version=2020-06-01`, 'GET', 400, 'InvalidResourceType'],
      [`${rgUrl}/providers/Microsoft.Storage/storageAccounts/x?api-version=2019-06-01`, 'GET', 400, 'NoRegisteredProviderFound'],
      [`${d.armEndpoint}/nothing/here`, 'GET', 404, 'InvalidRequestUri'],
      [`${rgUrl}/providers/Microsoft.Compute/virtualMachines/x?api-version=2020-06-01`, 'PATCH', 405, 'MethodNotAllowed'],
      [`${rgUrl}/providers/Microsoft.Compute/virtualMachines/%zz?api-version=2020-06-01`, 'GET', 400, 'InvalidRequestUri'],
      [`${d.armEndpoint}/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/x?api-version=2019-10-01`, 'GET', 404, 'SubscriptionNotFound'],
      [`${d.armEndpoint}/subscriptions/${d.subscriptionId}/resourceGroups/nope/providers/Microsoft.Compute/virtualMachines?api-version=2020-06-01`, 'GET', 404, 'ResourceGroupNotFound'],
    ];
    for (const [url, method, status, code] of cases) {
      const res = await raw.request(url, method, { token });
      expect([url, res.status, errorCode(res)]).toEqual([url, status, code]);
    }
    const big = await raw.request(vmUrl('big'), 'PUT', { token, body: `{"x":"${'a'.repeat(5 * 1024 * 1024)}"}` });
    expect([big.status, errorCode(big)]).toEqual([413, 'RequestEntityTooLarge']);
    const deployment = await raw.request(`${rgUrl}/providers/Microsoft.Resources/deployments/d1?api-version=2019-10-01`, 'PUT', { token, body: JSON.stringify({ properties: { mode: 'Incremental', template: createVmTemplate() } }) });
    expect([deployment.status, errorCode(deployment)]).toEqual([400, 'InvalidTemplate']);
    expect((deployment.json as { error: { message: string } }).error.message).toContain("'vmName' is not provided");
  });
});

// ---------------------------------------------------------------- fuzz

const WORDS = ['location', 'properties', 'hardwareProfile', 'vmSize', 'storageProfile', 'imageReference', 'id', 'networkProfile', 'networkInterfaces', 'osProfile', 'adminUsername', 'adminPassword', 'template', 'parameters', 'mode', 'resources', 'type', 'name', 'apiVersion', 'dependsOn', 'ipConfigurations', 'subnet', 'privateIPAllocationMethod', 'privateIPAddress', 'kind', 'tags', 'value', 'variables', 'condition', 'publisher', 'typeHandlerVersion', 'settings'];
const FUNCS = ['concat', 'parameters', 'variables', 'resourceId', 'resourceGroup', 'if', 'equals', 'not', 'empty', 'length', 'substring', 'json', 'createArray', 'reference', 'bogus', 'int', 'toLower', 'split', 'format', 'coalesce'];
const SIZES = ['Standard_NC4as_T4_v3', 'Standard_NC8as_T4_v3', 'Standard_D2_v2', 'Standard_X', ''];

describe('fuzz', () => {
  it('survives 10,000 seeded malformed requests without crash or invariant violation', async () => {
    const sim = await startSim({ devices: [{ name: 'one', gpus: 1, kubernetes: false }, { name: 'two', gpus: 2 }], seed: 7 });
    const raw = new RawClient(sim.caCertificatePem, 16);
    try {
      const rnd = seededRandom(20261127);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
      const chance = (p: number): boolean => rnd() < p;
      const devices = ['one', 'two'].map((n) => sim.device(n));
      const tokens = new Map<string, string>();
      for (const d of devices) tokens.set(d.name, await raw.deviceToken(sim, d.name));
      const azureToken = await raw.azureToken(sim);
      const azure = sim.endpoints().azure;

      const expr = (depth: number): string => {
        if (depth > 2 || chance(0.3)) return pick([`'${pick(WORDS)}'`, String(Math.floor(rnd() * 100) - 5), "'Standard_NC4as_T4_v3'", "'ASEVNET'"]);
        const args = Array.from({ length: Math.floor(rnd() * 4) }, () => expr(depth + 1));
        const call = `${pick(FUNCS)}(${args.join(', ')})`;
        return chance(0.1) ? `${call}.${pick(WORDS)}` : chance(0.05) ? `${call}[${Math.floor(rnd() * 3)}]` : call;
      };
      const value = (depth: number): unknown => {
        const r = rnd();
        if (depth > 4 || r < 0.25) return pick([pick(WORDS), `[${expr(0)}]`, pick(SIZES), 'dbelocal', '', '[[x]', '[concat(', `/subscriptions/${pick(devices).subscriptionId}/resourceGroups/ASERG/providers/Microsoft.Network/virtualNetworks/ASEVNET/subnets/ASEVNETsubNet`]);
        if (r < 0.35) return Math.floor(rnd() * 1e6) - 100;
        if (r < 0.4) return chance(0.5);
        if (r < 0.45) return null;
        if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
        const obj: Record<string, unknown> = {};
        for (let i = Math.floor(rnd() * 5); i > 0; i--) obj[pick(WORDS)] = value(depth + 1);
        return obj;
      };
      const body = (): string | undefined => {
        const r = rnd();
        if (r < 0.15) return undefined;
        if (r < 0.3) return pick(['{', '{"a":', 'null', '[]', '"x"', '123', '{"location":"dbelocal","properties":', '\u0000\u0001', '{"properties":{"template":{"resources":[{"type":"x"}]}}}']);
        if (r < 0.45) {
          const vm = `f${Math.floor(rnd() * 6)}`;
          const template = createVmTemplate();
          if (chance(0.3)) (template['variables'] as Record<string, string>)['junk'] = `[${expr(0)}]`;
          const dropped = chance(0.2) ? pick(WORDS.concat(['vmName', 'Password', 'nicName'])) : undefined;
          const params = Object.fromEntries(Object.entries(createVmParameters(vm, chance(0.3) ? { vmSize: pick(SIZES) } : {})).filter(([k]) => k !== dropped));
          return JSON.stringify({ properties: { mode: pick(['Incremental', 'Complete', 'x']), template: chance(0.9) ? template : value(0), parameters: params } });
        }
        return JSON.stringify(value(0));
      };
      const deviceUrl = (): { url: string; token: string | undefined } => {
        const d = pick(devices);
        const sub = chance(0.9) ? d.subscriptionId : pick(['x', '00000000-0000-0000-0000-000000000000', '']);
        const rg = chance(0.8) ? d.resourceGroup : pick(['ASERG', 'nope', 'a/b', '..', '%2F']);
        const name = chance(0.85) ? `f${Math.floor(rnd() * 6)}` : pick(['', '%zz', '..', 'a'.repeat(300), 'ü', 'x y']);
        const prefix = `/subscriptions/${sub}/resourceGroups/${rg}`;
        const paths = [
          `${prefix}/providers/Microsoft.Compute/virtualMachines/${name}`,
          `${prefix}/providers/Microsoft.Compute/virtualMachines/${name}/${pick(['start', 'powerOff', 'deallocate', 'restart', 'instanceView', 'extensions', 'extensions/gpu', 'bogus'])}`,
          `${prefix}/providers/Microsoft.Compute/virtualMachines`,
          `${prefix}/providers/Microsoft.Network/networkInterfaces/${name}-nic`,
          `${prefix}/providers/Microsoft.Compute/images/${pick(['ubuntu1804-gen1', name])}`,
          `${prefix}/providers/Microsoft.Resources/deployments/createvm-${name}`,
          `${prefix}/providers/Microsoft.Resources/deployments/createvm-${name}/operations`,
          `${prefix}/deployments/createvm-${name}/operations`,
          `/subscriptions/${sub}/resourceGroups/ASERG/providers/Microsoft.Network/virtualNetworks/ASEVNET/subnets/${pick(['ASEVNETsubNet', name])}`,
          `${prefix}`,
          `/subscriptions/${sub}/resourcegroups`,
          `/subscriptions/${sub}/providers/Microsoft.Compute/locations/dbelocal/${pick(['operations', 'operationResults'])}/${pick(['x', '00000000-0000-0000-0000-000000000000'])}`,
          `/subscriptions/${sub}/providers/Microsoft.Storage/storageAccounts/x`,
          `/adfs/${pick(['oauth2/token', '.well-known/openid-configuration', 'x'])}`,
          `/metadata/endpoints`,
          `/${pick(WORDS)}/${pick(WORDS)}`,
          `/_simulator/${pick(['state', 'audit?since=999999999', 'violations', 'nope'])}`,
        ];
        let path = pick(paths);
        if (chance(0.2)) path = path.split('').map((ch) => (chance(0.5) ? ch.toUpperCase() : ch.toLowerCase())).join('');
        if (chance(0.05)) path += '/' + pick(WORDS);
        const version = pick(['2020-06-01', '2018-11-01', '2019-10-01', '2020-06-01', '2026-04-01', '', 'x']);
        const qs = chance(0.9) ? `?api-version=${version}${chance(0.2) ? '&$expand=instanceView' : ''}` : '';
        const token = chance(0.9) ? tokens.get(d.name) : pick([undefined, 'bad', tokens.get(d.name === 'one' ? 'two' : 'one')]);
        return { url: `${d.armEndpoint}${path}${qs}`, token };
      };
      const azureUrl = (): { url: string; token: string | undefined } => {
        const d = pick(devices);
        const paths = [
          d.azureResourceId,
          `${d.azureResourceId}/roles/${pick(['k8s', 'other', ''])}`,
          `${d.azureResourceId}/roles`,
          `${d.azureResourceId}/deviceCapacityInfo/default`,
          `/subscriptions/${azure.subscriptionId}/resourceGroups/${azure.resourceGroup}/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices`,
          `/${azure.tenantId}/oauth2/v2.0/token`,
          `/${pick(WORDS)}/v2.0/.well-known/openid-configuration`,
        ];
        const version = pick(['2021-06-01', '2023-12-01', '2019-01-01', '']);
        return { url: `${azure.endpoint}${pick(paths)}?api-version=${version}`, token: chance(0.9) ? azureToken : undefined };
      };
      const roleBody = (): string => JSON.stringify(chance(0.7) ? { kind: 'Kubernetes', properties: {} } : value(0));

      const TOTAL = 10_000;
      const statuses = new Map<number, number>();
      const problems: string[] = [];
      let sent = 0;
      const worker = async (): Promise<void> => {
        while (sent < TOTAL) {
          sent++;
          const onAzure = chance(0.15);
          const { url, token } = onAzure ? azureUrl() : deviceUrl();
          const method = pick(['GET', 'GET', 'PUT', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD']);
          const payload = method === 'GET' || method === 'HEAD' ? undefined : onAzure && url.includes('/roles/') ? roleBody() : url.includes('/_simulator/') ? undefined : body();
          const res = await raw.request(url, method, { ...(token !== undefined ? { token } : {}), ...(payload !== undefined ? { body: payload } : {}) });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          // OAuth endpoints answer with OAuth-shaped errors ({error, error_description}), as real authorities do.
          const identity = /\/adfs(\/|\?|$)|\/oauth2\/|\/v2\.0\//i.test(url);
          if (res.status >= 500 || res.status < 200) problems.push(`${method} ${url} -> ${res.status} ${res.text.slice(0, 200)}`);
          else if (res.status >= 400 && method !== 'HEAD' && !identity && !isArmError(res)) problems.push(`${method} ${url} -> ${res.status} not ARM-shaped: ${res.text.slice(0, 200)}`);
          else if (res.text !== '' && res.json === undefined) problems.push(`${method} ${url} -> ${res.status} not JSON`);
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      expect(problems.slice(0, 10)).toEqual([]);
      expect(sim.violations()).toEqual([]);
      // Still serving, and the audit saw every request.
      const check = await raw.request(`${devices[0]?.armEndpoint}/subscriptions/${devices[0]?.subscriptionId}/resourcegroups?api-version=2019-10-01`, 'GET', { token: tokens.get('one') });
      expect(check.status).toBe(200);
      expect(sim.audit().length).toBeGreaterThanOrEqual(TOTAL);
      const successes = [...statuses].filter(([s]) => s < 300).reduce((a, [, n]) => a + n, 0);
      expect(successes).toBeGreaterThan(500);
    } finally {
      raw.close();
      await sim.stop();
    }
  }, 60_000);
});

// ARM protocol fidelity at the HTTP level: LRO headers and polling, errors, auth, routing, api-versions.
import type { Simulator } from '../../src/simulator/index.js';
import { RawClient, errorCode } from './raw.js';
import { createVmParameters, createVmTemplate, startSim } from './support.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until the predicate holds (operations here take ~1 s; generous timeout for a loaded machine). */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(50);
  }
}

describe('ARM protocol', () => {
  let sim: Simulator;
  let raw: RawClient;
  let token: string;
  let base: string;
  let rgPath: string;

  beforeAll(async () => {
    sim = await startSim({ devices: [{ name: 'dev', gpus: 2 }, { name: 'other', gpus: 1 }], timings: { vmCreateMs: 1000, powerActionMs: 1000, deleteMs: 1000, nicCreateMs: 0, extensionMs: 0, roleMs: 1000, retryAfterSeconds: 1 } });
    raw = new RawClient(sim.caCertificatePem);
    token = await raw.deviceToken(sim, 'dev');
    const d = sim.device('dev');
    base = d.armEndpoint;
    rgPath = `/subscriptions/${d.subscriptionId}/resourceGroups/${d.resourceGroup}`;
  });
  afterAll(async () => {
    raw.close();
    expect(sim.violations()).toEqual([]);
    await sim.stop();
  });

  const put = (path: string, body: unknown, v: string) => raw.request(`${base}${path}?api-version=${v}`, 'PUT', { token, body: JSON.stringify(body) });
  const get = (url: string) => raw.request(url, 'GET', { token });

  it('serves the ADFS discovery document with an issuer on the same origin, and metadata endpoints', async () => {
    const oidc = await raw.request(`${base}/adfs/.well-known/openid-configuration`, 'GET');
    expect(oidc.status).toBe(200);
    expect(oidc.json).toMatchObject({ issuer: `${base}/adfs`, token_endpoint: `${base}/adfs/oauth2/token` });
    const meta = await raw.request(`${base}/metadata/endpoints?api-version=2015-01-01`, 'GET');
    expect(meta.json).toMatchObject({ authentication: { loginEndpoint: `${base}/adfs`, audiences: [`${base}/`] } });
  });

  it('refuses missing, invalid and foreign tokens with 401 and an ARM error body', async () => {
    const url = `${base}${rgPath}/providers/Microsoft.Compute/virtualMachines?api-version=2020-06-01`;
    const none = await raw.request(url, 'GET');
    expect(none.status).toBe(401);
    expect(errorCode(none)).toBe('AuthenticationFailed');
    const bad = await raw.request(url, 'GET', { token: 'abc.def.ghi' });
    expect(bad.status).toBe(401);
    expect(errorCode(bad)).toBe('InvalidAuthenticationToken');
    const foreign = await raw.request(url, 'GET', { token: await raw.deviceToken(sim, 'other') });
    expect(foreign.status).toBe(401);
    const wrongPassword = await raw.request(`${base}/adfs/oauth2/token`, 'POST', {
      body: new URLSearchParams({ grant_type: 'password', username: 'EdgeArmUser', password: 'nope', client_id: 'x' }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(wrongPassword.status).toBe(400);
    expect(wrongPassword.json).toMatchObject({ error: 'invalid_grant' });
  });

  it('checks api-versions against the device profile', async () => {
    const url = `${base}${rgPath}/providers/Microsoft.Compute/virtualMachines`;
    const missing = await get(url);
    expect([missing.status, errorCode(missing)]).toEqual([400, 'MissingApiVersionParameter']);
    const wrong = await get(`${url}?api-version=2024-03-01`);
    expect([wrong.status, errorCode(wrong)]).toEqual([400, 'NoRegisteredProviderFound']);
    expect((wrong.json as { error: { message: string } }).error.message).toMatch(/supported api-versions are '[^']*2020-06-01/);
    const network = await get(`${base}${rgPath}/providers/Microsoft.Network/networkInterfaces?api-version=2020-06-01`);
    expect(errorCode(network)).toBe('NoRegisteredProviderFound');
    const ok = await get(`${url}?api-version=2020-06-01`);
    expect(ok.status).toBe(200);
    expect(ok.headers['x-ms-request-id']).toBeDefined();
    expect(Number(ok.headers['x-ms-ratelimit-remaining-subscription-reads'])).toBeGreaterThan(0);
  });

  it('routes case-insensitively', async () => {
    const d = sim.device('dev');
    const res = await get(`${base}/SUBSCRIPTIONS/${d.subscriptionId.toUpperCase()}/RESOURCEGROUPS/aserg/PROVIDERS/microsoft.network/VIRTUALNETWORKS/asevnet/subnets/asevnetsubnet?api-version=2018-11-01`);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ name: 'ASEVNETsubNet' });
  });

  it('long-running PUT: 201, absolute Azure-AsyncOperation, Retry-After; status URL InProgress then Succeeded; re-PUT -> DeploymentActive', async () => {
    const body = { properties: { mode: 'Incremental', template: createVmTemplate(), parameters: createVmParameters('pvm') } };
    const first = await put(`${rgPath}/providers/Microsoft.Resources/deployments/d-pvm`, body, '2019-10-01');
    expect(first.status).toBe(201);
    expect(first.headers['retry-after']).toBe('1');
    expect(Number(first.headers['x-ms-ratelimit-remaining-subscription-writes'])).toBeGreaterThan(0);
    const statusUrl = String(first.headers['azure-asyncoperation']);
    expect(statusUrl.startsWith(`${base}/subscriptions/`)).toBe(true);
    expect(JSON.stringify(first.json)).not.toContain('S3cret-password!');
    const again = await put(`${rgPath}/providers/Microsoft.Resources/deployments/d-pvm`, body, '2019-10-01');
    expect([again.status, errorCode(again)]).toEqual([409, 'DeploymentActive']);
    const running = await get(statusUrl);
    expect([running.status, (running.json as { status: string }).status, running.headers['retry-after']]).toEqual([200, 'InProgress', '1']);
    const done = await until(() => get(statusUrl), (r) => (r.json as { status: string }).status !== 'InProgress');
    expect([done.status, (done.json as { status: string }).status]).toEqual([200, 'Succeeded']);
    const deployment = await get(`${base}${rgPath}/providers/Microsoft.Resources/deployments/d-pvm?api-version=2019-10-01`);
    expect(deployment.json).toMatchObject({ properties: { provisioningState: 'Succeeded', parameters: { Password: { type: 'SecureString' } } } });
    expect(deployment.text).not.toContain('S3cret-password!');
    const vm = await get(`${base}${rgPath}/providers/Microsoft.Compute/virtualMachines/pvm?api-version=2020-06-01`);
    expect(vm.text).not.toContain('S3cret-password!');
  });

  it('cancels a running deployment before its next resource', async () => {
    sim.setTimings({ nicCreateMs: 1000 });
    try {
      const body = { properties: { mode: 'Incremental', template: createVmTemplate(), parameters: createVmParameters('cvm') } };
      const started = await put(`${rgPath}/providers/Microsoft.Resources/deployments/d-cvm`, body, '2019-10-01');
      expect(started.status).toBe(201);
      const cancel = await raw.request(`${base}${rgPath}/providers/Microsoft.Resources/deployments/d-cvm/cancel?api-version=2019-10-01`, 'POST', { token });
      expect(cancel.status).toBe(204);
      const status = await until(() => get(String(started.headers['azure-asyncoperation'])), (r) => (r.json as { status: string }).status !== 'InProgress');
      expect((status.json as { status: string }).status).toBe('Canceled');
      const d = await get(`${base}${rgPath}/providers/Microsoft.Resources/deployments/d-cvm?api-version=2019-10-01`);
      expect(d.json).toMatchObject({ properties: { provisioningState: 'Canceled' } });
      expect(sim.deviceState('dev').vms.map((v) => v.name)).not.toContain('cvm');
      const again = await raw.request(`${base}${rgPath}/providers/Microsoft.Resources/deployments/d-cvm/cancel?api-version=2019-10-01`, 'POST', { token });
      expect([again.status, errorCode(again)]).toEqual([409, 'DeploymentCannotBeCancelled']);
    } finally {
      sim.setTimings({ nicCreateMs: 0 });
    }
  });

  it('POST actions and DELETE: 202 + Location answering 202, then 200 (POST) or 204 (DELETE)', async () => {
    const vmPath = `${rgPath}/providers/Microsoft.Compute/virtualMachines/pvm`;
    const off = await raw.request(`${base}${vmPath}/powerOff?api-version=2020-06-01`, 'POST', { token });
    expect(off.status).toBe(202);
    const location = String(off.headers['location']);
    expect(location.startsWith('https://')).toBe(true);
    expect((await get(location)).status).toBe(202);
    expect((await until(() => get(location), (r) => r.status !== 202)).status).toBe(200);
    const view = await get(`${base}${vmPath}?api-version=2020-06-01&$expand=instanceView`);
    const codes = (view.json as { properties: { instanceView: { statuses: { code: string }[] } } }).properties.instanceView.statuses.map((x) => x.code);
    expect(codes).toEqual(['ProvisioningState/succeeded', 'PowerState/stopped']);
    const del = await raw.request(`${base}${vmPath}?api-version=2020-06-01`, 'DELETE', { token });
    expect(del.status).toBe(202);
    const delLocation = String(del.headers['location']);
    expect((await get(delLocation)).status).toBe(202);
    expect((await until(() => get(delLocation), (r) => r.status !== 202)).status).toBe(204);
    expect((await get(`${base}${vmPath}?api-version=2020-06-01`)).status).toBe(404);
    const absent = await raw.request(`${base}${vmPath}?api-version=2020-06-01`, 'DELETE', { token });
    expect(absent.status).toBe(204);
  });

  it('Azure side: role PUT is a 201 LRO, DELETE a 202 Location; capacity only at 2023-12-01', async () => {
    const a = sim.endpoints().azure;
    const azureToken = await raw.azureToken(sim);
    const devicePath = `${a.endpoint}${sim.device('dev').azureResourceId}`;
    const role = await raw.request(`${devicePath}/roles/k8s?api-version=2021-06-01`, 'PUT', { token: azureToken, body: JSON.stringify({ kind: 'Kubernetes', properties: {} }) });
    expect(role.status).toBe(201);
    expect(role.json).toMatchObject({ kind: 'Kubernetes', properties: { provisioningState: 'Creating' } });
    const status = await until(() => raw.request(String(role.headers['azure-asyncoperation']), 'GET', { token: azureToken }), (r) => (r.json as { status: string }).status !== 'InProgress');
    expect((status.json as { status: string }).status).toBe('Succeeded');
    const cap = await raw.request(`${devicePath}/deviceCapacityInfo/default?api-version=2023-12-01`, 'GET', { token: azureToken });
    expect(cap.json).toMatchObject({ properties: { clusterComputeCapacityInfo: { gpuCapacity: { gpuTotalUnitsCount: 2, gpuFreeUnitsCount: 0, gpuUsedUnitsCount: 2 } } } });
    const oldCap = await raw.request(`${devicePath}/deviceCapacityInfo/default?api-version=2021-06-01`, 'GET', { token: azureToken });
    expect(errorCode(oldCap)).toBe('NoRegisteredProviderFound');
    const deviceTokenOnAzure = await raw.request(`${devicePath}?api-version=2021-06-01`, 'GET', { token });
    expect(deviceTokenOnAzure.status).toBe(401);
    const del = await raw.request(`${devicePath}/roles/k8s?api-version=2021-06-01`, 'DELETE', { token: azureToken });
    expect(del.status).toBe(202);
    expect((await until(() => raw.request(String(del.headers['location']), 'GET', { token: azureToken }), (r) => r.status !== 202)).status).toBe(204);
    expect(sim.deviceState('dev').gpus.kubernetes).toBe(0);
  });

  it('records every request in the audit log and exposes admin state over HTTP', async () => {
    const entries = sim.audit({ device: 'dev' });
    expect(entries.length).toBeGreaterThan(10);
    expect(entries.every((e) => typeof e.durationMs === 'number' && e.requestId !== '')).toBe(true);
    expect(entries.some((e) => e.operation === 'vm.powerOff' && e.status === 202 && e.apiVersion === '2020-06-01')).toBe(true);
    const admin = sim.endpoints().adminUrl;
    const audit = await raw.request(`${admin}/audit?device=dev`, 'GET');
    expect((audit.json as { value: unknown[] }).value.length).toBeGreaterThan(10);
    const state = await raw.request(`${admin}/state`, 'GET');
    expect(state.json).toMatchObject({ devices: [{ name: 'dev', gpus: { total: 2 } }, { name: 'other' }] });
    const fault = await raw.request(`${admin}/faults`, 'POST', { body: JSON.stringify({ operation: 'vm.list', kind: 'throttle', sequence: [true] }) });
    expect(fault.status).toBe(201);
    const throttled = await get(`${base}${rgPath}/providers/Microsoft.Compute/virtualMachines?api-version=2020-06-01`);
    expect([throttled.status, throttled.headers['retry-after'], errorCode(throttled)]).toEqual([429, '0', 'TooManyRequests']);
    expect((await raw.request(`${admin}/faults`, 'DELETE')).status).toBe(204);
    const timings = await raw.request(`${admin}/timings`, 'PATCH', { body: JSON.stringify({ vmCreateMs: 0 }) });
    expect(timings.json).toMatchObject({ vmCreateMs: 0, retryAfterSeconds: 1 });
    expect((await raw.request(`${admin}/violations`, 'GET')).json).toEqual({ value: [] });
  });
});

describe('ARM request budget', () => {
  it('reports the remaining budget and, when enforced, throttles with 429 and Retry-After', async () => {
    const sim = await startSim({ devices: [{ name: 'dev', gpus: 1 }], enforceRateLimits: true });
    const raw = new RawClient(sim.caCertificatePem, 32);
    try {
      const token = await raw.deviceToken(sim, 'dev');
      const d = sim.device('dev');
      const url = `${d.armEndpoint}/subscriptions/${d.subscriptionId}/resourcegroups?api-version=2019-10-01`;
      const responses = await Promise.all(Array.from({ length: 300 }, () => raw.request(url, 'GET', { token })));
      const throttled = responses.filter((r) => r.status === 429);
      expect(throttled.length).toBeGreaterThan(0);
      expect(Number(throttled[0]?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(errorCode(throttled[0] as (typeof responses)[number])).toBe('TooManyRequests');
      expect(responses.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(240);
    } finally {
      raw.close();
      await sim.stop();
    }
  });
});

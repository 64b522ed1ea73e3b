import { RestError, createHttpHeaders, createPipelineFromOptions, createPipelineRequest, type HttpClient, type PipelineRequest, type PipelineResponse, type SendRequest } from '@azure/core-rest-pipeline';
import { FakeClock } from '../../test/support/fakes/fakeClock.js';
import { ARM_SUBSCRIPTION_LIMITS, DeviceBudgets, budgetKind, type BudgetKind, type BudgetRefusal } from './deviceBudget.js';
import { DeviceThrottledError } from './deviceResponseError.js';
import { sendCheckOf } from './sendCheck.js';

function device(status = 200, headers: Record<string, string> = {}): SendRequest & { sent: string[] } {
  const send = Object.assign(
    async (request: Parameters<SendRequest>[0]) => {
      send.sent.push(request.method);
      return { request, status, headers: createHttpHeaders(headers) } as PipelineResponse;
    },
    { sent: [] as string[] },
  );
  return send;
}

const request = (method: string) => createPipelineRequest({ url: 'https://management.dev-a.example/subscriptions/s/resourceGroups/rg', method: method as 'GET' });

describe('DeviceBudgets', () => {
  const limits = { read: { ratePerSecond: 4, burst: 2 }, write: { ratePerSecond: 1, burst: 1 } };

  it('defaults to ARM’s per-subscription token buckets', () => {
    expect(new DeviceBudgets().limits).toEqual(ARM_SUBSCRIPTION_LIMITS);
    expect(ARM_SUBSCRIPTION_LIMITS).toEqual({ read: { ratePerSecond: 25, burst: 250 }, write: { ratePerSecond: 10, burst: 200 } });
  });

  it.each([
    ['GET', 'read'],
    ['head', 'read'],
    ['PUT', 'write'],
    ['PATCH', 'write'],
    ['POST', 'write'],
    ['DELETE', 'write'],
  ])('%s is a %s', (method, kind) => {
    expect(budgetKind(method)).toBe(kind);
  });

  it('refuses a write over the budget at once (the clock never moves), without sending it, saying when it may go', async () => {
    const clock = new FakeClock();
    const budgets = new DeviceBudgets({ limits, now: () => clock.now() });
    const policy = budgets.policy('dev-a');
    const sent = device();
    await policy.sendRequest(request('PUT'), sent);
    clock.advance(250);
    const refused: unknown = await policy.sendRequest(request('DELETE'), sent).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DeviceThrottledError);
    expect(refused).toMatchObject({ retryAfterMs: 750, code: 'DeviceThrottling' });
    expect((refused as Error).message).toMatch(/write budget for device dev-a is spent \(1\/s, burst 1\); next write in 0\.8 s/);
    // Reads have their own bucket.
    await policy.sendRequest(request('GET'), sent);
    expect(sent.sent).toEqual(['PUT', 'GET']);
    clock.advance(750);
    await policy.sendRequest(request('POST'), sent);
    expect(sent.sent).toEqual(['PUT', 'GET', 'POST']);
  });

  it('is one budget per device, shared by every client built for it, and separate from other devices', async () => {
    const clock = new FakeClock();
    const budgets = new DeviceBudgets({ limits, now: () => clock.now() });
    const sent = device();
    await budgets.policy('dev-a').sendRequest(request('PUT'), sent);
    // A client rebuilt later (new credentials, or dropped while idle) gets a new policy object: same budget.
    await expect(budgets.policy('dev-a').sendRequest(request('PUT'), sent)).rejects.toBeInstanceOf(DeviceThrottledError);
    await budgets.policy('dev-b').sendRequest(request('PUT'), sent);
    expect(sent.sent).toEqual(['PUT', 'PUT']);
  });

  it('holds every request to the device inside a Retry-After, reads and writes, costing no token', async () => {
    const clock = new FakeClock();
    const refusals: [string, BudgetKind, BudgetRefusal, number][] = [];
    const budgets = new DeviceBudgets({ limits, now: () => clock.now(), metrics: { refused: (...args) => refusals.push(args) } });
    const policy = budgets.policy('dev-a');
    await expect(policy.sendRequest(request('GET'), device(429, { 'retry-after': '2' }))).rejects.toMatchObject({ retryAfterMs: 2000 });
    const held = device();
    clock.advance(500);
    await expect(policy.sendRequest(request('GET'), held)).rejects.toMatchObject({ retryAfterMs: 1500 });
    await expect(policy.sendRequest(request('PUT'), held)).rejects.toMatchObject({ retryAfterMs: 1500 });
    expect(held.sent).toEqual([]);
    expect(refusals).toEqual([
      ['dev-a', 'read', 'retry_after', 1500],
      ['dev-a', 'write', 'retry_after', 1500],
    ]);
    clock.advance(1500);
    // The write bucket was never spent: the write goes now.
    await policy.sendRequest(request('PUT'), held);
    expect(held.sent).toEqual(['PUT']);
  });

  it('a 503 with Retry-After closes the gate too; a 429 without one does not', async () => {
    const clock = new FakeClock();
    const budgets = new DeviceBudgets({ limits, now: () => clock.now() });
    expect((await budgets.policy('dev-a').sendRequest(request('GET'), device(429))).status).toBe(429);
    await expect(budgets.policy('dev-a').sendRequest(request('GET'), device(503, { 'retry-after': '1' }))).rejects.toMatchObject({ retryAfterMs: 1000 });
    expect(budgets.get('dev-a').gate.remainingMs()).toBe(1000);
  });

  it('drops budgets at rest, and keeps those still spent or inside a Retry-After', async () => {
    const clock = new FakeClock();
    const budgets = new DeviceBudgets({ limits, now: () => clock.now(), sweepIntervalMs: 1000 });
    await budgets.policy('idle').sendRequest(request('GET'), device());
    await expect(budgets.policy('throttled').sendRequest(request('GET'), device(429, { 'retry-after': '60' }))).rejects.toBeInstanceOf(DeviceThrottledError);
    expect(budgets.size()).toBe(2);
    clock.advance(5000);
    budgets.get('other');
    expect(budgets.size()).toBe(2);
    await expect(budgets.policy('throttled').sendRequest(request('GET'), device())).rejects.toMatchObject({ retryAfterMs: 55_000 });
    clock.advance(60_000);
    budgets.get('other');
    expect(budgets.size()).toBe(1);
  });
});

describe('DeviceBudgets at send time', () => {
  // One read token per 1000 s: a token given back shows as one more request that goes.
  const limits = { read: { ratePerSecond: 0.001, burst: 2 }, write: { ratePerSecond: 1, burst: 1 } };

  /**
   * A device behind a fake socket: each request waits for its socket (released by the test), is then asked the
   * send check the policy handed the agent, and reaches the device only if the check lets it.
   */
  function socketDevice(answer: (path: string) => { status: number; headers?: Record<string, string> }) {
    const sockets = new Map<string, () => void>();
    const events: string[] = [];
    const send: SendRequest = async (request) => {
      const path = new URL(request.url).pathname;
      await new Promise<void>((resolve) => sockets.set(path, resolve));
      const refusal = sendCheckOf(request.requestOverrides)?.();
      if (refusal !== undefined) {
        events.push(`refused ${path}`);
        // What the HTTP client makes of a request destroyed on its socket.
        throw new RestError('socket hang up', { code: 'ECONNRESET', request });
      }
      events.push(`sent ${path}`);
      const { status, headers = {} } = answer(path);
      return { request, status, headers: createHttpHeaders(headers) } as PipelineResponse;
    };
    const socketReady = async (path: string): Promise<void> => {
      for (let i = 0; i < 10 && !sockets.has(path); i++) await Promise.resolve();
      const release = sockets.get(path);
      if (release === undefined) throw new Error(`${path} never asked for a socket`);
      release();
    };
    return { send, events, socketReady };
  }
  const get = (path: string) => createPipelineRequest({ url: `https://management.dev-a.example${path}`, method: 'GET' });

  it('refuses a request admitted before a sibling’s 503 was read once it reaches its socket, gives its token back, and counts it once', async () => {
    const clock = new FakeClock();
    const refusals: [string, BudgetKind, BudgetRefusal, number][] = [];
    const budgets = new DeviceBudgets({ limits, now: () => clock.now(), metrics: { refused: (...args) => refusals.push(args) } });
    const policy = budgets.policy('dev-a');
    const dev = socketDevice((path) => (path === '/throttled' ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 }));

    // Both are admitted (the two read tokens are taken) while the gate is open.
    const late = policy.sendRequest(get('/late'), dev.send).catch((e: unknown) => e);
    const throttled = policy.sendRequest(get('/throttled'), dev.send).catch((e: unknown) => e);
    await dev.socketReady('/throttled');
    expect(await throttled).toMatchObject({ name: 'DeviceThrottledError', retryAfterMs: 1000 });
    // The sibling's socket comes after the 503 was read: it is refused there, with the device's answer.
    await dev.socketReady('/late');
    const refused = await late;
    expect(refused).toBeInstanceOf(DeviceThrottledError);
    expect(refused).toMatchObject({ by: 'device', retryAfterMs: 1000 });
    expect((refused as Error).message).toMatch(/is throttling requests \(answered HTTP 503 with Retry-After: waiting 1 s\)/);
    expect(dev.events).toEqual(['sent /throttled', 'refused /late']);
    expect(refusals).toEqual([['dev-a', 'read', 'retry_after', 1000]]);

    // Once the Retry-After has passed, the refused request's token is there again, and only that one.
    clock.advance(1000);
    const next = policy.sendRequest(get('/next'), dev.send);
    await dev.socketReady('/next');
    expect((await next).status).toBe(200);
    await expect(policy.sendRequest(get('/over'), dev.send)).rejects.toMatchObject({ by: 'budget' });
    expect(dev.events).toEqual(['sent /throttled', 'refused /late', 'sent /next']);
  });

  it('sends a request whose socket came before the 503 was read: the check is asked at the socket, not at admission', async () => {
    const clock = new FakeClock();
    const budgets = new DeviceBudgets({ limits, now: () => clock.now() });
    const policy = budgets.policy('dev-a');
    const dev = socketDevice((path) => (path === '/throttled' ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const early = policy.sendRequest(get('/early'), dev.send);
    const throttled = policy.sendRequest(get('/throttled'), dev.send).catch((e: unknown) => e);
    await dev.socketReady('/early');
    await dev.socketReady('/throttled');
    expect((await early).status).toBe(200);
    expect(await throttled).toBeInstanceOf(DeviceThrottledError);
    expect(dev.events).toEqual(['sent /early', 'sent /throttled']);
  });

  it('a failure of its own passes through unchanged, and the request keeps no send check afterwards', async () => {
    const budgets = new DeviceBudgets({ limits });
    const request = get('/broken');
    const failure = new RestError('connect ECONNREFUSED', { code: 'ECONNREFUSED' });
    await expect(
      budgets.policy('dev-a').sendRequest(request, async (r) => {
        expect(sendCheckOf(r.requestOverrides)?.()).toBeUndefined();
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(request.requestOverrides).toBeUndefined();
  });
});

describe('DeviceBudgets behind the SDK’s retry policy', () => {
  const pipelineWith = (budgets: DeviceBudgets) => {
    // retryDelayInMs 1: a retry the policy makes costs no real time here; counting attempts shows whether it made one.
    const pipeline = createPipelineFromOptions({ retryOptions: { maxRetries: 3, retryDelayInMs: 1, maxRetryDelayInMs: 1 } });
    pipeline.addPolicy(budgets.policy('dev-a'), { afterPhase: 'Sign' });
    return pipeline;
  };
  const client = (answers: { status: number; headers?: Record<string, string> }[], onSend?: () => void): HttpClient & { attempts: number } => {
    const http = {
      attempts: 0,
      sendRequest: async (request: PipelineRequest): Promise<PipelineResponse> => {
        const { status, headers = {} } = answers[Math.min(http.attempts, answers.length - 1)] ?? { status: 200 };
        http.attempts += 1;
        onSend?.();
        return { request, status, headers: createHttpHeaders(headers) };
      },
    };
    return http;
  };
  const get = () => createPipelineRequest({ url: 'https://management.dev-a.example/x', method: 'GET' });

  it.each([429, 503])('a %i with Retry-After fails the request at once: the SDK does not retry it or sleep', async (status) => {
    const budgets = new DeviceBudgets({ now: () => 0 });
    const http = client([{ status, headers: { 'retry-after': '30' } }]);
    await expect(pipelineWith(budgets).sendRequest(http, get())).rejects.toMatchObject({ name: 'DeviceThrottledError', retryAfterMs: 30_000 });
    expect(http.attempts).toBe(1);
  });

  it('an SDK retry meets the gate: a 500 whose retry would fall inside a sibling’s Retry-After is not retried', async () => {
    const budgets = new DeviceBudgets({ now: () => 0 });
    // While the first attempt is out, the device answers a sibling with 503 Retry-After.
    const http = client([{ status: 500 }], () => closeGate(budgets));
    await expect(pipelineWith(budgets).sendRequest(http, get())).rejects.toMatchObject({ name: 'DeviceThrottledError', by: 'device' });
    expect(http.attempts).toBe(1);
  });
});

function closeGate(budgets: DeviceBudgets): void {
  try {
    budgets.get('dev-a').observe({ request: createPipelineRequest({ url: 'https://x' }), status: 503, headers: createHttpHeaders({ 'retry-after': '5' }) }, 'sibling');
  } catch {
    // observe throws the sibling's DeviceThrottledError: the gate is closed now.
  }
}

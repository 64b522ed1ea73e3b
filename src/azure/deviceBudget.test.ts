import { createHttpHeaders, createPipelineRequest, type PipelineResponse, type SendRequest } from '@azure/core-rest-pipeline';
import { FakeClock } from '../../test/support/fakes/fakeClock.js';
import { ARM_SUBSCRIPTION_LIMITS, DeviceBudgets, budgetKind, type BudgetKind, type BudgetRefusal } from './deviceBudget.js';
import { DeviceThrottledError } from './deviceResponseError.js';

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

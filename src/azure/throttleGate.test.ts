import { RestError, createHttpHeaders, createPipelineRequest, type PipelineResponse, type SendRequest } from '@azure/core-rest-pipeline';
import { DeviceThrottledError } from './deviceResponseError.js';
import { MAX_RETRY_AFTER_MS } from './retryAfter.js';
import { sendCheckOf } from './sendCheck.js';
import { ThrottleGate } from './throttleGate.js';

function respond(status: number, headers: Record<string, string> = {}): SendRequest & { sent: number } {
  const send = Object.assign(
    async (request: Parameters<SendRequest>[0]) => {
      send.sent += 1;
      return { request, status, headers: createHttpHeaders(headers) } as PipelineResponse;
    },
    { sent: 0 },
  );
  return send;
}

describe('ThrottleGate', () => {
  const request = () => createPipelineRequest({ url: 'https://127.0.0.1/x' });

  it('fails the throttled request and every later one at once, carrying the remaining Retry-After, until it passes', async () => {
    let now = 1_000_000;
    const gate = new ThrottleGate(() => now);
    await expect(gate.policy.sendRequest(request(), respond(429, { 'retry-after': '10' }))).rejects.toMatchObject({ name: 'DeviceThrottledError', retryAfterMs: 10_000 });
    now += 4000;
    const held = respond(200);
    const error: unknown = await gate.policy.sendRequest(request(), held).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceThrottledError);
    expect((error as DeviceThrottledError).retryAfterMs).toBe(6000);
    expect(held.sent).toBe(0);
    now += 6000;
    expect(gate.remainingMs()).toBe(0);
    expect((await gate.policy.sendRequest(request(), held)).status).toBe(200);
    expect(held.sent).toBe(1);
  });

  it('stays open for successes and for throttling without Retry-After', async () => {
    const gate = new ThrottleGate();
    await gate.policy.sendRequest(request(), respond(200));
    expect((await gate.policy.sendRequest(request(), respond(429))).status).toBe(429);
    expect(gate.remainingMs()).toBe(0);
  });

  it('honours 503 Retry-After too and never shortens a longer wait', async () => {
    let now = 1_000_000;
    const gate = new ThrottleGate(() => now);
    await expect(gate.policy.sendRequest(request(), respond(503, { 'retry-after': '10' }))).rejects.toMatchObject({ retryAfterMs: 10_000 });
    now += 5000;
    expect(gate.remainingMs()).toBe(5000);
    now += 5000;
    await expect(gate.policy.sendRequest(request(), respond(429, { 'retry-after': '1' }))).rejects.toMatchObject({ retryAfterMs: 1000 });
    expect(gate.remainingMs()).toBe(1000);
  });

  it(`caps Retry-After at ${MAX_RETRY_AFTER_MS / 1000} s, whatever the device asks`, async () => {
    const now = 1_000_000;
    const gate = new ThrottleGate(() => now);
    const error: unknown = await gate.policy.sendRequest(request(), respond(429, { 'retry-after': '99999999' })).catch((e: unknown) => e);
    expect((error as DeviceThrottledError).retryAfterMs).toBe(MAX_RETRY_AFTER_MS);
    expect((error as Error).message).toMatch(/Retry-After 99999999/);
    expect(gate.remainingMs()).toBe(MAX_RETRY_AFTER_MS);
  });

  it('hands the agent a send check: a request admitted before the gate closed is refused at its socket', async () => {
    const gate = new ThrottleGate(() => 1_000_000);
    let reachedDevice = false;
    const admitted = gate.policy.sendRequest(request(), async (r) => {
      // While this request waits for its socket, the device answers another one 429 with Retry-After.
      await expect(gate.policy.sendRequest(request(), respond(429, { 'retry-after': '2' }))).rejects.toBeInstanceOf(DeviceThrottledError);
      if (sendCheckOf(r.requestOverrides)?.() !== undefined) throw new RestError('socket hang up', { code: 'ECONNRESET' });
      reachedDevice = true;
      return { request: r, status: 200, headers: createHttpHeaders() };
    });
    await expect(admitted).rejects.toMatchObject({ name: 'DeviceThrottledError', retryAfterMs: 2000 });
    expect(reachedDevice).toBe(false);
  });
});

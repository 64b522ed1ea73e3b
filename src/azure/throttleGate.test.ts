import { createHttpHeaders, createPipelineRequest, type PipelineResponse, type SendRequest } from '@azure/core-rest-pipeline';
import { ThrottleGate } from './throttleGate.js';

function respond(status: number, headers: Record<string, string> = {}): SendRequest {
  return async (request) => ({ request, status, headers: createHttpHeaders(headers) }) as PipelineResponse;
}

describe('ThrottleGate', () => {
  const request = () => createPipelineRequest({ url: 'https://127.0.0.1/x' });

  it('holds every later request back until Retry-After has passed', async () => {
    const gate = new ThrottleGate();
    await gate.policy.sendRequest(request(), respond(429, { 'retry-after': '0.2' }));
    expect(gate.remainingMs()).toBeGreaterThan(100);
    const started = Date.now();
    const response = await gate.policy.sendRequest(request(), respond(200));
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(gate.remainingMs()).toBe(0);
  });

  it('stays open for successes and for throttling without Retry-After', async () => {
    const gate = new ThrottleGate();
    await gate.policy.sendRequest(request(), respond(200));
    await gate.policy.sendRequest(request(), respond(429));
    expect(gate.remainingMs()).toBe(0);
  });

  it('honours 503 Retry-After too and never shortens a longer wait', async () => {
    let now = 1_000_000;
    const slept: number[] = [];
    const gate = new ThrottleGate(
      () => now,
      async (ms) => {
        slept.push(ms);
      },
    );
    await gate.policy.sendRequest(request(), respond(503, { 'retry-after': '10' }));
    await gate.policy.sendRequest(request(), respond(429, { 'retry-after': '1' }));
    expect(slept).toEqual([10_000]);
    now += 5000;
    expect(gate.remainingMs()).toBe(5000);
  });
});

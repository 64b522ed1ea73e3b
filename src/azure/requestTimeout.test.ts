import { createPipelineRequest, type PipelineResponse, type SendRequest } from '@azure/core-rest-pipeline';
import { DEFAULT_REQUEST_TIMEOUT_MS, requestTimeoutPolicy } from './requestTimeout.js';

const abortError = (): Error => Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });

describe('requestTimeoutPolicy', () => {
  const ok: SendRequest = async (request) => ({ request, status: 200 }) as PipelineResponse;

  it('puts the default timeout on a request that has none, and keeps a shorter one', async () => {
    const plain = createPipelineRequest({ url: 'https://device.example/x' });
    await requestTimeoutPolicy().sendRequest(plain, ok);
    expect(plain.timeout).toBe(DEFAULT_REQUEST_TIMEOUT_MS);
    const shorter = createPipelineRequest({ url: 'https://device.example/x', timeout: 5 });
    await requestTimeoutPolicy(1000).sendRequest(shorter, ok);
    expect(shorter.timeout).toBe(5);
    const longer = createPipelineRequest({ url: 'https://device.example/x', timeout: 60_000 });
    await requestTimeoutPolicy(1000).sendRequest(longer, ok);
    expect(longer.timeout).toBe(1000);
  });

  it('turns the abort of a timed-out attempt into RequestTimeout naming the request', async () => {
    // Stands in for the HTTP client, which aborts the attempt once request.timeout has passed.
    const timesOut: SendRequest = async (request) => {
      await new Promise((resolve) => setTimeout(resolve, request.timeout + 5));
      throw abortError();
    };
    const request = createPipelineRequest({ url: 'https://device.example/subscriptions/s?api-version=1', method: 'GET' });
    await expect(requestTimeoutPolicy(20).sendRequest(request, timesOut)).rejects.toMatchObject({
      name: 'RestError',
      code: 'RequestTimeout',
      message: 'GET https://device.example/subscriptions/s got no answer within 0.02 s',
    });
  });

  it("passes a caller's cancel through unchanged", async () => {
    const controller = new AbortController();
    controller.abort();
    const request = createPipelineRequest({ url: 'https://device.example/x', abortSignal: controller.signal });
    const cancelled: SendRequest = async () => {
      throw abortError();
    };
    await expect(requestTimeoutPolicy(0.001).sendRequest(request, cancelled)).rejects.toMatchObject({ name: 'AbortError' });
  });
});

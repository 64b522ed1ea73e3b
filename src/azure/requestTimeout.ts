// Every outbound call has a timeout: a pipeline policy puts one on each HTTP attempt of the SDK clients, and
// the ADFS token request uses the same default.
import { RestError, type PipelinePolicy } from '@azure/core-rest-pipeline';

/**
 * Default per-attempt timeout: 30 s. An ARM read answers in well under a second and a write returns as soon
 * as the operation is accepted (the controller never waits on a long-running operation inside one request),
 * so 30 s is only reached by a device or network that stopped answering.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export const requestTimeoutPolicyName = 'gpuvmRequestTimeout';

/** Sets `timeout` on each attempt (unless a shorter one is set) and names a timeout in the error it causes. */
export function requestTimeoutPolicy(timeoutMs: number = DEFAULT_REQUEST_TIMEOUT_MS): PipelinePolicy {
  return {
    name: requestTimeoutPolicyName,
    async sendRequest(request, next) {
      if (!(request.timeout > 0 && request.timeout <= timeoutMs)) request.timeout = timeoutMs;
      const started = Date.now();
      try {
        return await next(request);
      } catch (err) {
        // The HTTP client aborts a timed-out request like a cancelled one; only a caller's signal is a cancel.
        const timedOut = err instanceof Error && err.name === 'AbortError' && request.abortSignal?.aborted !== true && Date.now() - started >= request.timeout;
        if (!timedOut) throw err;
        const url = new URL(request.url);
        throw new RestError(`${request.method} ${url.origin}${url.pathname} got no answer within ${request.timeout / 1000} s`, { code: 'RequestTimeout', request });
      }
    },
  };
}

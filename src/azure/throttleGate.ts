import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { parseRetryAfter } from './retryAfter.js';

/**
 * ARM throttles per subscription and principal, and each device is one subscription: once any request to a
 * device is answered 429 (or 503) with Retry-After, no request to that device is sent before that time —
 * not only the retried one. Shared by all SDK clients of one device, placed per retry.
 */
export class ThrottleGate {
  private until = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** How long requests are held back from now, in ms (0 when open). */
  remainingMs(): number {
    return Math.max(0, this.until - this.now());
  }

  readonly policy: PipelinePolicy = {
    name: 'gpuvmThrottleGate',
    sendRequest: async (request, next) => {
      const wait = this.remainingMs();
      if (wait > 0) await this.sleep(wait);
      const response = await next(request);
      if (response.status === 429 || response.status === 503) {
        const ms = parseRetryAfter(response.headers.get('retry-after'));
        if (ms !== undefined) this.until = Math.max(this.until, this.now() + ms);
      }
      return response;
    },
  };
}

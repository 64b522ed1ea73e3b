import type { PipelinePolicy, PipelineResponse } from '@azure/core-rest-pipeline';
import { DeviceThrottledError } from './deviceResponseError.js';
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from './retryAfter.js';
import { sendChecked } from './sendCheck.js';

/**
 * ARM throttles per subscription and principal, and each device is one subscription: once any request to a
 * device is answered 429 (or 503) with Retry-After, no request to that device is sent before that time —
 * not only the retried one. Shared by all SDK clients of one device, placed per retry (for a device, inside its
 * DeviceBudget, which also paces requests before any 429).
 *
 * Nothing waits here: the throttling answer, and every request while the gate is closed, fails at once with
 * DeviceThrottledError carrying the remaining time (at most MAX_RETRY_AFTER_MS), and the controller requeues the
 * object for then. The error is not a RestError, so the SDK's retry policy (which would sleep for the device's
 * Retry-After, uncapped) passes it straight through.
 */
export class ThrottleGate {
  private until = 0;
  /** What the device answered when it closed the gate: every refusal until then says it too. */
  private answer = '';

  constructor(private readonly now: () => number = Date.now) {}

  /** How long requests are held back from now, in ms (0 when open). */
  remainingMs(): number {
    return Math.max(0, this.until - this.now());
  }

  /** The DeviceThrottledError a request meets while the gate is closed, else undefined. */
  refusal(origin: string): DeviceThrottledError | undefined {
    const wait = this.remainingMs();
    return wait > 0 ? new DeviceThrottledError(`${origin} is throttling requests (${this.answer}); next request in ${Math.ceil(wait / 1000)} s`, wait) : undefined;
  }

  /** Throws DeviceThrottledError while the gate is closed. */
  admit(origin: string): void {
    const refused = this.refusal(origin);
    if (refused !== undefined) throw refused;
  }

  /** Closes the gate, and throws DeviceThrottledError, when the response is a 429/503 with Retry-After. */
  observe(response: PipelineResponse, origin: string): void {
    if (response.status !== 429 && response.status !== 503) return;
    const header = response.headers.get('retry-after');
    const ms = parseRetryAfter(header, this.now());
    if (ms === undefined) return;
    const capped = ms === MAX_RETRY_AFTER_MS ? ` (the most the controller waits; the device asked for Retry-After ${(header ?? '').slice(0, 40)})` : '';
    const answer = `answered HTTP ${response.status} with Retry-After: waiting ${Math.ceil(ms / 1000)} s${capped}`;
    if (this.now() + ms >= this.until) {
      this.until = this.now() + ms;
      this.answer = answer;
    }
    throw new DeviceThrottledError(`${origin} ${answer}`, ms);
  }

  /** Checks the gate per attempt, and again when the attempt is about to leave its socket (sendCheck.ts). */
  readonly policy: PipelinePolicy = {
    name: 'gpuvmThrottleGate',
    sendRequest: async (request, next) => {
      const origin = new URL(request.url).origin;
      this.admit(origin);
      const response = await sendChecked(request, next, () => this.refusal(origin));
      this.observe(response, origin);
      return response;
    },
  };
}

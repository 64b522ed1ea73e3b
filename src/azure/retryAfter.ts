import type { LroStarted } from './deviceArm.js';

export interface RawResponse {
  headers: { get(name: string): string | undefined };
}

/**
 * The longest Retry-After the controller honours: 5 minutes. ARM asks for seconds to a minute; a longer value
 * (or `Retry-After: 99999999`) is a device bug or a hostile device, and must not park an object for days.
 */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * Retry-After is seconds (or an HTTP date, RFC 9110 section 10.2.3); ARM's value bounds how soon we look again.
 * Capped at MAX_RETRY_AFTER_MS.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, seconds * 1000));
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, date - now));
}

/** Captures Retry-After from the first response of a long-running operation (the SDK's onResponse hook). */
export function retryAfterCapture(): { onResponse: (raw: RawResponse) => void; started: () => LroStarted } {
  let retryAfterMs: number | undefined;
  let seen = false;
  return {
    onResponse: (raw) => {
      if (seen) return;
      seen = true;
      retryAfterMs = parseRetryAfter(raw.headers.get('retry-after'));
    },
    started: () => (retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

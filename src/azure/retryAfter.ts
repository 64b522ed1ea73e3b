import type { LroStarted } from './deviceArm.js';

export interface RawResponse {
  headers: { get(name: string): string | undefined };
}

/** Retry-After is seconds (or an HTTP date); ARM's value bounds how soon we look again. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
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

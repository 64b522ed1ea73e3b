// Exponential backoff with jitter, shared by the workqueue (per-key retries) and the informers (restarts).

export interface BackoffOptions {
  /** Delay of the first retry before jitter. */
  baseMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /**
   * Fraction in [0, 1]: each delay is drawn uniformly from [d·(1 − jitter), d] where d = min(maxMs, baseMs·2^attempt),
   * so a delay never exceeds the cap and the spread keeps many failing keys from retrying in lockstep.
   */
  jitter: number;
}

/** The delay before retry number `attempt` (0 for the first retry). `random` returns a value in [0, 1). */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(attempt, 62));
  const raw = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  const jitter = Math.min(1, Math.max(0, options.jitter));
  return raw * (1 - jitter * random());
}

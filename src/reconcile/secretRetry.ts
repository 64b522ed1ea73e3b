// GpuVm admin Secrets are not watched, so a GpuVm stalled by its Secret (missing, forbidden, invalid) looks
// again on its own: after 1 s, doubling to at most SECRET_RETRY_MAX_MS, so a fixed Secret is seen within that.
export const SECRET_RETRY_BASE_MS = 1_000;
export const SECRET_RETRY_MAX_MS = 30_000;

export class SecretRetryBackoff {
  private readonly attempts = new Map<string, number>();

  constructor(
    private readonly baseMs = SECRET_RETRY_BASE_MS,
    private readonly maxMs = SECRET_RETRY_MAX_MS,
  ) {}

  /** The delay before this key's next look at its Secret; each call doubles the next one, up to the cap. */
  next(key: string): number {
    const attempt = this.attempts.get(key) ?? 0;
    this.attempts.set(key, attempt + 1);
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(attempt, 30));
  }

  reset(key: string): void {
    this.attempts.delete(key);
  }
}

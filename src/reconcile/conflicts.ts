import { ApiException } from '@kubernetes/client-node';

/** How soon to look again after a write lost an optimistic-concurrency race. */
export const CONFLICT_RETRY_MS = 100;

export function isConflict(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

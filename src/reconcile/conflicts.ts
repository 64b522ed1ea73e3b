import { ApiException } from '@kubernetes/client-node';
import { requeueAfter, type ReconcileOutcome } from '../runtime/controller.js';
import type { Logger } from '../runtime/logger.js';

/** How soon to look again after a write lost an optimistic-concurrency race. */
export const CONFLICT_RETRY_MS = 100;

export function isConflict(err: unknown): boolean {
  return err instanceof ApiException && err.code === 409;
}

/**
 * Runs a reconcile; a write that lost an optimistic-concurrency race (someone, often the user, changed the
 * object since the cache saw it) is retried soon with the current version instead of counting as a failure.
 */
export async function retryOnConflict(log: Logger, key: string, reconcile: () => Promise<ReconcileOutcome>): Promise<ReconcileOutcome> {
  try {
    return await reconcile();
  } catch (err) {
    if (!isConflict(err)) throw err;
    log.debug({ key }, 'write conflict; retrying with the current version');
    return requeueAfter(CONFLICT_RETRY_MS);
  }
}

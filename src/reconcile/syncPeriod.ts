// When a device is looked at again with nothing else to do. Spread by up to +10% (never earlier than the sync
// period, so the listing it triggers is always due): devices that converged together, or were all listed after a
// restart, would otherwise list again in one burst every period, as controller-runtime's SyncPeriod jitter avoids.
export const SYNC_JITTER = 0.1;

export function nextSyncDelay(syncPeriodMs: number, random: () => number = Math.random): number {
  return Math.round(syncPeriodMs * (1 + SYNC_JITTER * random()));
}

// Counts of the reliability suite: CI runs the defaults; GPUVM_RELIABILITY_SCALE=N multiplies them for a longer soak.
export const RELIABILITY_SCALE_ENV = 'GPUVM_RELIABILITY_SCALE';

export function reliabilityScale(): number {
  const raw = process.env[RELIABILITY_SCALE_ENV];
  if (raw === undefined || raw === '') return 1;
  const scale = Number(raw);
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`${RELIABILITY_SCALE_ENV}=${raw}: expected a positive number, e.g. 1 (CI) or 5 (soak)`);
  return scale;
}

/** A default count scaled by GPUVM_RELIABILITY_SCALE, at least 1. */
export function scaled(count: number): number {
  return Math.max(1, Math.round(count * reliabilityScale()));
}

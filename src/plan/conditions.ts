import type { Condition, ConditionStatus } from '../api/types.js';

/** What a planner says about one condition; the time and generation are filled in by `setConditions`. */
export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * Merges condition updates into the existing list following Kubernetes conventions:
 * lastTransitionTime changes only when status changes; observedGeneration is the generation acted on.
 * Conditions not mentioned are kept as they were.
 */
export function setConditions(
  existing: readonly Condition[] | undefined,
  updates: readonly ConditionUpdate[],
  generation: number,
  now: Date,
): Condition[] {
  const byType = new Map((existing ?? []).map((c) => [c.type, c]));
  for (const update of updates) {
    const previous = byType.get(update.type);
    const lastTransitionTime =
      previous !== undefined && previous.status === update.status ? previous.lastTransitionTime : rfc3339(now);
    byType.set(update.type, { ...update, observedGeneration: generation, lastTransitionTime });
  }
  return [...byType.values()];
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** Kubernetes timestamps have second precision; sub-second digits would make every write look like a change. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const condition = (type: string, status: ConditionStatus, reason: string, message: string): ConditionUpdate => ({
  type,
  status,
  reason,
  message,
});

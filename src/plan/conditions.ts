import type { Condition, ConditionStatus } from '../api/types.js';
import { truncateUtf8 } from '../text/truncateUtf8.js';

/**
 * A condition message holds at most 2 KiB of UTF-8 (metav1.Condition allows 32 KiB): messages quote device
 * answers, and a few conditions of unbounded text would push the object past etcd's 1.5 MiB request limit,
 * after which every status write fails.
 */
export const MAX_CONDITION_MESSAGE_BYTES = 2048;
/** A reason is a CamelCase token of at most 1024 characters (metav1.Condition); ours are short. */
const MAX_CONDITION_REASON_BYTES = 1024;

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
    const reason = truncateUtf8(update.reason, MAX_CONDITION_REASON_BYTES);
    const message = truncateUtf8(update.message, MAX_CONDITION_MESSAGE_BYTES);
    byType.set(update.type, { ...update, reason, message, observedGeneration: generation, lastTransitionTime });
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

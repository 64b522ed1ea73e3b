// A device or Azure request that failed while acting (a PUT refused with a 4xx, a power action, a role change)
// becomes a condition and a Warning Event, so `kubectl describe` says what went wrong; the reconcile still fails
// and is retried with the key's backoff.
import { isRestError } from '@azure/core-rest-pipeline';
import type { Condition } from '../api/types.js';
import { condition, setConditions, type ConditionUpdate } from '../plan/conditions.js';
import { describeArmError } from './armErrors.js';

/** Condition and Event reasons are CamelCase identifiers (metav1.Condition: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$). */
const MAX_REASON = 64;
const FALLBACK_REASON = 'ArmRequestFailed';

/**
 * A throttled request (429, or an error that asks to be retried after a delay) is not a failure of the action:
 * it is retried as the device asks, and writing it into status would add writes exactly when the device is busy.
 */
export function isThrottled(err: unknown): boolean {
  if (isRestError(err) && err.statusCode === 429) return true;
  return typeof err === 'object' && err !== null && typeof (err as { retryAfterMs?: unknown }).retryAfterMs === 'number';
}

/** The reason for a failed request: the ARM error code (e.g. InvalidParameter), else HttpNNN, else a fixed one. */
export function actionFailureReason(err: unknown): string {
  let raw: string | undefined;
  if (isRestError(err)) raw = err.code ?? (err.statusCode !== undefined ? `Http${err.statusCode}` : undefined);
  else if (err instanceof Error) {
    const code: unknown = (err as { code?: unknown }).code;
    if (typeof code === 'string') raw = code;
  }
  const cleaned = (raw ?? '').replace(/[^A-Za-z0-9]/g, '').slice(0, MAX_REASON);
  return /^[A-Za-z]/.test(cleaned) ? cleaned : FALLBACK_REASON;
}

/**
 * One line for a condition or Event: the ARM code, message (first line, bounded) and HTTP status. `secrets` are
 * values the request carried (an admin password, a public key): a device that echoes them back does not get
 * them into status.
 */
export function actionFailureMessage(what: string, err: unknown, secrets: readonly (string | undefined)[] = []): string {
  let text = describeArmError(err);
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 4) text = text.split(secret).join('[redacted]');
  }
  return `${what} failed: ${text}; retrying with backoff`;
}

/** The conditions after a failed action: the action's own condition, Ready and Reconciling say why. */
export function failedActionConditions(
  existing: readonly Condition[] | undefined,
  conditionType: string,
  reason: string,
  message: string,
  generation: number,
  now: Date,
): Condition[] {
  const updates: ConditionUpdate[] = [
    condition(conditionType, 'False', reason, message),
    condition('Ready', 'False', reason, message),
    condition('Reconciling', 'True', reason, message),
  ];
  return setConditions(existing, updates, generation, now);
}

/**
 * Removes `secrets` from an error the reconcile is about to rethrow (and the runtime to log): a device that echoes
 * a parameter back ("The value '…' of parameter 'adminPassword' is not allowed") must not get it into the log.
 * The error keeps its type and fields (status code, ARM code, Retry-After), so retries work as before.
 */
export function redactSecretsIn(err: unknown, secrets: readonly (string | undefined)[]): unknown {
  const values = secrets.filter((v): v is string => v !== undefined && v.length >= 4);
  if (values.length === 0 || !(err instanceof Error)) return err;
  const scrub = (text: string): string => values.reduce((t, v) => t.split(v).join('[redacted]'), text);
  err.message = scrub(err.message);
  if (err.stack !== undefined) err.stack = scrub(err.stack);
  // RestError's parsed error body is logged with it; its request and response are not (not enumerable).
  const details: unknown = (err as { details?: unknown }).details;
  if (details !== undefined && details !== null) {
    try {
      (err as { details?: unknown }).details = JSON.parse(scrub(JSON.stringify(details))) as unknown;
    } catch {
      (err as { details?: unknown }).details = undefined;
    }
  }
  return err;
}

/**
 * A failed action as the reconcile loop records it: the planned status with the action's condition (and Ready,
 * Reconciling) saying why, and the Warning Event, whose reason is the error code.
 */
export function actionFailure<S extends { conditions?: Condition[] }>(
  planned: S,
  conditionType: string,
  what: string,
  err: unknown,
  at: { generation: number; now: Date },
  secrets: readonly (string | undefined)[] = [],
): { status: S; event: { type: 'Warning'; reason: string; message: string } } {
  const reason = actionFailureReason(err);
  const message = actionFailureMessage(what, err, secrets);
  const conditions = failedActionConditions(planned.conditions, conditionType, reason, message, at.generation, at.now);
  return { status: { ...planned, conditions }, event: { type: 'Warning', reason, message } };
}

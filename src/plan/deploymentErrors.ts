import type { ArmError } from '../arm/resources.js';
import { truncateUtf8 } from '../text/truncateUtf8.js';

/** The failure's code and message as quoted in conditions: the code is an ARM token, the message the device's text. */
const MAX_FAILURE_CODE_BYTES = 128;
const MAX_FAILURE_MESSAGE_BYTES = 1024;
/** An error tree is walked this deep and collects at most this many leaves (ARM nests two or three levels). */
const MAX_DEPTH = 8;
const MAX_LEAVES = 100;

export interface DeploymentFailure {
  /** The innermost, most specific ARM error code (e.g. AllocationFailed). */
  code: string;
  message: string;
  /** A retry of the same deployment can succeed without a spec change. */
  retryable: boolean;
}

// Wrappers carry no information of their own; the cause is the resource's code beneath them.
const WRAPPERS = new Set(['DeploymentFailed', 'ResourceDeploymentFailure', 'Conflict', 'BadRequest']);
const RETRYABLE = new Set([
  'AllocationFailed',
  'ZonalAllocationFailed',
  'OverconstrainedAllocationRequest',
  'InternalServerError',
  'InternalExecutionError',
  'ServiceUnavailable',
  'TooManyRequests',
  'RetryableError',
  'OperationPreempted',
  'Canceled',
  'VMExtensionProvisioningError',
  'VMExtensionProvisioningTimeout',
  'DeploymentActive',
]);

function leaves(error: ArmError, depth = 0, into: ArmError[] = []): ArmError[] {
  if (into.length >= MAX_LEAVES) return into;
  const details = Array.isArray(error.details) ? error.details : [];
  if (details.length === 0 || depth >= MAX_DEPTH) into.push(error);
  else for (const detail of details) leaves(detail, depth + 1, into);
  return into;
}

/** Picks the specific cause of a failed deployment from its error tree and per-operation failures. */
export function classifyDeploymentFailure(error: ArmError | undefined, operationFailures: readonly ArmError[] = []): DeploymentFailure {
  const candidates = [...operationFailures.slice(0, MAX_LEAVES).flatMap((e) => leaves(e)), ...(error === undefined ? [] : leaves(error))];
  const specific = candidates.find((e) => !WRAPPERS.has(e.code)) ?? candidates[0];
  if (specific === undefined) return { code: 'DeploymentFailed', message: 'the deployment failed without an error', retryable: true };
  const code = truncateUtf8(String(specific.code), MAX_FAILURE_CODE_BYTES);
  return { code, message: truncateUtf8(String(specific.message), MAX_FAILURE_MESSAGE_BYTES), retryable: RETRYABLE.has(code) };
}

import type { ArmError } from '../azure/deviceArm.js';

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

function leaves(error: ArmError): ArmError[] {
  const details = error.details ?? [];
  if (details.length === 0) return [error];
  return details.flatMap(leaves);
}

/** Picks the specific cause of a failed deployment from its error tree and per-operation failures. */
export function classifyDeploymentFailure(error: ArmError | undefined, operationFailures: readonly ArmError[] = []): DeploymentFailure {
  const candidates = [...operationFailures.flatMap(leaves), ...(error === undefined ? [] : leaves(error))];
  const specific = candidates.find((e) => !WRAPPERS.has(e.code)) ?? candidates[0];
  if (specific === undefined) return { code: 'DeploymentFailed', message: 'the deployment failed without an error', retryable: true };
  return { code: specific.code, message: specific.message, retryable: RETRYABLE.has(specific.code) };
}

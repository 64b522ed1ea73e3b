// ARM-shaped errors: {"error":{"code","message","target","details"}} with an HTTP status.
export interface ArmErrorBody {
  code: string;
  message: string;
  target?: string;
  details?: ArmErrorBody[];
}

export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly target?: string,
    readonly details?: ArmErrorBody[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): ArmErrorBody {
    return {
      code: this.code,
      message: this.message,
      ...(this.target !== undefined ? { target: this.target } : {}),
      ...(this.details !== undefined ? { details: this.details } : {}),
    };
  }
}

export const badRequest = (code: string, message: string, target?: string): ArmError =>
  new ArmError(400, code, message, target);

export const notFound = (type: string, name: string, resourceGroup?: string): ArmError =>
  new ArmError(
    404,
    resourceGroup === undefined ? 'NotFound' : 'ResourceNotFound',
    resourceGroup === undefined
      ? `The ${type} '${name}' was not found.`
      : `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found.`,
  );

export const conflict = (code: string, message: string): ArmError => new ArmError(409, code, message);

/** Turns any thrown value into an ARM error body (unknown errors become InternalServerError). */
export function toArmError(err: unknown): ArmError {
  if (err instanceof ArmError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ArmError(500, 'InternalServerError', `The simulator failed to process the request: ${message}`);
}

/** DeploymentFailed -> ResourceDeploymentFailure -> the resource's own error. */
export function deploymentFailed(resourceError: ArmErrorBody): ArmErrorBody {
  return {
    code: 'DeploymentFailed',
    message:
      'At least one resource deployment operation failed. Please list deployment operations for details.',
    details: [
      {
        code: 'ResourceDeploymentFailure',
        message: "The resource operation completed with terminal provisioning state 'Failed'.",
        details: [resourceError],
      },
    ],
  };
}

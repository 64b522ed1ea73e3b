import { isRestError } from '@azure/core-rest-pipeline';

/**
 * A one-line description of an ARM or network failure for conditions and logs. Only the status code,
 * ARM error code and message are used: request and response objects (which carry Authorization headers
 * and request bodies with passwords) are never included.
 */
export function describeArmError(err: unknown): string {
  if (isRestError(err)) {
    const code = err.code !== undefined ? `${err.code}: ` : '';
    const status = err.statusCode !== undefined ? ` (HTTP ${err.statusCode})` : '';
    return `${code}${firstLine(err.message)}${status}`;
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${code}: ` : ''}${firstLine(err.message)}`;
  }
  return String(err);
}

function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

import { isRestError } from '@azure/core-rest-pipeline';
import { DeviceResponseError, DeviceThrottledError } from '../azure/deviceResponseError.js';
import { truncateUtf8 } from '../text/truncateUtf8.js';

/** The first line of a device's error message, in UTF-8 bytes, as quoted in conditions. */
const MAX_ERROR_LINE_BYTES = 512;

/** Why a device could not be read, as a condition reason: throttling and bad answers are named as such. */
export function armProblemReason(err: unknown): 'DeviceThrottling' | 'InvalidDeviceResponse' | 'DeviceUnreachable' {
  if (err instanceof DeviceThrottledError) return 'DeviceThrottling';
  // PARSE_ERROR: the SDK could not read the body as JSON (core-rest-pipeline RestError.PARSE_ERROR).
  if (err instanceof DeviceResponseError || (isRestError(err) && err.code === 'PARSE_ERROR')) return 'InvalidDeviceResponse';
  return 'DeviceUnreachable';
}

/**
 * A one-line description of an ARM or network failure for conditions and logs. Only the status code,
 * ARM error code and message are used: request and response objects (which carry Authorization headers
 * and request bodies with passwords) are never included.
 */
export function describeArmError(err: unknown): string {
  if (isRestError(err)) {
    const code = err.code !== undefined ? `${truncateUtf8(err.code, 128)}: ` : '';
    const status = err.statusCode !== undefined ? ` (HTTP ${err.statusCode})` : '';
    return `${code}${firstLine(err.message)}${status}`;
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${truncateUtf8(code, 128)}: ` : ''}${firstLine(err.message)}`;
  }
  return firstLine(String(err));
}

function firstLine(message: string): string {
  const end = message.indexOf('\n');
  return truncateUtf8(end === -1 ? message : message.slice(0, end), MAX_ERROR_LINE_BYTES);
}

// The controller's own errors about what a device (or Azure) answered: each names what was wrong, so a condition
// can say it, and none of them carries the response itself.

export type DeviceResponseProblem =
  | 'ResponseTooLarge'
  | 'TooManyPages'
  | 'TooManyItems'
  | 'ForeignLink'
  | 'UnreadableResponse'
  | 'ValueOutOfRange';

/** A device answer the controller will not use; `code` says why, the message names the request or field. */
export class DeviceResponseError extends Error {
  override readonly name = 'DeviceResponseError';

  constructor(
    readonly code: DeviceResponseProblem,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A request to the device may not go now: the device is throttling (it answered 429/503 with Retry-After, or did so
 * earlier and that time has not passed), or the controller's own budget for the device is spent (`budget`).
 * Raised instead of waiting inside the request, so the object is requeued at `retryAfterMs` and no worker sleeps.
 */
export class DeviceThrottledError extends Error {
  override readonly name = 'DeviceThrottledError';
  readonly code = 'DeviceThrottling';

  constructor(
    message: string,
    readonly retryAfterMs: number,
    /** `budget`: the controller held the request back itself; the device said nothing. */
    readonly by: 'device' | 'budget' = 'device',
  ) {
    super(message);
  }
}

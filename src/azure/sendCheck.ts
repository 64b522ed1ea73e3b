// A check a pipeline policy hands the HTTP agent with a request, asked when the request is about to go out on its
// socket: the last moment the controller can still keep a request from reaching a device.
import type { PipelineRequest, PipelineResponse, SendRequest } from '@azure/core-rest-pipeline';

/** Returns why the request must not be sent now, or undefined to send it. */
export type SendCheck = () => Error | undefined;

/**
 * The key under which the check travels. core-rest-pipeline's Node HTTP client spreads `requestOverrides` into the
 * options of `https.request`, and Node passes those options on to the agent's `addRequest` (lib/_http_client.js).
 */
export const SEND_CHECK_OPTION = 'gpuvmSendCheck';

/**
 * Sends one attempt of the request with `check` handed to the agent. When the check refused the request at its
 * socket, the attempt fails with the check's error, whatever the HTTP client made of the destroyed request.
 */
export async function sendChecked(request: PipelineRequest, next: SendRequest, check: SendCheck): Promise<PipelineResponse> {
  let refused: Error | undefined;
  const before = request.requestOverrides;
  request.requestOverrides = { ...before, [SEND_CHECK_OPTION]: (): Error | undefined => (refused = check()) };
  try {
    return await next(request);
  } catch (err) {
    throw refused ?? err;
  } finally {
    if (before === undefined) delete request.requestOverrides;
    else request.requestOverrides = before;
  }
}

/** The check carried by an agent's request options, if any. */
export function sendCheckOf(options: unknown): SendCheck | undefined {
  if (options === null || typeof options !== 'object') return undefined;
  const check: unknown = (options as Record<string, unknown>)[SEND_CHECK_OPTION];
  return typeof check === 'function' ? (check as SendCheck) : undefined;
}

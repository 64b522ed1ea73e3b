// The SDKs' deserializers trust the answer's shape: a device sending a string where a list belongs makes them throw
// a TypeError ("result.map is not a function"), a RangeError or a SyntaxError, inside the pipeline (core-client
// clients) or after it (the generated deserializers of @azure/arm-compute). Those become the controller's own
// DeviceResponseError naming the request, so they are reported as an invalid answer, not as a crash of ours.
import { isRestError, type PipelinePolicy } from '@azure/core-rest-pipeline';
import { DeviceResponseError, DeviceThrottledError } from './deviceResponseError.js';
import { truncateUtf8 } from '../text/truncateUtf8.js';

// Only what a deserializer throws on a wrong shape: any other error (HTTP, throttling, aborts, a refused sign-in
// from the credential, which runs inside the same pipeline) keeps its own type and meaning.
const isShapeError = (err: unknown): boolean =>
  (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) && !isRestError(err) && !(err instanceof DeviceResponseError) && !(err instanceof DeviceThrottledError);

/** A DeviceResponseError about `what` when `err` is a deserializer's shape error; otherwise `err` itself. */
export function asUnreadableAnswer(what: string, err: unknown): unknown {
  if (!isShapeError(err)) return err;
  const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new DeviceResponseError('UnreadableResponse', `${what}: the answer could not be read (${truncateUtf8(reason, 200)})`);
}

/** Placed per call, outside the SDK's deserialization. */
export function unreadableAnswerPolicy(): PipelinePolicy {
  return {
    name: 'gpuvmUnreadableAnswer',
    async sendRequest(request, next) {
      try {
        return await next(request);
      } catch (err) {
        const url = new URL(request.url);
        throw asUnreadableAnswer(`${request.method} ${url.origin}${url.pathname}`, err);
      }
    },
  };
}

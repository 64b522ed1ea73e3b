// A device names the URL of its next page (nextLink) and of its operations: the SDK would follow any of them
// with the device's bearer token. Only the client's own endpoint is ever called.
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { DeviceResponseError } from './deviceResponseError.js';

export function sameOriginPolicy(endpoint: string): PipelinePolicy {
  const origin = new URL(endpoint).origin;
  return {
    name: 'gpuvmSameOrigin',
    sendRequest(request, next) {
      let target: string;
      try {
        target = new URL(request.url).origin;
      } catch {
        target = 'an invalid URL';
      }
      if (target !== origin) {
        return Promise.reject(new DeviceResponseError('ForeignLink', `the answer from ${origin} pointed at ${target.slice(0, 200)}; the controller only calls ${origin}`));
      }
      return next(request);
    },
  };
}

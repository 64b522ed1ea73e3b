// The controller reads at most MAX_RESPONSE_BYTES of any answer, within the attempt's timeout: the HTTP client
// would otherwise buffer a body of any size, and stops its timer once the headers are in.
import { RestError, type PipelinePolicy, type PipelineRequest } from '@azure/core-rest-pipeline';
import { DeviceResponseError } from './deviceResponseError.js';

/**
 * 4 MiB: the largest ARM answer the controller reads is one page of a VM list (ARM pages hold up to 1,000 items
 * of a few KiB; a device holds tens of VMs), so a larger body is a broken or hostile device.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export const responseSizeLimitPolicyName = 'gpuvmResponseSizeLimit';

const describe = (request: PipelineRequest): string => {
  const url = new URL(request.url);
  return `${request.method} ${url.origin}${url.pathname}`;
};

/**
 * Asks the HTTP client for the body as a stream, reads it up to `maxBytes` and before `request.timeout` has passed
 * since the attempt started (a device trickling bytes is cut off like a silent one), and hands the SDK the text.
 * Must be the innermost policy so every other policy sees a body already read.
 */
export function responseSizeLimitPolicy(maxBytes: number = MAX_RESPONSE_BYTES): PipelinePolicy {
  return {
    name: responseSizeLimitPolicyName,
    async sendRequest(request, next) {
      const started = Date.now();
      const asked = request.streamResponseStatusCodes;
      // POSITIVE_INFINITY: every status as a stream (core-rest-pipeline's NodeHttpClient contract).
      request.streamResponseStatusCodes = new Set([Number.POSITIVE_INFINITY]);
      let response;
      try {
        response = await next(request);
      } finally {
        if (asked === undefined) delete request.streamResponseStatusCodes;
        else request.streamResponseStatusCodes = asked;
      }
      const stream = response.readableStreamBody;
      if (stream === undefined || asked?.has(Number.POSITIVE_INFINITY) === true || asked?.has(response.status) === true) return response;
      delete response.readableStreamBody;
      const declared = Number(response.headers.get('content-length'));
      if (Number.isFinite(declared) && declared > maxBytes) {
        destroyStream(stream);
        throw new DeviceResponseError('ResponseTooLarge', `${describe(request)} answered a body of ${declared} bytes, more than the ${maxBytes} the controller reads`);
      }
      const deadline = request.timeout > 0 ? started + request.timeout : Infinity;
      response.bodyAsText = await readCapped(stream, maxBytes, deadline, request);
      return response;
    },
  };
}

function destroyStream(stream: NodeJS.ReadableStream): void {
  (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
}

function readCapped(stream: NodeJS.ReadableStream, maxBytes: number, deadline: number, request: PipelineRequest): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const destroy = (): void => destroyStream(stream);
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.abortSignal?.removeEventListener('abort', onAbort);
      stream.removeListener('data', onData);
      outcome();
    };
    const onData = (chunk: Buffer | string): void => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buffer.length;
      if (size > maxBytes) {
        destroy();
        finish(() => reject(new DeviceResponseError('ResponseTooLarge', `${describe(request)} answered more than the ${maxBytes} bytes the controller reads`)));
        return;
      }
      chunks.push(buffer);
    };
    const onAbort = (): void => {
      destroy();
      finish(() => reject(Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' })));
    };
    const remaining = deadline - Date.now();
    const timer = setTimeout(
      () => {
        destroy();
        finish(() => reject(new RestError(`${describe(request)} did not finish its answer within ${request.timeout / 1000} s`, { code: 'RequestTimeout', request })));
      },
      Number.isFinite(remaining) ? Math.max(0, remaining) : 2 ** 31 - 1,
    );
    request.abortSignal?.addEventListener('abort', onAbort);
    stream.on('data', onData);
    stream.on('error', (err: Error) => finish(() => reject(new RestError(`${describe(request)}: reading the answer failed: ${err.message}`, { code: 'REQUEST_SEND_ERROR', request }))));
    stream.on('end', () => finish(() => resolve(Buffer.concat(chunks).toString('utf8'))));
  });
}

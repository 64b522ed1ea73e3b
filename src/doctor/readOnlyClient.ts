// The only way doctor talks to a device or to Azure: HTTPS GET with a bearer token and a timeout. There is no
// method parameter, so no check can write by accident.
import { request } from 'node:https';

export interface GetResult {
  status: number;
  body: unknown;
}

export interface ReadOnlyClient {
  /** GET an absolute URL; resolves with any HTTP status, rejects on network/TLS errors and timeouts. */
  get(url: string): Promise<GetResult>;
}

export interface ReadOnlyClientOptions {
  /** PEM bundle to trust; undefined = the system roots. */
  ca?: string;
  timeoutMs: number;
  /** Bearer token source, asked before every request (credentials cache their tokens). */
  token: () => Promise<string>;
}

export class RequestTimeoutError extends Error {
  constructor(url: string, timeoutMs: number) {
    super(`no answer from ${new URL(url).origin} within ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

export function createReadOnlyClient(options: ReadOnlyClientOptions): ReadOnlyClient {
  return {
    async get(url) {
      const token = await options.token();
      return new Promise<GetResult>((resolve, reject) => {
        const req = request(
          url,
          {
            method: 'GET',
            headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'user-agent': 'gpuvm-controller-doctor' },
            ...(options.ca !== undefined ? { ca: options.ca } : {}),
            timeout: options.timeoutMs,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let body: unknown = text;
              try {
                body = text === '' ? undefined : JSON.parse(text);
              } catch {
                // Not JSON: keep the text for the error message.
              }
              resolve({ status: res.statusCode ?? 0, body });
            });
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new RequestTimeoutError(url, options.timeoutMs)));
        req.on('error', reject);
        req.end();
      });
    },
  };
}

/** `code: message` of an ARM error body, or the HTTP status. */
export function armErrorText(result: GetResult): string {
  const error = (result.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (error !== undefined && typeof error === 'object') return `${String(error.code ?? result.status)}: ${String(error.message ?? '')}`.trim();
  return `HTTP ${result.status}`;
}

/** The ARM error code alone (or the HTTP status), for one-line summaries. */
export function armErrorCode(result: GetResult): string {
  const code = (result.body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' ? code : `HTTP ${result.status}`;
}

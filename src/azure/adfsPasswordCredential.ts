// The EdgeArmUser token, asked for the way the documented Azure Stack Edge clients ask for it: the ADAL-based
// Azure CLI 2.0.80, Az 1.10 and the .NET sample (ASE articles "Connect to Azure Resource Manager" / "Deploy VMs
// via Azure CLI and Python") send an OAuth2 resource-owner-password request to the device's ADFS,
// POST <login>/adfs/oauth2/token with grant_type=password, the public client id and
// resource=https://management.<device>.<dnsdomain>/ (with the trailing slash) — not an MSAL v2 scope.
import { request as httpsRequest, type Agent } from 'node:https';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './requestTimeout.js';
import { MAX_RESPONSE_BYTES } from './responseSizeLimit.js';

/** The fixed public client id of Azure Stack Edge local ARM (domain notes). */
export const DEVICE_ARM_CLIENT_ID = '1950a258-227b-4e31-a9cf-717495945fc2';

/** A token is renewed this long before it expires (or at half its lifetime when that is shorter). */
const REFRESH_MARGIN_MS = 5 * 60_000;

/** Tokens by resource: a cache handed in outlives the credential (clients built again keep their token). */
export type AdfsTokenCache = Map<string, { token: AccessToken; refreshAt: number }>;

export interface AdfsPasswordCredentialOptions {
  /** https://login.<device>.<domain> (the token endpoint is <loginEndpoint>/adfs/oauth2/token). */
  loginEndpoint: string;
  username: string;
  password: string;
  /** The device's root CA (PEM): the only CA trusted for the token endpoint when set. */
  caPem?: string;
  /**
   * The device's keep-alive agent (deviceAgent.ts), shared with its ARM clients: its trust (built from the same
   * caPem) replaces caPem here. An agent pools per host, so the login host gets connections of its own.
   */
  agent?: Agent;
  clientId?: string;
  /** Per request (default DEFAULT_REQUEST_TIMEOUT_MS, 30 s). */
  timeoutMs?: number;
  /** Where the username and password come from, named in errors (e.g. "Secret gpuvm-system/dev-arm"). */
  credentialsSource?: string;
  /** Where tokens are kept (default: a cache of this credential's own). Share it only for the same username and password. */
  tokenCache?: AdfsTokenCache;
  now?: () => number;
}

/** A refused or failed token request. The message names the ADFS error code and never the password or a token. */
export class AdfsTokenError extends Error {
  override readonly name = 'AdfsTokenError';

  constructor(
    message: string,
    /** The ADFS/Entra error (e.g. invalid_grant) or a transport failure code. */
    readonly code: string,
    readonly statusCode?: number,
    /** AADSTS / MSIS codes found in the answer. */
    readonly stsCodes: readonly string[] = [],
  ) {
    super(message);
  }
}

interface TokenAnswer {
  status: number;
  body: Record<string, unknown> | undefined;
}

/** The resource URI for a scope: ".../.default" (what the SDK asks for) → the resource with a trailing slash. */
export function resourceOfScope(scope: string): string {
  const resource = scope.replace(/\/?\.default$/i, '');
  return resource.endsWith('/') ? resource : `${resource}/`;
}

/** Known STS codes → what to fix. */
function advice(codes: readonly string[], source: string): string | undefined {
  const has = (...c: string[]): boolean => c.some((x) => codes.includes(x));
  if (has('AADSTS50126', 'MSIS9659')) return `the username or password is wrong: fix ${source}`;
  if (has('AADSTS50053')) return `the account is locked after failed sign-ins: wait, then check ${source}`;
  if (has('AADSTS50055')) return 'the EdgeArmUser password has expired: set a new one on the device (local UI) and in the Secret';
  if (has('AADSTS90056', 'AADSTS500011')) return 'the device does not know the requested resource: check spec.arm.endpoint (https://management.<device>.<dnsdomain>)';
  if (has('AADSTS700016')) return 'the device does not know the client id';
  return undefined;
}

function stsCodesOf(body: Record<string, unknown> | undefined): string[] {
  const codes = new Set<string>();
  const text = `${String(body?.['error_description'] ?? '')}`;
  for (const m of text.matchAll(/\b(AADSTS\d+|MSIS\d+)\b/g)) codes.add(m[1] ?? '');
  const numeric = body?.['error_codes'];
  if (Array.isArray(numeric)) for (const n of numeric) if (typeof n === 'number') codes.add(`AADSTS${n}`);
  codes.delete('');
  return [...codes];
}

/** TokenCredential for the device's EdgeArmUser (ADAL-style resource-owner-password grant against ADFS). */
export class AdfsPasswordCredential implements TokenCredential {
  private readonly tokenUrl: URL;
  private readonly cache: AdfsTokenCache;
  private readonly inFlight = new Map<string, Promise<AccessToken>>();
  private readonly now: () => number;

  constructor(private readonly options: AdfsPasswordCredentialOptions) {
    if (!/^https:\/\//i.test(options.loginEndpoint)) throw new Error(`loginEndpoint must be an https:// URL (got ${options.loginEndpoint})`);
    this.tokenUrl = new URL(`${options.loginEndpoint.replace(/\/+$/, '')}/adfs/oauth2/token`);
    this.now = options.now ?? Date.now;
    this.cache = options.tokenCache ?? new Map();
  }

  async getToken(scopes: string | string[], options: GetTokenOptions = {}): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes[0] : scopes;
    if (scope === undefined || scope === '') throw new AdfsTokenError('no resource was asked for', 'invalid_request');
    const resource = resourceOfScope(scope);
    const cached = this.cache.get(resource);
    if (cached !== undefined && this.now() < cached.refreshAt) return cached.token;
    let pending = this.inFlight.get(resource);
    if (pending === undefined) {
      // Concurrent callers share one request; the caller's abort signal only stops its own wait. A renewal
      // that fails while the cached token is still valid keeps that token (a short ADFS outage stops nothing).
      pending = this.requestToken(resource)
        .catch((err: unknown) => {
          if (cached !== undefined && this.now() < cached.token.expiresOnTimestamp - 30_000) return cached.token;
          throw err;
        })
        .finally(() => this.inFlight.delete(resource));
      this.inFlight.set(resource, pending);
    }
    return options.abortSignal === undefined ? pending : raceAbort(pending, options.abortSignal);
  }

  private async requestToken(resource: string): Promise<AccessToken> {
    const form = new URLSearchParams({
      grant_type: 'password',
      client_id: this.options.clientId ?? DEVICE_ARM_CLIENT_ID,
      resource,
      username: this.options.username,
      password: this.options.password,
    }).toString();
    const sentAt = this.now();
    const answer = await this.post(form);
    const body = answer.body;
    const accessToken = body?.['access_token'];
    if (answer.status === 200 && typeof accessToken === 'string' && accessToken !== '') {
      const expiresInS = Number(body?.['expires_in'] ?? 3600);
      const lifetimeMs = (Number.isFinite(expiresInS) && expiresInS > 0 ? expiresInS : 3600) * 1000;
      const expiresOnTimestamp = sentAt + lifetimeMs;
      const refreshAt = expiresOnTimestamp - Math.min(REFRESH_MARGIN_MS, lifetimeMs / 2);
      const token: AccessToken = { token: accessToken, expiresOnTimestamp, refreshAfterTimestamp: refreshAt, tokenType: 'Bearer' };
      this.cache.set(resource, { token, refreshAt });
      return token;
    }
    throw this.refusal(answer, resource);
  }

  private refusal(answer: TokenAnswer, resource: string): AdfsTokenError {
    const error = typeof answer.body?.['error'] === 'string' ? answer.body['error'] : `HTTP ${answer.status}`;
    const codes = stsCodesOf(answer.body);
    const source = this.options.credentialsSource ?? 'the EdgeArmUser credentials';
    const description = this.scrub(String(answer.body?.['error_description'] ?? '').split('\n')[0] ?? '').slice(0, 300);
    const what = advice(codes, source);
    const message = `ADFS at ${this.tokenUrl.origin} refused the EdgeArmUser token for ${resource} (${[error, ...codes].join(', ')})${what !== undefined ? `: ${what}` : ''}${description !== '' ? ` — ${description}` : ''}`;
    return new AdfsTokenError(message, error, answer.status, codes);
  }

  /** Removes the password from text that came from elsewhere (an error description may echo the request). */
  private scrub(text: string): string {
    return this.options.password === '' ? text : text.split(this.options.password).join('***');
  }

  private post(form: string): Promise<TokenAnswer> {
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    return new Promise<TokenAnswer>((resolve, reject) => {
      const req = httpsRequest(
        this.tokenUrl,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'content-length': Buffer.byteLength(form) },
          // The device CA replaces the system roots for the device (a public CA must not vouch for it); the
          // device's agent carries it already parsed.
          ...(this.options.agent !== undefined ? { agent: this.options.agent } : this.options.caPem !== undefined ? { ca: this.options.caPem } : {}),
          signal: AbortSignal.timeout(timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            // A token answer is a few KiB: a device sending more is cut off (the same cap as ARM answers).
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy();
              reject(new AdfsTokenError(`ADFS at ${this.tokenUrl.origin} answered more than the ${MAX_RESPONSE_BYTES} bytes the controller reads`, 'ResponseTooLarge'));
              return;
            }
            chunks.push(c);
          });
          res.on('error', (err) => reject(this.transportError(err, timeoutMs)));
          res.on('end', () => {
            let body: Record<string, unknown> | undefined;
            try {
              const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
              body = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
            } catch {
              body = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body });
          });
        },
      );
      req.on('error', (err) => reject(this.transportError(err, timeoutMs)));
      req.end(form);
    });
  }

  private transportError(err: Error, timeoutMs: number): AdfsTokenError {
    const code = (err as { code?: unknown }).code;
    if (err.name === 'AbortError' || err.name === 'TimeoutError') {
      return new AdfsTokenError(`ADFS at ${this.tokenUrl.origin} did not answer the token request within ${timeoutMs / 1000} s`, 'RequestTimeout');
    }
    const tls = typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code);
    const hint = tls ? ' (the device certificate is not trusted: put the device root CA in spec.arm.caBundleSecretRef)' : '';
    return new AdfsTokenError(`could not reach ADFS at ${this.tokenUrl.origin}: ${this.scrub(err.message)}${hint}`, typeof code === 'string' ? code : 'REQUEST_SEND_ERROR');
  }
}

function raceAbort<T>(promise: Promise<T>, signal: NonNullable<GetTokenOptions['abortSignal']>): Promise<T> {
  if (signal.aborted) return Promise.reject(Object.assign(new Error('The token request was aborted.'), { name: 'AbortError' }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(Object.assign(new Error('The token request was aborted.'), { name: 'AbortError' }));
    signal.addEventListener('abort', onAbort);
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

// Token authorities: an ADFS-style authority per device (/adfs, password / client-credentials /
// refresh-token grants) and an Entra-style authority for the Azure side (/{tenant}/..., client credentials).
import { randomUUID } from 'node:crypto';
import type { SimRequest, SimResponse } from '../http.js';
import type { TokenAudience } from '../profiles.js';
import type { TokenIssuer } from './token.js';

export interface PrincipalCheck {
  /** Which endpoint the tokens are for (device name or "azure"). */
  target: string;
  tenantId: string;
  username?: string;
  password?: string;
  clientId: string;
  clientSecret: string;
  /** A device's ADFS: the ARM origin tokens are for, and which request forms name it. */
  audience?: { origin: string; forms: TokenAudience };
}

/** OpenID scopes MSAL adds to every request; they name no resource. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

/**
 * The audience a device token request names, or an OAuth error. The documented clients (ADAL-based CLI, Az,
 * the .NET sample) send `resource=https://management.<device>/`; MSAL sends `scope=<resource>/.default openid …`
 * (accepted only under tokenAudience `resource-or-scope`). Either must name the device's own ARM.
 */
function requestedAudience(form: URLSearchParams, audience: NonNullable<PrincipalCheck['audience']>): { aud: string } | { error: SimResponse } {
  const resource = form.get('resource');
  const scope = form.get('scope');
  let named: string | undefined;
  if (resource !== null && resource !== '') named = resource;
  else if (scope !== null && scope !== '') {
    if (audience.forms === 'resource') {
      return { error: stsError(400, 'invalid_request', 90056, "AADSTS90056: This endpoint only accepts the 'resource' parameter (ADFS OAuth); the 'scope' form is not supported.") };
    }
    const resources = scope.split(/\s+/).filter((x) => x !== '' && !OIDC_SCOPES.has(x.toLowerCase()));
    if (resources.length !== 1) return { error: stsError(400, 'invalid_scope', 90056, `AADSTS90056: The scope '${scope}' must name exactly one resource.`) };
    named = (resources[0] ?? '').replace(/\/?\.default$/i, '');
  }
  if (named === undefined) return { error: stsError(400, 'invalid_request', 90056, "AADSTS90056: The request has no 'resource' parameter.") };
  if (!sameOrigin(named, audience.origin)) {
    return { error: stsError(400, 'invalid_resource', 90056, `AADSTS90056: The resource '${named}' is not registered on this device's STS; use ${audience.origin}/.`) };
  }
  return { aud: `${audience.origin}/` };
}

/** The named resource is the device ARM: same scheme, port and host (loopback names are one host here). */
function sameOrigin(named: string, origin: string): boolean {
  let a: URL;
  let b: URL;
  try {
    a = new URL(named);
    b = new URL(origin);
  } catch {
    return false;
  }
  const loopback = (h: string): string => (h === 'localhost' ? '127.0.0.1' : h);
  return a.protocol === b.protocol && a.port === b.port && loopback(a.hostname) === loopback(b.hostname) && (a.pathname === '/' || a.pathname === '//' || a.pathname === '');
}

const stsError = (status: number, error: string, code: number, description: string): SimResponse => ({
  status,
  body: { error, error_description: description, error_codes: [code], timestamp: new Date().toISOString(), trace_id: randomUUID(), correlation_id: randomUUID() },
});
const oauthError = (status: number, error: string, description: string): SimResponse => stsError(status, error, status === 401 ? 7000215 : 50126, description);

export function openIdConfiguration(authority: string): SimResponse {
  return {
    status: 200,
    body: {
      issuer: authority,
      authorization_endpoint: `${authority}/oauth2/authorize`,
      token_endpoint: `${authority}/oauth2/token`,
      jwks_uri: `${authority}/discovery/keys`,
      end_session_endpoint: `${authority}/oauth2/logout`,
      response_types_supported: ['code', 'id_token', 'code id_token', 'token'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
      subject_types_supported: ['pairwise'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    },
  };
}

/** Handles a token request; the authority string is the token issuer. */
export function tokenEndpoint(req: SimRequest, issuer: TokenIssuer, authority: string, principal: PrincipalCheck): SimResponse {
  if (req.method !== 'POST') return oauthError(400, 'invalid_request', 'The token endpoint accepts POST only.');
  const form = new URLSearchParams(req.rawBody);
  const grant = form.get('grant_type');
  const clientId = form.get('client_id') ?? '';
  const scope = form.get('scope') ?? form.get('resource') ?? '';
  let subject: string;
  let upn: string | undefined;
  if (grant === 'password') {
    if (principal.username === undefined) return oauthError(400, 'unsupported_grant_type', 'The password grant is not supported by this authority.');
    const username = form.get('username') ?? '';
    if (username.toLowerCase() !== principal.username.toLowerCase() || form.get('password') !== principal.password) {
      return oauthError(400, 'invalid_grant', 'AADSTS50126: Error validating credentials due to invalid username or password.');
    }
    subject = principal.username;
    upn = principal.username;
  } else if (grant === 'client_credentials') {
    const basic = req.headers.authorization?.startsWith('Basic ')
      ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString('utf8').split(':')
      : undefined;
    const id = basic?.[0] !== undefined ? decodeURIComponent(basic[0]) : clientId;
    const secret = basic?.[1] !== undefined ? decodeURIComponent(basic[1]) : form.get('client_secret');
    if (id !== principal.clientId) return oauthError(400, 'unauthorized_client', `Application with identifier '${id}' was not found in the directory.`);
    if (secret !== principal.clientSecret) return oauthError(401, 'invalid_client', 'Invalid client secret provided.');
    subject = id;
  } else if (grant === 'refresh_token') {
    const verified = issuer.verify(form.get('refresh_token') ?? '', `${principal.target}#refresh`);
    if ('reason' in verified) return oauthError(400, 'invalid_grant', `The refresh token is invalid: ${verified.reason}`);
    subject = verified.claims.sub;
    upn = typeof verified.claims['upn'] === 'string' ? verified.claims['upn'] : undefined;
  } else {
    return oauthError(400, 'unsupported_grant_type', `The grant type '${String(grant)}' is not supported.`);
  }
  // Credentials first (a wrong password reads AADSTS50126 whatever the resource), then the audience.
  let aud = scope;
  if (principal.audience !== undefined) {
    const checked = requestedAudience(form, principal.audience);
    if ('error' in checked) return checked.error;
    aud = checked.aud;
  }
  const base = { iss: authority, aud, sub: subject, tid: principal.tenantId, oid: subject, ...(upn !== undefined ? { upn } : {}) };
  const access = issuer.issue({ ...base, scope_target: principal.target });
  const body: Record<string, unknown> = {
    token_type: 'Bearer',
    access_token: access.token,
    expires_in: access.expiresIn,
    ext_expires_in: access.expiresIn,
    scope,
  };
  if (grant !== 'client_credentials') {
    body['refresh_token'] = issuer.issue({ ...base, scope_target: `${principal.target}#refresh` }).token;
    body['refresh_token_expires_in'] = 86400;
    body['id_token'] = issuer.idToken({
      aud: clientId,
      iss: authority,
      sub: subject,
      oid: subject,
      tid: principal.tenantId,
      upn,
      unique_name: upn,
      preferred_username: upn,
      name: upn,
    });
  }
  return { status: 200, body };
}

/** MSAL's cloud instance discovery, answered for our own host. */
export function instanceDiscovery(origin: string): SimResponse {
  const host = new URL(origin).host;
  return {
    status: 200,
    body: {
      tenant_discovery_endpoint: `${origin}/common/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    },
  };
}

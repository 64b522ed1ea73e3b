// Bearer tokens: HMAC-signed JWTs bound to one audience (a device or the Azure side) with an expiry.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface TokenClaims {
  iss: string;
  aud: string;
  sub: string;
  tid: string;
  /** Which endpoint the token is valid for: a device name or "azure". */
  scope_target: string;
  iat: number;
  exp: number;
  [claim: string]: unknown;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export class TokenIssuer {
  private readonly key = randomBytes(32);

  constructor(private readonly lifetimeSeconds = 3600) {}

  issue(claims: Omit<TokenClaims, 'iat' | 'exp'>): { token: string; expiresIn: number } {
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const payload = b64url(JSON.stringify({ ...claims, iat: now, exp: now + this.lifetimeSeconds }));
    const signature = createHmac('sha256', this.key).update(`${header}.${payload}`).digest('base64url');
    return { token: `${header}.${payload}.${signature}`, expiresIn: this.lifetimeSeconds };
  }

  /** Unsigned-looking id_token for MSAL's account cache (MSAL decodes, never verifies, id tokens). */
  idToken(claims: Record<string, unknown>): string {
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const payload = b64url(JSON.stringify({ ...claims, iat: now, nbf: now, exp: now + this.lifetimeSeconds }));
    const signature = createHmac('sha256', this.key).update(`${header}.${payload}`).digest('base64url');
    return `${header}.${payload}.${signature}`;
  }

  /** Returns the claims of a valid token for the target, or a reason it is refused. */
  verify(token: string, target: string): { claims: TokenClaims } | { reason: string } {
    const parts = token.split('.');
    if (parts.length !== 3) return { reason: 'The access token is malformed.' };
    const [header = '', payload = '', signature = ''] = parts;
    const expected = createHmac('sha256', this.key).update(`${header}.${payload}`).digest();
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { reason: 'The access token signature is invalid.' };
    }
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return { reason: 'The access token is malformed.' };
    }
    if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return { reason: 'The access token expired.' };
    if (claims.scope_target !== target) {
      return { reason: `The access token was issued for '${claims.scope_target}', not for this endpoint.` };
    }
    return { claims };
  }
}

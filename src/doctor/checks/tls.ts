// TLS: does the endpoint's certificate chain verify against the CA bundle the controller would use, for the
// endpoint's host name, and when does it expire. Connects, reads the chain, sends nothing.
import { checkServerIdentity, connect, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import { type CheckResult, errorText, fail, pass, warn } from '../check.js';

/** Certificates expiring sooner than this are warned about. */
export const EXPIRY_WARNING_DAYS = 30;

interface ChainEntry {
  subject: string;
  issuer: string;
  validTo: string;
}

const nameOf = (dn: PeerCertificate['subject'] | undefined): string => {
  if (dn === undefined) return '';
  const cn = dn.CN;
  const o = dn.O;
  return [cn !== undefined ? `CN=${String(cn)}` : undefined, o !== undefined ? `O=${String(o)}` : undefined].filter(Boolean).join(', ');
};

function chainOf(leaf: DetailedPeerCertificate): ChainEntry[] {
  const chain: ChainEntry[] = [];
  let cert: DetailedPeerCertificate | undefined = leaf;
  const seen = new Set<string>();
  while (cert !== undefined && Object.keys(cert).length > 0 && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push({ subject: nameOf(cert.subject), issuer: nameOf(cert.issuer), validTo: new Date(cert.valid_to).toISOString() });
    cert = cert.issuerCertificate;
  }
  return chain;
}

interface Handshake {
  authorized: boolean;
  authorizationError?: string;
  leaf: DetailedPeerCertificate;
}

function handshake(url: URL, ca: string | undefined, timeoutMs: number): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const socket = connect({
      host,
      port: Number(url.port || 443),
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(ca !== undefined ? { ca } : {}),
      // Verification is judged below and reported; nothing is sent over this connection.
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const leaf = socket.getPeerCertificate(true);
      let authorizationError = socket.authorizationError === null ? undefined : String(socket.authorizationError);
      if (authorizationError === undefined) authorizationError = checkServerIdentity(host, leaf)?.message;
      socket.end();
      resolve({ authorized: authorizationError === undefined, ...(authorizationError !== undefined ? { authorizationError } : {}), leaf });
    });
    socket.once('timeout', () => socket.destroy(new Error(`no TLS handshake with ${url.host} within ${timeoutMs} ms`)));
    socket.once('error', reject);
  });
}

export async function checkTls(id: string, title: string, endpoint: string, ca: string | undefined, timeoutMs: number, now = new Date()): Promise<CheckResult> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return fail(id, title, `"${endpoint}" is not a URL`, 'give the endpoint as https://<host>');
  }
  if (url.protocol !== 'https:') return fail(id, title, `${endpoint} is not HTTPS`, 'the device serves HTTPS only; use the https:// URL');
  let result: Handshake;
  try {
    result = await handshake(url, ca, timeoutMs);
  } catch (err) {
    return fail(id, title, `cannot connect to ${url.host}: ${errorText(err)}`, 'check the endpoint URL, DNS (the device names must resolve, e.g. through the hosts file) and that the port is reachable from here');
  }
  const chain = chainOf(result.leaf);
  const leaf = chain[0];
  const details = { endpoint: url.origin, chain, ...(result.authorizationError !== undefined ? { error: result.authorizationError } : {}) };
  const described = leaf === undefined ? 'no certificate' : `subject ${leaf.subject}, issuer ${leaf.issuer}, expires ${leaf.validTo}`;
  if (!result.authorized) {
    return fail(id, title, `${url.host}: certificate not trusted (${result.authorizationError ?? 'unknown reason'}); ${described}`,
      ca === undefined
        ? "pass the device's root CA with --ca-file (download it from the device's local web UI, Certificates page)"
        : "the CA bundle does not sign this certificate: export the device's current root CA from the local web UI (Certificates) and pass it with --ca-file / the caBundle Secret; if the device certificate was rotated, update the bundle",
      details);
  }
  const expiries = chain.map((c) => Date.parse(c.validTo)).filter((t) => !Number.isNaN(t));
  const soonest = Math.min(...expiries);
  const days = Math.floor((soonest - now.getTime()) / 86_400_000);
  if (days < EXPIRY_WARNING_DAYS) {
    return warn(id, title, `${url.host}: trusted, but a certificate in the chain expires in ${days} day(s); ${described}`,
      'renew the device certificates (local web UI, Certificates) and update the CA bundle before they expire', { ...details, daysToExpiry: days });
  }
  return pass(id, title, `${url.host}: trusted; ${described}`, { ...details, daysToExpiry: days });
}

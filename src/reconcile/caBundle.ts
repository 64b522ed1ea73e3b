// A CA bundle from a Secret, checked before any client is built: every PEM block must be an X.509 certificate
// (node:crypto parses it), so a wrong value is a SecretInvalid condition naming the key, not a TLS error later.
import { X509Certificate } from 'node:crypto';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

export type CaBundleCheck = { ok: true; pem: string; certificates: number } | { ok: false; problem: string };

/** `problem` says what is wrong without quoting the value (it may hold anything, even a private key). */
export function checkCaBundle(pem: string): CaBundleCheck {
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) return { ok: false, problem: 'holds no PEM block (-----BEGIN CERTIFICATE-----)' };
  const certificates: string[] = [];
  for (const [index, block] of blocks.entries()) {
    const label = block[1] ?? '';
    if (label !== 'CERTIFICATE') return { ok: false, problem: `PEM block ${index + 1} is a ${label}, not a CERTIFICATE` };
    try {
      new X509Certificate(block[0]);
    } catch {
      return { ok: false, problem: `PEM block ${index + 1} is not a parsable X.509 certificate` };
    }
    certificates.push(block[0]);
  }
  return { ok: true, pem: `${certificates.join('\n')}\n`, certificates: certificates.length };
}

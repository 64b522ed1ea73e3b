// An in-memory certificate authority for the simulator and the local control plane: RSA keys and signatures from
// node:crypto, X.509 v3 structures (RFC 5280) encoded by ./der.ts.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, boolean, explicit, implicit, namedBits, nullValue, objectIdentifier, octetString, sequence, set, smallInteger, time, unsignedInteger, utf8String } from './der.js';

export interface KeyAndCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

export interface CertificateAuthority extends KeyAndCertificate {
  /** Issues a server certificate valid for the given DNS names and IP addresses. */
  issueServerCertificate(dnsNames: readonly string[], ipAddresses?: readonly string[]): KeyAndCertificate;
}

const VALID_DAYS = 365;

// Object identifiers: RFC 5280 4.2.1 (extensions), RFC 4055 (sha256WithRSAEncryption), X.520 (commonName).
const OID = {
  sha256WithRsa: '1.2.840.113549.1.1.11',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

// keyUsage bit positions (RFC 5280 4.2.1.3).
const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 };

interface Keys {
  privateKey: KeyObject;
  privateKeyPem: string;
  spki: Buffer;
  keyId: Buffer;
}

function newRsaKeys(): Keys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // Key identifier: any value unique to the key will do (RFC 5280 4.2.1.2); a SHA-1 of the SPKI is one.
  const keyId = createHash('sha1').update(spki).digest();
  return { privateKey, privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), spki, keyId };
}

const name = (commonName: string): Buffer => sequence(set(sequence(objectIdentifier(OID.commonName), utf8String(commonName))));

const extension = (oid: string, critical: boolean, value: Buffer): Buffer =>
  sequence(objectIdentifier(oid), ...(critical ? [boolean(true)] : []), octetString(value));

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" and write eight 16-bit groups.
  const [head = '', tail] = ip.split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function certificate(options: { subject: string; issuer: string; keys: Keys; signer: Keys; extensions: Buffer[] }): string {
  const now = Date.now();
  const algorithm = sequence(objectIdentifier(OID.sha256WithRsa), nullValue());
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    // Positive 16-byte serial: the leading 0x01 keeps it from reading as negative.
    unsignedInteger(Buffer.concat([Buffer.from([1]), randomBytes(15)])),
    algorithm,
    name(options.issuer),
    sequence(time(new Date(now - 60_000)), time(new Date(now + VALID_DAYS * 24 * 3600 * 1000))),
    name(options.subject),
    options.keys.spki,
    explicit(3, sequence(...options.extensions)),
  );
  const signature = sign('sha256', tbs, options.signer.privateKey);
  const der = sequence(tbs, algorithm, bitString(signature));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
}

/** Creates a self-signed root CA that can issue server certificates, all in memory. */
export function createCertificateAuthority(commonName: string): CertificateAuthority {
  const caKeys = newRsaKeys();
  const certificatePem = certificate({
    subject: commonName,
    issuer: commonName,
    keys: caKeys,
    signer: caKeys,
    extensions: [
      extension(OID.basicConstraints, true, sequence(boolean(true))),
      extension(OID.keyUsage, true, namedBits([KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])),
      extension(OID.subjectKeyIdentifier, false, octetString(caKeys.keyId)),
    ],
  });

  return {
    certificatePem,
    privateKeyPem: caKeys.privateKeyPem,
    issueServerCertificate(dnsNames, ipAddresses = []) {
      const keys = newRsaKeys();
      const altNames = [...dnsNames.map((d) => implicit(2, Buffer.from(d, 'ascii'))), ...ipAddresses.map((ip) => implicit(7, ipBytes(ip)))];
      const pem = certificate({
        subject: dnsNames[0] ?? ipAddresses[0] ?? 'localhost',
        issuer: commonName,
        keys,
        signer: caKeys,
        extensions: [
          extension(OID.basicConstraints, false, sequence()),
          extension(OID.keyUsage, true, namedBits([KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment])),
          extension(OID.extKeyUsage, false, sequence(objectIdentifier(OID.serverAuth))),
          extension(OID.subjectAltName, false, sequence(...altNames)),
          extension(OID.authorityKeyIdentifier, false, sequence(implicit(0, caKeys.keyId))),
        ],
      });
      return { certificatePem: pem, privateKeyPem: keys.privateKeyPem };
    },
  };
}

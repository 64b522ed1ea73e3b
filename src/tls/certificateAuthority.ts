import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface KeyAndCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

export interface CertificateAuthority extends KeyAndCertificate {
  /** Issues a server certificate valid for the given DNS names and IP addresses. */
  issueServerCertificate(dnsNames: readonly string[], ipAddresses?: readonly string[]): KeyAndCertificate;
}

const VALID_DAYS = 365;

// Keys come from Node's native RSA (fast); node-forge only assembles and signs the X.509 structures.
function newRsaKeyPair(): { privateKeyPem: string; publicKey: forge.pki.PublicKey; privateKey: forge.pki.rsa.PrivateKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(privateKeyPem) as forge.pki.rsa.PrivateKey;
  return {
    privateKeyPem,
    privateKey: forgeKey,
    publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e),
  };
}

function newCertificate(publicKey: forge.pki.PublicKey): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive serial: a leading 0x01 byte keeps the DER integer from reading as negative.
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + VALID_DAYS * 24 * 3600 * 1000);
  return cert;
}

/** Creates a self-signed root CA that can issue server certificates, all in memory. */
export function createCertificateAuthority(commonName: string): CertificateAuthority {
  const caKeys = newRsaKeyPair();
  const caCert = newCertificate(caKeys.publicKey);
  const caSubject = [{ name: 'commonName', value: commonName }];
  caCert.setSubject(caSubject);
  caCert.setIssuer(caSubject);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(caKeys.privateKey, forge.md.sha256.create());
  const certificatePem = forge.pki.certificateToPem(caCert);

  return {
    certificatePem,
    privateKeyPem: caKeys.privateKeyPem,
    issueServerCertificate(dnsNames, ipAddresses = []) {
      const keys = newRsaKeyPair();
      const cert = newCertificate(keys.publicKey);
      cert.setSubject([{ name: 'commonName', value: dnsNames[0] ?? ipAddresses[0] ?? 'localhost' }]);
      cert.setIssuer(caCert.subject.attributes);
      cert.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            ...dnsNames.map((value) => ({ type: 2, value })),
            ...ipAddresses.map((ip) => ({ type: 7, ip })),
          ],
        },
        { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
      ]);
      cert.sign(caKeys.privateKey, forge.md.sha256.create());
      return { certificatePem: forge.pki.certificateToPem(cert), privateKeyPem: keys.privateKeyPem };
    },
  };
}

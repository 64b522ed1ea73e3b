import { createCertificateAuthority } from '../tls/certificateAuthority.js';
import { checkCaBundle } from './caBundle.js';

describe('checkCaBundle', () => {
  const ca = createCertificateAuthority('caBundle test CA');

  it('accepts one or several certificates and keeps only the certificate blocks', () => {
    expect(checkCaBundle(ca.certificatePem)).toMatchObject({ ok: true, certificates: 1 });
    const two = checkCaBundle(`# comment\n${ca.certificatePem}\n${ca.certificatePem}`);
    expect(two).toMatchObject({ ok: true, certificates: 2 });
    expect(two.ok && two.pem.includes('# comment')).toBe(false);
  });

  it.each([
    ['no PEM at all', 'this value is not a certificate, nor anything like one, at all', /holds no PEM block/],
    ['a BEGIN CERTIFICATE line with garbage', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /block 1 is not a parsable X\.509 certificate/],
    ['a private key', 'PRIVATE', /block 1 is a RSA PRIVATE KEY, not a CERTIFICATE/],
  ])('rejects %s without quoting it', (_what, input, problem) => {
    const value = input === 'PRIVATE' ? ca.privateKeyPem : input;
    const result = checkCaBundle(value);
    expect(result).toMatchObject({ ok: false, problem: expect.stringMatching(problem) as unknown });
    expect(JSON.stringify(result)).not.toContain(value.slice(30, 60));
  });

  it('names the bad block after a good one', () => {
    expect(checkCaBundle(`${ca.certificatePem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`)).toEqual({ ok: false, problem: 'PEM block 2 is not a parsable X.509 certificate' });
  });
});

import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { request } from 'node:https';
import { createCertificateAuthority } from './certificateAuthority.js';

describe('createCertificateAuthority', () => {
  const ca = createCertificateAuthority('gpuvm test CA');

  it('issues server certificates signed by the CA with the requested names', () => {
    const server = ca.issueServerCertificate(['localhost', 'management.dev-a.local'], ['127.0.0.1', '::1', 'fd00:1::20']);
    const root = new X509Certificate(ca.certificatePem);
    const leaf = new X509Certificate(server.certificatePem);
    expect(root.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.checkHost('management.dev-a.local')).toBe('management.dev-a.local');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkIP('::1')).toBe('::1');
    expect(leaf.checkIP('fd00:1::20')).toBe('fd00:1::20');
    expect(leaf.checkIP('10.0.0.1')).toBeUndefined();
    expect(leaf.checkHost('other.example')).toBeUndefined();
  });

  it('is trusted by a TLS client that is given only the CA', async () => {
    const leaf = ca.issueServerCertificate(['localhost'], ['127.0.0.1']);
    const server = createServer({ cert: leaf.certificatePem, key: leaf.privateKeyPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const body = await new Promise<string>((resolve, reject) => {
        request({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.certificatePem }, (res) => {
          let data = '';
          res.on('data', (chunk: Buffer) => (data += chunk.toString()));
          res.on('end', () => resolve(data));
        })
          .on('error', reject)
          .end();
      });
      expect(body).toBe('ok');
      await expect(
        new Promise((resolve, reject) =>
          request({ host: '127.0.0.1', port, servername: 'localhost' }, resolve).on('error', reject).end(),
        ),
      ).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    } finally {
      server.close();
    }
  });
});

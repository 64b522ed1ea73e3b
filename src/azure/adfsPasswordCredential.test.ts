import { createServer, type Server, type Socket } from 'node:net';
import { AdfsPasswordCredential, AdfsTokenError, resourceOfScope } from './adfsPasswordCredential.js';

describe('resourceOfScope', () => {
  it.each([
    ['https://management.dev.example.com/.default', 'https://management.dev.example.com/'],
    ['https://management.dev.example.com//.default', 'https://management.dev.example.com/'],
    ['https://management.dev.example.com', 'https://management.dev.example.com/'],
    ['https://management.dev.example.com/', 'https://management.dev.example.com/'],
  ])('%s → %s', (scope, resource) => {
    expect(resourceOfScope(scope)).toBe(resource);
  });
});

describe('AdfsPasswordCredential', () => {
  it('refuses a login endpoint that is not https', () => {
    expect(() => new AdfsPasswordCredential({ loginEndpoint: 'http://login.dev', username: 'EdgeArmUser', password: 'p' })).toThrow(/https/);
  });

  describe('against an endpoint that never answers', () => {
    let server: Server;
    const sockets = new Set<Socket>();
    let port = 0;
    beforeAll(async () => {
      // Accepts TCP connections and never answers (not even the TLS handshake).
      server = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('fails with RequestTimeout after its timeout, naming the endpoint and never the password', async () => {
      const password = 'Sup3r-secret';
      const credential = new AdfsPasswordCredential({ loginEndpoint: `https://127.0.0.1:${port}`, username: 'EdgeArmUser', password, timeoutMs: 100 });
      const error = await credential.getToken('https://management.dev/.default').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AdfsTokenError);
      expect(error).toMatchObject({ code: 'RequestTimeout', message: `ADFS at https://127.0.0.1:${port} did not answer the token request within 0.1 s` });
      expect((error as Error).message).not.toContain(password);
    });

    it("stops a caller's wait when its abort signal fires", async () => {
      const credential = new AdfsPasswordCredential({ loginEndpoint: `https://127.0.0.1:${port}`, username: 'EdgeArmUser', password: 'p', timeoutMs: 5_000 });
      const controller = new AbortController();
      const pending = credential.getToken('https://management.dev/.default', { abortSignal: controller.signal });
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    });
  });
});

import { createDefaultHttpClient, createPipelineRequest } from '@azure/core-rest-pipeline';
import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority } from '../tls/certificateAuthority.js';
import { DeviceAgent } from './deviceAgent.js';
import { sendChecked } from './sendCheck.js';

describe('DeviceAgent', () => {
  it('serializes as its name, so a logged request never shows its sockets or their raw headers', () => {
    const agent = new DeviceAgent();
    try {
      expect(JSON.stringify({ url: 'https://device.example', agent })).toBe('{"url":"https://device.example","agent":"DeviceAgent"}');
    } finally {
      agent.close();
    }
  });

  it('shares one secure context among agents with the same trust, and never between different ones', () => {
    const [caA, caB] = [createCertificateAuthority('gpuvm test CA a').certificatePem, createCertificateAuthority('gpuvm test CA b').certificatePem];
    const agents = [new DeviceAgent(caA), new DeviceAgent(caA), new DeviceAgent(caB), new DeviceAgent(), new DeviceAgent()];
    try {
      const [a1, a2, b, system1, system2] = agents.map((agent) => agent.options.secureContext);
      expect(a2).toBe(a1);
      expect(system2).toBe(system1);
      expect(new Set([a1, b, system1]).size).toBe(3);
    } finally {
      for (const agent of agents) agent.close();
    }
  });

  describe('send check', () => {
    const ca = createCertificateAuthority('device agent test CA');
    const leaf = ca.issueServerCertificate(['localhost'], ['127.0.0.1']);
    let server: Server;
    let origin = '';
    const received: string[] = [];
    let agent: DeviceAgent;
    /** Gets the answer to /held, which the server leaves to the test. */
    let held: (res: ServerResponse) => void = (res) => res.end('ok');

    beforeAll(async () => {
      server = createServer({ key: leaf.privateKeyPem, cert: leaf.certificatePem, keepAliveTimeout: 10_000 }, (req, res) => {
        received.push(req.url ?? '');
        if (req.url === '/held') held(res);
        else res.end('ok');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    beforeEach(() => {
      received.length = 0;
      agent = new DeviceAgent(ca.certificatePem);
    });
    afterEach(() => agent.close());
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    const client = createDefaultHttpClient();
    const send = (path: string, check: () => Error | undefined) => {
      const request = createPipelineRequest({ url: `${origin}${path}` });
      // What core-rest-pipeline's agentPolicy does for the device's clients.
      request.agent = agent;
      return sendChecked(request, (r) => client.sendRequest(r), check);
    };

    it('asks a request on a new connection once its TLS handshake is done; refused, it never reaches the device', async () => {
      const refusal = new Error('throttled meanwhile');
      const asked: (string | null)[] = [];
      await expect(
        send('/refused', () => {
          // The handshake of the request's socket is done by the time it is asked.
          asked.push(...Object.values(agent.sockets).flatMap((sockets) => (sockets ?? []).map((s) => (s as TLSSocket).getProtocol())));
          return refusal;
        }),
      ).rejects.toBe(refusal);
      expect(asked).toEqual([expect.stringMatching(/^TLSv1\.[23]$/)]);
      const sent = await send('/sent', () => undefined);
      expect(sent.status).toBe(200);
      expect(received).toEqual(['/sent']);
    });

    it('asks after the answers already come in are read: a request sent right after another one’s answer arrived sees it', async () => {
      // Two kept-alive connections: one for each request below.
      await Promise.all([send('/warm-1', () => undefined), send('/warm-2', () => undefined)]);
      const answer = new Promise<ServerResponse>((resolve) => (held = resolve));
      let firstRead = false;
      const first = send('/held', () => undefined).then((response) => {
        firstRead = true;
        return response;
      });
      const res = await answer;
      const seen: boolean[] = [];
      // The answer is in the client's socket (same machine) before the second request gets its socket.
      res.end('throttled');
      const second = send('/second', () => {
        seen.push(firstRead);
        return undefined;
      });
      expect([(await first).status, (await second).status]).toEqual([200, 200]);
      expect(seen).toEqual([true]);
    });

    it('asks a request on a kept-alive connection before it writes', async () => {
      expect((await send('/first', () => undefined)).status).toBe(200);
      const refusal = new Error('throttled meanwhile');
      await expect(send('/second', () => refusal)).rejects.toBe(refusal);
      expect((await send('/third', () => undefined)).status).toBe(200);
      expect(received).toEqual(['/first', '/third']);
    });
  });
});

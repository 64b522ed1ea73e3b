// Anything that reaches the pod can talk to the probe and metrics listeners. No request line, header or
// connection pattern may take the controller process down or stop it answering its probes.
import { connect } from 'node:net';
import { useTestNamespace } from '../support/cluster.js';
import type { ControllerProcess } from '../support/controllerHarness.js';
import { startListeningController } from '../support/listeningController.js';

const namespace = useTestNamespace('sec-http');
const ports = { metrics: 0, health: 0 };
let controller: ControllerProcess | undefined;

/** Sends raw bytes, returns whatever the server answered before closing (or after 2 s). */
function raw(port: number, bytes: string | Buffer, options: { endAfterWrite?: boolean } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.write(bytes, () => {
      if (options.endAfterWrite === true) socket.end();
    });
  });
}

function alive(): boolean {
  const pid = controller?.pid;
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const HOSTILE: [string, string | Buffer][] = [
  ['absolute-form target that is not a URL', 'GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['absolute-form target with a bad port', 'GET http://a:99999/healthz HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['authority-form target', 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['asterisk-form target', 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a target that is only a scheme', 'GET http: HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['no target', 'GET  HTTP/1.1\r\n\r\n'],
  ['not HTTP at all', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'],
  ['a header without a colon', 'GET /healthz HTTP/1.1\r\nHost x\r\n\r\n'],
  ['a NUL in a header', 'GET /healthz HTTP/1.1\r\nHost: a\x00b\r\n\r\n'],
  ['a 200 KB header', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200_000)}\r\n\r\n`],
  ['10,000 headers', `GET /healthz HTTP/1.1\r\n${'X-A: b\r\n'.repeat(10_000)}\r\n`],
  ['a bad Content-Length', 'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'],
  ['two Content-Lengths', 'POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
  ['a bad chunk size', 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
  ['a percent-encoded NUL path', 'GET /%00/../healthz HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a request line cut off', 'GET /heal'],
  ['HTTP/0.9', 'GET /healthz\r\n\r\n'],
  ['an unknown method', 'BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n'],
];

beforeAll(async () => {
  const started = await startListeningController(namespace(), []);
  controller = started.controller;
  Object.assign(ports, { metrics: started.metricsPort, health: started.healthPort });
});

afterAll(async () => {
  await controller?.stop();
});

describe.each([
  ['health', () => ports.health],
  ['metrics', () => ports.metrics],
])('the %s listener', (_name, port) => {
  test.each(HOSTILE)('survives %s', async (_what, bytes) => {
    await raw(port(), bytes, { endAfterWrite: true });
    expect(alive()).toBe(true);
    const health = await fetch(`http://127.0.0.1:${ports.health}/healthz`);
    expect(health.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).status).toBe(200);
  });

  test('answers a target it cannot parse with 400, not a crash', async () => {
    const answer = await raw(port(), 'GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });

  test('survives 200 connections opened and dropped at once', async () => {
    await Promise.all(Array.from({ length: 200 }, () => raw(port(), 'GET /healthz HTTP/1.1\r\n', { endAfterWrite: true })));
    expect((await fetch(`http://127.0.0.1:${ports.health}/healthz`)).status).toBe(200);
  });
});

test('the process never exited and logged no crash', () => {
  const logs = controller?.logs() ?? '';
  expect(logs).not.toMatch(/uncaught exception|unhandled promise rejection|Invalid URL/);
});

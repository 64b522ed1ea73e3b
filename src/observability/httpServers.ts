// The metrics endpoint (/metrics) and the probe endpoints (/healthz, /readyz), each on its own listener (plain
// HTTP; metrics over HTTPS to authorized callers only with --metrics-secure), bound as controller-runtime's flags are: ":8080" (all interfaces), "127.0.0.1:8080", "[::1]:8080",
// "0" (disabled). Port 0 (":0") binds an ephemeral port, reported in the returned `port`.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { MetricsDecision } from './metricsAuthorizer.js';

export interface BindAddress {
  /** undefined = all interfaces. */
  host: string | undefined;
  port: number;
}

/** Parses a bind address; undefined when disabled ("0" or empty). */
export function parseBindAddress(value: string): BindAddress | undefined {
  const text = value.trim();
  if (text === '' || text === '0') return undefined;
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (match === null) throw new Error(`bind address "${value}" is not [host]:port (e.g. ":8080", "127.0.0.1:8080") or "0" to disable`);
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`bind address "${value}": port ${port} is out of range`);
  const host = match[1] ?? match[2];
  return { host: host === undefined || host === '' ? undefined : host, port };
}

export interface RunningServer {
  /** The bound port (the ephemeral one for port 0); 0 when disabled. */
  port: number;
  /** The address as bound, for logs, e.g. "127.0.0.1:8080"; "disabled" when disabled. */
  address: string;
  close(): Promise<void>;
}

export interface HealthCheck {
  ok: boolean;
  detail: string;
}

export interface HealthChecks {
  /** Liveness: the process works (informers not stalled). */
  healthz(): HealthCheck;
  /** Readiness: caches synced (leader or standby). */
  readyz(): HealthCheck;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

const DISABLED: RunningServer = { port: 0, address: 'disabled', close: async () => undefined };

export interface ServingCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

async function listen(bindAddress: string, handler: Handler, tls?: ServingCertificate): Promise<RunningServer> {
  const bind = parseBindAddress(bindAddress);
  if (bind === undefined) return DISABLED;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    // A handler that throws, synchronously or not, answers 500: no request may take the process down.
    Promise.resolve()
      .then(() => handler(req, res))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('internal error\n');
      });
  };
  const server: Server = tls === undefined ? createServer(onRequest) : createTlsServer({ cert: tls.certificatePem, key: tls.privateKeyPem, minVersion: 'TLSv1.2' }, onRequest);
  // Unparseable request lines and headers: answer 400 and close, as Node does when no listener is set, but
  // never let a socket error surface anywhere else.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  // Probes and scrapes are short: do not let an idle keep-alive connection hold close() up.
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: bind.port, ...(bind.host !== undefined ? { host: bind.host } : {}) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    port: address.port,
    address: `${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * The path of a request target (RFC 9112 3.2): origin form "/p?q" or absolute form "http://h/p"; anything else
 * (authority or asterisk form, or garbage such as "http://[") is undefined and answered 400.
 */
export function pathOf(target: string | undefined): string | undefined {
  const text = target ?? '/';
  if (text.startsWith('/')) return text.split(/[?#]/, 1)[0];
  if (!URL.canParse(text)) return undefined;
  return new URL(text).pathname;
}
const readOnly = (req: IncomingMessage): boolean => req.method === 'GET' || req.method === 'HEAD';

export interface SecureMetrics {
  /** Serving certificate (HTTPS). */
  certificate: ServingCertificate;
  /** Decides each request from its Authorization header (TokenReview + SubjectAccessReview). */
  decide(authorization: string | undefined, path: string): Promise<MetricsDecision>;
}

/** Serves `registry` on GET /metrics; over HTTPS, to authorized callers only, when `secure` is given. */
export function startMetricsServer(bindAddress: string, registry: Registry, secure?: SecureMetrics): Promise<RunningServer> {
  return listen(
    bindAddress,
    async (req, res) => {
      const path = pathOf(req.url);
      if (path === undefined) return send(res, 400, 'bad request target\n');
      if (path !== '/metrics') return send(res, 404, 'not found: metrics are served on /metrics\n');
      if (!readOnly(req)) return send(res, 405, 'method not allowed\n');
      if (secure !== undefined) {
        const decision = await secure.decide(req.headers.authorization, path);
        if (decision.status !== 200) return send(res, decision.status, `${decision.reason}\n`);
      }
      const body = await registry.metrics();
      send(res, 200, req.method === 'HEAD' ? '' : body, registry.contentType);
    },
    secure?.certificate,
  );
}

/** Serves GET /healthz and /readyz: 200 "ok" or 503 with the failing check's detail. */
export function startHealthServer(bindAddress: string, checks: HealthChecks): Promise<RunningServer> {
  return listen(bindAddress, (req, res) => {
    const path = pathOf(req.url);
    if (path === undefined) return send(res, 400, 'bad request target\n');
    const check = path === '/healthz' || path === '/livez' ? checks.healthz : path === '/readyz' ? checks.readyz : undefined;
    if (check === undefined) return send(res, 404, 'not found: probes are /healthz and /readyz\n');
    if (!readOnly(req)) return send(res, 405, 'method not allowed\n');
    let result: HealthCheck;
    try {
      result = check();
    } catch (err) {
      result = { ok: false, detail: `check failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    send(res, result.ok ? 200 : 503, req.method === 'HEAD' ? '' : `${result.ok ? 'ok' : 'failed'}: ${result.detail}\n`);
  });
}

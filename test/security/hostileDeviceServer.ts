// A device that misbehaves on purpose: an HTTPS front for one simulator device (same certificate, same CA) that
// passes requests through, except those matching a rule, which get a hostile answer: none at all, bytes trickling
// forever, garbage, `{}`, 50 MB, or 429 with an absurd Retry-After.
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Hostility =
  | { kind: 'hang' }
  | { kind: 'trickle'; intervalMs: number }
  | { kind: 'garbage' }
  | { kind: 'emptyObject' }
  | { kind: 'huge'; bytes: number; resourceGroup: string }
  | { kind: 'retryAfter'; value: string }
  | { kind: 'answer'; status: number; body: string; headers?: Record<string, string> };

export interface HostileRule {
  method: string;
  path: RegExp;
  hostility: Hostility;
}

export interface SeenRequest {
  method: string;
  path: string;
  at: number;
  hostile: boolean;
}

/** A passed-through answer, as the simulator gave it (origins rewritten). */
export interface RecordedAnswer {
  method: string;
  path: string;
  status: number;
  body: string;
}

/** ARM paths the controller reads. */
export const VM_LIST = /\/providers\/Microsoft\.Compute\/virtualMachines\?/i;
export const vmGet = (name: string): RegExp => new RegExp(`/providers/Microsoft\\.Compute/virtualMachines/${name}\\?`, 'i');

export class HostileDeviceServer {
  readonly requests: SeenRequest[] = [];
  /** Every passed-through answer (kept only while `recording`). */
  readonly recorded: RecordedAnswer[] = [];
  recording = false;
  private rules: HostileRule[] = [];
  private readonly open = new Set<ServerResponse>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private origin = '';

  private constructor(
    private readonly server: Server,
    private readonly upstream: URL,
    private readonly caPem: string,
  ) {}

  static async start(upstreamOrigin: string, tls: { certificatePem: string; privateKeyPem: string; caPem: string }): Promise<HostileDeviceServer> {
    const ready: { front?: HostileDeviceServer } = {};
    const server = createServer({ cert: tls.certificatePem, key: tls.privateKeyPem }, (req, res) => {
      ready.front?.handle(req, res).catch(() => res.destroy());
    });
    server.on('tlsClientError', () => undefined);
    const front = new HostileDeviceServer(server, new URL(upstreamOrigin), tls.caPem);
    ready.front = front;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    front.origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return front;
  }

  /** The device's ARM and ADFS endpoint as the controller is to see it. */
  get endpoint(): string {
    return this.origin;
  }

  setRules(rules: HostileRule[]): void {
    this.rules = rules;
  }

  hostileRequests(): SeenRequest[] {
    return this.requests.filter((r) => r.hostile);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req);
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const rule = this.rules.find((r) => r.method === method && r.path.test(path));
    // The fuzz loop sends thousands of 'answer's: only the other misbehaviours are counted.
    if (rule?.hostility.kind !== 'answer') this.requests.push({ method, path, at: Date.now(), hostile: rule !== undefined });
    if (rule !== undefined) {
      this.misbehave(rule.hostility, path, res);
      return;
    }
    await this.forward(req, method, path, body, res);
  }

  private misbehave(hostility: Hostility, path: string, res: ServerResponse): void {
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
    switch (hostility.kind) {
      case 'hang':
        return; // the connection stays open, nothing is ever written
      case 'trickle': {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"value":[');
        const timer = setInterval(() => res.write(' '), hostility.intervalMs);
        this.timers.add(timer);
        res.on('close', () => {
          clearInterval(timer);
          this.timers.delete(timer);
        });
        return;
      }
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('<html><body>502 Bad Gateway</body></html>\u0000\u00ff not json');
        return;
      case 'emptyObject':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
        return;
      case 'huge':
        writeHugeVmList(res, path, hostility.bytes, hostility.resourceGroup);
        return;
      case 'answer':
        res.writeHead(hostility.status, { 'content-type': 'application/json', ...hostility.headers });
        res.end(hostility.body);
        return;
      case 'retryAfter':
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': hostility.value });
        res.end(JSON.stringify({ error: { code: 'TooManyRequests', message: 'throttled' } }));
        return;
    }
  }

  /** Passes the request to the simulator device, with each side's origin rewritten to the other's. */
  private forward(req: IncomingMessage, method: string, path: string, body: Buffer, res: ServerResponse): Promise<void> {
    const toUpstream = rewriter(this.origin, this.upstream.origin);
    const toFront = rewriter(this.upstream.origin, this.origin);
    const payload = Buffer.from(toUpstream(body.toString('utf8')));
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && name !== 'content-length' && name !== 'host') headers[name] = value;
    headers['host'] = this.upstream.host;
    headers['content-length'] = String(payload.length);
    return new Promise<void>((resolve, reject) => {
      const upstream = httpsRequest(
        { host: this.upstream.hostname, port: this.upstream.port, path: toUpstream(path), method, headers, ca: this.caPem },
        (answer) => {
          readAll(answer)
            .then((text) => {
              const out = Buffer.from(toFront(text.toString('utf8')));
              if (this.recording) this.recorded.push({ method, path, status: answer.statusCode ?? 0, body: out.toString('utf8') });
              const back: Record<string, string | string[]> = {};
              for (const [name, value] of Object.entries(answer.headers)) {
                if (value === undefined || name === 'content-length' || name === 'transfer-encoding' || name === 'connection') continue;
                back[name] = Array.isArray(value) ? value.map(toFront) : toFront(value);
              }
              back['content-length'] = String(out.length);
              res.writeHead(answer.statusCode ?? 502, back);
              res.end(out);
              resolve();
            })
            .catch(reject);
        },
      );
      upstream.on('error', reject);
      upstream.end(payload);
    });
  }
}

function rewriter(from: string, to: string): (text: string) => string {
  const pairs: [string, string][] = [
    [from, to],
    [encodeURIComponent(from), encodeURIComponent(to)],
  ];
  return (text) => pairs.reduce((t, [a, b]) => t.split(a).join(b), text);
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** A well-formed VM list of one running GPU VM whose name is `bytes` long: 50 MB that parses. */
function writeHugeVmList(res: ServerResponse, path: string, bytes: number, resourceGroup: string): void {
  const subscription = /\/subscriptions\/([^/]+)/i.exec(path)?.[1] ?? 's';
  const id = `/subscriptions/${subscription}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/huge`;
  const head = `{"value":[{"id":"${id}","location":"dbelocal","properties":{"hardwareProfile":{"vmSize":"Standard_NC4as_T4_v3"},"provisioningState":"Succeeded","instanceView":{"statuses":[{"code":"PowerState/running"}]}},"name":"`;
  const tail = '"}]}';
  const chunk = Buffer.alloc(1024 * 1024, 'a');
  // Chunked, without a content-length: the reader has to count.
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write(head);
  let left = bytes;
  const pump = (): void => {
    while (left > 0 && !res.destroyed) {
      const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= part.length;
      if (!res.write(part)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end(tail);
  };
  pump();
}

// A TCP proxy a test puts between one process and a server (e.g. a controller and the kube-apiserver) and can cut:
// every open connection is destroyed and new ones are closed as soon as they arrive, as a network partition would
// leave them, while the process itself runs on. TLS passes through untouched.
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private cutAt: number | undefined;
  private listeningPort = 0;

  private constructor(target: { host: string; port: number }) {
    this.server = createServer((client) => {
      if (this.cutAt !== undefined) {
        client.destroy();
        return;
      }
      const upstream = connect(target.port, target.host);
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        this.track(a);
        a.pipe(b);
        a.on('error', () => b.destroy());
        a.on('close', () => b.destroy());
      }
    });
  }

  /** Listens on 127.0.0.1 (a free port) and forwards each connection to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', resolve);
    });
    const address = proxy.server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
    proxy.listeningPort = address.port;
    return proxy;
  }

  get port(): number {
    return this.listeningPort;
  }

  /** Destroys every connection and refuses new ones from now on; returns when (Date.now()) it was cut. */
  cut(): number {
    this.cutAt ??= Date.now();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    return this.cutAt;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }
}

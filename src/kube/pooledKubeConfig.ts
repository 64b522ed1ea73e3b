// @kubernetes/client-node builds a new undici Agent for every request it sends (KubeConfig.applySecurityAuthentication
// → createDispatcher), so every API server request opened a TLS connection of its own: a handshake, a secure
// context built from the CA, and a socket that lingers until its keep-alive runs out. This KubeConfig hands every
// request one shared dispatcher while the cluster and credentials it was built for stay the same, so requests ride
// keep-alive connections. It is built again every REBUILD_AFTER_MS, which picks up rotated CA and certificate files.
import { KubeConfig } from '@kubernetes/client-node';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];
type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export const REBUILD_AFTER_MS = 5 * 60_000;

interface Shared {
  key: string;
  dispatcher: Dispatcher;
  until: number;
}

export class PooledKubeConfig extends KubeConfig {
  private shared: Shared | undefined;

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const built = context.getDispatcher();
    // No TLS options (plain HTTP to a local proxy): fetch's global dispatcher already pools.
    if (built === undefined) return;
    const key = this.connectionKey();
    const now = this.now();
    const shared = this.shared;
    if (shared !== undefined && shared.key === key && now < shared.until) {
      // The request's own Agent has not connected anywhere yet: dropping it costs nothing.
      context.setDispatcher(shared.dispatcher);
      return;
    }
    this.shared = { key, dispatcher: built, until: now + REBUILD_AFTER_MS };
    // Requests in flight on the old one (a watch may run for minutes) finish first; new ones go to the new one.
    if (shared !== undefined) shared.dispatcher.close().catch(() => undefined);
  }

  /** What the dispatcher was built from: the cluster and the user's TLS material (files by name, data by value). */
  private connectionKey(): string {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    return JSON.stringify([
      cluster?.server,
      cluster?.caFile,
      cluster?.caData,
      cluster?.skipTLSVerify,
      cluster?.tlsServerName,
      cluster?.proxyUrl,
      user?.certFile,
      user?.certData,
      user?.keyFile,
      user?.keyData,
    ]);
  }
}

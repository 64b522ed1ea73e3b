// One keep-alive HTTPS agent per device. Its requests reuse open connections, a new connection resumes an
// earlier TLS session (the agent keeps them per host), and the trust is parsed once into a secure context:
// given only `ca`, Node's tls.connect builds a new SecureContext, parsing the PEM again, on every connection.
import { Agent } from 'node:https';
import type { Duplex } from 'node:stream';
import { createSecureContext } from 'node:tls';

/**
 * Connections per host of one device, as many as the controller's default workers: a request waiting in the agent
 * for a socket would go out after the budget and Retry-After gate admitted it, possibly inside a Retry-After the
 * device gave meanwhile.
 */
export const DEVICE_MAX_SOCKETS = 16;

export class DeviceAgent extends Agent {
  private closed = false;

  /**
   * Trusts only `caPem` when it is given (a public CA must not vouch for the device), else the system roots.
   * Certificate and host name verification stay Node's defaults (on).
   */
  constructor(caPem?: string, maxSockets: number = DEVICE_MAX_SOCKETS) {
    super({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, secureContext: createSecureContext(caPem !== undefined ? { ca: caPem } : {}) });
  }

  /**
   * Node asks this when a request is done with its socket ("agent.keepSocketAlive", Node http docs: false closes
   * the socket). Once closed, the agent keeps nothing.
   */
  override keepSocketAlive(socket: Duplex): boolean {
    if (this.closed) return false;
    // Typed void in @types/node; Node returns false when the server's Keep-Alive timeout is too short to reuse.
    return (super.keepSocketAlive(socket) as unknown) !== false;
  }

  /**
   * The Azure SDK's request logs (trace level) serialize each request, its agent included: they show the agent by
   * name, not its sockets, whose raw request headers carry the Authorization header.
   */
  toJSON(): string {
    return 'DeviceAgent';
  }

  /**
   * Closes the idle connections now and each busy one when its request is done, so a reconcile still holding
   * the device's clients finishes its request (unlike destroy(), which would cut it off).
   */
  close(): void {
    this.closed = true;
    for (const sockets of Object.values(this.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
  }
}

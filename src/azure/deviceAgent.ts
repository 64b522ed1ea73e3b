// One keep-alive HTTPS agent per device. Its requests reuse open connections, a new connection resumes an
// earlier TLS session (the agent keeps them per host), and the trust is parsed once into a secure context, shared
// by devices with the same CA bundle: given only `ca`, Node's tls.connect builds a new SecureContext, parsing the
// PEM again, on every connection.
// A request carrying a send check (sendCheck.ts) is held on its connected socket until the check lets it go.
import type { ClientRequest, ClientRequestArgs } from 'node:http';
import { Agent } from 'node:https';
import type { Duplex } from 'node:stream';
import { createSecureContext, type SecureContext } from 'node:tls';
import { sendCheckOf, type SendCheck } from './sendCheck.js';

/** Node's Agent.addRequest, which @types/node does not declare (lib/_http_agent.js). */
type AddRequest = (this: Agent, req: ClientRequest, options: unknown) => void;

/**
 * Connections per host of one device, as many as the controller's default workers, so an admitted request seldom
 * waits in the agent for a socket (one that does is checked again when it gets it: checkBeforeWrite).
 */
export const DEVICE_MAX_SOCKETS = 16;

/**
 * One secure context per distinct trust (a CA bundle's text, or the system roots), shared by the agents of every
 * device that has it: each context is a native TLS context of about 25-30 KiB outside the JS heap and costs a
 * parse. It lives while an agent holds it. A context carries only what to trust; host names are checked per
 * connection, so devices with the same CA bundle trust exactly the same either way.
 */
const contexts = new Map<string, WeakRef<SecureContext>>();
const unheld = new FinalizationRegistry<string>((key) => {
  if (contexts.get(key)?.deref() === undefined) contexts.delete(key);
});

export function sharedSecureContext(caPem: string | undefined): SecureContext {
  const key = caPem ?? '';
  const held = contexts.get(key)?.deref();
  if (held !== undefined) return held;
  const context = createSecureContext(caPem !== undefined ? { ca: caPem } : {});
  contexts.set(key, new WeakRef(context));
  unheld.register(context, key);
  return context;
}

export class DeviceAgent extends Agent {
  private closed = false;
  /** Sockets whose TLS handshake is done: what a request writes on one goes out at once. */
  private readonly secured = new WeakSet<Duplex>();

  /**
   * Trusts only `caPem` when it is given (a public CA must not vouch for the device), else the system roots.
   * Certificate and host name verification stay Node's defaults (on).
   */
  constructor(caPem?: string, maxSockets: number = DEVICE_MAX_SOCKETS) {
    super({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, secureContext: sharedSecureContext(caPem) });
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

  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    socket?.once('secureConnect', () => this.secured.add(socket));
    return socket;
  }

  /**
   * Node calls this for every request (lib/_http_client.js); the request writes on its socket right after its
   * 'socket' event, where checkBeforeWrite corks the socket, so nothing leaves before the send check has run.
   */
  addRequest(req: ClientRequest, options: unknown): void {
    const check = sendCheckOf(options);
    if (check !== undefined) req.once('socket', (socket: Duplex) => this.checkBeforeWrite(req, socket, check));
    (Agent.prototype as unknown as { addRequest: AddRequest }).addRequest.call(this, req, options);
  }

  /**
   * The request's bytes are held (corked) until the check has run, and it runs once the socket is connected (on a
   * new one, after the TLS handshake, which can take longer than anything before it on a busy machine) and the
   * event loop has gone once through its I/O: an answer that had already come in on another socket (a 429/503
   * closing the gate) is read first. Two setImmediate turns cross one poll phase from wherever this runs (Node's
   * event loop phases: timers, poll, check). A refused request is destroyed with the check's error, its socket
   * with it.
   */
  private checkBeforeWrite(req: ClientRequest, socket: Duplex, check: SendCheck): void {
    socket.cork();
    const checkAfterReads = (): void => {
      setImmediate(() =>
        setImmediate(() => {
          const refusal = check();
          if (refusal === undefined) socket.uncork();
          else req.destroy(refusal);
        }),
      );
    };
    if (this.secured.has(socket)) checkAfterReads();
    else socket.once('secureConnect', checkAfterReads);
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

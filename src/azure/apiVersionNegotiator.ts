// Reads what a device's local ARM serves (Resources `Providers_Get`, GET /subscriptions/{id}/providers/{namespace}
// → `resourceTypes[].apiVersions`) and chooses the api-versions for it: once, lazily, and again when the
// device refuses a version it was sent (after an update the device may serve another set).
import {
  type ApiVersionKind,
  type DeviceApiVersions,
  type ProviderListing,
  TESTED_API_VERSIONS,
  UnsupportedApiVersionsError,
  VERSION_SOURCES,
  chooseApiVersions,
  resourceTypeVersions,
} from './apiVersions.js';

export interface ProviderReadResult {
  status: number;
  body: unknown;
}

/** GET /subscriptions/{id}/providers/{namespace}?api-version={apiVersion}, answered as status and parsed body. */
export type ProviderRead = (namespace: string, apiVersion: string) => Promise<ProviderReadResult>;

/** The error codes with which ARM refuses an api-version (Resources and Compute answer either). */
export const VERSION_REFUSAL_CODES: ReadonlySet<string> = new Set(['NoRegisteredProviderFound', 'InvalidApiVersionParameter']);

export const errorCodeOf = (body: unknown): string | undefined => {
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  return typeof code === 'string' ? code : undefined;
};

const NAMESPACES = [...new Set(Object.values(VERSION_SOURCES).map((s) => s.namespace))];

export class ApiVersionNegotiator {
  private current: Promise<DeviceApiVersions> | undefined;
  private readonly onChosen: ((versions: DeviceApiVersions) => void) | undefined;

  /**
   * `known`: versions negotiated earlier for the same device, so clients built again need no providers read;
   * `onChosen` hears each negotiated result (to keep it for those clients).
   */
  constructor(
    private readonly read: ProviderRead,
    options: { known?: DeviceApiVersions; onChosen?: (versions: DeviceApiVersions) => void } = {},
  ) {
    if (options.known !== undefined) this.current = Promise.resolve(options.known);
    this.onChosen = options.onChosen;
  }

  /** The negotiated versions (negotiates on first use; a failed negotiation is tried again on the next call). */
  get(): Promise<DeviceApiVersions> {
    if (this.current === undefined) {
      const attempt = this.negotiate();
      this.current = attempt;
      attempt.catch(() => {
        if (this.current === attempt) this.current = undefined;
      });
    }
    return this.current;
  }

  /**
   * Negotiates again because a request sent with `used` was refused. Callers that saw the same refusal share
   * one negotiation; one that already got newer versions gets those.
   */
  async renegotiate(used: DeviceApiVersions): Promise<DeviceApiVersions> {
    const current = this.current === undefined ? undefined : await this.current.catch(() => undefined);
    if (current !== undefined && current !== used) return current;
    if (current === used) this.current = undefined;
    return this.get();
  }

  private async negotiate(): Promise<DeviceApiVersions> {
    const chosen = await this.negotiateOnce();
    this.onChosen?.(chosen);
    return chosen;
  }

  private async negotiateOnce(): Promise<DeviceApiVersions> {
    const probe = await this.providersReadVersion();
    const listing: Record<string, ReadonlyMap<string, readonly string[]>> = { [probe.namespace.toLowerCase()]: resourceTypeVersions(probe.body) };
    for (const namespace of NAMESPACES) {
      if (namespace === probe.namespace) continue;
      const answer = await this.read(namespace, probe.version);
      if (answer.status !== 200) throw providerReadError(namespace, probe.version, answer);
      listing[namespace.toLowerCase()] = resourceTypeVersions(answer.body);
    }
    return chooseApiVersions(listing as ProviderListing);
  }

  /** The first Resources version the device accepts for Providers_Get (tried newest first), with that answer. */
  private async providersReadVersion(): Promise<{ namespace: string; version: string; body: unknown }> {
    const namespace = VERSION_SOURCES.resources.namespace;
    for (const version of TESTED_API_VERSIONS.resources) {
      const answer = await this.read(namespace, version);
      if (answer.status === 200) return { namespace, version, body: answer.body };
      if (!(answer.status === 400 && VERSION_REFUSAL_CODES.has(errorCodeOf(answer.body) ?? ''))) throw providerReadError(namespace, version, answer);
    }
    const kind: ApiVersionKind = 'resources';
    throw new UnsupportedApiVersionsError([{ kind, served: [] }]);
  }
}

function providerReadError(namespace: string, version: string, answer: ProviderReadResult): Error {
  const error = (answer.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const detail = error === undefined ? '' : `: ${String(error.code ?? '')} ${String(error.message ?? '')}`.trimEnd();
  return Object.assign(new Error(`reading the device's providers/${namespace} (api-version ${version}) failed with HTTP ${answer.status}${detail}`), {
    statusCode: answer.status,
    ...(typeof error?.code === 'string' ? { code: error.code } : {}),
  });
}

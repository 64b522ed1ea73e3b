// Reads what a device's local ARM serves (Resources `Providers_List`, GET /subscriptions/{id}/providers →
// `value[].resourceTypes[].apiVersions`, one request for every namespace; `Providers_Get` of a namespace the list
// leaves out) and chooses the api-versions for it: once, lazily, and again when the device refuses a version it
// was sent (after an update the device may serve another set).
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

/**
 * GET /subscriptions/{id}/providers/{namespace}?api-version={apiVersion} (Providers_Get), or without a namespace
 * GET /subscriptions/{id}/providers (Providers_List), answered as status and parsed body.
 */
export type ProviderRead = (namespace: string | undefined, apiVersion: string) => Promise<ProviderReadResult>;

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
    const listing: Record<string, ReadonlyMap<string, readonly string[]>> = { ...probe.listing };
    for (const namespace of NAMESPACES) {
      if (listing[namespace.toLowerCase()] !== undefined) continue;
      const answer = await this.read(namespace, probe.version);
      if (answer.status !== 200) throw providerReadError(namespace, probe.version, answer);
      listing[namespace.toLowerCase()] = resourceTypeVersions(answer.body);
    }
    return chooseApiVersions(listing as ProviderListing);
  }

  /**
   * The first Resources version the device accepts for reading providers (tried newest first), with what that read
   * listed: Providers_List first (every namespace at once); a device that does not serve the list (any answer but
   * 200 or a refused version) is asked for the Resources namespace alone.
   */
  private async providersReadVersion(): Promise<{ version: string; listing: Record<string, ReadonlyMap<string, readonly string[]>> }> {
    const namespace = VERSION_SOURCES.resources.namespace;
    let listServed = true;
    for (const version of TESTED_API_VERSIONS.resources) {
      if (listServed) {
        const answer = await this.read(undefined, version);
        if (answer.status === 200) return { version, listing: providerListing(answer.body) };
        if (isVersionRefusal(answer)) continue;
        listServed = false;
      }
      const answer = await this.read(namespace, version);
      if (answer.status === 200) return { version, listing: { [namespace.toLowerCase()]: resourceTypeVersions(answer.body) } };
      if (!isVersionRefusal(answer)) throw providerReadError(namespace, version, answer);
    }
    const kind: ApiVersionKind = 'resources';
    throw new UnsupportedApiVersionsError([{ kind, served: [] }]);
  }
}

const isVersionRefusal = (answer: ProviderReadResult): boolean => answer.status === 400 && VERSION_REFUSAL_CODES.has(errorCodeOf(answer.body) ?? '');

/** The `ProviderListResult` body of Providers_List → namespace (lower case) → resource type → api-versions. */
function providerListing(body: unknown): Record<string, ReadonlyMap<string, readonly string[]>> {
  const providers = (body as { value?: unknown } | null)?.value;
  const listing: Record<string, ReadonlyMap<string, readonly string[]>> = {};
  if (!Array.isArray(providers)) return listing;
  for (const provider of providers as unknown[]) {
    const namespace = (provider as { namespace?: unknown } | null)?.namespace;
    if (typeof namespace === 'string') listing[namespace.toLowerCase()] = resourceTypeVersions(provider);
  }
  return listing;
}

function providerReadError(namespace: string, version: string, answer: ProviderReadResult): Error {
  const error = (answer.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const detail = error === undefined ? '' : `: ${String(error.code ?? '')} ${String(error.message ?? '')}`.trimEnd();
  return Object.assign(new Error(`reading the device's providers/${namespace} (api-version ${version}) failed with HTTP ${answer.status}${detail}`), {
    statusCode: answer.status,
    ...(typeof error?.code === 'string' ? { code: error.code } : {}),
  });
}

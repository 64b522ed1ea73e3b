// Which api-versions the controller sends to one device's local ARM, and how they are chosen from what the
// device lists (Resources `Providers_Get`: GET /subscriptions/{id}/providers/{namespace} →
// `resourceTypes[].apiVersions`). No list of every version a device accepts is published (domain notes); the
// two published sets are the ASE article "Resource provider API profile versions" (profile 2019-03-01-hybrid:
// Compute 2017-12-01, disks 2017-03-30, Network 2017-10-01, Resources 2020-06-01) and the ASE PowerShell
// article (Az profile 2020-09-01-hybrid: Compute 2020-06-01, disks 2019-07-01, Network 2018-11-01,
// Resources 2019-10-01). The controller is tested against exactly those.

import type { DeviceApiVersions } from '../arm/resources.js';

export type { DeviceApiVersions } from '../arm/resources.js';

export type ApiVersionKind = keyof DeviceApiVersions;

/** The versions the controller is tested with, newest first (the newest one a device lists is used). */
export const TESTED_API_VERSIONS: { readonly [K in ApiVersionKind]: readonly string[] } = {
  compute: ['2020-06-01', '2017-12-01'],
  disks: ['2019-07-01', '2017-03-30'],
  network: ['2018-11-01', '2017-10-01'],
  resources: ['2020-06-01', '2019-10-01'],
};

/** The provider namespace and resource type whose listed versions decide each kind. */
export const VERSION_SOURCES: { readonly [K in ApiVersionKind]: { namespace: string; resourceType: string } } = {
  compute: { namespace: 'Microsoft.Compute', resourceType: 'virtualMachines' },
  disks: { namespace: 'Microsoft.Compute', resourceType: 'disks' },
  network: { namespace: 'Microsoft.Network', resourceType: 'networkInterfaces' },
  resources: { namespace: 'Microsoft.Resources', resourceType: 'deployments' },
};

/**
 * The disks version of each hybrid profile's compute version (the two articles above): used when a device
 * lists no `disks` resource type at all (*assumed*: disks then follow the profile of the VM api).
 */
const DISKS_OF_COMPUTE: Readonly<Record<string, string>> = { '2020-06-01': '2019-07-01', '2017-12-01': '2017-03-30' };

/** What a device lists: resource type (case-insensitive) → api-versions, per namespace. */
export type ProviderListing = Readonly<Record<string, ReadonlyMap<string, readonly string[]>>>;

/** The `Provider` body of Providers_Get → resource type (lower case) → api-versions. */
export function resourceTypeVersions(body: unknown): Map<string, readonly string[]> {
  const types = (body as { resourceTypes?: unknown } | null)?.resourceTypes;
  const result = new Map<string, readonly string[]>();
  if (!Array.isArray(types)) return result;
  for (const t of types as { resourceType?: unknown; apiVersions?: unknown }[]) {
    if (typeof t.resourceType !== 'string' || !Array.isArray(t.apiVersions)) continue;
    result.set(t.resourceType.toLowerCase(), t.apiVersions.filter((v): v is string => typeof v === 'string'));
  }
  return result;
}

/** A device that serves none of the tested versions for some kind. */
export class UnsupportedApiVersionsError extends Error {
  override readonly name = 'UnsupportedApiVersionsError';
  readonly code = 'UnsupportedApiVersions';

  constructor(readonly unsupported: { kind: ApiVersionKind; served: readonly string[] }[]) {
    super(
      `the device's local ARM serves no api-version the controller supports: ${unsupported
        .map(({ kind, served }) => {
          const src = VERSION_SOURCES[kind];
          return `${src.namespace}/${src.resourceType} serves ${served.length > 0 ? served.join(', ') : 'nothing'} (supported: ${TESTED_API_VERSIONS[kind].join(', ')})`;
        })
        .join('; ')}`,
    );
  }
}

const newestTested = (kind: ApiVersionKind, served: readonly string[]): string | undefined => {
  const lower = new Set(served.map((v) => v.toLowerCase()));
  return TESTED_API_VERSIONS[kind].find((v) => lower.has(v));
};

/** Per kind, the newest tested version the device lists; throws UnsupportedApiVersionsError when one has none. */
export function chooseApiVersions(listing: ProviderListing): DeviceApiVersions {
  const served = (kind: ApiVersionKind): readonly string[] | undefined => {
    const src = VERSION_SOURCES[kind];
    return listing[src.namespace.toLowerCase()]?.get(src.resourceType.toLowerCase());
  };
  const chosen: Partial<DeviceApiVersions> = {};
  const unsupported: { kind: ApiVersionKind; served: readonly string[] }[] = [];
  for (const kind of ['compute', 'network', 'resources'] as const) {
    const version = newestTested(kind, served(kind) ?? []);
    if (version === undefined) unsupported.push({ kind, served: served(kind) ?? [] });
    else chosen[kind] = version;
  }
  const disksServed = served('disks');
  const disks = disksServed === undefined ? (chosen.compute !== undefined ? DISKS_OF_COMPUTE[chosen.compute] : undefined) : newestTested('disks', disksServed);
  if (disks === undefined) unsupported.push({ kind: 'disks', served: disksServed ?? [] });
  if (unsupported.length > 0) throw new UnsupportedApiVersionsError(unsupported);
  return { compute: chosen.compute ?? '', disks: disks ?? '', network: chosen.network ?? '', resources: chosen.resources ?? '' };
}

/**
 * Versions recorded earlier (an EdgeDevice's status.apiVersions) that a process may use without reading the
 * providers: only when each is the newest the controller speaks, so negotiating could choose nothing better. A
 * device that stopped serving one refuses it, and the clients negotiate again (apiVersionPolicy.ts). Anything else
 * recorded, or anything malformed, is negotiated as usual.
 */
export function newestRecorded(recorded: unknown): DeviceApiVersions | undefined {
  if (recorded === null || typeof recorded !== 'object') return undefined;
  const versions: Partial<Record<ApiVersionKind, string>> = {};
  for (const kind of Object.keys(TESTED_API_VERSIONS) as ApiVersionKind[]) {
    const newest = TESTED_API_VERSIONS[kind][0];
    if ((recorded as Record<string, unknown>)[kind] !== newest || newest === undefined) return undefined;
    versions[kind] = newest;
  }
  return versions as DeviceApiVersions;
}

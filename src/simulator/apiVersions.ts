// The api-versions a simulated device's local ARM accepts, per named set (chosen by the device profile),
// and the Resources `Provider` bodies that list them.
//
// Sources:
// - `ase-article`: learn.microsoft.com/azure/databox-online/azure-stack-edge-profiles-azure-resource-manager-versions
//   ("Resource provider API profile versions", profile 2019-03-01-hybrid: Compute 2017-12-01, Network 2017-10-01,
//   Resources 2020-06-01). Disks 2017-03-30 is what profile/2019-03-01-hybrid.json of Azure/azure-rest-api-specs
//   assigns to Microsoft.Compute/disks; Subscriptions 2018-09-01 is not in the article (assumed; 2016-06-01 is kept
//   for identity tooling that lists subscriptions with it).
// - `hybrid-2020-09-01`: the Azure Stack Edge PowerShell article (Az modules, profile 2020-09-01-hybrid:
//   Compute 2020-06-01, disks 2019-07-01, Network 2018-11-01, Resources 2019-10-01).
// - `future-only`: assumed, versions newer than any hybrid profile (the controller knows none of them).
export type ApiVersionSetName = 'ase-article' | 'hybrid-2020-09-01' | 'both' | 'future-only';
export const API_VERSION_SET_NAMES: readonly ApiVersionSetName[] = ['ase-article', 'hybrid-2020-09-01', 'both', 'future-only'];

export interface ApiVersionSet {
  compute: readonly string[];
  disks: readonly string[];
  network: readonly string[];
  resources: readonly string[];
  subscriptions: readonly string[];
}

const ASE_ARTICLE: ApiVersionSet = {
  compute: ['2017-12-01'],
  disks: ['2017-03-30'],
  network: ['2017-10-01'],
  resources: ['2020-06-01'],
  subscriptions: ['2016-06-01', '2018-09-01'],
};

const HYBRID_2020_09_01: ApiVersionSet = {
  compute: ['2020-06-01'],
  disks: ['2019-07-01'],
  network: ['2018-11-01'],
  resources: ['2019-10-01'],
  subscriptions: ['2016-06-01', '2019-10-01'],
};

const FUTURE_ONLY: ApiVersionSet = {
  compute: ['2024-03-01'],
  disks: ['2023-04-02'],
  network: ['2023-09-01'],
  resources: ['2022-09-01'],
  subscriptions: ['2022-12-01'],
};

const union = (a: readonly string[], b: readonly string[]): string[] => [...new Set([...a, ...b])].sort();

export const API_VERSION_SETS: Record<ApiVersionSetName, ApiVersionSet> = {
  'ase-article': ASE_ARTICLE,
  'hybrid-2020-09-01': HYBRID_2020_09_01,
  both: {
    compute: union(ASE_ARTICLE.compute, HYBRID_2020_09_01.compute),
    disks: union(ASE_ARTICLE.disks, HYBRID_2020_09_01.disks),
    network: union(ASE_ARTICLE.network, HYBRID_2020_09_01.network),
    resources: union(ASE_ARTICLE.resources, HYBRID_2020_09_01.resources),
    subscriptions: union(ASE_ARTICLE.subscriptions, HYBRID_2020_09_01.subscriptions),
  },
  'future-only': FUTURE_ONLY,
};

/**
 * The providers endpoint is ARM's own (not a resource provider's): it answers every Resources or Subscriptions
 * version of any set, so a client can always discover what the device offers (assumed; knob: profile.apiVersions).
 */
export const PROVIDERS_ENDPOINT_API_VERSIONS: readonly string[] = [
  ...new Set(Object.values(API_VERSION_SETS).flatMap((s) => [...s.resources, ...s.subscriptions])),
].sort();

/** A resource type the device serves and which column of the set gives its api-versions. */
const PROVIDER_TYPES: Record<'Microsoft.Compute' | 'Microsoft.Network' | 'Microsoft.Resources', [string, keyof ApiVersionSet][]> = {
  'Microsoft.Compute': [
    ['virtualMachines', 'compute'],
    ['virtualMachines/extensions', 'compute'],
    ['images', 'compute'],
    ['disks', 'disks'],
    ['locations', 'compute'],
    ['locations/operations', 'compute'],
  ],
  'Microsoft.Network': [
    ['networkInterfaces', 'network'],
    ['virtualNetworks', 'network'],
  ],
  'Microsoft.Resources': [
    ['deployments', 'resources'],
    ['deployments/operations', 'resources'],
    ['resourceGroups', 'resources'],
  ],
};

export const PROVIDER_NAMESPACES = Object.keys(PROVIDER_TYPES) as (keyof typeof PROVIDER_TYPES)[];

/**
 * A `Provider` body (Resources 2019-10-01 resources.json, definition `Provider`, operation `Providers_Get`):
 * id, namespace, registrationState, resourceTypes[{resourceType, locations, apiVersions}]. Undefined for a
 * namespace the device does not serve.
 */
export function providerBody(subscriptionId: string, namespace: string, set: ApiVersionSet, location: string): Record<string, unknown> | undefined {
  const canonical = PROVIDER_NAMESPACES.find((n) => n.toLowerCase() === namespace.toLowerCase());
  if (canonical === undefined) return undefined;
  return {
    id: `/subscriptions/${subscriptionId}/providers/${canonical}`,
    namespace: canonical,
    registrationState: 'Registered',
    resourceTypes: PROVIDER_TYPES[canonical].map(([resourceType, column]) => ({
      resourceType,
      locations: [location],
      apiVersions: [...set[column]].sort().reverse(),
    })),
  };
}

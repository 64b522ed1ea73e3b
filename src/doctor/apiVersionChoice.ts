// Which api-versions the controller would use on a device, from what the device's providers list serves.
// The known sets are those of the ASE articles (domain notes): profile 2020-09-01-hybrid first, then 2019-03-01-hybrid.

export interface ChosenApiVersions {
  compute: string;
  disks: string;
  network: string;
  resources: string;
}

export type ApiVersionKind = keyof ChosenApiVersions;

/** namespace (lower case) -> resource type (lower case) -> api-versions served. */
export type ServedApiVersions = Map<string, Map<string, string[]>>;

interface Need {
  kind: ApiVersionKind;
  namespace: string;
  resourceType: string;
  known: readonly string[];
}

export const API_VERSION_NEEDS: readonly Need[] = [
  { kind: 'compute', namespace: 'Microsoft.Compute', resourceType: 'virtualMachines', known: ['2020-06-01', '2017-12-01'] },
  { kind: 'disks', namespace: 'Microsoft.Compute', resourceType: 'disks', known: ['2019-07-01', '2017-03-30'] },
  { kind: 'network', namespace: 'Microsoft.Network', resourceType: 'networkInterfaces', known: ['2018-11-01', '2017-10-01'] },
  { kind: 'resources', namespace: 'Microsoft.Resources', resourceType: 'deployments', known: ['2019-10-01', '2020-06-01'] },
];

export const DEFAULT_API_VERSIONS: ChosenApiVersions = { compute: '2020-06-01', disks: '2019-07-01', network: '2018-11-01', resources: '2019-10-01' };

export interface ApiVersionRow {
  kind: ApiVersionKind;
  namespace: string;
  resourceType: string;
  served: string[];
  known: readonly string[];
  chosen?: string;
}

export function chooseApiVersions(served: ServedApiVersions): { rows: ApiVersionRow[]; chosen?: ChosenApiVersions } {
  const rows = API_VERSION_NEEDS.map((need): ApiVersionRow => {
    const versions = served.get(need.namespace.toLowerCase())?.get(need.resourceType.toLowerCase()) ?? [];
    const chosen = need.known.find((v) => versions.includes(v));
    return { kind: need.kind, namespace: need.namespace, resourceType: need.resourceType, served: versions, known: need.known, ...(chosen !== undefined ? { chosen } : {}) };
  });
  if (rows.some((r) => r.chosen === undefined)) return { rows };
  const chosen = Object.fromEntries(rows.map((r) => [r.kind, r.chosen])) as unknown as ChosenApiVersions;
  return { rows, chosen };
}

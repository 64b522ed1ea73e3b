// Providers and api-versions: what the device's local ARM serves per namespace (GET /subscriptions/{id}/providers/
// {namespace}, Resources spec Provider shape) and which api-version the controller would choose.
import { type ApiVersionRow, type ChosenApiVersions, DEFAULT_API_VERSIONS, API_VERSION_NEEDS, type ServedApiVersions, chooseApiVersions } from '../apiVersionChoice.js';
import { type CheckResult, errorText, fail, pass, warn } from '../check.js';
import { armErrorText, type ReadOnlyClient } from '../readOnlyClient.js';

const ID = 'apiVersions';
const TITLE = 'providers and api-versions';
/** api-version for reading providers: the ASE article's Resources versions; ARM names the ones it serves when refused. */
const PROVIDERS_API_VERSION = '2019-10-01';
interface ProviderBody {
  namespace?: string;
  registrationState?: string;
  resourceTypes?: { resourceType?: string; apiVersions?: string[] }[];
}

export interface ProvidersOutcome {
  result: CheckResult;
  /** Versions to use for the following checks; undefined when the device serves none the controller knows. */
  versions?: ChosenApiVersions;
  served: ServedApiVersions;
}

/** The versions ARM lists in a NoRegisteredProviderFound / InvalidApiVersion message ("The supported api-versions are '...'"). */
export function supportedVersionsIn(message: string): string[] {
  const match = /supported api-versions are '([^']*)'/i.exec(message);
  return (match?.[1] ?? '').split(',').map((v) => v.trim()).filter((v) => /^\d{4}-\d{2}-\d{2}/.test(v));
}

async function readProvider(client: ReadOnlyClient, base: string, namespace: string): Promise<{ body: ProviderBody } | { error: string }> {
  const url = (apiVersion: string): string => `${base}/providers/${namespace}?api-version=${apiVersion}`;
  let res = await client.get(url(PROVIDERS_API_VERSION));
  if (res.status === 400) {
    // Refused api-version: ask again with the newest one the device names.
    const newest = supportedVersionsIn(armErrorText(res)).sort().at(-1);
    if (newest !== undefined) res = await client.get(url(newest));
  }
  return res.status === 200 ? { body: res.body as ProviderBody } : { error: armErrorText(res) };
}

const rowText = (r: ApiVersionRow): string => `${r.namespace}/${r.resourceType}: serves ${r.served.length > 0 ? r.served.join(', ') : 'nothing'} -> ${r.chosen ?? 'none known'}`;

export async function checkProviders(client: ReadOnlyClient, armEndpoint: string, subscriptionId: string): Promise<ProvidersOutcome> {
  const base = `${armEndpoint}/subscriptions/${subscriptionId}`;
  const namespaces = [...new Set(API_VERSION_NEEDS.map((n) => n.namespace))];
  const served: ServedApiVersions = new Map();
  const unreadable: string[] = [];
  try {
    const bodies = await Promise.all(namespaces.map(async (ns) => ({ ns, read: await readProvider(client, base, ns) })));
    for (const { ns, read } of bodies) {
      if ('error' in read) {
        unreadable.push(`${ns} (${read.error})`);
        continue;
      }
      const types = new Map<string, string[]>();
      for (const t of read.body.resourceTypes ?? []) {
        if (typeof t.resourceType === 'string') types.set(t.resourceType.toLowerCase(), [...(t.apiVersions ?? [])]);
      }
      served.set(ns.toLowerCase(), types);
    }
  } catch (err) {
    return { result: fail(ID, TITLE, `cannot read the device's providers: ${errorText(err)}`, 'check that the ARM endpoint is reachable'), served };
  }
  if (unreadable.length > 0) {
    return {
      result: warn(ID, TITLE, `the device did not list providers ${unreadable.join('; ')}; the controller would use its defaults (Compute ${DEFAULT_API_VERSIONS.compute}, Network ${DEFAULT_API_VERSIONS.network}, Resources ${DEFAULT_API_VERSIONS.resources})`,
        'nothing to do if the other checks pass; otherwise report the device software version', { unreadable, defaults: DEFAULT_API_VERSIONS }),
      versions: DEFAULT_API_VERSIONS,
      served,
    };
  }
  const { rows, chosen } = chooseApiVersions(served);
  const details = { rows: rows.map((r) => ({ namespace: r.namespace, resourceType: r.resourceType, served: r.served, chosen: r.chosen ?? null })) };
  if (chosen === undefined) {
    const unknown = rows.filter((r) => r.chosen === undefined).map((r) => `${r.namespace}/${r.resourceType} ${r.served.length > 0 ? r.served.join(', ') : '(none)'}`);
    return {
      result: fail(ID, TITLE, `the controller does not know these api-versions: ${unknown.join('; ')}`,
        `use a gpuvm-controller release that supports this device software (it knows ${rows.filter((r) => r.chosen === undefined).map((r) => `${r.namespace}/${r.resourceType} ${r.known.join(', ')}`).join('; ')}), and report the device's software version`, details),
      served,
    };
  }
  return { result: pass(ID, TITLE, rows.map(rowText).join('; '), { ...details, chosen }), versions: chosen, served };
}

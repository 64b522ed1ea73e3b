// Providers and api-versions: what the device's local ARM serves per namespace (GET /subscriptions/{id}/providers/
// {namespace}, Resources spec Provider shape) and which api-version the controller would choose (src/azure/apiVersions.ts).
import {
  type ApiVersionKind,
  type DeviceApiVersions,
  type ProviderListing,
  TESTED_API_VERSIONS,
  UnsupportedApiVersionsError,
  VERSION_SOURCES,
  chooseApiVersions,
  resourceTypeVersions,
} from '../../azure/apiVersions.js';
import { type CheckResult, errorText, fail, pass } from '../check.js';
import { armErrorText, type ReadOnlyClient } from '../readOnlyClient.js';

const ID = 'apiVersions';
const TITLE = 'providers and api-versions';
const KINDS = Object.keys(VERSION_SOURCES) as ApiVersionKind[];
const NAMESPACES = [...new Set(KINDS.map((k) => VERSION_SOURCES[k].namespace))];

export interface ProvidersOutcome {
  result: CheckResult;
  /** Versions for the following checks; undefined when the device serves none the controller knows. */
  versions?: DeviceApiVersions;
}

/** The versions ARM names when it refuses one: NoRegisteredProviderFound "... The supported api-versions are '2019-10-01, 2020-06-01'.", InvalidApiVersionParameter "... The supported versions are '2022-09-01,2021-04-01'.". */
export function supportedVersionsIn(message: string): string[] {
  const match = /supported (?:api-)?versions are '([^']*)'/i.exec(message);
  return (match?.[1] ?? '').split(',').map((v) => v.trim()).filter((v) => /^\d{4}-\d{2}-\d{2}/.test(v));
}

/**
 * Providers_Get with the newest tested Resources version; when the device refuses it, once more with the newest
 * version the refusal names, so that even a device serving only unknown versions tells which ones it serves.
 */
async function readProvider(client: ReadOnlyClient, base: string, namespace: string): Promise<{ body: unknown } | { error: string }> {
  const url = (apiVersion: string): string => `${base}/providers/${namespace}?api-version=${apiVersion}`;
  let res = await client.get(url(TESTED_API_VERSIONS.resources[0] ?? '2020-06-01'));
  if (res.status === 400) {
    const named = supportedVersionsIn(armErrorText(res));
    const retry = TESTED_API_VERSIONS.resources.find((v) => named.includes(v)) ?? named.sort().at(-1);
    if (retry !== undefined) res = await client.get(url(retry));
  }
  return res.status === 200 ? { body: res.body } : { error: armErrorText(res) };
}

export async function checkProviders(client: ReadOnlyClient, armEndpoint: string, subscriptionId: string): Promise<ProvidersOutcome> {
  const base = `${armEndpoint}/subscriptions/${subscriptionId}`;
  const listing: Record<string, ReadonlyMap<string, readonly string[]>> = {};
  const unreadable: string[] = [];
  try {
    for (const namespace of NAMESPACES) {
      const read = await readProvider(client, base, namespace);
      if ('error' in read) unreadable.push(`${namespace} (${read.error})`);
      else listing[namespace.toLowerCase()] = resourceTypeVersions(read.body);
    }
  } catch (err) {
    return { result: fail(ID, TITLE, `cannot read the device's providers: ${errorText(err)}`, 'check that the ARM endpoint is reachable') };
  }
  if (unreadable.length > 0) {
    return { result: fail(ID, TITLE, `the device did not list providers ${unreadable.join('; ')}`, 'the controller chooses api-versions from this list: check that the ARM user may read the subscription, and report the device software version') };
  }
  const served = (kind: ApiVersionKind): readonly string[] => listing[VERSION_SOURCES[kind].namespace.toLowerCase()]?.get(VERSION_SOURCES[kind].resourceType.toLowerCase()) ?? [];
  const rows = KINDS.map((kind) => ({ kind, namespace: VERSION_SOURCES[kind].namespace, resourceType: VERSION_SOURCES[kind].resourceType, served: [...served(kind)], known: TESTED_API_VERSIONS[kind] }));
  try {
    const versions = chooseApiVersions(listing as ProviderListing);
    const summary = rows.map((r) => `${r.namespace}/${r.resourceType}: serves ${r.served.join(', ') || 'nothing'} -> ${versions[r.kind]}`).join('; ');
    return { result: pass(ID, TITLE, summary, { rows, chosen: versions }), versions };
  } catch (err) {
    if (!(err instanceof UnsupportedApiVersionsError)) throw err;
    const unknown = err.unsupported.map(({ kind, served: s }) => `${VERSION_SOURCES[kind].namespace}/${VERSION_SOURCES[kind].resourceType} ${s.length > 0 ? s.join(', ') : '(none)'}`);
    const known = err.unsupported.map(({ kind }) => `${VERSION_SOURCES[kind].namespace}/${VERSION_SOURCES[kind].resourceType} ${TESTED_API_VERSIONS[kind].join(', ')}`);
    return {
      result: fail(ID, TITLE, `the controller does not know these api-versions: ${unknown.join('; ')}`,
        `use a gpuvm-controller release that supports this device software (this one knows ${known.join('; ')}) and report the device's software version`, { rows }),
    };
  }
}

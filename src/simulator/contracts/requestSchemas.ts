// Loads the derived request contracts (derived/*.json, written by scripts/derive-arm-contracts.ts from the
// published Azure REST API specs) and picks the one for a namespace, resource type and api-version.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DerivedContract, DerivedProfiles } from './schemaTypes.js';

const DERIVED_DIR = join(dirname(fileURLToPath(import.meta.url)), 'derived');

let loaded: { contracts: DerivedContract[]; profiles: DerivedProfiles['profiles'] } | undefined;

function load(): { contracts: DerivedContract[]; profiles: DerivedProfiles['profiles'] } {
  if (loaded === undefined) {
    const contracts: DerivedContract[] = [];
    let profiles: DerivedProfiles['profiles'] = {};
    for (const file of readdirSync(DERIVED_DIR).filter((f) => f.endsWith('.json')).sort()) {
      const doc = JSON.parse(readFileSync(join(DERIVED_DIR, file), 'utf8')) as DerivedContract | DerivedProfiles;
      if ('profiles' in doc) profiles = doc.profiles;
      else contracts.push(doc);
    }
    loaded = { contracts, profiles };
  }
  return loaded;
}

export interface ContractChoice {
  contract: DerivedContract;
  /** Definition key of the body. */
  root: string;
  /** The api-version whose spec is used (the requested one, or the nearest derived one). */
  apiVersion: string;
  exact: boolean;
}

const day = (v: string): number => Date.parse(v.slice(0, 10));

/**
 * The contract for a PUT body. A version without a derived spec (an older template api-version such as
 * Resources 2018-05-01, or a newer one a device profile serves) is checked against the nearest derived
 * version of the same namespace that describes the type (ties go to the older one): the body shapes the
 * simulator accepts are stable across these versions, so the nearest spec is the closest published contract.
 */
export function contractFor(namespace: string, resourceType: string, apiVersion: string): ContractChoice | undefined {
  const ns = namespace.toLowerCase();
  const type = resourceType.toLowerCase();
  const candidates: { contract: DerivedContract; root: string }[] = [];
  for (const contract of load().contracts) {
    if (contract.namespace.toLowerCase() !== ns) continue;
    const root = Object.entries(contract.roots).find(([t]) => t.toLowerCase() === type)?.[1];
    if (root !== undefined) candidates.push({ contract, root });
  }
  const exact = candidates.find((c) => c.contract.apiVersion === apiVersion);
  if (exact !== undefined) return { ...exact, apiVersion, exact: true };
  const target = day(apiVersion);
  if (Number.isNaN(target) || candidates.length === 0) return undefined;
  const nearest = [...candidates].sort((a, b) => Math.abs(day(a.contract.apiVersion) - target) - Math.abs(day(b.contract.apiVersion) - target) || day(a.contract.apiVersion) - day(b.contract.apiVersion))[0];
  return nearest === undefined ? undefined : { ...nearest, apiVersion: nearest.contract.apiVersion, exact: false };
}

/** The api-version a hybrid api profile assigns to "Namespace/type" (template resources without apiVersion). */
export function profileApiVersion(profile: string, fullType: string): string | undefined {
  const entries = Object.entries(load().profiles).find(([name]) => name.toLowerCase() === profile.toLowerCase())?.[1] ?? {};
  return Object.entries(entries).find(([t]) => t.toLowerCase() === fullType.toLowerCase())?.[1];
}

/** Namespaces with derived contracts, and their api-versions. */
export function derivedVersions(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const c of load().contracts) (out[c.namespace] ??= []).push(c.apiVersion);
  return out;
}

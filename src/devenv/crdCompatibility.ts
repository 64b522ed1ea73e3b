// Whether a CRD already on a cluster is the one in crds/: same served versions, same schema for each. The demo
// uses such a CRD as it is and refuses to touch one that differs (another version of the controller owns it).
import { isDeepStrictEqual } from 'node:util';

/** The parts of a CustomResourceDefinition compared, as the API server returns it (or as crds/ holds it). */
export interface ComparableCrd {
  metadata?: { name?: string };
  spec: { versions: { name: string; served?: boolean; schema?: { openAPIV3Schema?: unknown } }[] };
}

/** The differences, one sentence each; empty when the cluster's CRD serves the same versions with the same schemas. */
export function crdDifferences(wanted: ComparableCrd, onCluster: ComparableCrd): string[] {
  const served = (crd: ComparableCrd): string[] =>
    crd.spec.versions
      .filter((v) => v.served !== false)
      .map((v) => v.name)
      .sort();
  const want = served(wanted);
  const have = served(onCluster);
  if (!isDeepStrictEqual(want, have)) return [`the cluster serves ${have.join(', ') || 'no version'}, this build ${want.join(', ')}`];
  const differences: string[] = [];
  for (const name of want) {
    const schema = (crd: ComparableCrd): unknown => crd.spec.versions.find((v) => v.name === name)?.schema?.openAPIV3Schema;
    if (!isDeepStrictEqual(schema(wanted), schema(onCluster))) differences.push(`the schema of ${name} differs`);
  }
  return differences;
}

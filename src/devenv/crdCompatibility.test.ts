import { loadCrds } from '../api/crdFiles.js';
import { crdDifferences, type ComparableCrd } from './crdCompatibility.js';

// The API server returns the CRD as JSON; a copy through JSON stands in for what `demo --kubeconfig` reads.
const shipped = (): ComparableCrd[] => loadCrds().map((crd) => JSON.parse(JSON.stringify(crd)) as ComparableCrd);

test('the CRDs of crds/ as a cluster returns them are the same as crds/', () => {
  for (const crd of shipped()) expect(crdDifferences(crd, JSON.parse(JSON.stringify(crd)) as ComparableCrd)).toEqual([]);
});

test('another served version is refused, naming both sets', () => {
  const [wanted] = shipped();
  if (wanted === undefined) throw new Error('crds/ holds no CRD');
  const onCluster = shipped()[0] as ComparableCrd;
  onCluster.spec.versions = onCluster.spec.versions.map((v) => ({ ...v, name: 'v1beta1' }));
  expect(crdDifferences(wanted, onCluster)).toEqual(['the cluster serves v1beta1, this build v1alpha1']);
});

test('an extra version that is not served does not count; one that is served does', () => {
  const [wanted] = shipped();
  const onCluster = shipped()[0] as ComparableCrd;
  if (wanted === undefined || onCluster.spec.versions[0] === undefined) throw new Error('crds/ holds no CRD');
  onCluster.spec.versions.push({ ...onCluster.spec.versions[0], name: 'v1alpha0', served: false });
  expect(crdDifferences(wanted, onCluster)).toEqual([]);
  onCluster.spec.versions.push({ ...onCluster.spec.versions[0], name: 'v1alpha2' });
  expect(crdDifferences(wanted, onCluster)).toEqual(['the cluster serves v1alpha1, v1alpha2, this build v1alpha1']);
});

test('the same version with another schema (one field more) is refused', () => {
  const [wanted] = shipped();
  const onCluster = shipped()[0] as ComparableCrd;
  const version = onCluster.spec.versions[0];
  if (wanted === undefined || version?.schema === undefined) throw new Error('crds/ holds no CRD');
  const schema = version.schema.openAPIV3Schema as { properties: Record<string, unknown> };
  schema.properties.extra = { type: 'string' };
  expect(crdDifferences(wanted, onCluster)).toEqual(['the schema of v1alpha1 differs']);
});

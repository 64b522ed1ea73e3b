import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { validateManifests } from '../../src/commands/validate.js';
import { INVALID_EDGEDEVICES, INVALID_GPUVMS, edgeDevice, gpuVm } from '../support/invalidManifests.js';

// Written as kubectl reads it (YAML 1.1), so a string such as "yes" stays a string.
const stringify = (value: unknown): string => stringifyYaml(value, { version: '1.1' });

const samples = join(import.meta.dirname, '..', '..', 'manifests', 'samples');

describe('gpuvm-controller validate (offline)', () => {
  it('accepts the samples and skips the other kinds in them', () => {
    for (const file of ['edgedevice.yaml', 'gpuvm-linux.yaml', 'gpuvm-windows.yaml']) {
      const results = validateManifests(readFileSync(join(samples, file), 'utf8'), file);
      expect(results).toHaveLength(1);
      expect(results[0]?.errors).toEqual([]);
    }
  });

  // The same table the API server is tested against: offline validation names the same field the same way.
  it.each([...INVALID_GPUVMS, ...INVALID_EDGEDEVICES])('rejects %s as the API server does', (_what, body, expected) => {
    const [result] = validateManifests(stringify(body), 'test.yaml');
    expect(result?.errors.join('\n')).toMatch(expected);
  });

  it('reads YAML as kubectl does (YAML 1.1): a plain yes is a boolean, a quoted one a string', () => {
    const yaml = (install: string) => stringify(gpuVm('vm')).replace(/^spec:\n/m, `spec:\n  gpuDriver:\n    install: ${install}\n`);
    expect(validateManifests(yaml('yes'), 'x.yaml')[0]?.errors).toEqual([]);
    expect(validateManifests(yaml('"yes"'), 'x.yaml')[0]?.errors.join('\n')).toMatch(/spec\.gpuDriver\.install: Invalid value: "string": .*boolean/);
  });

  it('reports every problem of a document, unknown fields and wrong apiVersions included', () => {
    const body = { ...gpuVm('vm'), apiVersion: 'gpuvm.io/v1', spec: { ...(gpuVm('vm').spec as object), size: 'Standard_D2', gpuCount: 2 } };
    const [result] = validateManifests(stringify(body), 'x.yaml');
    expect(result?.errors).toEqual([
      'apiVersion: Unsupported value: "gpuvm.io/v1": supported values: "gpuvm.io/v1alpha1"',
      'spec.size: Unsupported value: "Standard_D2": supported values: "Standard_NC4as_T4_v3", "Standard_NC8as_T4_v3"',
      'spec.gpuCount: unknown field "spec.gpuCount"',
    ]);
  });

  it('checks names and namespaces as the API server does, before any schema', () => {
    const [bad] = validateManifests(stringify({ ...gpuVm('vm'), metadata: { name: 'Bad_Name', namespace: 'Team_A' } }), 'x.yaml');
    expect(bad?.errors[0]).toMatch(/^metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    expect(bad?.errors[1]).toMatch(/^metadata\.namespace: Invalid value: "Team_A": a lowercase RFC 1123 label/);
    expect(validateManifests(stringify(gpuVm('a'.repeat(254))), 'x.yaml')[0]?.errors[0]).toBe(`metadata.name: Invalid value: "${'a'.repeat(254)}": must be no more than 253 characters`);
    expect(validateManifests(stringify(gpuVm('ok.name-1')), 'x.yaml')[0]?.errors).toEqual([]);
  });

  it('catches a GpuVm whose Secret in the same file lives in another namespace', () => {
    const vm = gpuVm('vm') as { spec: { adminCredentialsSecretRef: { name: string } } };
    const secret = (namespace?: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: vm.spec.adminCredentialsSecretRef.name, ...(namespace !== undefined ? { namespace } : {}) }, stringData: { username: 'u', password: 'p' } });
    const file = (...docs: unknown[]) => docs.map((d) => stringify(d)).join('---\n');
    expect(validateManifests(file(secret('ml'), vm), 'x.yaml').flatMap((r) => r.errors)).toEqual([
      `metadata.namespace: Required value: the GpuVm has no namespace but its Secret ${vm.spec.adminCredentialsSecretRef.name} in this file is in namespace ml; a GpuVm reads its Secret from its own namespace: set metadata.namespace: ml`,
    ]);
    const placed = { ...vm, metadata: { name: 'vm', namespace: 'ml' } };
    expect(validateManifests(file(secret('ml'), placed), 'x.yaml').flatMap((r) => r.errors)).toEqual([]);
    expect(validateManifests(file(secret(), vm), 'x.yaml').flatMap((r) => r.errors)).toEqual([]);
    expect(validateManifests(file(secret('other'), placed), 'x.yaml').flatMap((r) => r.errors)[0]).toMatch(/^metadata\.namespace: Invalid value: "ml": its Secret .* is in namespace other/);
  });

  it('names the document of a multi-document file and reports YAML errors', () => {
    const text = [stringify(edgeDevice('ok', { gpus: 1 })), stringify(edgeDevice('bad', { gpus: 5 })), 'a: [unclosed'].join('---\n');
    const results = validateManifests(text, 'multi.yaml');
    expect(results.map((r) => [r.source, r.kind, r.name, r.errors.length > 0])).toEqual([
      ['multi.yaml (document 1)', 'EdgeDevice', 'ok', false],
      ['multi.yaml (document 2)', 'EdgeDevice', 'bad', true],
      ['multi.yaml (document 3)', 'YAML', '', true],
    ]);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CRD_DIR, loadCrds } from './crdFiles.js';
import { renderCrdTypes } from './schemaToTypeScript.js';

describe('API types', () => {
  it('are exactly what the CRDs generate (run `npm run generate` after changing crds/)', () => {
    const checkedIn = readFileSync(join(CRD_DIR, '..', 'src', 'api', 'generated', 'types.ts'), 'utf8');
    expect(renderCrdTypes(loadCrds())).toBe(checkedIn);
  });

  it('render required, optional, enum, array and free-form fields', () => {
    const out = renderCrdTypes([
      {
        spec: {
          names: { kind: 'Thing' },
          versions: [
            {
              name: 'v1',
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: {
                      type: 'object',
                      required: ['mode'],
                      properties: {
                        mode: { type: 'string', enum: ['A', 'B'], description: 'The mode.' },
                        count: { type: 'integer' },
                        tags: { type: 'array', items: { type: 'string' } },
                        extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                        labels: { type: 'object', additionalProperties: { type: 'string' } },
                      },
                    },
                  },
                },
              },
            },
          ],
        },
      },
    ]);
    expect(out).toContain('export interface ThingSpec {');
    expect(out).toContain('  /** The mode. */\n  mode: "A" | "B";');
    expect(out).toContain('  count?: number;');
    expect(out).toContain('  tags?: string[];');
    expect(out).toContain('  extra?: Record<string, unknown>;');
    expect(out).toContain('  labels?: Record<string, string>;');
  });
});

// Offline validation of GpuVm and EdgeDevice objects against the CRDs' structural schemas and CEL rules,
// with the API server's wording ("spec.size: Unsupported value: ..."), for `gpuvm-controller validate`.
import { Environment } from '@marcbachmann/cel-js';
import type { JsonSchema } from './schemaToTypeScript.js';

export interface CelRule {
  rule: string;
  message?: string;
  fieldPath?: string;
  reason?: string;
}

export interface ValidatedSchema extends JsonSchema {
  properties?: Record<string, ValidatedSchema>;
  items?: ValidatedSchema;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  'x-kubernetes-validations'?: CelRule[];
}

class KubernetesUrl {
  constructor(readonly url: URL) {}
}

// The subset of the Kubernetes CEL libraries (URLs) that the CRDs' rules use, plus the standard library.
const cel = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false })
  .registerType('URL', KubernetesUrl)
  .registerFunction('isURL(string): bool', (s: string) => URL.canParse(s))
  .registerFunction('url(string): URL', (s: string) => new KubernetesUrl(new URL(s)))
  .registerFunction('URL.getScheme(): string', (u: KubernetesUrl) => u.url.protocol.replace(/:$/, ''))
  .registerFunction('URL.getHost(): string', (u: KubernetesUrl) => u.url.host)
  .registerFunction('URL.getHostname(): string', (u: KubernetesUrl) => u.url.hostname)
  .registerFunction('URL.getPath(): string', (u: KubernetesUrl) => u.url.pathname);

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v);
const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? `"${typeName(v)}"` : String(v));
/** The API server names a value of the wrong type by its type: Invalid value: "string": … must be of type boolean. */
const wrongType = (at: string, v: unknown, type: string): string => `${at}: Invalid value: "${typeName(v)}": ${at} in body must be of type ${type}: "${typeName(v)}"`;
const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

/** Integers become BigInt where the schema says integer, as CEL's int type expects. */
function toCel(value: unknown, schema: ValidatedSchema | undefined): unknown {
  if (schema?.type === 'integer' && typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map((v) => toCel(v, schema?.items));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v, schema?.properties?.[k])]));
  }
  return value;
}

/**
 * Validates `value` (a whole object for the root schema) and returns the errors, each naming its field.
 * Transition rules (oldSelf) need the stored object and are left to the API server.
 */
export function validateAgainstSchema(value: unknown, schema: ValidatedSchema, path = ''): string[] {
  const errors: string[] = [];
  const at = path === '' ? '<root>' : path;
  if (value === undefined || value === null) return errors;

  switch (schema.type) {
    case 'object': {
      if (typeName(value) !== 'object') return [wrongType(at, value, 'object')];
      const object = value as Record<string, unknown>;
      for (const key of schema.required ?? []) {
        if (object[key] === undefined) errors.push(`${join(path, key)}: Required value`);
      }
      if (schema.properties !== undefined) {
        for (const [key, child] of Object.entries(object)) {
          const childSchema = schema.properties[key];
          if (childSchema === undefined) {
            // metadata is the API server's to check (labels, annotations, …), not the CRD's.
            if (schema['x-kubernetes-preserve-unknown-fields'] !== true && path !== 'metadata') {
              errors.push(`${join(path, key)}: unknown field "${join(path, key)}"`);
            }
            continue;
          }
          errors.push(...validateAgainstSchema(child, childSchema, join(path, key)));
        }
      }
      break;
    }
    case 'array': {
      if (!Array.isArray(value)) return [wrongType(at, value, 'array')];
      if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${at}: Too many: ${value.length}: must have at most ${schema.maxItems} items`);
      if (schema.items !== undefined) value.forEach((v, i) => errors.push(...validateAgainstSchema(v, schema.items as ValidatedSchema, `${path}[${i}]`)));
      break;
    }
    case 'string': {
      if (typeof value !== 'string') return [wrongType(at, value, 'string')];
      if (schema.enum !== undefined && !schema.enum.includes(value)) {
        errors.push(`${at}: Unsupported value: ${show(value)}: supported values: ${schema.enum.map((e) => show(e)).join(', ')}`);
      }
      if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${at}: Invalid value: ${show(value)}: ${at} in body should be at least ${schema.minLength} chars long`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${at}: Too long: may not be more than ${schema.maxLength} bytes`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
        errors.push(`${at}: Invalid value: ${show(value)}: ${at} in body should match '${schema.pattern}'`);
      }
      break;
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || (schema.type === 'integer' && !Number.isInteger(value))) {
        return [wrongType(at, value, schema.type)];
      }
      if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: Invalid value: ${value}: ${at} in body should be greater than or equal to ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: Invalid value: ${value}: ${at} in body should be less than or equal to ${schema.maximum}`);
      break;
    }
    case 'boolean':
      if (typeof value !== 'boolean') return [wrongType(at, value, 'boolean')];
      break;
  }

  // CEL rules run only on values that passed the structural checks, as in the API server.
  if (errors.length > 0) return errors;
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    if (/\boldSelf\b/.test(rule.rule)) continue;
    let ok: unknown;
    try {
      ok = cel.evaluate(rule.rule, { self: toCel(value, schema) });
    } catch {
      ok = false;
    }
    if (ok !== true) {
      const field = rule.fieldPath !== undefined ? join(path, rule.fieldPath.replace(/^\./, '')) : at;
      const kind = rule.reason === 'FieldValueRequired' ? 'Required value' : `Invalid value: ${show(value)}`;
      errors.push(`${field}: ${kind}: ${rule.message ?? `failed rule: ${rule.rule}`}`);
    }
  }
  return errors;
}

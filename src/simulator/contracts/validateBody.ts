// Validates a request body against a derived contract with ARM semantics: a missing required property,
// a value of the wrong type, a value outside an enum or an unknown property is a 400; a readOnly property
// is dropped by ARM, so it is reported only as a `readOnly` finding (for strict replay checks).
import { contractFor } from './requestSchemas.js';
import type { ObjectNode, PropertyNode, SchemaNode } from './schemaTypes.js';

export type ViolationKind = 'required' | 'type' | 'enum' | 'unknown' | 'readOnly';

export interface BodyViolation {
  /** JSON path of the property, e.g. "properties.hostPlatform" or "properties.ipConfigurations[0].name". */
  path: string;
  kind: ViolationKind;
  /** The ARM error code a service answers with. */
  code: 'InvalidRequestContent' | 'InvalidParameter';
  message: string;
  /** Enum violations: the allowed values. */
  allowed?: string[];
}

export interface BodyCheck {
  namespace: string;
  resourceType: string;
  /** The api-version whose spec was used. */
  apiVersion: string;
  /** false when the requested api-version has no derived spec and the nearest one was used. */
  exact: boolean;
  violations: BodyViolation[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v) ?? String(v));

function typeOk(type: 'string' | 'integer' | 'number' | 'boolean', value: unknown): boolean {
  if (type === 'integer') return typeof value === 'number' && Number.isInteger(value);
  return typeof value === type;
}

class Walker {
  readonly violations: BodyViolation[] = [];
  constructor(private readonly definitions: Record<string, SchemaNode>) {}

  private add(v: BodyViolation): void {
    this.violations.push(v);
  }

  /** Resolves refs; `name` is the definition name (for "object of type X" messages). */
  private resolve(node: SchemaNode, name: string): { node: Exclude<SchemaNode, { ref: string }>; name: string } {
    let current = node;
    let currentName = name;
    for (let i = 0; 'ref' in current && i < 16; i++) {
      currentName = current.ref;
      current = this.definitions[current.ref] ?? { type: 'any' };
    }
    return 'ref' in current ? { node: { type: 'any' }, name: currentName } : { node: current, name: currentName };
  }

  walk(schema: SchemaNode, value: unknown, path: string, name = 'object'): void {
    const { node, name: typeName } = this.resolve(schema, name);
    switch (node.type) {
      case 'any':
        return;
      case 'array':
        if (!Array.isArray(value)) return this.add({ path, kind: 'type', code: 'InvalidRequestContent', message: `The value of '${path}' must be an array (got ${show(value)}).` });
        value.forEach((item, i) => this.walk(node.items, item, `${path}[${i}]`, typeName));
        return;
      case 'object':
        if (!isRecord(value)) return this.add({ path, kind: 'type', code: 'InvalidRequestContent', message: `The value of '${path || 'the body'}' must be a JSON object (got ${show(value)}).` });
        return this.object(node, value, path, typeName);
      default: {
        if (!typeOk(node.type, value)) {
          return this.add({ path, kind: 'type', code: 'InvalidRequestContent', message: `Error converting value ${show(value)} to type '${node.type}'. Path '${path}'.` });
        }
        const allowed = node.enum?.map(String);
        if (allowed !== undefined && !allowed.includes(String(value))) {
          this.add({ path, kind: 'enum', code: 'InvalidParameter', allowed, message: `The value '${show(value)}' of property '${path}' is not valid. Allowed values are: ${allowed.join(', ')}.` });
        }
      }
    }
  }

  private object(start: ObjectNode, value: Record<string, unknown>, path: string, startName: string): void {
    let node = start;
    let typeName = startName;
    // A polymorphic body: the discriminator value selects the definition that describes the rest.
    if (node.discriminator !== undefined) {
      const sub = node.discriminator.values[String(value[node.discriminator.property])];
      const resolved = sub === undefined ? undefined : this.resolve({ ref: sub }, sub);
      if (resolved?.node.type === 'object') {
        node = resolved.node;
        typeName = resolved.name;
      }
    }
    const properties: Record<string, PropertyNode> = node.properties ?? {};
    for (const [key, child] of Object.entries(value)) {
      const childPath = join(path, key);
      const prop = properties[key];
      if (prop === undefined) {
        if (node.additional === 'any') continue;
        if (node.additional !== undefined) {
          if (child !== null) this.walk(node.additional, child, childPath, typeName);
          continue;
        }
        this.add({ path: childPath, kind: 'unknown', code: 'InvalidRequestContent', message: `Could not find member '${key}' on object of type '${typeName}'. Path '${childPath}'.` });
        continue;
      }
      if (child === null || child === undefined) continue;
      if ('readOnly' in prop) {
        this.add({ path: childPath, kind: 'readOnly', code: 'InvalidRequestContent', message: `The property '${childPath}' is read-only: the service ignores the value a client sends.` });
        continue;
      }
      this.walk(prop, child, childPath, key);
    }
    for (const key of node.required ?? []) {
      if (value[key] === undefined || value[key] === null) {
        const p = join(path, key);
        this.add({ path: p, kind: 'required', code: 'InvalidRequestContent', message: `The request content was invalid: the required property '${p}' is missing.` });
      }
    }
  }
}

/**
 * Checks `body` (a PUT of `resourceType`, e.g. "virtualMachines/extensions", in `namespace`) against the
 * derived spec of `apiVersion` (or the nearest derived one). undefined: no contract describes the type.
 */
export function validateBody(namespace: string, resourceType: string, apiVersion: string, body: unknown): BodyCheck | undefined {
  const choice = contractFor(namespace, resourceType, apiVersion);
  if (choice === undefined) return undefined;
  const walker = new Walker(choice.contract.definitions);
  walker.walk({ ref: choice.root }, body, '');
  return { namespace: choice.contract.namespace, resourceType, apiVersion: choice.apiVersion, exact: choice.exact, violations: walker.violations };
}

/** The violations ARM answers with a 400 (everything but readOnly, which ARM drops). */
export function rejecting(violations: readonly BodyViolation[]): BodyViolation[] {
  return violations.filter((v) => v.kind !== 'readOnly');
}

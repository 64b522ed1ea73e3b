// Renders TypeScript interfaces from the CRDs' structural OpenAPI schemas, so the types the controller
// uses are derived from crds/ and cannot drift from what the API server accepts.

export interface JsonSchema {
  type?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  additionalProperties?: JsonSchema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export interface CustomResourceDefinition {
  metadata?: { name?: string };
  spec: {
    group?: string;
    names: { kind: string; plural?: string };
    versions: { name: string; served?: boolean; schema: { openAPIV3Schema: JsonSchema } }[];
  };
}

const pascal = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

function docComment(description: string | undefined, indent: string): string {
  if (description === undefined || description === '') return '';
  return `${indent}/** ${description.replace(/\*\//g, '*\\/').replace(/\s*\n\s*/g, ' ')} */\n`;
}

class Renderer {
  private readonly declarations: string[] = [];

  typeOf(schema: JsonSchema, name: string): string {
    if (schema.enum !== undefined) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
    switch (schema.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'array': {
        const item = this.typeOf(schema.items ?? {}, `${name}Item`);
        return item.includes('|') ? `(${item})[]` : `${item}[]`;
      }
      case 'object':
        if (schema.properties !== undefined) return this.declareInterface(name, schema);
        if (typeof schema.additionalProperties === 'object') {
          return `Record<string, ${this.typeOf(schema.additionalProperties, `${name}Value`)}>`;
        }
        return 'Record<string, unknown>';
      default:
        return 'unknown';
    }
  }

  private declareInterface(name: string, schema: JsonSchema): string {
    const required = new Set(schema.required ?? []);
    const lines = Object.entries(schema.properties ?? {}).map(([prop, child]) => {
      const optional = required.has(prop) ? '' : '?';
      return `${docComment(child.description, '  ')}  ${prop}${optional}: ${this.typeOf(child, name + pascal(prop))};`;
    });
    this.declarations.push(`${docComment(schema.description, '')}export interface ${name} {\n${lines.join('\n')}\n}\n`);
    return name;
  }

  output(): string {
    return this.declarations.join('\n');
  }
}

/** Renders spec and status interfaces (`<Kind>Spec`, `<Kind>Status` and their parts) for each CRD. */
export function renderCrdTypes(crds: readonly CustomResourceDefinition[]): string {
  const renderer = new Renderer();
  for (const crd of crds) {
    const kind = crd.spec.names.kind;
    for (const version of crd.spec.versions) {
      const root = version.schema.openAPIV3Schema.properties ?? {};
      for (const part of ['spec', 'status'] as const) {
        const schema = root[part];
        if (schema !== undefined) renderer.typeOf(schema, kind + pascal(part));
      }
    }
  }
  return (
    '// Generated from crds/*.yaml by `npm run generate`. Do not edit by hand.\n\n' + renderer.output()
  );
}

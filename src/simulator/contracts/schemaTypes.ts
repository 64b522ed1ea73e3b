// The compact schema language of the derived request contracts (src/simulator/contracts/derived/*.json),
// written by scripts/derive-arm-contracts.ts from Microsoft's published REST API specs and read by the validator.

/** A schema node: a primitive, an array, an object (allOf already flattened), a named definition or anything. */
export type SchemaNode =
  | { type: 'string'; enum?: string[] }
  | { type: 'integer' | 'number' | 'boolean'; enum?: (number | boolean)[] }
  | { type: 'array'; items: SchemaNode }
  | ObjectNode
  | { type: 'any' }
  | { ref: string };

export interface ObjectNode {
  type: 'object';
  properties?: Record<string, PropertyNode>;
  required?: string[];
  /** additionalProperties: a schema for every other key, 'any' for a free-form object; absent = closed. */
  additional?: SchemaNode | 'any';
  /** Polymorphic body (swagger `discriminator`): the property and each value's definition. */
  discriminator?: { property: string; values: Record<string, string> };
}

/** A property: its schema, or only `readOnly` (what a client sends there is dropped, so it is not described). */
export type PropertyNode = SchemaNode | { readOnly: true };

export interface SpecSource {
  /** Upstream path (under the repository) of one spec file the definitions came from. */
  path: string;
  /** Upstream commit that last changed that file, as named by the spec's provenance. */
  commit: string;
}

export interface DerivedContract {
  derivedFrom: { repository: string; files: SpecSource[]; note: string };
  namespace: string;
  apiVersion: string;
  /** Resource type (e.g. "virtualMachines/extensions") → definition of its PUT body. */
  roots: Record<string, string>;
  definitions: Record<string, SchemaNode>;
}

export interface DerivedProfiles {
  derivedFrom: { repository: string; files: SpecSource[]; note: string };
  /** Hybrid api profile → "Namespace/type" → api-version. */
  profiles: Record<string, Record<string, string>>;
}

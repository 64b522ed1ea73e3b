// Template functions the simulator implements (those of the official ASE templates and the common
// ones around them). Anything else is an InvalidTemplate error naming the function.
import { createHash, randomUUID } from 'node:crypto';

export class TemplateFunctionError extends Error {}

export interface FunctionContext {
  parameter(name: string): unknown;
  variable(name: string): unknown;
  subscriptionId: string;
  tenantId: string;
  resourceGroup: { name: string; location: string };
  deploymentName: string;
  reference(resourceIdOrName: string, full: boolean): unknown;
}

type Fn = (ctx: FunctionContext, args: unknown[]) => unknown;

function err(message: string): never {
  throw new TemplateFunctionError(message);
}

function str(value: unknown, fn: string): string {
  if (typeof value !== 'string') err(`The template function '${fn}' expects a string argument.`);
  return value;
}

function arity(fn: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    err(`The template function '${fn}' expects ${min === max ? min : `${min} to ${max}`} argument(s), got ${args.length}.`);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** resourceId([subscriptionId], [resourceGroupName], resourceType, name1, name2...). */
export function resourceIdOf(ctx: FunctionContext, args: unknown[], withResourceGroup = true): string {
  const strings = args.map((a) => str(a, 'resourceId'));
  const typeIndex = strings.findIndex((s) => s.includes('/'));
  if (typeIndex < 0 || typeIndex > 2) err("The template function 'resourceId' expects a resource type 'Namespace/type'.");
  const prefix = strings.slice(0, typeIndex);
  const type = strings[typeIndex] ?? '';
  const names = strings.slice(typeIndex + 1);
  const [namespace, ...types] = type.split('/');
  if (namespace === undefined || types.length === 0 || types.length !== names.length) {
    err(`The template function 'resourceId' got ${names.length} name(s) for type '${type}', which needs ${types.length}.`);
  }
  let subscriptionId = ctx.subscriptionId;
  let resourceGroup = ctx.resourceGroup.name;
  if (prefix.length === 2) [subscriptionId = subscriptionId, resourceGroup = resourceGroup] = prefix;
  else if (prefix.length === 1) resourceGroup = prefix[0] ?? resourceGroup;
  const path = types.map((t, i) => `${t}/${names[i] ?? ''}`).join('/');
  const scope = withResourceGroup ? `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}` : `/subscriptions/${subscriptionId}`;
  return `${scope}/providers/${namespace}/${path}`;
}

const FUNCTIONS: Record<string, Fn> = {
  parameters: (ctx, args) => (arity('parameters', args, 1), ctx.parameter(str(args[0], 'parameters'))),
  variables: (ctx, args) => (arity('variables', args, 1), ctx.variable(str(args[0], 'variables'))),
  concat: (_ctx, args) => {
    if (args.length > 0 && args.every(Array.isArray)) return (args as unknown[][]).flat();
    return args
      .map((a) => {
        if (typeof a === 'string' || typeof a === 'number' || typeof a === 'boolean') return String(a);
        err("The template function 'concat' expects strings or arrays.");
      })
      .join('');
  },
  format: (_ctx, args) => {
    const [fmt, ...rest] = args;
    return str(fmt, 'format').replace(/\{(\d+)\}/g, (_m, i: string) => String(rest[Number(i)] ?? ''));
  },
  resourceid: (ctx, args) => resourceIdOf(ctx, args),
  subscriptionresourceid: (ctx, args) => resourceIdOf(ctx, args, false),
  resourcegroup: (ctx, args) => {
    arity('resourceGroup', args, 0);
    const { name, location } = ctx.resourceGroup;
    return {
      id: `/subscriptions/${ctx.subscriptionId}/resourceGroups/${name}`,
      name,
      type: 'Microsoft.Resources/resourceGroups',
      location,
      properties: { provisioningState: 'Succeeded' },
    };
  },
  subscription: (ctx, args) => {
    arity('subscription', args, 0);
    return {
      id: `/subscriptions/${ctx.subscriptionId}`,
      subscriptionId: ctx.subscriptionId,
      tenantId: ctx.tenantId,
      displayName: 'Default Provider Subscription',
    };
  },
  deployment: (ctx, args) => (arity('deployment', args, 0), { name: ctx.deploymentName, properties: {} }),
  if: (_ctx, args) => {
    arity('if', args, 3);
    if (typeof args[0] !== 'boolean') err("The template function 'if' expects a boolean condition.");
    return args[0] ? args[1] : args[2];
  },
  equals: (_ctx, args) => (arity('equals', args, 2), deepEqual(args[0], args[1])),
  not: (_ctx, args) => {
    arity('not', args, 1);
    if (typeof args[0] !== 'boolean') err("The template function 'not' expects a boolean.");
    return !args[0];
  },
  and: (_ctx, args) => args.every((a) => a === true),
  or: (_ctx, args) => args.some((a) => a === true),
  true: () => true,
  false: () => false,
  null: () => null,
  empty: (_ctx, args) => {
    arity('empty', args, 1);
    const v = args[0];
    if (v === null || v === undefined) return true;
    if (typeof v === 'string' || Array.isArray(v)) return v.length === 0;
    if (typeof v === 'object') return Object.keys(v).length === 0;
    return false;
  },
  length: (_ctx, args) => {
    arity('length', args, 1);
    const v = args[0];
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (typeof v === 'object' && v !== null) return Object.keys(v).length;
    err("The template function 'length' expects a string, array or object.");
  },
  tolower: (_ctx, args) => (arity('toLower', args, 1), str(args[0], 'toLower').toLowerCase()),
  toupper: (_ctx, args) => (arity('toUpper', args, 1), str(args[0], 'toUpper').toUpperCase()),
  trim: (_ctx, args) => (arity('trim', args, 1), str(args[0], 'trim').trim()),
  string: (_ctx, args) => (arity('string', args, 1), typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0])),
  int: (_ctx, args) => {
    arity('int', args, 1);
    const n = Number.parseInt(String(args[0]), 10);
    if (Number.isNaN(n)) err("The template function 'int' could not convert its argument.");
    return n;
  },
  bool: (_ctx, args) => (arity('bool', args, 1), args[0] === true || String(args[0]).toLowerCase() === 'true'),
  json: (_ctx, args) => {
    arity('json', args, 1);
    try {
      return JSON.parse(str(args[0], 'json')) as unknown;
    } catch {
      err("The template function 'json' got invalid JSON.");
    }
  },
  createarray: (_ctx, args) => [...args],
  createobject: (_ctx, args) => {
    if (args.length % 2 !== 0) err("The template function 'createObject' expects key/value pairs.");
    const out: Record<string, unknown> = {};
    for (let i = 0; i < args.length; i += 2) out[str(args[i], 'createObject')] = args[i + 1];
    return out;
  },
  substring: (_ctx, args) => {
    arity('substring', args, 2, 3);
    const s = str(args[0], 'substring');
    const start = Number(args[1]);
    const len = args[2] === undefined ? s.length - start : Number(args[2]);
    if (!(start >= 0 && len >= 0 && start + len <= s.length)) err("The template function 'substring' got an index out of range.");
    return s.slice(start, start + len);
  },
  replace: (_ctx, args) => (arity('replace', args, 3), str(args[0], 'replace').split(str(args[1], 'replace')).join(str(args[2], 'replace'))),
  split: (_ctx, args) => (arity('split', args, 2), str(args[0], 'split').split(str(args[1], 'split'))),
  contains: (_ctx, args) => {
    arity('contains', args, 2);
    const [c, v] = args;
    if (typeof c === 'string') return c.toLowerCase().includes(String(v).toLowerCase());
    if (Array.isArray(c)) return c.some((x) => deepEqual(x, v));
    if (typeof c === 'object' && c !== null) return Object.keys(c).some((k) => k.toLowerCase() === String(v).toLowerCase());
    err("The template function 'contains' expects a string, array or object.");
  },
  coalesce: (_ctx, args) => args.find((a) => a !== null && a !== undefined) ?? null,
  first: (_ctx, args) => {
    const v = args[0];
    return typeof v === 'string' ? v.slice(0, 1) : Array.isArray(v) ? v[0] : err("'first' expects a string or array.");
  },
  last: (_ctx, args) => {
    const v = args[0];
    return typeof v === 'string' ? v.slice(-1) : Array.isArray(v) ? v.at(-1) : err("'last' expects a string or array.");
  },
  uniquestring: (_ctx, args) => {
    const hash = createHash('sha256').update(args.map((a) => str(a, 'uniqueString')).join('-')).digest();
    return Array.from(hash.subarray(0, 13), (b) => 'abcdefghijklmnopqrstuvwxyz234567'[b % 32]).join('');
  },
  guid: (_ctx, args) => {
    if (args.length === 0) return randomUUID();
    const h = createHash('sha1').update(args.map((a) => str(a, 'guid')).join('-')).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
  },
  reference: (ctx, args) => {
    arity('reference', args, 1, 3);
    return ctx.reference(str(args[0], 'reference'), String(args[2] ?? '').toLowerCase() === 'full');
  },
};

export function callFunction(ctx: FunctionContext, name: string, args: unknown[]): unknown {
  const fn = FUNCTIONS[name.toLowerCase()];
  if (fn === undefined) err(`The template function '${name}' is not valid. Please see https://aka.ms/arm-functions for usage details.`);
  return fn(ctx, args);
}

export function isKnownFunction(name: string): boolean {
  return FUNCTIONS[name.toLowerCase()] !== undefined;
}

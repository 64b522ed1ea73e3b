// Evaluates a deployment template: parameters (with defaults and types), variables, expressions,
// conditions, dependsOn ordering, apiProfile. Errors are InvalidTemplate ARM errors.
import { ArmError } from '../arm/errors.js';
import type { Expr } from './expression.js';
import { ExpressionError, isExpression, parseExpression, unescapeLiteral } from './expression.js';
import type { FunctionContext } from './functions.js';
import { TemplateFunctionError, callFunction, isKnownFunction } from './functions.js';

export interface EvaluatedResource {
  type: string;
  apiVersion?: string;
  name: string;
  /** Full resource id. */
  id: string;
  location?: string;
  tags?: Record<string, string>;
  properties: Record<string, unknown>;
  /** Ids of the resources it depends on (all inside this template). */
  dependsOn: string[];
  /** The evaluated resource object as written in the template. */
  body: Record<string, unknown>;
}

export interface EvaluationScope {
  subscriptionId: string;
  tenantId: string;
  resourceGroup: { name: string; location: string };
  deploymentName: string;
}

export interface PreparedTemplate {
  apiProfile?: string;
  resources: EvaluatedResource[];
  /** Parameters as ARM echoes them back: secure values are never included. */
  echoedParameters: Record<string, { type: string; value?: unknown }>;
  /** Evaluates the outputs once resources exist; reference() reads through the callback. */
  outputs(reference: (id: string, full: boolean) => unknown): Record<string, { type: string; value: unknown }>;
}

const PARAM_TYPES = ['string', 'securestring', 'int', 'bool', 'object', 'secureobject', 'array'];

export function invalidTemplate(message: string): ArmError {
  return new ArmError(400, 'InvalidTemplate', `Deployment template validation failed: '${message}'.`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
    case 'securestring':
      return typeof value === 'string';
    case 'int':
      return typeof value === 'number' && Number.isInteger(value);
    case 'bool':
      return typeof value === 'boolean';
    case 'object':
    case 'secureobject':
      return isRecord(value);
    case 'array':
      return Array.isArray(value);
    default:
      return false;
  }
}

/** Checks every function name in every expression of a JSON value before anything is evaluated. */
function checkFunctions(value: unknown, where: string, depth = 0): void {
  if (depth > 64) throw invalidTemplate(`The template is nested too deeply at '${where}'`);
  if (typeof value === 'string') {
    if (!isExpression(value)) return;
    let expr: Expr;
    try {
      expr = parseExpression(value.slice(1, -1));
    } catch (e) {
      throw invalidTemplate(`${(e as Error).message} (at '${where}')`);
    }
    const walk = (e: Expr): void => {
      if (e.kind === 'call') {
        if (!isKnownFunction(e.name)) {
          throw invalidTemplate(`The template function '${e.name}' is not valid (at '${where}')`);
        }
        e.args.forEach(walk);
      } else if (e.kind === 'property') walk(e.target);
      else if (e.kind === 'index') {
        walk(e.target);
        walk(e.index);
      }
    };
    walk(expr);
  } else if (Array.isArray(value)) value.forEach((v, i) => checkFunctions(v, `${where}[${i}]`, depth + 1));
  else if (isRecord(value)) for (const [k, v] of Object.entries(value)) checkFunctions(v, `${where}.${k}`, depth + 1);
}

class Evaluation implements FunctionContext {
  readonly subscriptionId: string;
  readonly tenantId: string;
  readonly resourceGroup: { name: string; location: string };
  readonly deploymentName: string;
  private readonly params = new Map<string, unknown>();
  private readonly variableValues = new Map<string, unknown>();
  private readonly evaluating = new Set<string>();
  referenceFn: ((id: string, full: boolean) => unknown) | undefined;

  constructor(
    scope: EvaluationScope,
    private readonly variableDefs: Record<string, unknown>,
  ) {
    this.subscriptionId = scope.subscriptionId;
    this.tenantId = scope.tenantId;
    this.resourceGroup = scope.resourceGroup;
    this.deploymentName = scope.deploymentName;
  }

  setParameter(name: string, value: unknown): void {
    this.params.set(name.toLowerCase(), value);
  }

  parameter(name: string): unknown {
    const key = name.toLowerCase();
    if (!this.params.has(key)) throw new TemplateFunctionError(`The template parameter '${name}' is not found.`);
    return this.params.get(key);
  }

  variable(name: string): unknown {
    const key = name.toLowerCase();
    if (this.variableValues.has(key)) return this.variableValues.get(key);
    const defKey = Object.keys(this.variableDefs).find((k) => k.toLowerCase() === key);
    if (defKey === undefined) throw new TemplateFunctionError(`The template variable '${name}' is not found.`);
    if (this.evaluating.has(key)) throw new TemplateFunctionError(`The template variable '${name}' refers to itself.`);
    this.evaluating.add(key);
    const value = this.value(this.variableDefs[defKey], `variables.${defKey}`);
    this.evaluating.delete(key);
    this.variableValues.set(key, value);
    return value;
  }

  reference(id: string, full: boolean): unknown {
    if (this.referenceFn === undefined) {
      throw new TemplateFunctionError("The template function 'reference' is only supported in outputs by this device.");
    }
    return this.referenceFn(id, full);
  }

  /** Evaluates every expression inside a JSON value. */
  value(input: unknown, where: string, depth = 0): unknown {
    if (depth > 64) throw invalidTemplate(`The template is nested too deeply at '${where}'`);
    if (typeof input === 'string') {
      if (!isExpression(input)) return unescapeLiteral(input);
      try {
        return this.expr(parseExpression(input.slice(1, -1)));
      } catch (e) {
        if (e instanceof TemplateFunctionError || e instanceof ExpressionError) {
          throw invalidTemplate(`${e.message} (at '${where}')`);
        }
        throw e;
      }
    }
    if (Array.isArray(input)) return input.map((v, i) => this.value(v, `${where}[${i}]`, depth + 1));
    if (isRecord(input)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(input)) out[k] = this.value(v, `${where}.${k}`, depth + 1);
      return out;
    }
    return input;
  }

  private expr(e: Expr): unknown {
    switch (e.kind) {
      case 'string':
      case 'number':
        return e.value;
      case 'call':
        return callFunction(this, e.name, e.args.map((a) => this.expr(a)));
      case 'property': {
        const target = this.expr(e.target);
        if (!isRecord(target)) throw new TemplateFunctionError(`The property '${e.name}' cannot be read from a non-object.`);
        const key = Object.keys(target).find((k) => k.toLowerCase() === e.name.toLowerCase());
        if (key === undefined) throw new TemplateFunctionError(`The language expression property '${e.name}' doesn't exist.`);
        return target[key];
      }
      case 'index': {
        const target = this.expr(e.target);
        const index = this.expr(e.index);
        if (Array.isArray(target) && typeof index === 'number') {
          if (index < 0 || index >= target.length) throw new TemplateFunctionError(`The index ${index} is out of range.`);
          return target[index];
        }
        if (isRecord(target) && typeof index === 'string') return target[index];
        throw new TemplateFunctionError('The language expression index is not valid.');
      }
    }
  }
}

/**
 * Validates and evaluates a template with its parameters. Throws ArmError(400, InvalidTemplate) for
 * template problems; resource types and api-versions are checked by the caller.
 */
export function prepareTemplate(template: unknown, parametersInput: unknown, scope: EvaluationScope): PreparedTemplate {
  if (!isRecord(template)) throw invalidTemplate('The template must be a JSON object');
  const resourcesIn = template['resources'];
  if (!Array.isArray(resourcesIn)) throw invalidTemplate("The template property 'resources' must be an array");
  const paramDefs = template['parameters'] ?? {};
  const variableDefs = template['variables'] ?? {};
  const outputDefs = template['outputs'] ?? {};
  if (!isRecord(paramDefs)) throw invalidTemplate("The template property 'parameters' must be an object");
  if (!isRecord(variableDefs)) throw invalidTemplate("The template property 'variables' must be an object");
  if (!isRecord(outputDefs)) throw invalidTemplate("The template property 'outputs' must be an object");
  const apiProfile = template['apiProfile'];
  if (apiProfile !== undefined && typeof apiProfile !== 'string') throw invalidTemplate("'apiProfile' must be a string");
  checkFunctions(paramDefs, 'parameters');
  checkFunctions(variableDefs, 'variables');
  checkFunctions(resourcesIn, 'resources');
  checkFunctions(outputDefs, 'outputs');

  const given = parametersInput ?? {};
  if (!isRecord(given)) throw invalidTemplate("The deployment 'parameters' must be an object");
  const ev = new Evaluation(scope, variableDefs);
  const echoed: Record<string, { type: string; value?: unknown }> = {};
  const declared = new Map(Object.keys(paramDefs).map((k) => [k.toLowerCase(), k]));
  const extra = Object.keys(given).filter((k) => !declared.has(k.toLowerCase()));
  if (extra.length > 0) {
    throw invalidTemplate(`The following parameters were supplied, but do not correspond to any parameters defined in the template: '${extra.join(', ')}'`);
  }
  for (const [name, def] of Object.entries(paramDefs)) {
    if (!isRecord(def)) throw invalidTemplate(`The template parameter '${name}' must be an object`);
    const type = String(def['type'] ?? '').toLowerCase();
    if (!PARAM_TYPES.includes(type)) throw invalidTemplate(`The template parameter '${name}' has an invalid type '${String(def['type'])}'`);
    const givenKey = Object.keys(given).find((k) => k.toLowerCase() === name.toLowerCase());
    let value: unknown;
    if (givenKey !== undefined) {
      const entry = given[givenKey];
      if (!isRecord(entry) || !('value' in entry)) {
        throw invalidTemplate(`The value for the template parameter '${name}' must be given as {"value": ...}`);
      }
      value = entry['value'];
    } else if ('defaultValue' in def) {
      value = ev.value(def['defaultValue'], `parameters.${name}.defaultValue`);
    } else {
      throw invalidTemplate(`The value for the template parameter '${name}' is not provided`);
    }
    if (!typeMatches(type, value)) throw invalidTemplate(`The provided value for the template parameter '${name}' is not valid: expected type '${type}'`);
    const allowed = def['allowedValues'];
    if (Array.isArray(allowed) && !allowed.some((a) => JSON.stringify(a) === JSON.stringify(value))) {
      throw invalidTemplate(`The provided value for the template parameter '${name}' is not valid: it is not one of the allowed values`);
    }
    ev.setParameter(name, value);
    echoed[name] = type.startsWith('secure') ? { type: type === 'securestring' ? 'SecureString' : 'SecureObject' } : { type: String(def['type']), value };
  }

  const resources: EvaluatedResource[] = [];
  const dependsRaw: string[][] = [];
  resourcesIn.forEach((raw, i) => {
    const where = `resources[${i}]`;
    if (!isRecord(raw)) throw invalidTemplate(`${where} must be an object`);
    if ('copy' in raw) throw invalidTemplate(`${where}: resource 'copy' loops are not supported by this device`);
    if ('condition' in raw) {
      const condition = ev.value(raw['condition'], `${where}.condition`);
      if (typeof condition !== 'boolean') throw invalidTemplate(`${where}.condition must be a boolean`);
      if (!condition) return;
    }
    const body = ev.value(raw, where) as Record<string, unknown>;
    const type = body['type'];
    const name = body['name'];
    if (typeof type !== 'string' || !/^[A-Za-z0-9.]+\/[A-Za-z0-9]+(\/[A-Za-z0-9]+)*$/.test(type)) {
      throw invalidTemplate(`${where}: the resource 'type' is missing or invalid`);
    }
    if (typeof name !== 'string' || name === '') throw invalidTemplate(`${where}: the resource 'name' is missing`);
    const [namespace = '', ...types] = type.split('/');
    const names = name.split('/');
    if (names.length !== types.length || names.some((n) => n === '')) {
      throw invalidTemplate(`${where}: the resource name '${name}' has ${names.length} segment(s) but type '${type}' needs ${types.length}`);
    }
    const id = `/subscriptions/${scope.subscriptionId}/resourceGroups/${scope.resourceGroup.name}/providers/${namespace}/${types.map((t, j) => `${t}/${names[j] ?? ''}`).join('/')}`;
    if (body['apiVersion'] !== undefined && typeof body['apiVersion'] !== 'string') throw invalidTemplate(`${where}.apiVersion must be a string`);
    if (body['apiVersion'] === undefined && apiProfile === undefined) {
      throw invalidTemplate(`${where}: the resource '${name}' has no 'apiVersion' and the template no 'apiProfile'`);
    }
    const deps = body['dependsOn'] ?? [];
    if (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string')) throw invalidTemplate(`${where}.dependsOn must be an array of strings`);
    const properties = body['properties'] ?? {};
    if (!isRecord(properties)) throw invalidTemplate(`${where}.properties must be an object`);
    const resource: EvaluatedResource = { type, name, id, properties, dependsOn: [], body };
    if (typeof body['apiVersion'] === 'string') resource.apiVersion = body['apiVersion'];
    if (typeof body['location'] === 'string') resource.location = body['location'];
    if (isRecord(body['tags'])) resource.tags = body['tags'] as Record<string, string>;
    if (resources.some((r) => r.id.toLowerCase() === id.toLowerCase())) throw invalidTemplate(`The resource '${id}' is defined multiple times in the template`);
    resources.push(resource);
    dependsRaw.push(deps as string[]);
  });

  // Resolve dependsOn (resource ids, "type/name" or plain names) and order topologically.
  const resolve = (dep: string): EvaluatedResource => {
    const d = dep.toLowerCase();
    const match = resources.find((r) => {
      const id = r.id.toLowerCase();
      return id === d || id.endsWith(`/${d}`) || `${r.type}/${r.name}`.toLowerCase() === d || r.name.toLowerCase() === d;
    });
    if (match === undefined) throw invalidTemplate(`The resource '${dep}' is not defined in the template`);
    return match;
  };
  resources.forEach((r, i) => {
    r.dependsOn = (dependsRaw[i] ?? []).map((d) => resolve(d).id);
  });
  const ordered: EvaluatedResource[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (r: EvaluatedResource): void => {
    const key = r.id.toLowerCase();
    if (state.get(key) === 'done') return;
    if (state.get(key) === 'visiting') throw invalidTemplate(`Circular dependency detected on resource '${r.id}'`);
    state.set(key, 'visiting');
    for (const dep of r.dependsOn) visit(resolve(dep));
    state.set(key, 'done');
    ordered.push(r);
  };
  resources.forEach(visit);

  const prepared: PreparedTemplate = {
    resources: ordered,
    echoedParameters: echoed,
    outputs(reference) {
      ev.referenceFn = reference;
      const out: Record<string, { type: string; value: unknown }> = {};
      for (const [name, def] of Object.entries(outputDefs)) {
        if (!isRecord(def)) continue;
        const type = String(def['type'] ?? 'string');
        if (type.toLowerCase().startsWith('secure')) continue;
        out[name] = { type, value: ev.value(def['value'], `outputs.${name}`) };
      }
      return out;
    },
  };
  if (typeof apiProfile === 'string') prepared.apiProfile = apiProfile;
  return prepared;
}

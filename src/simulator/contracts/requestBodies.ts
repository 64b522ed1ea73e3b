// Where the simulator applies the derived contracts: the PUT body of every resource it accepts (device
// local ARM and the Azure side's roles), and each resource of a template deployment (its evaluated body,
// at the resource's own api-version).
import { ArmError } from '../arm/errors.js';
import type { EvaluatedResource } from '../template/evaluator.js';
import { profileApiVersion } from './requestSchemas.js';
import type { BodyCheck, BodyViolation } from './validateBody.js';
import { rejecting, validateBody } from './validateBody.js';

export interface ResourceKind {
  namespace: string;
  /** Type below the namespace, e.g. "virtualMachines/extensions" or "resourceGroups". */
  resourceType: string;
}

/** The resource a request path addresses: …/resourceGroups/{rg} or …/providers/{ns}/{type}/{name}[/{type}/{name}…]. */
export function resourceOfPath(segments: readonly string[]): ResourceKind | undefined {
  const l = segments.map((s) => s.toLowerCase());
  if (l[0] !== 'subscriptions' || l[2] !== 'resourcegroups') return undefined;
  if (l.length === 4) return { namespace: 'Microsoft.Resources', resourceType: 'resourceGroups' };
  if (l[4] !== 'providers' || l.length < 8 || l.length % 2 !== 0) return undefined;
  const types = segments.slice(6).filter((_, i) => i % 2 === 0);
  return { namespace: segments[5] ?? '', resourceType: types.join('/') };
}

/** Template syntax around a resource's body (not part of the resource the provider receives). */
const TEMPLATE_KEYS = new Set(['type', 'apiversion', 'name', 'dependson', 'condition', 'copy', 'comments', 'scope', 'metadata']);

/** The body ARM sends to the provider for a template resource: the evaluated resource without template syntax. */
export function templateResourceBody(r: EvaluatedResource): Record<string, unknown> {
  return Object.fromEntries(Object.entries(r.body).filter(([k]) => !TEMPLATE_KEYS.has(k.toLowerCase())));
}

/** A template resource's api-version: its own, else the one its template's apiProfile assigns. */
export function templateResourceApiVersion(r: EvaluatedResource, apiProfile: string | undefined): string | undefined {
  return r.apiVersion ?? (apiProfile === undefined ? undefined : profileApiVersion(apiProfile, r.type));
}

/** Checks one template resource (evaluated); undefined when no contract describes its type. */
export function checkTemplateResource(r: EvaluatedResource, apiProfile: string | undefined): BodyCheck | undefined {
  const [namespace = '', ...types] = r.type.split('/');
  const apiVersion = templateResourceApiVersion(r, apiProfile);
  if (apiVersion === undefined) return undefined;
  return validateBody(namespace, types.join('/'), apiVersion, templateResourceBody(r));
}

/** The 400 ARM answers for the rejecting violations: the first names the property, details list all. */
function badBody(violations: readonly BodyViolation[]): ArmError | undefined {
  const first = violations[0];
  if (first === undefined) return undefined;
  return new ArmError(
    400,
    first.code,
    first.message,
    first.path,
    violations.length > 1 ? violations.map((v) => ({ code: v.code, message: v.message, target: v.path })) : undefined,
  );
}

/** Throws the ARM 400 for a PUT body that breaks its contract; bodies that are not JSON are left to the handler. */
export function enforcePutBody(method: string, segments: readonly string[], apiVersion: string | null, rawBody: string): void {
  if (method !== 'PUT' || apiVersion === null || rawBody.trim() === '') return;
  const kind = resourceOfPath(segments);
  if (kind === undefined) return;
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    return;
  }
  const check = validateBody(kind.namespace, kind.resourceType, apiVersion, body);
  // A missing top-level location is answered by ARM itself (LocationRequired) before the provider sees the
  // body; the handlers do that. Strict replay still reports it.
  const violations = rejecting(check?.violations ?? []).filter((v) => !(v.kind === 'required' && v.path === 'location'));
  const error = badBody(violations);
  if (error !== undefined) throw error;
}

/** Throws the 400 the provider answers a template resource with (the deployment operation then fails). */
export function enforceTemplateResource(r: EvaluatedResource, apiProfile: string | undefined): void {
  const check = checkTemplateResource(r, apiProfile);
  const error = check === undefined ? undefined : badBody(rejecting(check.violations));
  if (error !== undefined) throw error;
}

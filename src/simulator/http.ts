// Request/response shapes shared by the handlers, and ARM-style helpers for bodies and LRO answers.
import type { IncomingHttpHeaders } from 'node:http';
import { ArmError, badRequest } from './arm/errors.js';
import type { OperationRegistry } from './arm/lro.js';

export interface SimRequest {
  method: string;
  path: string;
  /** Path segments, URL-decoded, original case. */
  segments: string[];
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** https://127.0.0.1:port of the server that received the request. */
  origin: string;
  requestId: string;
  apiVersion: string | null;
}

export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export const ok = (body: unknown, status = 200): SimResponse => ({ status, body });

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON object body of a PUT/POST; ARM-shaped 400 when missing or malformed. */
export function jsonObject(req: SimRequest): Record<string, unknown> {
  if (req.rawBody.trim() === '') throw badRequest('InvalidRequestContent', 'The request content was invalid: a JSON body is required.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.rawBody);
  } catch (e) {
    throw badRequest('InvalidRequestContent', `The request content was invalid and could not be deserialized: ${(e as Error).message}`);
  }
  if (!isRecord(parsed)) throw badRequest('InvalidRequestContent', 'The request content was invalid: a JSON object is expected.');
  return parsed;
}

export function tagsOf(body: Record<string, unknown>): Record<string, string> {
  const tags = body['tags'];
  if (tags === undefined || tags === null) return {};
  if (!isRecord(tags)) throw badRequest('InvalidRequestContent', "The 'tags' property must be an object.", 'tags');
  return Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, String(v)]));
}

export function checkLocation(body: Record<string, unknown>, expected: string, optional = false): string {
  const location = body['location'];
  if (location === undefined && optional) return expected;
  if (typeof location !== 'string' || location === '') throw badRequest('LocationRequired', 'The location property is required for this definition.', 'location');
  if (location.replace(/\s/g, '').toLowerCase() !== expected) {
    throw badRequest('LocationNotAvailableForResourceType', `The provided location '${location}' is not available for resource type. List of available regions is '${expected}'.`, 'location');
  }
  return expected;
}

export interface LroTarget {
  operations: OperationRegistry;
  retryAfterSeconds: number;
  origin: string;
  subscriptionId: string;
  namespace: string;
  apiVersion: string;
  /** After an operation of this target settles: checks the invariants of the state it may have changed. */
  settled?: () => void;
}

function operationUrl(t: LroTarget, kind: 'operations' | 'operationResults', id: string): string {
  return `${t.origin}/subscriptions/${t.subscriptionId}/providers/${t.namespace}/locations/dbelocal/${kind}/${id}?api-version=${t.apiVersion}`;
}

/** Long-running PUT: 200/201 with the resource, absolute Azure-AsyncOperation and Retry-After. */
export function asyncAccepted(t: LroTarget, status: 200 | 201, body: unknown, job: Promise<unknown>): SimResponse {
  const op = t.operations.start('async', 'PUT', job, t.settled);
  return {
    status,
    headers: { 'Azure-AsyncOperation': operationUrl(t, 'operations', op.id), 'Retry-After': String(t.retryAfterSeconds) },
    body,
  };
}

/** DELETE / POST action: 202 + Location (answers 202 while running, then 200 or 204). */
export function locationAccepted(t: LroTarget, method: 'DELETE' | 'POST', job: Promise<unknown>): SimResponse {
  const op = t.operations.start('location', method, job, t.settled);
  return {
    status: 202,
    headers: { Location: operationUrl(t, 'operationResults', op.id), 'Retry-After': String(t.retryAfterSeconds) },
  };
}

/** GET of an operation status URL or Location URL. */
export function operationAnswer(operations: OperationRegistry, kind: string, id: string, retryAfterSeconds: number): SimResponse {
  const op = operations.get(id);
  if (op === undefined) throw new ArmError(404, 'OperationNotFound', `The operation '${id}' was not found.`);
  if (kind === 'operations') {
    const headers: Record<string, string> = op.status === 'InProgress' ? { 'Retry-After': String(retryAfterSeconds) } : {};
    return {
      status: 200,
      headers,
      body: {
      name: op.id,
      status: op.status,
      startTime: op.startTime,
      ...(op.endTime !== undefined ? { endTime: op.endTime } : {}),
      ...(op.error !== undefined ? { error: op.error } : {}),
      },
    };
  }
  if (op.status === 'InProgress') return { status: 202, headers: { 'Retry-After': String(retryAfterSeconds) } };
  if (op.status === 'Failed') {
    throw new ArmError(op.errorStatus ?? 409, op.error?.code ?? 'OperationFailed', op.error?.message ?? 'The operation failed.', undefined, op.error?.details);
  }
  return op.method === 'DELETE' ? { status: 204 } : { status: 200 };
}

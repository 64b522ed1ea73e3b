// Requests the kube-apiserver served, by resource and verb, from its own apiserver_request_total counter.
import { request } from 'node:https';
import { parsePrometheusText } from '../../src/observability/prometheusText.ts';

/** `resource[/subresource] VERB` → requests; refused ones (HTTP 4xx/5xx, e.g. a 409 conflict) as `… VERB:code`. */
export type RequestCounts = Map<string, number>;

export interface ApiserverAccess {
  server: string;
  token: string;
  caPem: string;
}

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'DELETECOLLECTION', 'APPLY', 'CREATE', 'UPDATE']);

export const requestKey = (resource: string, verb: string, subresource = ''): string => `${resource}${subresource ? `/${subresource}` : ''} ${verb}`;

/** The key without the code of a refused request: `gpuvms/status PUT:409` → `gpuvms/status PUT`. */
export const withoutCode = (key: string): string => key.split(':')[0] ?? key;

export function isWriteKey(key: string): boolean {
  const base = withoutCode(key);
  return WRITE_VERBS.has(base.slice(base.lastIndexOf(' ') + 1));
}

function get(access: ApiserverAccess, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${access.server}${path}`, { ca: access.caPem, headers: { authorization: `Bearer ${access.token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) resolve(body);
        else reject(new Error(`GET ${path}: HTTP ${String(res.statusCode)}: ${body.slice(0, 200)}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Current totals of apiserver_request_total for the resources of interest; the codes of refused requests apart. */
export async function scrapeRequestCounts(access: ApiserverAccess, resources: readonly string[]): Promise<RequestCounts> {
  const wanted = new Set(resources);
  const counts: RequestCounts = new Map();
  for (const s of parsePrometheusText(await get(access, '/metrics'))) {
    if (s.name !== 'apiserver_request_total' || !wanted.has(s.labels.resource ?? '')) continue;
    const code = Number(s.labels.code);
    const key = `${requestKey(s.labels.resource ?? '', s.labels.verb ?? '', s.labels.subresource)}${code >= 400 ? `:${code}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + s.value);
  }
  return counts;
}

/** after − before − excluded (requests the bench itself made), keeping only non-zero entries. */
export function diffCounts(after: RequestCounts, before: RequestCounts, excluded: RequestCounts = new Map()): RequestCounts {
  const out: RequestCounts = new Map();
  for (const [key, value] of after) {
    const delta = value - (before.get(key) ?? 0) - (excluded.get(key) ?? 0);
    if (delta !== 0) out.set(key, delta);
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

export function total(counts: RequestCounts, filter: (key: string) => boolean = () => true): number {
  let sum = 0;
  for (const [key, value] of counts) if (filter(key)) sum += value;
  return sum;
}

/** Counts requests a client makes, keyed like the apiserver's metric, so they can be subtracted. */
export class RequestTally {
  readonly counts: RequestCounts = new Map();
  add(resource: string, verb: string, n = 1, subresource = ''): void {
    const key = requestKey(resource, verb, subresource);
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
}

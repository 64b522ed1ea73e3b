// Admin API outside the ARM paths (/_simulator/...): audit, violations, live state, faults, timings.
import type { FaultRule, TimingConfig } from './config.js';
import type { SimRequest, SimResponse } from './http.js';
import { isRecord } from './http.js';
import type { Simulator } from './server.js';

export const ADMIN_PREFIX = '_simulator';

function parse(req: SimRequest): unknown {
  if (req.rawBody.trim() === '') return undefined;
  return JSON.parse(req.rawBody) as unknown;
}

export function handleAdmin(sim: Simulator, req: SimRequest): SimResponse {
  const what = req.segments[1]?.toLowerCase() ?? '';
  const m = req.method;
  try {
    switch (what) {
      case 'audit': {
        const since = req.query.get('since');
        const device = req.query.get('device');
        return { status: 200, body: { value: sim.audit({ ...(since !== null ? { since: Number(since) } : {}), ...(device !== null ? { device } : {}) }) } };
      }
      case 'violations':
        return { status: 200, body: { value: sim.violations() } };
      case 'state':
        return { status: 200, body: sim.state() };
      case 'endpoints':
        return { status: 200, body: sim.endpoints() };
      case 'faults': {
        if (m === 'GET') return { status: 200, body: { value: sim.faults.list() } };
        if (m === 'DELETE') {
          sim.faults.clear();
          return { status: 204 };
        }
        const body = parse(req);
        if (m === 'POST' && isRecord(body)) {
          sim.faults.add(body as unknown as FaultRule);
          return { status: 201, body: { value: sim.faults.list() } };
        }
        if (m === 'PUT' && isRecord(body) && Array.isArray(body['rules'])) {
          sim.faults.set(body['rules'] as FaultRule[], typeof body['seed'] === 'number' ? body['seed'] : undefined);
          return { status: 200, body: { value: sim.faults.list() } };
        }
        return { status: 400, body: { error: { code: 'InvalidRequestContent', message: 'POST a fault rule, or PUT {"rules": [...], "seed": n}.' } } };
      }
      case 'timings': {
        if (m === 'GET') return { status: 200, body: sim.timings() };
        const body = parse(req);
        if ((m === 'PUT' || m === 'PATCH') && isRecord(body)) return { status: 200, body: sim.setTimings(body as Partial<TimingConfig>) };
        return { status: 400, body: { error: { code: 'InvalidRequestContent', message: 'PATCH a partial timings object.' } } };
      }
      default:
        return { status: 404, body: { error: { code: 'NotFound', message: 'Admin paths: audit, violations, state, endpoints, faults, timings.' } } };
    }
  } catch (e) {
    return { status: 400, body: { error: { code: 'InvalidRequestContent', message: (e as Error).message } } };
  }
}

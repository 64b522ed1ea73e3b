// Replays recorded request bodies (the audit with `auditBodies`) against the derived contracts in strict
// mode: every violation, readOnly properties included. A deployment is checked as a body and then resource
// by resource, after evaluating its template the way the simulator does (secure values arrive redacted,
// as strings, which keeps the evaluation's types).
import type { AuditEntry } from '../audit.js';
import { isRecord } from '../http.js';
import { prepareTemplate } from '../template/evaluator.js';
import { checkTemplateResource, resourceOfPath } from './requestBodies.js';
import type { BodyCheck } from './validateBody.js';
import { validateBody } from './validateBody.js';

export interface ReplayFinding {
  /** "PUT /subscriptions/…" or "PUT /subscriptions/… resources[Microsoft.Compute/virtualMachines vm1]". */
  request: string;
  check: BodyCheck;
}

export interface ReplayResult {
  /** Requests with a body that a contract describes. */
  checked: number;
  /** Template resources checked inside deployments. */
  templateResources: number;
  /** Every check (with or without violations). */
  findings: ReplayFinding[];
  /** Requests that carried a body no contract describes ("METHOD path"). */
  unchecked: string[];
}

/** Strict replay of every audited PUT with a body. */
export function replayAudit(entries: readonly AuditEntry[]): ReplayResult {
  const result: ReplayResult = { checked: 0, templateResources: 0, findings: [], unchecked: [] };
  for (const e of entries) {
    if (e.body === undefined) continue;
    const segments = e.path.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
    const kind = e.method === 'PUT' ? resourceOfPath(segments) : undefined;
    const request = `${e.method} ${e.path}?api-version=${e.apiVersion ?? ''}`;
    const check = kind === undefined || e.apiVersion === null ? undefined : validateBody(kind.namespace, kind.resourceType, e.apiVersion, e.body);
    if (kind === undefined || check === undefined) {
      result.unchecked.push(`${e.method} ${e.path}`);
      continue;
    }
    result.checked++;
    result.findings.push({ request, check });
    if (kind.resourceType.toLowerCase() !== 'deployments' || !isRecord(e.body) || !isRecord(e.body['properties'])) continue;
    const props = e.body['properties'];
    const prepared = prepareTemplate(props['template'], props['parameters'], {
      subscriptionId: segments[1] ?? '',
      tenantId: '',
      resourceGroup: { name: segments[3] ?? '', location: 'dbelocal' },
      deploymentName: segments.at(-1) ?? '',
    });
    for (const r of prepared.resources) {
      const inner = checkTemplateResource(r, prepared.apiProfile);
      if (inner === undefined) continue;
      result.templateResources++;
      result.findings.push({ request: `${request} resources[${r.type} ${r.name}]`, check: inner });
    }
  }
  return result;
}

/** One line per violation: "<request>: <path> <kind> (<message>)". */
export function formatFindings(findings: readonly ReplayFinding[]): string[] {
  return findings.flatMap((f) => f.check.violations.map((v) => `${f.request} [${f.check.namespace} ${f.check.apiVersion}${f.check.exact ? '' : ' (nearest)'}]: ${v.path} ${v.kind} — ${v.message}`));
}

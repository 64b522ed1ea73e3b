// The JSON report: the run's findings with every secret removed. Known secret values (passwords, client secrets,
// tokens) are replaced wherever they appear; so are secret-looking keys, bearer tokens, JWTs and SAS signatures.
import type { DoctorRun } from './doctor.js';

export const REDACTED = '[redacted]';
const SECRET_KEY = /^(password|clientsecret|client_secret|secret|token|access_?token|refresh_?token|id_?token|authorization|sig)$/i;

/** Removes secrets from free text. `known` are exact secret values to replace. */
export function redactText(text: string, known: readonly string[]): string {
  let out = text;
  for (const secret of [...known].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(secret).join(REDACTED);
  return out
    .replace(/(authorization["']?\s*[:=]\s*["']?)(bearer|basic)\s+[^\s"',;]+/gi, `$1$2 ${REDACTED}`)
    .replace(/\bBearer\s+[A-Za-z0-9\-._~+/]+=*/g, `Bearer ${REDACTED}`)
    .replace(/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, REDACTED)
    .replace(/([?&](sig|signature|se|sv|st|sp|skoid|sktid|client_secret|password|code|access_token)=)[^&\s"']*/gi, `$1${REDACTED}`);
}

/** A deep copy with secret keys dropped to REDACTED and every string redacted. */
export function redactValue(value: unknown, known: readonly string[]): unknown {
  if (typeof value === 'string') return redactText(value, known);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, known));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? REDACTED : redactValue(v, known)]));
  }
  return value;
}

export interface DoctorReport {
  tool: 'gpuvm-controller doctor';
  source: string;
  target: { armEndpoint: string; loginEndpoint: string; subscriptionId: string; resourceGroup: string; azureResourceId?: string };
  startedAt: string;
  finishedAt: string;
  result: 'PASS' | 'WARN' | 'FAIL';
  checks: DoctorRun['results'];
}

export function buildReport(run: DoctorRun, target: DoctorReport['target'], secrets: readonly string[]): DoctorReport {
  const result = run.failed ? 'FAIL' : run.results.some((r) => r.status === 'WARN') ? 'WARN' : 'PASS';
  const report: DoctorReport = { tool: 'gpuvm-controller doctor', source: run.source, target, startedAt: run.startedAt, finishedAt: run.finishedAt, result, checks: run.results };
  return redactValue(report, secrets) as DoctorReport;
}

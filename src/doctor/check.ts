// What every doctor check returns, and the deadline each one runs under.

export type CheckStatus = 'PASS' | 'WARN' | 'FAIL' | 'SKIP';

export interface CheckResult {
  /** Stable id, e.g. "tls.arm", "apiVersions". */
  id: string;
  /** Short name for the table. */
  title: string;
  status: CheckStatus;
  /** What was found, in one or two sentences. */
  summary: string;
  /** What to do about a WARN or FAIL, in plain words. */
  fix?: string;
  /** Structured findings for the JSON report. */
  details?: Record<string, unknown>;
}

export const pass = (id: string, title: string, summary: string, details?: Record<string, unknown>): CheckResult => ({ id, title, status: 'PASS', summary, ...(details !== undefined ? { details } : {}) });
export const warn = (id: string, title: string, summary: string, fix: string, details?: Record<string, unknown>): CheckResult => ({ id, title, status: 'WARN', summary, fix, ...(details !== undefined ? { details } : {}) });
export const fail = (id: string, title: string, summary: string, fix: string, details?: Record<string, unknown>): CheckResult => ({ id, title, status: 'FAIL', summary, fix, ...(details !== undefined ? { details } : {}) });
export const skip = (id: string, title: string, summary: string): CheckResult => ({ id, title, status: 'SKIP', summary });

export class CheckTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = 'CheckTimeoutError';
  }
}

/** Resolves like `work`, or rejects with CheckTimeoutError after `ms` (the work itself carries request timeouts too). */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeoutError(what, ms)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

// Shared by the crash-safety and leader-failover tests: the run's seed, the controller's JSON log lines, and the
// simulator audit read as "which deployments were PUT, how often, and for which GpuVm".
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import type { AuditEntry, Simulator } from '../../../src/simulator/index.js';
import { seededRandom, type Random } from '../../../src/simulator/random.js';
import { isArmRequest, requestStart } from './faultAudit.js';

export const SEED_ENV = 'GPUVM_RELIABILITY_SEED';

/** The seed of the test's random choices: `GPUVM_RELIABILITY_SEED` when set, else the test's fixed default. */
export function reliabilitySeed(defaultSeed: number): number {
  const raw = process.env[SEED_ENV];
  if (raw === undefined || raw === '') return defaultSeed;
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed)) throw new Error(`${SEED_ENV}=${raw}: expected an integer`);
  return seed;
}

export interface SeededRandom {
  readonly seed: number;
  /** A uniform number in [lo, hi). */
  between(lo: number, hi: number): number;
}

export function seeded(seed: number): SeededRandom {
  const random: Random = seededRandom(seed);
  return { seed, between: (lo, hi) => lo + (hi - lo) * random() };
}

/** One JSON line of the controller's log (pino), with its time in epoch milliseconds. */
export interface LogLine {
  level: string;
  time: number;
  msg: string;
  key?: string;
  action?: string;
  controller?: string;
  leader?: string;
  reason?: string;
}

export function parseLogLines(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    // Node's own warnings and a line cut short by SIGKILL are not JSON.
    if (!raw.startsWith('{') || !raw.endsWith('}')) continue;
    const line = JSON.parse(raw) as Omit<LogLine, 'time'> & { time: string };
    lines.push({ ...line, time: Date.parse(line.time) });
  }
  return lines;
}

/** The log file's bytes [from, to) as text (what one controller lifetime appended); `to` defaults to the end. */
export function readLogRange(file: string, from: number, to?: number): string {
  if (!existsSync(file)) return '';
  const end = Math.min(to ?? Infinity, statSync(file).size);
  if (end <= from) return '';
  const buffer = Buffer.alloc(end - from);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, from);
  } finally {
    closeSync(fd);
  }
  return buffer.toString('utf8');
}

/** Waits until the log, from byte `from` on, has a line with this message; resolves with its time (epoch ms). */
export async function waitForLogMessage(file: string, from: number, msg: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const marker = `"msg":${JSON.stringify(msg)}`;
  for (;;) {
    const text = readLogRange(file, from);
    if (text.includes(marker)) {
      const line = parseLogLines(text).find((l) => l.msg === msg);
      if (line !== undefined) return line.time;
    }
    if (Date.now() >= deadline) throw new Error(`no "${msg}" in ${file} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

export const logSize = (file: string): number => (existsSync(file) ? statSync(file).size : 0);

/** Log messages only a controller that runs its reconcilers writes (a standby must never write them). */
export const RECONCILER_MESSAGES: ReadonlySet<string> = new Set([
  'controllers started',
  'reconciled',
  'reconciled; requeued',
  'reconcile failed',
  'acting on device',
  'status written',
]);

const WRITE_METHODS = new Set(['PUT', 'POST', 'DELETE', 'PATCH']);

/** An ARM write (not a read, not the token endpoint). */
export function isArmWrite(entry: AuditEntry): boolean {
  return isArmRequest(entry) && WRITE_METHODS.has(entry.method);
}

export const accepted = (entry: AuditEntry): boolean => entry.status >= 200 && entry.status < 300;

const DEPLOYMENT_PUT = /\/deployments\/([^/]+)$/i;

/** Every PUT of a template deployment in the audit, by deployment name, oldest first. */
export function deploymentPuts(audit: readonly AuditEntry[]): Map<string, AuditEntry[]> {
  const byName = new Map<string, AuditEntry[]>();
  for (const entry of audit) {
    const name = entry.method === 'PUT' ? DEPLOYMENT_PUT.exec(entry.path)?.[1] : undefined;
    if (name === undefined) continue;
    byName.set(name, [...(byName.get(name) ?? []), entry]);
  }
  for (const puts of byName.values()) puts.sort((a, b) => requestStart(a) - requestStart(b));
  return byName;
}

/**
 * Everything that contradicts "one CreateVM and one GPU-driver deployment per GpuVm, each run once": a deployment
 * name that maps to no GpuVm (the names are `gpuvm-vm-<uid>` and `gpuvm-gpu-<uid>`), a GpuVm missing either, a
 * name the device accepted more than once (a second accepted PUT re-runs the template), and a PUT after the
 * accepted one. PUTs before it that never got through (refused, or cut off by a crash) are retries of the same
 * name and allowed. `uids` maps GpuVm UID to name.
 */
export function deploymentProblems(puts: ReadonlyMap<string, readonly AuditEntry[]>, uids: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const [name, entries] of puts) {
    const match = /^gpuvm-(vm|gpu)-(.+)$/.exec(name);
    const owner = match?.[2] !== undefined ? uids.get(match[2]) : undefined;
    if (owner === undefined) problems.push(`deployment ${name} belongs to no GpuVm`);
    const runs = entries.filter(accepted);
    const label = `deployment ${name}${owner !== undefined ? ` (GpuVm ${owner})` : ''}`;
    if (runs.length !== 1) problems.push(`${label} accepted ${runs.length} times`);
    // Once the device accepted a PUT, the deployment exists and is found by name: any later PUT of it (even a
    // refused one) came from a writer that did not look first, or from a second writer.
    const first = runs[0];
    const again = first === undefined ? [] : entries.filter((e) => e !== first && requestStart(e) >= requestStart(first));
    if (again.length > 0) problems.push(`${label} PUT ${again.length} more time(s) after the accepted PUT (${again.map((e) => e.status).join(', ')})`);
  }
  for (const [uid, name] of uids) {
    for (const kind of ['vm', 'gpu']) {
      if (!puts.has(`gpuvm-${kind}-${uid}`)) problems.push(`GpuVm ${name}: no gpuvm-${kind}- deployment`);
    }
  }
  return problems;
}

/** Deployment PUTs beyond the first, per name (retries of a deterministic name). */
export function deploymentRetries(puts: ReadonlyMap<string, readonly AuditEntry[]>): number {
  return [...puts.values()].reduce((sum, entries) => sum + entries.length - 1, 0);
}

/** Template deployments running on these simulator devices now (work a kill would interrupt). */
export function runningDeployments(sim: Simulator, devices: readonly string[]): number {
  return devices.reduce((n, d) => n + sim.deviceState(d).deployments.filter((x) => x.provisioningState === 'Running' || x.provisioningState === 'Accepted').length, 0);
}

export function countBy(values: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a, x], [b, y]) => y - x || a.localeCompare(b)));
}

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return { min: NaN, median: NaN, max: NaN };
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
  return { min: sorted[0] ?? NaN, median, max: sorted.at(-1) ?? NaN };
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

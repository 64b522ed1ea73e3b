// The last recorded bench numbers (bench/baseline.json): each run prints its ratio to them so regressions show.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export type Numbers = Record<string, number>;
export type Baseline = Record<string, { recordedAt: string; command: string; numbers: Numbers }>;

export function readBaseline(path: string): Baseline {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Baseline) : {};
}

export function writeBaseline(path: string, baseline: Baseline): void {
  writeFileSync(path, `${JSON.stringify(baseline, null, 2)}\n`);
}

/** "x1.07" style ratio of a number to its baseline, or "new" when there is none. */
export function ratioToBaseline(value: number, base: number | undefined): string {
  if (base === undefined) return 'new';
  if (base === 0) return value === 0 ? 'x1.00' : 'was 0';
  return `x${(value / base).toFixed(2)}`;
}

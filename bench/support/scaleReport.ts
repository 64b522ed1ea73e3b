// Printing bench results: aligned tables of counts, and the ratio of each headline number to the baseline.
import type { Numbers } from './baseline.ts';
import { ratioToBaseline } from './baseline.ts';

export function heading(text: string): void {
  console.log(`\n== ${text}`);
}

export function line(label: string, value: string): void {
  console.log(`  ${label.padEnd(46)} ${value}`);
}

export const fixed = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** One row per key: total and per-unit value (e.g. per GpuVm). */
export function countsTable(title: string, counts: ReadonlyMap<string, number>, per: number, unit: string): void {
  console.log(`  ${title}`);
  let sum = 0;
  for (const [key, value] of counts) {
    sum += value;
    console.log(`    ${key.padEnd(44)} ${String(value).padStart(8)}   ${fixed(value / per, 3).padStart(8)} per ${unit}`);
  }
  console.log(`    ${'total'.padEnd(44)} ${String(sum).padStart(8)}   ${fixed(sum / per, 3).padStart(8)} per ${unit}`);
}

export function baselineTable(scenario: string, numbers: Numbers, baseline: Numbers | undefined): void {
  heading(`${scenario}: headline numbers (ratio to bench/baseline.json)`);
  for (const [key, value] of Object.entries(numbers)) line(key, `${fixed(value, value >= 100 ? 0 : 3).padStart(10)}   ${ratioToBaseline(value, baseline?.[key])}`);
}

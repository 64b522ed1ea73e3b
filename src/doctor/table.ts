// The human view of a run: one row per check (result, name, what was found), the fix under each WARN/FAIL.
import type { CheckResult } from './check.js';

const WIDTH = 100;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.length > 0 ? lines : [''];
}

export function renderTable(results: readonly CheckResult[]): string {
  const nameWidth = Math.max('CHECK'.length, ...results.map((r) => r.title.length));
  const resultWidth = 6;
  const textWidth = Math.max(40, WIDTH - nameWidth - resultWidth - 4);
  const pad = (s: string, n: number): string => s.padEnd(n);
  const out = [`${pad('RESULT', resultWidth)}  ${pad('CHECK', nameWidth)}  DETAIL`];
  for (const r of results) {
    const lines = wrap(r.summary, textWidth);
    out.push(`${pad(r.status, resultWidth)}  ${pad(r.title, nameWidth)}  ${lines[0] ?? ''}`);
    for (const l of lines.slice(1)) out.push(`${pad('', resultWidth)}  ${pad('', nameWidth)}  ${l}`);
    if (r.fix !== undefined && (r.status === 'WARN' || r.status === 'FAIL')) {
      for (const [i, l] of wrap(`fix: ${r.fix}`, textWidth).entries()) out.push(`${pad('', resultWidth)}  ${pad('', nameWidth)}  ${i === 0 ? '' : '     '}${l}`);
    }
  }
  const count = (s: string): number => results.filter((r) => r.status === s).length;
  out.push('', `${count('PASS')} passed, ${count('WARN')} warning(s), ${count('FAIL')} failed, ${count('SKIP')} skipped`);
  return `${out.join('\n')}\n`;
}

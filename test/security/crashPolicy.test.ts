// An error that escapes every handler ends the process deliberately: one fatal log line, exit code 70.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CRASH_EXIT_CODE } from '../../src/crashPolicy.js';

const policy = pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'crashPolicy.js')).href;

function runWith(body: string): { status: number | null; stderr: string } {
  const script = `import { installCrashPolicy } from ${JSON.stringify(policy)}; installCrashPolicy('probe'); ${body}`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stderr: result.stderr };
}

test.each([
  ['an exception thrown from a timer', `setTimeout(() => { throw new TypeError('Invalid URL'); }, 1);`],
  ['a rejected promise nobody awaits', `Promise.reject(new Error('lost')); setTimeout(() => undefined, 1000);`],
  ['a thrown non-error', `setTimeout(() => { throw 42; }, 1);`],
])('%s ends the process with exit code 70 and one fatal line', (_what, body) => {
  const { status, stderr } = runWith(body);
  expect(status).toBe(CRASH_EXIT_CODE);
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ level: 'fatal' });
});

test('a huge error message is cut to 2 KiB in the log line', () => {
  const { status, stderr } = runWith(`setTimeout(() => { throw new Error('x'.repeat(100000)); }, 1);`);
  expect(status).toBe(CRASH_EXIT_CODE);
  expect(Buffer.byteLength(stderr)).toBeLessThan(2600);
});

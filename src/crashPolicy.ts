// What the process does when an error escapes every handler: one line on stderr naming what happened, then exit
// with EX_SOFTWARE (70, sysexits.h) so the kubelet restarts the container and the restart is told apart from a
// normal failure (exit 1). Continuing after an uncaught exception would leave state nobody can reason about, so
// the process never tries to.
export const CRASH_EXIT_CODE = 70;

const MAX_MESSAGE_BYTES = 2048;

function describe(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : `non-error value of type ${typeof err}`;
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= MAX_MESSAGE_BYTES ? text : `${bytes.subarray(0, MAX_MESSAGE_BYTES).toString('utf8').replace(/\uFFFD$/, '')}…`;
}

export function installCrashPolicy(processName: string, write: (line: string) => void = (l) => process.stderr.write(l)): void {
  const crash = (kind: string) => (err: unknown) => {
    write(`${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), msg: `${processName}: ${kind}; exiting with code ${CRASH_EXIT_CODE}`, err: describe(err) })}\n`);
    process.exit(CRASH_EXIT_CODE);
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled promise rejection'));
}

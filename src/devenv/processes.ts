import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A long-running child process whose stdout and stderr go to a log file (never through this process). */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /** The exit status, or undefined while the process runs. */
  exitStatus(): ProcessExit | undefined;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. Safe to call repeatedly. */
  stop(graceMs: number): Promise<ProcessExit>;
}

export interface SpawnManagedOptions {
  args: readonly string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const running = new Set<ManagedProcess>();
let exitHookInstalled = false;

// Last line of defence when this process ends without stopping its children (process.exit, an uncaught
// exception): 'exit' handlers must be synchronous, so the children get SIGKILL.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) killQuietly(child.pid, 'SIGKILL');
  });
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

let pdeathsigSupport: boolean | undefined;

/**
 * Whether util-linux `setpriv --pdeathsig` works here. Children started through it get SIGKILL from the
 * kernel when this process dies, however it dies (including SIGKILL), so they can never outlive it.
 * (The kernel ties the signal to the spawning thread: spawn from the main thread, not a worker_thread that
 * may exit early. libuv spawns from the thread running the event loop.)
 */
export function parentDeathSignalSupported(): boolean {
  if (pdeathsigSupport === undefined) {
    const probe = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore', timeout: 5000 });
    pdeathsigSupport = probe.status === 0;
  }
  return pdeathsigSupport;
}

/** Starts `command` with its output appended to `logFile`; it is killed if this process dies. */
export async function spawnManaged(name: string, command: string, options: SpawnManagedOptions): Promise<ManagedProcess> {
  installExitHook();
  const [file, args] = parentDeathSignalSupported()
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...options.args]]
    : [command, [...options.args]];
  const logFd = openSync(options.logFile, 'a');
  let child;
  try {
    child = spawn(file, args, {
      stdio: ['ignore', logFd, logFd],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
  } finally {
    closeSync(logFd);
  }
  let status: ProcessExit | undefined;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal };
      resolve(status);
    });
  });
  const pid = child.pid;
  if (pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`cannot start ${name} (${command}): ${error.message}`);
  }
  child.on('error', () => undefined);

  let stopping: Promise<ProcessExit> | undefined;
  const managed: ManagedProcess = {
    name,
    pid,
    logFile: options.logFile,
    exited,
    exitStatus: () => status,
    stop(graceMs) {
      stopping ??= (async () => {
        if (status) return status;
        killQuietly(pid, 'SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), graceMs);
        });
        const first = await Promise.race([exited, timedOut]);
        clearTimeout(timer);
        if (first === 'timeout') killQuietly(pid, 'SIGKILL');
        return exited;
      })();
      return stopping;
    },
  };
  running.add(managed);
  void exited.then(() => running.delete(managed));
  return managed;
}

/** The last `lines` lines of a log file (at most the last 64 KiB), or a note when it cannot be read. */
export function tailFile(path: string, lines = 40): string {
  try {
    if (!existsSync(path)) return `(no log at ${path})`;
    const size = statSync(path).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, buffer, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    return buffer.toString('utf8').split('\n').slice(-lines - 1).join('\n').trimEnd();
  } catch (error) {
    return `(cannot read ${path}: ${(error as Error).message})`;
  }
}

/** Whether `pid` is alive and its command line contains `marker` (guards against reused pids). */
export function processMatches(pid: number, marker: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(marker);
  } catch {
    return false;
  }
}

/** Whether a process is running: a zombie (killed, not yet reaped by its parent) counts as dead. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

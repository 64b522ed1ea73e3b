// CPU time and memory of a process from /proc (Linux): what a controller process cost during a scenario.
import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

export interface ProcessUsage {
  /** User + system CPU seconds since the process started. */
  cpuSeconds: number;
  rssBytes: number;
  /** High-water mark of the resident set (VmHWM). */
  peakRssBytes: number;
}

/** The usage of a live process, or undefined once it is gone. */
export function processUsage(pid: number): ProcessUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at state; utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / USER_HZ;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { cpuSeconds, rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Samples a process until stopped so its last usage survives a SIGKILL (a dead process has no /proc entry).
 * Every `intervalMs` is enough: CPU time only grows, and VmHWM is kept by the kernel.
 */
export class UsageSampler {
  private last: ProcessUsage | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, intervalMs = 250) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): ProcessUsage | undefined {
    this.last = processUsage(this.pid) ?? this.last;
    return this.last;
  }

  stop(): ProcessUsage | undefined {
    clearInterval(this.timer);
    return this.sample();
  }
}

// Checks on the simulator's audit log shared by the ARM fault tests (test/e2e/armFaults.test.ts and the reliability suite).
import type { AuditEntry } from '../../../src/simulator/index.js';

/** When the simulator received a request: audit times are when it answered, durationMs before that. */
export function requestStart(entry: AuditEntry): number {
  return Date.parse(entry.time) - entry.durationMs;
}

/** An ARM request, as opposed to the device's token endpoint and identity discovery (which no Retry-After governs). */
export function isArmRequest(entry: AuditEntry): boolean {
  return entry.operation !== 'token' && !entry.operation.startsWith('identity') && entry.operation !== 'admin';
}

export interface RetryAfterCheckOptions {
  /**
   * Requests received this soon after the throttling answer was sent were already on their way and could not
   * have known about it. Default 50 ms.
   */
  inFlightMs?: number;
  /** Tolerance at the end of the Retry-After window (clock resolution of the audit). Default 50 ms. */
  slackMs?: number;
  /**
   * Further time a request whose recorded start is `start` may have been in flight when the throttling answer was
   * sent at `answered`: event-loop stalls of the simulator (the handler started late) or of the client (it sent
   * before reading the answer) in that window. Default none.
   */
  inFlightAllowance?: (answered: number, start: number) => number;
}

/**
 * ARM throttles per subscription, and each device is one: after a device answered with a Retry-After (429, or
 * 503 with the header), no ARM request to that device may start before the time is up — not only a retry of the
 * throttled one. Returns one line per request that started too early (empty when none did). `retryAfterMs` says
 * which entries carried a Retry-After and for how long (the audit does not record response headers). Entries of
 * the Azure side (device "azure") are left out: they are throttled as a different subscription.
 */
export function requestsBeforeRetryAfter(
  audit: readonly AuditEntry[],
  retryAfterMs: (entry: AuditEntry) => number | undefined,
  options: RetryAfterCheckOptions = {},
): string[] {
  const { inFlightMs = 50, slackMs = 50, inFlightAllowance = () => 0 } = options;
  const byDevice = new Map<string, AuditEntry[]>();
  for (const entry of audit) {
    if (entry.device === 'azure' || !isArmRequest(entry)) continue;
    const list = byDevice.get(entry.device) ?? [];
    list.push(entry);
    byDevice.set(entry.device, list);
  }
  const early: string[] = [];
  for (const entries of byDevice.values()) {
    for (const throttled of entries) {
      const wait = retryAfterMs(throttled);
      if (wait === undefined || wait <= 0) continue;
      const answered = Date.parse(throttled.time);
      for (const entry of entries) {
        const start = requestStart(entry);
        const since = start - answered;
        if (since <= inFlightMs || since >= wait - slackMs) continue;
        const allowance = inFlightAllowance(answered, start);
        if (since > inFlightMs + allowance) {
          early.push(
            `${entry.device}: ${entry.method} ${entry.path} started ${Math.round(since)} ms after a ${throttled.status} ` +
              `(Retry-After ${wait} ms) on ${throttled.method} ${throttled.path}${allowance > 0 ? ` (event-loop stalls ${Math.round(allowance)} ms)` : ''}`,
          );
        }
      }
    }
  }
  return early;
}

/** Stalls of this process's event loop (the in-process simulator's): a request's handler may start that late. */
export class EventLoopStalls {
  private readonly stalls: { from: number; to: number }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tickMs = 10,
    private readonly thresholdMs = 30,
  ) {}

  start(): this {
    let last = Date.now();
    this.timer = setInterval(() => {
      const now = Date.now();
      if (now - last > this.thresholdMs) this.stalls.push({ from: last, to: now });
      last = now;
    }, this.tickMs);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Milliseconds of stalls within [from, to]. */
  within(from: number, to: number): number {
    return this.stalls.reduce((sum, s) => sum + Math.max(0, Math.min(s.to, to) - Math.max(s.from, from)), 0);
  }

  longestMs(): number {
    return this.stalls.reduce((max, s) => Math.max(max, s.to - s.from), 0);
  }
}

/**
 * The controller's event-loop lag over time, from its /metrics (`nodejs_eventloop_lag_max_seconds`, the longest
 * delay since the previous scrape): while its loop is blocked, timers that send requests can run before the
 * response of a throttled request is read.
 */
export class ControllerLag {
  private readonly samples: { from: number; to: number; maxMs: number }[] = [];
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly metricsUrl: string,
    private readonly intervalMs = 250,
  ) {}

  start(): this {
    this.running = true;
    this.loop = (async () => {
      let from = Date.now();
      while (this.running) {
        try {
          const text = await (await fetch(this.metricsUrl, { signal: AbortSignal.timeout(5000) })).text();
          const max = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1];
          const to = Date.now();
          if (max !== undefined) this.samples.push({ from, to, maxMs: Number(max) * 1000 });
          from = to;
        } catch {
          // the next scrape covers this window too
        }
        await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** The longest lag reported for a window overlapping [from, to]. */
  within(from: number, to: number): number {
    return this.samples.filter((s) => s.to >= from && s.from <= to).reduce((max, s) => Math.max(max, s.maxMs), 0);
  }

  longestMs(): number {
    return this.samples.reduce((max, s) => Math.max(max, s.maxMs), 0);
  }
}

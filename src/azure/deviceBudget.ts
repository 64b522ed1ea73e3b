// The controller's ARM request budget per device: a token bucket for reads, one for writes, and the Retry-After
// gate, shared by every SDK client and every worker that talks to the device.
import type { PipelinePolicy, PipelineResponse } from '@azure/core-rest-pipeline';
import { DeviceThrottledError } from './deviceResponseError.js';
import { sendChecked } from './sendCheck.js';
import { ThrottleGate } from './throttleGate.js';
import { TokenBucket, type TokenBucketLimits } from './tokenBucket.js';

export type BudgetKind = 'read' | 'write';
/** Why a request was refused: the budget was spent, or the device asked to wait (429/503 with Retry-After). */
export type BudgetRefusal = 'budget' | 'retry_after';

export interface DeviceBudgetLimits {
  read: TokenBucketLimits;
  write: TokenBucketLimits;
}

/**
 * ARM's published per-subscription limits, and each device is one subscription: "Understand how Azure Resource
 * Manager throttles requests" (learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling,
 * "Regional throttling and token bucket algorithm"): reads 250 tokens refilled at 25/s, writes 200 at 10/s, deletes
 * 200 at 10/s. Deletes are counted with writes here, so the controller stays within both buckets.
 */
export const ARM_SUBSCRIPTION_LIMITS: DeviceBudgetLimits = {
  read: { ratePerSecond: 25, burst: 250 },
  write: { ratePerSecond: 10, burst: 200 },
};

/** GET and HEAD read; every other method (PUT, PATCH, POST, DELETE) changes something and is a write. */
export function budgetKind(method: string): BudgetKind {
  const m = method.toUpperCase();
  return m === 'GET' || m === 'HEAD' ? 'read' : 'write';
}

export interface DeviceBudgetMetrics {
  /** A request refused before it was sent, told to come back in `waitMs`. */
  refused(device: string, kind: BudgetKind, cause: BudgetRefusal, waitMs: number): void;
}

/**
 * One device's budget. Nothing waits here: a request over the budget, or inside a Retry-After, fails at once with
 * DeviceThrottledError carrying when to try again, so the worker moves on and the object is requeued for then.
 */
export class DeviceBudget {
  readonly gate: ThrottleGate;
  private readonly buckets: Record<BudgetKind, TokenBucket>;

  constructor(
    readonly device: string,
    limits: DeviceBudgetLimits,
    now: () => number,
    private readonly metrics?: DeviceBudgetMetrics,
  ) {
    this.gate = new ThrottleGate(now);
    this.buckets = { read: new TokenBucket(limits.read, now), write: new TokenBucket(limits.write, now) };
  }

  /** Takes a token for the request, or throws DeviceThrottledError (the Retry-After first: it costs no token). */
  admit(method: string, origin: string): void {
    const kind = budgetKind(method);
    try {
      this.gate.admit(origin);
    } catch (err) {
      if (err instanceof DeviceThrottledError) this.metrics?.refused(this.device, kind, 'retry_after', err.retryAfterMs);
      throw err;
    }
    const taken = this.buckets[kind].take();
    if (taken.ok) return;
    this.metrics?.refused(this.device, kind, 'budget', taken.retryAfterMs);
    const { ratePerSecond, burst } = this.buckets[kind].limits;
    throw new DeviceThrottledError(
      `${origin}: the controller's ${kind} budget for device ${this.device} is spent (${ratePerSecond}/s, burst ${burst}); next ${kind} in ${(taken.retryAfterMs / 1000).toFixed(1)} s`,
      taken.retryAfterMs,
      'budget',
    );
  }

  /**
   * Asked when an admitted request is about to leave its socket: a Retry-After that came in since it was admitted
   * refuses it there, and the token it took goes back (it never reached the device). The budget is not asked
   * again: the request already holds its token.
   */
  refusalAtSend(method: string, origin: string): DeviceThrottledError | undefined {
    const refused = this.gate.refusal(origin);
    if (refused === undefined) return undefined;
    const kind = budgetKind(method);
    this.buckets[kind].giveBack();
    this.metrics?.refused(this.device, kind, 'retry_after', refused.retryAfterMs);
    return refused;
  }

  /** Closes the gate (and throws) on a 429/503 with Retry-After. */
  observe(response: PipelineResponse, origin: string): void {
    this.gate.observe(response, origin);
  }

  /** Nothing spent and no Retry-After pending: a fresh budget would behave the same. */
  atRest(): boolean {
    return this.gate.remainingMs() === 0 && this.buckets.read.atRest() && this.buckets.write.atRest();
  }
}

export interface DeviceBudgetsOptions {
  limits?: DeviceBudgetLimits;
  now?: () => number;
  metrics?: DeviceBudgetMetrics;
  /** How often budgets at rest are dropped (default 60 s). */
  sweepIntervalMs?: number;
}

/**
 * The budgets of all devices, by device name. They live apart from the SDK clients, so rebuilding or dropping a
 * device's clients forgets neither what it spent nor a Retry-After; a budget at rest is dropped (a new one would
 * be the same), so memory follows the devices being talked to.
 */
export class DeviceBudgets {
  readonly limits: DeviceBudgetLimits;
  private readonly now: () => number;
  private readonly budgets = new Map<string, DeviceBudget>();
  private lastSweep: number;

  constructor(private readonly options: DeviceBudgetsOptions = {}) {
    this.limits = options.limits ?? ARM_SUBSCRIPTION_LIMITS;
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  get(device: string): DeviceBudget {
    this.sweep();
    let budget = this.budgets.get(device);
    if (budget === undefined) {
      budget = new DeviceBudget(device, this.limits, this.now, this.options.metrics);
      this.budgets.set(device, budget);
    }
    return budget;
  }

  /** Budgets held (for tests and sizing). */
  size(): number {
    return this.budgets.size;
  }

  private sweep(): void {
    const now = this.now();
    if (now - this.lastSweep < (this.options.sweepIntervalMs ?? 60_000)) return;
    this.lastSweep = now;
    for (const [device, budget] of this.budgets) if (budget.atRest()) this.budgets.delete(device);
  }

  /**
   * The pipeline policy for a device's SDK clients (position "perRetry", after the SDK's retry policy: every
   * attempt spends a token and meets the gate). The gate is asked again when the attempt is about to leave its
   * socket (sendCheck.ts, on the device's agent): a request admitted before a sibling's 429/503 was read does not
   * go out inside its Retry-After. It looks the budget up on every request, so clients built at different times
   * share the one budget of their device.
   */
  policy(device: string): PipelinePolicy {
    return {
      name: 'gpuvmDeviceBudget',
      sendRequest: async (request, next) => {
        const origin = new URL(request.url).origin;
        this.get(device).admit(request.method, origin);
        const response = await sendChecked(request, next, () => this.get(device).refusalAtSend(request.method, origin));
        this.get(device).observe(response, origin);
        return response;
      },
    };
  }
}

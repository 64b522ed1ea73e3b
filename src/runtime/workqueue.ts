// A work queue with controller-runtime (client-go workqueue) semantics, for string keys:
// - duplicate adds merge (a key waits in the queue at most once);
// - a key being processed is never handed to a second worker: re-adds during processing are remembered and the
//   key is handed out again after done();
// - addAfter() for polling, addRateLimited() for retries: per-key exponential backoff with jitter combined with
//   a global token bucket (the larger delay wins), forget() resets a key's backoff;
// - shutDown() stops handing out work, shutDownWithDrain() also waits until every key in progress is done;
// and with controller-runtime's priority queue semantics (pkg/controller/priorityqueue) on top: every add carries a
// priority (default 'normal'), waiting keys are handed out highest priority first, FIFO within a priority, with a
// bound on how long a lower priority can be passed over (readyKeys.ts). A key's adds merge to the highest of their
// priorities; delayed adds of one key to the earliest time and the highest priority.
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { DEFAULT_MAX_PASS_OVER, higherPriority, ReadyKeys, type Priority } from './readyKeys.js';

export { PRIORITIES, type Priority } from './readyKeys.js';

export interface RateLimiterOptions {
  /** First per-key retry delay (before jitter). Default 1000 ms. */
  baseDelayMs: number;
  /** Cap of the per-key delay. Default 300000 ms (5 min). */
  maxDelayMs: number;
  /** Jitter fraction: a delay d becomes a uniform draw from [d·(1 − jitter), d]. Default 0.1. */
  jitter: number;
  /** Global token bucket shared by all rate-limited adds: refill rate per second. Default 10. */
  qps: number;
  /** Token bucket size. Default 100. */
  burst: number;
}

export const DEFAULT_RATE_LIMITER: Readonly<RateLimiterOptions> = {
  baseDelayMs: 1_000,
  maxDelayMs: 300_000,
  jitter: 0.1,
  qps: 10,
  burst: 100,
};

/** Optional observer of queue activity (the prom-client workqueue metrics hang off this). */
export interface WorkQueueMetrics {
  /** The number of keys waiting to be handed out changed. */
  depth?(depth: number): void;
  /** A key entered the queue (adds merged into a waiting key are not counted), at `priority` (the queue always says). */
  added?(key: string, priority?: Priority): void;
  /** addRateLimited() was called for a key. */
  retried?(key: string): void;
  /** A key was handed out, `ms` after it was added, at `priority` (the queue always says). */
  queueLatency?(ms: number, priority?: Priority): void;
  /** A key was done, `ms` after it was handed out. */
  workDuration?(ms: number): void;
}

export interface WorkQueueOptions {
  /** For logs and metrics. */
  name?: string;
  clock?: Clock;
  /** Source of jitter, values in [0, 1). */
  random?: () => number;
  rateLimiter?: Partial<RateLimiterOptions>;
  metrics?: WorkQueueMetrics;
  /**
   * After this many keys in a row were handed out while a lower-priority key waited, the lower-priority key that
   * waited longest goes next. Default 10; Infinity for strict priority.
   */
  maxPassOver?: number;
}

/** A key handed out by getWithPriority(), with the priority it waited at. */
export interface Handout {
  key: string;
  priority: Priority;
}

interface DelayedEntry {
  key: string;
  at: number;
  seq: number;
}

/** A key that needs processing: when it was added, and the highest priority it was added with. */
interface Pending {
  addedAt: number;
  priority: Priority;
}

/** A token bucket in reservation style (like golang.org/x/time/rate Reserve): tokens may go negative. */
class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Takes one token and returns how long (ms) the caller has to wait for it. */
  reserve(): number {
    if (!(this.qps > 0)) return 0;
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }
}

/** Binary min-heap of delayed adds ordered by due time, then insertion. */
class DelayHeap {
  private readonly items: DelayedEntry[] = [];

  peek(): DelayedEntry | undefined {
    return this.items[0];
  }

  push(entry: DelayedEntry): void {
    this.items.push(entry);
    let i = this.items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): DelayedEntry | undefined {
    const top = this.items[0];
    const last = this.items.pop();
    if (this.items.length > 0 && last) {
      this.items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < this.items.length && this.less(left, smallest)) smallest = left;
        if (right < this.items.length && this.less(right, smallest)) smallest = right;
        if (smallest === i) break;
        this.swap(i, smallest);
        i = smallest;
      }
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }

  private less(i: number, j: number): boolean {
    const a = this.items[i] as DelayedEntry;
    const b = this.items[j] as DelayedEntry;
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private swap(i: number, j: number): void {
    const a = this.items[i] as DelayedEntry;
    this.items[i] = this.items[j] as DelayedEntry;
    this.items[j] = a;
  }
}

export class WorkQueue {
  readonly name: string;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly limits: RateLimiterOptions;
  private readonly backoff: BackoffOptions;
  private readonly bucket: TokenBucket;
  private readonly metrics: WorkQueueMetrics;

  /** Keys waiting to be handed out. */
  private readonly ready: ReadyKeys;
  /** Keys that need processing: waiting in `ready`, or re-added while processing. */
  private readonly dirty = new Map<string, Pending>();
  /** Keys handed out and not yet done. Value: when handed out. */
  private readonly processing = new Map<string, number>();
  private readonly getters: ((handout: Handout | undefined) => void)[] = [];
  private readonly failures = new Map<string, number>();

  /** Delayed adds: due time and priority per key, and a heap by due time with lazily dropped stale entries. */
  private readonly delayedAt = new Map<string, { at: number; priority: Priority }>();
  private readonly heap = new DelayHeap();
  private seq = 0;
  private timer: TimerHandle | undefined;
  private timerAt = Infinity;

  private shuttingDown = false;
  private drainWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions = {}) {
    this.name = options.name ?? 'workqueue';
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.limits = { ...DEFAULT_RATE_LIMITER, ...options.rateLimiter };
    this.backoff = { baseMs: this.limits.baseDelayMs, maxMs: this.limits.maxDelayMs, jitter: this.limits.jitter };
    this.bucket = new TokenBucket(this.limits.qps, this.limits.burst, this.clock);
    this.metrics = options.metrics ?? {};
    this.ready = new ReadyKeys(options.maxPassOver ?? DEFAULT_MAX_PASS_OVER);
  }

  /**
   * Marks `key` as needing processing at `priority`. If it already needs processing, it keeps its place unless
   * `priority` is higher: then it moves to the back of that priority. No effect after shutdown.
   */
  add(key: string, priority: Priority = 'normal'): void {
    if (this.shuttingDown) return;
    const pending = this.dirty.get(key);
    if (pending !== undefined) {
      pending.priority = higherPriority(pending.priority, priority);
      this.ready.raise(key, pending.priority);
      return;
    }
    this.dirty.set(key, { addedAt: this.clock.now(), priority });
    this.metrics.added?.(key, priority);
    if (this.processing.has(key)) return; // handed out again by done()
    this.enqueue(key, priority);
  }

  /**
   * Adds `key` at `priority` after `ms` (immediately if ms ≤ 0). If the key is already scheduled for later, it
   * moves to the earlier time; a later time than one already scheduled is ignored; the schedule keeps the higher
   * of the two priorities either way.
   */
  addAfter(key: string, ms: number, priority: Priority = 'normal'): void {
    if (this.shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key, priority);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.delayedAt.get(key);
    if (existing !== undefined && existing.at <= at) {
      existing.priority = higherPriority(existing.priority, priority);
      return;
    }
    this.delayedAt.set(key, { at, priority: existing === undefined ? priority : higherPriority(existing.priority, priority) });
    this.heap.push({ key, at, seq: this.seq++ });
    this.armTimer();
  }

  /**
   * Adds `key` after its backoff delay: the larger of its per-key exponential backoff (which grows with every
   * call until forget()) and the global token bucket's wait. Returns the delay in ms.
   */
  addRateLimited(key: string, priority: Priority = 'normal'): number {
    if (this.shuttingDown) return 0;
    const attempt = this.failures.get(key) ?? 0;
    this.failures.set(key, attempt + 1);
    const delay = Math.max(backoffDelay(attempt, this.backoff, this.random), this.bucket.reserve());
    this.metrics.retried?.(key);
    this.addAfter(key, delay, priority);
    return delay;
  }

  /** Resets the per-key backoff of `key` (call after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How many rate-limited adds `key` had since its last forget(). */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * The next key to process; waits while the queue is empty. Resolves undefined once the queue is shut down.
   * The caller owns the key until it calls done(key).
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const next = this.take();
    if (next !== undefined) return Promise.resolve(next.key);
    return new Promise((resolve) => this.getters.push((handout) => resolve(handout?.key)));
  }

  /** get(), with the priority the key waited at (a reconcile's follow-up adds keep it unless told otherwise). */
  getWithPriority(): Promise<Handout | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const next = this.take();
    if (next !== undefined) return Promise.resolve(next);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Ends processing of `key`; if it was added meanwhile, it goes back into the queue. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.metrics.workDuration?.(this.clock.now() - started);
    const pending = this.dirty.get(key);
    if (pending !== undefined) {
      if (this.shuttingDown) this.dirty.delete(key);
      else this.enqueue(key, pending.priority);
    }
    if (this.processing.size === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Keys waiting to be handed out (not counting keys in progress or scheduled for later), of one priority or all. */
  len(priority?: Priority): number {
    return priority === undefined ? this.ready.size : this.ready.sizeOf(priority);
  }

  /** Keys scheduled by addAfter()/addRateLimited() that are not due yet. */
  delayedLen(): number {
    return this.delayedAt.size;
  }

  /** Keys handed out and not done. */
  processingLen(): number {
    return this.processing.size;
  }

  /** Sum of the time the keys now in progress have been in progress (the workqueue_unfinished_work metric). */
  unfinishedWorkMs(): number {
    const now = this.clock.now();
    let total = 0;
    for (const started of this.processing.values()) total += now - started;
    return total;
  }

  /** How long the oldest key in progress has been in progress (0 if none). */
  longestRunningProcessorMs(): number {
    const now = this.clock.now();
    let longest = 0;
    for (const started of this.processing.values()) longest = Math.max(longest, now - started);
    return longest;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops the queue: adds are ignored from now on, scheduled adds and waiting keys are dropped, and get()
   * resolves undefined (waiting callers too). Keys in progress may still be done().
   */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.heap.clear();
    this.delayedAt.clear();
    const hadWaiting = this.len() > 0;
    this.ready.clear();
    for (const key of [...this.dirty.keys()]) if (!this.processing.has(key)) this.dirty.delete(key);
    if (hadWaiting) this.metrics.depth?.(0);
    const getters = this.getters.splice(0);
    for (const resolve of getters) resolve(undefined);
  }

  /** shutDown(), then resolves once every key in progress is done. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private enqueue(key: string, priority: Priority): void {
    this.ready.push(key, priority);
    const getter = this.getters.shift();
    if (getter) {
      getter(this.take());
      return;
    }
    this.metrics.depth?.(this.len());
  }

  /** Hands out the next waiting key, if any. */
  private take(): Handout | undefined {
    const next = this.ready.shift();
    if (next === undefined) return undefined;
    const now = this.clock.now();
    const added = this.dirty.get(next.key)?.addedAt ?? now;
    this.dirty.delete(next.key);
    this.processing.set(next.key, now);
    this.metrics.queueLatency?.(now - added, next.priority);
    this.metrics.depth?.(this.len());
    return next;
  }

  private armTimer(): void {
    const next = this.peekValid();
    if (!next) {
      if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    if (this.timer !== undefined && this.timerAt <= next.at) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerAt = next.at;
    this.timer = this.clock.setTimeout(() => this.fireDue(), next.at - this.clock.now());
  }

  private fireDue(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    for (let next = this.peekValid(); next && next.at <= now; next = this.peekValid()) {
      this.heap.pop();
      const { priority } = this.delayedAt.get(next.key) as { priority: Priority };
      this.delayedAt.delete(next.key);
      this.add(next.key, priority);
    }
    this.armTimer();
  }

  /** The earliest heap entry that is still current, dropping stale ones. */
  private peekValid(): DelayedEntry | undefined {
    for (let top = this.heap.peek(); top; top = this.heap.peek()) {
      if (this.delayedAt.get(top.key)?.at === top.at) return top;
      this.heap.pop();
    }
    return undefined;
  }
}

import { randomBytes } from 'node:crypto';
// A controller: informer events become keys in a work queue; N workers reconcile keys, never two at once for
// the same key; every reconcile outcome is handled here, in one place:
//   done          → forget the key's backoff
//   requeueAfter  → forget the backoff, add the key again after the delay (polling, periodic sync)
//   error / throw → add the key again with its per-key backoff (rate limited), or, when the error carries a
//                   finite `retryAfterMs` (the remote side asked to wait, e.g. a device's Retry-After), after that
// Priorities (the queue hands out higher ones first): an informer event is 'high', or 'low' with
// `lowPriorityWhenUnchanged` when it replays the initial list or an unchanged object (a resync), as
// controller-runtime's handler.WithLowPriorityWhenUnchanged does. A key added again because of a reconcile's outcome
// keeps the priority it was handed out with, unless the outcome names one (requeueAfter's option, resyncAfter).
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { objectKey, type EventSource, type KubeObject } from './informer.js';
import { noopLogger, type Logger } from './logger.js';
import { isPriority } from './readyKeys.js';
import { WorkQueue, type Priority, type WorkQueueOptions } from './workqueue.js';

export type ReconcileOutcome = { kind: 'done' } | { kind: 'requeueAfter'; ms: number; priority?: Priority } | { kind: 'error'; error: unknown };

/** The key is reconciled: nothing more to do until something changes. */
export function done(): ReconcileOutcome {
  return { kind: 'done' };
}

/**
 * Reconcile the key again after `ms` (e.g. poll an operation at its Retry-After), at `priority` when given, else
 * at the priority this reconcile's key was handed out with.
 */
export function requeueAfter(ms: number, options: { priority?: Priority } = {}): ReconcileOutcome {
  return options.priority === undefined ? { kind: 'requeueAfter', ms } : { kind: 'requeueAfter', ms, priority: options.priority };
}

/** Look at the key again after `ms` with nothing known to be due (a periodic sync): low priority. */
export function resyncAfter(ms: number): ReconcileOutcome {
  return requeueAfter(ms, { priority: 'low' });
}

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The wait an error asks for (its `retryAfterMs`, e.g. a throttled device's Retry-After), when it names one. */
export function retryAfterOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const ms = (error as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? Math.min(ms, MAX_TIMER_MS) : undefined;
}

/** The reconcile failed: retry with the key's exponential backoff. Throwing has the same effect. */
export function failed(error: unknown): ReconcileOutcome {
  return { kind: 'error', error };
}

export interface ReconcileContext {
  /** Aborted when the controller stops: long operations may end early (the key is not retried then). */
  signal: AbortSignal;
  /** Identifies this reconcile in every log line about it. */
  reconcileId: string;
  /** The controller's logger bound to {controller, key, reconcileId} (when the logger supports child loggers). */
  log: Logger;
  /** How many times the key failed since its last success. */
  retries: number;
}

export type Reconciler = (key: string, context: ReconcileContext) => Promise<ReconcileOutcome>;

/** Optional observer of reconciles (the prom-client controller metrics hang off this). */
export interface ControllerMetrics {
  reconciled?(outcome: ReconcileOutcome['kind'], durationMs: number): void;
}

export interface ControllerOptions {
  /** Names the controller in logs and metrics, e.g. "gpuvm". */
  name: string;
  reconcile: Reconciler;
  /** Workers reconciling different keys in parallel. Default 1. */
  concurrency?: number;
  logger?: Logger;
  clock?: Clock;
  /** A queue to use, or options for the one the controller creates. */
  queue?: WorkQueue | Omit<WorkQueueOptions, 'clock'>;
  metrics?: ControllerMetrics;
  /**
   * Queue informer events that bring nothing new at low priority, behind real changes: the adds of a source's
   * initial list (and of the objects it already holds when watched) and updates whose resourceVersion did not change
   * (resyncs). Default false: every event is high priority.
   */
  lowPriorityWhenUnchanged?: boolean;
  /**
   * Whether a key from a watched event is this controller's to reconcile at all (sharded mode: not when another
   * replica owns its device). Keys it refuses are not queued; keys added with enqueue() always are. Default: all.
   */
  admits?: (key: string) => boolean;
}

export type EventKind = 'add' | 'update' | 'delete';

/** An informer event, as seen by watch predicates and mappers. */
export interface WatchEvent<T> {
  kind: EventKind;
  object: T;
  /** The previous state, for updates. */
  oldObject?: T;
}

export interface WatchOptions<T> {
  /**
   * Keys to reconcile for an object (default: the object's own key). For updates it is called with the old and
   * the new object and the keys of both are enqueued.
   */
  map?: (object: T, event: WatchEvent<T>) => Iterable<string> | string | undefined;
  /** Events for which this returns false are ignored. */
  predicate?: (event: WatchEvent<T>) => boolean;
}

/** Skips updates that did not change metadata.generation (status-only or metadata-only changes). */
export function generationChanged<T extends { metadata?: { generation?: number } }>(event: WatchEvent<T>): boolean {
  return event.kind !== 'update' || event.oldObject?.metadata?.generation !== event.object.metadata?.generation;
}

interface Watched {
  source: EventSource<never>;
  unsubscribe: (() => void) | undefined;
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly reconcile: Reconciler;
  private readonly concurrency: number;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly metrics: ControllerMetrics;
  private readonly lowPriorityWhenUnchanged: boolean;
  private readonly admits: (key: string) => boolean;
  private readonly watched: Watched[] = [];
  private readonly workers: Promise<void>[] = [];
  private readonly inFlight = new Set<string>();
  private readonly abort = new AbortController();
  private state: State = 'new';
  private stopping: Promise<void> | undefined;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.reconcile = options.reconcile;
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
    this.logger = options.logger ?? noopLogger;
    this.clock = options.clock ?? systemClock;
    this.metrics = options.metrics ?? {};
    this.lowPriorityWhenUnchanged = options.lowPriorityWhenUnchanged ?? false;
    this.admits = options.admits ?? (() => true);
    this.queue =
      options.queue instanceof WorkQueue ? options.queue : new WorkQueue({ name: options.name, ...options.queue, clock: this.clock });
  }

  /**
   * Reconciles keys derived from a source's events: by default the object's own key; with `map`, any keys
   * (e.g. an EdgeDevice event → the keys of every GpuVm on that device, looked up in an informer index).
   * Handlers are registered at once, so events arriving before start() are queued, not lost.
   */
  watches<T extends KubeObject>(source: EventSource<T>, options: WatchOptions<T> = {}): this {
    const { predicate } = options;
    const map = options.map ?? ((obj: T) => objectKey(obj));
    const keysOf = (event: WatchEvent<T>, object: T, into: Set<string>): void => {
      let keys: Iterable<string> | string | undefined;
      try {
        keys = map(object, event);
      } catch (err) {
        this.logger.error({ controller: this.name, source: source.name, key: objectKey(object), err }, 'watch mapping function threw');
        return;
      }
      if (keys === undefined) return;
      for (const key of typeof keys === 'string' ? [keys] : keys) if (key) into.add(key);
    };
    // addEventHandler replays the objects the source already holds: part of its list, not changes.
    let replaying = true;
    const priorityOf = (event: WatchEvent<T>): Priority => {
      if (!this.lowPriorityWhenUnchanged) return 'high';
      if (event.kind === 'add') return replaying || !source.hasSynced() ? 'low' : 'high';
      if (event.kind === 'update') return unchanged(event.oldObject, event.object) ? 'low' : 'high';
      return 'high';
    };
    const handle = (event: WatchEvent<T>) => {
      if (this.state === 'stopping' || this.state === 'stopped') return;
      if (predicate) {
        try {
          if (!predicate(event)) return;
        } catch (err) {
          this.logger.error({ controller: this.name, source: source.name, err }, 'watch predicate threw');
          return;
        }
      }
      // One add per key and event: a worker waiting in get() takes the first add at once, so a second add of
      // the same key would count as a change during processing and reconcile it twice.
      const keys = new Set<string>();
      if (event.oldObject && event.oldObject !== event.object) keysOf(event, event.oldObject, keys);
      keysOf(event, event.object, keys);
      const priority = priorityOf(event);
      for (const key of keys) if (this.admits(key)) this.queue.add(key, priority);
    };
    const unsubscribe = source.addEventHandler({
      onAdd: (object) => handle({ kind: 'add', object }),
      onUpdate: (oldObject, object) => handle({ kind: 'update', object, oldObject }),
      onDelete: (object) => handle({ kind: 'delete', object }),
    });
    replaying = false;
    this.watched.push({ source: source as unknown as EventSource<never>, unsubscribe });
    return this;
  }

  /** Adds a key directly (e.g. from a timer or another controller). */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /**
   * Waits until every watched source has synced (or stop() is called), then starts the workers.
   * Resolves true once the workers run, false if the controller was stopped first.
   */
  async start(): Promise<boolean> {
    if (this.state !== 'new') throw new Error(`controller ${this.name} was already started`);
    this.state = 'starting';
    const synced = await Promise.all(this.watched.map((w) => w.source.waitForSync(this.abort.signal)));
    if (this.state !== 'starting' || synced.includes(false)) return false;
    this.state = 'running';
    for (let i = 0; i < this.concurrency; i++) this.workers.push(this.worker());
    this.logger.info({ controller: this.name, concurrency: this.concurrency, sources: this.watched.map((w) => w.source.name) }, 'controller started');
    return true;
  }

  /**
   * Stops taking new work, aborts the reconcile signal, unsubscribes from the sources and waits for the
   * reconciles in flight to finish. Resolves true once they have, or false when `timeoutMs` passes first (the
   * keys still in flight are logged). Safe to call more than once.
   */
  stop(timeoutMs = Infinity): Promise<boolean> {
    this.stopping ??= this.doStop();
    const drained = this.stopping.then(() => true);
    if (!Number.isFinite(timeoutMs)) return drained;
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = this.clock.setTimeout(() => {
        this.logger.warn({ controller: this.name, inFlight: this.inFlightKeys(), timeoutMs }, 'controller stop timed out with reconciles in flight');
        resolve(false);
      }, timeoutMs);
    });
    return Promise.race([drained, timedOut]).finally(() => {
      if (timer !== undefined) this.clock.clearTimeout(timer);
    });
  }

  isRunning(): boolean {
    return this.state === 'running';
  }

  /** Keys being reconciled right now. */
  inFlightKeys(): string[] {
    return [...this.inFlight];
  }

  private async doStop(): Promise<void> {
    const inFlight = this.inFlight.size;
    this.state = 'stopping';
    this.abort.abort();
    for (const w of this.watched) {
      w.unsubscribe?.();
      w.unsubscribe = undefined;
    }
    if (inFlight > 0) this.logger.info({ controller: this.name, inFlight }, 'controller stopping; waiting for reconciles in flight');
    await this.queue.shutDownWithDrain();
    await Promise.all(this.workers);
    this.state = 'stopped';
    this.logger.info({ controller: this.name }, 'controller stopped');
  }

  private async worker(): Promise<void> {
    for (;;) {
      const handout = await this.queue.getWithPriority();
      if (handout === undefined) return;
      const { key, priority } = handout;
      try {
        await this.process(key, priority);
      } finally {
        this.queue.done(key);
      }
      // A key requeued with no delay would otherwise loop on microtasks alone and starve I/O and timers.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private async process(key: string, priority: Priority): Promise<void> {
    this.inFlight.add(key);
    const started = this.clock.now();
    const retries = this.queue.numRequeues(key);
    const reconcileId = randomBytes(4).toString('hex');
    const bound = { controller: this.name, key, reconcileId };
    const log = this.logger.child?.(bound) ?? this.logger;
    let outcome: ReconcileOutcome;
    try {
      outcome = await this.reconcile(key, { signal: this.abort.signal, retries, reconcileId, log });
      if (!isOutcome(outcome)) outcome = failed(new Error(`reconcile returned ${JSON.stringify(outcome)}, not an outcome`));
    } catch (error) {
      outcome = failed(error);
    } finally {
      this.inFlight.delete(key);
    }
    const durationMs = this.clock.now() - started;
    this.metrics.reconciled?.(outcome.kind, durationMs);
    this.handle(key, priority, outcome, durationMs, retries, reconcileId);
  }

  private handle(key: string, priority: Priority, outcome: ReconcileOutcome, durationMs: number, retries: number, reconcileId: string): void {
    const fields = { controller: this.name, key, reconcileId, durationMs };
    switch (outcome.kind) {
      case 'done':
        this.queue.forget(key);
        this.logger.debug(fields, 'reconciled');
        return;
      case 'requeueAfter': {
        this.queue.forget(key);
        const ms = Number.isFinite(outcome.ms) ? Math.min(MAX_TIMER_MS, Math.max(0, outcome.ms)) : 0;
        const next = outcome.priority ?? priority;
        this.queue.addAfter(key, ms, next);
        this.logger.debug({ ...fields, requeueAfterMs: ms, priority: next }, 'reconciled; requeued');
        return;
      }
      case 'error': {
        if (this.abort.signal.aborted) {
          this.logger.info({ ...fields, err: outcome.error }, 'reconcile ended by shutdown');
          return;
        }
        const asked = retryAfterOf(outcome.error);
        if (asked !== undefined) {
          // Not the object's fault: its backoff is left as it was, and the wait is the one asked for.
          this.queue.addAfter(key, asked, priority);
          this.logger.warn({ ...fields, err: outcome.error, retryInMs: Math.round(asked) }, 'reconcile deferred: the remote side asked to wait');
          return;
        }
        const retryInMs = Math.round(this.queue.addRateLimited(key, priority));
        this.logger.error({ ...fields, err: outcome.error, retries: retries + 1, retryInMs }, 'reconcile failed');
        return;
      }
    }
  }
}

function isOutcome(value: unknown): value is ReconcileOutcome {
  if (typeof value !== 'object' || value === null) return false;
  const { kind, priority } = value as { kind?: unknown; priority?: unknown };
  if (kind === 'requeueAfter') return priority === undefined || isPriority(priority);
  return kind === 'done' || kind === 'error';
}

/** The same object, or one with the same resourceVersion: an informer resync or re-list, not a change. */
function unchanged(oldObject: KubeObject | undefined, object: KubeObject): boolean {
  if (oldObject === object) return true;
  const version = object.metadata?.resourceVersion;
  return version !== undefined && version !== '' && oldObject?.metadata?.resourceVersion === version;
}

// A shared informer for one resource: list, then watch from the list's resourceVersion, keeping an indexed
// in-memory store and calling event handlers. Unlike client-node's informer it never gives up:
// - a watch that ends normally (the server's timeoutSeconds) is re-opened from the last resourceVersion;
// - 410 Gone (on the watch request or as an ERROR event) re-lists at once;
// - any other error, a watch that closes right after opening, or a silent stall re-lists after an exponential
//   backoff. A stall: a list or watch request without an answer within stallTimeoutMs, or an open watch that
//   neither delivers anything nor ends within its timeoutSeconds + stallTimeoutMs (the apiserver ends every
//   watch at its timeoutSeconds, so a live watch always shows progress by then);
// - bookmarks are requested (allowWatchBookmarks) and move the resourceVersion forward. (kube-apiserver 1.35
//   sends a quiet watch its bookmark only about a second before the watch's deadline, not periodically.)
// - a re-list synthesizes delete events for objects that vanished and update events for changed ones.
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { noopLogger, type Logger } from './logger.js';

/** The parts of a Kubernetes object the informer relies on. */
export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
}

export interface ListResult<T> {
  items: T[];
  /** The list's resourceVersion, where the following watch starts. */
  resourceVersion: string;
}

export interface WatchRequest {
  resourceVersion: string;
  /** Server-side duration of the watch; the server then ends it and the informer re-opens it. */
  timeoutSeconds: number;
  /** The client may give up on a watch with no bytes for this long (a dead connection). */
  inactivityTimeoutMs: number;
}

/** Watch event types of the Kubernetes API (the object of an ERROR event is a Status). */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchHandle {
  /** Closes the watch; its onClose callback may still be called, with an abort error. */
  abort(): void;
}

/**
 * How an informer lists and watches its resource. `watch` resolves once the watch is open (or failed: then
 * onClose has been called with the error); onClose(undefined) means the server ended the watch normally.
 */
export interface ListerWatcher<T> {
  /** Names the resource in logs, e.g. "gpuvms.gpuvm.io in namespace a". */
  readonly description: string;
  /** The whole collection (all pages). The informer aborts `signal` when it gives up on the list. */
  list(signal?: AbortSignal): Promise<ListResult<T>>;
  watch(request: WatchRequest, onEvent: (type: string, object: unknown) => void, onClose: (error?: unknown) => void): Promise<WatchHandle>;
}

export interface EventHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  /** Called with the last known state of the object. */
  onDelete?(obj: T): void;
}

/** What a controller needs from an informer: events, and knowing when the initial list has been delivered. */
export interface EventSource<T> {
  readonly name: string;
  /** Registers handlers; objects already in the store are replayed to onAdd. Returns an unsubscribe function. */
  addEventHandler(handlers: EventHandlers<T>): () => void;
  hasSynced(): boolean;
  /** Resolves true once synced, or false if the informer stops or the signal aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean>;
}

export type IndexFunc<T> = (obj: T) => readonly string[];

export interface InformerOptions<T> {
  listerWatcher: ListerWatcher<T>;
  /** For logs. Defaults to the lister-watcher's description. */
  name?: string;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
  /**
   * Server-side watch timeout, in seconds: the apiserver ends the watch then and the informer re-opens it from
   * the last resourceVersion. Default: random in [120, 240) per watch, so roll-overs spread out. It also bounds
   * how long a silently dead connection goes unnoticed (timeout + stallTimeoutMs).
   */
  watchTimeoutSeconds?: number | (() => number);
  /**
   * Stall bound: a list or watch request without an answer for this long, or an open watch silent for this long
   * past its timeoutSeconds, is abandoned and the informer re-lists. Default 60000.
   */
  stallTimeoutMs?: number;
  /** A list taking longer is abandoned and retried. Default 60000. */
  listTimeoutMs?: number;
  /** A watch the server closes normally sooner than this after opening counts as a failure. Default 1000. */
  minWatchDurationMs?: number;
  /** Backoff of restarts after failures. Default base 1000 ms, max 30000 ms, jitter 0.2. */
  backoff?: Partial<BackoffOptions>;
  /**
   * The restart backoff starts over after a watch event, or when a watch that stayed open this long fails.
   * Default 60000.
   */
  backoffResetMs?: number;
  /** Calls onUpdate(obj, obj) for every object at this period (0 = never, the default). */
  resyncPeriodMs?: number;
  /** Applied to every object before it is stored (e.g. to drop managedFields). */
  transform?: (obj: T) => T;
}

export interface InformerStats {
  /** Successful lists. */
  lists: number;
  /** Watches opened. */
  watches: number;
  /** Events applied from watches (bookmarks excluded). */
  events: number;
  bookmarks: number;
  /** Failures that led to a backoff (list/watch errors, watches closing too early, stalls). */
  failures: number;
  stalls: number;
  /** Re-lists caused by 410 Gone. */
  expired: number;
}

type State = 'stopped' | 'listing' | 'watching' | 'backoff';

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name ?? '';
  const namespace = obj.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

/** Splits a key made by objectKey(). */
export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** A transform that drops metadata.managedFields (large, and never needed by a controller). */
export function stripManagedFields<T extends KubeObject>(obj: T): T {
  const metadata = obj.metadata as (KubeObject['metadata'] & { managedFields?: unknown }) | undefined;
  if (metadata && 'managedFields' in metadata) delete metadata.managedFields;
  return obj;
}

/** kubectl apply's copy of the whole applied object (for a Secret, its data in clear text). */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The controller's own kinds as cached: without managedFields and kubectl's last-applied copy, which the
 * controller never reads (its annotations are gpuvm.io/ ones). Status writes send the cached metadata, but the
 * API server keeps the stored metadata on a status write (apiextensions-apiserver status strategy,
 * PrepareForUpdate: only status and the resourceVersion precondition count), so nothing is lost there.
 */
export function stripForCache<T extends KubeObject>(obj: T): T {
  stripManagedFields(obj);
  const metadata = obj.metadata as (KubeObject['metadata'] & { annotations?: Record<string, string> }) | undefined;
  const annotations = metadata?.annotations;
  if (metadata !== undefined && annotations !== undefined && LAST_APPLIED_ANNOTATION in annotations) {
    const { [LAST_APPLIED_ANNOTATION]: _lastApplied, ...rest } = annotations;
    if (Object.keys(rest).length === 0) delete metadata.annotations;
    else metadata.annotations = rest;
  }
  return obj;
}

/** A Secret as the informer receives it (client-node's V1Secret has these fields). */
export interface SecretObject extends KubeObject {
  apiVersion?: string;
  kind?: string;
  type?: string;
  data?: { [key: string]: string };
  stringData?: { [key: string]: string };
}

/** Helm keeps each release of a chart installed into the controller's namespace in a Secret of this type. */
const HELM_RELEASE_SECRET_TYPE = 'helm.sh/release.v1';

/**
 * A Secret as cached: what device connections read (name, namespace, resourceVersion, data) and nothing else; no
 * labels, annotations (last-applied holds the data again) or managedFields. A Helm release's Secret keeps no
 * data: it holds a whole chart and is never a device's credentials or CA.
 */
export function secretForCache<T extends SecretObject>(secret: T): T {
  const { name, namespace, resourceVersion, uid } = secret.metadata ?? {};
  const kept: SecretObject = {
    ...(secret.apiVersion !== undefined ? { apiVersion: secret.apiVersion } : {}),
    ...(secret.kind !== undefined ? { kind: secret.kind } : {}),
    metadata: { ...(name !== undefined ? { name } : {}), ...(namespace !== undefined ? { namespace } : {}), ...(resourceVersion !== undefined ? { resourceVersion } : {}), ...(uid !== undefined ? { uid } : {}) },
    ...(secret.type !== undefined ? { type: secret.type } : {}),
    ...(secret.data !== undefined && secret.type !== HELM_RELEASE_SECRET_TYPE ? { data: secret.data } : {}),
    ...(secret.stringData !== undefined && secret.type !== HELM_RELEASE_SECRET_TYPE ? { stringData: secret.stringData } : {}),
  };
  return kept as T;
}

interface Index<T> {
  fn: IndexFunc<T>;
  byValue: Map<string, Set<string>>;
}

/** An error that marks the informer's own stall detection. */
export class WatchStalledError extends Error {
  constructor(phase: string, sinceProgressMs: number) {
    super(`${phase}: no progress for ${sinceProgressMs} ms`);
    this.name = 'WatchStalledError';
  }
}

function statusCodeOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.code === 'number') return e.code;
  return undefined;
}

function errorSummary(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export class Informer<T extends KubeObject> implements EventSource<T> {
  readonly name: string;
  private readonly lw: ListerWatcher<T>;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly watchTimeout: () => number;
  private readonly stallTimeoutMs: number;
  private readonly listTimeoutMs: number;
  private readonly minWatchDurationMs: number;
  private readonly backoff: BackoffOptions;
  private readonly resyncPeriodMs: number;
  private readonly backoffResetMs: number;
  private readonly transform: (obj: T) => T;

  private readonly store = new Map<string, T>();
  private readonly indexes = new Map<string, Index<T>>();
  private readonly handlers = new Set<EventHandlers<T>>();
  private syncWaiters: ((synced: boolean) => void)[] = [];

  private state: State = 'stopped';
  /** Incremented on every (re)start and stop: callbacks of older attempts are ignored. */
  private epoch = 0;
  private resourceVersion = '';
  private synced = false;
  private consecutiveFailures = 0;
  private watchHandle: WatchHandle | undefined;
  private listAbort: AbortController | undefined;
  private watchOpenedAt = 0;
  /** When the current watch was established (undefined while none is). */
  private watchEstablishedAt: number | undefined;
  private retryTimer: TimerHandle | undefined;
  private watchdogTimer: TimerHandle | undefined;
  private resyncTimer: TimerHandle | undefined;
  /** The current attempt counts as stalled if it makes no progress by then (see armWatchdog). */
  private stallDeadline = 0;
  /** timeoutSeconds of the most recent watch, in ms. */
  private lastWatchTimeoutMs = 0;
  private lastProgress: number | undefined;
  private lastList: number | undefined;
  private readonly counters: InformerStats = { lists: 0, watches: 0, events: 0, bookmarks: 0, failures: 0, stalls: 0, expired: 0 };

  constructor(options: InformerOptions<T>) {
    this.lw = options.listerWatcher;
    this.name = options.name ?? options.listerWatcher.description;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.logger = options.logger ?? noopLogger;
    const timeout = options.watchTimeoutSeconds;
    this.watchTimeout =
      typeof timeout === 'function' ? timeout : typeof timeout === 'number' ? () => timeout : () => Math.floor(120 + 120 * this.random());
    this.stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
    this.listTimeoutMs = options.listTimeoutMs ?? 60_000;
    this.minWatchDurationMs = options.minWatchDurationMs ?? 1_000;
    this.backoff = { baseMs: 1_000, maxMs: 30_000, jitter: 0.2, ...options.backoff };
    this.resyncPeriodMs = options.resyncPeriodMs ?? 0;
    this.backoffResetMs = options.backoffResetMs ?? 60_000;
    this.transform = options.transform ?? ((obj) => obj);
  }

  // ---- lifecycle ----

  /** Starts listing and watching (no-op if running). */
  start(): void {
    if (this.state !== 'stopped') return;
    this.consecutiveFailures = 0;
    this.logger.debug({ informer: this.name }, 'informer starting');
    void this.run(true);
    this.armResync();
  }

  /** Stops watching; the store keeps its contents, and start() resumes with a re-list. */
  stop(): void {
    if (this.state === 'stopped') return;
    this.epoch++;
    this.state = 'stopped';
    this.closeWatch();
    this.clearTimer('retryTimer');
    this.clearTimer('watchdogTimer');
    this.clearTimer('resyncTimer');
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const resolve of waiters) resolve(false);
    this.logger.debug({ informer: this.name }, 'informer stopped');
  }

  isRunning(): boolean {
    return this.state !== 'stopped';
  }

  /** True once the first list has been stored and its events delivered. Stays true across restarts. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced (waiting for start() if need be), false on stop() or when the signal aborts. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== settle);
        resolve(false);
      };
      const settle = (synced: boolean) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(synced);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(settle);
    });
  }

  /** When the last successful list completed. */
  get lastSyncTime(): Date | undefined {
    return this.lastList === undefined ? undefined : new Date(this.lastList);
  }

  /** When the informer last made progress: a successful list, a watch opened, or any watch event or bookmark. */
  get lastProgressTime(): Date | undefined {
    return this.lastProgress === undefined ? undefined : new Date(this.lastProgress);
  }

  /**
   * Running, synced, and progress within `maxStalenessMs`. The default is the latest watch timeout plus twice the
   * stall timeout: a live informer makes progress at least once per watch (it ends and is re-opened), and a
   * stalled one is restarted within a stall timeout past that.
   */
  isHealthy(maxStalenessMs = this.lastWatchTimeoutMs + 2 * this.stallTimeoutMs): boolean {
    return (
      this.state !== 'stopped' &&
      this.synced &&
      this.lastProgress !== undefined &&
      this.clock.now() - this.lastProgress <= maxStalenessMs
    );
  }

  /** The resourceVersion the next watch starts from ('' = re-list first). */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  stats(): Readonly<InformerStats> {
    return { ...this.counters };
  }

  // ---- store ----
  // Objects are shared with every caller and handler: treat them as read-only (copy before changing one).

  /** The object with key `namespace/name` (or `name` when cluster-scoped). */
  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  keys(): string[] {
    return [...this.store.keys()];
  }

  /** Adds a secondary index; objects already stored are indexed at once. */
  addIndex(name: string, fn: IndexFunc<T>): void {
    if (this.indexes.has(name)) throw new Error(`informer ${this.name}: index "${name}" already exists`);
    const index: Index<T> = { fn, byValue: new Map() };
    this.indexes.set(name, index);
    for (const [key, obj] of this.store) this.indexAdd(index, key, obj);
  }

  /** Objects whose index function returned `value`. */
  byIndex(name: string, value: string): T[] {
    const out: T[] = [];
    for (const key of this.indexKeys(name, value)) {
      const obj = this.store.get(key);
      if (obj) out.push(obj);
    }
    return out;
  }

  /** Keys of the objects whose index function returned `value`. */
  indexKeys(name: string, value: string): string[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`informer ${this.name}: no index "${name}"`);
    return [...(index.byValue.get(value) ?? [])];
  }

  // ---- handlers ----

  /** Shorthand for addEventHandler({ onAdd }). */
  onAdd(fn: (obj: T) => void): () => void {
    return this.addEventHandler({ onAdd: fn });
  }

  /** Shorthand for addEventHandler({ onUpdate }). */
  onUpdate(fn: (oldObj: T, newObj: T) => void): () => void {
    return this.addEventHandler({ onUpdate: fn });
  }

  /** Shorthand for addEventHandler({ onDelete }). */
  onDelete(fn: (obj: T) => void): () => void {
    return this.addEventHandler({ onDelete: fn });
  }

  addEventHandler(handlers: EventHandlers<T>): () => void {
    this.handlers.add(handlers);
    for (const obj of this.store.values()) this.call('onAdd', () => handlers.onAdd?.(obj));
    return () => {
      this.handlers.delete(handlers);
    };
  }

  private emit(event: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of [...this.handlers]) {
      if (event === 'add') this.call('onAdd', () => h.onAdd?.(obj));
      else if (event === 'update') this.call('onUpdate', () => h.onUpdate?.(old ?? obj, obj));
      else this.call('onDelete', () => h.onDelete?.(obj));
    }
  }

  private call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ informer: this.name, handler: what, err }, 'informer event handler threw');
    }
  }

  // ---- store mutation ----

  private upsert(raw: T): void {
    const obj = this.transform(raw);
    const key = objectKey(obj);
    const old = this.store.get(key);
    this.store.set(key, obj);
    this.reindex(key, old, obj);
    if (!old) this.emit('add', obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion || !obj.metadata?.resourceVersion) this.emit('update', obj, old);
  }

  private remove(raw: T): void {
    const key = objectKey(raw);
    const old = this.store.get(key);
    if (!old) return;
    this.store.delete(key);
    this.reindex(key, old, undefined);
    // The deleted object from the watch carries the final state; fall back to the stored one.
    this.emit('delete', raw.metadata ? this.transform(raw) : old);
  }

  /** Replaces the store with a fresh list, emitting add/update/delete for the differences. */
  private replace(items: T[]): void {
    const seen = new Set<string>();
    for (const raw of items) {
      seen.add(objectKey(raw));
      this.upsert(raw);
    }
    for (const [key, old] of [...this.store]) {
      if (seen.has(key)) continue;
      this.store.delete(key);
      this.reindex(key, old, undefined);
      this.emit('delete', old);
    }
  }

  private reindex(key: string, old: T | undefined, obj: T | undefined): void {
    for (const index of this.indexes.values()) {
      if (old) this.indexRemove(index, key, old);
      if (obj) this.indexAdd(index, key, obj);
    }
  }

  private indexValues(index: Index<T>, obj: T): readonly string[] {
    try {
      return index.fn(obj);
    } catch (err) {
      this.logger.error({ informer: this.name, key: objectKey(obj), err }, 'informer index function threw');
      return [];
    }
  }

  private indexAdd(index: Index<T>, key: string, obj: T): void {
    for (const value of this.indexValues(index, obj)) {
      let keys = index.byValue.get(value);
      if (!keys) index.byValue.set(value, (keys = new Set()));
      keys.add(key);
    }
  }

  private indexRemove(index: Index<T>, key: string, obj: T): void {
    for (const value of this.indexValues(index, obj)) {
      const keys = index.byValue.get(value);
      if (!keys) continue;
      keys.delete(key);
      if (keys.size === 0) index.byValue.delete(value);
    }
  }

  // ---- list and watch ----

  private async run(relist: boolean): Promise<void> {
    const epoch = ++this.epoch;
    this.clearTimer('retryTimer');
    this.stallDeadline = this.clock.now() + this.stallTimeoutMs;
    this.armWatchdog();

    if (relist || !this.resourceVersion) {
      this.state = 'listing';
      let result: ListResult<T>;
      try {
        result = await this.listWithTimeout();
      } catch (err) {
        if (epoch === this.epoch) this.fail(err, 'list');
        return;
      }
      if (epoch !== this.epoch) return;
      this.replace(result.items);
      this.resourceVersion = result.resourceVersion;
      this.counters.lists++;
      this.lastList = this.clock.now();
      this.progress();
      this.extendDeadline(this.stallTimeoutMs);
      if (!this.synced) {
        this.synced = true;
        const waiters = this.syncWaiters;
        this.syncWaiters = [];
        for (const resolve of waiters) resolve(true);
        this.logger.info({ informer: this.name, objects: this.store.size }, 'informer synced');
      }
    }

    this.state = 'watching';
    this.watchOpenedAt = this.clock.now();
    this.watchEstablishedAt = undefined;
    let closedEarly = false;
    let handle: WatchHandle;
    const timeoutSeconds = this.watchTimeout();
    const windowMs = timeoutSeconds * 1000 + this.stallTimeoutMs;
    this.lastWatchTimeoutMs = timeoutSeconds * 1000;
    try {
      handle = await this.lw.watch(
        { resourceVersion: this.resourceVersion, timeoutSeconds, inactivityTimeoutMs: windowMs + 5_000 },
        (type, object) => this.onWatchEvent(epoch, type, object),
        (error) => {
          if (epoch !== this.epoch) return;
          closedEarly = true;
          this.onWatchClosed(error);
        },
      );
    } catch (err) {
      if (epoch === this.epoch) this.fail(err, 'watch');
      return;
    }
    if (epoch !== this.epoch || closedEarly) {
      handle.abort();
      return;
    }
    this.watchHandle = handle;
    this.watchEstablishedAt = this.clock.now();
    this.counters.watches++;
    this.progress();
    this.extendDeadline(windowMs);
  }

  /** Lists, giving up (and aborting the request) after listTimeoutMs or when the attempt is abandoned. */
  private listWithTimeout(): Promise<ListResult<T>> {
    const abort = new AbortController();
    this.listAbort = abort;
    return new Promise<ListResult<T>>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        reject(new Error(`list did not complete within ${this.listTimeoutMs} ms`));
        abort.abort();
      }, this.listTimeoutMs);
      this.lw.list(abort.signal).then(
        (result) => {
          this.clock.clearTimeout(timer);
          resolve(result);
        },
        (err: unknown) => {
          this.clock.clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    }).finally(() => {
      if (this.listAbort === abort) this.listAbort = undefined;
    });
  }

  private onWatchEvent(epoch: number, type: string, object: unknown): void {
    if (epoch !== this.epoch) return;
    this.progress();
    this.extendDeadline(this.stallTimeoutMs);
    this.consecutiveFailures = 0;
    const obj = object as T;
    switch (type as WatchEventType) {
      case 'ADDED':
      case 'MODIFIED':
        this.counters.events++;
        this.upsert(obj);
        break;
      case 'DELETED':
        this.counters.events++;
        this.remove(obj);
        break;
      case 'BOOKMARK':
        this.counters.bookmarks++;
        break;
      case 'ERROR': {
        const status = object as { code?: number; reason?: string; message?: string } | null;
        this.closeWatch();
        this.epoch++;
        if (status?.code === 410) {
          this.expire(status.message ?? 'resourceVersion too old');
        } else {
          this.fail(Object.assign(new Error(status?.message ?? 'watch ERROR event'), { code: status?.code, reason: status?.reason }), 'watch');
        }
        return;
      }
      default:
        this.logger.debug({ informer: this.name, type }, 'informer ignored an unknown watch event type');
        return;
    }
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
  }

  private onWatchClosed(error: unknown): void {
    this.watchHandle = undefined;
    this.epoch++;
    if (error !== undefined && error !== null) {
      if (statusCodeOf(error) === 410) this.expire(errorSummary(error));
      else this.fail(error, 'watch');
      return;
    }
    const lived = this.clock.now() - this.watchOpenedAt;
    if (lived < this.minWatchDurationMs) {
      this.fail(new Error(`watch closed by the server after ${lived} ms`), 'watch');
      return;
    }
    // A normal roll-over: re-open from the last resourceVersion.
    this.logger.debug({ informer: this.name, resourceVersion: this.resourceVersion, lived }, 'informer watch rolled over');
    void this.run(false);
  }

  /** The resourceVersion is gone (410): re-list now. */
  private expire(detail: string): void {
    this.counters.expired++;
    this.resourceVersion = '';
    this.logger.info({ informer: this.name, detail }, 'informer resourceVersion expired; re-listing');
    void this.run(true);
  }

  /** Ends the current attempt and re-lists after a backoff. */
  private fail(err: unknown, phase: 'list' | 'watch' | 'stall'): void {
    this.epoch++;
    this.closeWatch();
    this.clearTimer('watchdogTimer');
    if (this.state === 'stopped') return;
    this.counters.failures++;
    // A watch that stayed open for a while counts as recovery: the backoff starts over.
    if (this.watchEstablishedAt !== undefined && this.clock.now() - this.watchEstablishedAt >= this.backoffResetMs) this.consecutiveFailures = 0;
    this.watchEstablishedAt = undefined;
    const delay = backoffDelay(this.consecutiveFailures, this.backoff, this.random);
    this.consecutiveFailures++;
    this.state = 'backoff';
    this.logger.warn(
      { informer: this.name, phase, err: errorSummary(err), attempt: this.consecutiveFailures, retryInMs: Math.round(delay) },
      `informer ${phase} failed; re-listing after backoff`,
    );
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.run(true);
    }, delay);
  }

  /** Closes the current watch and aborts a list in progress. */
  private closeWatch(): void {
    this.listAbort?.abort();
    this.listAbort = undefined;
    const handle = this.watchHandle;
    this.watchHandle = undefined;
    if (!handle) return;
    try {
      handle.abort();
    } catch {
      // already closed
    }
  }

  private progress(): void {
    this.lastProgress = this.clock.now();
  }

  /** Moves the stall deadline to at least `ms` from now (never earlier: an event does not shorten a watch's window). */
  private extendDeadline(ms: number): void {
    this.stallDeadline = Math.max(this.stallDeadline, this.clock.now() + ms);
  }

  /** One timer per attempt, re-armed lazily when the deadline moved: fires at stallDeadline. */
  private armWatchdog(): void {
    this.clearTimer('watchdogTimer');
    this.watchdogTimer = this.clock.setTimeout(() => {
      this.watchdogTimer = undefined;
      if (this.state !== 'listing' && this.state !== 'watching') return;
      const now = this.clock.now();
      if (now < this.stallDeadline) {
        this.armWatchdog();
        return;
      }
      this.counters.stalls++;
      this.fail(new WatchStalledError(this.state, now - (this.lastProgress ?? now)), 'stall');
    }, this.stallDeadline - this.clock.now());
  }

  private armResync(): void {
    if (!(this.resyncPeriodMs > 0)) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      this.resyncTimer = undefined;
      if (this.state === 'stopped') return;
      if (this.synced) for (const obj of [...this.store.values()]) this.emit('update', obj, obj);
      this.armResync();
    }, this.resyncPeriodMs);
  }

  private clearTimer(which: 'retryTimer' | 'watchdogTimer' | 'resyncTimer'): void {
    const timer = this[which];
    if (timer !== undefined) this.clock.clearTimeout(timer);
    this[which] = undefined;
  }
}

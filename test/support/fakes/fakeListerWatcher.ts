// An in-memory ListerWatcher for tests: a tiny "apiserver" for one resource whose list and watch calls can be
// made to fail, hang or close, and whose changes reach the open watch (or not, to simulate missed events).
import type { KubeObject, ListResult, ListerWatcher, WatchHandle, WatchRequest } from '../../../src/runtime/informer.js';
import { objectKey } from '../../../src/runtime/informer.js';

/** What the next list()/watch() call does instead of succeeding. */
export type FakeFailure = Error | 'hang';

export class FakeWatch {
  aborted = false;
  closed = false;

  constructor(
    readonly request: WatchRequest,
    private readonly onEvent: (type: string, object: unknown) => void,
    private readonly onClose: (error?: unknown) => void,
  ) {}

  get open(): boolean {
    return !this.aborted && !this.closed;
  }

  send(type: string, object: unknown): void {
    if (this.open) this.onEvent(type, structuredClone(object));
  }

  /** Ends the watch as the server would: normally (no error) or with an error. */
  close(error?: unknown): void {
    if (!this.open) return;
    this.closed = true;
    this.onClose(error);
  }
}

export class FakeListerWatcher<T extends KubeObject> implements ListerWatcher<T> {
  readonly description: string;
  readonly objects = new Map<string, T>();
  /** Every watch opened, oldest first. */
  readonly watches: FakeWatch[] = [];
  listCalls = 0;
  watchCalls = 0;
  /** Consumed one per call, in order. */
  readonly listFailures: FakeFailure[] = [];
  readonly watchFailures: FakeFailure[] = [];
  private rv: number;

  constructor(options: { description?: string; initial?: T[]; resourceVersion?: number } = {}) {
    this.description = options.description ?? 'fake resource';
    this.rv = options.resourceVersion ?? 100;
    for (const obj of options.initial ?? []) this.put(obj);
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  /** The most recent watch, if it is still open. */
  get current(): FakeWatch | undefined {
    const last = this.watches.at(-1);
    return last?.open ? last : undefined;
  }

  /** The signal of every list() call, oldest first. */
  readonly listSignals: (AbortSignal | undefined)[] = [];

  list(signal?: AbortSignal): Promise<ListResult<T>> {
    this.listCalls++;
    this.listSignals.push(signal);
    const failure = this.listFailures.shift();
    if (failure === 'hang') return new Promise(() => undefined);
    if (failure) return Promise.reject(failure);
    return Promise.resolve({ items: [...this.objects.values()].map((o) => structuredClone(o)), resourceVersion: this.resourceVersion });
  }

  watch(request: WatchRequest, onEvent: (type: string, object: unknown) => void, onClose: (error?: unknown) => void): Promise<WatchHandle> {
    this.watchCalls++;
    const failure = this.watchFailures.shift();
    const watch = new FakeWatch(request, onEvent, onClose);
    if (failure === 'hang') return new Promise(() => undefined);
    if (failure) {
      // Like client-node's Watch: a failed request calls done(err), then resolves.
      watch.close(failure);
      return Promise.resolve({ abort: () => undefined });
    }
    this.watches.push(watch);
    return Promise.resolve({
      abort: () => {
        watch.aborted = true;
      },
    });
  }

  /** Creates or updates an object (bumping its resourceVersion) and tells the open watch. */
  apply(obj: T, options: { silent?: boolean } = {}): T {
    const existed = this.objects.has(objectKey(obj));
    const stored = this.put(obj);
    if (!options.silent) this.current?.send(existed ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  }

  /** Deletes an object and tells the open watch. */
  remove(key: string, options: { silent?: boolean } = {}): void {
    const obj = this.objects.get(key);
    if (!obj) return;
    this.objects.delete(key);
    this.rv++;
    const deleted = structuredClone(obj);
    if (deleted.metadata) deleted.metadata.resourceVersion = this.resourceVersion;
    if (!options.silent) this.current?.send('DELETED', deleted);
  }

  /** Sends a bookmark at the current resourceVersion (moved forward by `advance`). */
  bookmark(advance = 0): void {
    this.rv += advance;
    this.current?.send('BOOKMARK', { kind: 'Bookmark', metadata: { resourceVersion: this.resourceVersion } });
  }

  private put(obj: T): T {
    this.rv++;
    const stored = structuredClone(obj);
    stored.metadata = { ...stored.metadata, resourceVersion: this.resourceVersion };
    this.objects.set(objectKey(stored), stored);
    return structuredClone(stored);
  }
}

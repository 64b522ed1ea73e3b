import type { KubeObject } from '../runtime/informer.js';

/**
 * Bridges the gap between our own write and the informer delivering it: after a write the reconciler
 * remembers the object the API server returned, and uses it for as long as the cache still holds the
 * version the write was based on. Without this, the next reconcile acts on a stale object and its
 * write fails with a conflict. An entry goes once the cache moves past that version (observed(), from the
 * informer's update), so a written object is not kept beside the cached one until the object's next reconcile.
 */
export class FreshObjects<T extends KubeObject> {
  private readonly written = new Map<string, { basedOn: string | undefined; object: T }>();

  /** The newest known version of an object read from the cache. */
  resolve(key: string, cached: T): T {
    const entry = this.written.get(key);
    if (entry === undefined) return cached;
    if (cached.metadata?.resourceVersion === entry.basedOn) return entry.object;
    this.written.delete(key);
    return cached;
  }

  remember(key: string, basedOn: T, written: T | undefined): void {
    if (written === undefined) return;
    this.written.set(key, { basedOn: basedOn.metadata?.resourceVersion, object: written });
  }

  /** The cache now holds `resourceVersion` of the object: a write based on an older version is no longer needed. */
  observed(key: string, resourceVersion: string | undefined): void {
    const entry = this.written.get(key);
    if (entry !== undefined && entry.basedOn !== resourceVersion) this.written.delete(key);
  }

  forget(key: string): void {
    this.written.delete(key);
  }

  /** Objects kept (for tests and measurements). */
  size(): number {
    return this.written.size;
  }
}

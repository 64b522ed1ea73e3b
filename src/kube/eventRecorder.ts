import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { truncateUtf8 } from '../text/truncateUtf8.js';

/** events.k8s.io/v1 Event `note`: at most 1 KiB (1024 bytes of UTF-8), or the API server refuses the Event. */
export const MAX_EVENT_NOTE_BYTES = 1024;
/** `reason` and `action`: at most 128 characters each (events.k8s.io/v1 validation). */
const MAX_EVENT_TOKEN_BYTES = 128;

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface EventRecorder {
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, action: string, note: string): void;
}

export interface EventRecorderOptions {
  controller: string;
  instance: string;
  /** The same event for the same object is recorded once per this window. */
  dedupeWindowMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/** RFC 3339 with microseconds: events.k8s.io/v1 eventTime is a MicroTime. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Records events.k8s.io/v1 Events without blocking the reconcile. Cluster-scoped objects get their
 * events in the "default" namespace, as kubectl describe expects.
 */
export class KubeEventRecorder implements EventRecorder {
  private readonly api: CustomObjectsApi;
  private readonly recent = new Map<string, number>();
  private readonly window: number;
  private readonly now: () => number;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: EventRecorderOptions,
  ) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
    this.window = options.dedupeWindowMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
  }

  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, action: string, note: string): void {
    const now = this.now();
    const key = `${target.metadata.uid}|${type}|${reason}|${note}`;
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.window) return;
    this.recent.set(key, now);
    if (this.recent.size > 10_000) {
      for (const [k, t] of this.recent) if (now - t >= this.window) this.recent.delete(k);
    }
    const namespace = target.metadata.namespace ?? 'default';
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${target.metadata.name}.${now.toString(16)}${randomBytes(3).toString('hex')}`, namespace },
      eventTime: microTime(now),
      reportingController: this.options.controller,
      reportingInstance: this.options.instance,
      action: truncateUtf8(action, MAX_EVENT_TOKEN_BYTES),
      reason: truncateUtf8(reason, MAX_EVENT_TOKEN_BYTES),
      note: truncateUtf8(note, MAX_EVENT_NOTE_BYTES),
      type,
      regarding: {
        apiVersion: target.apiVersion,
        kind: target.kind,
        name: target.metadata.name,
        namespace: target.metadata.namespace,
        uid: target.metadata.uid,
        resourceVersion: target.metadata.resourceVersion,
      },
    };
    // Through the generic API so eventTime keeps its microseconds exactly as written.
    this.api
      .createNamespacedCustomObject({ group: 'events.k8s.io', version: 'v1', namespace, plural: 'events', body })
      .catch((err: unknown) => this.options.onError?.(err));
  }
}

// The controller runtime: work queue, informers, controllers.
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { FakeClock, flushPromises, systemClock, type Clock, type TimerHandle } from './clock.js';
export {
  Controller,
  done,
  failed,
  generationChanged,
  requeueAfter,
  type ControllerMetrics,
  type ControllerOptions,
  type EventKind,
  type ReconcileContext,
  type ReconcileOutcome,
  type Reconciler,
  type WatchEvent,
  type WatchOptions,
} from './controller.js';
export {
  Informer,
  WatchStalledError,
  objectKey,
  splitKey,
  stripManagedFields,
  type EventHandlers,
  type EventSource,
  type IndexFunc,
  type InformerOptions,
  type InformerStats,
  type KubeObject,
  type ListResult,
  type ListerWatcher,
  type WatchEventType,
  type WatchHandle,
  type WatchRequest,
} from './informer.js';
export {
  customResourceListerWatcher,
  kubeListerWatcher,
  secretListerWatcher,
  type CustomResourceRef,
  type KubeListerWatcherOptions,
  type ListPage,
  type ListPageRequest,
  type SecretsRef,
  type Selectors,
} from './kubeListerWatcher.js';
export { noopLogger, type Logger } from './logger.js';
export { DEFAULT_RATE_LIMITER, WorkQueue, type RateLimiterOptions, type WorkQueueMetrics, type WorkQueueOptions } from './workqueue.js';

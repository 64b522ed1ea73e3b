// The controller runtime: work queue, informers, controllers. Typical wiring:
//
//   const gpuVms = new Informer<GpuVm>({ listerWatcher: customResourceListerWatcher(kc, { group: GROUP, version: VERSION,
//     plural: GPUVM_PLURAL }), transform: stripManagedFields, logger });
//   gpuVms.addIndex('device', (vm) => [vm.spec.deviceRef.name]);
//   const devices = new Informer<EdgeDevice>({ listerWatcher: customResourceListerWatcher(kc, { group: GROUP,
//     version: VERSION, plural: EDGEDEVICE_PLURAL }), logger });
//   const controller = new Controller({ name: 'gpuvm', concurrency: 4, logger, lowPriorityWhenUnchanged: true,
//     reconcile: async (key, { signal }) => { const vm = gpuVms.get(key); if (!vm) return done(); …;
//       return running ? requeueAfter(retryAfterMs, { priority: 'high' }) : resyncAfter(syncPeriodMs); } })
//     .watches(gpuVms)
//     .watches(devices, { map: (d) => gpuVms.indexKeys('device', d.metadata.name ?? '') });
//   gpuVms.start(); devices.start(); await controller.start();   // workers start once every source has synced
//   …; await controller.stop(25_000); gpuVms.stop(); devices.stop();
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export {
  Controller,
  done,
  failed,
  generationChanged,
  requeueAfter,
  resyncAfter,
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
export {
  DEFAULT_RATE_LIMITER,
  PRIORITIES,
  WorkQueue,
  type Handout,
  type Priority,
  type RateLimiterOptions,
  type WorkQueueMetrics,
  type WorkQueueOptions,
} from './workqueue.js';

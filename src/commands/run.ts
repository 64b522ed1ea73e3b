import { KubeConfig } from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { Manager } from '../manager.js';
import { createLogger } from '../observability/logger.js';
import { DEFAULT_PLAN_SETTINGS } from '../plan/gpuVmPlan.js';
import { parseDuration } from './duration.js';

export const RUN_USAGE = `usage: gpuvm-controller run [flags]

  --kubeconfig PATH        kubeconfig to use (default: $KUBECONFIG, then in-cluster)
  --concurrency N          parallel reconciles per controller (default 4)
  --sync-period DURATION   how often each device's VMs are listed for drift and foreign VMs (default 10m)
  --poll-interval DURATION how often in-flight ARM operations are checked without a Retry-After (default 15s)
  --retry-base DURATION    first retry delay after a retryable ARM failure, doubling to 5m (default 15s)
  --kubernetes-settle DURATION
                           a device's GpuVms must be quiet this long before its Kubernetes role is
                           created, so GpuVms applied together with the device get their GPUs first (default 10s)
  --log-level LEVEL        fatal, error, warn, info, debug, trace or silent (default info)
  --namespace NS           manage GpuVms (and read Secrets) in this namespace only (default: all namespaces)
  --device-selector SEL    manage only EdgeDevices matching this label selector, e.g. shard=a (default: all)
`;

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      concurrency: { type: 'string', default: '4' },
      'sync-period': { type: 'string', default: '10m' },
      'poll-interval': { type: 'string', default: '15s' },
      'retry-base': { type: 'string', default: '15s' },
      'log-level': { type: 'string', default: 'info' },
      'kubernetes-settle': { type: 'string', default: '10s' },
      namespace: { type: 'string' },
      'device-selector': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  const level = values['log-level'];
  if (!LEVELS.includes(level)) throw new Error(`--log-level: "${level}" is not one of ${LEVELS.join(', ')}`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency: "${values.concurrency}" must be a whole number of at least 1`);

  const log = createLogger(level as LevelWithSilent);
  const kubeConfig = new KubeConfig();
  if (values.kubeconfig !== undefined) kubeConfig.loadFromFile(values.kubeconfig);
  else kubeConfig.loadFromDefault();

  const manager = new Manager({
    kubeConfig,
    log,
    concurrency,
    syncPeriodMs: parseDuration(values['sync-period'], '--sync-period'),
    kubernetesSettleMs: parseDuration(values['kubernetes-settle'], '--kubernetes-settle'),
    plan: {
      ...DEFAULT_PLAN_SETTINGS,
      pollIntervalMs: parseDuration(values['poll-interval'], '--poll-interval'),
      retryBaseMs: parseDuration(values['retry-base'], '--retry-base'),
    },
    instance: process.env.POD_NAME ?? hostname(),
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
    ...(values['device-selector'] !== undefined ? { deviceSelector: values['device-selector'] } : {}),
  });

  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      void manager.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log.info({ server: kubeConfig.getCurrentCluster()?.server }, 'starting');
  await manager.start();
  await stopped;
  log.info({}, 'stopped');
  return 0;
}

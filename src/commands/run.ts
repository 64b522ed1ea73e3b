import { PooledKubeConfig } from '../kube/pooledKubeConfig.js';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { Manager } from '../manager.js';
import { createLogger } from '../observability/logger.js';
import { secureMetrics } from '../observability/secureMetrics.js';
import { startObservability } from '../observability/wiring.js';
import { DEFAULT_PLAN_SETTINGS } from '../plan/gpuVmPlan.js';
import {
  KubeLeaseStore,
  LEADER_ELECTION_DEFAULTS,
  LEADER_ELECTION_LEASE_NAME,
  LeaderElector,
  defaultLeaderElectionNamespace,
  leaderIdentity,
} from '../runtime/leaderElection.js';
import { DEFAULT_CONTROLLER_NAMESPACE } from '../reconcile/deviceConnections.js';
import { DeviceBudgets } from '../azure/deviceBudget.js';
import { DEVICE_BUDGET_USAGE, deviceBudgetLimits } from './deviceBudgetFlags.js';
import { registerShardMetrics } from '../observability/shardMetrics.js';
import { SHARD_LEASE_LABELS, shardIdentity, shardLease } from '../runtime/shardLease.js';
import { KubeShardLeaseLister, ShardMembership } from '../runtime/shardMembership.js';
import { parseDuration } from './duration.js';

export const RUN_USAGE = `usage: gpuvm-controller run [flags]

  --kubeconfig PATH                  kubeconfig to use (default: $KUBECONFIG, then in-cluster)
  --concurrency N                    parallel reconciles per controller (default 16)
  --leader-elect                     compete for a Lease; only the leader reconciles (default off)
  --leader-elect-namespace NS        namespace of the Lease (default: the pod's namespace, else gpuvm-system)
  --leader-elect-lease-duration D    how long a standby waits after the lease last changed (default 15s)
  --leader-elect-renew-deadline D    the leader stops when it could not renew for this long (default 10s)
  --leader-elect-retry-period D      time between acquire/renew attempts (default 2s)
  --metrics-bind-address ADDR        Prometheus /metrics, e.g. :8080 or 127.0.0.1:8080; 0 disables (default :8080)
  --metrics-secure                   serve /metrics over HTTPS, only to callers whose bearer token a TokenReview
                                     authenticates and a SubjectAccessReview allows to get /metrics (default off)
  --metrics-cert-dir DIR             tls.crt and tls.key for --metrics-secure (default: a self-signed certificate)
  --health-probe-bind-address ADDR   /healthz and /readyz (default :8081; 0 disables)
  --sync-period DURATION             how often each device's VMs are listed for drift and foreign VMs (default 10m)
  --poll-interval DURATION           how often in-flight ARM operations are checked without a Retry-After (default 15s)
  --retry-base DURATION              first retry delay after a retryable ARM failure, doubling to 5m (default 15s)
  --recheck-interval DURATION        how often a GpuVm waiting on something no Kubernetes event announces (an image
                                     upload, a GPU freed on the device) looks again (default 60s)
  --kubernetes-settle DURATION       a device's GpuVms must be quiet this long before its Kubernetes role is
                                     created, so GpuVms applied together with the device get their GPUs first (default 10s)
  --drain-timeout DURATION          how long spec.drain may keep GPU VMs stopped on a device where compute runs
                                     (compute may take a stopped VM's GPU); they start again after it (default 1h)
  --log-level LEVEL                  fatal, error, warn, info, debug, trace or silent (default info)
  --namespace NS                     manage GpuVms in this namespace only (default: all namespaces)
  --controller-namespace NS          the only namespace EdgeDevice Secrets (credentials, CA bundles) are read from
                                     (default: $POD_NAMESPACE, else gpuvm-system)
  --azure-authority-host HOST        an authority host, besides the Azure clouds', that the controller's own Azure
                                     identity may be sent to when an EdgeDevice has no spec.azure.credentialsSecretRef
                                     (repeatable; default: none)
  --device-selector SEL              manage only EdgeDevices matching this label selector, e.g. shard=a (default: all)
  --sharding                         every replica works: each holds a Lease of its own in the controller namespace
                                     and acts only on the EdgeDevices (and their GpuVms) that hash to it over the
                                     live replicas; EdgeDevice status.shard names the owner (default off; not
                                     together with --leader-elect)
  --shard-lease-duration D           how long a replica's Lease lives unrenewed before its devices move (default 15s)
  --shard-renew-deadline D           a replica that could not renew its Lease for this long exits (default 10s)
  --shard-retry-period D             time between renewals and membership lists (default 2s)
${DEVICE_BUDGET_USAGE}`;

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      concurrency: { type: 'string', default: '16' },
      'leader-elect': { type: 'boolean', default: false },
      'leader-elect-namespace': { type: 'string' },
      'leader-elect-lease-duration': { type: 'string', default: '15s' },
      'leader-elect-renew-deadline': { type: 'string', default: '10s' },
      'leader-elect-retry-period': { type: 'string', default: '2s' },
      'metrics-bind-address': { type: 'string', default: ':8080' },
      'metrics-secure': { type: 'boolean', default: false },
      'metrics-cert-dir': { type: 'string' },
      'health-probe-bind-address': { type: 'string', default: ':8081' },
      'sync-period': { type: 'string', default: '10m' },
      'poll-interval': { type: 'string', default: '15s' },
      'recheck-interval': { type: 'string', default: '60s' },
      'retry-base': { type: 'string', default: '15s' },
      'kubernetes-settle': { type: 'string', default: '10s' },
      'drain-timeout': { type: 'string', default: '1h' },
      'log-level': { type: 'string', default: 'info' },
      namespace: { type: 'string' },
      'controller-namespace': { type: 'string' },
      'azure-authority-host': { type: 'string', multiple: true },
      'device-selector': { type: 'string' },
      'device-read-rate': { type: 'string' },
      'device-read-burst': { type: 'string' },
      'device-write-rate': { type: 'string' },
      'device-write-burst': { type: 'string' },
      sharding: { type: 'boolean', default: false },
      'shard-lease-duration': { type: 'string', default: '15s' },
      'shard-renew-deadline': { type: 'string', default: '10s' },
      'shard-retry-period': { type: 'string', default: '2s' },
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
  const leaderElect = values['leader-elect'];
  const election = {
    leaseDurationMs: parseDuration(values['leader-elect-lease-duration'], '--leader-elect-lease-duration'),
    renewDeadlineMs: parseDuration(values['leader-elect-renew-deadline'], '--leader-elect-renew-deadline'),
    retryPeriodMs: parseDuration(values['leader-elect-retry-period'], '--leader-elect-retry-period'),
  };
  if (election.renewDeadlineMs >= election.leaseDurationMs) {
    throw new Error('--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration');
  }

  const sharding = values.sharding;
  // Nothing in sharded mode must be single, so no replica waits for a leader lease.
  if (sharding && leaderElect) throw new Error('--sharding and --leader-elect exclude each other: in sharded mode every replica works');
  const shardTimings = {
    leaseDurationMs: parseDuration(values['shard-lease-duration'], '--shard-lease-duration'),
    renewDeadlineMs: parseDuration(values['shard-renew-deadline'], '--shard-renew-deadline'),
    retryPeriodMs: parseDuration(values['shard-retry-period'], '--shard-retry-period'),
  };
  if (shardTimings.renewDeadlineMs >= shardTimings.leaseDurationMs) throw new Error('--shard-renew-deadline must be shorter than --shard-lease-duration');
  const identity = shardIdentity();

  const controllerNamespace = values['controller-namespace'] ?? (process.env.POD_NAMESPACE || DEFAULT_CONTROLLER_NAMESPACE);
  const extraAuthorityHosts = (values['azure-authority-host'] ?? []).map((host) => {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d+)?$/i.test(host)) throw new Error(`--azure-authority-host: "${host}" must be a host name such as login.example.com, without a scheme or path`);
    return host.replace(/:\d+$/, '').toLowerCase();
  });
  const budgetLimits = deviceBudgetLimits(values);

  const log = createLogger(level as LevelWithSilent);
  // One pool of API server connections for the whole process (see PooledKubeConfig).
  const kubeConfig = new PooledKubeConfig();
  if (values.kubeconfig !== undefined) kubeConfig.loadFromFile(values.kubeconfig);
  else kubeConfig.loadFromDefault();

  const observability = await startObservability({
    metricsBindAddress: values['metrics-bind-address'],
    ...(values['metrics-secure']
      ? { secureMetrics: secureMetrics(kubeConfig, { hostname: hostname(), ...(values['metrics-cert-dir'] !== undefined ? { certDir: values['metrics-cert-dir'] } : {}) }) }
      : {}),
    healthBindAddress: values['health-probe-bind-address'],
    log,
    leaderElect,
    leaseName: LEADER_ELECTION_LEASE_NAME,
  });
  let ownLease: LeaderElector | undefined;
  const membership = sharding
    ? new ShardMembership({
      lister: new KubeShardLeaseLister(kubeConfig),
      namespace: controllerNamespace,
      identity,
      retryPeriodMs: shardTimings.retryPeriodMs,
      leaseDurationMs: shardTimings.leaseDurationMs,
      logger: log,
      onRefresh: () => manager.shards?.evaluateAll(),
    })
    : undefined;
  const manager: Manager = new Manager({
    kubeConfig,
    log,
    concurrency,
    syncPeriodMs: parseDuration(values['sync-period'], '--sync-period'),
    kubernetesSettleMs: parseDuration(values['kubernetes-settle'], '--kubernetes-settle'),
    drainTimeoutMs: parseDuration(values['drain-timeout'], '--drain-timeout'),
    plan: {
      ...DEFAULT_PLAN_SETTINGS,
      pollIntervalMs: parseDuration(values['poll-interval'], '--poll-interval'),
      retryBaseMs: parseDuration(values['retry-base'], '--retry-base'),
      recheckMs: parseDuration(values['recheck-interval'], '--recheck-interval'),
    },
    instance: process.env.POD_NAME ?? hostname(),
    controllerMetrics: observability.controllerMetrics,
    queueMetrics: observability.queueMetrics,
    armPolicy: observability.armPolicy,
    deviceBudgets: new DeviceBudgets({ limits: budgetLimits, metrics: observability.metrics.deviceBudgetMetrics() }),
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
    controllerNamespace,
    extraAuthorityHosts,
    ...(values['device-selector'] !== undefined ? { deviceSelector: values['device-selector'] } : {}),
    ...(membership !== undefined
      ? {
        sharding: { identity, membership, leaseHeld: () => ownLease?.isLeader() === true },
        // Tells the replicas' requests apart on the device side (ARM logs, the simulator's audit).
        userAgentPrefix: `gpuvm-controller shard/${identity}`,
      }
      : {}),
  });
  observability.attach(manager);
  if (manager.shards !== undefined) registerShardMetrics(observability.registry, manager.shards);
  log.info({ server: kubeConfig.getCurrentCluster()?.server, leaderElect, sharding, ...(sharding ? { identity } : {}), controllerNamespace, deviceBudget: budgetLimits }, 'starting');

  let elector: LeaderElector | undefined;
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      // Reconciles finish first; only then is the lease released so a standby takes over at once.
      void (async () => {
        await manager.stop();
        membership?.stop();
        await ownLease?.stop({ release: true });
        await elector?.stop({ release: true });
      })().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    if (leaderElect) {
      elector = new LeaderElector({
        store: new KubeLeaseStore(kubeConfig),
        lockName: LEADER_ELECTION_LEASE_NAME,
        namespace: values['leader-elect-namespace'] ?? defaultLeaderElectionNamespace(),
        identity: leaderIdentity(),
        ...LEADER_ELECTION_DEFAULTS,
        ...election,
        logger: log,
        onStartedLeading: async () => {
          observability.setLeader(true);
          log.info({}, 'became leader');
          await manager.startControllers();
        },
        onStoppedLeading: (reason) => {
          observability.setLeader(false);
          if (reason === 'stopped') return;
          // Another replica may already lead: no write of this process may follow, not even one of a reconcile
          // in flight, so the process exits now (as controller-runtime does) and the pod restarts clean.
          log.error({ reason }, 'lost the leader lease; exiting');
          process.exit(1);
        },
        onNewLeader: (identity) => log.info({ leader: identity }, 'leader observed'),
      });
      manager.startInformers();
      void elector.run();
    }
    if (membership !== undefined) {
      ownLease = shardLease({
        store: new KubeLeaseStore(kubeConfig, SHARD_LEASE_LABELS),
        namespace: controllerNamespace,
        identity,
        ...shardTimings,
        logger: log,
        onHeld: async () => {
          log.info({ identity }, 'holding shard lease');
          membership.start();
          await manager.startControllers();
        },
        onLost: (reason) => {
          if (reason === 'stopped') return;
          // Past the renew deadline the others may soon judge this replica gone and take its devices: no write of
          // this process may follow, not even one of a reconcile in flight, so it exits (as a lost leader does).
          log.error({ reason }, 'lost the shard lease; exiting');
          process.exit(1);
        },
      });
      manager.startInformers();
      void ownLease.run();
    }
  });
  if (!leaderElect && !sharding) await manager.start();
  await stopped;
  await observability.close();
  log.info({}, 'stopped');
  return 0;
}

// The scale scenarios: converge (with floor ratios, steady state and, optionally, a restart) and capacity pressure.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../src/commands/duration.ts';
import type { AuditEntry } from '../../src/simulator/index.ts';
import { diffCounts, isWriteKey, scrapeRequestCounts, total, withoutCode, type RequestCounts } from './apiserverRequests.ts';
import { armByReplica, byOperation, deploymentPutsByUid, firstVmDeploymentPut, isArmRead, isArmWrite, isIdentity, percentile } from './armAudit.ts';
import { readBaseline, writeBaseline, type Numbers } from './baseline.ts';
import { replicaComparison } from './replicaComparison.ts';
import { sumSamples } from '../../src/observability/prometheusText.ts';
import { BenchEnvironment, NAMESPACE } from './benchEnvironment.ts';
import { ControllerFleet } from './controllerFleet.ts';
import { GpuVmTracker } from './gpuVmTracker.ts';
import type { ProcessUsage } from './processUsage.ts';
import { baselineTable, countsTable, fixed, heading, line, mib } from './scaleReport.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BASELINE = join(ROOT, 'bench', 'baseline.json');
// What the controller reads and writes (no leases: the bench runs it without leader election, and the
// apiserver renews its own identity lease every 10 s).
const RESOURCES = ['gpuvms', 'edgedevices', 'secrets', 'events'];
// Sharded, the replicas' own bookkeeping too: their Leases (renewed and listed every retry period; the apiserver's
// own identity Lease renewals are in the same counter) and the EdgeDevice status.shard claims and releases (the
// only PATCHes of edgedevices/status: the device status itself is PUT).
const SHARDED_RESOURCES = [...RESOURCES, 'leases'];
const isShardBookkeeping = (key: string): boolean => key.startsWith('leases ') || withoutCode(key) === 'edgedevices/status PATCH';
/** kube-apiserver's --identity-lease-renew-interval-seconds default: its own Lease PUT, in the leases counter. */
const APISERVER_LEASE_RENEW_S = 10;
const GPUVM_WRITES = (key: string) => key.startsWith('gpuvms') && isWriteKey(key) && !withoutCode(key).endsWith(' POST');

interface Scenario {
  name: string;
  description: string;
  devices: number;
  perDevice: number;
  steadyState: boolean;
  /** The shortened sync period of the steady-state window unless --sync-period is given. */
  steadySyncPeriodMs: number;
  restart: boolean;
  capacity: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'converge-1k', description: '1,000 GpuVms on 500 two-GPU devices', devices: 500, perDevice: 2, steadyState: true, steadySyncPeriodMs: 20_000, restart: false, capacity: false },
  // 5,000 device listings per period cost the controller 15–20 CPU s (docs/BENCHMARKS.md): a 20 s period
  // would keep its one core busy with nothing but periodic lists, so this fleet's window uses 60 s.
  { name: 'converge-10k', description: '10,000 GpuVms on 5,000 two-GPU devices', devices: 5000, perDevice: 2, steadyState: true, steadySyncPeriodMs: 60_000, restart: true, capacity: false },
  { name: 'capacity', description: '3 GpuVms on each of 500 two-GPU devices', devices: 500, perDevice: 3, steadyState: false, steadySyncPeriodMs: 20_000, restart: false, capacity: true },
];

interface Settings {
  scale: number;
  /** --sync-period; undefined = each scenario's own. */
  syncPeriodMs: number | undefined;
  periods: number;
  vmCreateMs: number;
  extensionMs: number;
  retryAfterSeconds: number;
  latencyMs: number;
  /** The simulated devices' idle-connection timeout (ms; an assumed device value). */
  keepAliveMs: number;
  /** Controller --concurrency; undefined = the controller's default. */
  concurrency: number | undefined;
  updateBaseline: boolean;
  logLevel: string;
  cpuProfile: boolean;
  /** Controller --max-old-space-size; undefined = what Node derives from the machine's memory. */
  heapLimitMiB: number | undefined;
  /** Wait this long after converging and read the live heap again (devices' clients dropped when idle); 0 = not. */
  idleHeapMs: number;
  /** After the live heap (and the idle one): print where it goes, from a heap snapshot of the (first) controller. */
  heapSummary: boolean;
  /** Controller processes; more than one run sharded (--sharding). */
  replicas: number;
}

const USAGE = `npm run bench [-- options]
  --scenario NAME        converge-1k | converge-10k | capacity (repeatable; default: all)
  --scale F              multiply device counts by F (default 1), e.g. 0.1 for a quick look
  --sync-period D        controller --sync-period for the steady-state window (default 20s; 60s for converge-10k)
  --periods N            resync periods measured in steady state (default 10)
  --vm-create D          simulated CreateVM deployment time (default 1s)
  --extension D          simulated GPU driver install time (default 1s)
  --latency D            added latency on every simulated ARM request (default 0ms)
  --keep-alive D         how long the simulated devices keep an idle connection open (default 5s; a real device's
                         value is not published)
  --concurrency N        controller --concurrency (default: the controller's own default)
  --log-level L          controller --log-level (default info)
  --cpu-prof             each controller writes a V8 CPU profile to <scenario dir>/cpu-profiles when stopped
  --controller-heap MiB  limit the controller's V8 heap (256 is what Node gives it under a 512Mi memory limit)
  --idle-heap D          after converging, wait D (e.g. 3m) and read the controller's live heap again
  --heap-summary         then print where the live heap goes: a heap snapshot's objects by constructor (the
                         snapshot is kept in the scenario directory; too large to take beyond about 1,500 devices)
  --replicas N[,M...]    controller processes (default 1); N > 1 run sharded (--sharding, needs --log-level info or
                         debug), each reported on its own and summed; results and baseline as "<scenario>/N-replicas".
                         Several counts run each scenario once per count, in order, and end with a comparison table
  Results and baseline entries of a run at a scale other than 1 are named "<scenario>/scale-F"
  --update-baseline      write this run's headline numbers to bench/baseline.json`;

function settingsFrom(argv: string[]): { settings: Settings; scenarios: Scenario[]; replicaCounts: number[] } {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', multiple: true },
      scale: { type: 'string', default: '1' },
      'sync-period': { type: 'string' },
      periods: { type: 'string', default: '10' },
      'vm-create': { type: 'string', default: '1s' },
      extension: { type: 'string', default: '1s' },
      latency: { type: 'string', default: '0ms' },
      'keep-alive': { type: 'string', default: '5s' },
      concurrency: { type: 'string' },
      'update-baseline': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
      'cpu-prof': { type: 'boolean', default: false },
      'controller-heap': { type: 'string' },
      'idle-heap': { type: 'string', default: '0ms' },
      'heap-summary': { type: 'boolean', default: false },
      replicas: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const names = values.scenario ?? SCENARIOS.map((s) => s.name);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`--scenario ${unknown.join(', ')}: unknown; choose from ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const scale = Number(values.scale);
  if (!(scale > 0)) throw new Error(`--scale ${values.scale}: expected a positive number`);
  const replicaCounts = values.replicas.split(',').map((r) => Number(r.trim()));
  if (replicaCounts.some((r) => !Number.isInteger(r) || r < 1)) throw new Error(`--replicas ${values.replicas}: expected whole numbers ≥ 1, separated by commas`);
  // The bench learns that a replica holds its shard Lease from the info line it logs.
  if (replicaCounts.some((r) => r > 1) && !['info', 'debug', 'trace'].includes(values['log-level'])) throw new Error(`--replicas ${values.replicas} needs --log-level info, debug or trace`);
  return {
    scenarios: SCENARIOS.filter((s) => names.includes(s.name)),
    replicaCounts,
    settings: {
      scale,
      syncPeriodMs: values['sync-period'] === undefined ? undefined : parseDuration(values['sync-period'], '--sync-period'),
      periods: Number(values.periods),
      vmCreateMs: parseDuration(values['vm-create'], '--vm-create'),
      extensionMs: parseDuration(values.extension, '--extension'),
      retryAfterSeconds: 1,
      latencyMs: parseDuration(values.latency, '--latency'),
      keepAliveMs: parseDuration(values['keep-alive'], '--keep-alive'),
      concurrency: values.concurrency === undefined ? undefined : Number(values.concurrency),
      updateBaseline: values['update-baseline'],
      logLevel: values['log-level'],
      cpuProfile: values['cpu-prof'],
      heapLimitMiB: values['controller-heap'] === undefined ? undefined : Number(values['controller-heap']),
      idleHeapMs: parseDuration(values['idle-heap'], '--idle-heap'),
      heapSummary: values['heap-summary'],
      replicas: replicaCounts[0] ?? 1,
    },
  };
}

/** Constructors shown by --heap-summary. */
const HEAP_SUMMARY_ROWS = 20;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number): number => ms / 1000;
const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
/** One value per replica: "a / b / c". */
const each = (values: readonly number[], format: (n: number) => string): string => values.map(format).join(' / ');
const MiB = 1024 * 1024;

async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, progress?: () => string): Promise<number> {
  const started = Date.now();
  let lastProgress = started;
  for (;;) {
    if (await check()) return Date.now();
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${seconds(timeoutMs)} s waiting for ${what}${progress ? ` (${progress()})` : ''}`);
    if (progress !== undefined && Date.now() - lastProgress >= 15_000) {
      lastProgress = Date.now();
      console.log(`  … ${fixed(seconds(Date.now() - started), 0)} s: ${progress()}`);
    }
    await sleep(200);
  }
}

class ScenarioRun {
  readonly numbers: Numbers = {};
  private readonly devices: number;
  private readonly gpuVms: number;
  private env!: BenchEnvironment;
  private fleet!: ControllerFleet;
  private tracker!: GpuVmTracker;

  constructor(
    private readonly scenario: Scenario,
    private readonly settings: Settings,
    private readonly workDir: string,
  ) {
    this.devices = Math.max(1, Math.round(scenario.devices * settings.scale));
    this.gpuVms = this.devices * scenario.perDevice;
  }

  /** Converging and the restart use the controller's default sync period; the steady-state window the short one. */
  private controllerArgs(syncPeriodMs?: number): string[] {
    const s = this.settings;
    return [...(syncPeriodMs !== undefined ? ['--sync-period', `${syncPeriodMs}ms`] : []), '--poll-interval', `${s.retryAfterSeconds}s`, '--retry-base', '1s', ...(s.concurrency !== undefined ? ['--concurrency', String(s.concurrency)] : []), '--log-level', s.logLevel];
  }

  private startFleet(syncPeriodMs?: number): Promise<ControllerFleet> {
    const { cpuProfile, heapLimitMiB, replicas } = this.settings;
    return ControllerFleet.start(this.env, this.controllerArgs(syncPeriodMs), { replicas, devices: this.devices, cpuProfile, heapLimitMiB });
  }

  private get sharded(): boolean {
    return this.settings.replicas > 1;
  }

  private get resources(): string[] {
    return this.sharded ? SHARDED_RESOURCES : RESOURCES;
  }

  /** Sharded: the Lease and status.shard requests among `counts`, shown as a table of their own. */
  private shardBookkeeping(counts: RequestCounts, windowMs: number, per: number, unit: string): RequestCounts {
    const bookkeeping = new Map([...counts].filter(([key]) => isShardBookkeeping(key)));
    countsTable('of which shard bookkeeping (Leases; EdgeDevice status.shard claims and releases)', bookkeeping, per, unit);
    line("  the apiserver's own Lease PUTs among them", `≈${Math.round(seconds(windowMs) / APISERVER_LEASE_RENEW_S)} (one per ${APISERVER_LEASE_RENEW_S} s)`);
    return bookkeeping;
  }

  private audit(sinceSeq: number): AuditEntry[] {
    return this.env.sim.audit({ since: sinceSeq });
  }

  private lastSeq(): number {
    return this.env.sim.audit().at(-1)?.seq ?? 0;
  }

  async run(): Promise<Numbers> {
    const { scenario, settings } = this;
    heading(`${scenario.name}: ${this.gpuVms} GpuVms on ${this.devices} two-GPU devices${settings.scale !== 1 ? ` (scale ${settings.scale})` : ''}${this.sharded ? `, ${settings.replicas} sharded replicas` : ''}`);
    const setupStarted = Date.now();
    this.env = await BenchEnvironment.start({
      devices: this.devices,
      timings: { vmCreateMs: settings.vmCreateMs, extensionMs: settings.extensionMs, retryAfterSeconds: settings.retryAfterSeconds },
      keepAliveTimeoutMs: settings.keepAliveMs,
      workDir: this.workDir,
    });
    try {
      if (settings.latencyMs > 0) this.env.sim.addFault({ operation: '*', kind: 'latency', latencyMs: settings.latencyMs });
      line('setup (control plane, CRDs, simulator)', `${fixed(seconds(Date.now() - setupStarted), 1)} s; logs in ${this.workDir}`);
      this.tracker = new GpuVmTracker(this.env.kubeConfig, NAMESPACE);
      await this.tracker.start();
      this.fleet = await this.startFleet();
      await this.converge();
      if (scenario.steadyState) await this.steadyState();
      if (scenario.restart) await this.restart();
      const usages = await this.fleet.stop();
      if (usages.every((u) => u !== undefined)) this.numbers.controllerCpuSecondsTotal = sum(usages.map((u) => u.cpuSeconds));
      // The whole ARM conversation, for looking into a number: one JSON line per request.
      writeFileSync(join(this.workDir, 'arm-audit.jsonl'), this.env.sim.audit().map((e) => JSON.stringify(e)).join('\n'));
      const violations = this.env.sim.violations();
      line('simulator invariant violations', String(violations.length));
      if (violations.length > 0) throw new Error(`simulator invariant violations: ${JSON.stringify(violations.slice(0, 5))}`);
    } finally {
      this.tracker.stop();
      await this.env.stop();
    }
    return this.numbers;
  }

  private async converge(): Promise<void> {
    const { env, tracker, scenario, settings } = this;
    const seq0 = this.lastSeq();
    const requests0 = await scrapeRequestCounts(env.access, this.resources);
    const requests0At = Date.now();
    this.trackerAtSnapshot = this.tracker.informerRequests();
    const creates0 = new Map(env.tally.counts);
    const cpu0 = this.fleet.usage().map((u) => u.cpuSeconds);
    const benchCpu0 = process.cpuUsage();
    const t0 = Date.now();
    await env.createDevices();
    const devicesApplied = Date.now();
    const names = await env.createGpuVms(scenario.perDevice, tracker);
    const applied = Date.now();
    line('apply: Secrets + EdgeDevices', `${fixed(seconds(devicesApplied - t0), 1)} s`);
    line('apply: GpuVms', `${fixed(seconds(applied - devicesApplied), 1)} s`);

    const progress = () => {
      const u = this.fleet.usage();
      return `${tracker.readyCount}/${names.length} Ready, controller ${fixed(sum(u.map((x) => x.cpuSeconds)), 0)} CPU s, RSS ${mib(sum(u.map((x) => x.rssBytes)))}`;
    };
    let waitingDone: number | undefined;
    if (scenario.capacity) {
      // Per device, the GpuVm that did not get a GPU: waiting with its reason.
      waitingDone = await until('every device to have a waiting GpuVm with its reason', 30 * 60_000, () => this.waitingPerDevice() === this.devices, progress);
      line('until every waiting GpuVm has its reason', `${fixed(seconds(waitingDone - t0), 1)} s after the first apply`);
      this.numbers.waitingReasonSeconds = seconds(waitingDone - t0);
    }
    const readyTarget = scenario.capacity ? this.devices * 2 : names.length;
    const converged = await until(`${readyTarget} GpuVms Ready`, 60 * 60_000, () => tracker.readyCount >= readyTarget, progress);
    // Status writes trail the Ready transition by at most one reconcile; let the last ones land before counting.
    await until('the controller to go idle', 5 * 60_000, () => this.fleet.caughtUp(0, 0));
    await sleep(1000);
    const requests1 = await scrapeRequestCounts(env.access, this.resources);
    const requestsWindowMs = Date.now() - requests0At;
    const usage = this.fleet.usage();
    const benchCpu = process.cpuUsage(benchCpu0);
    const entries = this.audit(seq0);
    const cpu = usage.map((u, i) => u.cpuSeconds - (cpu0[i] ?? 0));
    const peakRss = usage.map((u) => u.peakRssBytes);

    line('wall time to converge (first apply → all Ready)', `${fixed(seconds(converged - t0), 1)} s`);
    if (this.sharded) {
      line('controller CPU, all replicas (each)', `${fixed(sum(cpu), 1)} s (${each(cpu, (n) => fixed(n, 1))} s)`);
      line('controller peak RSS, all replicas (each)', `${mib(sum(peakRss))} (${each(peakRss, mib)})`);
      line('devices owned per replica (gpuvm_shard_owned_devices)', each(await this.fleet.ownedDevices(), String));
    } else {
      line('controller CPU', `${fixed(sum(cpu), 1)} s`);
      line('controller peak RSS', mib(sum(peakRss)));
    }
    line('bench process CPU (simulator, apply, watch)', `${fixed((benchCpu.user + benchCpu.system) / 1e6, 1)} s`);
    const liveHeap = await this.fleet.liveHeapBytes();
    this.printLiveHeap('controller live heap (after a full GC), per device', liveHeap);
    this.numbers.controllerLiveHeapMiB = sum(liveHeap) / MiB;
    if (this.sharded) this.numbers.controllerLiveHeapMiBMaxReplica = Math.max(...liveHeap) / MiB;
    if (settings.idleHeapMs > 0) {
      // With the default sync period, devices list their VMs 10 to 11 minutes apart: in between they have no work.
      await sleep(settings.idleHeapMs);
      const idleHeap = await this.fleet.liveHeapBytes();
      this.printLiveHeap(`controller live heap ${fixed(seconds(settings.idleHeapMs), 0)} s later, per device`, idleHeap);
      this.numbers.controllerIdleLiveHeapMiB = sum(idleHeap) / MiB;
    }
    if (settings.heapSummary) await this.printHeapSummary();
    this.numbers.convergeSeconds = seconds(converged - t0);
    this.numbers.applySeconds = seconds(applied - t0);
    // Sharded, the fleet's cost (sums) and what the busiest replica took.
    this.numbers.controllerCpuSeconds = sum(cpu);
    this.numbers.controllerPeakRssMiB = sum(peakRss) / MiB;
    if (this.sharded) {
      this.numbers.controllerCpuSecondsMaxReplica = Math.max(...cpu);
      this.numbers.controllerPeakRssMiBMaxReplica = Math.max(...peakRss) / MiB;
    }

    await this.printWorkQueues(names.length);
    const arm = entries.filter((e) => !isIdentity(e));
    countsTable('ARM requests (simulator audit), by operation', byOperation(entries), names.length, 'GpuVm');
    if (this.sharded) line('ARM requests per replica (by user agent)', [...armByReplica(arm)].map(([replica, n]) => `${replica}: ${n}`).join(', '));
    const own = this.benchOwnRequestsSince();
    for (const [key, n] of env.tally.counts) own.set(key, n - (creates0.get(key) ?? 0));
    const apiserver = diffCounts(requests1, requests0, own);
    countsTable(`apiserver requests by the controller${this.sharded ? ' (all replicas)' : ''} (apiserver_request_total − the bench's own), by resource and verb`, apiserver, names.length, 'GpuVm');
    if (this.sharded) this.numbers.apiserverShardBookkeepingPerGpuVm = total(this.shardBookkeeping(apiserver, requestsWindowMs, names.length, 'GpuVm')) / names.length;

    // Apply → first ARM PUT (the CreateVM deployment) of each GpuVm that got a GPU.
    const firstPut = firstVmDeploymentPut(entries);
    const latencies = [...tracker.records.values()]
      .flatMap((r) => {
        const put = firstPut.get(r.uid);
        return put !== undefined && r.appliedAt !== undefined ? [put - r.appliedAt] : [];
      })
      .sort((a, b) => a - b);
    line('apply → first ARM PUT, p50 / p99', `${fixed(percentile(latencies, 0.5), 0)} ms / ${fixed(percentile(latencies, 0.99), 0)} ms (${latencies.length} GpuVms)`);
    this.numbers.applyToPutP50Ms = percentile(latencies, 0.5);
    this.numbers.applyToPutP99Ms = percentile(latencies, 0.99);

    const ready = [...tracker.records.values()].filter((r) => r.readyAt !== undefined);
    if (scenario.capacity) {
      const waiting = [...tracker.records.values()].filter((r) => r.waitingAt !== undefined && r.readyAt === undefined);
      const puts = deploymentPutsByUid(entries);
      const waitingPuts = waiting.reduce((n, r) => n + (puts.get(r.uid) ?? 0), 0);
      const reasons = new Map<string, number>();
      for (const r of waiting) reasons.set(r.waitingReason ?? '(none)', (reasons.get(r.waitingReason ?? '(none)') ?? 0) + 1);
      line('waiting GpuVms (reason: count)', [...reasons].map(([k, v]) => `${k}: ${v}`).join(', '));
      line('ARM deployment PUTs for waiting GpuVms', String(waitingPuts));
      this.numbers.waitingGpuVms = waiting.length;
      this.numbers.waitingDeploymentPuts = waitingPuts;
      return;
    }

    // Floor: two deployment PUTs, their status polls at the simulator's Retry-After, and one NIC read (the IP).
    const polls = (ms: number) => Math.max(1, Math.ceil(ms / (settings.retryAfterSeconds * 1000)));
    const floor = 2 + polls(settings.vmCreateMs) + polls(settings.extensionMs) + 1;
    const armPerVm = arm.length / ready.length;
    line('ARM requests per converged GpuVm (identity excluded)', `${fixed(armPerVm)} (floor ${floor}) → ratio ${fixed(armPerVm / floor)}`);
    this.numbers.armPerGpuVm = armPerVm;
    this.numbers.armFloorRatio = armPerVm / floor;

    const transitions = ready.reduce((n, r) => n + (r.statusStates - 1), 0) / ready.length;
    const gpuVmWrites = total(apiserver, GPUVM_WRITES) / ready.length;
    line('GpuVm writes per GpuVm ÷ (status transitions + 1)', `${fixed(gpuVmWrites)} ÷ (${fixed(transitions)} + 1) → ratio ${fixed(gpuVmWrites / (transitions + 1))}`);
    line('all apiserver writes per GpuVm (incl. Events, EdgeDevices)', fixed(total(apiserver, isWriteKey) / ready.length));
    this.numbers.apiserverRequestsPerGpuVm = total(apiserver) / ready.length;
    this.numbers.apiserverWriteRatio = gpuVmWrites / (transitions + 1);
  }

  /** Live heaps: one process's, or each replica's and their sum; per device, of the sum. */
  /** Where the (first) controller's heap goes, by constructor: own sizes, largest first, and per device. */
  private async printHeapSummary(): Promise<void> {
    const saveAs = join(this.workDir, 'controller.heapsnapshot');
    const groups = await this.fleet.heapSummary(saveAs);
    const total = groups.reduce((n, g) => n + g.bytes, 0);
    line(`heap snapshot${this.sharded ? ' of the first replica' : ''}: objects by constructor (own size)`, `${mib(total)} in ${groups.reduce((n, g) => n + g.count, 0)} objects`);
    for (const g of groups.slice(0, HEAP_SUMMARY_ROWS)) {
      line(`  ${g.name.slice(0, 40)}`, `${mib(g.bytes).padStart(10)} ${String(g.count).padStart(9)} objects ${fixed(g.bytes / 1024 / this.devices, 1).padStart(7)} KiB per device`);
    }
    line('  the snapshot, for DevTools', saveAs);
  }

  private printLiveHeap(label: string, heaps: readonly number[]): void {
    const total = sum(heaps);
    line(this.sharded ? `${label}, all replicas (each)` : label, `${mib(total)}, ${fixed(total / 1024 / this.devices, 0)} KiB${this.sharded ? ` (${each(heaps, mib)})` : ''}`);
  }

  /**
   * Reconciles per object and where their time went: waiting in the queue, or working (ARM + apiserver calls).
   * Sharded, summed over the replicas: every replica reconciles every object it hears of, those of devices it does
   * not own only to skip them at once, so the sum is at least replicas × objects.
   */
  private async printWorkQueues(gpuVms: number): Promise<void> {
    if (this.sharded) {
      const perReplica = await Promise.all(this.fleet.replicas.map(async (r) => sumSamples(await r.metrics(), 'controller_runtime_reconcile_total') ?? 0));
      line('reconciles per replica (gpuvm + edgedevice)', each(perReplica, String));
    }
    const m = await this.fleet.metrics();
    for (const [controller, objects] of [
      ['gpuvm', gpuVms],
      ['edgedevice', this.devices],
    ] as const) {
      const reconciles = sumSamples(m, 'controller_runtime_reconcile_total', { controller }) ?? 0;
      const mean = (metric: string) => (sumSamples(m, `${metric}_sum`, { name: controller }) ?? 0) / (sumSamples(m, `${metric}_count`, { name: controller }) || 1);
      line(
        `${controller} reconciles${this.sharded ? ', all replicas' : ''}: count, per object, mean queue wait / work`,
        `${reconciles}, ${fixed(reconciles / objects)}, ${fixed(mean('workqueue_queue_duration_seconds') * 1000, 0)} ms / ${fixed(mean('workqueue_work_duration_seconds') * 1000, 0)} ms`,
      );
      this.numbers[`${controller}ReconcilesPerObject`] = reconciles / objects;
    }
  }

  private waitingPerDevice(): number {
    const waitingDevices = new Set<string>();
    for (const r of this.tracker.records.values()) {
      if (r.waitingReason !== undefined && this.tracker.isWaiting(r.name)) waitingDevices.add(r.name.slice(0, r.name.lastIndexOf('-')));
    }
    return waitingDevices.size;
  }

  private async steadyState(): Promise<void> {
    const { env, settings } = this;
    const syncPeriodMs = settings.syncPeriodMs ?? this.scenario.steadySyncPeriodMs;
    const windowMs = syncPeriodMs * settings.periods;
    heading(`${this.scenario.name}: steady state, ${settings.periods} resync periods of ${seconds(syncPeriodMs)} s`);
    // A short sync period while thousands of devices converge would list each device's VMs every period for as
    // long as that takes; the fleet converges with the default, and a controller with the short one takes over.
    // Sharded, every replica is restarted: the started ones take the devices over once their Leases are listed.
    await this.fleet.stop();
    const started = Date.now();
    this.fleet = await this.startFleet(syncPeriodMs);
    const caughtUp = Date.now();
    await until('the controller with the short sync period to catch up', 30 * 60_000, () => this.fleet.caughtUp(this.gpuVms, this.devices));
    if (this.sharded) line('replicas started (processes up, Leases held, members listed) in', `${fixed(seconds(caughtUp - started), 1)} s`);
    line(`${this.sharded ? 'replicas' : 'controller'} restarted with the short sync period, caught up in`, `${fixed(seconds(Date.now() - caughtUp), 1)} s`);
    const seq0 = this.lastSeq();
    const requests0 = await scrapeRequestCounts(env.access, this.resources);
    this.trackerAtSnapshot = this.tracker.informerRequests();
    const cpu0 = this.fleet.usage().map((u) => u.cpuSeconds);
    await sleep(windowMs);
    const entries = this.audit(seq0);
    const apiserver = diffCounts(await scrapeRequestCounts(env.access, this.resources), requests0, this.benchOwnRequestsSince());
    const writes = entries.filter(isArmWrite).length;
    const readsPerDevicePeriod = entries.filter(isArmRead).length / this.devices / settings.periods;
    // Sharded, Lease renewals are writes every retry period by design: they are shown apart.
    const apiserverWrites = total(apiserver, (key) => isWriteKey(key) && !(this.sharded && isShardBookkeeping(key)));
    const cpu = this.fleet.usage().map((u, i) => u.cpuSeconds - (cpu0[i] ?? 0));
    line('ARM writes (target 0)', String(writes));
    line('ARM reads per device per period (target 1)', fixed(readsPerDevicePeriod, 3));
    line(this.sharded ? 'apiserver writes, shard bookkeeping aside (target 0)' : 'apiserver writes (target 0)', String(apiserverWrites));
    line(
      `controller CPU during the window${this.sharded ? ', all replicas (each)' : ''}`,
      `${fixed(sum(cpu), 1)} s of ${fixed(seconds(windowMs), 0)} s${this.sharded ? ` (${each(cpu, (n) => fixed(n, 1))} s)` : ''}`,
    );
    countsTable('ARM requests in the window, by operation', byOperation(entries), this.devices, 'device');
    if (this.sharded) this.shardBookkeeping(apiserver, windowMs, settings.periods, 'period');
    this.numbers.steadyArmWrites = writes;
    this.numbers.steadyArmReadsPerDevicePeriod = readsPerDevicePeriod;
    this.numbers.steadyApiserverWrites = apiserverWrites;
  }

  /** The bench's own requests since the last snapshot: only the tracker's re-lists and re-watches happen then. */
  private benchOwnRequestsSince(): RequestCounts {
    const now = this.tracker.informerRequests();
    const delta = { lists: now.lists - this.trackerAtSnapshot.lists, watches: now.watches - this.trackerAtSnapshot.watches };
    this.trackerAtSnapshot = now;
    return new Map([
      ['gpuvms LIST', delta.lists],
      ['gpuvms WATCH', delta.watches],
    ]);
  }

  private trackerAtSnapshot = { lists: 0, watches: 0 };

  private async restart(): Promise<void> {
    const { env } = this;
    heading(`${this.scenario.name}: controller restart (SIGKILL${this.sharded ? ' every replica' : ''}, start again) with ${this.tracker.readyCount} Ready GpuVms`);
    const before = this.fleet.usage();
    await this.fleet.kill();
    const seq0 = this.lastSeq();
    const requests0 = await scrapeRequestCounts(env.access, this.resources);
    const requests0At = Date.now();
    this.trackerAtSnapshot = this.tracker.informerRequests();
    const t0 = Date.now();
    // With the default sync period, as in production: the time measured is the restart's own work. Sharded, it
    // includes waiting for the killed replicas' Leases to expire: nobody released their devices.
    this.fleet = await this.startFleet();
    const back = await until('the restarted controller to catch up', 30 * 60_000, () => this.fleet.caughtUp(this.gpuVms, this.devices));
    const entries = this.audit(seq0);
    const apiserver = diffCounts(await scrapeRequestCounts(env.access, this.resources), requests0, this.benchOwnRequestsSince());
    const usage = this.fleet.usage();
    const cpuAndRss = (u: readonly ProcessUsage[]) => u.map((x) => `${fixed(x.cpuSeconds, 1)} s / ${mib(x.peakRssBytes)}`).join(', ');
    line(`killed ${this.sharded ? 'replicas' : 'controller'}: CPU / peak RSS`, cpuAndRss(before));
    line('time back to steady state (start → every object reconciled, queues empty)', `${fixed(seconds(back - t0), 1)} s`);
    line('ARM writes during it (target 0)', String(entries.filter(isArmWrite).length));
    // Sharded, Lease renewals and the devices' claims are shown apart, as in the steady state.
    const apiserverWrites = total(apiserver, (key) => isWriteKey(key) && !(this.sharded && isShardBookkeeping(key)));
    line(this.sharded ? 'apiserver writes during it, shard bookkeeping aside' : 'apiserver writes during it', String(apiserverWrites));
    line(`restarted ${this.sharded ? 'replicas' : 'controller'}: CPU / peak RSS`, cpuAndRss(usage));
    countsTable('ARM requests during the restart, by operation', byOperation(entries), this.devices, 'device');
    countsTable('apiserver requests during the restart, by resource and verb', apiserver, this.gpuVms, 'GpuVm');
    if (this.sharded) this.shardBookkeeping(apiserver, Date.now() - requests0At, this.gpuVms, 'GpuVm');
    this.numbers.restartSeconds = seconds(back - t0);
    this.numbers.restartArmWrites = entries.filter(isArmWrite).length;
    this.numbers.restartApiserverWrites = apiserverWrites;
  }
}

/** The name a run is recorded under: the scenario, its scale when not 1, and its replica count when sharded. */
function resultKey(scenario: string, scale: number, replicas: number): string {
  return `${scenario}${scale !== 1 ? `/scale-${scale}` : ''}${replicas > 1 ? `/${replicas}-replicas` : ''}`;
}

export async function runScaleBench(argv: string[]): Promise<void> {
  const { settings: common, scenarios, replicaCounts } = settingsFrom(argv);
  const runDir = join(ROOT, '.tmp', 'bench', `run-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(runDir, { recursive: true });
  const command = `npm run bench -- ${argv.join(' ')}`.trim();
  const sharded = replicaCounts.some((r) => r > 1) ? `; ${replicaCounts.join(' then ')} controller replicas (sharded when more than one)` : '';
  console.log(`${command}\nNode ${process.version}; simulator: CreateVM ${common.vmCreateMs} ms, GPU driver ${common.extensionMs} ms, Retry-After ${common.retryAfterSeconds} s, added latency ${common.latencyMs} ms, keep-alive ${common.keepAliveMs} ms${sharded}`);
  const baseline = readBaseline(BASELINE);
  const results: Record<string, Numbers> = {};
  for (const scenario of scenarios) {
    for (const replicas of replicaCounts) {
      const settings = { ...common, replicas };
      // A sharded run is its own entry: its sums are not comparable with one process's numbers.
      const key = resultKey(scenario.name, settings.scale, replicas);
      const numbers = await new ScenarioRun(scenario, settings, join(runDir, key.replaceAll('/', '-'))).run();
      results[key] = numbers;
      baselineTable(key, numbers, baseline[key]?.numbers);
      // Recorded per scenario, so a long run stopped midway keeps what it measured.
      if (settings.updateBaseline) writeBaseline(BASELINE, { ...readBaseline(BASELINE), [key]: { recordedAt: new Date().toISOString(), command, numbers } });
    }
    if (replicaCounts.length > 1) {
      replicaComparison(scenario.name, replicaCounts.map((r) => ({ replicas: r, numbers: results[resultKey(scenario.name, common.scale, r)] ?? {} })));
    }
  }
  writeFileSync(join(runDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nresults: ${join(runDir, 'results.json')}`);
  if (common.updateBaseline) console.log(`baseline updated: ${BASELINE}`);
}

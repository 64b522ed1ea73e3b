// The controller under test as N processes: one as deployed by default, or N replicas in sharded mode
// (--sharding), each holding a shard Lease of its own and acting on the devices that hash to it.
import { readFileSync } from 'node:fs';
import { sumSamples, type Sample } from '../../src/observability/prometheusText.ts';
import type { BenchEnvironment, ControllerUnderTest } from './benchEnvironment.ts';
import type { HeapGroup } from './liveHeap.ts';
import type { ProcessUsage } from './processUsage.ts';

/** The replicas' --shard-retry-period: how often each renews its Lease and lists the others'. */
const SHARD_RETRY_PERIOD_MS = 2000;
const HOLDING_LEASE = 'holding shard lease';

export interface FleetOptions {
  replicas: number;
  /** The EdgeDevices of the run: sharded, caughtUp() waits until the replicas own them all. */
  devices: number;
  cpuProfile: boolean;
  heapLimitMiB: number | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ZERO_USAGE: ProcessUsage = { cpuSeconds: 0, rssBytes: 0, peakRssBytes: 0 };

export class ControllerFleet {
  private constructor(
    readonly replicas: readonly ControllerUnderTest[],
    private readonly devices: number,
  ) {}

  /**
   * Starts the processes; with more than one, in sharded mode, each named controller-<n> (POD_NAME: its shard
   * identity is that plus a random suffix), and returns once every replica holds its Lease and has had time to
   * list the others' (two retry periods), so what follows is not a membership still forming.
   */
  static async start(env: BenchEnvironment, args: readonly string[], options: FleetOptions): Promise<ControllerFleet> {
    const sharded = options.replicas > 1;
    const replicaArgs = sharded ? [...args, '--sharding', '--shard-retry-period', `${SHARD_RETRY_PERIOD_MS}ms`] : args;
    const replicas = await Promise.all(
      Array.from({ length: options.replicas }, () =>
        env.startController(replicaArgs, {
          cpuProfile: options.cpuProfile,
          ...(options.heapLimitMiB !== undefined ? { heapLimitMiB: options.heapLimitMiB } : {}),
          ...(sharded ? { podNamed: true } : {}),
        }),
      ),
    );
    const fleet = new ControllerFleet(replicas, options.devices);
    if (sharded) {
      for (const deadline = Date.now() + 60_000; !replicas.every((r) => logHas(r.process.logFile, HOLDING_LEASE)); ) {
        const dead = replicas.find((r) => r.process.exitStatus() !== undefined);
        if (dead !== undefined) throw new Error(`${dead.process.name} exited (see ${dead.process.logFile})`);
        if (Date.now() > deadline) throw new Error(`not every replica logged "${HOLDING_LEASE}" within 60 s (sharded runs need --log-level info or debug)`);
        await sleep(200);
      }
      await sleep(2 * SHARD_RETRY_PERIOD_MS);
    }
    return fleet;
  }

  get size(): number {
    return this.replicas.length;
  }

  get sharded(): boolean {
    return this.replicas.length > 1;
  }

  /** Each replica's latest usage (zero for one never sampled). */
  usage(): ProcessUsage[] {
    return this.replicas.map((r) => r.usage() ?? ZERO_USAGE);
  }

  cpuSeconds(): number {
    return this.usage().reduce((sum, u) => sum + u.cpuSeconds, 0);
  }

  /** Every replica's samples in one list: sumSamples over it sums across replicas. */
  async metrics(): Promise<Sample[]> {
    return (await Promise.all(this.replicas.map((r) => r.metrics()))).flat();
  }

  /** Each replica's live heap (after a full GC), one at a time so the collections do not compete for the cores. */
  async liveHeapBytes(): Promise<number[]> {
    const heaps: number[] = [];
    for (const r of this.replicas) heaps.push(await r.liveHeapBytes());
    return heaps;
  }

  /** The first replica's heap by constructor (a snapshot of every replica would say the same, three times). */
  heapSummary(saveAs: string): Promise<HeapGroup[]> {
    const first = this.replicas[0];
    if (first === undefined) throw new Error('no controller is running');
    return first.heapSummary(saveAs);
  }

  /** Each replica's gpuvm_shard_owned_devices (empty when not sharded). */
  async ownedDevices(): Promise<number[]> {
    if (!this.sharded) return [];
    return Promise.all(this.replicas.map(async (r) => sumSamples(await r.metrics(), 'gpuvm_shard_owned_devices') ?? 0));
  }

  /**
   * Every replica's work queues empty and, together, at least `gpuVms` / `devices` reconciles done (a replica's
   * reconciles of objects it does not own count too: each is skipped at once). Sharded, also every device of the
   * run owned: until then a device still to be claimed has work nobody has queued yet.
   */
  async caughtUp(gpuVms: number, devices: number): Promise<boolean> {
    const m = await this.metrics();
    const done = (controller: string) => sumSamples(m, 'controller_runtime_reconcile_total', { controller }) ?? 0;
    const depth = (name: string) => sumSamples(m, 'workqueue_depth', { name }) ?? 0;
    const owned = sumSamples(m, 'gpuvm_shard_owned_devices') ?? 0;
    return (!this.sharded || owned === this.devices) && done('gpuvm') >= gpuVms && done('edgedevice') >= devices && depth('gpuvm') === 0 && depth('edgedevice') === 0;
  }

  /** SIGKILL to every replica: none releases its devices, so the next ones wait for the Leases to expire. */
  async kill(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.kill()));
  }

  /** SIGTERM to every replica; each one's final usage (undefined for one never sampled). */
  stop(): Promise<(ProcessUsage | undefined)[]> {
    return Promise.all(this.replicas.map((r) => r.stop()));
  }
}

function logHas(file: string, text: string): boolean {
  try {
    return readFileSync(file, 'utf8').includes(text);
  } catch {
    return false;
  }
}

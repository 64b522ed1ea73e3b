// One bench environment: a real control plane with the CRDs, the device simulator (in this process) with N
// two-GPU devices, the bench namespace, and the controller as a separate process (dist/cli.js run).
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_VERSION, EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION } from '../../src/api/types.ts';
import { startControlPlane, type ControlPlane } from '../../src/devenv/controlPlane.ts';
import { installCrds } from '../../src/devenv/crds.ts';
import { freePorts } from '../../src/devenv/freePort.ts';
import { spawnManaged, type ManagedProcess } from '../../src/devenv/processes.ts';
import { parsePrometheusText, type Sample } from '../../src/observability/prometheusText.ts';
import { edgeDeviceManifests } from '../../src/simulator/edgeDeviceManifests.ts';
import { Simulator, ZERO_TIMINGS, type TimingConfig } from '../../src/simulator/index.ts';
import type { ApiserverAccess } from './apiserverRequests.ts';
import { RequestTally } from './apiserverRequests.ts';
import type { GpuVmTracker } from './gpuVmTracker.ts';
import { heapSummary, liveHeapBytes, type HeapGroup } from './liveHeap.ts';
import { UsageSampler, type ProcessUsage } from './processUsage.ts';

export const NAMESPACE = 'bench';
const ADMIN_SECRET = 'bench-admin';
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

export interface EnvironmentOptions {
  devices: number;
  timings: Partial<TimingConfig>;
  /** The simulated devices' idle-connection timeout (ms). */
  keepAliveTimeoutMs?: number;
  /** Where logs go. */
  workDir: string;
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function inParallel<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

export class ControllerUnderTest {
  private readonly sampler: UsageSampler;
  constructor(
    readonly process: ManagedProcess,
    readonly metricsPort: number,
    private readonly inspectorPort: number,
  ) {
    this.sampler = new UsageSampler(process.pid);
  }

  /** The heap left after a full garbage collection (see liveHeap.ts). */
  liveHeapBytes(): Promise<number> {
    return liveHeapBytes(this.process.pid, this.inspectorPort);
  }

  /** Where the heap goes: a heap snapshot's objects by constructor (see liveHeap.ts), the snapshot kept in `saveAs`. */
  heapSummary(saveAs: string): Promise<HeapGroup[]> {
    return heapSummary(this.process.pid, this.inspectorPort, saveAs);
  }

  usage(): ProcessUsage | undefined {
    return this.sampler.sample();
  }

  async metrics(): Promise<Sample[]> {
    // A replica that exited (e.g. it lost its shard Lease) ends the run with its log named, not a bare fetch error.
    const exit = this.process.exitStatus();
    if (exit !== undefined) throw new Error(`the controller exited (${JSON.stringify(exit)}); see ${this.process.logFile}`);
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    if (res.status !== 200) throw new Error(`controller /metrics: HTTP ${res.status}`);
    return parsePrometheusText(await res.text());
  }

  async kill(): Promise<void> {
    this.sampler.stop();
    process.kill(this.process.pid, 'SIGKILL');
    await this.process.exited;
  }

  async stop(): Promise<ProcessUsage | undefined> {
    const usage = this.sampler.stop();
    await this.process.stop(10_000);
    return usage;
  }
}

export class BenchEnvironment {
  readonly tally = new RequestTally();
  readonly kubeConfig: KubeConfig;
  readonly access: ApiserverAccess;
  readonly deviceNames: string[];
  private controllers = 0;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;

  private constructor(
    readonly plane: ControlPlane,
    readonly sim: Simulator,
    private readonly options: EnvironmentOptions,
  ) {
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromString(plane.kubeconfigYaml);
    this.core = this.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = this.kubeConfig.makeApiClient(CustomObjectsApi);
    this.access = { server: plane.server, token: plane.adminToken, caPem: plane.caPem };
    this.deviceNames = sim.endpoints().devices.map((d) => d.name);
  }

  static async start(options: EnvironmentOptions): Promise<BenchEnvironment> {
    mkdirSync(options.workDir, { recursive: true });
    const plane = await startControlPlane({ logDir: join(options.workDir, 'control-plane') });
    try {
      await installCrds(plane);
      const width = String(options.devices).length;
      const sim = await Simulator.start({
        devices: Array.from({ length: options.devices }, (_, i) => ({ name: `dev-${String(i).padStart(width, '0')}`, gpus: 2 })),
        timings: { ...ZERO_TIMINGS, ...options.timings },
        auditCapacity: 5_000_000,
        ...(options.keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs: options.keepAliveTimeoutMs } : {}),
      });
      const env = new BenchEnvironment(plane, sim, options);
      writeFileSync(join(options.workDir, 'kubeconfig'), plane.kubeconfigYaml, { mode: 0o600 });
      await env.core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
      await env.core.createNamespacedSecret({
        namespace: NAMESPACE,
        body: { metadata: { name: ADMIN_SECRET }, stringData: { username: 'azureuser', password: 'Bench-Adm1n-Passw0rd!' } },
      });
      return env;
    } catch (error) {
      await plane.stop();
      throw error;
    }
  }

  get kubeconfigPath(): string {
    return join(this.options.workDir, 'kubeconfig');
  }

  /**
   * Starts a controller process watching the bench namespace, serving metrics on a free port. With `cpuProfile`
   * it writes a V8 CPU profile to <workDir>/cpu-profiles when it stops (not when killed). `heapLimitMiB` limits
   * V8's heap as a container memory limit of about twice that does (Node sizes its heap from the limit).
   * `podNamed` sets POD_NAME to the process's name (controller-<n>), as a pod's name is: replicas tell apart by it.
   */
  async startController(args: readonly string[], options: { cpuProfile?: boolean; heapLimitMiB?: number; podNamed?: boolean } = {}): Promise<ControllerUnderTest> {
    const [port = 0, inspectorPort = 0] = await freePorts(2);
    const n = ++this.controllers;
    const nodeArgs = [
      // Where SIGUSR1 opens the inspector, for liveHeapBytes(); closed until then.
      `--inspect-port=127.0.0.1:${inspectorPort}`,
      ...(options.heapLimitMiB !== undefined ? [`--max-old-space-size=${options.heapLimitMiB}`] : []),
      ...(options.cpuProfile === true ? ['--cpu-prof', '--cpu-prof-dir', join(this.options.workDir, 'cpu-profiles'), '--cpu-prof-name', `controller-${n}.cpuprofile`] : []),
    ];
    const name = `controller-${n}`;
    const proc = await spawnManaged(name, process.execPath, {
      ...(options.podNamed === true ? { env: { ...process.env, POD_NAME: name } } : {}),
      args: [...nodeArgs, CLI, 'run', '--kubeconfig', this.kubeconfigPath, '--namespace', NAMESPACE, '--controller-namespace', NAMESPACE, '--metrics-bind-address', `127.0.0.1:${port}`, '--health-probe-bind-address', '0', ...args],
      logFile: join(this.options.workDir, `controller-${n}.log`),
    });
    const controller = new ControllerUnderTest(proc, port, inspectorPort);
    for (const deadline = Date.now() + 30_000; ; ) {
      try {
        await controller.metrics();
        return controller;
      } catch (error) {
        if (proc.exitStatus() !== undefined || Date.now() > deadline) throw new Error(`the controller did not serve /metrics (see ${proc.logFile})`, { cause: error });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** The Secrets and EdgeDevice of every simulated device (devices are 2-GPU, no Azure side: spec.gpus). */
  async createDevices(concurrency = 16): Promise<void> {
    await inParallel(this.deviceNames, concurrency, async (device) => {
      for (const doc of edgeDeviceManifests(this.sim, device, { secretNamespace: NAMESPACE, azure: false })) {
        const obj = doc as { kind: string };
        if (obj.kind === 'Secret') {
          await this.core.createNamespacedSecret({ namespace: NAMESPACE, body: doc as V1Secret });
          this.tally.add('secrets', 'POST');
        } else {
          await this.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, body: doc });
          this.tally.add(EDGEDEVICE_PLURAL, 'POST');
        }
      }
    });
  }

  /** GpuVms `<device>-<i>`, `perDevice` on every device, created `concurrency` at a time; the tracker learns when each was applied. */
  async createGpuVms(perDevice: number, tracker: GpuVmTracker, concurrency = 16): Promise<string[]> {
    const names = this.deviceNames.flatMap((device) => Array.from({ length: perDevice }, (_, i) => ({ name: `${device}-${i}`, device })));
    await inParallel(names, concurrency, async ({ name, device }) => {
      await this.custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: GPUVM_PLURAL,
        namespace: NAMESPACE,
        body: {
          apiVersion: API_VERSION,
          kind: 'GpuVm',
          metadata: { name },
          spec: {
            deviceRef: { name: device },
            size: 'Standard_NC4as_T4_v3',
            image: { name: 'ubuntu1804-gen1', osType: 'Linux', os: { name: 'Ubuntu', version: '18.04' } },
            adminCredentialsSecretRef: { name: ADMIN_SECRET },
            powerState: 'Running',
            deletionPolicy: 'Delete',
          },
        },
      });
      this.tally.add(GPUVM_PLURAL, 'POST');
      tracker.applied(name, Date.now());
    });
    return names.map((n) => n.name);
  }

  async stop(): Promise<void> {
    await this.sim.stop();
    await this.plane.stop();
  }
}

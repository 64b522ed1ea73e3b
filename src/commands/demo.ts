// `gpuvm-controller demo`: a local control plane, the device simulator with two devices, the controller
// in-process and the demo manifests, with a live view of every GpuVm and EdgeDevice until they settle.
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EDGEDEVICE_PLURAL, GPUVM_PLURAL, GROUP, VERSION, type EdgeDevice, type GpuVm } from '../api/types.js';
import { startControlPlane, type ControlPlane } from '../devenv/controlPlane.js';
import { installCrds } from '../devenv/crds.js';
import { Manager } from '../manager.js';
import { createLogger } from '../observability/logger.js';
import { DEFAULT_PLAN_SETTINGS } from '../plan/gpuVmPlan.js';
import { Simulator, type TimingConfig } from '../simulator/index.js';
import { ClusterDemo, DemoRefused } from './demoCluster.js';
import {
  clusterScope,
  DEMO_DEVICES,
  DEMO_GPUVMS,
  deviceManifests,
  deviceName,
  deviceSelector,
  gpuVmManifests,
  LOCAL_SCOPE,
  namespaceManifests,
  simulatorDevices,
  type DemoScope,
} from './demoManifests.js';
import { auditEntries, explain, formatEntry, renderTables, Timeline, verdict, type Snapshot } from './demoView.js';
import { parseDuration } from './duration.js';

export const DEMO_USAGE = `usage: gpuvm-controller demo [flags]

Starts a local Kubernetes control plane, the Azure Stack Edge simulator with two devices (edge-2gpu with
2 GPUs and Kubernetes to configure, edge-1gpu with 1 GPU), the controller, and four GpuVms; shows them
converge, explains what happened, and keeps running until Ctrl-C. No configuration needed.

  --kubeconfig FILE     use this existing cluster instead of a local control plane (no Go needed): the demo
                        runs in its own namespace gpuvm-demo-<id> with devices edge-*-<id>, its controller
                        touches nothing else, it installs the gpuvm.io CRDs only if absent (after saying so)
                        and removes everything it created on exit
  --exit-when-settled   stop everything and exit once every GpuVm is Ready or waits for a stated reason
  --timeout DURATION    fail (exit code 1) if that takes longer than this once the controller runs (default 5m)

Exit code: 0 once settled (also when stopped with Ctrl-C afterwards); 1 when not settled in time, when a
GpuVm fails for good or a simulator invariant is violated; 2 when the cluster has other versions of the
gpuvm.io CRDs (nothing is changed); 130 (143 for SIGTERM) when stopped before settling.
`;

/** Long enough to watch phases change, short enough to settle in well under a minute. */
const DEMO_TIMINGS: TimingConfig = {
  vmCreateMs: 4000,
  nicCreateMs: 500,
  extensionMs: 3000,
  powerActionMs: 1500,
  roleMs: 4000,
  deleteMs: 1500,
  retryAfterSeconds: 1,
};

const REFRESH_MS = 1000;
const KEEP_DEMO_DIRS = 5;
const DEMO_DIR_PREFIX = 'gpuvm-demo-';


export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'exit-when-settled': { type: 'boolean', default: false },
      kubeconfig: { type: 'string' },
      timeout: { type: 'string', default: '5m' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(DEMO_USAGE);
    return 0;
  }
  const timeoutMs = parseDuration(values.timeout, '--timeout');
  const demo = new Demo({ exitWhenSettled: values['exit-when-settled'], timeoutMs, ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}) });
  return demo.run();
}

interface DemoOptions {
  exitWhenSettled: boolean;
  timeoutMs: number;
  /** An existing cluster to run on instead of a local control plane. */
  kubeconfig?: string;
}

/** Where the demo runs: the cluster's client, how manifests get there, and what to tell the user to try. */
interface Target {
  kubeConfig: KubeConfig;
  apply(manifest: string): Promise<string>;
  hint: string[];
}

class Interrupted extends Error {}

/** 128 + the signal number, as shells report a command ended by a signal (SIGINT 130, SIGTERM 143). */
const signalExitCode = (signal: NodeJS.Signals): number => (signal === 'SIGTERM' ? 143 : 130);

class Demo {
  private readonly out = process.stdout;
  private readonly tty = process.stdout.isTTY;
  private plane: ControlPlane | undefined;
  private cluster: ClusterDemo | undefined;
  private sim: Simulator | undefined;
  private readonly scope: DemoScope;
  private manager: Manager | undefined;
  private closeLog: (() => Promise<void>) | undefined;
  private interrupted: NodeJS.Signals | undefined;
  private wake: (() => void) | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.interrupted !== undefined) {
      this.print(`\n${signal} again: exiting now (child processes are killed)`);
      process.exit(signalExitCode(signal));
    }
    this.interrupted = signal;
    this.wake?.();
  };

  constructor(private readonly options: DemoOptions) {
    this.scope = options.kubeconfig === undefined ? LOCAL_SCOPE : clusterScope();
  }

  private print(text: string): void {
    this.out.write(`${text}\n`);
  }

  async run(): Promise<number> {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    try {
      return await this.runUntilDone();
    } catch (error) {
      if (error instanceof DemoRefused) {
        this.print(`refused: ${error.message}`);
        return 2;
      }
      // Ctrl-C also reaches the children (kubectl, the control-plane build): their failure is the interruption.
      if (!(error instanceof Interrupted) && this.interrupted === undefined) throw error;
      this.print(`\n${this.interrupted ?? 'SIGINT'}: stopping…`);
      return signalExitCode(this.interrupted ?? 'SIGINT');
    } finally {
      await this.shutdown();
      process.off('SIGINT', this.onSignal);
      process.off('SIGTERM', this.onSignal);
    }
  }

  /** Waits for `step`, but gives up (throwing Interrupted) at Ctrl-C. */
  private async step<T>(step: Promise<T>): Promise<T> {
    const result = await step;
    if (this.interrupted !== undefined) throw new Interrupted();
    return result;
  }

  /** Sleeps, waking early at Ctrl-C. */
  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async runUntilDone(): Promise<number> {
    const demoDir = makeDemoDir();
    this.print(`gpuvm-controller demo — logs in ${demoDir}`);
    const target = this.options.kubeconfig === undefined ? await this.startLocal(demoDir) : await this.startOnCluster(this.options.kubeconfig);
    const { kubeConfig, apply } = target;
    const scope = this.scope;

    this.print('starting the Azure Stack Edge simulator…');
    const sim = await this.step(Simulator.start({ devices: simulatorDevices(scope), timings: DEMO_TIMINGS }).then((s) => (this.sim = s)));
    for (const d of DEMO_DEVICES) this.print(`  ${deviceName(scope, d)}: ${d.gpus} GPU(s), local ARM ${sim.device(deviceName(scope, d)).armEndpoint}`);

    const controllerLog = join(demoDir, 'controller.log');
    const logStream = createWriteStream(controllerLog, { flags: 'a' });
    this.closeLog = () => new Promise((resolve) => logStream.end(resolve));
    const selector = deviceSelector(scope);
    const manager = new Manager({
      kubeConfig,
      log: createLogger('info', logStream),
      concurrency: 4,
      syncPeriodMs: 30_000,
      plan: { ...DEFAULT_PLAN_SETTINGS, pollIntervalMs: 1000, retryBaseMs: 1000, retryMaxMs: 30_000, recheckMs: 5000 },
      instance: 'demo',
      // On a shared cluster the controller sees only the demo's namespace, Secrets and devices.
      ...(this.cluster !== undefined ? { namespace: scope.namespace, controllerNamespace: scope.secretNamespace } : {}),
      ...(selector !== undefined ? { deviceSelector: selector } : {}),
    });
    this.manager = manager;
    this.print('starting the controller (in this process)…');
    await this.step(manager.start());
    const controllerStarted = performance.now();
    const controllerStartedAt = Date.now();
    const deadline = controllerStarted + this.options.timeoutMs;

    if (this.cluster === undefined) {
      const applied = await this.step(apply(namespaceManifests(scope)));
      if (applied !== '') throw new Error(`creating the namespaces failed: ${applied}`);
    }
    // GpuVms first: a device with kubernetes.state Configured and no GpuVm in sight would create the
    // Kubernetes role at once, and the role claims every free GPU.
    const [big = '', small = ''] = DEMO_DEVICES.map((d) => deviceName(scope, d));
    this.print(`applying 4 GpuVms in namespace ${scope.namespace} (2 for ${big}, 2 for the 1-GPU ${small}), then the 2 EdgeDevices…`);
    const gvmError = await this.step(apply(gpuVmManifests(scope)));
    if (gvmError !== '') throw new Error(`applying the GpuVms failed: ${gvmError}`);
    await this.step(this.waitUntilObserved(kubeConfig, deadline));
    const edevError = await this.step(apply(deviceManifests(sim, scope)));
    if (edevError !== '') throw new Error(`applying the EdgeDevices failed: ${edevError}`);

    const hint = ['Poke around while it runs (in another terminal):', ...target.hint, `  logs: ${demoDir} (controller.log${this.plane !== undefined ? ', kube-apiserver.log, etcd.log' : ''})`].join('\n');
    return this.watch(kubeConfig, hint, { started: controllerStarted, startedAt: controllerStartedAt }, deadline);
  }

  private async startLocal(demoDir: string): Promise<Target> {
    this.print('starting the local Kubernetes control plane (etcd + kube-apiserver; only the first run on a machine builds them, ~5 min)…');
    const plane = await this.step(startControlPlane({ logDir: demoDir }).then((p) => (this.plane = p)));
    this.print(`  ${plane.server} ready in ${(plane.timings.readyMs / 1000).toFixed(1)}s (etcd pid ${plane.pids.etcd}, kube-apiserver pid ${plane.pids.apiserver})`);

    this.print('installing the CRDs…');
    const crds = await this.step(installCrds(plane));
    this.print(`  ${crds.join(', ')} Established`);

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(plane.kubeconfigYaml);
    return {
      kubeConfig,
      apply: (manifest) => applyAll(plane, manifest),
      hint: [
        `  export KUBECONFIG=${plane.kubeconfigPath}`,
        `  alias kubectl=${plane.kubectlPath}   # unless kubectl is installed`,
        `  kubectl get gvm -n ${this.scope.namespace}; kubectl get edev`,
        `  kubectl describe gvm train-2 -n ${this.scope.namespace}; kubectl get events -n ${this.scope.namespace}`,
      ],
    };
  }

  /** An existing cluster: CRDs checked (or installed), then the demo's own namespace. */
  private async startOnCluster(kubeconfigPath: string): Promise<Target> {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    const server = kubeConfig.getCurrentCluster()?.server ?? '(no current cluster)';
    this.print(`using the cluster of ${kubeconfigPath} (${server}), context ${kubeConfig.getCurrentContext()}`);
    const cluster = new ClusterDemo(kubeConfig, this.scope, (line) => this.print(line));
    this.cluster = cluster;
    this.print('checking the gpuvm.io CRDs…');
    this.print(await this.step(cluster.prepareCrds()));
    this.print(`creating namespace ${this.scope.namespace} (GpuVms and device Secrets; removed on exit)…`);
    await this.step(cluster.createNamespace());
    const selector = deviceSelector(this.scope) ?? '';
    return {
      kubeConfig,
      apply: (manifest) => cluster.create(manifest),
      hint: [
        `  export KUBECONFIG=${kubeconfigPath}`,
        `  kubectl get gvm -n ${this.scope.namespace}; kubectl get edev -l ${selector}`,
        `  kubectl describe gvm train-2 -n ${this.scope.namespace}; kubectl get events -n ${this.scope.namespace}`,
      ],
    };
  }

  /** Waits until the controller has written a status on every GpuVm (it has them in its cache). */
  private async waitUntilObserved(kubeConfig: KubeConfig, deadline: number): Promise<void> {
    for (;;) {
      const gpuVms = await listGpuVms(kubeConfig, this.scope).catch(() => []);
      if (DEMO_GPUVMS.every((vm) => gpuVms.some((g) => g.metadata.name === vm.name && g.status?.phase !== undefined))) return;
      if (performance.now() > deadline) throw new Error('the controller did not pick up the GpuVms in time (see controller.log)');
      await this.pause(200);
      if (this.interrupted !== undefined) throw new Interrupted();
    }
  }

  /** The live view: refreshes every second until settled (then explains), the timeout, or Ctrl-C. */
  private async watch(kubeConfig: KubeConfig, hint: string, clock: { started: number; startedAt: number }, deadline: number): Promise<number> {
    const { started } = clock;
    const timeline = new Timeline();
    let auditSeq = 0;
    const expectedGpuVms = DEMO_GPUVMS.map((g) => g.name);
    const expectedDevices = DEMO_DEVICES.map((d) => deviceName(this.scope, d));
    let lastTables = '';
    let settledPolls = 0;
    let settled: { elapsedS: number; code: number; problems: string } | undefined;
    if (this.tty) this.out.write('\x1b[2J');
    else this.print(`\n${hint}\n`);

    for (;;) {
      let snapshot: Snapshot;
      let problem = '';
      try {
        const [gpuVms, devices] = await Promise.all([listGpuVms(kubeConfig, this.scope), listDevices(kubeConfig, this.scope)]);
        snapshot = { elapsedS: (performance.now() - started) / 1000, gpuVms, devices };
      } catch (error) {
        problem = `(cannot list objects: ${error instanceof Error ? error.message : String(error)})`;
        snapshot = { elapsedS: (performance.now() - started) / 1000, gpuVms: [], devices: [] };
      }
      const audit = this.sim?.audit({ since: auditSeq }) ?? [];
      auditSeq = audit.at(-1)?.seq ?? auditSeq;
      const fresh = [...timeline.add(auditEntries(audit, snapshot.gpuVms, clock.startedAt)), ...(problem === '' ? timeline.update(snapshot) : [])];

      const v = problem === '' ? verdict(snapshot, expectedGpuVms, expectedDevices) : { settled: false as const, pending: [problem] };
      settledPolls = v.settled ? settledPolls + 1 : 0;
      const settledNow = settled === undefined && v.settled && settledPolls >= 2;
      if (settledNow) {
        const violations = this.sim?.violations() ?? [];
        const failed = [...v.failed, ...violations.map((x) => `simulator invariant violated: ${JSON.stringify(x)}`)];
        settled = {
          elapsedS: snapshot.elapsedS,
          code: failed.length === 0 ? 0 : 1,
          problems:
            failed.length === 0
              ? 'Simulator invariant checks: no violation (never more GPU holders than GPUs on any device).'
              : `Problems:\n${failed.map((f) => `  ${f}`).join('\n')}`,
        };
      }
      const explanation = (): string =>
        settled === undefined ? '' : [`Settled in ${settled.elapsedS.toFixed(1)}s after the controller started.`, '', explain(snapshot, timeline.entries), '', settled.problems].join('\n');

      if (this.tty && settled !== undefined && this.options.exitWhenSettled) {
        // The last frame: written once, in full, and left on the terminal.
        const tables = problem === '' ? renderTables(snapshot, { why: false }) : problem;
        this.out.write(`\x1b[H\x1b[J${[tables, '', 'timeline:', ...timeline.entries.map(formatEntry), '', explanation(), ''].join('\n')}\n`);
      } else if (this.tty) {
        // Redrawn in place; the explanation follows the objects (e.g. after a kubectl delete).
        const head = [hint, '', `+${snapshot.elapsedS.toFixed(0)}s  ${settled === undefined ? 'converging…' : 'settled'}  (Ctrl-C stops everything)`, ''];
        const body = [problem === '' ? renderTables(snapshot, { why: settled === undefined }) : problem, '', ...(settled !== undefined ? [explanation(), '', keepRunningHint(snapshot, this.scope.namespace)] : [])];
        this.out.write(`\x1b[H${fitScreen([...head, ...body.join('\n').split('\n')], timeline.entries.map(formatEntry), this.out.rows, this.out.columns)}`);
      } else {
        const tables = problem === '' ? renderTables(snapshot) : problem;
        for (const entry of fresh) this.print(formatEntry(entry));
        if (tables !== lastTables) this.print(`\n--- +${snapshot.elapsedS.toFixed(1)}s\n${tables}\n`);
        lastTables = tables;
        if (settledNow) this.print(`\n${explanation()}\n`);
      }

      if (settled !== undefined && this.options.exitWhenSettled) {
        return settled.code;
      }
      if (settledNow && !this.tty) this.print(`${keepRunningHint(snapshot, this.scope.namespace)}\n`);
      if (settled === undefined && performance.now() > deadline) {
        const pending = v.settled ? [] : v.pending;
        this.print(`\nnot settled within ${(this.options.timeoutMs / 1000).toFixed(0)}s; still waiting for:\n${pending.map((p) => `  ${p}`).join('\n')}`);
        return 1;
      }
      await this.pause(REFRESH_MS);
      if (this.interrupted !== undefined) {
        this.print(`\n${this.interrupted}: stopping…`);
        return settled === undefined ? signalExitCode(this.interrupted) : settled.code;
      }
    }
  }

  /** On a cluster the demo's objects first; then controller, simulator, control plane (or the rest of the cluster's objects); each step bounded. */
  private async shutdown(): Promise<void> {
    const bounded = async (what: string, stop: () => Promise<void>, ms: number): Promise<void> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([stop(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000}s`)), ms)))]);
      } catch (error) {
        this.print(`  stopping the ${what}: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        clearTimeout(timer);
      }
    };
    const stopped: string[] = [];
    const removed: string[] = [];
    const cluster = this.cluster?.createdAnything === true ? this.cluster : undefined;
    if (cluster !== undefined) {
      this.print(`removing what the demo created on the cluster…`);
      // Before the controller stops: the GpuVms' and EdgeDevices' finalizers need it.
      await bounded('GpuVms and EdgeDevices', async () => void removed.push(...(await cluster.removeWorkloads())), 200_000);
    }
    if (this.manager !== undefined) {
      const manager = this.manager;
      await bounded('controller', () => manager.stop(), 15_000);
      stopped.push('controller');
    }
    if (this.sim !== undefined) {
      const sim = this.sim;
      await bounded('simulator', () => sim.stop(), 10_000);
      stopped.push('simulator');
    }
    if (this.plane !== undefined) {
      const plane = this.plane;
      await bounded('control plane', () => plane.stop(), 30_000);
      stopped.push('control plane');
    }
    if (cluster !== undefined) await bounded('cleanup', async () => void removed.push(...(await cluster.removeRest())), 150_000);
    await this.closeLog?.();
    if (stopped.length > 0) this.print(`stopped: ${stopped.join(', ')}`);
    if (removed.length > 0) this.print(`removed: ${removed.join(', ')}`);
  }
}

/**
 * One frame for a terminal of `rows` x `columns`: the lines that fit (counting wrapped lines), then as many
 * of the latest timeline entries as room is left for (at most 12). Never taller than the terminal, so
 * redrawing from the top never scrolls.
 */
function fitScreen(lines: string[], timeline: string[], rows: number, columns: number): string {
  const width = columns > 0 ? columns : 120;
  const height = (rows > 0 ? rows : 50) - 1;
  const tall = (line: string): number => Math.max(1, Math.ceil(line.length / width));
  const frame: string[] = [];
  let used = 0;
  for (const line of lines) {
    if (used + tall(line) > height) break;
    frame.push(line);
    used += tall(line);
  }
  const room = height - used - 2;
  if (room > 0 && timeline.length > 0) {
    const shown = timeline.slice(-Math.min(room, 12)).filter((line) => tall(line) === 1);
    frame.push('', 'timeline:', ...shown.slice(-room));
  }
  return `${frame.join('\x1b[K\n')}\x1b[K\x1b[J`;
}

function keepRunningHint(s: Snapshot, namespace: string): string {
  const waiting = s.gpuVms.find((g) => g.status?.phase === 'WaitingForGpu');
  const holder = waiting && s.gpuVms.find((g) => g !== waiting && g.spec.deviceRef.name === waiting.spec.deviceRef.name && g.status?.phase === 'Ready');
  const tryThis =
    waiting !== undefined && holder !== undefined
      ? ` Try: kubectl delete gvm ${holder.metadata.name ?? ''} -n ${namespace}   (${waiting.metadata.name ?? ''} then takes its GPU).`
      : '';
  return `Still running.${tryThis} Ctrl-C stops everything.`;
}

async function listGpuVms(kubeConfig: KubeConfig, scope: DemoScope): Promise<GpuVm[]> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const list = (await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: GPUVM_PLURAL, namespace: scope.namespace })) as { items: GpuVm[] };
  return list.items;
}

async function listDevices(kubeConfig: KubeConfig, scope: DemoScope): Promise<EdgeDevice[]> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const selector = deviceSelector(scope);
  const list = (await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: EDGEDEVICE_PLURAL, ...(selector !== undefined ? { labelSelector: selector } : {}) })) as {
    items: EdgeDevice[];
  };
  return list.items;
}

/** `kubectl apply` of a multi-document manifest; resolves with kubectl's error output, or '' on success. */
async function applyAll(plane: ControlPlane, manifest: string): Promise<string> {
  const result = await plane.kubectl(['apply', '-f', '-'], { input: manifest });
  return result.code === 0 ? '' : `${result.stderr}${result.stdout}`.trim();
}

/** A fresh directory for this run's logs; finished runs beyond the last few are removed. */
function makeDemoDir(): string {
  const root = tmpdir();
  try {
    const old = readdirSync(root)
      .filter((n) => n.startsWith(DEMO_DIR_PREFIX))
      .map((n) => ({ path: join(root, n), mtime: statSync(join(root, n)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const dir of old.slice(KEEP_DEMO_DIRS - 1)) {
      if (!ownerAlive(dir.path)) rmSync(dir.path, { recursive: true, force: true });
    }
  } catch {
    // pruning is best effort
  }
  const dir = mkdtempSync(join(root, DEMO_DIR_PREFIX));
  writeFileSync(join(dir, 'owner'), `${process.pid}\n`);
  return dir;
}

function ownerAlive(dir: string): boolean {
  try {
    const pid = Number.parseInt(readFileSync(join(dir, 'owner'), 'utf8'), 10);
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Runs the controller as a separate process (the compiled dist/cli.js), scoped to one test namespace and
// the EdgeDevices labelled for it, with its JSON logs captured to a file for assertions. The test namespace is
// also its controller namespace (the only one device Secrets are read from) unless a test names another.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnManaged, tailFile, type ManagedProcess } from '../../src/devenv/processes.js';
import { testKubeconfigPath } from './cluster.js';
import { watchGpuHolders, type GpuHolderWatch } from './gpuHolderWatch.js';

const root = join(import.meta.dirname, '..', '..');
export const CLI = join(root, 'dist', 'cli.js');
export const TEST_DEVICE_LABEL = 'gpuvm.io/e2e-namespace';

export interface ControllerOptions {
  namespace: string;
  /** --controller-namespace: where the EdgeDevices' Secrets live (default: `namespace`). */
  controllerNamespace?: string;
  /** Extra flags, e.g. ['--sync-period', '2s']. */
  args?: string[];
  /** Kubeconfig the controller uses (default: the run's admin kubeconfig), e.g. a ServiceAccount token's. */
  kubeconfig?: string;
  /** Extra environment variables, e.g. POD_NAMESPACE. */
  env?: Record<string, string>;
}

export class ControllerProcess {
  private current: ManagedProcess | undefined;
  private starts = 0;
  readonly logFile: string;

  constructor(private readonly options: ControllerOptions) {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (scripts/test does)`);
    this.logFile = join(root, '.tmp', 'e2e', `controller-${options.namespace}.log`);
  }

  async start(): Promise<void> {
    this.starts++;
    this.current = await spawnManaged(`controller-${this.options.namespace}`, process.execPath, {
      args: [
        CLI,
        'run',
        '--kubeconfig',
        this.options.kubeconfig ?? testKubeconfigPath(),
        '--namespace',
        this.options.namespace,
        '--controller-namespace',
        this.options.controllerNamespace ?? this.options.namespace,
        '--device-selector',
        `${TEST_DEVICE_LABEL}=${this.options.namespace}`,
        '--log-level',
        'debug',
        '--sync-period',
        '3s',
        '--poll-interval',
        '250ms',
        '--retry-base',
        '500ms',
        '--kubernetes-settle',
        '1500ms',
        // No fixed ports: several controllers run on one machine; tests that scrape pass their own.
        '--metrics-bind-address',
        '0',
        '--health-probe-bind-address',
        '0',
        ...(this.options.args ?? []),
      ],
      logFile: this.logFile,
      ...(this.options.env !== undefined ? { env: { ...process.env, ...this.options.env } } : {}),
    });
  }

  /** SIGKILL: no cleanup, as a crash would leave things. */
  async kill(): Promise<void> {
    const p = this.current;
    if (p === undefined) return;
    process.kill(p.pid, 'SIGKILL');
    await p.exited;
  }

  async stop(): Promise<void> {
    await this.current?.stop(5000);
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  logs(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  tail(lines = 60): string {
    return tailFile(this.logFile, lines);
  }

  get startCount(): number {
    return this.starts;
  }
}

/** A controller for the enclosing test file: started in beforeAll (after the namespace), stopped in afterAll. */
export function useController(namespace: () => string, args: string[] = []): () => ControllerProcess {
  let controller: ControllerProcess | undefined;
  let holders: GpuHolderWatch | undefined;
  beforeAll(async () => {
    holders = await watchGpuHolders(`${TEST_DEVICE_LABEL}=${namespace()}`);
    controller = new ControllerProcess({ namespace: namespace(), args });
    await controller.start();
  });
  afterAll(async () => {
    await controller?.stop();
    // Whatever the test did: no EdgeDevice status ever showed more GPU holders than GPUs.
    expect(await holders?.stop()).toEqual([]);
  });
  return () => {
    if (controller === undefined) throw new Error('the controller exists only inside tests and hooks');
    return controller;
  };
}

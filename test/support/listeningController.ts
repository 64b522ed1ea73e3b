// A controller process with its metrics and probe listeners on free loopback ports, started and ready (/readyz 200).
import { freePorts } from '../../src/devenv/freePort.js';
import { waitFor } from './cluster.js';
import { ControllerProcess } from './controllerHarness.js';

export interface ListeningController {
  controller: ControllerProcess;
  metricsPort: number;
  healthPort: number;
}

export async function startListeningController(namespace: string, args: string[] = []): Promise<ListeningController> {
  const [metricsPort = 0, healthPort = 0] = await freePorts(2);
  const controller = new ControllerProcess({
    namespace,
    args: [...args, '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', `127.0.0.1:${healthPort}`],
  });
  await controller.start();
  await waitFor(async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.status === 200, {
    timeoutMs: 30_000,
    description: 'the controller ready',
  });
  return { controller, metricsPort, healthPort };
}

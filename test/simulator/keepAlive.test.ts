// The simulator closes a connection idle for keepAliveTimeoutMs (an assumed device value, so configurable): a client
// that waits less reuses its connection, one that waits longer opens a new one.
import { Agent, request } from 'node:https';
import type { Simulator } from '../../src/simulator/index.js';
import { startSim } from './support.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One GET to the device's ARM through `agent` (no token: the 401 serves); true when it reused a connection. */
function reusedConnection(sim: Simulator, agent: Agent): Promise<boolean> {
  const url = new URL('/subscriptions?api-version=2020-06-01', sim.device('dev').armEndpoint);
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(req.reusedSocket));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('simulator keep-alive', () => {
  it.each([
    { keepAliveTimeoutMs: 300, pauseMs: 900, reused: false },
    { keepAliveTimeoutMs: 5000, pauseMs: 900, reused: true },
  ])('with keepAliveTimeoutMs $keepAliveTimeoutMs, a request $pauseMs ms after the last one reuses the connection: $reused', async ({ keepAliveTimeoutMs, pauseMs, reused }) => {
    const sim = await startSim({ devices: [{ name: 'dev', gpus: 1 }], keepAliveTimeoutMs });
    const agent = new Agent({ keepAlive: true, ca: sim.caCertificatePem });
    try {
      expect(await reusedConnection(sim, agent)).toBe(false);
      await sleep(pauseMs);
      expect(await reusedConnection(sim, agent)).toBe(reused);
    } finally {
      agent.destroy();
      await sim.stop();
    }
  });
});

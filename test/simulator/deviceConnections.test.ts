// A device's clients against the simulator over HTTPS: one keep-alive agent serves its requests over a few
// connections, and clients dropped after the idle period are built again without losing what must persist
// (the negotiated api-versions, the throttle gate).
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { get } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { V1Secret } from '@kubernetes/client-node';
import type { EdgeDevice } from '../../src/api/types.js';
import { createDeviceClients, type DeviceClients } from '../../src/azure/deviceClients.js';
import { SecretBackedConnections } from '../../src/reconcile/deviceConnections.js';
import { FakeClock } from '../support/fakes/fakeClock.js';
import { edgeDeviceManifests } from '../../src/simulator/edgeDeviceManifests.js';
import type { Simulator } from '../../src/simulator/index.js';
import { createCertificateAuthority } from '../../src/tls/certificateAuthority.js';
import { deviceClientsFor, startSim } from './support.js';

const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

/** Counts the TCP connections the in-process simulator accepts (each one a full TLS handshake on its side). */
function countAcceptedConnections(): { count: () => number; stop: () => void } {
  let accepted = 0;
  const onSocket = (): void => {
    accepted++;
  };
  subscribe('net.server.socket', onSocket);
  return { count: () => accepted, stop: () => unsubscribe('net.server.socket', onSocket) };
}

const freeSockets = (clients: DeviceClients): TLSSocket[] => Object.values(clients.agent.freeSockets).flatMap((s) => (s ?? []) as TLSSocket[]);

describe('device connections', () => {
  let sim: Simulator;

  beforeAll(async () => {
    sim = await startSim({ devices: [{ name: 'dev', gpus: 2 }] });
  });
  afterEach(() => {
    sim.faults.clear();
  });
  afterAll(async () => {
    expect(sim.violations()).toEqual([]);
    await sim.stop();
  });

  it("serves a device's sequential requests, its token request included, over one connection, and closes it on close()", async () => {
    const clients = deviceClientsFor(sim, 'dev');
    const connections = countAcceptedConnections();
    try {
      const since = sim.audit().at(-1)?.seq ?? 0;
      const N = 30;
      for (let i = 0; i < N; i++) await collect(clients.compute.virtualMachines.listAll());
      const requests = sim.audit({ since, device: 'dev' });
      // The token, the providers reads and the N lists.
      expect(requests.filter((e) => e.operation === 'vm.listAll')).toHaveLength(N);
      expect(requests.filter((e) => e.operation === 'token')).toHaveLength(1);
      expect(connections.count()).toBe(1);
      expect(freeSockets(clients)).toHaveLength(1);

      const open = freeSockets(clients);
      clients.close();
      expect(open.map((socket) => socket.destroyed)).toEqual([true]);
      // Clients someone still holds keep working; the closed agent keeps no connection afterwards.
      await collect(clients.compute.virtualMachines.listAll());
      expect(connections.count()).toBe(2);
      expect(freeSockets(clients).filter((socket) => !socket.destroyed)).toHaveLength(0);
    } finally {
      connections.stop();
      clients.close();
    }
  });

  it('resumes the TLS session when a device connection is opened again', async () => {
    const clients = deviceClientsFor(sim, 'dev');
    try {
      await collect(clients.compute.virtualMachines.listAll());
      const [first] = freeSockets(clients);
      expect(first?.isSessionReused()).toBe(false);
      // As when the device closes an idle connection.
      first?.destroy();
      await collect(clients.compute.virtualMachines.listAll());
      const [second] = freeSockets(clients);
      expect(second).toBeDefined();
      expect(second).not.toBe(first);
      expect(second?.isSessionReused()).toBe(true);
    } finally {
      clients.close();
    }
  });

  it("trusts only the device CA when one is set, else the system roots, on the agent that ARM and token requests share", async () => {
    const d = sim.device('dev');
    const conn = { armEndpoint: d.armEndpoint, loginEndpoint: d.loginEndpoint, subscriptionId: d.subscriptionId, username: d.username, password: d.password };
    for (const clients of [createDeviceClients({ ...conn, caPem: createCertificateAuthority('other-device-ca').certificatePem }), createDeviceClients(conn)]) {
      try {
        await expect(clients.credential.getToken(`${d.armEndpoint}/.default`)).rejects.toThrow(/not trusted/);
        const answer = new Promise((resolve, reject) => get(`${d.armEndpoint}/`, { agent: clients.agent }, resolve).on('error', reject));
        await expect(answer).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
      } finally {
        clients.close();
      }
    }
  });

  describe('SecretBackedConnections', () => {
    const IDLE_MS = 120_000;
    const clock = new FakeClock();
    let connections: SecretBackedConnections;
    let edgeDevice: EdgeDevice;
    const secrets = new Map<string, V1Secret>();
    /** A new resourceVersion of the credentials Secret, as when the password is rotated. */
    const bumpCredentials = (): void => {
      const key = `gpuvm-system/${edgeDevice.spec.arm.credentialsSecretRef.name}`;
      const secret = secrets.get(key);
      if (secret === undefined) throw new Error(`no Secret ${key}`);
      secrets.set(key, { ...secret, metadata: { ...secret.metadata, resourceVersion: String(Number(secret.metadata?.resourceVersion ?? '1') + 1) } });
    };

    beforeAll(() => {
      const manifests = edgeDeviceManifests(sim, 'dev', { secretNamespace: 'gpuvm-system', azure: false }) as (V1Secret | EdgeDevice)[];
      for (const m of manifests) if (m.kind === 'Secret') secrets.set(`gpuvm-system/${m.metadata?.name ?? ''}`, { ...m, metadata: { ...m.metadata, resourceVersion: '1' } });
      edgeDevice = manifests.find((m): m is EdgeDevice => m.kind === 'EdgeDevice') as EdgeDevice;
      connections = new SecretBackedConnections({ get: (key) => secrets.get(key), byIndex: () => [] }, { idleMs: IDLE_MS, clock });
    });
    afterAll(() => connections.close());

    const listVms = async (): Promise<void> => {
      const arm = connections.arm(edgeDevice);
      if (!arm.ok) throw new Error(arm.message);
      await arm.client.listVms();
    };
    const operationsSince = (since: number): string[] => sim.audit({ since, device: 'dev' }).map((e) => e.operation);
    const lastSeq = (): number => sim.audit().at(-1)?.seq ?? 0;

    it('builds clients again after the idle period without a request: the token and the api-versions outlive them', async () => {
      let since = lastSeq();
      await listVms();
      expect(operationsSince(since).filter((o) => o === 'provider.list' || o === 'provider.get').length).toBeGreaterThan(0);
      expect(operationsSince(since).filter((o) => o === 'token')).toHaveLength(1);

      clock.advance(IDLE_MS - 1);
      since = lastSeq();
      await listVms();
      expect(operationsSince(since)).toEqual(['vm.listAll']);
      expect(connections.clientCounts().arm).toBe(1);

      clock.advance(IDLE_MS * 1.25);
      expect(connections.clientCounts().arm).toBe(0);
      since = lastSeq();
      await listVms();
      expect(operationsSince(since)).toEqual(['vm.listAll']);
    });

    it('asks for a new token once the kept one expired, and for one with the new password when the Secret changes', async () => {
      // The simulator's tokens last an hour; a sweep after that forgets the one kept while no clients existed.
      clock.advance(IDLE_MS * 1.25);
      clock.advance(3_600_000);
      let since = lastSeq();
      await listVms();
      expect(operationsSince(since)).toEqual(['token', 'vm.listAll']);

      since = lastSeq();
      await listVms();
      expect(operationsSince(since)).toEqual(['vm.listAll']);
      bumpCredentials();
      since = lastSeq();
      await listVms();
      expect(operationsSince(since)).toEqual(['token', 'vm.listAll']);
    });

    it("after a restart, takes the api-versions from the device's status when they are the newest, else reads the providers", async () => {
      const providerReads = (since: number): number => operationsSince(since).filter((o) => o === 'provider.list' || o === 'provider.get').length;
      for (const [recorded, reads] of [
        [{ compute: '2020-06-01', disks: '2019-07-01', network: '2018-11-01', resources: '2020-06-01' }, 0],
        [{ compute: '2017-12-01', disks: '2017-03-30', network: '2017-10-01', resources: '2019-10-01' }, 1],
      ] as const) {
        // A new process: nothing negotiated yet, the device as its cached object shows it.
        const restarted = new SecretBackedConnections({ get: (key) => secrets.get(key), byIndex: () => [] }, { idleMs: IDLE_MS, clock });
        try {
          const arm = restarted.arm({ ...edgeDevice, status: { apiVersions: recorded } });
          if (!arm.ok) throw new Error(arm.message);
          const since = lastSeq();
          await arm.client.listVms();
          expect(providerReads(since)).toBe(reads);
          expect(await arm.client.apiVersions()).toEqual(reads === 0 ? recorded : { compute: '2020-06-01', disks: '2019-07-01', network: '2018-11-01', resources: '2020-06-01' });
        } finally {
          restarted.close();
        }
      }
    });

    it("keeps a throttled device's gate closed across the rebuild", async () => {
      sim.faults.add({ operation: 'vm.listAll', kind: 'throttle', sequence: [true], retryAfterSeconds: 600 });
      let since = lastSeq();
      await expect(listVms()).rejects.toMatchObject({ name: 'DeviceThrottledError' });
      expect(operationsSince(since)).toEqual(['vm.listAll']);

      clock.advance(IDLE_MS * 1.25);
      since = lastSeq();
      await expect(listVms()).rejects.toMatchObject({ name: 'DeviceThrottledError' });
      // The new clients sent the device nothing while its Retry-After runs.
      expect(operationsSince(since)).toEqual([]);
    });
  });
});

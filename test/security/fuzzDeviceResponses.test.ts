// Seeded hostile device answers, mutated from real simulator answers, served over HTTPS to the controller's own
// SDK-based adapters (SdkDeviceArm, SdkAzureDevice: the Azure SDK's deserialization included), and what they
// return run through the planners. Held: nothing throws but the controller's typed errors (DeviceResponseError,
// DeviceThrottledError) and the SDK's RestError; no unhandled rejection; every status the planners write is under
// STATUS_LIMIT_BYTES with condition messages under the documented limit; no plan removes a finalizer while a VM the
// GpuVm owns may exist. FUZZ_SEED and FUZZ_INPUTS override the seed and the count.
import { isRestError } from '@azure/core-rest-pipeline';
import { deviceViewFixture } from '../support/deviceViewFixture.js';
import { seededRandom } from '../../src/simulator/random.js';
import { API_VERSION, FINALIZER, type EdgeDevice, type GpuVm } from '../../src/api/types.js';
import { createAzureClients } from '../../src/azure/azureClients.js';
import { createDeviceClients } from '../../src/azure/deviceClients.js';
import { DeviceResponseError, DeviceThrottledError } from '../../src/azure/deviceResponseError.js';
import { buildCreateVmDeployment } from '../../src/azure/gpuVmDeployments.js';
import { SdkAzureDevice } from '../../src/azure/sdkAzureDevice.js';
import { SdkDeviceArm } from '../../src/azure/sdkDeviceArm.js';
import { MAX_CONDITION_MESSAGE_BYTES } from '../../src/plan/conditions.js';
import { planEdgeDevice } from '../../src/plan/edgeDevicePlan.js';
import { OWNER_TAG, vmDeploymentName } from '../../src/naming/armNames.js';
import type { ArmView } from '../../src/plan/gpuVmPlan.js';
import { gpuVmPlanAnsweringRest } from '../support/decidedGpuVmPlan.js';
import { describeArmError } from '../../src/reconcile/armErrors.js';
import { LINUX_IMAGE, TEST_PASSWORD, useSimulator } from '../support/devices.js';
import { HostileDeviceServer, type RecordedAnswer } from './hostileDeviceServer.js';

/** Far below etcd's 1.5 MiB request limit: what one object's status may take, whatever the device says. */
const STATUS_LIMIT_BYTES = 256 * 1024;
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x13_2026);
const INPUTS = Number(process.env['FUZZ_INPUTS'] ?? 10_000);
const UID = '0f0e0d0c-1111-2222-3333-444455556666';
const NOW = new Date('2026-11-30T00:00:00Z');
const SETTINGS = { pollIntervalMs: 5000, retryBaseMs: 10_000, retryMaxMs: 80_000, recheckMs: 30_000 };

const sim = useSimulator({ devices: [{ name: 'fuzz', gpus: 2, images: [LINUX_IMAGE] }], seed: 7, timings: { vmCreateMs: 0, extensionMs: 0, powerActionMs: 0, roleMs: 0, deleteMs: 0 } });

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

class Mutator {
  constructor(private readonly random: () => number) {}

  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** A hostile value: wrong types, NaN-ish numbers, huge and multi-byte strings, deep nesting, {} and []. */
  value(): Json {
    switch (this.int(12)) {
      case 0:
        return {};
      case 1:
        return [];
      case 2:
        return null;
      case 3:
        return this.pick([true, false]);
      case 4:
        return this.pick([-1, 0, 1.5, -0, 1e308, -1e308, 2 ** 53 + 1, 65, 1e21]);
      case 5:
        return this.pick(['NaN', 'Infinity', '-1', '1e400', '0x10', '', ' ', '2']);
      case 6:
        // Far past every cut (1 KiB device strings, 2 KiB messages); the 4 MiB answer limit has its own case below.
        return 'x'.repeat(this.pick([1024, 5000, 100_000, 300_000]));
      case 7:
        return '€😀\u0000\u202e'.repeat(this.pick([10, 1000, 50_000]));
      case 8: {
        const depth = this.pick([50, 500, 1500]);
        let nested: Json = 'deep';
        // One reference per level: a shared child would make the tree exponential.
        for (let i = 0; i < depth; i++) nested = this.random() < 0.5 ? [nested] : this.random() < 0.5 ? { error: nested } : { code: 'Inner', details: [nested] };
        return nested;
      }
      case 9:
        return { [OWNER_TAG]: this.pick(['someone-else', UID, '', 'x'.repeat(3000)]) };
      case 10:
        return Array.from({ length: this.pick([3, 300, 3000]) }, (_, i) => ({ name: `n${i}`, id: `/x/${i}`, code: `PowerState/running`, message: 'm'.repeat(200) }));
      default:
        return 'PowerState/' + this.pick(['running', 'deallocated', 'weird', '']);
    }
  }

  /** Paths to every node of a JSON value (bounded). */
  private paths(root: Json): (string | number)[][] {
    const out: (string | number)[][] = [];
    const walk = (node: Json, path: (string | number)[]): void => {
      if (out.length > 400) return;
      out.push(path);
      if (Array.isArray(node)) node.slice(0, 20).forEach((child, i) => walk(child, [...path, i]));
      else if (node !== null && typeof node === 'object') for (const [k, child] of Object.entries(node)) walk(child, [...path, k]);
    };
    walk(root, []);
    return out;
  }

  /** One mutation of a parsed body: replace, delete, retag, unwrap or duplicate a node. */
  mutate(root: Json): Json {
    const paths = this.paths(root);
    const path = this.pick(paths);
    if (path.length === 0) return this.value();
    const parentPath = path.slice(0, -1);
    const key = path[path.length - 1] as string | number;
    let parent: Json = root;
    for (const p of parentPath) parent = (parent as Record<string | number, Json>)[p] as Json;
    const container = parent as Record<string | number, Json>;
    switch (this.int(5)) {
      case 0:
        if (Array.isArray(container)) container.splice(key as number, 1);
        else Reflect.deleteProperty(container, key);
        break;
      case 1:
        // Arrays for objects and objects for arrays.
        container[key] = Array.isArray(container[key]) ? { value: container[key] as Json } : [container[key] as Json];
        break;
      default:
        container[key] = this.value();
    }
    return root;
  }

  /** A whole answer: status, headers and body text. */
  answer(base: RecordedAnswer, origin: string): { status: number; body: string; headers: Record<string, string> } {
    const status = this.random() < 0.8 ? 200 : this.pick([201, 202, 204, 400, 404, 409, 429, 500, 503]);
    const headers: Record<string, string> = status === 429 || status === 503 ? { 'retry-after': this.pick(['1', '99999999', 'soon', '-5', 'Wed, 21 Oct 2099 07:28:00 GMT']) } : {};
    const roll = this.random();
    if (roll < 0.05) return { status, headers, body: this.pick(['{}', '[]', 'null', '', '<html>oops</html>', '{"value":', '{"value":{}}', '{"value":[{}]}', '"str"', '12']) };
    if (roll < 0.08) return { status, headers, body: base.body.slice(0, this.int(base.body.length)) };
    let parsed: Json;
    try {
      parsed = JSON.parse(base.body) as Json;
    } catch {
      parsed = {};
    }
    const count = 1 + this.int(3);
    for (let i = 0; i < count; i++) parsed = this.mutate(parsed);
    const extra = this.random();
    if (extra < 0.04 && parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      // Paging without end (the same page again), or a next page on someone else's server.
      parsed['nextLink'] = this.random() < 0.5 ? `${origin}${base.path}` : `https://attacker.example${base.path}`;
    } else if (extra < 0.042) {
      return { status, headers, body: JSON.stringify({ value: [], padding: 'p'.repeat(5 * 1024 * 1024) }) };
    }
    try {
      return { status, headers, body: JSON.stringify(parsed) };
    } catch {
      // Too deep for JSON.stringify: deep nesting written as text, deeper still.
      const depth = 20_000;
      return { status, headers, body: `{"value":${'['.repeat(depth)}${']'.repeat(depth)},"error":${'{"error":'.repeat(depth)}1${'}'.repeat(depth)}}` };
    }
  }
}

function gpuVmObject(deleting: boolean): GpuVm {
  return {
    apiVersion: API_VERSION,
    kind: 'GpuVm',
    metadata: {
      name: 'owned',
      namespace: 'team',
      uid: UID,
      generation: 1,
      finalizers: [FINALIZER],
      creationTimestamp: new Date('2026-11-29T00:00:00Z'),
      ...(deleting ? { deletionTimestamp: new Date('2026-11-29T23:00:00Z') } : {}),
    },
    spec: {
      deviceRef: { name: 'fuzz' },
      size: 'Standard_NC4as_T4_v3',
      image: LINUX_IMAGE,
      adminCredentialsSecretRef: { name: 'owned-admin' },
      powerState: 'Running',
      deletionPolicy: 'Delete',
    },
    status: { phase: 'Ready', vm: { resourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/owned', powerState: 'running', provisioningState: 'Succeeded' } },
  } as GpuVm;
}

const deviceView = deviceViewFixture({ name: 'fuzz', reservation: 'Held' });

/** Our provisioned VM, its NIC `nicId`, no extension yet, and the IP a device answered for that NIC (undefined: not read). */
const ownedVmWithIp = (nicId: string, nicIp: string | null | undefined): ArmView => ({
  vm: { name: 'owned', id: '/x/owned', vmSize: 'Standard_NC4as_T4_v3', provisioningState: 'Succeeded', powerState: 'running', tags: { [OWNER_TAG]: UID }, nicIds: [nicId] },
  extension: null,
  ...(nicIp !== undefined ? { nicIp } : {}),
});

function edgeDeviceObject(): EdgeDevice {
  return {
    apiVersion: API_VERSION,
    kind: 'EdgeDevice',
    metadata: { name: 'fuzz', generation: 1, finalizers: [FINALIZER] },
    spec: {
      arm: { endpoint: 'https://management.fuzz.local', loginEndpoint: 'https://login.fuzz.local', subscriptionId: 's', resourceGroup: 'rg', credentialsSecretRef: { name: 's' } },
      azure: { resourceId: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.DataBoxEdge/dataBoxEdgeDevices/fuzz' },
      kubernetes: { state: 'Configured' },
      drain: false,
    },
  } as EdgeDevice;
}

interface Tally {
  outcomes: Record<string, number>;
  unexpected: { op: string; error: string }[];
  maxStatusBytes: number;
  maxMessageBytes: number;
  oversized: { op: string; bytes: number }[];
  finalizerDropped: { op: string; vm: string }[];
}

function checkStatus(tally: Tally, op: string, status: { conditions?: { message: string }[] }): void {
  const bytes = Buffer.byteLength(JSON.stringify(status));
  tally.maxStatusBytes = Math.max(tally.maxStatusBytes, bytes);
  if (bytes > STATUS_LIMIT_BYTES) tally.oversized.push({ op, bytes });
  for (const c of status.conditions ?? []) tally.maxMessageBytes = Math.max(tally.maxMessageBytes, Buffer.byteLength(c.message));
}

test(`at least ${INPUTS} seeded hostile answers to the adapters: typed errors only, bounded status, no finalizer dropped while a VM may exist`, async () => {
  const s = sim();
  const d = s.device('fuzz');
  const tls = { ...s.loopbackCertificate, caPem: s.caCertificatePem };
  const armFront = await HostileDeviceServer.start(d.armEndpoint, tls);
  const azureFront = await HostileDeviceServer.start(s.endpoints().azure.endpoint, tls);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    // A real VM (with its NIC and deployment) made with the controller's own CreateVM template, owned by UID.
    const direct = createDeviceClients({ ...d, caPem: s.caCertificatePem });
    const deployment = buildCreateVmDeployment(gpuVmObject(false), { username: 'azureuser', password: TEST_PASSWORD });
    await direct.resources.deployments.beginCreateOrUpdateAndWait(
      d.resourceGroup,
      vmDeploymentName(UID),
      { properties: { mode: 'Incremental', template: deployment.template, parameters: deployment.parameters } },
      { updateIntervalInMs: 20 },
    );

    const azure = s.endpoints().azure;
    const armClients = createDeviceClients(
      { armEndpoint: armFront.endpoint, loginEndpoint: armFront.endpoint, subscriptionId: d.subscriptionId, username: d.username, password: d.password, caPem: s.caCertificatePem },
      { retryOptions: { maxRetries: 0 }, requestTimeoutMs: 5000 },
    );
    const arm = new SdkDeviceArm(armClients, d.resourceGroup);
    const makeAzure = (): SdkAzureDevice =>
      new SdkAzureDevice(
        createAzureClients(
          { endpoint: azureFront.endpoint, authorityHost: azureFront.endpoint, tenantId: azure.tenantId, clientId: azure.clientId, clientSecret: azure.clientSecret, caPem: s.caCertificatePem },
          azure.subscriptionId,
          { retryOptions: { maxRetries: 0 }, requestTimeoutMs: 5000 },
        ),
        d.azureResourceId,
      );
    let azureDevice = makeAzure();

    // Each operation: how it is called, which request it makes, and how its result reaches a planner.
    const ops: { name: string; front: HostileDeviceServer; method: string; path: RegExp; run: () => Promise<(tally: Tally) => void> }[] = [
      {
        name: 'getVm',
        front: armFront,
        method: 'GET',
        path: /\/virtualMachines\/owned\?/i,
        run: async () => {
          const vm = await arm.getVm('owned');
          return (tally) => {
            // While the GpuVm is deleted: the finalizer may go only when the device said there is no such VM (404),
            // or named another owner on a VM with an id.
            const deleting = gpuVmPlanAnsweringRest({ now: NOW, gpuVm: gpuVmObject(true), device: deviceView, secret: { state: 'ok' }, arm: { vm: vm ?? null } }, SETTINGS);
            const mayBeOurs = vm !== undefined && (vm.id === '' || vm.tags[OWNER_TAG] === UID);
            if (deleting.action.kind === 'removeFinalizer' && mayBeOurs) tally.finalizerDropped.push({ op: 'getVm', vm: JSON.stringify(vm).slice(0, 200) });
            checkStatus(tally, 'getVm/deleting', deleting.status);
            checkStatus(tally, 'getVm', gpuVmPlanAnsweringRest({ now: NOW, gpuVm: gpuVmObject(false), device: deviceView, secret: { state: 'ok' }, arm: { vm: vm ?? null } }, SETTINGS).status);
          };
        },
      },
      {
        name: 'listVms',
        front: armFront,
        method: 'GET',
        path: /\/providers\/Microsoft\.Compute\/virtualMachines\?/i,
        run: async () => {
          const vms = await arm.listVms();
          return (tally) => checkStatus(tally, 'listVms', planEdgeDevice({ now: NOW, device: edgeDeviceObject(), connection: { connected: true }, armVms: vms, gpuVms: [gpuVmObject(false)] }, { pollIntervalMs: 5000, drainTimeoutMs: 3_600_000 }).status);
        },
      },
      {
        name: 'getDeployment',
        front: armFront,
        method: 'GET',
        path: /\/deployments\/[^/?]+\?/i,
        run: async () => {
          const dep = await arm.getDeployment(vmDeploymentName(UID));
          return (tally) => {
            const view: ArmView = { vm: null, vmDeployment: dep ?? null, vmDeploymentFailures: dep?.error !== undefined ? [dep.error] : [] };
            checkStatus(tally, 'getDeployment', gpuVmPlanAnsweringRest({ now: NOW, gpuVm: gpuVmObject(false), device: deviceView, secret: { state: 'ok' }, arm: view }, SETTINGS).status);
          };
        },
      },
      {
        name: 'getDeploymentFailures',
        front: armFront,
        method: 'GET',
        path: /\/deployments\/[^/?]+\/operations\?/i,
        run: async () => {
          const failures = await arm.getDeploymentFailures(vmDeploymentName(UID));
          return (tally) => {
            const view: ArmView = { vm: null, vmDeployment: { name: vmDeploymentName(UID), provisioningState: 'Failed' }, vmDeploymentFailures: failures };
            checkStatus(tally, 'getDeploymentFailures', gpuVmPlanAnsweringRest({ now: NOW, gpuVm: gpuVmObject(false), device: deviceView, secret: { state: 'ok' }, arm: view }, SETTINGS).status);
          };
        },
      },
      {
        name: 'getNicPrivateIp',
        front: armFront,
        method: 'GET',
        path: /\/networkInterfaces\/[^/?]+\?/i,
        run: async () => {
          const ip = await arm.getNicPrivateIp('owned-nic');
          return (tally) => {
            const view = ownedVmWithIp('/x/owned-nic', ip);
            checkStatus(tally, 'getNicPrivateIp', gpuVmPlanAnsweringRest({ now: NOW, gpuVm: gpuVmObject(false), device: deviceView, secret: { state: 'ok' }, arm: view }, SETTINGS).status);
          };
        },
      },
      {
        name: 'listNics',
        front: armFront,
        method: 'GET',
        path: /\/providers\/Microsoft\.Network\/networkInterfaces\?/i,
        run: async () => {
          const nics = await arm.listNics();
          return (tally) => {
            const view = ownedVmWithIp(nics[0]?.id ?? '/x/owned-nic', nics[0]?.privateIp ?? null);
            checkStatus(tally, 'listNics', gpuVmPlanAnsweringRest({ now: NOW, gpuVm: gpuVmObject(false), device: deviceView, secret: { state: 'ok' }, arm: view }, SETTINGS).status);
          };
        },
      },
      {
        name: 'getGpuCapacity',
        front: azureFront,
        method: 'GET',
        path: /\/deviceCapacityInfo\/default\?/i,
        run: async () => {
          const capacity = await azureDevice.getGpuCapacity();
          return (tally) => {
            const azureView = { roles: [], ...(capacity !== undefined ? { totalGpus: capacity.total, usedGpus: capacity.used } : {}) };
            checkStatus(tally, 'getGpuCapacity', planEdgeDevice({ now: NOW, device: edgeDeviceObject(), connection: { connected: true }, armVms: [], azure: azureView, gpuVms: [] }, { pollIntervalMs: 5000, drainTimeoutMs: 3_600_000 }).status);
          };
        },
      },
      {
        name: 'getComputeRoles',
        front: azureFront,
        method: 'GET',
        path: /\/roles\?/i,
        run: async () => {
          const roles = await azureDevice.getComputeRoles();
          return (tally) =>
            checkStatus(tally, 'getComputeRoles', planEdgeDevice({ now: NOW, device: edgeDeviceObject(), connection: { connected: true }, armVms: [], azure: { roles, totalGpus: 2, usedGpus: 0 }, gpuVms: [] }, { pollIntervalMs: 5000, drainTimeoutMs: 3_600_000 }).status);
        },
      },
      {
        name: 'getDevice',
        front: azureFront,
        method: 'GET',
        path: /\/dataBoxEdgeDevices\/[^/?]+\?/i,
        run: async () => {
          const facts = await azureDevice.getDevice();
          return (tally) => {
            const azureView = { roles: [], ...(facts.sku !== undefined ? { sku: facts.sku } : {}), ...(facts.softwareVersion !== undefined ? { softwareVersion: facts.softwareVersion } : {}) };
            checkStatus(tally, 'getDevice', planEdgeDevice({ now: NOW, device: edgeDeviceObject(), connection: { connected: true }, armVms: [], azure: azureView, gpuVms: [] }, { pollIntervalMs: 5000, drainTimeoutMs: 3_600_000 }).status);
          };
        },
      },
    ];

    // The real answers, recorded once through the fronts.
    armFront.recording = true;
    azureFront.recording = true;
    for (const op of ops) await op.run();
    armFront.recording = false;
    azureFront.recording = false;
    const bases = new Map(
      ops.map((op) => {
        const recorded = [...op.front.recorded].reverse().find((r) => r.method === op.method && op.path.test(r.path) && r.status === 200);
        if (recorded === undefined) throw new Error(`no real answer recorded for ${op.name}`);
        return [op.name, recorded] as const;
      }),
    );

    const random = seededRandom(SEED);
    const mutator = new Mutator(random);
    const tally: Tally = { outcomes: {}, unexpected: [], maxStatusBytes: 0, maxMessageBytes: 0, oversized: [], finalizerDropped: [] };
    const count = (kind: string): void => {
      tally.outcomes[kind] = (tally.outcomes[kind] ?? 0) + 1;
    };
    const started = Date.now();
    let bodyBytes = 0;
    for (let i = 0; i < INPUTS; i++) {
      const op = mutator.pick(ops);
      const base = bases.get(op.name) as RecordedAnswer;
      const answer = mutator.answer(base, op.front.endpoint);
      bodyBytes += answer.body.length;
      op.front.setRules([{ method: op.method, path: op.path, hostility: { kind: 'answer', ...answer } }]);
      try {
        const toPlanner = await op.run();
        count('parsed');
        toPlanner(tally);

      } catch (err) {
        const kind =
          err instanceof DeviceResponseError ? `DeviceResponseError/${err.code}` : err instanceof DeviceThrottledError ? 'DeviceThrottledError' : isRestError(err) ? `RestError/${err.statusCode ?? err.code ?? '?'}` : undefined;
        if (kind === undefined) {
          tally.unexpected.push({ op: op.name, error: `${(err as Error).name}: ${(err as Error).message}`.slice(0, 300) + ((err as Error).stack ?? "").split("\n").slice(1, 5).join(" | ") });
          count('unexpected');
        } else {
          count(kind.startsWith('RestError/') ? 'RestError' : kind);
        }
        tally.maxMessageBytes = Math.max(tally.maxMessageBytes, Buffer.byteLength(describeArmError(err)));
        // A throttled Azure client stays shut for the Retry-After: a fresh one keeps the loop going.
        if (err instanceof DeviceThrottledError) azureDevice = makeAzure();
      } finally {
        op.front.setRules([]);
      }
    }
    const durationMs = Date.now() - started;
    await new Promise((resolve) => setImmediate(resolve));
    const summary = {
      seed: SEED,
      inputs: INPUTS,
      overHttps: INPUTS,
      durationMs,
      bodyMiB: Math.round(bodyBytes / 1024 / 1024),
      outcomes: tally.outcomes,
      maxStatusBytes: tally.maxStatusBytes,
      maxMessageBytes: tally.maxMessageBytes,
      unexpected: tally.unexpected.slice(0, 10),
      oversized: tally.oversized.slice(0, 10),
      finalizerDropped: tally.finalizerDropped.slice(0, 10),
      unhandledRejections: unhandled.length,
    };
    console.log(`fuzz (FUZZ_SEED=${SEED}): ${JSON.stringify(summary)}`);
    expect(tally.unexpected).toEqual([]);
    expect(unhandled).toEqual([]);
    expect(tally.oversized).toEqual([]);
    expect(tally.maxMessageBytes).toBeLessThanOrEqual(MAX_CONDITION_MESSAGE_BYTES);
    expect(tally.finalizerDropped).toEqual([]);
    expect(tally.outcomes['parsed'] ?? 0).toBeGreaterThan(INPUTS / 10);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await armFront.stop();
    await azureFront.stop();
  }
}, 600_000);

// Checks shared by the tests of invalid input the controller must refuse to act on: the device-side writes the
// simulator saw (by device or attributed to one GpuVm), and waiting for a GpuVm condition reason.
import type { GpuVm } from '../../../src/api/types.js';
import type { AuditEntry, Simulator } from '../../../src/simulator/index.js';
import { waitFor } from '../../support/cluster.js';
import { conditionOf, getGpuVm } from '../../support/objects.js';

/** A device-side write: anything but reads and the token/identity requests of signing in. */
export const isArmWrite = (e: AuditEntry): boolean => e.method !== 'GET' && e.operation !== 'token' && !e.operation.startsWith('identity');

/** Every device-side write the simulator recorded, optionally for one device or after an audit sequence number. */
export function armWrites(sim: Simulator, filter: { device?: string; since?: number } = {}): AuditEntry[] {
  return sim.audit(filter).filter(isArmWrite);
}

/** Writes whose path names this GpuVm's VM or NIC, or its deployments (named after its UID). */
export function armWritesFor(sim: Simulator, gpuVm: GpuVm): AuditEntry[] {
  const name = (gpuVm.metadata.name ?? '').toLowerCase();
  const uid = gpuVm.metadata.uid ?? '';
  if (name === '' || uid === '') throw new Error('armWritesFor needs a stored GpuVm (name and uid)');
  return armWrites(sim).filter((e) =>
    e.path
      .toLowerCase()
      .split(/[/?]/)
      .some((segment) => segment === name || segment === `${name}-nic` || segment.includes(uid)),
  );
}

/** Waits until the GpuVm's condition `type` has `reason` and resolves with the GpuVm. */
export function waitForReason(namespace: string, name: string, type: string, reason: string, timeoutMs = 30_000): Promise<GpuVm> {
  return waitFor(
    async () => {
      const g = await getGpuVm(namespace, name);
      return conditionOf(g, type)?.reason === reason ? g : undefined;
    },
    { timeoutMs, intervalMs: 250, description: `${namespace}/${name} ${type} reason ${reason}` },
  );
}

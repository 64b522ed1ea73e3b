// What the EdgeDevice and GpuVm reconcilers of one process share about each device's VM listing: a GpuVm whose
// CreateVM failed asks for the device to be listed again at once, and learns whether admission, run on that
// fresh listing, still backs its reservation (a failure on a full device is capacity, whatever the error code).

import type { CapacityCheck } from '../plan/capacityCheck.js';

interface Entry {
  uid: string;
  check: CapacityCheck;
}

export class DeviceListings {
  private readonly checks = new Map<string, Map<string, Entry>>();

  /** `enqueueDevice` asks the EdgeDevice controller to reconcile a device now. */
  constructor(private readonly enqueueDevice: (device: string) => void) {}

  /**
   * The capacity check of one failed CreateVM (`failure` names the failure, e.g. the deployment's timestamp):
   * the first call asks for a listing and answers pending; a done answer is handed out once, then forgotten,
   * so a GpuVm admitted again later gets a fresh check of its next failure.
   */
  capacityCheck(device: string, uid: string, failure: string): CapacityCheck {
    let entries = this.checks.get(device);
    if (entries === undefined) {
      entries = new Map();
      this.checks.set(device, entries);
    }
    const key = `${uid}@${failure}`;
    const entry = entries.get(key);
    if (entry?.check.state === 'done') {
      entries.delete(key);
      return entry.check;
    }
    if (entry !== undefined) return entry.check;
    for (const [k, e] of entries) if (e.uid === uid) entries.delete(k);
    const check: CapacityCheck = { state: 'pending' };
    entries.set(key, { uid, check });
    this.enqueueDevice(device);
    return check;
  }

  /** The checks waiting for a listing: while there are any, the device reconciler lists the device. */
  pendingChecks(device: string): string[] {
    return [...(this.checks.get(device)?.entries() ?? [])].filter(([, e]) => e.check.state === 'pending').map(([k]) => k);
  }

  /** Answers `keys` (taken before the listing) with the admission written from it. */
  answer(device: string, keys: readonly string[], backedUids: ReadonlySet<string>): void {
    const entries = this.checks.get(device);
    for (const key of keys) {
      const entry = entries?.get(key);
      if (entry !== undefined) entry.check = { state: 'done', reserved: backedUids.has(entry.uid) };
    }
  }

  forget(device: string): void {
    this.checks.delete(device);
  }
}

// The latest VM listing of each device, shared by both kinds in one process: a GpuVm whose VM the controller
// already knows (it is Ready, or was at the last look) takes its VM from a listing of the device instead of a GET of
// its own, so a restart costs one list per device, not one GET per GpuVm. Callers that want a listing at the same
// time share one request.
import type { ArmVm } from '../arm/resources.js';
import type { Clock } from './ports.js';

export interface VmListing {
  /** When the list request was sent: everything the device did before then is in it. */
  at: number;
  vms: readonly ArmVm[];
}

interface InFlight {
  startedAt: number;
  listing: Promise<VmListing>;
}

export class VmSnapshots {
  private readonly latest = new Map<string, VmListing>();
  private readonly inFlight = new Map<string, InFlight>();

  constructor(private readonly clock: Pick<Clock, 'now'>) {}

  /**
   * A listing of `device` sent no earlier than `notBefore`: the latest one when it is recent enough, else the one
   * in flight when it was sent late enough, else a new one made with `listVms`.
   */
  list(device: string, notBefore: number, listVms: () => Promise<ArmVm[]>): Promise<VmListing> {
    const latest = this.latest.get(device);
    if (latest !== undefined && latest.at >= notBefore) return Promise.resolve(latest);
    const running = this.inFlight.get(device);
    if (running !== undefined && running.startedAt >= notBefore) return running.listing;
    const startedAt = this.clock.now();
    const entry: InFlight = {
      startedAt,
      listing: listVms().then(
        (vms) => {
          this.clear(device, entry);
          return this.record(device, { at: startedAt, vms });
        },
        (err: unknown) => {
          this.clear(device, entry);
          throw err;
        },
      ),
    };
    this.inFlight.set(device, entry);
    return entry.listing;
  }

  /** A listing the caller made itself (e.g. the device's periodic one). */
  record(device: string, listing: VmListing): VmListing {
    const latest = this.latest.get(device);
    if (latest === undefined || latest.at <= listing.at) this.latest.set(device, listing);
    return listing;
  }

  forget(device: string): void {
    this.latest.delete(device);
    this.inFlight.delete(device);
  }

  private clear(device: string, entry: InFlight): void {
    if (this.inFlight.get(device) === entry) this.inFlight.delete(device);
  }
}

// The latest listing of something per device (its VMs, its images, its NICs), shared by both kinds in one process: a
// GpuVm takes its VM or image from a recent listing of its device instead of a GET of its own, so the GpuVms of a
// device (and the device itself) share one list request, and a restart costs one list per device, not one GET
// per GpuVm. Callers that want a listing at the same time share one request.
import type { ArmNic, ArmVm } from '../arm/resources.js';
import type { Clock } from './ports.js';

export interface DeviceSnapshot<T> {
  /** When the list request was sent: everything the device did before then is in it. */
  at: number;
  items: readonly T[];
}

interface InFlight<T> {
  startedAt: number;
  listing: Promise<DeviceSnapshot<T>>;
}

/** How old a device's listing (VMs, images, NICs) may be to stand in for a GET of one of them. */
export const SNAPSHOT_MAX_AGE_MS = 60_000;

export class DeviceSnapshots<T> {
  private readonly latest = new Map<string, DeviceSnapshot<T>>();
  private readonly inFlight = new Map<string, InFlight<T>>();
  private sweptAt = 0;

  /** Listings older than maxAgeMs serve no caller: they are dropped, at most once per maxAgeMs. */
  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly maxAgeMs: number = SNAPSHOT_MAX_AGE_MS,
  ) {}

  /**
   * A listing of `device` sent no earlier than `notBefore`: the latest one when it is recent enough, else the one
   * in flight when it was sent late enough, else a new one made with `list`.
   */
  list(device: string, notBefore: number, list: () => Promise<T[]>): Promise<DeviceSnapshot<T>> {
    const latest = this.latest.get(device);
    if (latest !== undefined && latest.at >= notBefore) return Promise.resolve(latest);
    const running = this.inFlight.get(device);
    if (running !== undefined && running.startedAt >= notBefore) return running.listing;
    const startedAt = this.clock.now();
    const entry: InFlight<T> = {
      startedAt,
      listing: list().then(
        (items) => {
          this.clear(device, entry);
          return this.record(device, { at: startedAt, items });
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
  record(device: string, listing: DeviceSnapshot<T>): DeviceSnapshot<T> {
    this.sweep();
    const latest = this.latest.get(device);
    if (latest === undefined || latest.at <= listing.at) this.latest.set(device, listing);
    return listing;
  }

  forget(device: string): void {
    this.latest.delete(device);
    this.inFlight.delete(device);
  }

  /** A fleet's listings would otherwise stay for as long as their devices (about 1.6 KiB per device). */
  private sweep(): void {
    const now = this.clock.now();
    if (now - this.sweptAt < this.maxAgeMs) return;
    this.sweptAt = now;
    for (const [device, snapshot] of this.latest) if (snapshot.at < now - this.maxAgeMs) this.latest.delete(device);
  }

  private clear(device: string, entry: InFlight<T>): void {
    if (this.inFlight.get(device) === entry) this.inFlight.delete(device);
  }
}

/** Each device's VMs, with power states. */
export class VmSnapshots extends DeviceSnapshots<ArmVm> {}

/** The names of each device's images in its resource group. */
export class ImageSnapshots extends DeviceSnapshots<string> {}

/** Each device's NICs in its resource group, with their private IPs. */
export class NicSnapshots extends DeviceSnapshots<ArmNic> {}

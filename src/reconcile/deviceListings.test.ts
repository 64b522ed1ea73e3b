import { DeviceListings } from './deviceListings.js';

describe('DeviceListings', () => {
  it('asks for one listing per failure and answers it from the admission written after it', () => {
    const enqueued: string[] = [];
    const listings = new DeviceListings((d) => enqueued.push(d));
    expect(listings.capacityCheck('dev-a', 'uid-1', 't1')).toEqual({ state: 'pending' });
    expect(listings.capacityCheck('dev-a', 'uid-1', 't1')).toEqual({ state: 'pending' });
    expect(enqueued).toEqual(['dev-a']);

    const keys = listings.pendingChecks('dev-a');
    // A check asked for after the listing started is answered by the next one.
    listings.capacityCheck('dev-a', 'uid-2', 't9');
    listings.answer('dev-a', keys, new Set(['uid-3']));
    expect(listings.capacityCheck('dev-a', 'uid-2', 't9')).toEqual({ state: 'pending' });
    expect(listings.capacityCheck('dev-a', 'uid-1', 't1')).toEqual({ state: 'done', reserved: false });
    // Handed out once: the same failure seen again (GpuVm admitted again) is checked afresh.
    expect(listings.capacityCheck('dev-a', 'uid-1', 't1')).toEqual({ state: 'pending' });
  });

  it('answers reserved when the fresh admission still backs the GpuVm, and forgets a deleted device', () => {
    const listings = new DeviceListings(() => undefined);
    listings.capacityCheck('dev-a', 'uid-1', 't1');
    listings.answer('dev-a', listings.pendingChecks('dev-a'), new Set(['uid-1']));
    expect(listings.capacityCheck('dev-a', 'uid-1', 't1')).toEqual({ state: 'done', reserved: true });
    listings.capacityCheck('dev-a', 'uid-1', 't2');
    listings.forget('dev-a');
    expect(listings.pendingChecks('dev-a')).toEqual([]);
  });

  it('keeps one check per GpuVm: a newer failure replaces the older one', () => {
    const listings = new DeviceListings(() => undefined);
    listings.capacityCheck('dev-a', 'uid-1', 't1');
    listings.capacityCheck('dev-a', 'uid-1', 't2');
    expect(listings.pendingChecks('dev-a')).toEqual(['uid-1@t2']);
  });
});

import type { ArmVm } from '../arm/resources.js';
import { FakeClock } from '../../test/support/fakes/fakeClock.js';
import { VmSnapshots } from './deviceSnapshots.js';

const vm = (name: string): ArmVm => ({ name, id: `/vms/${name}`, vmSize: 's', provisioningState: 'Succeeded', powerState: 'running', tags: {}, nicIds: [] });

describe('DeviceSnapshots', () => {
  it('callers at the same time share one list request; a later caller reuses it while it is recent enough', async () => {
    const clock = new FakeClock();
    const snapshots = new VmSnapshots(clock);
    let lists = 0;
    const listVms = async (): Promise<ArmVm[]> => {
      lists++;
      return [vm('a')];
    };
    const [first, second] = await Promise.all([snapshots.list('dev', 0, listVms), snapshots.list('dev', 0, listVms)]);
    expect(lists).toBe(1);
    expect(second).toBe(first);
    clock.advance(1000);
    await snapshots.list('dev', clock.now() - 5000, listVms);
    expect(lists).toBe(1);
    // Not recent enough (e.g. sent before the caller's own write): a new list.
    await snapshots.list('dev', clock.now(), listVms);
    expect(lists).toBe(2);
  });

  it('forgets a failed list, so the next caller lists again', async () => {
    const snapshots = new VmSnapshots(new FakeClock());
    await expect(snapshots.list('dev', 0, () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    await expect(snapshots.list('dev', 0, async () => [vm('b')])).resolves.toMatchObject({ items: [{ name: 'b' }] });
  });

  it('drops listings too old to serve anyone when a listing is recorded after the maximum age has passed', async () => {
    const clock = new FakeClock();
    const snapshots = new VmSnapshots(clock, 60_000);
    snapshots.record('dev-a', { at: clock.now(), items: [vm('a')] });
    clock.advance(60_001);
    snapshots.record('dev-b', { at: clock.now(), items: [vm('b')] });
    let lists = 0;
    // Asked with no age bound: an entry still kept would be returned without a list.
    await snapshots.list('dev-a', 0, async () => {
      lists++;
      return [];
    });
    expect(lists).toBe(1);
    await expect(snapshots.list('dev-b', 0, () => Promise.reject(new Error('not expected')))).resolves.toMatchObject({ items: [{ name: 'b' }] });
  });

  it('keeps the newer of two listings', () => {
    const snapshots = new VmSnapshots(new FakeClock());
    snapshots.record('dev', { at: 2000, items: [vm('new')] });
    snapshots.record('dev', { at: 1000, items: [vm('old')] });
    return expect(snapshots.list('dev', 1500, () => Promise.reject(new Error('not expected')))).resolves.toMatchObject({ at: 2000 });
  });
});

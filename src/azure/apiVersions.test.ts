import { type ProviderListing, TESTED_API_VERSIONS, UnsupportedApiVersionsError, chooseApiVersions, newestRecorded, resourceTypeVersions } from './apiVersions.js';

/** A listing in the Providers_Get shape for the three namespaces. */
function listing(compute: string[], disks: string[] | undefined, network: string[], resources: string[]): ProviderListing {
  const provider = (types: Record<string, string[] | undefined>) =>
    resourceTypeVersions({
      resourceTypes: Object.entries(types)
        .filter(([, v]) => v !== undefined)
        .map(([resourceType, apiVersions]) => ({ resourceType, locations: ['dbelocal'], apiVersions })),
    });
  return {
    'microsoft.compute': provider({ virtualMachines: compute, images: compute, disks }),
    'microsoft.network': provider({ networkInterfaces: network }),
    'microsoft.resources': provider({ deployments: resources }),
  };
}

describe('chooseApiVersions', () => {
  it('takes the 2020-09-01-hybrid set from a device that lists only it', () => {
    expect(chooseApiVersions(listing(['2020-06-01'], ['2019-07-01'], ['2018-11-01'], ['2019-10-01']))).toEqual({
      compute: '2020-06-01',
      disks: '2019-07-01',
      network: '2018-11-01',
      resources: '2019-10-01',
    });
  });

  it('takes the ASE article set (2019-03-01-hybrid) from a device that lists only it', () => {
    expect(chooseApiVersions(listing(['2017-12-01', '2017-03-30'], ['2017-03-30'], ['2017-10-01'], ['2020-06-01']))).toEqual({
      compute: '2017-12-01',
      disks: '2017-03-30',
      network: '2017-10-01',
      resources: '2020-06-01',
    });
  });

  it('prefers the newest tested version and ignores untested ones, whatever the listed order and case', () => {
    const chosen = chooseApiVersions(listing(['2017-12-01', '2024-03-01', '2020-06-01'], ['2017-03-30', '2019-07-01'], ['2017-10-01', '2018-11-01'], ['2019-10-01', '2020-06-01']));
    expect(chosen).toEqual({ compute: '2020-06-01', disks: '2019-07-01', network: '2018-11-01', resources: '2020-06-01' });
  });

  it('pairs disks with the compute profile when the device lists no disks type', () => {
    expect(chooseApiVersions(listing(['2017-12-01'], undefined, ['2017-10-01'], ['2020-06-01'])).disks).toBe('2017-03-30');
  });

  it('names what the device serves and what the controller supports when nothing matches', () => {
    const served = listing(['2024-03-01'], ['2023-04-02'], ['2023-09-01'], ['2022-09-01']);
    expect(() => chooseApiVersions(served)).toThrow(UnsupportedApiVersionsError);
    let message = '';
    try {
      chooseApiVersions(served);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('Microsoft.Compute/virtualMachines serves 2024-03-01 (supported: 2020-06-01, 2017-12-01)');
    expect(message).toContain('Microsoft.Network/networkInterfaces serves 2023-09-01 (supported: 2018-11-01, 2017-10-01)');
    expect(message).toContain('Microsoft.Resources/deployments serves 2022-09-01');
    expect(message).toContain('Microsoft.Compute/disks serves 2023-04-02');
  });

  it('reports a kind the device does not list at all', () => {
    const partial: ProviderListing = { ...listing(['2020-06-01'], ['2019-07-01'], ['2018-11-01'], ['2019-10-01']), 'microsoft.network': new Map() };
    expect(() => chooseApiVersions(partial)).toThrow(/Microsoft\.Network\/networkInterfaces serves nothing/);
  });
});

describe('newestRecorded', () => {
  const newest = { compute: '2020-06-01', disks: '2019-07-01', network: '2018-11-01', resources: '2020-06-01' };

  it('takes recorded versions only when each is the newest the controller speaks', () => {
    expect(newest).toEqual(Object.fromEntries(Object.entries(TESTED_API_VERSIONS).map(([kind, versions]) => [kind, versions[0]])));
    expect(newestRecorded(newest)).toEqual(newest);
    expect(newestRecorded({ ...newest, extra: 'x' })).toEqual(newest);
  });

  it('leaves an older, unknown, missing or malformed record to negotiation', () => {
    expect(newestRecorded({ ...newest, compute: '2017-12-01' })).toBeUndefined();
    expect(newestRecorded({ ...newest, network: '2018-11-01&x=1' })).toBeUndefined();
    const { disks: _disks, ...noDisks } = newest;
    expect(newestRecorded(noDisks)).toBeUndefined();
    for (const junk of [undefined, null, 'x', 3, []]) expect(newestRecorded(junk)).toBeUndefined();
  });
});

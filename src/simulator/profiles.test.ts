import { API_VERSION_SETS } from './apiVersions.js';
import { ConfigError, normalizeConfig, parseConfigYaml, releaseOf } from './config.js';
import { BUILT_IN_PROFILE_NAMES, normalizeProfile } from './profiles.js';

describe('device profiles', () => {
  it('defaults to the default profile: release 2403, both api-version sets, OS disks deleted with their VM', () => {
    const device = normalizeConfig({ devices: [{ name: 'a' }] }).devices[0];
    expect(device?.profile).toEqual({
      name: 'default',
      apiVersions: 'both',
      tokenAudience: 'resource-or-scope',
      computeRole: 'Kubernetes',
      stoppedGpuTakeoverMs: null,
      gpuExhaustion: 'AllocationFailed',
      osDiskSurvivesVmDelete: true,
    });
    expect(releaseOf(device?.softwareVersion ?? '')).toBe(2403);
    expect(normalizeProfile('ase-2403', 'p').profile.osDiskSurvivesVmDelete).toBe(true);
  });

  it('gives each built-in release profile its release as default software version, unless the device names one', () => {
    for (const [name, release] of [['ase-2106', 2106], ['ase-2203', 2203], ['ase-2205', 2205], ['ase-2403', 2403]] as const) {
      const device = normalizeConfig({ devices: [{ name: 'a', profile: name }] }).devices[0];
      expect([device?.profile.name, releaseOf(device?.softwareVersion ?? '')]).toEqual([name, release]);
    }
    const pinned = normalizeConfig({ devices: [{ name: 'a', profile: 'ase-2106', softwareVersion: '2.2.2205.1' }] }).devices[0];
    expect(pinned?.softwareVersion).toBe('2.2.2205.1');
  });

  it('has the conservative and future-only built-ins as specified', () => {
    expect(normalizeProfile('conservative', 'p').profile).toMatchObject({ apiVersions: 'ase-article', tokenAudience: 'resource', computeRole: 'IOT', gpuExhaustion: 'BareDeploymentFailed', osDiskSurvivesVmDelete: true });
    expect(normalizeProfile('conservative', 'p').profile.stoppedGpuTakeoverMs).toBeGreaterThan(0);
    expect(normalizeProfile('future-only', 'p').profile.apiVersions).toBe('future-only');
    expect(BUILT_IN_PROFILE_NAMES).toEqual(expect.arrayContaining(['default', 'ase-2106', 'ase-2203', 'ase-2205', 'ase-2403', 'conservative', 'future-only']));
  });

  it('applies overrides on a base and names the result custom', () => {
    const { profile, softwareVersion } = normalizeProfile({ base: 'ase-2106', gpuExhaustion: 'OtherCode', stoppedGpuTakeoverMs: null }, 'p');
    expect(profile).toMatchObject({ name: 'custom', apiVersions: 'ase-article', computeRole: 'IOT', gpuExhaustion: 'OtherCode', stoppedGpuTakeoverMs: null });
    expect(releaseOf(softwareVersion)).toBe(2106);
    expect(normalizeProfile({ computeRole: 'none' }, 'p').profile).toMatchObject({ name: 'custom', apiVersions: 'both', computeRole: 'none' });
    expect(normalizeProfile({ base: 'ase-2403', computeRole: 'Kubernetes' }, 'p').profile.name).toBe('ase-2403');
  });

  it('names the offending field', () => {
    const bad = (profile: unknown): (() => unknown) => () => normalizeConfig({ devices: [{ name: 'a', profile: profile as string }] });
    expect(bad('ase-1999')).toThrow(/devices\[0\]\.profile: one of default, /);
    expect(bad({ base: 'nope' })).toThrow(/devices\[0\]\.profile\.base: one of/);
    expect(bad({ apiVersions: 'latest' })).toThrow(/devices\[0\]\.profile\.apiVersions: one of ase-article, hybrid-2020-09-01, both, future-only/);
    expect(bad({ tokenAudience: 'scope' })).toThrow(/profile\.tokenAudience/);
    expect(bad({ computeRole: 'kubernetes' })).toThrow(/profile\.computeRole: one of Kubernetes, IOT, none/);
    expect(bad({ gpuExhaustion: 'Boom' })).toThrow(/profile\.gpuExhaustion/);
    expect(bad({ stoppedGpuTakeoverMs: -5 })).toThrow(/profile\.stoppedGpuTakeoverMs/);
    expect(bad({ osDiskSurvivesVmDelete: 'yes' })).toThrow(/profile\.osDiskSurvivesVmDelete/);
    expect(bad({ apiVersion: 'both' })).toThrow(/profile\.apiVersion: unknown field/);
    expect(bad(['default'])).toThrow(ConfigError);
  });

  it('reads profiles from YAML and is idempotent', () => {
    const config = parseConfigYaml(`
devices:
  - {name: a, profile: conservative}
  - name: b
    profile: {base: ase-2205, gpuExhaustion: OtherCode, stoppedGpuTakeoverMs: 500}
  - {name: c}
`);
    expect(config.devices.map((d) => d.profile.name)).toEqual(['conservative', 'custom', 'default']);
    expect(config.devices[1]?.profile).toMatchObject({ gpuExhaustion: 'OtherCode', stoppedGpuTakeoverMs: 500, computeRole: 'Kubernetes' });
    expect(releaseOf(config.devices[1]?.softwareVersion ?? '')).toBe(2205);
    expect(normalizeConfig(config)).toEqual(config);
  });

  it('has api-version sets whose union is both', () => {
    const both = API_VERSION_SETS.both;
    for (const column of ['compute', 'disks', 'network', 'resources'] as const) {
      expect([...both[column]].sort()).toEqual([...new Set([...API_VERSION_SETS['ase-article'][column], ...API_VERSION_SETS['hybrid-2020-09-01'][column]])].sort());
      for (const v of API_VERSION_SETS['future-only'][column]) expect(both[column]).not.toContain(v);
    }
  });
});

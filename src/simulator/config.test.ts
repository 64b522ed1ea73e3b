import { ConfigError, normalizeConfig, parseConfigYaml, releaseOf } from './config.js';

describe('simulator config', () => {
  it('fills defaults with stable subscription ids', () => {
    const a = normalizeConfig({ devices: [{ name: 'dev-a' }] });
    const b = normalizeConfig({ devices: [{ name: 'dev-a' }] });
    expect(a.devices[0]?.subscriptionId).toBe(b.devices[0]?.subscriptionId);
    expect(a.devices[0]).toMatchObject({ gpus: 2, resourceGroup: 'ASERG-vms', kubernetes: false });
    expect(a.kubernetesClaimsFreedGpus).toBe(true);
    expect(a.timings.vmCreateMs).toBeGreaterThan(0);
  });

  it('parses YAML and names the offending field', () => {
    const config = parseConfigYaml(`
devices:
  - name: dev-a
    gpus: 1
    softwareVersion: "2.2.2205.5015"
    kubernetes: true
    images:
      - {name: ubuntu, osType: Linux, os: {name: Ubuntu, version: "18.04"}, gpuUnsupported: true}
timings: {vmCreateMs: 0, retryAfterSeconds: 0}
faults:
  - {operation: vm.get, kind: throttle, rate: 0.1}
seed: 3
`);
    expect(config.devices[0]).toMatchObject({ gpus: 1, kubernetes: true, images: [{ name: 'ubuntu', gpuUnsupported: true }] });
    expect(config.timings).toMatchObject({ vmCreateMs: 0, retryAfterSeconds: 0, extensionMs: 2000 });
    expect(config.faults).toHaveLength(1);
    expect(() => parseConfigYaml('devices: [{name: x, gpus: 3}]')).toThrow(/devices\[0\]\.gpus/);
    expect(() => parseConfigYaml('timings: {vmCreateMs: -1}')).toThrow(ConfigError);
    expect(() => parseConfigYaml('faults: [{operation: x, kind: meteor}]')).toThrow(/faults\[0\]\.kind/);
    expect(() => parseConfigYaml('- 1')).toThrow(/mapping/);
  });

  it('keeps idle connections 5 s unless keepAliveTimeoutMs says otherwise, and refuses a value that is not > 0', () => {
    expect(normalizeConfig({}).keepAliveTimeoutMs).toBe(5000);
    expect(parseConfigYaml('keepAliveTimeoutMs: 120000').keepAliveTimeoutMs).toBe(120_000);
    expect(() => parseConfigYaml('keepAliveTimeoutMs: 0')).toThrow(/keepAliveTimeoutMs: a number of milliseconds > 0/);
    expect(() => parseConfigYaml('keepAliveTimeoutMs: "2m"')).toThrow(/keepAliveTimeoutMs/);
  });

  it('is idempotent', () => {
    const once = parseConfigYaml('devices: [{name: a, gpus: 1, images: [{name: i, osType: Windows}]}]\nfaults: [{operation: "*", kind: latency}]');
    expect(normalizeConfig(once)).toEqual(once);
  });

  it('reads the release from a software version', () => {
    expect(releaseOf('2.2.2205.5015')).toBe(2205);
    expect(releaseOf('2403')).toBe(2403);
    expect(releaseOf('garbage')).toBe(0);
  });
});

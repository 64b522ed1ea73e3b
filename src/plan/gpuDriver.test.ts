import { chooseGpuDriver } from './gpuDriver.js';

// GPU extension versions by release: doc azure-stack-edge-gpu-deploy-virtual-machine-install-gpu-extension.md
// (before 2205: 1.3; from 2205: Windows 1.5, Linux 1.8).
describe('chooseGpuDriver', () => {
  it.each([
    { os: 'Windows', software: '2.2.2106.1', type: 'NvidiaGpuDriverWindows', version: '1.3', basis: 'device release 2106' },
    { os: 'Linux', software: '2.2.2106.1', type: 'NvidiaGpuDriverLinux', version: '1.3', basis: 'device release 2106' },
    { os: 'Windows', software: '2.2.2205.4023', type: 'NvidiaGpuDriverWindows', version: '1.5', basis: 'device release 2205' },
    { os: 'Linux', software: '3.2.2403.1', type: 'NvidiaGpuDriverLinux', version: '1.8', basis: 'device release 2403' },
    { os: 'Linux', software: undefined, type: 'NvidiaGpuDriverLinux', version: '1.8', basis: 'device software version "unknown" (assumed 2205 or later)' },
  ] as const)('$os on $software: $type $version', ({ os, software, type, version, basis }) => {
    expect(chooseGpuDriver({ image: { osType: os } }, software)).toEqual({ extensionType: type, typeHandlerVersion: version, basis });
  });

  it('takes a version pinned in the spec over the release, and ignores an empty one', () => {
    expect(chooseGpuDriver({ image: { osType: 'Linux' }, gpuDriver: { install: true, typeHandlerVersion: '1.6' } }, '2.2.2106.1')).toEqual({
      extensionType: 'NvidiaGpuDriverLinux',
      typeHandlerVersion: '1.6',
      basis: 'spec.gpuDriver.typeHandlerVersion',
    });
    expect(chooseGpuDriver({ image: { osType: 'Linux' }, gpuDriver: { install: true, typeHandlerVersion: '' } }, '2.2.2106.1').typeHandlerVersion).toBe('1.3');
  });
});

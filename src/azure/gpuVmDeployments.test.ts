import { API_VERSION, type GpuVm } from '../api/types.js';
import type { GpuDriverChoice } from '../arm/gpuExtension.js';
import { buildCreateVmDeployment, buildGpuDriverDeployment } from './gpuVmDeployments.js';

function gpuVm(spec: Partial<GpuVm['spec']> = {}): GpuVm {
  return {
    apiVersion: API_VERSION,
    kind: 'GpuVm',
    metadata: { name: 'vm1', namespace: 'team', uid: 'uid-1' },
    spec: {
      deviceRef: { name: 'dev-a' },
      size: 'Standard_NC4as_T4_v3',
      image: { name: 'ubuntu', osType: 'Linux' },
      adminCredentialsSecretRef: { name: 'vm1-admin' },
      ...spec,
    },
  };
}

type Resource = { type: string; apiVersion?: string; properties: Record<string, unknown> };
const vmResource = (template: Record<string, unknown>): Resource => (template.resources as Resource[]).find((r) => r.type === 'Microsoft.Compute/virtualMachines') as Resource;

describe('buildCreateVmDeployment', () => {
  it('follows the official CreateVM template: hybrid api profile, pinned versions, no OS disk named', () => {
    const { template } = buildCreateVmDeployment(gpuVm(), { username: 'azureuser', password: 'pw' });
    expect(template.apiProfile).toBe('2018-03-01-hybrid');
    const vm = vmResource(template);
    expect(vm.apiVersion).toBe('2017-03-30');
    expect(vm.properties.storageProfile).toEqual({ imageReference: { id: "[variables('imageId')]" } });
    expect(JSON.stringify(template)).not.toMatch(/osDisk|managedDisk/);
  });

  it('sends the password as a securestring parameter, never in the template', () => {
    const { template, parameters } = buildCreateVmDeployment(gpuVm(), { username: 'azureuser', password: 'S3cret!' });
    expect((template.parameters as Record<string, { type: string }>).Password?.type).toBe('securestring');
    expect(parameters.Password).toEqual({ value: 'S3cret!' });
    expect(JSON.stringify(template)).not.toContain('S3cret!');
  });

  it('passes an SSH key as a secure parameter, so an ARM expression inside it stays literal', () => {
    const key = "ssh-rsa AAAA [concat('a','b')] user@host";
    const { template, parameters } = buildCreateVmDeployment(gpuVm(), { username: "[concat('x','y')]", sshPublicKey: key });
    const text = JSON.stringify(template);
    expect(text).not.toContain(key);
    expect(text).not.toContain("concat('x','y')");
    expect(parameters.sshPublicKey).toEqual({ value: key });
    expect(parameters.adminUsername).toEqual({ value: "[concat('x','y')]" });
    expect(parameters.Password).toBeUndefined();
    const templateParameters = template.parameters as Record<string, { type: string }>;
    expect(templateParameters.sshPublicKey?.type).toBe('securestring');
    expect(templateParameters.Password).toBeUndefined();
    const osProfile = vmResource(template).properties.osProfile as Record<string, unknown>;
    expect(osProfile.adminPassword).toBeUndefined();
    expect(osProfile.linuxConfiguration).toEqual({
      disablePasswordAuthentication: true,
      ssh: { publicKeys: [{ path: "[concat('/home/', parameters('adminUsername'), '/.ssh/authorized_keys')]", keyData: "[parameters('sshPublicKey')]" }] },
    });
  });
});

describe('buildGpuDriverDeployment', () => {
  // Which version the planner chooses is its own test's (plan/gpuDriver.test.ts); the settings follow the release.
  const driverFor = (g: GpuVm): GpuDriverChoice =>
    g.spec.image.osType === 'Windows' ? { extensionType: 'NvidiaGpuDriverWindows', typeHandlerVersion: '1.5', basis: 'test' } : { extensionType: 'NvidiaGpuDriverLinux', typeHandlerVersion: '1.8', basis: 'test' };
  const windows = gpuVm({ image: { name: 'win', osType: 'Windows' } });
  const settingsOf = (g: GpuVm, softwareVersion?: string): unknown => {
    const d = buildGpuDriverDeployment(g, driverFor(g), softwareVersion);
    return d.parameters.settings?.value;
  };

  it('uses the official template (hybrid api profile, extension api 2017-03-30)', () => {
    const { template } = buildGpuDriverDeployment(windows, driverFor(windows), '2.2.2403.1');
    expect(template.apiProfile).toBe('2018-03-01-hybrid');
    expect((template.resources as Resource[])[0]?.apiVersion).toBe('2017-03-30');
  });

  it('gives Windows the settings of the official parameter file for the device release', () => {
    expect(settingsOf(windows, '2.2.2403.1')).toEqual({
      DriverURL: 'http://us.download.nvidia.com/tesla/511.65/511.65-data-center-tesla-desktop-winserver-2016-2019-2022-dch-international.exe',
      DriverCertificateUrl: 'https://go.microsoft.com/fwlink/?linkid=871664',
      DriverType: 'CUDA',
    });
    expect(settingsOf(windows, '2.2.2106.1')).toMatchObject({ DriverURL: 'http://us.download.nvidia.com/tesla/442.50/442.50-tesla-desktop-winserver-2019-2016-international.exe', DriverType: 'CUDA' });
    expect(settingsOf(windows, undefined)).toMatchObject({ DriverURL: expect.stringContaining('/511.65/') });
  });

  it('lets spec.gpuDriver.settings override the defaults key by key', () => {
    const custom = gpuVm({ image: { name: 'win', osType: 'Windows' }, gpuDriver: { install: true, settings: { DriverURL: 'https://mirror.example/driver.exe', Extra: 1 } } });
    expect(settingsOf(custom, '2.2.2403.1')).toEqual({
      DriverURL: 'https://mirror.example/driver.exe',
      DriverCertificateUrl: 'https://go.microsoft.com/fwlink/?linkid=871664',
      DriverType: 'CUDA',
      Extra: 1,
    });
  });

  it('gives Linux empty settings, as the official Linux parameter files do', () => {
    expect(settingsOf(gpuVm(), '2.2.2403.1')).toEqual({});
    expect(settingsOf(gpuVm(), '2.2.2106.1')).toEqual({});
  });
});

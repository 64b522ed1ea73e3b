// The NVIDIA GPU driver extension as the device's ARM knows it: its publisher, the choice of type and handler
// version, and the settings the official parameter files give. Used by the planner (which chooses) and the
// template builder (which sends).

export const GPU_EXTENSION_PUBLISHER = 'Microsoft.HpcCompute';

export interface GpuDriverChoice {
  extensionType: 'NvidiaGpuDriverLinux' | 'NvidiaGpuDriverWindows';
  typeHandlerVersion: string;
  /** Why this version: the device release it was chosen for, or the spec. */
  basis: string;
}

/**
 * The device release (YYMM, e.g. 2205) inside a software version string such as "2.2.2205.4023" or
 * "Azure Stack Edge 2309"; undefined when none is recognisable.
 */
export function deviceRelease(softwareVersion: string | undefined): number | undefined {
  for (const match of (softwareVersion ?? '').matchAll(/(?<!\d)(2\d)(0[1-9]|1[0-2])(?!\d)/g)) {
    return Number(match[1]) * 100 + Number(match[2]);
  }
  return undefined;
}

/**
 * The extension settings the official parameter files give (Azure-Samples/azure-stack-edge-deploy-vms,
 * Templates/ExtensionTemplates/GpuExtension/): Windows before release 2205 — addGPUExtWindowsVM.parameters.json
 * (handler 1.3, driver 442.50); 2205 and later — addGPUExtWindowsVM2205.parameters.json (handler 1.5, driver
 * 511.65); Linux — `{}` in both. An unrecognised release is taken as 2205 or later, like chooseGpuDriver.
 * spec.gpuDriver.settings override these key by key.
 */
export function defaultDriverSettings(os: 'Windows' | 'Linux', release: number | undefined): Record<string, string> {
  if (os === 'Linux') return {};
  const driverUrl =
    release !== undefined && release < 2205
      ? 'http://us.download.nvidia.com/tesla/442.50/442.50-tesla-desktop-winserver-2019-2016-international.exe'
      : 'http://us.download.nvidia.com/tesla/511.65/511.65-data-center-tesla-desktop-winserver-2016-2019-2022-dch-international.exe';
  return { DriverURL: driverUrl, DriverCertificateUrl: 'https://go.microsoft.com/fwlink/?linkid=871664', DriverType: 'CUDA' };
}
